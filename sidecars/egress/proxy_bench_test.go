package egress

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkSmallIntercepted is one small intercepted request on a kept-alive
// connection through a real proxy and gateway, in process: the per-request
// path (route, headers, DLP, split watch, audit, round trip) without the
// pod. The client, upstream and gateway are in the figure too; a profile
// (-cpuprofile, -memprofile) shows the proxy's share.
func BenchmarkSmallIntercepted(b *testing.B) { benchSmall(b, false) }

// BenchmarkSmallInterceptedVarying: the same, with a new request id and
// cursor on each request, as many clients send: the split watch sees new
// pieces every time.
func BenchmarkSmallInterceptedVarying(b *testing.B) { benchSmall(b, true) }

func benchSmall(b *testing.B, varying bool) {
	o := newOutside(b)
	proxyURL, _ := url.Parse("http://" + o.addr)
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: o.roots.Clone()}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	n := 0
	get := func() {
		req, _ := http.NewRequest("GET", "https://files.example.test/small?page=2", nil)
		if varying {
			n++
			req.URL.RawQuery = fmt.Sprintf("cursor=c%dK%x", n, n*7919)
			req.Header.Set("X-Request-Id", fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", n*2654435761, n*40503&0xffff, n*977&0xfff, n*331&0xfff, n*0x9E3779B97F4A7C))
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	get() // the connection and the certificate made before the clock starts
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		get()
	}
}
