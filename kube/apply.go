package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/kube/inpod"
	"github.com/bottle-sandbox/bottle/spec"
)

// Create makes the bottle's volume (a claim, when one is sized), Secrets
// (their values read from the host now) and NetworkPolicy; the pod comes with Up, which starts it.
func (e *Engine) Create(ctx context.Context, p *spec.Plan) error {
	b, err := e.objects(p)
	if err != nil {
		return err
	}
	if claimed, err := e.claim(ctx, p, b); claimed || err != nil {
		return err
	}
	if b.Volume != nil {
		if _, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Create(ctx, b.Volume, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("kubernetes: the bottle's volume: %w", err)
		}
	}
	for _, s := range b.Secrets {
		if err := s.fill(e.root.Dir); err != nil {
			return err
		}
		if _, err := e.cs.CoreV1().Secrets(e.ns).Create(ctx, s.Secret, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("kubernetes: the Secret %s: %w", s.Name, err)
		}
	}
	if _, err := e.cs.NetworkingV1().NetworkPolicies(e.ns).Create(ctx, b.Policy, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("kubernetes: the NetworkPolicy: %w", err)
	}
	return nil
}

// objects are the plan's objects on this engine's cluster.
func (e *Engine) objects(p *spec.Plan) (*Bottle, error) {
	return Objects(p, e.folder(p.Pod.Labels[spec.LabelIdentity]), e.options())
}

// startPod makes the bottle's pod, which starts it; tty gives its
// containers a terminal (the agent's attached to one).
func (e *Engine) startPod(ctx context.Context, b *Bottle, tty bool) error {
	pod := b.Pod.DeepCopy()
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].TTY = tty
		pod.Spec.Containers[i].StdinOnce = pod.Spec.Containers[i].Stdin
	}
	if _, err := e.cs.CoreV1().Pods(e.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "PodSecurity") {
			return fmt.Errorf("kubernetes: namespace %s refuses the bottle's pod: the restricted Pod Security level forbids the capabilities of its init containers (NET_ADMIN for the isolation, file ownership for the state keeper); bottle will not start a pod without them (%v)", e.ns, err)
		}
		return fmt.Errorf("kubernetes: the pod: %w", err)
	}
	return nil
}

// follow sets the bottle's NetworkPolicy to let out what its gateway now
// dials (an approval added a route). A bottle with no policy has nothing
// to follow.
func (e *Engine) follow(ctx context.Context, identity string, dials []spec.Dial) error {
	added, err := e.setPolicy(ctx, identity, dials)
	if err != nil {
		return err
	}
	if len(added) > 0 {
		e.reached(ctx, identity, added)
	}
	return nil
}

// setPolicy sets the bottle's NetworkPolicy to let out what dials say,
// and returns what it did not let out before. A bottle with no policy has
// nothing to set.
func (e *Engine) setPolicy(ctx context.Context, identity string, dials []spec.Dial) ([]string, error) {
	policies := e.cs.NetworkingV1().NetworkPolicies(e.ns)
	pol, err := policies.Get(ctx, spec.PodName(identity), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes: the NetworkPolicy of %s: %w", identity, err)
	}
	var added []string
	for _, d := range dials {
		if !allows(pol.Spec.Egress, d) {
			added = append(added, net.JoinHostPort(d.Host, strconv.Itoa(d.Port)))
		}
	}
	pol.Spec.Egress = egressRules(dials)
	if _, err := policies.Update(ctx, pol, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("kubernetes: the NetworkPolicy of %s: %w", identity, err)
	}
	return added, nil
}

// reached waits, for a few seconds at most, until the bottle's gateway
// connects to each of targets: the cluster's network plugin applies a
// changed policy a moment after it is made, and an agent told its route
// is approved should find it open. An upstream that is not there is not
// the approval's to wait for longer.
func (e *Engine) reached(ctx context.Context, identity string, targets []string) {
	pod, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, spec.PodName(identity), metav1.GetOptions{})
	if err != nil {
		return
	}
	for _, c := range pod.Spec.Containers {
		if u := c.SecurityContext; u != nil && u.RunAsUser != nil && *u.RunAsUser == inpod.GatewayUID && running(pod.Status.ContainerStatuses, c.Name) {
			err := e.quiet(ctx, pod.Name, c.Name, nil, io.Discard, append([]string{spec.SidecarBinary, "sidecar", "reach", "--wait", "5s"}, targets...)...)
			slog.Debug("the gateway reaches the approved route", "identity", identity, "targets", targets, "err", err)
		}
	}
}

// fill reads the Secret's values from the host files the plan names.
func (s *Secret) fill(stateRoot string) error {
	for key, file := range s.Files {
		data, err := readHostFile(stateRoot, file)
		if err != nil {
			return fmt.Errorf("kubernetes: the Secret %s: %w", s.Name, err)
		}
		s.Data[key] = data
	}
	for _, dir := range s.Folders {
		d, err := hostFolder(stateRoot, dir)
		if err != nil {
			return fmt.Errorf("kubernetes: the Secret %s: %w", s.Name, err)
		}
		entries, err := d.ReadDir(".")
		if err != nil {
			return fmt.Errorf("kubernetes: the Secret %s: %w", s.Name, err)
		}
		for _, en := range entries {
			if en.Type().IsRegular() {
				data, err := d.ReadFile(en.Name())
				if err != nil {
					return err
				}
				s.Data[en.Name()] = data
			}
		}
	}
	return nil
}

// hostFolder is a host folder a Secret carries: below the state root (a
// bottle's folder, where sidecars write) through internal/beneath, so no
// link a container left there is followed.
func hostFolder(stateRoot, dir string) (beneath.Dir, error) {
	if rel, err := filepath.Rel(stateRoot, dir); err == nil && filepath.IsLocal(rel) {
		return beneath.At(stateRoot).Join(rel)
	}
	return beneath.At(dir), nil
}

// readHostFile reads a file a Secret carries: below the state root through
// internal/beneath; elsewhere (the person's login file) as the person's own.
func readHostFile(stateRoot, file string) ([]byte, error) {
	if rel, err := filepath.Rel(stateRoot, file); err == nil && filepath.IsLocal(rel) {
		return beneath.At(stateRoot).ReadFile(rel)
	}
	return os.ReadFile(file)
}
