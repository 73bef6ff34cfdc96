//go:build e2e

package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// geminiAPI stands in for the Gemini API on the host's loopback:
// generateContent (the CLI's model router asks it for a JSON choice) and
// streamGenerateContent (events of one short reply); it records the keys
// and bodies it was sent.
type geminiAPI struct {
	URL, CAFile string
	mu          sync.Mutex
	keys        []string
	bodies      []string
}

func newGeminiAPI(t *testing.T) *geminiAPI {
	t.Helper()
	api := &geminiAPI{}
	caPEM, cert := testCert(t)
	api.CAFile = filepath.Join(t.TempDir(), "api-ca.pem")
	os.WriteFile(api.CAFile, caPEM, 0o644)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	api.URL = "https://" + ln.Addr().String()
	return api
}

func (a *geminiAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.keys = append(a.keys, r.Header.Get("x-goog-api-key"))
	a.bodies = append(a.bodies, string(body))
	a.mu.Unlock()
	usage := map[string]int{"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
	reply := func(text string) map[string]any {
		return map[string]any{"candidates": []any{map[string]any{"content": map[string]any{"parts": []any{map[string]any{"text": text}}, "role": "model"},
			"finishReason": "STOP", "index": 0}}, "usageMetadata": usage, "modelVersion": "gemini-stand-in"}
	}
	switch {
	case strings.HasSuffix(r.URL.Path, ":streamGenerateContent"):
		w.Header().Set("Content-Type", "text/event-stream")
		b, _ := json.Marshal(reply("stand-in gemini reply"))
		fmt.Fprintf(w, "data: %s\r\n\r\n", b)
	case strings.HasSuffix(r.URL.Path, ":generateContent"):
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(reply(`{"reasoning":"short","model_choice":"flash","complexity_reasoning":"short","complexity_score":1}`))
	default:
		http.NotFound(w, r)
	}
}

// geminiImage lays out a build context with the real Gemini CLI: this
// machine's Node.js (with the C++ runtime it links) and the CLI's bundle.
func geminiImage(t *testing.T, dir string) {
	t.Helper()
	bundle := os.Getenv("BOTTLE_E2E_GEMINI")
	if bundle == "" {
		t.Fatal("BOTTLE_E2E_GEMINI must name the Gemini CLI's bundle folder (hack/e2e.sh installs it from npm)")
	}
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	cf := "FROM " + baseImage() + "\n"
	for _, lib := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libdl.so.2",
		"/lib/x86_64-linux-gnu/libm.so.6", "/lib/x86_64-linux-gnu/libpthread.so.0", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libgcc_s.so.1"} {
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, real, filepath.Join(dir, "lib", filepath.Base(lib)))
		cf += fmt.Sprintf("COPY lib/%s %s\n", filepath.Base(lib), lib)
	}
	node, err := filepath.EvalSymlinks("/usr/bin/node")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, node, filepath.Join(dir, "node"))
	if err := os.CopyFS(filepath.Join(dir, "bundle"), os.DirFS(bundle)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "gemini"), []byte("#!/bin/sh\nexec /usr/local/bin/node /opt/gemini/bundle/gemini.js \"$@\"\n"), 0o755)
	cf += "COPY node /usr/local/bin/node\nCOPY bundle /opt/gemini/bundle\nCOPY gemini /usr/local/bin/gemini\nENV PATH=/usr/local/bin:/bin\n"
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(cf), 0o644)
}

// TestRealGeminiThroughTheProxy: the real Gemini CLI from npm, in the
// built-in gemini profile's form, does one turn against a stand-in Gemini
// API with the key injected as x-goog-api-key: the stand-in sees the real
// key, the agent held a placeholder, and the model is offered the bottle's
// supervise tools (issue 12).
func TestRealGeminiThroughTheProxy(t *testing.T) {
	api := newGeminiAPI(t)
	key := make([]byte, 16)
	rand.Read(key)
	secret := "AIza-e2e-" + hex.EncodeToString(key)
	e := newEnv(t, fmt.Sprintf(`
[agents.gm]
extends = "gemini"
containerfile = "gmimg/Containerfile"
memory = "1g"
replace_egress = true
[[agents.gm.egress]]
host = "generativelanguage.googleapis.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[agents.gm.egress.credential]
header = "x-goog-api-key"
from_env = "GEMINI_API_KEY"
agent_env = "GEMINI_API_KEY"
`, api.URL, api.CAFile))
	geminiImage(t, filepath.Join(e.dir, "gmimg"))
	e.extraEnv = []string{"GEMINI_API_KEY=" + secret}
	out, errs, code := e.run("start", "--yes", "gm", "--", "-p", "say hello")
	if code != 0 || !strings.Contains(out, "stand-in gemini reply") {
		t.Fatalf("gemini -p in a bottle: code %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	for i, k := range api.keys {
		if k != secret {
			t.Errorf("request %d carried x-goog-api-key %q, want the injected key", i+1, k)
		}
	}
	offered := false
	for _, b := range api.bodies {
		offered = offered || strings.Contains(b, "request_egress")
	}
	if !offered {
		t.Errorf("the model was not offered the supervise tools (%d requests)\nstderr: %s\nstdout: %s", len(api.bodies), errs, out)
	}
	if strings.Contains(out+errs, secret) {
		t.Error("the key reached the agent's output")
	}
	e.assertClean()
}
