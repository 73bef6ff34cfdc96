package egress

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTrafficCountsEachWay: through a real proxy, requests allowed and
// refused are counted per host with the bytes of their bodies each way,
// a streamed (chunked) response's and a sized one's, and the audit says
// so by the time the agent has the whole response.
func TestTrafficCountsEachWay(t *testing.T) {
	cp := newCorpusProxy(t)
	release := make(chan struct{})
	cp.up.Handle("/stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			io.WriteString(w, "data: "+strings.Repeat("s", 992)+"\n\n") // 1000 bytes an event
			w.(http.Flusher).Flush()
			if i == 0 {
				<-release
			}
		}
	}))
	cp.up.Handle("/sized", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "700")
		io.WriteString(w, strings.Repeat("z", 700))
	}))
	addr := cp.start(t)
	proxyURL, _ := url.Parse("http://" + addr)
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: tlsConfig(cp)}}
	get := func(method, u string, body []byte) int {
		t.Helper()
		req, _ := http.NewRequest(method, u, bytes.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return len(b)
	}
	read := func() map[string]HostTraffic {
		t.Helper()
		f, err := os.Open(filepath.Join(cp.dir, AuditFile))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ts, err := Traffic(f)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]HostTraffic{}
		for _, h := range ts {
			out[h.Host] = h
		}
		return out
	}
	// A stream is audited as it starts, not only when it ends (an open
	// one may never end).
	go func() {
		defer close(release)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if f, err := os.ReadFile(filepath.Join(cp.dir, AuditFile)); err == nil && strings.Contains(string(f), `"host":"registry.example.test"`) {
				return
			}
		}
		t.Error("the open stream is not in the audit log")
	}()
	if n := get("GET", "https://registry.example.test/stream", nil); n != 3000 {
		t.Fatalf("the stream: %d bytes", n)
	}
	// Read at once: its size was written before the stream's end reached the agent.
	if got := read()["registry.example.test"]; got.Allowed != 1 || got.Received != 3000 {
		t.Errorf("after a stream: %+v, want 1 allowed, 3000 received", got)
	}
	if n := get("POST", "https://registry.example.test/sized", bytes.Repeat([]byte("u"), 1234)); n != 700 {
		t.Fatalf("the sized answer: %d bytes", n)
	}
	if got := read()["registry.example.test"]; got.Allowed != 2 || got.Sent != 1234 || got.Received != 3700 {
		t.Errorf("after a sized answer: %+v, want 2 allowed, 1234 sent, 3700 received", got)
	}
	get("GET", "http://nowhere.example.test/", nil)
	get("GET", "http://nowhere.example.test/again", nil)
	if got := read()["nowhere.example.test"]; got.Refused != 2 || got.Allowed != 0 {
		t.Errorf("a host with no route: %+v, want 2 refused", got)
	}
}

// TestTrafficSkipsWhatDoesNotParse: the log is in a folder the bottle's pod
// writes: a line that is not an entry, or one longer than the proxy writes,
// is skipped, not trusted and not an error, and the lines after it are read.
func TestTrafficSkipsWhatDoesNotParse(t *testing.T) {
	log := `{"host":"a.test","decision":"allow","bytes":-1,"received":5}
not json
{"host":"a.test","decision":"inbound","received":99}
{"host":"b.test","decision":"deny"}
{"host":"a.test","decision":"allow","bytes":3}
`
	ts, err := Traffic(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0] != (HostTraffic{Host: "a.test", Allowed: 2, Sent: 3, Received: 5}) || ts[1] != (HostTraffic{Host: "b.test", Refused: 1}) {
		t.Errorf("%+v", ts)
	}
	// What follows a line too long is read all the same (on main,
	// nothing after it was: the agent's next requests went uncounted).
	long := `{"host":"a.test","decision":"deny","path":"/` + strings.Repeat("x", 5<<20) + `"}`
	ts, err = Traffic(strings.NewReader(log + long + "\n" + `{"host":"c.test","decision":"deny"}` + "\n"))
	if err != nil || len(ts) != 3 || ts[0] != (HostTraffic{Host: "a.test", Allowed: 2, Sent: 3, Received: 5}) {
		t.Errorf("a line too long, then another: %+v, %v", ts, err)
	}
}

// TestAuditLinesStayShortWhateverThePath: the agent chooses a request's
// path, and the audit quoted it whole, twice (path and reason), each '<'
// written as \u003c: a 9 MB request line inside an intercepted connection
// made an 18 MB line, past which Traffic (and the dashboard's tail) read
// nothing, so what the agent did after it was out of the person's sight.
// Each text of an entry is cut now, saying how long it was.
func TestAuditLinesStayShortWhateverThePath(t *testing.T) {
	cp := newCorpusProxy(t)
	addr := cp.start(t)
	proxyURL, _ := url.Parse("http://" + addr)
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: tlsConfig(cp)}}
	for _, u := range []string{
		"http://nowhere.example.test/" + strings.Repeat("%3C", 300_000),
		"https://registry.example.test/" + strings.Repeat("%3C", 3_000_000),
		"http://later.example.test/exfil",
	} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatalf("%.60s: %v", u, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	data, err := os.ReadFile(filepath.Join(cp.dir, AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if len(l) > 16<<10 {
			t.Errorf("an audit line of %d bytes: %.120s", len(l), l)
		}
	}
	ts, err := Traffic(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range ts {
		found = found || h.Host == "later.example.test" && h.Refused == 1
	}
	if !found {
		t.Errorf("the request after the long ones is not counted: %+v", ts)
	}
}
