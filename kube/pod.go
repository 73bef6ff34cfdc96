package kube

import (
	"fmt"
	"path"

	"github.com/bottle-sandbox/bottle/kube/inpod"
	"github.com/bottle-sandbox/bottle/spec"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// isolate shuts the pod's network namespace, IPv4 and IPv6, to all but
// loopback and the gateway's user, before anything else of the pod runs;
// it alone needs NET_ADMIN (and NET_RAW, for iptables' socket). It is a
// native sidecar that holds on once done, where an init container would
// end: the kubelet starts the next of the pod's containers as soon as a
// sidecar's postStart hook is done (here, once the isolation is), but
// after an init container only once it has seen it end, at its next look
// at the pod's containers (up to a second). Nothing of the pod but the
// isolation's own folder is mounted in it, and it runs nothing more.
func isolate(img string) corev1.Container {
	return corev1.Container{
		Name:    isolateName,
		Image:   img,
		Command: []string{spec.SidecarBinary, "sidecar", "isolate", "--gateway-uid", fmt.Sprint(inpod.GatewayUID), "--hold", isolatedMark},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(int64(0)),
			RunAsNonRoot:             ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			// iptables sets its tables through a raw socket.
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: runVolume, MountPath: "/run"}},
		Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{spec.SidecarBinary, "sidecar", "await-files", "--within", "1m", isolatedMark}}}},
		Resources:       corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
		RestartPolicy:   ptr(corev1.ContainerRestartPolicyAlways),
		ImagePullPolicy: corev1.PullIfNotPresent,
	}
}

// isolatedMark is the isolation's word, in its own folder, that it is done.
const isolatedMark = "/run/isolated"

// keeper is the state keeper: a native sidecar with the bottle's volume
// mounted whole, through which the engine copies the bottle's folders in
// at start (owned by the pod's group, so each container reads its own) and
// back at the end; it also hands the agent's container the sidecar
// binary, and marks the sidecars ready once every one of ready (their
// ready files as it sees them: on the volume, or in one of the socket
// folders, which it mounts read-only) is there. It runs as root with the
// file capabilities that takes, after the isolation: nothing it runs
// reaches a network.
func keeper(img string, sockets, ready []string) corev1.Container {
	cmd := []string{spec.SidecarBinary, "sidecar", "state", "--bin", BinDir, "--volume", StateDir, "--ready-mark", ReadyMark}
	for _, f := range ready {
		cmd = append(cmd, "--ready", f)
	}
	mounts := []corev1.VolumeMount{{Name: stateVolume, MountPath: StateDir}, {Name: binVolume, MountPath: BinDir}}
	for _, v := range sockets {
		mounts = append(mounts, corev1.VolumeMount{Name: v, MountPath: path.Join(SocketsDir, v), ReadOnly: true})
	}
	return corev1.Container{
		Name:    keeperName,
		Image:   img,
		Command: cmd,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(int64(0)),
			RunAsGroup:               ptr(inpod.AgentUID),
			RunAsNonRoot:             ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"CHOWN", "FOWNER", "DAC_OVERRIDE"}},
		},
		VolumeMounts: mounts,
		// The kubelet starts the pod's other containers once this hook is
		// done: once the engine has seeded the volume (the folders they
		// mount are on it) and the keeper has put the binary the agent's
		// container starts with in place. A startup probe would see them up
		// to a second later (a probe's period is a second at least).
		Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{spec.SidecarBinary, "sidecar", "await-seed", "--within", "5m", path.Join(StateDir, inpod.Seeded), path.Join(BinDir, "bottle")}}}},
		RestartPolicy:   ptr(corev1.ContainerRestartPolicyAlways),
		ImagePullPolicy: corev1.PullIfNotPresent,
	}
}

// hold does nothing but keep the pod running (its sidecars with it) after
// the agent has ended, until the engine removes the pod.
func hold(img string) corev1.Container {
	return corev1.Container{
		Name:    holdName,
		Image:   img,
		Command: []string{spec.SidecarBinary, "sidecar", "state"},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(inpod.HoldUID),
			RunAsGroup:               ptr(inpod.HoldUID),
			RunAsNonRoot:             ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		Resources:       corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
		ImagePullPolicy: corev1.PullIfNotPresent,
	}
}
