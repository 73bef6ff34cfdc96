// Command egressbench measures the egress sidecars against direct access, in
// one run, as ratios: bulk download through a tunnel, added latency of small
// intercepted requests, DLP scan throughput, and idle memory. It runs the
// real sidecar processes (bottle sidecar egress|gateway) on the host, with
// upstreams on loopback. Usage: egressbench BOTTLE_BINARY
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
)

const (
	bulkSize   = 256 << 20
	bulkRounds = 7
)

func main() {
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
	f := false
	routes := []config.Route{
		{Host: "bulk.test", Ports: []int{443}, Intercept: &f, Upstream: "https://" + upstream},
		{Host: "small.test", Ports: []int{443}, Upstream: "https://" + upstream, UpstreamCA: caFile},
	}
	egDir, agentDir := filepath.Join(dir, "egress"), filepath.Join(dir, "agent")
	os.MkdirAll(agentDir, 0o700)
	if _, err := egress.Prepare(context.Background(), "bench-00000", egDir, "", agentDir, routes, nil, nil); err != nil {
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
	var directRuns, tunnelRuns []float64
	var directCPU, tunnelCPU, gatewayCPU time.Duration
	for range bulkRounds {
		c0 := selfCPU()
		mbs, err := download(direct, "https://"+upstream+"/bulk")
		if err != nil {
			return fmt.Errorf("direct download: %w", err)
		}
		c1, g1 := selfCPU(), procCPU(gw.Process.Pid)
		directRuns, directCPU = append(directRuns, mbs), directCPU+c1-c0
		mbs, err = download(viaTunnel, "https://bulk.test/bulk")
		if err != nil {
			return fmt.Errorf("tunnel download: %w", err)
		}
		tunnelRuns, tunnelCPU = append(tunnelRuns, mbs), tunnelCPU+selfCPU()-c1
		gatewayCPU += procCPU(gw.Process.Pid) - g1
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

	fmt.Printf("%-52s %12s %12s %s\n", "egress measure", "baseline", "bottle", "ratio / goal")
	fmt.Printf("%-52s %9.0f MB/s %7.0f MB/s %6.2f  (goal: at least 0.90)\n", "bulk download: tunnel route vs direct", directMBs, tunnelMBs, tunnelMBs/directMBs)
	fmt.Printf("%-52s %9.2f s   %9.2f s   (gateway %.2f s of it; %d CPUs)\n", "  CPU per GB: client+upstream, + gateway for the tunnel", perGB(directCPU), perGB(tunnelCPU+gatewayCPU), perGB(gatewayCPU), runtime.NumCPU())
	fmt.Printf("%-52s %9.3f ms %9.3f ms %+6.3f ms added (goal: under 1 ms)\n", "small HTTPS request, intercepted + DLP, keep-alive (median)", ms(dMed), ms(pMed), ms(pMed-dMed))
	fmt.Printf("%-52s %12s %7.0f MB/s (goal: at least 200)\n", "DLP scan of code-like text, one core", "", scanMBs)
	fmt.Printf("%-52s %12s %8.1f MiB (goal: under 30)\n", "idle memory of egress proxy + gateway (PSS, together)", "", float64(idlePSS)/1024)
	fmt.Printf("%-52s %12s %8.1f MiB (shared binary pages counted twice)\n", "idle memory of egress proxy + gateway (RSS, summed)", "", float64(idleRSS)/1024)
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// selfCPU is the user and system time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user and system time a process has used (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func download(c *http.Client, u string) (float64, error) {
	start := time.Now()
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != bulkSize {
		return 0, fmt.Errorf("got %d bytes: %v", n, err)
	}
	return float64(n) / (1 << 20) / time.Since(start).Seconds(), nil
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

// pss is the proportional set size: pages shared between the two sidecars
// (the one binary they both run) count once across them.
func pss(pid int) int { return procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:") }

func rss(pid int, field string) int { return procField(fmt.Sprintf("/proc/%d/status", pid), field) }

func procField(path, field string) int {
	data, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, field) {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n // KiB
		}
	}
	return 0
}

func waitFile(p string) error {
	for range 200 {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("%s never appeared", p)
}

func serveTLS(cert tls.Certificate, h http.Handler) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, h)
	return ln.Addr().String()
}

func makeCert() ([]byte, tls.Certificate) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "egressbench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"bulk.test", "small.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
