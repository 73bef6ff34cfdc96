//go:build e2e

package main

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Which phase of hack/e2e.sh runs a test is chosen by what the test needs,
// said beside it (needs), against what the phase offers
// (BOTTLE_E2E_PHASE): a test needs a Podman service by default.

// What a phase offers, and a test may need.
const (
	podmanService = "podman"      // a Podman service to run bottles on
	rootfulPodman = "rootful"     // that service is root's
	rootlessUser  = "rootless"    // bottle runs as an unprivileged user
	hostPodman    = "host-podman" // the podman on PATH is the service's own (a runsc service, a private one, are started from it)
	cluster       = "cluster"     // a Kubernetes cluster, with its kubectl and kubeconfig
	// byRow: a table whose rows each say what they need runs in every
	// phase, and there runs the rows whose needs it meets (phaseOffers).
	byRow = "by-row"
)

// offered is what this run's phase offers; nil when no phase is named
// (every test runs, every row of a byRow table too).
var offered []string

// phaseOffers says whether this run's phase meets a row's needs: none
// beside a Podman service, or what it names.
func phaseOffers(what []string) bool {
	if offered == nil {
		return true
	}
	if len(what) == 0 {
		return slices.Contains(offered, podmanService)
	}
	for _, w := range what {
		if !slices.Contains(offered, w) {
			return false
		}
	}
	return true
}

// phases are hack/e2e.sh's, by what each offers.
var phases = map[string][]string{
	"rootful":          {podmanService, rootfulPodman, hostPodman},
	"rootless":         {podmanService, rootlessUser, hostPodman},
	"podman5":          {podmanService, rootfulPodman},
	"podman5-rootless": {podmanService, rootlessUser},
	"kube":             {cluster},
}

// needed are the tests that need more than a Podman service, or other
// than one, by name.
var needed = map[string][]string{}

// needs says what the tests need; it is called once per test file, in a
// var's initializer.
func needs(what []string, tests ...func(*testing.T)) bool {
	for _, test := range tests {
		name := runtime.FuncForPC(reflect.ValueOf(test).Pointer()).Name()
		needed[name[strings.LastIndex(name, ".")+1:]] = what
	}
	return true
}

// TestMain runs, in a phase, the tests whose needs it meets.
func TestMain(m *testing.M) {
	flag.Parse()
	if phase := os.Getenv("BOTTLE_E2E_PHASE"); phase != "" {
		offers, ok := phases[phase]
		if !ok {
			fmt.Fprintf(os.Stderr, "BOTTLE_E2E_PHASE=%s: not a phase\n", phase)
			os.Exit(2)
		}
		offered = offers
		choose(offers)
	}
	for _, c := range credentialCases {
		if !somePhaseOffers(c.needs) {
			fmt.Fprintf(os.Stderr, "credential row %s needs %v, which no phase offers\n", c.name, c.needs)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// choose narrows the tests to run to those whose needs are met. A phase
// with a Podman service runs every test but those that need what it does
// not offer; one without runs only those that said what they need and
// find it.
func choose(offers []string) {
	var meet, miss []string
	for name, want := range needed {
		if slices.Contains(want, byRow) {
			meet = append(meet, regexp.QuoteMeta(name))
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && slices.Contains(offers, w)
		}
		if ok {
			meet = append(meet, regexp.QuoteMeta(name))
		} else {
			miss = append(miss, regexp.QuoteMeta(name))
		}
	}
	sort.Strings(meet)
	sort.Strings(miss)
	if !slices.Contains(offers, podmanService) {
		// Those the run asks for (-test.run, to its first /) among them.
		top, sub := flag.Lookup("test.run").Value.String(), ""
		if i := strings.Index(top, "/"); i >= 0 {
			top, sub = top[:i], top[i:]
		}
		asked := regexp.MustCompile(top)
		meet = slices.DeleteFunc(meet, func(name string) bool { return !asked.MatchString(name) })
		flag.Set("test.run", "^("+strings.Join(meet, "|")+")$"+sub)
		return
	}
	if len(miss) > 0 {
		skip := "^(" + strings.Join(miss, "|") + ")$"
		if prev := flag.Lookup("test.skip").Value.String(); prev != "" {
			skip = prev + "|" + skip
		}
		flag.Set("test.skip", skip)
	}
}

// somePhaseOffers says whether a row's needs are met by some phase.
func somePhaseOffers(what []string) bool {
	for _, offers := range phases {
		ok := len(what) > 0 || slices.Contains(offers, podmanService)
		for _, w := range what {
			ok = ok && slices.Contains(offers, w)
		}
		if ok {
			return true
		}
	}
	return false
}
