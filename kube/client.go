package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/kube/inpod"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// Name is the engine's, as a bottle's folder records it.
const Name = "kubernetes"

// Engine runs bottles on a cluster through client-go: each of a bottle's
// calls made of the cluster's objects (Objects), found again by the
// bottle's identity. The bottle's folders, which the Podman engine mounts
// from the host, are copied onto the bottle's volume at start and back at
// the end, through the pod's state keeper. It keeps nothing between calls
// but the connection.
type Engine struct {
	cfg  *rest.Config
	cs   kubernetes.Interface
	ns   string
	kube config.Kubernetes
	root state.Root // a bottle's host folder is its folder there
	ver  string
	// context is the kubeconfig context in use (named, never "").
	context string
	// builder makes, on this machine, the images the cluster gets from it.
	builder func() (Builder, error)
	// claimed are the warm pods this engine's Create found claimed: Up
	// goes on from where their Warm left them.
	mu      sync.Mutex
	claimed map[string][]string
}

// A Builder makes images on this machine for a cluster that cannot build
// them: an agent's Containerfile built (an isolated one with no network),
// an image of this machine's own found; each written as a docker-archive
// for the cluster to take. Podman is one.
type Builder interface {
	EnsureImage(ctx context.Context, img spec.Image, progress io.Writer) (string, error)
	SaveImage(ctx context.Context, ref string, w io.Writer) error
	HasImage(ctx context.Context, p *spec.Plan, ref string) (bool, error)
}

// Connect reaches the cluster the kubeconfig names (as kubectl finds it),
// in the context and namespace the user's [kubernetes] says; builder is
// asked for only when an image must be made here.
func Connect(ctx context.Context, k config.Kubernetes, root state.Root, builder func() (Builder, error)) (*Engine, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: read the kubeconfig: %w", err)
	}
	raw, _ := cc.RawConfig()
	context := k.Context
	if context == "" {
		context = raw.CurrentContext
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: the cluster of context %q does not answer: %w", context, err)
	}
	return &Engine{cfg: cfg, cs: cs, ns: k.NamespaceOrDefault(), kube: k, root: root, ver: v.GitVersion, context: context, builder: builder}, nil
}

// Describe is what an engine on the cluster k names would say of itself,
// with no cluster asked: for a plan that is only printed (bottle kube
// manifest).
func Describe(k config.Kubernetes) spec.EngineInfo {
	ctx := k.Context
	if ctx == "" {
		ctx = "the current context"
	}
	return info(ctx, k.NamespaceOrDefault(), "")
}

func info(context, ns, version string) spec.EngineInfo {
	// The pod's users are fixed (Objects): the plan's are never the caller's.
	return spec.EngineInfo{Name: Name, Version: version, UID: int(inpod.AgentUID), GID: int(inpod.AgentUID), CopyOnly: true,
		Where: fmt.Sprintf("context %s, namespace %s", context, ns), Context: context, Namespace: ns}
}

func (e *Engine) Info() spec.EngineInfo { return info(e.context, e.ns, e.ver) }

// CheckRuntime: a runsc bottle runs under the cluster's RuntimeClass for
// gVisor, which must be there. A cluster that does not let its user read
// RuntimeClasses says so when the pod is made.
func (e *Engine) CheckRuntime(ctx context.Context, name string) error {
	class := e.options().runtimeClass()
	_, err := e.cs.NodeV1().RuntimeClasses().Get(ctx, class, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("kubernetes: the cluster has no RuntimeClass %s, which a profile with runtime = %q runs under: install gVisor there, or name its class with [kubernetes] runtime_class", class, name)
	}
	return nil
}

func (e *Engine) options() Options {
	return Options{Namespace: e.ns, Registry: e.kube.Registry, RuntimeClass: e.kube.RuntimeClass, Storage: e.kube.Storage}
}

// folder is a bottle's folder on the host.
func (e *Engine) folder(identity string) string { return e.root.Bottle(identity).Dir }

// exec runs argv in one of a pod's containers, attached to the streams.
func (e *Engine) exec(ctx context.Context, pod, container string, argv []string, s spec.Streams) (int, error) {
	req := e.cs.CoreV1().RESTClient().Post().Resource("pods").Name(pod).Namespace(e.ns).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: argv, Stdin: s.Stdin != nil, Stdout: true, Stderr: !s.TTY, TTY: s.TTY}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", req.URL())
	if err != nil {
		return 0, err
	}
	opts := remotecommand.StreamOptions{Stdin: s.Stdin, Stdout: s.Stdout, Tty: s.TTY}
	if !s.TTY {
		opts.Stderr = s.Stderr
	}
	err = ex.StreamWithContext(ctx, opts)
	var ce interface{ ExitStatus() int }
	if errors.As(err, &ce) {
		return ce.ExitStatus(), nil
	}
	if apierrors.IsNotFound(err) {
		return 0, &spec.NotFoundError{Name: pod}
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

// quiet runs argv in a container with no input, its output to stdout and
// what it says on error kept for the error.
func (e *Engine) quiet(ctx context.Context, pod, container string, stdin io.Reader, stdout io.Writer, argv ...string) error {
	var stderr bytes.Buffer
	code, err := e.exec(ctx, pod, container, argv, spec.Streams{Stdin: stdin, Stdout: stdout, Stderr: &stderr})
	if err == nil && code != 0 {
		err = fmt.Errorf("exit %d", code)
	}
	if err != nil {
		return fmt.Errorf("%w %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func running(st []corev1.ContainerStatus, name string) bool {
	for _, s := range st {
		if s.Name == name && s.State.Running != nil {
			return true
		}
	}
	return false
}

// started says whether the container name (a native sidecar) runs and its
// postStart hook is done.
func started(st []corev1.ContainerStatus, name string) bool {
	for _, s := range st {
		if s.Name == name && s.State.Running != nil && s.Started != nil && *s.Started {
			return true
		}
	}
	return false
}

// waitFor follows the pod until ok says so, it fails, or ctx ends: through
// a watch, so a change is seen as the API server has it (a client that may
// not watch polls every 250 ms). While the scheduler cannot place the pod,
// it says why on say, once each reason.
func (e *Engine) waitFor(ctx context.Context, pod, what string, say io.Writer, ok func(*corev1.Pod) (bool, error)) error {
	deadline := time.Now().Add(5 * time.Minute)
	said := ""
	// check says whether the wait is over, and why it failed.
	check := func(p *corev1.Pod) (bool, error) {
		done, err := ok(p)
		if err != nil || done {
			return true, err
		}
		if why, c := stuck(p); why != "" {
			if c != "" {
				why += e.tail(ctx, pod, c)
			}
			return true, fmt.Errorf("kubernetes: waiting for %s: %s", what, why)
		}
		unscheduled := unschedulable(p)
		if unscheduled != "" && unscheduled != said {
			fmt.Fprintf(say, "bottle: kubernetes: the pod waits for the scheduler, which cannot place it yet: %s\n", unscheduled)
			said = unscheduled
		}
		if time.Now().After(deadline) {
			if unscheduled != "" {
				return true, fmt.Errorf("kubernetes: %s not ready after 5 minutes: the scheduler could not place pod %s: %s", what, pod, unscheduled)
			}
			return true, fmt.Errorf("kubernetes: %s not ready after 5 minutes (pod %s is %s)", what, pod, p.Status.Phase)
		}
		return false, nil
	}
	pods := e.cs.CoreV1().Pods(e.ns)
	for {
		p, err := pods.Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("kubernetes: waiting for %s: %w", what, err)
		}
		if over, err := check(p); over {
			return err
		}
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod, ResourceVersion: p.ResourceVersion})
		if err != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		over, err := watchPod(ctx, w, time.Until(deadline)+time.Second, check)
		w.Stop()
		if over {
			return err
		}
	}
}

// watchPod gives check each state of the pod a watch brings, until check
// says the wait is over, or the watch ends (false: look again) or ctx does.
func watchPod(ctx context.Context, w watch.Interface, within time.Duration, check func(*corev1.Pod) (bool, error)) (bool, error) {
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-timeout.C:
			return false, nil // checked again, past the deadline
		case ev, open := <-w.ResultChan():
			if !open {
				return false, nil
			}
			p, isPod := ev.Object.(*corev1.Pod)
			switch {
			case ev.Type == watch.Deleted && isPod:
				return true, fmt.Errorf("kubernetes: pod %s was removed", p.Name)
			case (ev.Type == watch.Added || ev.Type == watch.Modified) && isPod:
				if over, err := check(p); over {
					return true, err
				}
			default: // an error, a bookmark: look again
				return false, nil
			}
		}
	}
}

// unschedulable is the scheduler's reason for not placing the pod ("": it
// is placed, or not looked at yet).
func unschedulable(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.Message
		}
	}
	return ""
}

// stuck says why a pod will not get further (an image the cluster cannot
// pull, a container that cannot be made or that failed), and which
// container, whose last lines of output say more.
func stuck(p *corev1.Pod) (string, string) {
	mainName := mainOf(p)
	for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := s.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
				return fmt.Sprintf("the %s container: %s: %s", s.Name, w.Reason, w.Message), ""
			}
		}
		if t := s.State.Terminated; t != nil && t.ExitCode != 0 && s.Name != mainName {
			return fmt.Sprintf("the %s container ended with %d (%s)", s.Name, t.ExitCode, t.Reason), s.Name
		}
		// A sidecar the kubelet restarts: its last end says why.
		if t := s.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 && s.Name != mainName && s.RestartCount > 0 {
			return fmt.Sprintf("the %s container ended with %d (%s)", s.Name, t.ExitCode, t.Reason), s.Name
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		return "the pod failed: " + p.Status.Reason + " " + p.Status.Message, ""
	}
	return "", ""
}

// tail is the last lines a container wrote, for an error.
func (e *Engine) tail(ctx context.Context, pod, container string) string {
	lines := int64(10)
	// The container's output, or its last run's when it was restarted.
	for _, previous := range []bool{false, true} {
		r, err := e.cs.CoreV1().Pods(e.ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, TailLines: &lines, Previous: previous}).Stream(ctx)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(r, 4096))
		r.Close()
		if len(bytes.TrimSpace(b)) != 0 {
			return ": " + strings.TrimSpace(string(b))
		}
	}
	return ""
}

// mainOf is the name of the pod's main container (the agent's), which
// Objects puts first.
func mainOf(p *corev1.Pod) string {
	if len(p.Spec.Containers) == 0 {
		return ""
	}
	return p.Spec.Containers[0].Name
}

func ptr[T any](v T) *T { return &v }

// CheckNamespace says whether the engine's namespace is there (one the
// user may not look at counts as there: the pod's making says more).
func (e *Engine) CheckNamespace(ctx context.Context) error {
	_, err := e.cs.CoreV1().Namespaces().Get(ctx, e.ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("kubernetes: the cluster of context %s has no namespace %s", e.context, e.ns)
	}
	return nil
}
