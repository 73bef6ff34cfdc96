package main

// The load the bench puts on the proxy and the floors, and the scans'
// speed on one core.

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/bottle-sandbox/bottle/internal/inbound"
)

func directSmallAt(roots *x509.CertPool, conc int) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "small.test"}, MaxIdleConnsPerHost: conc}}
}

func viaMITMAt(proxy *url.URL, roots *x509.CertPool, conc int) *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: conc}}
}

// latencyAt runs total requests, conc at a time, after a warm-up of a few
// per worker (connections, leaf certificates), and returns each one's time.
func latencyAt(c *http.Client, u string, conc, total int) ([]time.Duration, error) {
	return requests(c, u, conc, func(jobs chan<- job) {
		for range conc * 3 {
			jobs <- job{}
		}
		for range total {
			jobs <- job{measure: true}
		}
	})
}

// pacedAt holds conns connections and starts total requests at a steady
// rate across them (after a warm-up of a few per connection), each timed
// from when it was due to start: a request that waits for a free
// connection counts its wait.
func pacedAt(c *http.Client, u string, conns int, rate float64, total int) ([]time.Duration, error) {
	if _, err := latencyAt(c, u, conns, conns); err != nil { // open every connection
		return nil, err
	}
	return requests(c, u, conns, func(jobs chan<- job) {
		start := time.Now()
		interval := time.Duration(float64(time.Second) / rate)
		for i := range total {
			due := start.Add(time.Duration(i) * interval)
			time.Sleep(time.Until(due))
			jobs <- job{measure: true, due: due}
		}
	})
}

// job is one request for a worker: timed or not, and timed from when it
// was due (when set) or from when a worker took it.
type job struct {
	measure bool
	due     time.Time
}

// requests has conc workers GET u for every job send gives them, and
// returns the timed ones' times and the first error.
func requests(c *http.Client, u string, conc int, send func(chan<- job)) ([]time.Duration, error) {
	get := func() error {
		resp, err := c.Get(u)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	var mu sync.Mutex
	var ds []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	jobs := make(chan job)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				start := j.due
				if start.IsZero() {
					start = time.Now()
				}
				err := get()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if j.measure {
					ds = append(ds, time.Since(start))
				}
				mu.Unlock()
			}
		}()
	}
	send(jobs)
	close(jobs)
	wg.Wait()
	return ds, firstErr
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// inboundThroughput is the inbound scan's speed on text an agent reads:
// the corpus' bodies and the repository's Markdown, as text and as HTML.
func inboundThroughput() (text, html float64) {
	var data []byte
	files, _ := filepath.Glob("sidecars/egress/testdata/corpus/bodies/*")
	more, _ := filepath.Glob("*.md")
	for len(data) < 1<<20 {
		for _, f := range append(files, more...) {
			d, _ := os.ReadFile(f)
			data = append(data, d...)
		}
	}
	speed := func(ct string, body []byte) float64 {
		start := time.Now()
		total := 0
		for time.Since(start) < 2*time.Second {
			inbound.Scan(body, ct)
			total += len(body)
		}
		return float64(total) / (1 << 20) / time.Since(start).Seconds()
	}
	return speed("text/markdown", data), speed("text/html", append([]byte("<html><body><p>"), data...))
}

func medianLatency(c *http.Client, u string) (time.Duration, error) {
	const n = 1000
	ds := make([]time.Duration, 0, n)
	for i := range n + 50 {
		start := time.Now()
		resp, err := c.Get(u)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("status %d", resp.StatusCode)
		}
		if i >= 50 { // warm-up: connections, leaf certificates
			ds = append(ds, time.Since(start))
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[n/2], nil
}

func dlpThroughput() float64 {
	var sb strings.Builder
	filepath.Walk(".", func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			data, _ := os.ReadFile(p)
			sb.Write(data)
		}
		return nil
	})
	data := []byte(sb.String())
	secret := make([]byte, 16)
	rand.Read(secret)
	s := dlp.New([]string{fmt.Sprintf("%x", secret)})
	start := time.Now()
	total := 0
	for time.Since(start) < 2*time.Second {
		s.Scan(data, "body")
		total += len(data)
	}
	return float64(total) / (1 << 20) / time.Since(start).Seconds()
}
