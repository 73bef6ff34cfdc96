package egress

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var testPolicy = &Policy{Routes: []Route{
	{Host: "api.anthropic.com", Ports: []int{443}, Intercept: true, Methods: []string{"POST"}, Paths: []string{"/v1/"}},
	{Host: "*.example.com", Ports: []int{80, 443}, Intercept: true},
	{Host: "mirror.test", Ports: []int{443}, Upstream: "https://127.0.0.1:8443"},
	{Host: "10.1.2.3", Ports: []int{80}},
}}

func TestMatch(t *testing.T) {
	cases := []struct {
		host string
		port int
		want string
	}{
		{"api.anthropic.com", 443, "api.anthropic.com"},
		{"API.Anthropic.com.", 443, "api.anthropic.com"},
		{"api.anthropic.com", 80, ""},
		{"evil-api.anthropic.com", 443, ""},
		{"a.example.com", 80, "*.example.com"},
		{"a.b.example.com", 443, "*.example.com"},
		{"example.com", 443, ""}, // *.suffix is for subdomains only
		{"notexample.com", 443, ""},
		{"example.com.evil.test", 443, ""},
	}
	for _, tc := range cases {
		got := ""
		if r := testPolicy.Match(tc.host, tc.port); r != nil {
			got = r.Host
		}
		if got != tc.want {
			t.Errorf("Match(%q, %d) = %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
}

func TestAllows(t *testing.T) {
	r := testPolicy.Match("api.anthropic.com", 443)
	for _, tc := range []struct {
		method, path string
		ok           bool
	}{
		{"POST", "/v1/messages", true}, {"GET", "/v1/messages", false}, {"POST", "/v2/x", false}, {"POST", "/v1", false},
		// Matched on the normalized path (issue 11): dot segments and
		// repeated slashes do not get around the prefix.
		{"POST", "/v1/../admin", false}, {"POST", "/v1/./messages", true}, {"POST", "//v1//messages", true},
		{"POST", "/v1/x/../../admin", false}, {"POST", "/v1/x/../messages", true},
		// Ambiguous paths are refused rather than guessed at.
		{"POST", "/v1/%2e%2e/admin", false}, {"POST", "/v1/%2E%2E/admin", false}, {"POST", "/v1/..%2fadmin", false},
		{"POST", "/v1/..%5cadmin", false}, {"POST", "/v1/..\\admin", false}, {"POST", "/v1/messages;x=1", false},
		{"POST", "/v1/%252e%252e/admin", false},
	} {
		u, err := url.Parse("https://api.anthropic.com" + tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if ok, why := r.Allows(tc.method, u); ok != tc.ok || (!ok && why == "") {
			t.Errorf("Allows(%s %s) = %v %q, want %v", tc.method, tc.path, ok, why, tc.ok)
		}
		if tc.ok && (strings.Contains(u.Path, "..") || strings.Contains(u.Path, "//") || strings.Contains(u.Path, "/./")) {
			t.Errorf("Allows(%s) left the path %q for the upstream, want it normalized", tc.path, u.Path)
		}
	}
}

func TestGatewayDestinations(t *testing.T) {
	cases := []struct {
		host           string
		port           int
		explicit, okay bool
	}{
		{"a.example.com", 443, false, true},
		{"127.0.0.1", 8443, true, true}, // named by mirror.test's upstream
		{"127.0.0.1", 8444, false, false},
		{"mirror.test", 443, false, false}, // rewritten: only its upstream is a destination
		{"10.1.2.3", 80, true, true},       // an IP literal route names itself
		{"10.1.2.4", 80, false, false},
		{"api.anthropic.com", 443, false, true},
	}
	for _, tc := range cases {
		explicit, ok := allowedDestination(testPolicy, tc.host, tc.port)
		if ok != tc.okay || explicit != tc.explicit {
			t.Errorf("allowedDestination(%s:%d) = explicit %v ok %v, want %v %v", tc.host, tc.port, explicit, ok, tc.explicit, tc.okay)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "fe80::1", "0.0.0.0", "fc00::1",
		"100.64.0.1", "198.18.0.1", "0.1.2.3", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "240.0.0.1"} {
		if _, special := internal(net.ParseIP(ip)); !special {
			t.Errorf("%s should count as internal", ip)
		}
	}
	if _, special := internal(net.ParseIP("93.184.216.34")); special {
		t.Error("a public address counted as internal")
	}
}

// A git upstream a repository names is a destination, but not an explicit
// one: it meets the special-range refusal like any other host, unless the
// person's config names its address (GitNamed).
func TestGatewayGitDestinationsMeetTheSpecialRangeRefusal(t *testing.T) {
	pol := &Policy{
		Git:      []string{"127.0.0.1:9418", "git.example.com:22", "gitlab.internal:443", "127.0.0.1:7000"},
		GitNamed: []string{"127.0.0.1:7000"},
	}
	for _, tc := range []struct {
		addr   string
		ip     string
		reason string // "" when dialled
	}{
		// Loopback answers alone: a test dials nothing else, even when the
		// code under test is wrong (netrange's tests cover the other ranges).
		{"127.0.0.1:9418", "127.0.0.1", "reaches this machine or its network"},
		{"git.example.com:22", "127.0.0.2", "reaches this machine or its network"},
		{"gitlab.internal:443", "::1", "reaches this machine or its network"},
		{"127.0.0.1:7000", "127.0.0.1", ""},
		{"127.0.0.1:7001", "127.0.0.1", "is not an allowed destination"},
	} {
		pf := &policyFile{path: "/nonexistent"}
		pf.cur.Store(&policySeen{p: pol})
		dialled := false
		g := &Gateway{policy: pf, lookup: func(context.Context, string) ([]net.IPAddr, error) {
			dialled = true
			return []net.IPAddr{{IP: net.ParseIP(tc.ip)}}, nil
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := g.dial(ctx, tc.addr)
		cancel()
		if c != nil {
			c.Close()
		}
		switch {
		case tc.reason != "" && (err == nil || !strings.Contains(err.Error(), tc.reason)):
			t.Errorf("%s (%s): %v, want an error saying %q", tc.addr, tc.ip, err, tc.reason)
		case tc.reason == "" && err != nil && strings.Contains(err.Error(), "reaches this machine"):
			t.Errorf("%s, named by the person's config, is refused: %v", tc.addr, err)
		case tc.reason == "" && !dialled:
			t.Errorf("%s was not looked up", tc.addr)
		}
	}
}

// A name that resolves into a special-purpose range is refused unless a
// route names that address; the old list missed CGNAT, benchmarking and
// 0.0.0.0/8.
func TestGatewayRefusesNamesResolvingToSpecialRanges(t *testing.T) {
	for _, addr := range []string{"100.64.1.2", "198.18.0.1", "0.1.2.3", "127.0.0.1", "169.254.169.254", "::ffff:10.0.0.1"} {
		pf := &policyFile{path: "/nonexistent"}
		pf.cur.Store(&policySeen{p: &Policy{Routes: []Route{{Host: "*.example.com", Ports: []int{443}}}}})
		g := &Gateway{policy: pf,
			lookup: func(context.Context, string) ([]net.IPAddr, error) { return []net.IPAddr{{IP: net.ParseIP(addr)}}, nil }}
		_, err := g.dial(context.Background(), "a.example.com:443")
		if err == nil || !strings.Contains(err.Error(), "reaches this machine or its network") {
			t.Errorf("a name resolving to %s: %v", addr, err)
		}
	}
}

func TestPolicyFileReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, RoutesFile)
	os.WriteFile(path, []byte(`{"routes":[{"host":"a.test","ports":[443]}]}`), 0o644)
	f := &policyFile{path: path}
	p, err := f.get()
	if err != nil || p.Match("a.test", 443) == nil {
		t.Fatalf("first read: %v %v", p, err)
	}
	os.WriteFile(path+".tmp", []byte(`{"routes":[{"host":"a.test","ports":[443]},{"host":"b.test","ports":[443]}]}`), 0o644)
	later := time.Now().Add(time.Second)
	os.Chtimes(path+".tmp", later, later)
	os.Rename(path+".tmp", path)
	if p, _ := f.get(); p.Match("b.test", 443) == nil {
		t.Error("an edited routes file was not picked up")
	}
	os.WriteFile(path, []byte(`{"routes":[{"host":`), 0o644) // half-written
	if p, err := f.get(); err != nil || p.Match("b.test", 443) == nil {
		t.Errorf("a broken routes file should keep the last good policy: %v", err)
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("api.anthropic.com", 443)
	f.Add("x.example.com.", 80)
	f.Fuzz(func(t *testing.T, host string, port int) {
		r := testPolicy.Match(host, port)
		if r == nil {
			return
		}
		h := strings.ToLower(strings.TrimSuffix(host, "."))
		if !hostMatches(r.Host, h) {
			t.Errorf("Match(%q) returned route %q that does not match it", host, r.Host)
		}
		if strings.HasPrefix(r.Host, "*.") && !strings.HasSuffix(h, r.Host[1:]) {
			t.Errorf("wildcard %q matched %q", r.Host, host)
		}
	})
}

func TestCredentialOnlyWhereItBelongs(t *testing.T) {
	wild := Route{Host: "*.tenant.example.com", CredentialHosts: []string{"api.tenant.example.com"}}
	if !wild.SendsCredentialTo("api.tenant.example.com") || !wild.SendsCredentialTo("API.tenant.example.com.") {
		t.Error("the listed host must get the credential")
	}
	if wild.SendsCredentialTo("evil.tenant.example.com") {
		t.Error("a host the wildcard matches but credential_hosts does not list got the credential")
	}
	if !(&Route{Host: "api.example.com"}).SendsCredentialTo("api.example.com") {
		t.Error("an exact route sends its credential")
	}
	for _, tc := range []struct {
		upstream, scheme string
		ok               bool
	}{
		{"", "https", true}, {"", "http", false},
		{"https://mirror.example.com", "http", true}, {"http://mirror.example.com", "https", false},
		{"http://127.0.0.1:8080", "http", true}, {"http://[::1]:8080", "https", true}, {"http://localhost:1", "http", true},
		{"http://10.0.0.1", "https", false},
	} {
		r := Route{Host: "api.example.com", Upstream: tc.upstream}
		if got := r.OverTLS(tc.scheme); got != tc.ok {
			t.Errorf("OverTLS(upstream %q, request %s) = %v, want %v", tc.upstream, tc.scheme, got, tc.ok)
		}
	}
}

func TestScrubberStreams(t *testing.T) {
	secret := "scrub-me-" + "0123456789abcdef"
	s := newScrubber(secret)
	body := "a " + secret + " b " + secret[:5]
	for _, chunk := range []int{1, 3, 7, 64} {
		r := &scrubReader{src: io.NopCloser(&slowReader{data: []byte(body), n: chunk}), s: s}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != "a "+Placeholder+" b "+secret[:5] {
			t.Errorf("chunks of %d: %q, %v", chunk, got, err)
		}
	}
	// What cannot start a form is passed on at once (server-sent events keep flowing).
	if n := s.pending([]byte("data: x\n\n")); n != 0 {
		t.Errorf("pending = %d, want 0", n)
	}
	if n := s.pending([]byte("data: " + secret[:4])); n != 4 {
		t.Errorf("pending = %d, want 4", n)
	}
}

type slowReader struct {
	data []byte
	n    int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestCredentialAsQueryParameter: a route whose credential is a query
// parameter replaces whatever the agent put there with the secret, keeps
// the rest of the query, and the agent's view of an echo holds only the
// placeholder (issue 12).
func TestCredentialAsQueryParameter(t *testing.T) {
	cp := newCorpusProxy(t)
	var got url.Values
	cp.up.Handle("/v1/models", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		io.WriteString(w, "you sent key="+r.URL.Query().Get("key"))
	}))
	addr := cp.start(t)
	proxyURL, _ := url.Parse("http://" + addr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: tlsConfig(cp)}}
	resp, err := c.Get("https://query.example.test/v1/models?key=" + Placeholder + "&pageSize=5")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got.Get("key") != corpusSecret || got.Get("pageSize") != "5" || len(got["key"]) != 1 {
		t.Errorf("the upstream got %v, want key = the secret, once, and the rest kept", got)
	}
	if strings.Contains(string(body), corpusSecret) || !strings.Contains(string(body), Placeholder) {
		t.Errorf("the agent saw %q", body)
	}
}

// Requests read the policy at once, none waiting on another's stat, while
// approvals rewrite it: each sees a whole policy, and the last one wins.
func TestPolicyFileConcurrentReadsAndRewrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), RoutesFile)
	write := func(n int) {
		routes := `{"host":"a.test","ports":[443]}`
		for i := range n {
			routes += fmt.Sprintf(`,{"host":"h%d.test","ports":[443]}`, i)
		}
		os.WriteFile(path+".tmp", []byte(`{"routes":[`+routes+`]}`), 0o644)
		at := time.Now().Add(time.Duration(n) * time.Second)
		os.Chtimes(path+".tmp", at, at)
		os.Rename(path+".tmp", path)
	}
	write(0)
	f := &policyFile{path: path}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if p, err := f.get(); err != nil || p.Match("a.test", 443) == nil {
					t.Errorf("a read while the file changes: %v", err)
					return
				}
			}
		}()
	}
	for n := 1; n <= 20; n++ {
		write(n)
	}
	wg.Wait()
	if p, _ := f.get(); p.Match("h19.test", 443) == nil {
		t.Error("the last rewrite was not picked up")
	}
}
