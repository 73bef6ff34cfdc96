// Package engines is where an engine is chosen: the router sends every
// call about a bottle to the engine its folder records (Podman, or the
// cluster it names), a new bottle to the engine chosen for it, and a
// listing to every engine this state root has bottles on. It is the one
// package besides the engines themselves (pod, kube) that names them; the
// lifecycle sees one lifecycle.Engine, the command none.
package engines

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/kube"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// podman is what the router needs of the Podman engine: an engine, and
// the builder of the images a cluster gets from this machine.
type podman interface {
	lifecycle.Engine
	lifecycle.Warmer
	kube.Builder
}

// Router is the engine the use cases see. An engine is reached only when
// a call needs it, and each once (the connections are kept, nothing about
// a bottle is).
type Router struct {
	root state.Root
	kube config.Kubernetes // the user's
	def  string            // the engine a new bottle goes to

	// connectPodman and connectCluster reach the engines (tests hand in
	// their own).
	connectPodman  func(context.Context) (podman, error)
	connectCluster func(ctx context.Context, k config.Kubernetes, builder func() (kube.Builder, error)) (lifecycle.Engine, error)

	mu       sync.Mutex
	ctx      context.Context // the command's, for the connections
	pod      podman
	podErr   error
	closePod func()
	clusters map[Cluster]connection
}

// connection is a cluster's engine, or why it could not be reached.
type connection struct {
	en  lifecycle.Engine
	err error
}

var _ lifecycle.Engine = (*Router)(nil)

// New is a router for the state root; new bottles go to the engine named
// (Podman when ""; for kubernetes, the cluster of the user's [kubernetes],
// which calls about a cluster bottle also take what they need from; cfg
// may be nil).
func New(ctx context.Context, root state.Root, cfg *config.Config, engine string) *Router {
	var k config.Kubernetes
	if cfg != nil {
		k = cfg.Kubernetes
	}
	return newRouter(ctx, root, k, engine)
}

// Resuming is a router whose new bottle is the kept bottle m records: it
// goes back to the engine, and the cluster, it ran on.
func Resuming(ctx context.Context, root state.Root, cfg *config.Config, m state.Metadata) *Router {
	var k config.Kubernetes
	if cfg != nil {
		k = cfg.Kubernetes
	}
	if m.Engine == kube.Name {
		k.Context, k.Namespace = m.Context, m.Namespace
	}
	return newRouter(ctx, root, k, m.Engine)
}

func newRouter(ctx context.Context, root state.Root, k config.Kubernetes, engine string) *Router {
	r := &Router{root: root, kube: k, def: engine, ctx: ctx, clusters: map[Cluster]connection{}}
	r.connectPodman = func(ctx context.Context) (podman, error) {
		c, err := pod.Connect(ctx)
		if err != nil {
			return nil, err
		}
		r.closePod = c.Close
		return c, nil
	}
	r.connectCluster = func(ctx context.Context, k config.Kubernetes, builder func() (kube.Builder, error)) (lifecycle.Engine, error) {
		return kube.Connect(ctx, k, root, builder)
	}
	if r.def == "" {
		r.def = pod.Name
	}
	return r
}

// Close lets the engines go (a private Podman service stops).
func (r *Router) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closePod != nil {
		r.closePod()
	}
}

// Check reaches the engine new bottles go to, so its trouble shows first.
func (r *Router) Check() error {
	_, err := r.defEngine()
	return err
}

func (r *Router) podman() (podman, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pod == nil && r.podErr == nil {
		r.pod, r.podErr = r.connectPodman(r.ctx)
	}
	return r.pod, r.podErr
}

// cluster is the engine of one cluster and namespace ("": the user's).
func (r *Router) cluster(context, namespace string) (lifecycle.Engine, error) {
	k := r.kube
	if context != "" {
		k.Context = context
	}
	if namespace != "" {
		k.Namespace = namespace
	}
	key := Cluster{Context: k.Context, Namespace: k.NamespaceOrDefault()}
	r.mu.Lock()
	c, ok := r.clusters[key]
	r.mu.Unlock()
	if !ok {
		en, err := r.connectCluster(r.ctx, k, func() (kube.Builder, error) { return r.podman() })
		c = connection{en: en, err: err}
		r.mu.Lock()
		r.clusters[key] = c
		r.mu.Unlock()
	}
	return c.en, c.err
}

// defEngine is the engine a new bottle goes to.
func (r *Router) defEngine() (lifecycle.Engine, error) {
	if r.def == kube.Name {
		return r.cluster("", "")
	}
	return r.podman()
}

// recorded is the engine a bottle's folder records, and whether it
// records one (an identity with no folder does not).
func (r *Router) recorded(identity string) (state.Metadata, bool) {
	if !state.ValidID(identity) {
		return state.Metadata{}, false
	}
	m, err := r.root.Bottle(identity).Metadata()
	return m, err == nil
}

// of is the engine a bottle runs on: the one its folder records, else
// (a pod whose folder is gone) whichever engine holds it.
func (r *Router) of(ctx context.Context, identity string) (lifecycle.Engine, error) {
	if m, ok := r.recorded(identity); ok {
		if m.Engine == kube.Name {
			return r.cluster(m.Context, m.Namespace)
		}
		return r.podman()
	}
	for _, en := range r.reachable() {
		if ok, err := en.Exists(ctx, identity); err == nil && ok {
			return en, nil
		}
	}
	return r.defEngine()
}

// reachable are the engines this root may have bottles on that answer:
// Podman, and each cluster a bottle's folder records or the root remembers.
func (r *Router) reachable() []lifecycle.Engine {
	var out []lifecycle.Engine
	if p, err := r.podman(); err == nil {
		out = append(out, p)
	}
	clusters, _ := r.clustersOf()
	for _, cl := range clusters {
		if c, err := r.cluster(cl.Context, cl.Namespace); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// clustersOf are the clusters this root has bottles on: those a bottle's
// folder records (recorded), then those only the root remembers.
func (r *Router) clustersOf() (all []Cluster, recorded map[Cluster]bool) {
	recorded = map[Cluster]bool{}
	bottles, _ := r.root.List()
	for _, b := range bottles {
		if m, err := b.Metadata(); err == nil && m.Engine == kube.Name {
			cl := Cluster{Context: m.Context, Namespace: m.Namespace}
			if !recorded[cl] {
				recorded[cl] = true
				all = append(all, cl)
			}
		}
	}
	for _, cl := range (remembered{Dir: r.root.Dir}).Clusters() {
		if !recorded[cl] {
			all = append(all, cl)
		}
	}
	return all, recorded
}

// identityOf is a plan's bottle.
func identityOf(p *spec.Plan) string { return p.Pod.Labels[spec.LabelIdentity] }

// A new bottle's calls go to the engine chosen for new bottles.

func (r *Router) Info() spec.EngineInfo {
	d, err := r.defEngine()
	if err != nil {
		return spec.EngineInfo{Name: r.def}
	}
	return d.Info()
}

func (r *Router) CheckRuntime(ctx context.Context, name string) error {
	d, err := r.defEngine()
	if err != nil {
		return err
	}
	return d.CheckRuntime(ctx, name)
}

// The calls about a bottle go to the engine its folder records (a
// launch records it before it makes anything).

func (r *Router) Images(ctx context.Context, p *spec.Plan, exe string, progress io.Writer) (string, error) {
	en, err := r.of(ctx, identityOf(p))
	if err != nil {
		return "", err
	}
	return en.Images(ctx, p, exe, progress)
}

func (r *Router) HasImage(ctx context.Context, p *spec.Plan, ref string) (bool, error) {
	en, err := r.of(ctx, identityOf(p))
	if err != nil {
		return false, err
	}
	return en.HasImage(ctx, p, ref)
}

func (r *Router) Create(ctx context.Context, p *spec.Plan) error {
	id := identityOf(p)
	en, err := r.of(ctx, id)
	if err != nil {
		return err
	}
	// The root remembers each cluster it starts bottles on: their pods are
	// listed (and gc finds them) even once their folders are gone.
	if m, ok := r.recorded(id); ok && m.Engine == kube.Name {
		if err := (remembered{Dir: r.root.Dir}).Remember(Cluster{Context: m.Context, Namespace: m.Namespace}); err != nil {
			return err
		}
	}
	return en.Create(ctx, p)
}

func (r *Router) Up(ctx context.Context, p *spec.Plan, s spec.Streams, detach bool) (int, error) {
	en, err := r.of(ctx, identityOf(p))
	if err != nil {
		return 0, err
	}
	return en.Up(ctx, p, s, detach)
}

// Sync goes to a cluster bottle's engine; Podman's has nothing to do, and
// its service is not reached for it.
func (r *Router) Sync(ctx context.Context, identity string, x spec.Exchange) error {
	if m, ok := r.recorded(identity); !ok || m.Engine != kube.Name {
		return nil
	}
	en, err := r.of(ctx, identity)
	if err != nil {
		return err
	}
	return en.Sync(ctx, identity, x)
}

func (r *Router) Exec(ctx context.Context, identity, service string, argv []string, s spec.Streams) (int, error) {
	en, err := r.of(ctx, identity)
	if err != nil {
		return 0, err
	}
	return en.Exec(ctx, identity, service, argv, s)
}

func (r *Router) Logs(ctx context.Context, identity, service string, follow bool, stdout, stderr io.Writer) error {
	en, err := r.of(ctx, identity)
	if err != nil {
		return err
	}
	return en.Logs(ctx, identity, service, follow, stdout, stderr)
}

// Exists says whether any engine holds the bottle.
func (r *Router) Stats(ctx context.Context, identity string) ([]spec.ServiceStats, error) {
	en, err := r.of(ctx, identity)
	if err != nil {
		return nil, err
	}
	return en.Stats(ctx, identity)
}

func (r *Router) Attach(ctx context.Context, identity, service string, s spec.Streams) (int, error) {
	en, err := r.of(ctx, identity)
	if err != nil {
		return -1, err
	}
	return en.Attach(ctx, identity, service, s)
}

func (r *Router) Exists(ctx context.Context, identity string) (bool, error) {
	en, err := r.of(ctx, identity)
	if err != nil {
		return false, err
	}
	return en.Exists(ctx, identity)
}

func (r *Router) Stop(ctx context.Context, identity string) error {
	en, err := r.of(ctx, identity)
	if err != nil {
		return err
	}
	return en.Stop(ctx, identity)
}

func (r *Router) Remove(ctx context.Context, identity string) error {
	en, err := r.of(ctx, identity)
	if err != nil {
		return err
	}
	return en.Remove(ctx, identity)
}

// List is every engine's bottles: Podman's, and those of each cluster a
// bottle of this root records or the root remembers. A cluster only
// remembered that holds nothing of this root any more is forgotten.
func (r *Router) List(ctx context.Context, rootLabel string) ([]spec.PodInfo, error) {
	var out []spec.PodInfo
	var errs []error
	answered := 0 // clusters that listed their pods
	clusters, recorded := r.clustersOf()
	for _, cl := range clusters {
		c, err := r.cluster(cl.Context, cl.Namespace)
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
			(remembered{Dir: r.root.Dir}).Forget(cl) // nothing of this root there any more
		default:
			answered++
			out = append(out, pods...)
		}
	}
	p, err := r.podman()
	if err != nil {
		if answered == 0 {
			return nil, err // no engine answers at all
		}
		return out, errors.Join(errs...)
	}
	pods, err := p.List(ctx, rootLabel)
	if err != nil {
		return nil, err
	}
	return append(out, pods...), errors.Join(errs...)
}

// Choose is the engine a profile's new bottle goes to: the one named
// (bottle start --engine), else the profile's own.
func Choose(named, profile string) (string, error) {
	engine := named
	if engine == "" {
		engine = profile
	}
	switch engine {
	case "", config.EnginePodman:
		return pod.Name, nil
	case config.EngineKubernetes:
		return kube.Name, nil
	}
	return "", fmt.Errorf("--engine %q: use %s or %s", engine, config.EnginePodman, config.EngineKubernetes)
}

// Warm makes a warm bottle ahead of its claim on the engine new bottles go
// to: Podman, or the cluster (a warm pod).
func (r *Router) Warm(ctx context.Context, p *spec.Plan, exe string) (bool, error) {
	en, err := r.defEngine()
	if err != nil {
		return false, err
	}
	w, ok := en.(lifecycle.Warmer)
	if !ok {
		return false, fmt.Errorf("warm bottles are not made on %s", en.Info().Name)
	}
	return w.Warm(ctx, p, exe)
}

// Refit has the engine a claimed warm bottle was made on keep what it made
// ahead when it fits the claim's plan (or says it cannot: spec.ErrMisfit).
func (r *Router) Refit(ctx context.Context, made, want *spec.Plan) error {
	en, err := r.of(ctx, made.Pod.Labels[spec.LabelIdentity])
	if err != nil {
		return err
	}
	w, ok := en.(lifecycle.Warmer)
	if !ok {
		return fmt.Errorf("%w: %s keeps no warm bottles", spec.ErrMisfit, en.Info().Name)
	}
	return w.Refit(ctx, made, want)
}
