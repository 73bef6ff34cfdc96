package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path"
	"sync"
	"time"

	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/bottle-sandbox/bottle/spec"
)

// Up makes the bottle's pod, copies the bottle's folders onto its volume
// through the state keeper, then gives the agent its go-ahead once every
// sidecar is ready and the pod's isolation is proven from the agent's
// container, saying on s.Stderr what the scheduler keeps it waiting for:
// detached, and it is left running; attached, to s, and its exit code
// comes back once its folders are home.
func (e *Engine) Up(ctx context.Context, p *spec.Plan, s spec.Streams, detach bool) (int, error) {
	b, err := e.objects(p)
	if err != nil {
		return 0, err
	}
	tty := !detach && p.Main().TTY
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// What the proof tries is asked of the cluster while the pod starts.
	targets := make(chan []string, 1)
	go func() { targets <- e.isolationTargets(ctx) }()
	// A claimed warm pod's folders and proxy come while the attach is made
	// and the proof runs: the go-ahead waits for them.
	var claimed chan error
	if added, ok := e.isClaimed(b.Pod.Name); ok {
		if err := e.fits(ctx, p, b.Pod.Name, tty); err != nil {
			return 0, err
		}
		claimed = make(chan error, 1)
		go func() { claimed <- e.upClaimed(ctx, p, b, added) }()
	} else if err := e.bringUp(ctx, p, b, tty, s.Stderr); err != nil {
		return 0, err
	}
	pod, main := b.Pod.Name, p.Main().Service
	if detach {
		up := make(chan struct{})
		close(up)
		if err := e.goAhead(ctx, p, pod, <-targets, claimed, up, s.Stderr); err != nil {
			return 0, err
		}
		return 0, waiting(p, false)
	}
	return e.attach(ctx, p, pod, main, s, tty, <-targets, claimed)
}

// bringUp makes the bottle's pod and brings it up to its agent's
// container running, waiting for its go-ahead: the isolation done, the
// bottle's folders on its volume.
func (e *Engine) bringUp(ctx context.Context, p *spec.Plan, b *Bottle, tty bool, say io.Writer) error {
	t0 := time.Now()
	if err := e.startPod(ctx, b, tty); err != nil {
		return err
	}
	if err := waiting(p, true); err != nil {
		return err
	}
	slog.Debug("kubernetes: objects made", "elapsed", time.Since(t0))
	pod, main := b.Pod.Name, p.Main().Service
	if err := e.waitFor(ctx, pod, "the pod's isolation", say, func(p *corev1.Pod) (bool, error) {
		return started(p.Status.InitContainerStatuses, isolateName) || running(p.Status.InitContainerStatuses, keeperName), nil
	}); err != nil {
		return err
	}
	if err := e.reachKeeper(ctx, pod, say); err != nil {
		return err
	}
	slog.Debug("kubernetes: the state keeper runs", "elapsed", time.Since(t0))
	if err := e.seed(ctx, pod, e.folder(p.Pod.Labels[spec.LabelIdentity]), b); err != nil {
		return err
	}
	slog.Debug("kubernetes: the bottle's folders are in", "elapsed", time.Since(t0))
	if err := e.reach(ctx, pod, main, "the agent's container", say, func(p *corev1.Pod) bool { return running(p.Status.ContainerStatuses, main) },
		path.Join(BinDir, "bottle"), "sidecar", "ready", path.Join(BinDir, "bottle")); err != nil {
		return err
	}
	slog.Debug("kubernetes: the agent's container runs", "elapsed", time.Since(t0))
	return nil
}

// settle is how long after its streams are made an attach is taken to be
// up (the runtime attaches to the container once it has them all).
const settle = 200 * time.Millisecond

// attach attaches the streams to the agent's container, gives it the
// go-ahead, keeps the bottle's folder in step while it runs, and returns
// its exit code once its folders are home.
func (e *Engine) attach(ctx context.Context, p *spec.Plan, pod, main string, s spec.Streams, tty bool, targets []string, claimed <-chan error) (int, error) {
	req := e.cs.CoreV1().RESTClient().Post().Resource("pods").Name(pod).Namespace(e.ns).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{Container: main, Stdin: s.Stdin != nil, Stdout: true, Stderr: !tty, TTY: tty}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", req.URL())
	if err != nil {
		return 0, err
	}
	// The go-ahead waits for the attach to be up, so nothing the agent
	// says is lost: its streams are made when the client first reads the
	// input it sends (with no input, a fixed while after the attach began).
	up := make(chan struct{})
	var once sync.Once
	isUp := func() { once.Do(func() { close(up) }) }
	stdin := s.Stdin
	if stdin != nil {
		stdin = &onFirstRead{r: s.Stdin, f: func() { time.AfterFunc(settle, isUp) }}
	} else {
		time.AfterFunc(settle, isUp)
	}
	attached := make(chan error, 1)
	go func() {
		defer isUp() // an attach that ended holds nothing back
		opts := remotecommand.StreamOptions{Stdin: stdin, Stdout: s.Stdout, Tty: tty}
		if !tty {
			opts.Stderr = s.Stderr
		}
		if f, ok := s.Stdin.(*os.File); ok && tty {
			if old, err := term.MakeRaw(int(f.Fd())); err == nil {
				defer term.Restore(int(f.Fd()), old)
			}
		}
		attached <- ex.StreamWithContext(ctx, opts)
	}()
	if err := e.goAhead(ctx, p, pod, targets, claimed, up, s.Stderr); err != nil {
		return 0, err
	}
	if err := waiting(p, false); err != nil {
		return 0, err
	}
	slog.Debug("kubernetes: the agent has its go-ahead")
	dir := e.folder(p.Pod.Labels[spec.LabelIdentity])
	syncCtx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	go e.syncLoop(syncCtx, pod, dir, p.Exchange)
	if aerr := <-attached; aerr != nil && ctx.Err() == nil {
		fmt.Fprintf(s.Stderr, "bottle: the agent's terminal: %v\n", aerr)
	}
	stopSync()
	var code int
	err = e.waitFor(ctx, pod, "the agent's exit", s.Stderr, func(p *corev1.Pod) (bool, error) {
		for _, st := range p.Status.ContainerStatuses {
			if st.Name == main && st.State.Terminated != nil {
				code = int(st.State.Terminated.ExitCode)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	// The agent's folders come home before the pod goes.
	slog.Debug("kubernetes: the agent has ended", "code", code)
	if err := e.unseed(ctx, pod, dir); err != nil {
		fmt.Fprintf(s.Stderr, "bottle: %v\n", err)
	}
	slog.Debug("kubernetes: the agent's folders are home")
	return code, nil
}

// onFirstRead calls f when its reader is first read.
type onFirstRead struct {
	r    io.Reader
	f    func()
	once sync.Once
}

func (o *onFirstRead) Read(b []byte) (int, error) {
	o.once.Do(o.f)
	return o.r.Read(b)
}

// isolationTargets are what the agent must not reach: the API server as the
// kubeconfig names it, the kubernetes Service, the cluster's DNS Service.
func (e *Engine) isolationTargets(ctx context.Context) []string {
	var out []string
	// As client-go reads the server: https when it names no scheme, the
	// scheme's port when it names none.
	if u, _, err := rest.DefaultServerUrlFor(e.cfg); err == nil && u.Hostname() != "" {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80"}[u.Scheme]
		}
		if port == "" {
			port = "443"
		}
		out = append(out, net.JoinHostPort(u.Hostname(), port))
	}
	if svc, err := e.cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil && svc.Spec.ClusterIP != "" {
		out = append(out, net.JoinHostPort(svc.Spec.ClusterIP, "443"))
	}
	if svc, err := e.cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{}); err == nil && svc.Spec.ClusterIP != "" {
		out = append(out, "udp://"+net.JoinHostPort(svc.Spec.ClusterIP, "53"))
	}
	return out
}

// Exec runs argv in the container of one of a bottle's services.
func (e *Engine) Exec(ctx context.Context, identity, service string, argv []string, s spec.Streams) (int, error) {
	return e.exec(ctx, spec.PodName(identity), service, argv, s)
}

// Logs streams the output of one of a bottle's services' containers.
func (e *Engine) Logs(ctx context.Context, identity, service string, follow bool, stdout, _ io.Writer) error {
	pod := spec.PodName(identity)
	r, err := e.cs.CoreV1().Pods(e.ns).GetLogs(pod, &corev1.PodLogOptions{Container: service, Follow: follow}).Stream(ctx)
	if apierrors.IsNotFound(err) {
		return &spec.NotFoundError{Name: pod}
	}
	if err != nil {
		return fmt.Errorf("kubernetes: logs of %s's %s: %w", identity, service, err)
	}
	defer r.Close()
	_, err = io.Copy(stdout, r)
	return err
}
