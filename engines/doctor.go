package engines

import (
	"cmp"
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
// Fix is the command that mends it, one a person can paste in a shell
// (where no one command mends it, the closest one, and what is left to do
// after it as a shell comment).
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
			fix = Install("podman") + " && " + fix
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
		out = append(out, Check{What: "runsc", Detail: "gVisor is not registered with Podman: only profiles with runtime = \"runsc\" need it", Fix: Install("runsc") + " && sudo hack/setup-host.sh  # in bottle's source: it registers runsc in containers.conf with the flags a pod needs", Warn: true})
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
		out = append(out, Check{What: "limits", Detail: "this machine has no unified cgroup (v2): rootless Podman cannot enforce memory, cpus or pids", Fix: cgroup2Fix(), Warn: true})
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
			out = append(out, Check{What: what, Detail: "import: " + err.Error(), Fix: Install(k.Import[0]) + "  # or name another command in [kubernetes] import", Fail: true})
		} else {
			out = append(out, Check{What: what, Detail: "bottle's images are handed to " + k.Import[0]})
		}
	default:
		out = append(out, Check{What: what, Detail: "no way for bottle's images to reach the cluster", Fix: editConfig(cfg) + "  # under [kubernetes]: registry = \"HOST/PATH\" (bottle pushes there) or import = [\"kind\", \"load\", \"image-archive\", \"{archive}\"]", Fail: true})
	}
	if err := kube.SidecarTools(); err != nil {
		out = append(out, Check{What: what, Detail: err.Error(), Fix: Install("iptables"), Fail: true})
	}
	c, err := kube.Connect(ctx, k, state.Root{}, nil)
	if err != nil {
		return append(out, Check{What: what, Detail: err.Error(), Fix: "kubectl --context " + orCurrent(k.Context) + " version  # says what is wrong; then mend the kubeconfig or [kubernetes] context", Fail: true})
	}
	info := c.Info()
	if err := c.CheckNamespace(ctx); err != nil {
		out = append(out, Check{What: what, Detail: err.Error(), Fix: "kubectl --context " + orCurrent(k.Context) + " create namespace " + ShellWord(info.Namespace) + "  # or name another in [kubernetes] namespace", Fail: true})
	} else {
		out = append(out, Check{What: what, Detail: fmt.Sprintf("%s %s, %s", info.Name, info.Version, info.Where)})
	}
	if runsc {
		if err := c.CheckRuntime(ctx, config.RuntimeRunsc); err != nil {
			out = append(out, Check{What: what, Detail: err.Error(), Fix: "printf 'apiVersion: node.k8s.io/v1\\nkind: RuntimeClass\\nmetadata:\\n  name: " + cmp.Or(k.RuntimeClass, "gvisor") + "\\nhandler: runsc\\n' | kubectl --context " + orCurrent(k.Context) + " apply -f -  # once runsc is installed on each node (gvisor.dev/docs/user_guide/containerd/quick_start)", Fail: true})
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

// Install is the command that installs a package with this machine's
// package manager (dnf where there is one, else apt-get), as root.
func Install(pkg string) string {
	cmd := "apt-get install -y "
	if _, err := exec.LookPath("dnf"); err == nil {
		cmd = "dnf install -y "
	}
	if os.Geteuid() != 0 {
		cmd = "sudo " + cmd
	}
	return cmd + ShellWord(pkg)
}

// editConfig opens the config file that sets [kubernetes] (the person's
// own when none does) in the person's editor.
func editConfig(cfg *config.Config) string {
	file := "~/.config/bottle/config.toml"
	if len(cfg.Files) > 0 {
		file = ShellWord(cfg.Files[0])
	}
	return "${EDITOR:-vi} " + file
}

// ShellWord is s as one word of a POSIX shell: quoted when it has to be.
func ShellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@+,%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cgroup2Fix boots the machine with the unified cgroup hierarchy: grubby
// where there is one (Fedora), else a drop-in of Debian's grub defaults.
func cgroup2Fix() string {
	if _, err := exec.LookPath("grubby"); err == nil {
		return "sudo grubby --update-kernel=ALL --args=systemd.unified_cgroup_hierarchy=1  # then reboot; or run bottles rootful"
	}
	return `echo 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX systemd.unified_cgroup_hierarchy=1"' | sudo tee /etc/default/grub.d/cgroup2.cfg && sudo update-grub  # then reboot; or run bottles rootful`
}
