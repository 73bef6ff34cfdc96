package engines

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bottle-sandbox/bottle/state"
)

func TestRootRemembersClustersOnce(t *testing.T) {
	r := remembered{Dir: filepath.Join(t.TempDir(), "bottle")}
	if got := r.Clusters(); len(got) != 0 {
		t.Fatalf("a new root remembers %v", got)
	}
	a, b := Cluster{Context: "ctx", Namespace: "bottles"}, Cluster{Namespace: "default"}
	for _, c := range []Cluster{a, b, a} {
		if err := r.Remember(c); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Clusters(); !slices.Equal(got, []Cluster{a, b}) {
		t.Errorf("clusters: %v", got)
	}
	if bottles, _ := (state.Root{Dir: r.Dir}).List(); len(bottles) != 0 {
		t.Errorf("the clusters' file lists as a bottle: %v", bottles)
	}
	for _, c := range []Cluster{a, b} {
		if err := r.Forget(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(r.Dir, ClustersFile)); !os.IsNotExist(err) {
		t.Errorf("the last cluster forgotten, the file stays: %v", err)
	}
}
