package lifecycle

import (
	"context"
	"io"
	"os"
	"sync"

	"github.com/bottle-sandbox/bottle/spec"
)

// fakeEngine stands for an engine in the lifecycle's unit tests: it
// remembers what it was asked to do, and runs nothing.
type fakeEngine struct {
	mu       sync.Mutex
	info     spec.EngineInfo
	plans    []*spec.Plan
	removed  []string
	pods     []spec.PodInfo
	exitCode int
	calls    []string
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{info: spec.EngineInfo{Name: "podman", Rootless: os.Getuid() != 0, UID: os.Getuid(), GID: os.Getgid()}}
}

func (f *fakeEngine) call(name string) {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	f.mu.Unlock()
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

func (f *fakeEngine) Info() spec.EngineInfo     { return f.info }
func (f *fakeEngine) CheckRuntime(string) error { return nil }
func (f *fakeEngine) EnsureSidecarImage(context.Context, string) (string, error) {
	f.call("sidecar-image")
	return "sha256:sidecar", nil
}
func (f *fakeEngine) ImageExists(context.Context, string) (bool, error) { return true, nil }
func (f *fakeEngine) EnsureImage(context.Context, spec.Image, io.Writer) (string, error) {
	f.call("image")
	return "sha256:agent", nil
}
func (f *fakeEngine) CreatePod(_ context.Context, p *spec.Plan) error {
	f.mu.Lock()
	f.plans = append(f.plans, p)
	f.mu.Unlock()
	f.call("create-pod")
	return nil
}
func (f *fakeEngine) CreateContainers(context.Context, *spec.Plan, []spec.Container) error {
	f.call("create-containers")
	return nil
}
func (f *fakeEngine) StartSidecars(context.Context, *spec.Plan) error {
	f.call("start-sidecars")
	return nil
}
func (f *fakeEngine) StartContainer(context.Context, string) error {
	f.call("start")
	return nil
}
func (f *fakeEngine) Run(_ context.Context, _ string, _ io.Reader, _, _ io.Writer, before func() error) (int, error) {
	f.call("run")
	if err := before(); err != nil {
		return 0, err
	}
	return f.exitCode, nil
}
func (f *fakeEngine) NetNSPath(context.Context, string) (string, error) { return "", nil }
func (f *fakeEngine) Exec(context.Context, string, []string, bool, io.Reader, io.Writer, io.Writer) (int, error) {
	return 0, nil
}
func (f *fakeEngine) List(context.Context, string) ([]spec.PodInfo, error) { return f.pods, nil }
func (f *fakeEngine) PodExists(context.Context, string) (bool, error)      { return false, nil }
func (f *fakeEngine) StopPod(context.Context, string) error {
	f.call("stop")
	return nil
}
func (f *fakeEngine) RemoveBottle(_ context.Context, pod, id string) error {
	f.mu.Lock()
	f.removed = append(f.removed, id)
	f.mu.Unlock()
	f.call("remove")
	return nil
}
func (f *fakeEngine) Logs(context.Context, string, bool, io.Writer, io.Writer) error { return nil }
