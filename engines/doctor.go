package engines

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"reflect"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/kube"
	"github.com/bottle-sandbox/bottle/pod"
	"github.com/bottle-sandbox/bottle/state"
)

// Check is one finding of bottle doctor: Fail stops a bottle, Warn only
// narrows what it can do, Info is about what the person does not use;
// Fix is the command that mends it.
type Check struct {
	What, Detail, Fix string
	Fail, Warn, Info  bool
}

// Level is the check's level: fail, warn, info or ok.
func (c Check) Level() string {
	switch {
	case c.Fail:
		return "fail"
	case c.Warn:
		return "warn"
	case c.Info:
		return "info"
	}
	return "ok"
}

// Doctor checks what the engines need on this machine: a Podman service
// (rootless, what rootless Podman needs), gVisor registered with it.
func Doctor(ctx context.Context) []Check {
	var out []Check
	if conn, err := pod.Find(ctx); err != nil {
		fix := "systemctl --user enable --now podman.socket"
		if os.Geteuid() == 0 {
			fix = "systemctl enable --now podman.socket"
		}
		if _, lerr := exec.LookPath("podman"); lerr != nil {
			fix = "sudo apt-get install podman (Fedora: sudo dnf install podman), then " + fix
		}
		out = append(out, Check{What: "podman", Detail: "no service answers: " + err.Error(), Fix: fix, Fail: true})
	} else {
		info := conn.Info()
		out = append(out, Check{What: "podman", Detail: fmt.Sprintf("%s %s at %s (%s)", info.Name, info.Version, conn.URI, info.Where)})
		conn.Close()
	}
	if os.Geteuid() != 0 {
		out = append(out, rootlessChecks()...)
	}
	if err := pod.CheckRuntime("runsc"); err != nil {
		out = append(out, Check{What: "runsc", Detail: "gVisor is not registered with Podman: only profiles with runtime = \"runsc\" need it", Fix: err.Error(), Warn: true})
	} else {
		out = append(out, Check{What: "runsc", Detail: "gVisor is registered with Podman"})
	}
	return out
}

// rootlessChecks are what rootless Podman needs of the machine.
func rootlessChecks() []Check {
	var out []Check
	name := fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		data, _ := os.ReadFile(f)
		if !hasRange(string(data), name, fmt.Sprint(os.Getuid())) {
			out = append(out, Check{What: "rootless", Detail: f + " gives " + name + " no range of ids", Fix: "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 " + name, Fail: true})
		}
	}
	if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err != nil {
		out = append(out, Check{What: "rootless", Detail: "/dev/net/tun: " + err.Error(), Fix: "sudo chmod 666 /dev/net/tun", Fail: true})
	} else {
		f.Close()
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		out = append(out, Check{What: "limits", Detail: "this machine has no unified cgroup (v2): rootless Podman cannot enforce memory, cpus or pids", Fix: "boot with systemd.unified_cgroup_hierarchy=1, or run bottles rootful", Warn: true})
	}
	if len(out) == 0 {
		out = append(out, Check{What: "rootless", Detail: "subordinate ids, /dev/net/tun and cgroup v2 are there"})
	}
	return out
}

func hasRange(file, name, uid string) bool {
	for _, line := range strings.Split(file, "\n") {
		if who, _, ok := strings.Cut(line, ":"); ok && (who == name || who == uid) {
			return true
		}
	}
	return false
}

// DoctorClusters checks the cluster a config sends bottles to, when it
// sends any there ([kubernetes] set, or a profile's engine): that it
// answers in the context and namespace named, that bottle's images can
// get there, that this machine has what the sidecar image takes from it,
// and, for a profile with runtime = "runsc", gVisor's RuntimeClass.
func DoctorClusters(ctx context.Context, cfg *config.Config) []Check {
	if cfg == nil {
		return nil
	}
	var runsc, used bool
	for _, a := range cfg.Agents {
		if a.Engine == config.EngineKubernetes {
			used = true
			runsc = runsc || a.Runtime == config.RuntimeRunsc
		}
	}
	k := cfg.Kubernetes
	if !used && reflect.ValueOf(k).IsZero() {
		return nil
	}
	const what = "kubernetes"
	var out []Check
	switch {
	case k.Registry != "":
		out = append(out, Check{What: what, Detail: "bottle's images are pushed to " + k.Registry})
	case len(k.Import) > 0:
		if _, err := exec.LookPath(k.Import[0]); err != nil {
			out = append(out, Check{What: what, Detail: "import: " + err.Error(), Fix: "install " + k.Import[0] + " or change [kubernetes] import", Fail: true})
		} else {
			out = append(out, Check{What: what, Detail: "bottle's images are handed to " + k.Import[0]})
		}
	default:
		out = append(out, Check{What: what, Detail: "no way for bottle's images to reach the cluster", Fix: "set [kubernetes] registry (bottle pushes there) or import (a command that puts {archive} on the cluster)", Fail: true})
	}
	if err := kube.SidecarTools(); err != nil {
		out = append(out, Check{What: what, Detail: err.Error(), Fix: "sudo apt-get install iptables", Fail: true})
	}
	c, err := kube.Connect(ctx, k, state.Root{}, nil)
	if err != nil {
		return append(out, Check{What: what, Detail: err.Error(), Fix: "kubectl --context " + orCurrent(k.Context) + " version (then mend [kubernetes] context or the kubeconfig)", Fail: true})
	}
	info := c.Info()
	if err := c.CheckNamespace(ctx); err != nil {
		out = append(out, Check{What: what, Detail: err.Error(), Fix: "kubectl create namespace " + info.Namespace + " (or name another in [kubernetes] namespace)", Fail: true})
	} else {
		out = append(out, Check{What: what, Detail: fmt.Sprintf("%s %s, %s", info.Name, info.Version, info.Where)})
	}
	if runsc {
		if err := c.CheckRuntime(ctx, config.RuntimeRunsc); err != nil {
			out = append(out, Check{What: what, Detail: err.Error(), Fix: "install gVisor on the cluster's nodes and its RuntimeClass", Fail: true})
		}
	}
	return out
}

// orCurrent is a kubeconfig context as kubectl takes it: the current one
// when none is named.
func orCurrent(context string) string {
	if context == "" {
		return "$(kubectl config current-context)"
	}
	return context
}
