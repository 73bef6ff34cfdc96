package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/spec"
)

// Warm bottles on a cluster (docs/warm.md): a pod cannot gain a container
// once made, so a warm pod is the whole pod a cold start makes, brought up
// as far as a cold start brings it before its go-ahead: the isolation done,
// the bottle's folders on its volume (no workspace, no route, no secret:
// the warm bottle's folder holds none), the gateway up, the proxy held back
// (it says it is up and loads nothing), the agent's container running and
// waiting for its go-ahead, which brings its command. Its Secrets are made
// of the warm bottle's folder, so they hold no secret; its NetworkPolicy
// lets out nothing but DNS. A claim (Create, then Up) checks the start's
// Secrets are the ones the pod has (a start with a secret does not fit, and
// starts cold), sets the policy to the start's routes, copies the start's
// folders onto the volume, releases the proxy, and gives the go-ahead.

// warmWithin bounds the making of a warm pod, and a claim's wait for its
// released proxy.
const warmWithin = 2 * time.Minute

// Warm makes a warm bottle's pod of the plan p (its agent's container with
// the rest): the images (the sidecar image of the sidecar binary exe), the
// bottle's objects and the pod, up to its agent's container waiting for its
// go-ahead and its sidecars ready. The sidecars' ready mark, which the held-back
// proxy's ready file brought, is taken away again: a claim's go-ahead waits
// for the mark of the released proxy. It reports that the agent was made ahead.
func (e *Engine) Warm(ctx context.Context, p *spec.Plan, exe string) (bool, error) {
	main := p.Main()
	if main == nil {
		return false, errors.New("kubernetes: a warm pod holds its agent's container (a pod gains no container once made), and this profile's agent cannot be made ahead of its start (a prompt, or an image only a working directory builds)")
	}
	ctx, cancel := context.WithTimeout(ctx, warmWithin)
	defer cancel()
	t0 := time.Now()
	if _, err := e.Images(ctx, p, exe, io.Discard); err != nil {
		return false, err
	}
	if err := e.Create(ctx, p); err != nil {
		return false, err
	}
	b, err := e.objects(p)
	if err != nil {
		return false, err
	}
	if err := e.bringUp(ctx, p, b, main.TTY, io.Discard); err != nil {
		return false, err
	}
	pod := b.Pod.Name
	if err := e.reach(ctx, pod, keeperName, "the warm bottle's sidecars", io.Discard, nil, spec.SidecarBinary, "sidecar", "ready", ReadyMark); err != nil {
		return false, err
	}
	if err := e.quiet(ctx, pod, keeperName, nil, io.Discard, spec.SidecarBinary, "sidecar", "release", "--unready", ReadyMark); err != nil {
		return false, fmt.Errorf("kubernetes: the warm pod's ready mark: %v", err)
	}
	slog.Debug("kubernetes: warm pod made", "pod", pod, "elapsed", time.Since(t0))
	return true, nil
}

// Refit says whether the warm pod made of the plan made is the pod a cold
// start of want makes (the agent's command comes with the go-ahead, so it
// may differ): it is, or spec.ErrMisfit. Nothing can be changed in a pod
// made, so nothing is removed here (the claim removes the bottle).
func (e *Engine) Refit(_ context.Context, made, want *spec.Plan) error {
	mb, err := e.objects(made)
	if err != nil {
		return err
	}
	wb, err := e.objects(want)
	if err != nil {
		return err
	}
	m, err := json.Marshal(mb.Pod)
	if err != nil {
		return err
	}
	w, err := json.Marshal(wb.Pod)
	if err != nil {
		return err
	}
	if !bytes.Equal(m, w) {
		slog.Debug("kubernetes: the warm pod does not fit", "made", string(m), "want", string(w))
		return fmt.Errorf("%w: its pod is not the one this start makes", spec.ErrMisfit)
	}
	return nil
}

// claim takes the warm pod of the plan's bottle, when there is one (it
// reports whether): its Secrets must hold what the start's would (a warm
// pod's hold no secret: a start with one does not fit), and its
// NetworkPolicy is set to the start's routes. Up goes on from there.
func (e *Engine) claim(ctx context.Context, p *spec.Plan, b *Bottle) (bool, error) {
	live, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, b.Pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("kubernetes: the pod: %w", err)
	}
	if live.Status.Phase != corev1.PodRunning || live.DeletionTimestamp != nil {
		return true, fmt.Errorf("%w: its pod is %s", spec.ErrMisfit, live.Status.Phase)
	}
	for _, s := range b.Secrets {
		if err := s.fill(e.root.Dir); err != nil {
			return true, err
		}
		got, err := e.cs.CoreV1().Secrets(e.ns).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			return true, fmt.Errorf("%w: its Secret %s: %v", spec.ErrMisfit, s.Name, err)
		}
		// Never said what differs: these are credentials.
		if !maps.EqualFunc(got.Data, s.Data, bytes.Equal) {
			return true, fmt.Errorf("%w: this start has credentials in its Secret %s, and a warm pod holds none", spec.ErrMisfit, s.Name)
		}
	}
	added, err := e.setPolicy(ctx, p.Pod.Labels[spec.LabelIdentity], p.Dials)
	if err != nil {
		return true, err
	}
	e.mu.Lock()
	if e.claimed == nil {
		e.claimed = map[string][]string{}
	}
	e.claimed[b.Pod.Name] = added
	e.mu.Unlock()
	return true, nil
}

// isClaimed says whether this engine's Create claimed the warm pod, and
// what its NetworkPolicy newly lets out.
func (e *Engine) isClaimed(pod string) ([]string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	added, ok := e.claimed[pod]
	return added, ok
}

// fits says whether a claimed warm pod was made with this start's
// terminal: one made with another does not fit.
func (e *Engine) fits(ctx context.Context, p *spec.Plan, pod string, tty bool) error {
	live, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("kubernetes: the pod: %w", err)
	}
	for _, c := range live.Spec.Containers {
		if c.Name == p.Main().Service && c.TTY != tty {
			return fmt.Errorf("%w: its agent's terminal (%v) is not this start's (%v)", spec.ErrMisfit, c.TTY, tty)
		}
	}
	return nil
}

// upClaimed brings a claimed warm pod to where a cold start's bringUp
// leaves one: the start's folders copied onto its volume and its proxy
// released (its ready file made anew once it has loaded them, and the
// sidecars' ready mark after), in one exec, and the gateway reaching what
// the policy now lets out. The go-ahead's proof runs meanwhile: it waits
// for the ready mark, and its word waits for this.
func (e *Engine) upClaimed(ctx context.Context, p *spec.Plan, b *Bottle, added []string) error {
	t0 := time.Now()
	identity := p.Pod.Labels[spec.LabelIdentity]
	reached := make(chan struct{})
	go func() {
		defer close(reached)
		if len(added) > 0 {
			e.reached(ctx, identity, added)
		}
	}()
	stateDir := e.folder(identity)
	release, err := e.release(p, b, stateDir)
	if err != nil {
		return err
	}
	if err := e.seed(ctx, b.Pod.Name, stateDir, b, release...); err != nil {
		return err
	}
	slog.Debug("kubernetes: the claim's folders are in, its proxy serves", "elapsed", time.Since(t0))
	<-reached
	return nil
}

// release is the flags of the state keeper's release that lets a claimed
// pod's proxy go on: its ready files (the held-back proxy's) taken away,
// then its warm file, then, once every sidecar's ready files are there,
// the ready mark.
func (e *Engine) release(p *spec.Plan, b *Bottle, stateDir string) ([]string, error) {
	argv := []string{"--within", warmWithin.String(), "--mark", ReadyMark}
	for _, f := range b.ready {
		argv = append(argv, "--ready", f)
	}
	for _, ct := range p.Containers {
		if ct.Service != egress.Service {
			continue
		}
		for _, f := range ct.Ready {
			seen, err := b.readyInKeeper(ct, stateDir, f)
			if err != nil {
				return nil, err
			}
			argv = append(argv, "--unready", seen)
		}
		for _, m := range ct.Mounts {
			if m.Target != egress.ContainerDir {
				continue
			}
			rel, err := filepath.Rel(stateDir, m.Source)
			if err != nil || !filepath.IsLocal(rel) {
				return nil, fmt.Errorf("kubernetes: the proxy's folder %s is outside the bottle's", m.Source)
			}
			argv = append(argv, "--warm", path.Join(StateDir, filepath.ToSlash(rel), egress.WarmFile))
		}
	}
	return argv, nil
}

// waiting makes (on) or removes the host's word that the bottle's agent
// waits for its go-ahead (spec.StageWaiting, in its stage): from its pod's
// making to its go-ahead, so that bottle gc removes a bottle whose start
// (or claim) was killed in between, its agent's container waiting for
// ever, once no bottle command holds it. The stage is the host's alone (no
// container mounts it on a cluster, and the seed leaves the word out).
func waiting(p *spec.Plan, on bool) error {
	stage := p.Main().Stage
	if stage == "" {
		return nil
	}
	// Below the bottle's folder, following no link.
	d := beneath.At(filepath.Dir(stage))
	file := filepath.Join(filepath.Base(stage), spec.StageWaiting)
	if !on {
		if err := d.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := d.MkdirAll(filepath.Base(stage), 0o700); err != nil {
		return err
	}
	return d.WriteFile(file, nil, 0o644)
}
