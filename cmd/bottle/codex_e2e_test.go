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

// responsesAPI stands in for OpenAI's Responses API on the host's
// loopback: each POST /v1/responses is answered with the events of one
// short assistant message; it records the bearer tokens it was sent.
type responsesAPI struct {
	URL, CAFile string
	mu          sync.Mutex
	bearers     []string
	inputs      []string
}

func newResponsesAPI(t *testing.T) *responsesAPI {
	t.Helper()
	api := &responsesAPI{}
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

func (a *responsesAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/responses" {
		http.NotFound(w, r)
		return
	}
	a.mu.Lock()
	a.bearers = append(a.bearers, r.Header.Get("Authorization"))
	a.inputs = append(a.inputs, string(body))
	n := len(a.bearers)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	ev := func(typ string, data map[string]any) {
		data["type"] = typ
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
	}
	text := fmt.Sprintf("stand-in codex reply number %d", n)
	id := fmt.Sprintf("resp_%d", n)
	item := map[string]any{"id": "msg_" + id, "type": "message", "role": "assistant", "status": "completed",
		"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
	ev("response.created", map[string]any{"response": map[string]any{"id": id, "object": "response", "status": "in_progress", "output": []any{}}})
	ev("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{"id": "msg_" + id, "type": "message", "role": "assistant", "status": "in_progress", "content": []any{}}})
	ev("response.output_text.delta", map[string]any{"item_id": "msg_" + id, "output_index": 0, "content_index": 0, "delta": text})
	ev("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	ev("response.completed", map[string]any{"response": map[string]any{"id": id, "object": "response", "status": "completed", "output": []any{item},
		"usage": map[string]any{"input_tokens": 10, "output_tokens": 5, "total_tokens": 15, "input_tokens_details": map[string]any{"cached_tokens": 0}, "output_tokens_details": map[string]any{"reasoning_tokens": 0}}}})
}

// codexImage lays out a build context with the real Codex CLI: its
// static binary on the base image.
func codexImage(t *testing.T, dir string) {
	t.Helper()
	bin := os.Getenv("BOTTLE_E2E_CODEX")
	if bin == "" {
		t.Fatal("BOTTLE_E2E_CODEX must name the Codex CLI's binary (hack/e2e.sh installs it from npm)")
	}
	os.MkdirAll(dir, 0o755)
	copyFile(t, bin, filepath.Join(dir, "codex"))
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM "+baseImage()+"\nCOPY codex /usr/local/bin/codex\nENV PATH=/usr/local/bin:/bin\n"), 0o644)
}

// TestRealCodexThroughTheProxy: the real Codex CLI from npm, in the
// built-in codex profile's form, does one turn against a stand-in
// Responses API with the key injected: the stand-in sees the real key,
// the agent held a placeholder.
func TestRealCodexThroughTheProxy(t *testing.T) {
	api := newResponsesAPI(t)
	key := make([]byte, 16)
	rand.Read(key)
	secret := "sk-proj-e2e-" + hex.EncodeToString(key)
	e := newEnv(t, fmt.Sprintf(`
[agents.cx]
extends = "codex"
containerfile = "cximg/Containerfile"
memory = "1g"
replace_egress = true
[[agents.cx.egress]]
host = "api.openai.com"
ports = [443]
upstream = "%s"
upstream_ca = "%s"
[agents.cx.egress.credential]
header = "authorization"
value = "Bearer {secret}"
from_env = "OPENAI_API_KEY"
agent_env = "OPENAI_API_KEY"
`, api.URL, api.CAFile))
	codexImage(t, filepath.Join(e.dir, "cximg"))
	e.extraEnv = []string{"OPENAI_API_KEY=" + secret}
	out, errs, code := e.run("start", "--yes", "cx", "--", "exec", "--skip-git-repo-check", "say hello")
	if code != 0 || !strings.Contains(out, "stand-in codex reply number 1") {
		t.Fatalf("codex exec in a bottle: code %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.bearers) == 0 || api.bearers[0] != "Bearer "+secret {
		t.Errorf("the stand-in saw %q, want the injected key", api.bearers)
	}
	if strings.Contains(out+errs, secret) {
		t.Error("the key reached the agent's output")
	}
	// The profile registers the supervise server: the model is told of it.
	// (Codex lists an MCP server's tools as a deferred namespace.)
	if !strings.Contains(api.inputs[0], "mcp__bottle") {
		t.Errorf("the model was not offered the supervise tools:\n%.1500s", api.inputs[0])
	}
	e.assertClean()
}
