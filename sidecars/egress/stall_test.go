package egress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStalledBodyGivesItsRoomBack: through a real proxy and gateway with a
// budget of 3 MiB, an upload of 1 MiB that stops after its first bytes
// (its client keeps the connection open) holds its room only until it has
// sent nothing for the budget's stall: it is then answered 408, saying
// why, and its connection is closed; an upload of 1 MiB that came behind
// it, and would not have fitted beside it, waits and passes, where it got
// a 503 while the stalled one held its room for good. Both an upload
// inside an intercepted CONNECT and a plain HTTP one (issue 20).
func TestStalledBodyGivesItsRoomBack(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"intercepted", "https://registry.example.test/upload"},
		{"plain", "http://plain.example.test/upload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := newCorpusProxy(t)
			var p *Proxy
			addr := cp.startWith(t, func(px *Proxy) {
				px.budget = newBudget(3<<20, 20*time.Second)
				px.budget.stall = 300 * time.Millisecond
				p = px
			})
			mib := bytes.Repeat([]byte("a quiet line of text, nothing in it.\n"), (1<<20)/37)
			u, _ := url.Parse(tc.url)

			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			conn.SetDeadline(time.Now().Add(60 * time.Second)) // a hang fails, not blocks, the test
			var stalled net.Conn = conn
			target := u.String()
			if u.Scheme == "https" {
				io.WriteString(conn, "CONNECT "+u.Host+":443 HTTP/1.1\r\nHost: "+u.Host+":443\r\n\r\n")
				br := bufio.NewReader(conn)
				resp, err := http.ReadResponse(br, nil)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("CONNECT: %v %v", resp, err)
				}
				stalled = tls.Client(conn, &tls.Config{RootCAs: cp.roots, ServerName: u.Host})
				target = u.Path
			}
			io.WriteString(stalled, "POST "+target+" HTTP/1.1\r\nHost: "+u.Host+"\r\nContent-Length: "+strconv.Itoa(len(mib))+"\r\n\r\n")
			stalled.Write(mib[:1000])
			for !p.budget.held() {
				time.Sleep(5 * time.Millisecond)
			}

			proxyURL, _ := url.Parse("http://" + addr)
			hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: tlsConfig(cp)}}
			resp, err := hc.Post(tc.url, "text/plain", bytes.NewReader(mib))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("an upload behind a stalled one: %d %s, want it through once the stalled one was cut", resp.StatusCode, body)
			}

			br := bufio.NewReader(stalled)
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("the stalled upload's answer: %v", err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "stopped coming") || !strings.Contains(string(body), "again") {
				t.Errorf("the stalled upload: %d %s, want 408 saying its body stopped coming", resp.StatusCode, body)
			}
			if n, err := br.Read(make([]byte, 1)); err == nil {
				t.Errorf("the stalled upload's connection is still open after its 408 (read %d bytes)", n)
			}
			for deadline := time.Now().Add(10 * time.Second); p.budget.held(); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the budget is still held once every request was answered")
				}
			}
		})
	}
}
