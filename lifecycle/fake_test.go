package lifecycle

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/bottle-sandbox/bottle/spec"
)

// fakeEngine stands for an engine in the lifecycle's unit tests: it keeps
// a small model of what exists on it (a bottle's objects, by identity),
// remembers what it was asked to do, and runs nothing. An operation can be
// made to fail (fail) or to wait for the caller's context to end (block: an
// interrupt arriving while it runs).
type fakeEngine struct {
	mu    sync.Mutex
	info  spec.EngineInfo
	plans []*spec.Plan
	// ahead: Warm makes the agent ahead too; refits are Refit's calls.
	ahead    bool
	refits   [][2]spec.Container
	removed  []string
	pods     []spec.PodInfo
	exitCode int
	calls    []string
	exes     []string // the binaries Images and Warm were given
	lists    int      // List's calls
	// made are the bottles with something on the engine, by identity.
	made map[string]bool
	// fail makes an operation (by its name in calls) return the error;
	// failOnce, its next call alone.
	fail, failOnce map[string]error
	// block makes an operation wait until its context ends, and return
	// the context's error; entered is told when it starts waiting.
	block   map[string]bool
	entered chan string
	// dead are operations called with a context already ended.
	dead []string
	// lacks are the images it does not hold, by reference (it holds any other).
	lacks map[string]bool
	// running, if set, is what the agent does while it runs attached.
	running func()
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{info: spec.EngineInfo{Name: "podman", Rootless: os.Getuid() != 0, UID: os.Getuid(), GID: os.Getgid()},
		made: map[string]bool{}, fail: map[string]error{}, failOnce: map[string]error{}, block: map[string]bool{}, entered: make(chan string, 10)}
}

// op records a call, and answers as the test set it up: an error, or a
// wait for the context to end.
func (f *fakeEngine) op(ctx context.Context, name string) error {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	if ctx.Err() != nil {
		f.dead = append(f.dead, name)
	}
	err, block := f.fail[name], f.block[name]
	if once, ok := f.failOnce[name]; ok {
		err = once
		delete(f.failOnce, name)
	}
	f.mu.Unlock()
	if block {
		f.entered <- name
		<-ctx.Done()
		return ctx.Err()
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // a real engine's call fails on an ended context
	}
	return err
}

// called is what the engine was asked, in order.
func (f *fakeEngine) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// left are the bottles with something still on the engine.
func (f *fakeEngine) left() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.made {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// mounts are the sources of every mount of every plan the engine got.
func (f *fakeEngine) mounts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.plans {
		for _, c := range p.Containers {
			for _, m := range c.Mounts {
				out = append(out, m.Source)
			}
		}
	}
	return out
}

func identityOfPlan(p *spec.Plan) string { return p.Pod.Labels[spec.LabelIdentity] }

func (f *fakeEngine) Info() spec.EngineInfo { return f.info }
func (f *fakeEngine) CheckRuntime(_ context.Context, name string) error {
	if err := f.fail["check-runtime"]; err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Images makes the sidecar image, then the agent's.
func (f *fakeEngine) Images(ctx context.Context, _ *spec.Plan, exe string, _ io.Writer) (string, error) {
	f.mu.Lock()
	f.exes = append(f.exes, exe)
	f.mu.Unlock()
	if err := f.op(ctx, "sidecar-image"); err != nil {
		return "", err
	}
	return "sha256:agent", f.op(ctx, "image")
}

// HasImage says whether it holds the image.
func (f *fakeEngine) HasImage(ctx context.Context, _ *spec.Plan, ref string) (bool, error) {
	if err := f.op(ctx, "has-image"); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.lacks[ref], nil
}

// Stats reports the services of a bottle it holds, with made-up figures.
func (f *fakeEngine) Stats(ctx context.Context, id string) ([]spec.ServiceStats, error) {
	if err := f.op(ctx, "stats"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.made[id] {
		return nil, &spec.NotFoundError{Name: spec.PodName(id)}
	}
	return []spec.ServiceStats{{Service: "egress", CPU: 1, Memory: 1 << 20, PIDs: 2}, {Service: "agent", CPU: 50, Memory: 64 << 20, MemoryLimit: 256 << 20, PIDs: 3}}, nil
}

// Attach attaches to a bottle it holds: the agent ends with exitCode, or,
// with the operation "attach" blocked, the attach ends with the caller's
// context and the agent runs on.
func (f *fakeEngine) Attach(ctx context.Context, id, _ string, s spec.Streams) (int, error) {
	f.mu.Lock()
	made := f.made[id]
	f.mu.Unlock()
	if !made {
		return -1, &spec.NotFoundError{Name: spec.ContainerName(id, "agent")}
	}
	if err := f.op(ctx, "attach"); err != nil {
		return -1, spec.ErrDetached
	}
	fmt.Fprintln(s.Stdout, "attached to "+id)
	return f.exitCode, nil
}

// Create makes the pod, then its containers.
func (f *fakeEngine) Create(ctx context.Context, p *spec.Plan) error {
	f.mu.Lock()
	f.plans = append(f.plans, p)
	f.made[identityOfPlan(p)] = true
	f.mu.Unlock()
	if err := f.op(ctx, "create"); err != nil {
		return err
	}
	return f.op(ctx, "create-containers")
}

// Up starts the sidecars, then the agent: attached, it runs to its end;
// detached, it is started.
func (f *fakeEngine) Up(ctx context.Context, _ *spec.Plan, _ spec.Streams, detach bool) (int, error) {
	if err := f.op(ctx, "start-sidecars"); err != nil {
		return 0, err
	}
	if detach {
		return 0, f.op(ctx, "start")
	}
	if err := f.op(ctx, "run"); err != nil {
		return 0, err
	}
	if f.running != nil {
		f.running()
	}
	return f.exitCode, nil
}

func (f *fakeEngine) Sync(ctx context.Context, _ string, _ spec.Exchange) error {
	return f.op(ctx, "sync")
}
func (f *fakeEngine) Exec(context.Context, string, string, []string, spec.Streams) (int, error) {
	return 0, nil
}
func (f *fakeEngine) Logs(context.Context, string, string, bool, io.Writer, io.Writer) error {
	return nil
}
func (f *fakeEngine) List(context.Context, string) ([]spec.PodInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	return f.pods, nil
}

// listed is how many times List was called.
func (f *fakeEngine) listed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

func (f *fakeEngine) Exists(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.made[id], nil
}
func (f *fakeEngine) Stop(ctx context.Context, id string) error {
	if err := f.op(ctx, "stop"); err != nil {
		return err
	}
	return f.Remove(ctx, id)
}
func (f *fakeEngine) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	f.removed = append(f.removed, id)
	f.mu.Unlock()
	if err := f.op(ctx, "remove"); err != nil {
		return err
	}
	f.mu.Lock()
	delete(f.made, id)
	f.mu.Unlock()
	return nil
}

// Warm makes a warm bottle's egress: its pod, with the gateway and the
// proxy started; and its agent when the plan has one and the fake starts
// agents ahead (ahead).
func (f *fakeEngine) Warm(ctx context.Context, p *spec.Plan, exe string) (bool, error) {
	f.mu.Lock()
	f.exes = append(f.exes, exe)
	f.plans = append(f.plans, p)
	f.made[identityOfPlan(p)] = true
	ahead := f.ahead && p.Main() != nil
	f.mu.Unlock()
	return ahead, f.op(ctx, "warm")
}

// Refit records the agent made ahead and the claim's, and keeps it when
// the two are one but for their commands.
func (f *fakeEngine) Refit(ctx context.Context, made, want *spec.Plan) error {
	f.mu.Lock()
	f.refits = append(f.refits, [2]spec.Container{*made.Main(), *want.Main()})
	f.mu.Unlock()
	return f.op(ctx, "refit")
}
