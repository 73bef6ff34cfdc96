package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/kube/inpod"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/spec"
)

// A cluster bottle's folders live on its volume while it runs: copied
// there from the host at start (seed), back at the end (unseed), and kept
// in step in between (Sync, and every second while a start is attached)
// in the directions its Exchange names: what the agent asks for (a
// supervise request, made in the pod) comes to the host, where bottle
// requests and the dashboard read it; what the person decides (a request's
// answer, an approved route) goes to the pod, where the supervise server
// and the egress proxy read it. So an approval takes effect within two
// seconds.

// syncEvery is how often an attached start brings the folders in step.
const syncEvery = time.Second

// seed copies the bottle's folders onto its volume (never its
// credentials: the Secrets carry those), then marks the volume seeded,
// then, in the same exec, releases a claimed warm pod's proxy (release,
// the flags of sidecar release; none for a cold start).
func (e *Engine) seed(ctx context.Context, pod, stateDir string, b *Bottle, release ...string) error {
	skip := map[string]bool{}
	for _, s := range b.Secrets {
		for _, f := range s.Files {
			skip[f] = true
		}
		for _, d := range s.Folders {
			skip[d] = true
		}
	}
	if b.stage != "" {
		skip[filepath.Join(b.stage, spec.StageWaiting)] = true // the host's word, not the pod's
	}
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		return err
	}
	trees := make([]inpod.Tree, 0, len(entries)+len(b.Copies))
	for _, en := range entries {
		trees = append(trees, inpod.Tree{Src: filepath.Join(stateDir, en.Name()), Name: en.Name()})
	}
	trees = append(trees, b.Copies...) // the host's folders some container reads
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(inpod.TarTrees(trees, skip, pw)) }()
	// One exec: the copy, then the mark, only if the copy was whole, then
	// a claimed warm pod's release (its flags).
	argv := append([]string{spec.SidecarBinary, "sidecar", "untar", "--then-touch", path.Join(StateDir, inpod.Seeded)}, release...)
	if err := e.quiet(ctx, pod, keeperName, pr, io.Discard, append(argv, StateDir)...); err != nil {
		if len(release) > 0 {
			return fmt.Errorf("kubernetes: copy the claimed bottle's folders onto its volume and release its proxy: %v%s", err, e.tail(context.WithoutCancel(ctx), pod, egress.Service))
		}
		return fmt.Errorf("kubernetes: copy the bottle's folders onto its volume: %v", err)
	}
	return nil
}

// reachKeeper waits until the state keeper, started once the isolation
// is done, takes an exec: until the seed, its postStart hook holds the
// pod's start and its status with it, so no status says it runs.
func (e *Engine) reachKeeper(ctx context.Context, pod string, say io.Writer) error {
	return e.reach(ctx, pod, keeperName, "the state keeper", say, nil, spec.SidecarBinary, "sidecar", "ready", StateDir)
}

// reach waits until a container of the pod takes an exec of argv (which
// says it is ready), or the pod's status says it is (ready, when not nil):
// an exec reaches a container as soon as its runtime runs it, where the
// status waits for the kubelet's next look at its containers (up to a
// second). The pod is watched meanwhile, for a container that fails or
// the scheduler's word.
func (e *Engine) reach(ctx context.Context, pod, container, what string, say io.Writer, ready func(*corev1.Pod) bool, argv ...string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make(chan error, 1)
	go func() {
		watched <- e.waitFor(ctx, pod, what, say, func(p *corev1.Pod) (bool, error) { return ready != nil && ready(p), nil })
	}()
	for {
		if e.quiet(ctx, pod, container, nil, io.Discard, argv...) == nil {
			return nil
		}
		select {
		case err := <-watched:
			return err
		case <-time.After(reachPoll):
		}
	}
}

// reachPoll is how often reach tries its exec.
const reachPoll = 50 * time.Millisecond

// unseed copies the bottle's folders back from its volume into the host's.
func (e *Engine) unseed(ctx context.Context, pod, stateDir string) error {
	entries, _ := os.ReadDir(stateDir)
	var folders []string
	for _, en := range entries {
		if en.IsDir() {
			folders = append(folders, en.Name())
		}
	}
	return e.bringBack(ctx, pod, stateDir, folders)
}

// bringBack copies folders of the bottle's volume (below it) over the
// host's.
func (e *Engine) bringBack(ctx context.Context, pod, stateDir string, folders []string) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- inpod.Untar(beneath.At(stateDir), pr, -1, folders...)
		pr.Close()
	}()
	err := e.quiet(ctx, pod, keeperName, nil, pw, append([]string{spec.SidecarBinary, "sidecar", "tar", StateDir}, folders...)...)
	pw.CloseWithError(err)
	if uerr := <-done; err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("kubernetes: copy the bottle's folders back: %v", err)
	}
	return nil
}

// Sync brings a running bottle's folder in step once, as x says: for a
// command that reads or writes the host's (bottle requests, approve, deny,
// git fetch, the dashboard) when no attached start does it (a detached
// bottle). Where its gateway now dials, when x says, its NetworkPolicy
// follows.
func (e *Engine) Sync(ctx context.Context, identity string, x spec.Exchange) error {
	pods, err := e.cs.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: spec.LabelIdentity + "=" + identity})
	if err != nil {
		return fmt.Errorf("kubernetes: find %s: %w", identity, err)
	}
	dir := e.folder(identity)
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || !running(p.Status.InitContainerStatuses, keeperName) {
			continue
		}
		if len(x.Back) > 0 {
			if err := e.bringBack(ctx, p.Name, dir, x.Back); err != nil {
				return err
			}
		}
		e.pull(ctx, p.Name, dir, x, map[string]time.Time{})
		e.push(ctx, p.Name, dir, x, map[string]time.Time{})
	}
	if x.Dials != nil {
		return e.follow(ctx, identity, x.Dials)
	}
	return nil
}

func (e *Engine) syncLoop(ctx context.Context, pod, stateDir string, x spec.Exchange) {
	sent := map[string]time.Time{}
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.pull(ctx, pod, stateDir, x, sent)
		e.push(ctx, pod, stateDir, x, sent)
	}
}

// pull takes the files the pod made that the host does not have yet.
func (e *Engine) pull(ctx context.Context, pod, stateDir string, x spec.Exchange, sent map[string]time.Time) {
	if len(x.In) == 0 {
		return
	}
	var buf bytes.Buffer
	if e.quiet(ctx, pod, keeperName, nil, &buf, append([]string{spec.SidecarBinary, "sidecar", "tar", StateDir}, x.In...)...) != nil {
		return
	}
	tmp, err := os.MkdirTemp("", "bottle-sync-")
	if err != nil {
		return
	}
	defer os.RemoveAll(tmp)
	got := beneath.At(tmp)
	if inpod.Untar(got, &buf, -1, x.In...) != nil {
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

// push sends the files the host changed since they were last sent, but
// those the exchange holds back.
func (e *Engine) push(ctx context.Context, pod, stateDir string, x spec.Exchange, sent map[string]time.Time) {
	st := beneath.At(stateDir)
	var changed []string
	for _, top := range x.Out {
		st.Walk(top, func(rel string, fi fs.FileInfo) error {
			if !fi.Mode().IsRegular() || (x.Hold != nil && x.Hold(rel)) {
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
	go func() { pw.CloseWithError(inpod.TarFolders(stateDir, changed, nil, pw)) }()
	e.quiet(ctx, pod, keeperName, pr, io.Discard, spec.SidecarBinary, "sidecar", "untar", StateDir)
}
