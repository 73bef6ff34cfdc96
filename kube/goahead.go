package kube

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/bottle-sandbox/bottle/kube/inpod"
	"github.com/bottle-sandbox/bottle/spec"
)

// goAhead starts the agent, whose container runs: one exec there, as the
// agent's user, proves the cluster's API and DNS out of its reach while it
// waits for the state keeper's mark that every sidecar is ready, says so,
// and makes the go-ahead once told to, when up is closed (the agent's
// terminal is attached) and, for a claimed warm pod, claimed has said its
// folders are in and its proxy released (nil for a cold start). Meanwhile
// the pod is watched: a sidecar that ends, or a container the cluster
// cannot make, stops the start, and the go-ahead is never made.
func (e *Engine) goAhead(ctx context.Context, p *spec.Plan, pod string, targets []string, claimed <-chan error, up <-chan struct{}, say io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	main := p.Main().Service
	watched := make(chan error, 1)
	go func() { watched <- e.waitFor(ctx, pod, "the sidecars", say, e.sidecarFailed(ctx, p)) }()

	command, err := json.Marshal(p.Main().Command)
	if err != nil {
		return err
	}
	argv := append([]string{path.Join(BinDir, "bottle"), "sidecar", "prove-isolation", "--after", ReadyMark, "--word", "--then-touch", GoFile,
		"--command", string(command)}, targets...)
	word, tell := io.Pipe()
	defer tell.Close() // no word: the agent is not started
	said, out := io.Pipe()
	ran := make(chan error, 1)
	go func() {
		err := e.quiet(ctx, pod, main, word, out, argv...)
		out.Close()
		ran <- err
	}()
	proven := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(said)
		for sc.Scan() {
			if sc.Text() == inpod.Proven {
				close(proven)
				break
			}
		}
		io.Copy(io.Discard, said)
	}()

	failed := func(err error) error {
		if err == nil {
			err = fmt.Errorf("it ended before it said %s", inpod.Proven)
		}
		if strings.Contains(err.Error(), "reached") {
			return fmt.Errorf("kubernetes: the pod's isolation did not hold, so the agent was not started: %v", err)
		}
		return fmt.Errorf("kubernetes: start the agent: %v%s", err, e.tail(context.WithoutCancel(ctx), pod, main))
	}
	brought, notBrought := make(chan struct{}), make(chan error, 1)
	if claimed == nil {
		close(brought)
	} else {
		go func() {
			if err := <-claimed; err != nil {
				notBrought <- err
				return
			}
			close(brought)
		}()
	}
	for _, wait := range []<-chan struct{}{proven, up, brought} {
		select {
		case <-wait:
		case err := <-notBrought:
			return err
		case err := <-ran:
			return failed(err)
		case err := <-watched:
			return err
		}
	}
	if _, err := fmt.Fprintln(tell, inpod.Go); err != nil {
		return failed(err)
	}
	tell.Close()
	select {
	case err := <-ran:
		if err != nil {
			return failed(err)
		}
		return nil
	case err := <-watched:
		return err
	}
}

// sidecarFailed is, for waitFor, the end of a start: a sidecar that ended
// (whatever its code: a sidecar runs for as long as the bottle), or a
// container that failed, says so with its last words. It is never done.
func (e *Engine) sidecarFailed(ctx context.Context, p *spec.Plan) func(*corev1.Pod) (bool, error) {
	sidecars := map[string]bool{}
	for _, ct := range p.Containers {
		if !ct.Main {
			sidecars[ct.Service] = true
		}
	}
	return func(p *corev1.Pod) (bool, error) {
		for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			if t := s.State.Terminated; t != nil && (t.ExitCode != 0 || sidecars[s.Name]) {
				return false, fmt.Errorf("kubernetes: the %s container failed: %s%s", s.Name, strings.TrimSpace(t.Message+" "+t.Reason), e.tail(ctx, p.Name, s.Name))
			}
		}
		return false, nil
	}
}
