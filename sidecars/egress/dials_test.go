package egress

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/spec"
)

// Where a gateway dials, as a plan says it before anything is written
// (DialsOf, for a network policy) and as the gateway's routes have it once
// prepared and after an approval (GatewayDials): a rewritten upstream's
// address and port, not its route's.
func TestDialsAreTheGatewaysOwn(t *testing.T) {
	dir := t.TempDir()
	routes := []config.Route{
		{Host: "api.example.com"}, // the default ports
		{Host: "mirror.example.test", Ports: []int{443}, Upstream: "https://10.231.0.1:18443"},
		{Host: "*.example.org", Ports: []int{8443, 443}},
		{Host: "plain.example.net", Ports: []int{80}, Upstream: "http://127.0.0.1"},
	}
	approved := []Route{{Host: "pkg.example.test", Ports: []int{443}, Intercept: true, Upstream: "http://127.0.0.1:9999"}, {Host: "localhost", Ports: []int{8080}, Intercept: true}}
	git := []string{"git.example.com:22"}
	d := func(host string, port int) spec.Dial { return spec.Dial{Host: host, Port: port} }
	want := []spec.Dial{d("api.example.com", 80), d("api.example.com", 443), d("10.231.0.1", 18443), d("*.example.org", 8443), d("*.example.org", 443),
		d("127.0.0.1", 80), d("127.0.0.1", 9999), d("localhost", 8080), d("git.example.com", 22)}
	if got := DialsOf(routes, approved, git); !slices.Equal(got, want) {
		t.Errorf("DialsOf: %v, want %v", got, want)
	}
	eg, gw := filepath.Join(dir, "egress"), filepath.Join(dir, "gateway")
	if _, err := Prepare(context.Background(), "t-abcde", eg, gw, filepath.Join(dir, "agent"), routes, approved, nil, git, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := GatewayDials(gw); err != nil || !slices.Equal(got, want) {
		t.Errorf("GatewayDials: %v %v, want %v", got, err, want)
	}
	if err := AddRoute(eg, gw, Route{Host: "pypi.org", Ports: []int{443}, Intercept: true, Upstream: "https://10.231.0.1:18080"}); err != nil {
		t.Fatal(err)
	}
	want = append(want[:8:8], spec.Dial{Host: "10.231.0.1", Port: 18080}, want[8])
	if got, err := GatewayDials(gw); err != nil || !slices.Equal(got, want) {
		t.Errorf("after an approval: %v %v, want %v", got, err, want)
	}
}
