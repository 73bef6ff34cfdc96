package engines

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/kube"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/spec"
	"github.com/bottle-sandbox/bottle/state"
)

// engine stands for Podman or a cluster in the router's tests: it holds
// the bottles it is told it has, and remembers each call, by identity.
type engine struct {
	name  string
	place Cluster
	has   []string
	pods  []spec.PodInfo
	err   error // what List answers
	calls []string
}

func (e *engine) call(what, id string) { e.calls = append(e.calls, what+" "+id) }

func (e *engine) Info() spec.EngineInfo {
	return spec.EngineInfo{Name: e.name, Context: e.place.Context, Namespace: e.place.Namespace}
}
func (e *engine) CheckRuntime(context.Context, string) error { e.call("check-runtime", ""); return nil }
func (e *engine) Warm(_ context.Context, p *spec.Plan, _ string) (bool, error) {
	e.call("warm", identityOf(p))
	return false, nil
}
func (e *engine) Refit(_ context.Context, made, _ *spec.Plan) error {
	e.call("refit", made.Main().Name)
	return nil
}
func (e *engine) Images(_ context.Context, p *spec.Plan, _ string, _ io.Writer) (string, error) {
	e.call("images", identityOf(p))
	return "", nil
}
func (e *engine) HasImage(_ context.Context, p *spec.Plan, _ string) (bool, error) {
	e.call("has-image", identityOf(p))
	return false, nil
}
func (e *engine) Stats(_ context.Context, id string) ([]spec.ServiceStats, error) {
	e.call("stats", id)
	return nil, nil
}
func (e *engine) Attach(_ context.Context, id, _ string, _ spec.Streams) (int, error) {
	e.call("attach", id)
	return 0, nil
}
func (e *engine) Create(_ context.Context, p *spec.Plan) error {
	e.call("create", identityOf(p))
	return nil
}
func (e *engine) Up(_ context.Context, p *spec.Plan, _ spec.Streams, _ bool) (int, error) {
	e.call("up", identityOf(p))
	return 0, nil
}
func (e *engine) Sync(_ context.Context, id string, _ spec.Exchange) error {
	e.call("sync", id)
	return nil
}
func (e *engine) Exec(_ context.Context, id, _ string, _ []string, _ spec.Streams) (int, error) {
	e.call("exec", id)
	return 0, nil
}
func (e *engine) Logs(_ context.Context, id, _ string, _ bool, _, _ io.Writer) error {
	e.call("logs", id)
	return nil
}
func (e *engine) List(context.Context, string) ([]spec.PodInfo, error) { return e.pods, e.err }
func (e *engine) Exists(_ context.Context, id string) (bool, error) {
	return slices.Contains(e.has, id), nil
}
func (e *engine) Stop(_ context.Context, id string) error   { e.call("stop", id); return nil }
func (e *engine) Remove(_ context.Context, id string) error { e.call("remove", id); return nil }
func (e *engine) EnsureImage(context.Context, spec.Image, io.Writer) (string, error) {
	return "", nil
}
func (e *engine) SaveImage(context.Context, string, io.Writer) error { return nil }

// world is a state root, Podman and two clusters, and a router over them
// whose new bottles go to def.
type world struct {
	root      state.Root
	podman    *engine
	clusters  map[Cluster]*engine
	connected []string // the engines the router reached, in order
	r         *Router
}

var (
	here  = Cluster{Context: "here", Namespace: "default"}
	there = Cluster{Context: "there", Namespace: "bottles"}
)

func newWorld(t *testing.T, def string) *world {
	w := &world{root: state.Root{Dir: filepath.Join(t.TempDir(), "bottle")}, podman: &engine{name: pod.Name},
		clusters: map[Cluster]*engine{here: {name: kube.Name, place: here}, there: {name: kube.Name, place: there}}}
	w.r = newRouter(context.Background(), w.root, config.Kubernetes{Context: "here"}, def)
	w.r.connectPodman = func(context.Context) (podman, error) {
		w.connected = append(w.connected, pod.Name)
		return w.podman, nil
	}
	w.r.connectCluster = func(_ context.Context, k config.Kubernetes, _ func() (kube.Builder, error)) (lifecycle.Engine, error) {
		cl := Cluster{Context: k.Context, Namespace: k.NamespaceOrDefault()}
		w.connected = append(w.connected, cl.Context)
		if c := w.clusters[cl]; c != nil {
			return c, nil
		}
		return nil, errors.New("no such cluster")
	}
	return w
}

// bottle makes a bottle's folder recording the engine it runs on.
func (w *world) bottle(t *testing.T, engine string, at Cluster) string {
	t.Helper()
	b, err := unlocked(w.root.Create("t"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteMetadata(state.Metadata{Identity: b.ID, Agent: "t", StartedAt: time.Now(), Engine: engine, Context: at.Context, Namespace: at.Namespace}); err != nil {
		t.Fatal(err)
	}
	return b.ID
}

func plan(id string) *spec.Plan {
	return &spec.Plan{Pod: spec.PodSpec{Labels: map[string]string{spec.LabelIdentity: id}}}
}

// Every call about a bottle goes to the engine its folder records,
// whatever engine new bottles go to; a cluster a bottle is created on is
// remembered.
func TestRouterSendsEachBottleWhereItRuns(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, kube.Name)
	if got := w.r.Info(); got.Name != kube.Name || got.Context != "here" {
		t.Errorf("a new bottle goes to %+v, want the user's cluster", got)
	}
	local := w.bottle(t, pod.Name, Cluster{})
	old := w.bottle(t, "", Cluster{}) // recorded before bottles said where they ran
	far := w.bottle(t, kube.Name, there)
	for _, id := range []string{local, old, far} {
		w.r.Images(ctx, plan(id), "", io.Discard)
		w.r.Create(ctx, plan(id))
		w.r.Up(ctx, plan(id), spec.Streams{}, true)
		w.r.Exec(ctx, id, "agent", nil, spec.Streams{})
		w.r.Logs(ctx, id, "agent", false, io.Discard, io.Discard)
		w.r.Stop(ctx, id)
		w.r.Remove(ctx, id)
	}
	each := func(id string) []string {
		var out []string
		for _, c := range []string{"images", "create", "up", "exec", "logs", "stop", "remove"} {
			out = append(out, c+" "+id)
		}
		return out
	}
	if want := append(each(local), each(old)...); !slices.Equal(w.podman.calls, want) {
		t.Errorf("Podman was asked %v, want %v", w.podman.calls, want)
	}
	if got := w.clusters[there].calls; !slices.Equal(got, each(far)) {
		t.Errorf("the bottle's cluster was asked %v", got)
	}
	if got := w.clusters[here].calls; len(got) != 0 {
		t.Errorf("the default cluster was asked %v", got)
	}
	if got := (remembered{Dir: w.root.Dir}).Clusters(); !slices.Equal(got, []Cluster{there}) {
		t.Errorf("the root remembers %v, want the cluster a bottle was created on", got)
	}
}

// A pod whose folder is gone is found on whichever engine holds it.
func TestRouterFindsAnOrphansEngine(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "")
	(remembered{Dir: w.root.Dir}).Remember(there)
	w.clusters[there].has = []string{"t-orphn"}
	if ok, err := w.r.Exists(ctx, "t-orphn"); !ok || err != nil {
		t.Errorf("the orphan is not found: %v %v", ok, err)
	}
	w.r.Remove(ctx, "t-orphn")
	if got := w.clusters[there].calls; !slices.Equal(got, []string{"remove t-orphn"}) {
		t.Errorf("the orphan's cluster was asked %v", got)
	}
	if ok, _ := w.r.Exists(ctx, "t-nones"); ok {
		t.Error("a bottle nobody has exists")
	}
}

// A listing is every engine's; a cluster only remembered with nothing of
// this root is forgotten, and its trouble is not the listing's; a
// recorded cluster's trouble is.
func TestRouterListsEveryEngine(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "")
	far := w.bottle(t, kube.Name, there)
	(remembered{Dir: w.root.Dir}).Remember(here)
	(remembered{Dir: w.root.Dir}).Remember(Cluster{Context: "gone", Namespace: "x"})
	w.podman.pods = []spec.PodInfo{{Identity: "t-local"}}
	w.clusters[there].pods = []spec.PodInfo{{Identity: far}}
	pods, err := w.r.List(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range pods {
		ids = append(ids, p.Identity)
	}
	if !slices.Equal(ids, []string{far, "t-local"}) {
		t.Errorf("listed %v", ids)
	}
	if got := (remembered{Dir: w.root.Dir}).Clusters(); !slices.Equal(got, []Cluster{{Context: "gone", Namespace: "x"}}) {
		t.Errorf("the root remembers %v: the empty cluster stays, the unreachable one goes", got)
	}
	w.clusters[there].err = errors.New("the cluster is down")
	if _, err := w.r.List(ctx, "root"); err == nil {
		t.Error("a recorded cluster's trouble is not said")
	}
}

// Syncing a Podman bottle has nothing to do, and reaches no service.
func TestRouterSyncsOnlyWhatAnEngineKeepsApart(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "")
	local := w.bottle(t, pod.Name, Cluster{})
	far := w.bottle(t, kube.Name, there)
	for _, id := range []string{local, far} {
		if err := w.r.Sync(ctx, id, spec.Exchange{}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(w.connected, []string{"there"}) || !slices.Equal(w.clusters[there].calls, []string{"sync " + far}) {
		t.Errorf("reached %v; the cluster was asked %v", w.connected, w.clusters[there].calls)
	}
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct{ named, profile, want string }{
		{"", "", pod.Name}, {"", config.EngineKubernetes, kube.Name}, {config.EnginePodman, config.EngineKubernetes, pod.Name}, {config.EngineKubernetes, "", kube.Name},
	} {
		if got, err := Choose(tc.named, tc.profile); got != tc.want || err != nil {
			t.Errorf("Choose(%q, %q) = %q, %v", tc.named, tc.profile, got, err)
		}
	}
	if _, err := Choose("docker", ""); err == nil {
		t.Error("an unknown engine is chosen")
	}
}

// unlocked is Create's bottle with its lock let go.
func unlocked(b *state.Bottle, l *state.Lock, err error) (*state.Bottle, error) {
	l.Unlock()
	return b, err
}
