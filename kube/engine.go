package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/sidecarimage"
	"github.com/bottle-sandbox/bottle/spec"
)

// Engine runs bottles on a cluster through client-go: what the lifecycle's
// Engine asks of an engine, made of the cluster's objects (Objects). The
// bottle's folders, which the Podman engine mounts from the host, are
// copied onto the bottle's volume at start and back at the end, through
// the pod's state keeper.
type Engine struct {
	cfg   *rest.Config
	cs    *kubernetes.Clientset
	ns    string
	kube  config.Kubernetes
	root  string // the state root: a bottle's host folder is root/identity
	where string
	ver   string
	// context is the kubeconfig context in use (named, never "").
	context string

	mu      sync.Mutex
	bottles map[string]*planned // by pod name
}

// planned is a bottle this engine made or is making.
type planned struct {
	plan    *spec.Plan
	objects *Bottle
	tty     bool
}

// Connect reaches the cluster the kubeconfig names (as kubectl finds it),
// in the context and namespace the user's [kubernetes] says.
func Connect(ctx context.Context, k config.Kubernetes, stateRoot string) (*Engine, error) {
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
	ns := k.NamespaceOrDefault()
	return &Engine{cfg: cfg, cs: cs, ns: ns, kube: k, root: stateRoot, ver: v.GitVersion, context: context,
		where: fmt.Sprintf("context %s, namespace %s", context, ns), bottles: map[string]*planned{}}, nil
}

// Close has nothing to give back.
func (e *Engine) Close() {}

func (e *Engine) Info() spec.EngineInfo {
	return spec.EngineInfo{Name: "kubernetes", Version: e.ver, UID: int(AgentUID), GID: int(AgentUID), Where: e.where, Context: e.context, Namespace: e.ns}
}

// CheckRuntime: a runsc bottle asks for a RuntimeClass, which the API
// server checks when the pod is made.
func (e *Engine) CheckRuntime(string) error { return nil }

func (e *Engine) options() Options {
	return Options{Namespace: e.ns, Registry: e.kube.Registry, RuntimeClass: e.kube.RuntimeClass, Storage: e.kube.Storage}
}

// EnsureSidecarImage makes the sidecar image for a cluster (the bottle
// binary, the host's CA roots and iptables' legacy tools, which the
// isolation needs) and puts it where the cluster finds it: pushed to the
// user's registry, or handed to the import command (a test cluster).
func (e *Engine) EnsureSidecarImage(ctx context.Context, exe string) (string, error) {
	ref, err := spec.SidecarRef(exe)
	if err != nil {
		return "", err
	}
	ref += kubeSuffix
	extra, err := iptablesFiles()
	if err != nil {
		return "", err
	}
	if e.kube.Registry != "" && registryHas(ctx, image(ref, e.kube.Registry)) {
		return image(ref, e.kube.Registry), nil
	}
	// An import command cannot be asked what the cluster holds: it runs at
	// every start (a test cluster's containerd takes it in a second).
	if err := e.deliver(ctx, ref, func(w io.Writer) error { return sidecarimage.Write(w, exe, ref, extra...) }); err != nil {
		return "", err
	}
	return image(ref, e.kube.Registry), nil
}

// deliver puts an image archive where the cluster finds it.
func (e *Engine) deliver(ctx context.Context, ref string, write func(io.Writer) error) error {
	f, err := os.CreateTemp("", "bottle-image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("the image %s: %w", ref, err)
	}
	f.Close()
	switch {
	case e.kube.Registry != "":
		return push(ctx, f.Name(), image(ref, e.kube.Registry))
	case len(e.kube.Import) > 0:
		argv := make([]string, len(e.kube.Import))
		for i, a := range e.kube.Import {
			argv[i] = strings.ReplaceAll(a, "{archive}", f.Name())
		}
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("import %s into the cluster (%s): %v: %s", ref, argv[0], err, bytes.TrimSpace(out))
		}
		return nil
	}
	return fmt.Errorf("the cluster needs bottle's image %s: set [kubernetes] registry (bottle pushes it there) or import (a command that puts {archive} on the cluster)", ref)
}

// iptablesFiles are the legacy iptables tools and what they load, from the
// host, for the image's isolation step.
func iptablesFiles() ([]sidecarimage.File, error) {
	multi := ""
	for _, p := range []string{"/usr/sbin/xtables-legacy-multi", "/sbin/xtables-legacy-multi"} {
		if _, err := os.Stat(p); err == nil {
			multi = p
			break
		}
	}
	if multi == "" {
		return nil, errors.New("a bottle on Kubernetes isolates its pod with iptables: install the host's iptables (xtables-legacy-multi) so bottle can put it in the sidecar image")
	}
	files := []sidecarimage.File{
		{Path: "/usr/sbin/xtables-legacy-multi", Host: multi},
		{Path: "/usr/sbin/iptables-legacy", Link: "xtables-legacy-multi"},
		{Path: "/usr/sbin/ip6tables-legacy", Link: "xtables-legacy-multi"},
	}
	libs, err := sharedLibraries(multi)
	if err != nil {
		return nil, err
	}
	exts, _ := filepath.Glob("/usr/lib/x86_64-linux-gnu/xtables/*.so")
	for _, x := range exts {
		more, _ := sharedLibraries(x)
		libs = append(libs, more...)
		files = append(files, sidecarimage.File{Path: x, Host: x})
	}
	seen := map[string]bool{}
	for _, l := range libs {
		if seen[l] {
			continue
		}
		seen[l] = true
		real, err := filepath.EvalSymlinks(l)
		if err != nil {
			return nil, err
		}
		files = append(files, sidecarimage.File{Path: l, Host: real})
	}
	return files, nil
}

// sharedLibraries are the libraries a binary loads, as ldd lists them.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}

// ImageExists: the cluster pulls what a pod names; bottle cannot ask it.
func (e *Engine) ImageExists(context.Context, string) (bool, error) { return true, nil }

// EnsureImage: on a cluster the agent's image is a reference the cluster
// pulls; bottle builds nothing there.
func (e *Engine) EnsureImage(_ context.Context, img spec.Image, _ io.Writer) (string, error) {
	if img.Containerfile != "" {
		return "", fmt.Errorf("on Kubernetes the agent's image is one the cluster pulls: build %s, push it, and name it with image = \"...\"", img.Containerfile)
	}
	return "", nil
}

// DeliverImage puts an image built on the host (an agent's Containerfile,
// built by Podman) where the cluster finds it: pushed to the registry, or
// through the import command. write writes it as a docker-archive.
func (e *Engine) DeliverImage(ctx context.Context, ref string, write func(io.Writer) error) error {
	if e.kube.Registry != "" && registryHas(ctx, image(ref, e.kube.Registry)) {
		return nil // built refs are content-named: there is it
	}
	return e.deliver(ctx, ref, write)
}

// CreatePod makes the bottle's volume, Secrets (their values read from
// the host now) and NetworkPolicy; the pod itself comes with the sidecars.
func (e *Engine) CreatePod(ctx context.Context, p *spec.Plan) error {
	id := p.Pod.Labels[spec.LabelIdentity]
	b, err := Objects(p, filepath.Join(e.root, id), e.options())
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.bottles[p.Pod.Name] = &planned{plan: p, objects: b}
	e.mu.Unlock()
	if _, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Create(ctx, b.Volume, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubernetes: the bottle's volume: %w", err)
	}
	for _, s := range b.Secrets {
		if err := s.fill(e.root); err != nil {
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

// CreateContainers: the containers are the pod's, made with it.
func (e *Engine) CreateContainers(context.Context, *spec.Plan, []spec.Container) error { return nil }

// StartSidecars makes the pod, copies the bottle's folders onto its volume
// through the state keeper, and waits until every sidecar is ready.
func (e *Engine) StartSidecars(ctx context.Context, p *spec.Plan) error {
	e.mu.Lock()
	pl := e.bottles[p.Pod.Name]
	e.mu.Unlock()
	if pl == nil {
		return fmt.Errorf("kubernetes: %s was not made by this engine", p.Pod.Name)
	}
	pod := pl.objects.Pod.DeepCopy()
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].TTY = pl.tty
		pod.Spec.Containers[i].StdinOnce = pod.Spec.Containers[i].Stdin
	}
	if _, err := e.cs.CoreV1().Pods(e.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "PodSecurity") {
			return fmt.Errorf("kubernetes: namespace %s refuses the bottle's pod: the restricted Pod Security level forbids the capabilities of its init containers (NET_ADMIN for the isolation, file ownership for the state keeper); bottle will not start a pod without them (%v)", e.ns, err)
		}
		return fmt.Errorf("kubernetes: the pod: %w", err)
	}
	if err := e.waitFor(ctx, pod.Name, "the state keeper", func(p *corev1.Pod) (bool, error) { return running(p.Status.InitContainerStatuses, keeperName), nil }); err != nil {
		return err
	}
	id := p.Pod.Labels[spec.LabelIdentity]
	if err := e.seed(ctx, pod.Name, filepath.Join(e.root, id), pl.objects); err != nil {
		return err
	}
	return e.waitFor(ctx, pod.Name, "the sidecars", func(p *corev1.Pod) (bool, error) {
		for _, s := range p.Status.InitContainerStatuses {
			if s.State.Terminated != nil && s.State.Terminated.ExitCode != 0 {
				return false, fmt.Errorf("kubernetes: the %s container failed: %s", s.Name, s.State.Terminated.Message+s.State.Terminated.Reason)
			}
			if s.Name != isolateName && (s.Started == nil || !*s.Started) {
				return false, nil
			}
		}
		return len(p.Status.InitContainerStatuses) > 0, nil
	})
}

// seed copies the bottle's folders onto its volume (never its
// credentials: the Secrets carry those), then marks the volume seeded.
func (e *Engine) seed(ctx context.Context, pod, stateDir string, b *Bottle) error {
	skip := map[string]bool{}
	for _, s := range b.Secrets {
		for _, f := range s.Files {
			skip[f] = true
		}
		for _, d := range s.Folders {
			skip[d] = true
		}
	}
	var folders []string
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		return err
	}
	for _, en := range entries {
		folders = append(folders, en.Name())
	}
	pr, pw := io.Pipe()
	trees := make([]Tree, 0, len(folders)+len(b.Copies))
	for _, f := range folders {
		trees = append(trees, Tree{Src: filepath.Join(stateDir, f), Name: f})
	}
	trees = append(trees, b.Copies...) // the host's folders some container reads
	go func() { pw.CloseWithError(TarTrees(trees, skip, pw)) }()
	var stderr bytes.Buffer
	code, err := e.exec(ctx, pod, keeperName, []string{spec.SidecarBinary, "sidecar", "untar", StateDir}, false, pr, io.Discard, &stderr)
	if err != nil || code != 0 {
		return fmt.Errorf("kubernetes: copy the bottle's folders onto its volume: %v %s", err, strings.TrimSpace(stderr.String()))
	}
	code, err = e.exec(ctx, pod, keeperName, []string{spec.SidecarBinary, "sidecar", "touch", StateDir + "/" + Seeded}, false, nil, io.Discard, &stderr)
	if err != nil || code != 0 {
		return fmt.Errorf("kubernetes: mark the volume seeded: %v %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

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
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Untar(beneath.At(stateDir), pr, -1, folders...)
		pr.Close()
	}()
	args := append([]string{spec.SidecarBinary, "sidecar", "tar", StateDir}, folders...)
	_, err := e.exec(ctx, pod, keeperName, args, false, nil, pw, &stderr)
	pw.CloseWithError(err)
	if uerr := <-done; err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("kubernetes: copy the bottle's folders back: %v %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// StartContainer: the agent's container starts with the pod; a detached
// bottle gets its go-ahead here.
func (e *Engine) StartContainer(ctx context.Context, name string) error {
	pod, _ := podOf(name)
	return e.goAhead(ctx, pod)
}

func (e *Engine) goAhead(ctx context.Context, pod string) error {
	if err := e.waitFor(ctx, pod, "the agent's container", func(p *corev1.Pod) (bool, error) { return running(p.Status.ContainerStatuses, "agent"), nil }); err != nil {
		return err
	}
	// Before the agent gets its terminal: from its own container, as its
	// own user, the cluster's API and DNS must be out of reach.
	var stderr bytes.Buffer
	targets := e.isolationTargets(ctx)
	code, err := e.exec(ctx, pod, "agent", append([]string{BinDir + "/bottle", "sidecar", "prove-isolation"}, targets...), false, nil, io.Discard, &stderr)
	if err != nil || code != 0 {
		return fmt.Errorf("kubernetes: the pod's isolation did not hold, so the agent was not started: %v %s", err, strings.TrimSpace(stderr.String()))
	}
	stderr.Reset()
	code, err = e.exec(ctx, pod, "agent", []string{BinDir + "/bottle", "sidecar", "touch", GoFile}, false, nil, io.Discard, &stderr)
	if err != nil || code != 0 {
		return fmt.Errorf("kubernetes: start the agent: %v %s%s", err, strings.TrimSpace(stderr.String()), e.tail(ctx, pod, "agent"))
	}
	return nil
}

// isolationTargets are what the agent must not reach: the API server as the
// kubeconfig names it, the kubernetes Service, the cluster's DNS Service.
func (e *Engine) isolationTargets(ctx context.Context) []string {
	var out []string
	if u, err := url.Parse(e.cfg.Host); err == nil && u.Host != "" {
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "443")
		}
		out = append(out, host)
	}
	if svc, err := e.cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil && svc.Spec.ClusterIP != "" {
		out = append(out, net.JoinHostPort(svc.Spec.ClusterIP, "443"))
	}
	if svc, err := e.cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{}); err == nil && svc.Spec.ClusterIP != "" {
		out = append(out, "udp://"+net.JoinHostPort(svc.Spec.ClusterIP, "53"))
	}
	return out
}

// Run attaches to the agent's container, gives it the go-ahead, and
// returns its exit code; before (the sidecars' start) runs first.
func (e *Engine) Run(ctx context.Context, name string, stdin io.Reader, stdout, stderr io.Writer, before func() error) (int, error) {
	pod, _ := podOf(name)
	tty := false
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	e.mu.Lock()
	if pl := e.bottles[pod]; pl != nil {
		pl.tty = tty
	}
	e.mu.Unlock()
	if err := before(); err != nil {
		return 0, err
	}
	if err := e.waitFor(ctx, pod, "the agent's container", func(p *corev1.Pod) (bool, error) { return running(p.Status.ContainerStatuses, "agent"), nil }); err != nil {
		return 0, err
	}
	req := e.cs.CoreV1().RESTClient().Post().Resource("pods").Name(pod).Namespace(e.ns).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{Container: "agent", Stdin: stdin != nil, Stdout: true, Stderr: !tty, TTY: tty}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", req.URL())
	if err != nil {
		return 0, err
	}
	attached := make(chan error, 1)
	go func() {
		opts := remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Tty: tty}
		if !tty {
			opts.Stderr = stderr
		}
		if tty {
			if f, ok := stdin.(*os.File); ok {
				if old, err := term.MakeRaw(int(f.Fd())); err == nil {
					defer term.Restore(int(f.Fd()), old)
				}
			}
		}
		attached <- ex.StreamWithContext(ctx, opts)
	}()
	time.Sleep(200 * time.Millisecond) // the attach is up before the agent's first word
	if err := e.goAhead(ctx, pod); err != nil {
		return 0, err
	}
	syncCtx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	if id := e.identityOf(pod); id != "" {
		go e.syncLoop(syncCtx, pod, filepath.Join(e.root, id))
	}
	if aerr := <-attached; aerr != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "bottle: the agent's terminal: %v\n", aerr)
	}
	stopSync()
	var code int
	err = e.waitFor(ctx, pod, "the agent's exit", func(p *corev1.Pod) (bool, error) {
		for _, s := range p.Status.ContainerStatuses {
			if s.Name == "agent" && s.State.Terminated != nil {
				code = int(s.State.Terminated.ExitCode)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	// The agent's folders come home before the pod goes.
	id := e.identityOf(pod)
	if id != "" {
		if err := e.unseed(ctx, pod, filepath.Join(e.root, id)); err != nil {
			fmt.Fprintf(stderr, "bottle: %v\n", err)
		}
	}
	return code, nil
}

func (e *Engine) identityOf(pod string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if pl := e.bottles[pod]; pl != nil {
		return pl.plan.Pod.Labels[spec.LabelIdentity]
	}
	return strings.TrimPrefix(pod, "bottle-")
}

// NetNSPath: a cluster's pods are not the host's to join.
func (e *Engine) NetNSPath(context.Context, string) (string, error) {
	return "", errors.New("on Kubernetes a build cannot join the bottle's network: build the image elsewhere and name it with image")
}

// Exec runs argv in one of a bottle's containers.
func (e *Engine) Exec(ctx context.Context, name string, argv []string, tty bool, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	pod, c := podOf(name)
	return e.exec(ctx, pod, c, argv, tty, stdin, stdout, stderr)
}

func (e *Engine) exec(ctx context.Context, pod, container string, argv []string, tty bool, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	req := e.cs.CoreV1().RESTClient().Post().Resource("pods").Name(pod).Namespace(e.ns).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: argv, Stdin: stdin != nil, Stdout: true, Stderr: !tty, TTY: tty}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", req.URL())
	if err != nil {
		return 0, err
	}
	opts := remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Tty: tty}
	if !tty {
		opts.Stderr = stderr
	}
	err = ex.StreamWithContext(ctx, opts)
	var ce interface{ ExitStatus() int }
	if errors.As(err, &ce) {
		return ce.ExitStatus(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

// podOf splits a plan container's name (bottle-IDENTITY-SERVICE) into its
// pod and its container on the cluster.
func podOf(name string) (pod, container string) {
	for _, s := range []string{"git-gate", "agent", "egress", "gateway", "supervise"} {
		if rest, ok := strings.CutSuffix(name, "-"+s); ok {
			return rest, s
		}
	}
	return name, "agent"
}

func running(st []corev1.ContainerStatus, name string) bool {
	for _, s := range st {
		if s.Name == name && s.State.Running != nil {
			return true
		}
	}
	return false
}

// waitFor polls the pod until ok says so, it fails, or ctx ends.
func (e *Engine) waitFor(ctx context.Context, pod, what string, ok func(*corev1.Pod) (bool, error)) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("kubernetes: waiting for %s: %w", what, err)
		}
		done, err := ok(p)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if why, c := stuck(p); why != "" {
			if c != "" {
				why += e.tail(ctx, pod, c)
			}
			return fmt.Errorf("kubernetes: waiting for %s: %s", what, why)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kubernetes: %s not ready after 5 minutes (pod %s is %s)", what, pod, p.Status.Phase)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stuck says why a pod will not get further (an image the cluster cannot
// pull, a container that cannot be made or that failed), and which
// container, whose last lines of output say more.
func stuck(p *corev1.Pod) (string, string) {
	for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := s.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
				return fmt.Sprintf("the %s container: %s: %s", s.Name, w.Reason, w.Message), ""
			}
		}
		if t := s.State.Terminated; t != nil && t.ExitCode != 0 && s.Name != "agent" {
			return fmt.Sprintf("the %s container ended with %d (%s)", s.Name, t.ExitCode, t.Reason), s.Name
		}
		// A sidecar the kubelet restarts: its last end says why.
		if t := s.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 && s.Name != "agent" && s.RestartCount > 0 {
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

// List reports the bottles of a state root on the cluster, by its label.
func (e *Engine) List(ctx context.Context, rootLabel string) ([]spec.PodInfo, error) {
	pods, err := e.cs.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: spec.LabelRoot + "=" + rootLabel})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: list the bottles: %w", err)
	}
	var out []spec.PodInfo
	for _, p := range pods.Items {
		info := spec.PodInfo{Name: p.Name, Identity: p.Labels[spec.LabelIdentity], Agent: p.Labels[spec.LabelAgent],
			Status: strings.ToLower(string(p.Status.Phase)), Created: p.CreationTimestamp.Time, Containers: map[string]string{}}
		for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			state := "created"
			switch {
			case s.State.Running != nil:
				state = "running"
			case s.State.Terminated != nil:
				state = "exited"
			}
			info.Containers["bottle-"+info.Identity+"-"+s.Name] = state
		}
		out = append(out, info)
	}
	return out, nil
}

func (e *Engine) PodExists(ctx context.Context, name string) (bool, error) {
	_, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// StopPod copies the bottle's folders back (the agent may have been at
// work, detached) and removes the pod; the bottle stays, to resume.
func (e *Engine) StopPod(ctx context.Context, name string) error {
	if p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{}); err == nil && running(p.Status.InitContainerStatuses, keeperName) {
		if id := e.identityOf(name); id != "" {
			if err := e.unseed(ctx, name, filepath.Join(e.root, id)); err != nil {
				return err
			}
		}
	}
	err := e.cs.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubernetes: stop %s: %w", name, err)
	}
	return nil
}

// RemoveBottle removes everything a bottle made on the cluster, by its
// identity's label: pod, Secrets, NetworkPolicy, volume.
func (e *Engine) RemoveBottle(ctx context.Context, podName, identity string) error {
	sel := metav1.ListOptions{LabelSelector: spec.LabelIdentity + "=" + identity}
	if identity == "" {
		sel.LabelSelector = ""
		sel.FieldSelector = "metadata.name=" + podName
	}
	del := metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}
	var errs []error
	if err := e.cs.CoreV1().Pods(e.ns).DeleteCollection(ctx, del, sel); err != nil {
		errs = append(errs, err)
	}
	if identity != "" {
		if err := e.cs.CoreV1().Secrets(e.ns).DeleteCollection(ctx, del, sel); err != nil {
			errs = append(errs, err)
		}
		if err := e.cs.NetworkingV1().NetworkPolicies(e.ns).DeleteCollection(ctx, del, sel); err != nil {
			errs = append(errs, err)
		}
		if err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).DeleteCollection(ctx, del, sel); err != nil {
			errs = append(errs, err)
		}
	}
	e.mu.Lock()
	delete(e.bottles, podName)
	e.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kubernetes: remove %s: %w", identity, err)
	}
	return nil
}

// Logs streams one container's output.
func (e *Engine) Logs(ctx context.Context, name string, follow bool, stdout, _ io.Writer) error {
	pod, c := podOf(name)
	r, err := e.cs.CoreV1().Pods(e.ns).GetLogs(pod, &corev1.PodLogOptions{Container: c, Follow: follow}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("kubernetes: logs of %s: %w", name, err)
	}
	defer r.Close()
	_, err = io.Copy(stdout, r)
	return err
}
