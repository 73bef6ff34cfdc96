package engines

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// ClustersFile, in the state root, lists the clusters this root has started
// bottles on, so that their pods are found (and gc removes them) even when
// the bottles' folders are gone.
const ClustersFile = ".clusters"

// A Cluster is a Kubernetes context and namespace.
type Cluster struct {
	Context   string `json:"context"`
	Namespace string `json:"namespace"`
}

// remembered are the clusters a state root has started bottles on (its
// ClustersFile).
type remembered struct{ Dir string }

// Remember adds c to the root's clusters, once.
func (r remembered) Remember(c Cluster) error {
	if slices.Contains(r.Clusters(), c) {
		return nil
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return fmt.Errorf("remember cluster: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(r.Dir, ClustersFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("remember cluster: %w", err)
	}
	line, _ := json.Marshal(c)
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("remember cluster: %w", err)
	}
	return nil
}

// Clusters are the clusters the root remembers, each once; a line that
// does not read is left out.
func (r remembered) Clusters() []Cluster {
	data, _ := os.ReadFile(filepath.Join(r.Dir, ClustersFile))
	var out []Cluster
	for _, line := range bytes.Split(data, []byte("\n")) {
		var c Cluster
		if json.Unmarshal(line, &c) == nil && c.Namespace != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Forget takes c out of the root's clusters (the file goes with the last
// one).
func (r remembered) Forget(c Cluster) error {
	var keep []byte
	for _, k := range r.Clusters() {
		if k != c {
			line, _ := json.Marshal(k)
			keep = append(append(keep, line...), '\n')
		}
	}
	path := filepath.Join(r.Dir, ClustersFile)
	if len(keep) == 0 {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("forget cluster: %w", err)
		}
		return nil
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, keep, 0o600); err != nil {
		return fmt.Errorf("forget cluster: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("forget cluster: %w", err)
	}
	return nil
}
