package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/kube"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// engines is the engine the use cases see: each call about a bottle goes
// to the engine that bottle runs on, as its folder records (Podman, or the
// cluster it names); a new bottle goes to the one chosen for it; a listing
// is every engine's. An engine is reached only when a call needs it.
type engines struct {
	ctx  context.Context
	root state.Root
	kube config.Kubernetes // the user's
	def  string            // the engine a new bottle goes to

	mu       sync.Mutex
	podman   *pod.Conn
	podErr   error
	clusters map[[2]string]*kube.Engine  // by context and namespace
	listed   map[string]lifecycle.Engine // the engine that listed a pod whose state is gone, by identity
}

func newEngines(ctx context.Context, root state.Root, def string, k config.Kubernetes) *engines {
	if def == "" {
		def = config.EnginePodman
	}
	return &engines{ctx: ctx, root: root, kube: k, def: def, clusters: map[[2]string]*kube.Engine{}, listed: map[string]lifecycle.Engine{}}
}

func (e *engines) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.podman != nil {
		e.podman.Close()
	}
}

func (e *engines) pod() (lifecycle.Engine, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.podman == nil && e.podErr == nil {
		e.podman, e.podErr = pod.Connect(e.ctx)
	}
	if e.podErr != nil {
		return nil, e.podErr
	}
	return e.podman, nil
}

// cluster is the engine of one cluster and namespace ("": the user's).
func (e *engines) cluster(context, namespace string) (lifecycle.Engine, error) {
	k := e.kube
	if context != "" {
		k.Context = context
	}
	if namespace != "" {
		k.Namespace = namespace
	}
	key := [2]string{k.Context, k.NamespaceOrDefault()}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.clusters[key]; c != nil {
		return c, nil
	}
	c, err := kube.Connect(e.ctx, k, e.root.Dir)
	if err != nil {
		return nil, err
	}
	e.clusters[key] = c
	return c, nil
}

// def is the engine a new bottle goes to.
func (e *engines) defEngine() (lifecycle.Engine, error) {
	if e.def == config.EngineKubernetes {
		return e.cluster("", "")
	}
	return e.pod()
}

// of is the engine a bottle runs on: by its identity's recorded engine.
func (e *engines) of(identity string) (lifecycle.Engine, error) {
	if identity != "" {
		if m, err := e.root.Bottle(identity).Metadata(); err == nil && m.Engine == config.EngineKubernetes {
			return e.cluster(m.Context, m.Namespace)
		}
		e.mu.Lock()
		en := e.listed[identity]
		e.mu.Unlock()
		if en != nil {
			return en, nil // a cluster's pod whose state is gone
		}
	}
	return e.defEngine()
}

// identityOf is the identity in a pod's or container's name.
func identityOf(name string) string {
	rest, ok := strings.CutPrefix(name, "bottle-")
	if !ok {
		return ""
	}
	for _, s := range []string{"-git-gate", "-agent", "-egress", "-gateway", "-supervise"} {
		if id, ok := strings.CutSuffix(rest, s); ok {
			return id
		}
	}
	return rest
}

// The calls a launch makes go to the engine chosen for the bottle.

func (e *engines) Info() spec.EngineInfo {
	d, err := e.defEngine()
	if err != nil {
		return spec.EngineInfo{Name: e.def}
	}
	return d.Info()
}

func (e *engines) CheckRuntime(name string) error {
	d, err := e.defEngine()
	if err != nil {
		return err
	}
	return d.CheckRuntime(name)
}

func (e *engines) EnsureSidecarImage(ctx context.Context, exe string) (string, error) {
	d, err := e.defEngine()
	if err != nil {
		return "", err
	}
	return d.EnsureSidecarImage(ctx, exe)
}

func (e *engines) ImageExists(ctx context.Context, ref string) (bool, error) {
	d, err := e.defEngine()
	if err != nil {
		return false, err
	}
	return d.ImageExists(ctx, ref)
}

func (e *engines) EnsureImage(ctx context.Context, img spec.Image, progress io.Writer) (string, error) {
	d, err := e.defEngine()
	if err != nil {
		return "", err
	}
	if dl, ok := d.(imageDeliverer); ok && img.Containerfile != "" {
		return e.buildFor(ctx, dl, img, progress)
	}
	return d.EnsureImage(ctx, img, progress)
}

// imageDeliverer is an engine that runs images built elsewhere (a cluster).
type imageDeliverer interface {
	DeliverImage(ctx context.Context, ref string, write func(io.Writer) error) error
}

// imageSaver is an engine that writes its images as archives (Podman).
type imageSaver interface {
	SaveImage(ctx context.Context, ref string, w io.Writer) error
}

// buildFor builds an agent's Containerfile here, with Podman, and hands the
// image to the engine that runs it (pushed to the cluster's registry, or
// imported).
func (e *engines) buildFor(ctx context.Context, dl imageDeliverer, img spec.Image, progress io.Writer) (string, error) {
	p, err := e.pod()
	if err != nil {
		return "", fmt.Errorf("the image from %s is built on this machine, with Podman, for the cluster: %w", img.Containerfile, err)
	}
	saver, ok := p.(imageSaver)
	if !ok {
		return "", fmt.Errorf("the image from %s: this engine cannot hand its images over", img.Containerfile)
	}
	digest, err := p.EnsureImage(ctx, img, progress)
	if err != nil {
		return "", err
	}
	if err := dl.DeliverImage(ctx, img.Ref, func(w io.Writer) error { return saver.SaveImage(ctx, img.Ref, w) }); err != nil {
		return "", fmt.Errorf("the image from %s: %w", img.Containerfile, err)
	}
	return digest, nil
}

func (e *engines) CreatePod(ctx context.Context, p *spec.Plan) error {
	d, err := e.defEngine()
	if err != nil {
		return err
	}
	// The root remembers each cluster it starts bottles on: their pods are
	// listed (and gc finds them) even once their folders are gone.
	if info := d.Info(); info.Name == config.EngineKubernetes {
		if err := e.root.RememberCluster(state.Cluster{Context: info.Context, Namespace: info.Namespace}); err != nil {
			return err
		}
	}
	return d.CreatePod(ctx, p)
}

func (e *engines) CreateContainers(ctx context.Context, p *spec.Plan, cs []spec.Container) error {
	d, err := e.defEngine()
	if err != nil {
		return err
	}
	return d.CreateContainers(ctx, p, cs)
}

func (e *engines) StartSidecars(ctx context.Context, p *spec.Plan) error {
	d, err := e.defEngine()
	if err != nil {
		return err
	}
	return d.StartSidecars(ctx, p)
}

func (e *engines) StartContainer(ctx context.Context, name string) error {
	d, err := e.defEngine()
	if err != nil {
		return err
	}
	return d.StartContainer(ctx, name)
}

func (e *engines) Run(ctx context.Context, name string, stdin io.Reader, stdout, stderr io.Writer, before func() error) (int, error) {
	d, err := e.defEngine()
	if err != nil {
		return 0, err
	}
	return d.Run(ctx, name, stdin, stdout, stderr, before)
}

func (e *engines) NetNSPath(ctx context.Context, name string) (string, error) {
	d, err := e.defEngine()
	if err != nil {
		return "", err
	}
	return d.NetNSPath(ctx, name)
}

// The calls about a bottle that exists go to its engine.

func (e *engines) Exec(ctx context.Context, name string, argv []string, tty bool, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	en, err := e.of(identityOf(name))
	if err != nil {
		return 0, err
	}
	return en.Exec(ctx, name, argv, tty, stdin, stdout, stderr)
}

func (e *engines) PodExists(ctx context.Context, name string) (bool, error) {
	en, err := e.of(identityOf(name))
	if err != nil {
		return false, err
	}
	return en.PodExists(ctx, name)
}

func (e *engines) StopPod(ctx context.Context, name string) error {
	en, err := e.of(identityOf(name))
	if err != nil {
		return err
	}
	return en.StopPod(ctx, name)
}

func (e *engines) RemoveBottle(ctx context.Context, podName, identity string) error {
	if identity == "" {
		identity = identityOf(podName)
	}
	en, err := e.of(identity)
	if err != nil {
		return err
	}
	return en.RemoveBottle(ctx, podName, identity)
}

func (e *engines) Logs(ctx context.Context, name string, follow bool, stdout, stderr io.Writer) error {
	en, err := e.of(identityOf(name))
	if err != nil {
		return err
	}
	return en.Logs(ctx, name, follow, stdout, stderr)
}

// List is every engine's bottles: Podman's, and those of each cluster a
// bottle of this root records or the root remembers.
func (e *engines) List(ctx context.Context, rootLabel string) ([]spec.PodInfo, error) {
	var out []spec.PodInfo
	var errs []error
	recorded := map[state.Cluster]bool{} // by a bottle's folder
	answered := 0                        // clusters that listed their pods
	var clusters []state.Cluster
	bottles, _ := e.root.List()
	for _, b := range bottles {
		if m, err := b.Metadata(); err == nil && m.Engine == config.EngineKubernetes {
			cl := state.Cluster{Context: m.Context, Namespace: m.Namespace}
			if !recorded[cl] {
				recorded[cl] = true
				clusters = append(clusters, cl)
			}
		}
	}
	for _, cl := range e.root.Clusters() {
		if !recorded[cl] {
			clusters = append(clusters, cl)
		}
	}
	for _, cl := range clusters {
		c, err := e.cluster(cl.Context, cl.Namespace)
		var pods []spec.PodInfo
		if err == nil {
			pods, err = c.List(ctx, rootLabel)
		}
		switch {
		case err != nil && recorded[cl]:
			errs = append(errs, err)
		case err != nil:
			// Only remembered: its trouble is not this command's.
		case len(pods) == 0 && !recorded[cl]:
			answered++
			e.root.ForgetCluster(cl) // nothing of this root there any more
		default:
			answered++
			out = append(out, pods...)
			e.mu.Lock()
			for _, p := range pods {
				e.listed[p.Identity] = c
			}
			e.mu.Unlock()
		}
	}
	if p, err := e.pod(); err == nil {
		pods, err := p.List(ctx, rootLabel)
		if err != nil {
			return nil, err
		}
		out = append(out, pods...)
	} else if answered == 0 {
		return nil, err // no engine answers at all
	}
	return out, errors.Join(errs...)
}

// Mirror brings a cluster bottle's folders in step with its pod (a
// Podman bottle's are the host's own).
func (e *engines) Mirror(ctx context.Context, identity string) error {
	m, err := e.root.Bottle(identity).Metadata()
	if err != nil || m.Engine != config.EngineKubernetes {
		return nil
	}
	c, err := e.cluster(m.Context, m.Namespace)
	if err != nil {
		return err
	}
	if mr, ok := c.(lifecycle.Mirror); ok {
		return mr.Mirror(ctx, identity)
	}
	return nil
}

// bringClusterGit copies a running cluster bottle's git folders (the
// gate's, the agent's repository) over the host's, for bottle git fetch.
func bringClusterGit(ctx context.Context, root state.Root, id string) error {
	b := root.Bottle(id)
	m, err := b.Metadata()
	if err != nil || m.Engine != config.EngineKubernetes {
		return nil
	}
	e := newEngines(ctx, root, config.EnginePodman, config.Kubernetes{})
	defer e.Close()
	c, err := e.cluster(m.Context, m.Namespace)
	if err != nil {
		return err
	}
	if br, ok := c.(lifecycle.Bringer); ok {
		return br.Bring(ctx, id, lifecycle.GitFolders(b, m))
	}
	return nil
}

// mirrorClusterBottles mirrors the cluster bottles among ids, for the
// commands that read and write the host's folders without an engine (bottle
// requests, approve, deny); trouble is said, and the command goes on with
// what the host has.
func mirrorClusterBottles(ctx context.Context, g *globals, root state.Root, ids []string) {
	var kube []string
	for _, id := range ids {
		if m, err := root.Bottle(id).Metadata(); err == nil && m.Engine == config.EngineKubernetes {
			kube = append(kube, id)
		}
	}
	if len(kube) == 0 {
		return
	}
	e := newEngines(ctx, root, config.EnginePodman, config.Kubernetes{})
	defer e.Close()
	for _, id := range kube {
		if err := e.Mirror(ctx, id); err != nil {
			fmt.Fprintf(g.stderr, "bottle: %s: %v\n", id, err)
		}
	}
}
