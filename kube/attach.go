package kube

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/bottle-sandbox/bottle/spec"
)

// Attach attaches the streams to the running container of one of a
// bottle's services, as kubectl attach does: stdin when the container
// keeps it open, a terminal when it has one. It returns the service's
// exit code once it ends, or spec.ErrDetached when the attach ended (the
// caller interrupted it) with the service running on.
func (e *Engine) Attach(ctx context.Context, identity, service string, s spec.Streams) (int, error) {
	name := spec.PodName(identity)
	p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return -1, &spec.NotFoundError{Name: name}
	}
	if err != nil {
		return -1, fmt.Errorf("kubernetes: pod %s: %w", name, err)
	}
	i := slices.IndexFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == service })
	if i < 0 || !running(p.Status.ContainerStatuses, service) {
		return -1, &spec.NotFoundError{Name: name + "-" + service}
	}
	c := p.Spec.Containers[i]
	tty, stdin := c.TTY && s.TTY, c.Stdin && s.Stdin != nil
	req := e.cs.CoreV1().RESTClient().Post().Resource("pods").Name(name).Namespace(e.ns).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{Container: service, Stdin: stdin, Stdout: true, Stderr: !tty, TTY: tty}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", req.URL())
	if err != nil {
		return -1, err
	}
	opts := remotecommand.StreamOptions{Stdout: s.Stdout, Tty: tty}
	if stdin {
		opts.Stdin = s.Stdin
	}
	if !tty {
		opts.Stderr = s.Stderr
	}
	if f, ok := s.Stdin.(*os.File); ok && tty {
		if old, err := term.MakeRaw(int(f.Fd())); err == nil {
			defer term.Restore(int(f.Fd()), old)
		}
	}
	aerr := ex.StreamWithContext(ctx, opts)
	// The stream ends as the service does, or the caller's context: its
	// status says which, once the kubelet has reported it.
	for range 20 {
		p, err = e.cs.CoreV1().Pods(e.ns).Get(context.WithoutCancel(ctx), name, metav1.GetOptions{})
		if err != nil {
			break
		}
		for _, st := range p.Status.ContainerStatuses {
			if st.Name == service && st.State.Terminated != nil {
				return int(st.State.Terminated.ExitCode), nil
			}
		}
		if ctx.Err() != nil {
			break // interrupted: it runs on
		}
		time.Sleep(100 * time.Millisecond)
	}
	if aerr != nil && ctx.Err() == nil {
		return -1, fmt.Errorf("kubernetes: attach to %s's %s: %w", identity, service, aerr)
	}
	return -1, spec.ErrDetached
}
