package egress

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/internal/corpus"
)

// held reports whether any of the budget is taken.
func (b *budget) held() bool {
	if b.sem.TryAcquire(b.size) {
		b.sem.Release(b.size)
		return false
	}
	return true
}

// TestBudgetBoundsWhatIsHeld: through a real proxy and gateway with a
// budget of 3 MiB: an upload of 1 MiB whose body is still coming holds its
// room; a second upload of 1 MiB, which would pass the budget, waits and
// gets a 503 that says why; once the first is through, the room is back and
// the next passes; a refused request gives its room back too (issue 20).
func TestBudgetBoundsWhatIsHeld(t *testing.T) {
	cp := newCorpusProxy(t)
	var p *Proxy
	addr := cp.startWith(t, func(px *Proxy) {
		px.budget = newBudget(3<<20, 200*time.Millisecond)
		p = px
	})
	proxyURL, _ := url.Parse("http://" + addr)
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: tlsConfig(cp)}}
	mib := bytes.Repeat([]byte("a quiet line of text, nothing in it.\n"), (1<<20)/37)
	post := func(body io.Reader, n int) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, "https://registry.example.test/upload", body)
		req.ContentLength = int64(n)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	pr, pw := io.Pipe()
	first := make(chan int)
	go func() {
		resp, _ := post(pr, len(mib))
		first <- resp.StatusCode
	}()
	pw.Write(mib[:1000])
	for !p.budget.held() {
		time.Sleep(5 * time.Millisecond)
	}
	if resp, body := post(bytes.NewReader(mib), len(mib)); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "bottle egress proxy busy") || !strings.Contains(body, "again") || !strings.Contains(body, "waited 200ms") {
		t.Errorf("an upload past the budget: %d %s, want 503 saying it waited 200ms and to send it again", resp.StatusCode, body)
	}
	pw.Write(mib[1000:])
	pw.Close()
	if status := <-first; status != http.StatusOK {
		t.Errorf("the first upload: %d", status)
	}
	if resp, body := post(bytes.NewReader(mib), len(mib)); resp.StatusCode != http.StatusOK {
		t.Errorf("an upload once the first was through: %d %s", resp.StatusCode, body)
	}
	key := append([]byte(corpus.Fakes("")["GitHub"]+"\n"), mib...)
	if resp, _ := post(bytes.NewReader(key), len(key)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an upload with a key: %d", resp.StatusCode)
	}
	// The transport closes a sent body around the response: poll.
	for deadline := time.Now().Add(10 * time.Second); p.budget.held(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the budget is still held once every request was answered")
		}
	}
}

// TestBudgetBoundsAnEvent: an event stream's unfinished event takes room
// in the budget as it grows; one that finds none in time cuts the stream,
// saying why, and gives back what it held (issue 20).
func TestBudgetBoundsAnEvent(t *testing.T) {
	cp := newCorpusProxy(t)
	cp.up.Handle("/big-event", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: a small one\n\ndata: "+strings.Repeat("x", 3<<20)+"\n\n")
	}))
	var p *Proxy
	addr := cp.startWith(t, func(px *Proxy) {
		px.budget = newBudget(2<<20, 100*time.Millisecond)
		p = px
	})
	proxyURL, _ := url.Parse("http://" + addr)
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: tlsConfig(cp)}}
	resp, err := hc.Get("https://registry.example.test/big-event")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "data: a small one\n\n") || !strings.Contains(string(body), "bottle withheld this") || !strings.Contains(string(body), "again") || strings.Contains(string(body), "xxxx") {
		t.Errorf("a stream whose event outgrows the budget: %.300q", body)
	}
	for deadline := time.Now().Add(10 * time.Second); p.budget.held(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the budget is still held once the stream was cut")
		}
	}
}
