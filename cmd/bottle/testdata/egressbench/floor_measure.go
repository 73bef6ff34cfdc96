package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// floors are the floor processes of one run: the splice relay and the
// TLS relay on loopback, and the bulk upstream across the shaped link
// (when the link could be made: linkErr says why not).
type floors struct {
	splice, tlsRelay, far *exec.Cmd
	spliceAddr, tlsAddr   string
	link                  *link
	linkErr               error
	linkUp                string // the bulk upstream across the link
}

func startFloors(dir, caFile, upstream string) (*floors, error) {
	fl := &floors{}
	var err error
	if fl.splice, fl.spliceAddr, err = startFloor(nil, "floor-splice", "127.0.0.1:0", upstream); err != nil {
		return nil, err
	}
	if fl.tlsRelay, fl.tlsAddr, err = startFloor(nil, "floor-tls", "127.0.0.1:0", "https://"+upstream, dir, caFile); err != nil {
		fl.stop()
		return nil, err
	}
	if fl.link, fl.linkErr = makeLink(); fl.linkErr == nil {
		fl.far, fl.linkUp, fl.linkErr = startFloor(fl.link.in(), "floor-serve", fl.link.nsIP+":0", dir, strconv.Itoa(bulkSize))
	}
	return fl, nil
}

func (fl *floors) stop() {
	for _, c := range []*exec.Cmd{fl.splice, fl.tlsRelay, fl.far} {
		if c != nil {
			c.Process.Kill()
			c.Wait()
		}
	}
	if fl.link != nil {
		fl.link.close()
	}
}

// spliceClient fetches through the splice relay: TLS end to end with the
// upstream, the relay in between, as through a tunnel route.
func (fl *floors) spliceClient(roots *x509.CertPool) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", fl.spliceAddr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "bulk.test"}}}
}

// linkRounds downloads across the shaped link, directly and through the
// tunnel route, alternating; it returns the medians (MB/s), none when
// the link was not made.
func (fl *floors) linkRounds(roots *x509.CertPool, proxy *url.URL) (direct, tunnel float64, err error) {
	if fl.linkUp == "" {
		return 0, 0, nil
	}
	viaDirect := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "bulk.test"}}}
	viaTunnel := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "bulk.test"}}}
	var ds, ts []float64
	for range 3 {
		d, err := download(viaDirect, "https://"+fl.linkUp+"/bulk")
		if err != nil {
			return 0, 0, fmt.Errorf("direct download across the link: %w", err)
		}
		t, err := download(viaTunnel, "https://link.test/bulk")
		if err != nil {
			return 0, 0, fmt.Errorf("tunnel download across the link: %w", err)
		}
		ds, ts = append(ds, d), append(ts, t)
	}
	return median(ds), median(ts), nil
}

// tlsAt has the TLS relay carry total small requests, conc at once, as
// the proxy did: the relay's CPU and the client's and upstream's (this
// process), each per request.
func (fl *floors) tlsAt(roots *x509.CertPool, conc, total int) (relay, client time.Duration, err error) {
	proxy, _ := url.Parse("http://" + fl.tlsAddr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: conc}}
	s0, r0 := selfCPU(), procCPU(fl.tlsRelay.Process.Pid)
	ds, err := latencyAt(c, "https://small.test/small", conc, total)
	if err != nil {
		return 0, 0, fmt.Errorf("requests through the TLS relay: %w", err)
	}
	n := time.Duration(len(ds))
	return (procCPU(fl.tlsRelay.Process.Pid) - r0) / n, (selfCPU() - s0) / n, nil
}

// row adds one figure to the bench's table (hack/bench.sh prints it at
// the end, with every other part's): figure, baseline, bottle's, their
// ratio, the goal.
func row(figure, baseline, value, ratio, goal string) {
	p := os.Getenv("BENCH_ROWS")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\t%s\t%s\t%s\t%s\n", figure, baseline, value, ratio, goal)
}

// cpuRounds are the CPU a small request costs, per request at 200 at
// once: through the proxy (the proxy's, the gateway's, and this process'
// as client and upstream) and through the TLS relay (the relay's, this
// process'), in rounds that alternate, the order swapped each round, so
// that the machine's drift (a CI run beside the bench) hits both alike.
// Each figure is its median over the rounds; ratio is the median of the
// rounds' own ratios, proxy and gateway to relay.
type cpuRounds struct {
	proxy, gateway, proxiedClient time.Duration
	relay, relayClient            time.Duration
	ratio                         float64
}

// measureCPU runs the rounds: proxied and relayed each carry one round's
// requests and return its figures per request.
func measureCPU(rounds int, proxied func() (px, gw, client time.Duration, err error), relayed func() (relay, client time.Duration, err error)) (cpuRounds, error) {
	var px, gw, pc, rl, rc, ratios []float64
	for r := range rounds {
		var p, g, c, l, lc time.Duration
		var err error
		steps := []func() error{
			func() error { p, g, c, err = proxied(); return err },
			func() error { l, lc, err = relayed(); return err },
		}
		if r%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return cpuRounds{}, err
			}
		}
		px, gw, pc = append(px, float64(p)), append(gw, float64(g)), append(pc, float64(c))
		rl, rc = append(rl, float64(l)), append(rc, float64(lc))
		ratios = append(ratios, float64(p+g)/float64(l))
	}
	d := func(v []float64) time.Duration { return time.Duration(median(v)) }
	return cpuRounds{proxy: d(px), gateway: d(gw), proxiedClient: d(pc), relay: d(rl), relayClient: d(rc), ratio: median(ratios)}, nil
}
