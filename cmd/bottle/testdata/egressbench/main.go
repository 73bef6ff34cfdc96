// Command egressbench measures the egress sidecars against direct access, in
// one run, as ratios: bulk download through a tunnel, added latency of small
// intercepted requests, DLP scan throughput, and idle memory. It runs the
// real sidecar processes (bottle sidecar egress|gateway) on the host, with
// upstreams on loopback. Usage: egressbench BOTTLE_BINARY
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
)

const (
	bulkSize   = 256 << 20
	bulkRounds = 7
)

func main() {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "floor-") {
		if err := floorMain(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "egressbench:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: egressbench BOTTLE_BINARY")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "egressbench:", err)
		os.Exit(1)
	}
}

func run(bin string) error {
	if _, err := os.Stat("sidecars/egress/testdata/corpus/bodies"); err != nil { // the measures read it, and *.md, from here
		return fmt.Errorf("run from the repository's root: %w", err)
	}
	dir, err := os.MkdirTemp("", "egressbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	caPEM, cert := makeCert()
	caFile := filepath.Join(dir, "upstream-ca.pem")
	os.WriteFile(caFile, caPEM, 0o644)
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	upstream := serveTLS(cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bulk" {
			w.Header().Set("Content-Length", strconv.Itoa(bulkSize))
			for sent := 0; sent < bulkSize; sent += len(chunk) {
				w.Write(chunk)
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	if err := writeLeaf(dir, cert); err != nil {
		return err
	}
	fl, err := startFloors(dir, caFile, upstream)
	if err != nil {
		return err
	}
	defer fl.stop()
	f := false
	routes := []config.Route{
		{Host: "bulk.test", Ports: []int{443}, Intercept: &f, Upstream: "https://" + upstream},
		{Host: "small.test", Ports: []int{443}, Upstream: "https://" + upstream, UpstreamCA: caFile},
	}
	if fl.linkUp != "" {
		routes = append(routes, config.Route{Host: "link.test", Ports: []int{443}, Intercept: &f, Upstream: "https://" + fl.linkUp})
	}
	egDir, agentDir := filepath.Join(dir, "egress"), filepath.Join(dir, "agent")
	os.MkdirAll(agentDir, 0o700)
	if _, err := egress.Prepare(context.Background(), "bench-00000", egDir, "", agentDir, routes, nil, nil, nil, nil); err != nil {
		return err
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	proxyAddr := ln.Addr().String()
	ln.Close()
	gw := exec.Command(bin, "sidecar", "gateway", "--dir", egDir)
	px := exec.Command(bin, "sidecar", "egress", "--dir", egDir, "--listen", proxyAddr)
	for _, c := range []*exec.Cmd{gw, px} {
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			return err
		}
		defer c.Process.Kill()
	}
	if err := waitFile(filepath.Join(egDir, egress.ReadyFile)); err != nil {
		return err
	}
	if err := waitFile(filepath.Join(egDir, egress.SocketDir, egress.SocketName)); err != nil {
		return err
	}
	time.Sleep(3 * time.Second) // past start-up: the sidecars trim what it touched
	idleRSS := rss(gw.Process.Pid, "VmRSS:") + rss(px.Process.Pid, "VmRSS:")
	idlePSS := pss(gw.Process.Pid) + pss(px.Process.Pid)

	upRoots := x509.NewCertPool()
	upRoots.AppendCertsFromPEM(caPEM)
	bottleRoots := x509.NewCertPool()
	bottleCA, _ := os.ReadFile(filepath.Join(egDir, egress.CAFile))
	bottleRoots.AppendCertsFromPEM(bottleCA)
	proxyURL, _ := url.Parse("http://" + proxyAddr)

	direct := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: upRoots, ServerName: "bulk.test"}}}
	viaTunnel := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: upRoots}}}
	// Alternating rounds, medians: the machine's drift hits both alike. The
	// CPU each costs per GB (this process: client and upstream; plus the
	// gateway's for the tunnel) shows where a tunnel's time goes.
	var directRuns, tunnelRuns, spliceRuns []float64
	var directCPU, tunnelCPU, gatewayCPU, spliceCPU time.Duration
	viaSplice := fl.spliceClient(upRoots)
	for range bulkRounds {
		c0 := selfCPU()
		mbs, err := download(direct, "https://"+upstream+"/bulk")
		if err != nil {
			return fmt.Errorf("direct download: %w", err)
		}
		c1, g1, p1 := selfCPU(), procCPU(gw.Process.Pid), procCPU(px.Process.Pid)
		directRuns, directCPU = append(directRuns, mbs), directCPU+c1-c0
		mbs, err = download(viaTunnel, "https://bulk.test/bulk")
		if err != nil {
			return fmt.Errorf("tunnel download: %w", err)
		}
		c2, r2 := selfCPU(), procCPU(fl.splice.Process.Pid)
		tunnelRuns, tunnelCPU = append(tunnelRuns, mbs), tunnelCPU+c2-c1
		gatewayCPU += procCPU(gw.Process.Pid) - g1 + procCPU(px.Process.Pid) - p1
		mbs, err = download(viaSplice, "https://bulk.test/bulk")
		if err != nil {
			return fmt.Errorf("download through the splice floor: %w", err)
		}
		spliceRuns, spliceCPU = append(spliceRuns, mbs), spliceCPU+selfCPU()-c2+procCPU(fl.splice.Process.Pid)-r2
	}
	spliceMBs := median(spliceRuns)
	linkDirect, linkTunnel, err := fl.linkRounds(upRoots, proxyURL)
	if err != nil {
		return err
	}
	directMBs, tunnelMBs := median(directRuns), median(tunnelRuns)
	perGB := func(d time.Duration) float64 {
		return d.Seconds() / (float64(bulkRounds) * bulkSize / (1 << 30))
	}

	directSmall := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: upRoots, ServerName: "small.test"}}}
	viaMITM := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: bottleRoots}}}
	dMed, err := medianLatency(directSmall, "https://"+upstream+"/small")
	if err != nil {
		return fmt.Errorf("direct requests: %w", err)
	}
	pMed, err := medianLatency(viaMITM, "https://small.test/small")
	if err != nil {
		return fmt.Errorf("intercepted requests: %w", err)
	}

	scanMBs := dlpThroughput()
	inboundMBs, htmlMBs := inboundThroughput()

	// Latency added under load: small intercepted requests at 1, 50 and
	// 200 at once, direct and through the proxy, alternating levels; the
	// proxy's memory is sampled while the heaviest runs.
	type level struct {
		conc                    int
		direct, proxied         []time.Duration
		directTook, proxiedTook time.Duration
	}
	var levels []level
	var cpu [4]time.Duration // at 200: client+upstream direct, and proxied; proxy; gateway
	var loadedPSS int
	for _, conc := range []int{1, 50, 200} {
		total := min(conc*40, 8000)
		total = max(total, 1000)
		s0, t0 := selfCPU(), time.Now()
		d, err := latencyAt(directSmallAt(upRoots, conc), "https://"+upstream+"/small", conc, total)
		s1, p1, g1, t1 := selfCPU(), procCPU(px.Process.Pid), procCPU(gw.Process.Pid), time.Now()
		if err != nil {
			return fmt.Errorf("direct requests at %d: %w", conc, err)
		}
		stop := make(chan int)
		go func() {
			peak := 0
			for {
				select {
				case <-stop:
					stop <- peak
					return
				case <-time.After(50 * time.Millisecond):
					peak = max(peak, pss(px.Process.Pid))
				}
			}
		}()
		pr, err := latencyAt(viaMITMAt(proxyURL, bottleRoots, conc), "https://small.test/small", conc, total)
		stop <- 0
		peak := <-stop
		if err != nil {
			return fmt.Errorf("intercepted requests at %d: %w", conc, err)
		}
		loadedPSS = max(loadedPSS, peak)
		levels = append(levels, level{conc, d, pr, t1.Sub(t0), time.Since(t1)})
		if conc == 200 { // where the time goes: CPU per request, each process
			n := time.Duration(len(pr))
			cpu = [4]time.Duration{(s1 - s0) / time.Duration(len(d)), (selfCPU() - s1) / n,
				(procCPU(px.Process.Pid) - p1) / n, (procCPU(gw.Process.Pid) - g1) / n}
		}
	}

	// The same 200 connections, paced: requests start at a steady rate (half
	// of what the proxied closed loop reached), each timed from when it was
	// due, so a late start counts. This is the proxy's latency at a load it
	// can carry, where the closed loop above measures the queue on two cores.
	closed := levels[len(levels)-1]
	rate := float64(len(closed.proxied)) / closed.proxiedTook.Seconds() / 2
	pacedTotal := int(rate * 8) // about 8 seconds each
	pd, err := pacedAt(directSmallAt(upRoots, 200), "https://"+upstream+"/small", 200, rate, pacedTotal)
	if err != nil {
		return fmt.Errorf("direct paced requests: %w", err)
	}
	pp, err := pacedAt(viaMITMAt(proxyURL, bottleRoots, 200), "https://small.test/small", 200, rate, pacedTotal)
	if err != nil {
		return fmt.Errorf("intercepted paced requests: %w", err)
	}

	// CPU per request at 200, the proxy's and the relay's, in alternating
	// rounds (the closed loop above has the proxy's once, long before the
	// relay's, and the machine may have changed in between).
	const cpuRoundsRun, cpuTotal = 5, 8000
	proxied := func() (proxy, gateway, client time.Duration, err error) {
		s0, p0, g0 := selfCPU(), procCPU(px.Process.Pid), procCPU(gw.Process.Pid)
		ds, err := latencyAt(viaMITMAt(proxyURL, bottleRoots, 200), "https://small.test/small", 200, cpuTotal)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("intercepted requests at 200: %w", err)
		}
		n := time.Duration(len(ds))
		return (procCPU(px.Process.Pid) - p0) / n, (procCPU(gw.Process.Pid) - g0) / n, (selfCPU() - s0) / n, nil
	}
	relayed := func() (time.Duration, time.Duration, error) { return fl.tlsAt(upRoots, 200, cpuTotal) }
	cr, err := measureCPU(cpuRoundsRun, proxied, relayed)
	if err != nil {
		return err
	}

	figs, err := corpusFigures()
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	all := figs.total()
	contained, attacks, blocked, marked, benign := all.contained, all.attacks, all.blocked, all.marked, all.benign

	fmt.Printf("%-52s %12s %12s %s\n", "egress measure", "baseline", "bottle", "ratio / goal")
	fmt.Printf("%-52s %9.0f MB/s %7.0f MB/s %6.2f\n", "bulk download: tunnel route vs direct (loopback)", directMBs, tunnelMBs, tunnelMBs/directMBs)
	fmt.Printf("%-52s %9.0f MB/s %7.0f MB/s %6.2f  (goal: at least 0.95)\n", "bulk download: tunnel route vs splice relay (floor)", spliceMBs, tunnelMBs, tunnelMBs/spliceMBs)
	fmt.Printf("%-52s %9.2f s   %9.2f s   %6.2f  (goal: at most 1.1; gateway+proxy %.2f s of it; direct %.2f s; %d CPUs)\n",
		"  CPU per GB: splice floor vs tunnel, all processes", perGB(spliceCPU), perGB(tunnelCPU+gatewayCPU), perGB(tunnelCPU+gatewayCPU)/perGB(spliceCPU), perGB(gatewayCPU), perGB(directCPU), runtime.NumCPU())
	row("tunnel CPU per GB / splice floor", fmt.Sprintf("%.2f s", perGB(spliceCPU)), fmt.Sprintf("%.2f s", perGB(tunnelCPU+gatewayCPU)), fmt.Sprintf("%.2f", perGB(tunnelCPU+gatewayCPU)/perGB(spliceCPU)), "at most 1.1")
	row("tunnel throughput / splice floor", fmt.Sprintf("%.0f MB/s", spliceMBs), fmt.Sprintf("%.0f MB/s", tunnelMBs), fmt.Sprintf("%.2f", tunnelMBs/spliceMBs), "at least 0.95")
	if linkDirect > 0 {
		fmt.Printf("%-52s %9.0f MB/s %7.0f MB/s %6.2f  (goal: at least 0.97)\n", "bulk download across a 1 Gbit/s link: tunnel vs direct", linkDirect, linkTunnel, linkTunnel/linkDirect)
		row("tunnel throughput on a 1 Gbit/s link / direct", fmt.Sprintf("%.0f MB/s", linkDirect), fmt.Sprintf("%.0f MB/s", linkTunnel), fmt.Sprintf("%.2f", linkTunnel/linkDirect), "at least 0.97")
	} else {
		fmt.Printf("%-52s not measured: %v\n", "bulk download across a 1 Gbit/s link", fl.linkErr)
		row("tunnel throughput on a 1 Gbit/s link / direct", "-", "-", "not measured: "+fmt.Sprint(fl.linkErr), "at least 0.97")
	}
	fmt.Printf("%-52s %9.3f ms %9.3f ms %+6.3f ms added (goal: under 1 ms)\n", "small HTTPS request, intercepted + DLP, keep-alive (median)", ms(dMed), ms(pMed), ms(pMed-dMed))
	for _, l := range levels {
		dp50, dp99, pp50, pp99 := pct(l.direct, 50), pct(l.direct, 99), pct(l.proxied, 50), pct(l.proxied, 99)
		goal := ""
		if l.conc == 200 {
			goal = " (goal: p99 added under 5 ms)"
		}
		fmt.Printf("%-52s %5.2f/%5.2f ms %5.2f/%5.2f ms added p50 %+.2f ms, p99 %+.2f ms%s\n", fmt.Sprintf("small requests at %d at once, p50/p99", l.conc),
			ms(dp50), ms(dp99), ms(pp50), ms(pp99), ms(pp50-dp50), ms(pp99-dp99), goal)
		if l.conc == 200 {
			fmt.Printf("%-52s %7.0f/s    %7.0f/s    (closed loop: the machine's CPU is the limit)\n", "  requests per second at 200 at once",
				float64(len(l.direct))/l.directTook.Seconds(), float64(len(l.proxied))/l.proxiedTook.Seconds())
		}
	}
	fmt.Printf("%-52s %5.2f/%5.2f ms %5.2f/%5.2f ms added p50 %+.2f ms, p99 %+.2f ms (goal: p99 added under 5 ms)\n",
		fmt.Sprintf("200 connections paced at %.0f/s, p50/p99", rate),
		ms(pct(pd, 50)), ms(pct(pd, 99)), ms(pct(pp, 50)), ms(pct(pp, 99)), ms(pct(pp, 50)-pct(pd, 50)), ms(pct(pp, 99)-pct(pd, 99)))
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	fmt.Printf("%-52s %9.0f us %9.0f us (+ proxy %.0f us, gateway %.0f us; %d CPUs)\n", "  CPU per request at 200: client+upstream", us(cpu[0]), us(cpu[1]), us(cpu[2]), us(cpu[3]), runtime.NumCPU())
	fmt.Printf("%-52s %9.0f us %9.0f us %6.2f  (goal: at most 1.5; proxy %.0f us, gateway %.0f us; client+upstream %.0f us with the relay, %.0f us with the proxy; medians of %d alternating rounds, the ratio the rounds' own)\n",
		"  CPU per request at 200: TLS relay (floor) vs proxy+gateway", us(cr.relay), us(cr.proxy+cr.gateway), cr.ratio, us(cr.proxy), us(cr.gateway), us(cr.relayClient), us(cr.proxiedClient), cpuRoundsRun)
	row(fmt.Sprintf("proxy+gateway CPU per small intercepted request / TLS relay (median of %d alternating rounds)", cpuRoundsRun),
		fmt.Sprintf("%.0f us", us(cr.relay)), fmt.Sprintf("%.0f us", us(cr.proxy+cr.gateway)), fmt.Sprintf("%.2f", cr.ratio), "at most 1.5")
	row("added p99, 200 connections paced", fmt.Sprintf("%.2f ms", ms(pct(pd, 99))), fmt.Sprintf("%.2f ms", ms(pct(pp, 99))), fmt.Sprintf("%+.2f ms", ms(pct(pp, 99)-pct(pd, 99))), "under 5 ms")
	fmt.Printf("%-52s %12s %7.0f MB/s (goal: at least 200)\n", "DLP scan of code-like text, one core", "", scanMBs)
	fmt.Printf("%-52s %12s %7.0f MB/s (goal: at least 50; HTML %.0f MB/s)\n", "inbound scan of docs-like text, one core", "", inboundMBs, htmlMBs)
	fmt.Printf("%-52s %12s %5d/%-5d   %.1f%% contained (goal: all)\n", "corpus: attacks contained", "", contained, attacks, 100*float64(contained)/float64(attacks))
	fmt.Printf("%-52s %12s %5d/%-5d   %.1f%% blocked (goal: none); %d marked (%.1f%%)\n", "corpus: benign cases blocked", "", blocked, benign, 100*float64(blocked)/float64(benign), marked, 100*float64(marked)/float64(benign))
	for _, class := range slices.Sorted(maps.Keys(figs)) {
		f := figs[class]
		if f.attacks > 0 {
			fmt.Printf("%-52s %12s %5d/%-5d   %.1f%% contained\n", "  attacks contained, "+class, "", f.contained, f.attacks, 100*float64(f.contained)/float64(f.attacks))
		}
		if f.benign > 0 {
			fmt.Printf("%-52s %12s %5d/%-5d   %.1f%% blocked; %d marked\n", "  benign cases blocked, "+class, "", f.blocked, f.benign, 100*float64(f.blocked)/float64(f.benign), f.marked)
		}
	}
	fmt.Printf("%-52s %12s %8.1f MiB (goal: under 30)\n", "idle memory of egress proxy + gateway (PSS, together)", "", float64(idlePSS)/1024)
	row("sidecars' idle memory, together (PSS)", "-", fmt.Sprintf("%.1f MiB", float64(idlePSS)/1024), "-", "under 30 MiB")
	fmt.Printf("%-52s %12s %8.1f MiB (shared binary pages counted twice)\n", "idle memory of egress proxy + gateway (RSS, summed)", "", float64(idleRSS)/1024)
	fmt.Printf("%-52s %12s %8.1f MiB (PSS, peak at 200 at once)\n", "loaded memory of the egress proxy", "", float64(loadedPSS)/1024)
	return nil
}
