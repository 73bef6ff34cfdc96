// Package pod is the Podman engine: it makes a bottle's plan (package spec)
// into a running Podman pod, and is the only package that talks to Podman,
// through its v5 Go bindings.
package pod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/spec"

	commonconfig "github.com/containers/common/pkg/config"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/system"
)

// callTimeout bounds every API call that is not a stream.
const callTimeout = 60 * time.Second

// Conn is a connection to a Podman API service.
type Conn struct {
	URI      string
	Rootless bool
	Version  string // the server's Podman version
	// UID and GID are the caller's own, which keep-id maps into the pod.
	UID, GID int

	runtime string // the service's default OCI runtime, once read (readInfo)
	exe     string // the sidecar binary, once Images or Warm named it: an agent started ahead runs it first

	values   context.Context // carries the bindings' client; never its deadline
	svc      *exec.Cmd       // a private service we started, if any
	svcDir   string
	runtimes map[string]*Conn // private services for other runtimes, by name
}

// NotInstalledError says Podman is missing, with what to install.
type NotInstalledError struct{}

func (NotInstalledError) Error() string {
	return "podman is not installed and no Podman service answers: install podman (Debian/Ubuntu: apt-get install podman; Fedora: dnf install podman)"
}

// Candidates lists the sockets to try, in the order Podman's own remote
// client uses: CONTAINER_HOST, the rootless socket, the rootful one.
func Candidates() []string {
	if h := os.Getenv("CONTAINER_HOST"); h != "" {
		return []string{h}
	}
	var out []string
	if os.Geteuid() != 0 {
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			dir = fmt.Sprintf("/run/user/%d", os.Geteuid())
		}
		out = append(out, "unix://"+filepath.Join(dir, "podman", "podman.sock"))
	}
	return append(out, "unix:///run/podman/podman.sock")
}

// Find connects to a Podman service that answers, and starts none: for
// bottle doctor, which says what it found.
func Find(ctx context.Context) (*Conn, error) {
	var errs []string
	for _, uri := range Candidates() {
		c, err := dial(ctx, uri)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// Connect finds a Podman service that answers, or starts a private one for
// the life of this Conn when none does and the podman binary is installed.
func Connect(ctx context.Context) (*Conn, error) {
	cands := Candidates()
	var errs []string
	for _, uri := range cands {
		c, err := dial(ctx, uri)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err.Error())
	}
	if os.Getenv("CONTAINER_HOST") != "" {
		return nil, fmt.Errorf("CONTAINER_HOST: %s", errs[0])
	}
	c, err := startService(ctx, "")
	if err != nil {
		if errors.As(err, new(NotInstalledError)) {
			return nil, err
		}
		return nil, fmt.Errorf("no Podman service answers (%s) and starting one failed: %w", strings.Join(errs, "; "), err)
	}
	return c, nil
}

// dial pings uri with a deadline, then opens a bindings connection to it.
func dial(ctx context.Context, uri string) (*Conn, error) {
	if path, ok := strings.CutPrefix(uri, "unix://"); ok {
		if err := ping(ctx, path); err != nil {
			return nil, err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	values, err := bindings.NewConnection(cctx, uri)
	if err != nil {
		return nil, fmt.Errorf("connect to podman at %s: %w", uri, err)
	}
	c := &Conn{URI: uri, values: values, UID: os.Getuid(), GID: os.Getgid()}
	if v := bindings.ServiceVersion(values); v != nil {
		c.Version = v.String()
	}
	// /info costs a tenth of a second (it runs every helper's --version), so
	// a local socket is judged by its owner: a rootless service's is the user's.
	if path, ok := strings.CutPrefix(uri, "unix://"); ok {
		if fi, err := os.Stat(path); err == nil {
			c.Rootless = fi.Sys().(*syscall.Stat_t).Uid != 0
			return c, nil
		}
	}
	if err := c.readInfo(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// readInfo asks the service whether it is rootless and which runtime it uses.
func (c *Conn) readInfo(ctx context.Context) error {
	ictx, cancel := c.call(ctx)
	defer cancel()
	info, err := system.Info(ictx, nil)
	if err != nil {
		return c.errorf(err, "podman at %s: read info", c.URI)
	}
	c.Rootless = info.Host.Security.Rootless
	c.Version = info.Version.Version
	c.runtime = info.Host.OCIRuntime.Name
	return nil
}

// ping asks a unix socket for /_ping within a short deadline, so a dead or
// hung socket is passed over quickly rather than waited on.
func ping(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client := http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://d/_ping", nil)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("podman at unix://%s: %w", path, unwrapURL(err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("podman at unix://%s: ping answered %s", path, resp.Status)
	}
	return nil
}

func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// startService runs `podman system service` on a private socket, with
// runtime (if set) as the OCI runtime of the containers it creates.
func startService(ctx context.Context, runtime string) (*Conn, error) {
	bin, err := exec.LookPath("podman")
	if err != nil {
		return nil, NotInstalledError{}
	}
	dir, err := os.MkdirTemp("", "bottle-podman-")
	if err != nil {
		return nil, fmt.Errorf("start podman service: %w", err)
	}
	sock := filepath.Join(dir, "podman.sock")
	logPath := filepath.Join(dir, "service.log")
	logf, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start podman service: %w", err)
	}
	defer logf.Close()
	args := []string{"system", "service", "--time=0", "unix://" + sock}
	if runtime != "" {
		args = append([]string{"--runtime", runtime}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A set CONTAINER_HOST, even empty, makes podman a remote client of it.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CONTAINER_HOST=") })
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start podman service: %w", err)
	}
	slog.Debug("started a private podman service", "socket", sock)
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		os.RemoveAll(dir)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := dial(ctx, "unix://"+sock)
		if err == nil {
			c.svc, c.svcDir = cmd, dir
			return c, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			out, _ := os.ReadFile(logPath)
			stop()
			return nil, fmt.Errorf("podman system service did not answer on %s: %v: %s", sock, err, lastLine(out))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// ForRuntime returns a connection whose service creates containers under the
// named OCI runtime. Podman's API ignores a container's own runtime choice
// (containers/podman#28429, fixed after 5.x), so a container that needs
// another runtime than the service's default is created through a private
// service started with that runtime as its default. Both share one store, so
// that container still joins a pod the main service made.
func (c *Conn) ForRuntime(ctx context.Context, runtime string) (*Conn, error) {
	if runtime == "" {
		return c, nil
	}
	if rc, ok := c.runtimes[runtime]; ok {
		return rc, nil
	}
	if c.runtime == "" {
		if err := c.readInfo(ctx); err != nil {
			return nil, err
		}
	}
	if runtime == c.runtime {
		return c, nil
	}
	if !strings.HasPrefix(c.URI, "unix://") {
		return nil, fmt.Errorf("runtime %q needs a local Podman service, not %s", runtime, c.URI)
	}
	rc, err := startService(ctx, runtime)
	if err != nil {
		return nil, fmt.Errorf("start a podman service for runtime %s: %w", runtime, err)
	}
	if c.runtimes == nil {
		c.runtimes = map[string]*Conn{}
	}
	c.runtimes[runtime] = rc
	return rc, nil
}

// Close stops the private services this Conn started.
func (c *Conn) Close() {
	for _, rc := range c.runtimes {
		rc.Close()
	}
	c.runtimes = nil
	if c.svc != nil {
		c.svc.Process.Signal(syscall.SIGTERM)
		c.svc.Wait()
		os.RemoveAll(c.svcDir)
		c.svc = nil
	}
}

// Info describes the engine, for the preflight and the plan.
func (c *Conn) Info() spec.EngineInfo {
	where := "rootful"
	if c.Rootless {
		where = "rootless"
	}
	info := spec.EngineInfo{Name: Name, Version: c.Version, Rootless: c.Rootless, UID: c.UID, GID: c.GID, Where: where}
	if c.Private() {
		info.Ephemeral = "no Podman service is running"
		info.Lasting = "start one (systemctl --user enable --now podman.socket, or podman system service --time=0 &)"
	}
	return info
}

// Name is the engine's, as a bottle's folder records it.
const Name = "podman"

// CheckRuntime says whether Podman knows the OCI runtime name (runsc).
func (c *Conn) CheckRuntime(_ context.Context, name string) error { return CheckRuntime(name) }

// Private reports whether this Conn runs its own service, which ends with the
// command: a detached bottle needs a service that outlives it.
func (c *Conn) Private() bool { return c.svc != nil }

// call returns a context for one API call: the caller's cancellation, a
// deadline, and the bindings' connection.
func (c *Conn) call(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	return c.stream(ctx), cancel
}

// stream is call without the deadline, for attach, wait, pull and build.
func (c *Conn) stream(ctx context.Context) context.Context {
	return valuesCtx{Context: ctx, values: c.values}
}

// valuesCtx takes cancellation and deadline from its own Context and values
// (the bindings' client) from another, so the connection's setup deadline
// never leaks into later calls.
type valuesCtx struct {
	context.Context
	values context.Context
}

func (v valuesCtx) Value(key any) any {
	if x := v.values.Value(key); x != nil {
		return x
	}
	return v.Context.Value(key)
}

// errorf names the service in an API error, and says so plainly on a timeout.
func (c *Conn) errorf(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: podman at %s did not answer within %s", msg, c.URI, callTimeout)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// CheckRuntime fails, with the fix, when Podman has no OCI runtime of that
// name installed. It reads the same containers.conf files the local service does.
func CheckRuntime(name string) error {
	cfg, err := commonconfig.Default()
	if err != nil {
		return fmt.Errorf("read containers.conf: %w", err)
	}
	for _, p := range cfg.Engine.OCIRuntimes[name] {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return nil
		}
	}
	return fmt.Errorf("runtime %q is not registered with Podman: install gVisor (apt-get install runsc) and register it under [engine.runtimes] in containers.conf (hack/setup-host.sh shows how, with the flags a pod needs)", name)
}
