package kube

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/kube/inpod"
	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/spec"
)

func plan(t *testing.T, mode, runtime string) *spec.Plan {
	t.Helper()
	a := &config.Agent{Name: "shell", MemoryBytes: 1 << 30, Profile: config.Profile{Image: "localhost/bottle-base:latest", Command: []string{"/bin/sh"},
		Workspace: mode, Runtime: runtime, Memory: "1g", CPUs: 1}}
	p, err := sidecars.Build(sidecars.Input{Identity: "shell-abcde", Agent: a, Image: spec.Image{Ref: a.Image}, Workdir: "/home/u/project",
		StateRoot: "/state", Version: "test", SidecarImage: "localhost/bottle-sidecar:0123", Host: agent.Host{UID: 0, OwnerUID: 1000, OwnerGID: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestObjectsHoldTheBottlesIsolation(t *testing.T) {
	b, err := Objects(plan(t, config.WorkspaceCopy, config.RuntimeRunsc), "/state/shell-abcde", Options{Namespace: "bottles", Registry: "registry.example.com/team"})
	if err != nil {
		t.Fatal(err)
	}
	ps := b.Pod.Spec
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken || ps.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		ps.RuntimeClassName == nil || *ps.RuntimeClassName != "gvisor" || ps.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("pod spec: %+v", ps)
	}
	for _, v := range ps.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a host path", v.Name)
		}
	}
	if ps.InitContainers[0].Name != isolateName || ps.InitContainers[0].SecurityContext.Capabilities.Add[0] != "NET_ADMIN" {
		t.Fatalf("the first init container must isolate the pod: %+v", ps.InitContainers[0])
	}
	var names []string
	for _, c := range append(ps.InitContainers, ps.Containers...) {
		names = append(names, c.Name)
		sc := c.SecurityContext
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s may escalate or keeps capabilities: %+v", c.Name, sc)
		}
		if c.Name == isolateName {
			// It holds on once done (a native sidecar), with its own folder
			// alone, and holds the pod until the isolation is done.
			hook := c.Lifecycle.PostStart.Exec.Command
			if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != runVolume || c.RestartPolicy == nil ||
				*c.RestartPolicy != corev1.ContainerRestartPolicyAlways || hook[len(hook)-1] != isolatedMark || !slices.Contains(c.Command, isolatedMark) {
				t.Errorf("the isolation: %+v", c)
			}
			continue
		}
		if c.Name == keeperName {
			// The state keeper owns the volume's files: file capabilities only.
			if strings.Join(capNames(sc.Capabilities.Add), ",") != "CHOWN,FOWNER,DAC_OVERRIDE" || len(c.Env) != 0 {
				t.Errorf("the state keeper has %v", sc.Capabilities.Add)
			}
			// The volume, the binary's folder, and the socket folders
			// read-only, to see the gateway's ready file.
			for _, m := range c.VolumeMounts {
				if m.Name != stateVolume && m.Name != binVolume && !(strings.HasPrefix(m.Name, "sockets-") && m.ReadOnly) {
					t.Errorf("the state keeper mounts %+v", m)
				}
			}
			// It marks the sidecars ready once each one's ready files are
			// there, as it sees them (the go-ahead waits for the mark).
			var ready []string
			for i, a := range c.Command {
				if a == "--ready" {
					ready = append(ready, c.Command[i+1])
				}
			}
			want := "/run/bottle/sockets/sockets-egress-gateway/gateway.sock,/state/egress/ready,/state/supervise/ready"
			if strings.Join(ready, ",") != want || !slices.Contains(c.Command, ReadyMark) {
				t.Errorf("the state keeper waits for %v, not %s, or marks nothing: %v", ready, want, c.Command)
			}
			continue
		}
		if *sc.RunAsNonRoot != true || len(sc.Capabilities.Add) != 0 || *sc.RunAsUser == 0 {
			t.Errorf("%s runs as root or with capabilities: %+v", c.Name, sc)
		}
		if !strings.HasPrefix(c.Image, "registry.example.com/team/") {
			t.Errorf("%s pulls %s, not from the registry", c.Name, c.Image)
		}
	}
	// The agent first of the containers: its container is where the
	// proof runs, the longest wait of the start.
	if strings.Join(names, ",") != "isolate,state,agent,gateway,egress,hold" || len(ps.InitContainers) != 2 {
		t.Errorf("containers in order: %v", names)
	}
	// Credentials in a Secret mounted into the proxy alone.
	if len(b.Secrets) != 1 || b.Secrets[0].service != "egress" || b.Secrets[0].Files["secrets.json"] != "/state/shell-abcde/egress/secrets.json" {
		t.Fatalf("secrets: %+v", b.Secrets)
	}
	for _, c := range append(ps.InitContainers, ps.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.Name == b.Secrets[0].Name && c.Name != "egress" {
				t.Errorf("%s mounts the proxy's secrets", c.Name)
			}
		}
	}
	if c := agentOf(ps); *c.SecurityContext.RunAsUser != inpod.AgentUID || !c.TTY || c.Resources.Limits.Memory().Value() != 1<<30 {
		t.Errorf("agent: %+v", c)
	}
	// With no route, the gateway dials nothing: DNS alone goes out.
	if len(b.Policy.Spec.Egress) != 1 || b.Policy.Spec.Egress[0].Ports[0].Port.IntValue() != 53 || len(b.Policy.Spec.Ingress) != 0 {
		t.Errorf("network policy: %+v", b.Policy.Spec)
	}
}

// The cluster cannot see the host's folders: a bind workspace is refused.
func TestObjectsRefuseHostFolders(t *testing.T) {
	_, err := Objects(plan(t, config.WorkspaceBind, config.RuntimeRunc), "/state/shell-abcde", Options{})
	if err == nil || !strings.Contains(err.Error(), "/home/u/project") || !strings.Contains(err.Error(), `"copy"`) {
		t.Errorf("a bind workspace: %v", err)
	}
}

// The git gate's mirrors borrow the host repository's objects: on a
// cluster the gate reads a copy on the volume, at the same place; any
// other container's host folder is still refused.
func TestObjectsCopyTheGatesHostObjects(t *testing.T) {
	objects := "/home/u/project/.git/objects"
	p := plan(t, config.WorkspaceCopy, config.RuntimeRunc)
	main := p.Containers[len(p.Containers)-1]
	gate := spec.Container{Name: "shell-abcde-git-gate", Service: "git-gate", Image: main.Image,
		Mounts: []spec.Mount{{Source: objects, Target: objects, ReadOnly: true}}}
	p.Containers = append(p.Containers[:len(p.Containers)-1:len(p.Containers)-1], gate, main)
	b, err := Objects(p, "/state/shell-abcde", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Copies) != 1 || b.Copies[0].Src != objects || b.Copies[0].Name != "host-copies/0/objects" {
		t.Fatalf("copies: %+v", b.Copies)
	}
	var found bool
	for _, c := range b.Pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if m.MountPath == objects {
				found = c.Name == "git-gate" && m.SubPath == "host-copies/0/objects" && m.ReadOnly
				if !found {
					t.Errorf("%s mounts %+v", c.Name, m)
				}
			}
		}
	}
	if !found {
		t.Error("the gate does not mount the objects' copy")
	}
	for _, c := range b.Pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if c.Name != "git-gate" && strings.HasPrefix(m.SubPath, HostCopies) {
				t.Errorf("%s mounts the host's copy: %+v", c.Name, m)
			}
		}
	}

	main.Mounts = append(main.Mounts, spec.Mount{Source: objects, Target: "/objects", ReadOnly: true})
	p.Containers[len(p.Containers)-1] = main
	if _, err := Objects(p, "/state/shell-abcde", Options{}); err == nil || !strings.Contains(err.Error(), objects) {
		t.Errorf("the agent's host folder: %v", err)
	}
}

func capNames(cs []corev1.Capability) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c))
	}
	return out
}

// The gateway's socket folder is the pod's own, in memory, mounted by the
// gateway, the proxy (and the git gate), never by the agent; in a gVisor
// sandbox it is one folder shared by them, or the socket is not one.
func TestSocketFolderIsThePodsOwn(t *testing.T) {
	for _, runtime := range []string{"", config.RuntimeRunsc} {
		b, err := Objects(plan(t, config.WorkspaceCopy, runtime), "/state/shell-abcde", Options{Namespace: "bottles"})
		if err != nil {
			t.Fatal(err)
		}
		const vol = "sockets-egress-gateway"
		var found bool
		for _, v := range b.Pod.Spec.Volumes {
			if v.Name == vol {
				found = v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory
			}
		}
		if !found {
			t.Fatalf("%q: no in-memory %s volume: %+v", runtime, vol, b.Pod.Spec.Volumes)
		}
		var by []string
		for _, c := range append(b.Pod.Spec.InitContainers, b.Pod.Spec.Containers...) {
			for _, m := range c.VolumeMounts {
				if m.Name == vol {
					by = append(by, c.Name)
				}
			}
		}
		if j := strings.Join(by, ","); j != "state,gateway,egress" && j != "state,gateway,egress,git-gate" {
			t.Errorf("%q: the socket folder is mounted by %v", runtime, by)
		}
		share := b.Pod.Annotations["dev.gvisor.spec.mount."+vol+".share"]
		if (runtime == config.RuntimeRunsc) != (share == "pod") {
			t.Errorf("%q: gVisor share annotation %q", runtime, share)
		}
		// The proxy blames the hints for a socket that refuses only where
		// they share the folder.
		for _, c := range b.Pod.Spec.Containers {
			hinted := slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == inpod.SocketsByHint })
			if want := runtime == config.RuntimeRunsc && (c.Name == "gateway" || c.Name == "egress" || c.Name == "git-gate"); hinted != want {
				t.Errorf("%q: %s told the folder is shared by hint: %v", runtime, c.Name, hinted)
			}
		}
	}
}

// cpus is a ceiling, as Podman's quota is, not a reservation: a bottle
// with cpus = 2 asks the scheduler for a tenth of a CPU, so on a small
// node the next bottle still finds room.
func TestCPUsAreACeiling(t *testing.T) {
	p := plan(t, config.WorkspaceCopy, config.RuntimeRunc)
	p.Main().Resources.CPUs = 2
	b, err := Objects(p, "/state/shell-abcde", Options{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	r := agentOf(b.Pod.Spec).Resources
	if r.Limits.Cpu().MilliValue() != 2000 || r.Requests.Cpu().MilliValue() != 100 {
		t.Errorf("the agent's CPU: limit %v, request %v", r.Limits.Cpu(), r.Requests.Cpu())
	}
}

func agentOf(ps corev1.PodSpec) corev1.Container {
	for _, c := range ps.Containers {
		if c.Name == "agent" {
			return c
		}
	}
	panic("no agent container")
}

// The bottle's folders live as long as its pod (copied home when the agent
// ends or the bottle stops, onto a new volume at resume): an emptyDir holds
// them, and a PersistentVolumeClaim of the size asked, when one is.
func TestVolumeIsAClaimOnlyWhenSized(t *testing.T) {
	for _, storage := range []string{"", "2Gi"} {
		b, err := Objects(plan(t, config.WorkspaceCopy, config.RuntimeRunc), "/state/shell-abcde", Options{Namespace: "bottles", Storage: storage})
		if err != nil {
			t.Fatal(err)
		}
		var v *corev1.Volume
		for i := range b.Pod.Spec.Volumes {
			if b.Pod.Spec.Volumes[i].Name == stateVolume {
				v = &b.Pod.Spec.Volumes[i]
			}
		}
		switch {
		case v == nil:
			t.Fatalf("storage %q: no %s volume", storage, stateVolume)
		case storage == "" && (b.Volume != nil || v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumDefault):
			t.Errorf("no storage asked: the claim %v, the volume %+v, want an emptyDir on the node's disk", b.Volume, v.VolumeSource)
		case storage != "" && (b.Volume == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != b.Volume.Name ||
			b.Volume.Spec.Resources.Requests.Storage().String() != storage):
			t.Errorf("storage %q: the claim %v, the volume %+v", storage, b.Volume, v.VolumeSource)
		}
		var out strings.Builder
		if err := b.YAML(&out); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), "kind: PersistentVolumeClaim"); got != (storage != "") {
			t.Errorf("storage %q: the manifest has a claim: %v", storage, got)
		}
	}
	if _, err := Objects(plan(t, config.WorkspaceCopy, config.RuntimeRunc), "/state/shell-abcde", Options{Storage: "lots"}); err == nil || !strings.Contains(err.Error(), `"lots"`) {
		t.Errorf("a storage that is no size: %v", err)
	}
}
