package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/spec"
)

// While a cluster bottle's terminal is attached, its folders on the
// cluster and on the host are kept in step, every second, in the two
// directions that matter: what the agent asks for (a supervise request,
// made in the pod) comes to the host, where bottle requests and the
// dashboard read it; what the person decides (a request's answer, an
// approved route) goes to the pod, where the supervise server and the
// egress proxy read it. So an approval takes effect within two seconds.

// syncEvery is how often the folders are brought in step.
const syncEvery = time.Second

var (
	// pulled are the folders the pod writes new files into.
	pulled = []string{"supervise/requests"}
	// pushed are the files and folders the host changes.
	pushed = []string{"egress/policy/routes.json", "gateway/routes.json", "supervise/requests"}
)

func (e *Engine) syncLoop(ctx context.Context, pod, stateDir string) {
	sent := map[string]time.Time{}
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.pull(ctx, pod, stateDir, sent)
		e.push(ctx, pod, stateDir, sent, nil)
	}
}

// Mirror brings a running cluster bottle's folders in step once, for a
// command that reads or writes the host's (bottle requests, approve,
// deny, the dashboard) when no attached start does it: a detached bottle.
// It takes the pod's new requests, and sends the routes and the decided
// requests (a pending one is the pod's to change).
func (e *Engine) Mirror(ctx context.Context, identity string) error {
	pods, err := e.cs.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: spec.LabelIdentity + "=" + identity})
	if err != nil {
		return fmt.Errorf("kubernetes: find %s: %w", identity, err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || !running(p.Status.InitContainerStatuses, keeperName) {
			continue
		}
		stateDir := filepath.Join(e.root, identity)
		e.pull(ctx, p.Name, stateDir, map[string]time.Time{})
		e.push(ctx, p.Name, stateDir, map[string]time.Time{}, decided)
	}
	return nil
}

// Bring copies folders of a running cluster bottle (below its folder) over
// the host's, for a command that reads them while the bottle runs (bottle
// git fetch: the git gate's and the agent's repositories).
func (e *Engine) Bring(ctx context.Context, identity string, folders []string) error {
	pods, err := e.cs.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: spec.LabelIdentity + "=" + identity})
	if err != nil {
		return fmt.Errorf("kubernetes: find %s: %w", identity, err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && running(p.Status.InitContainerStatuses, keeperName) {
			return e.bringBack(ctx, p.Name, filepath.Join(e.root, identity), folders)
		}
	}
	return nil
}

// decided says whether a pushed file (below the bottle's folder st) may
// go to the pod: anything but a request the person has not decided yet.
func decided(st beneath.Dir, rel string) bool {
	if !strings.HasPrefix(rel, "supervise/requests/") {
		return true
	}
	data, err := st.ReadFile(rel)
	if err != nil {
		return false
	}
	var r struct {
		Status string `json:"status"`
	}
	return json.Unmarshal(data, &r) == nil && r.Status != "" && r.Status != "pending"
}

// pull takes the files the pod made that the host does not have yet.
func (e *Engine) pull(ctx context.Context, pod, stateDir string, sent map[string]time.Time) {
	var buf bytes.Buffer
	args := append([]string{spec.SidecarBinary, "sidecar", "tar", StateDir}, pulled...)
	if code, err := e.exec(ctx, pod, keeperName, args, false, nil, &buf, io.Discard); err != nil || code != 0 {
		return
	}
	tmp, err := os.MkdirTemp("", "bottle-sync-")
	if err != nil {
		return
	}
	defer os.RemoveAll(tmp)
	got := beneath.At(tmp)
	if Untar(got, &buf, -1, pulled...) != nil {
		return
	}
	st := beneath.At(stateDir)
	got.Walk(".", func(rel string, fi fs.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return nil
		}
		if _, err := st.Lstat(rel); !errors.Is(err, fs.ErrNotExist) {
			return nil // the host's copy wins: it may hold the answer
		}
		data, err := got.ReadFile(rel)
		if err != nil {
			return nil
		}
		if st.MkdirAll(path.Dir(rel), 0o700) != nil || st.WriteFile(rel, data, 0o600) != nil {
			return nil
		}
		if fi, err := st.Lstat(rel); err == nil {
			sent[rel] = fi.ModTime() // the pod has it as it is
		}
		return nil
	})
}

// push sends the files the host changed since they were last sent (and
// that ok, when given, lets go).
func (e *Engine) push(ctx context.Context, pod, stateDir string, sent map[string]time.Time, ok func(st beneath.Dir, rel string) bool) {
	st := beneath.At(stateDir)
	var changed []string
	for _, top := range pushed {
		st.Walk(top, func(rel string, fi fs.FileInfo) error {
			if !fi.Mode().IsRegular() {
				return nil
			}
			if ok != nil && !ok(st, rel) {
				return nil
			}
			if last, seen := sent[rel]; !seen || fi.ModTime().After(last) {
				changed = append(changed, rel)
				sent[rel] = fi.ModTime()
			}
			return nil
		})
	}
	if len(changed) == 0 {
		return
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarFiles(stateDir, changed, pw)) }()
	e.exec(ctx, pod, keeperName, []string{spec.SidecarBinary, "sidecar", "untar", StateDir}, false, pr, io.Discard, io.Discard)
}

// tarFiles writes the named files below root (their folders with them).
func tarFiles(root string, rels []string, w io.Writer) error {
	return TarFolders(root, rels, nil, w)
}
