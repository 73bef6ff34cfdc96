// Package kube is the Kubernetes engine: it makes a bottle's plan (package
// spec) into objects on a cluster, through client-go, and is the only
// package that imports client-go. A bottle is one pod: the agent and,
// started beside it, the egress gateway, the proxy with the supervise
// server, and the git gate; before them an init container shuts every way
// out of the pod's network namespace but the gateway's user, and the state
// keeper (a native sidecar) takes the bottle's folders in. The bottle's
// folders are on a volume of the pod's (an emptyDir, or a
// PersistentVolumeClaim), its credentials a Secret, and a NetworkPolicy is
// a second layer.
package kube

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bottle-sandbox/bottle/kube/inpod"
	"github.com/bottle-sandbox/bottle/sidecars/gitgate"
	"github.com/bottle-sandbox/bottle/spec"
)

// Options say how a plan lands on a cluster.
type Options struct {
	Namespace string
	// Registry is where the cluster pulls bottle's images from (the
	// sidecar image, a built agent image): localhost/NAME becomes
	// REGISTRY/NAME. "" keeps the names (a test cluster that imports them).
	Registry string
	// RuntimeClass is the class a runsc bottle runs under (default gvisor).
	RuntimeClass string
	// Storage, when set, is the size of a PersistentVolumeClaim that holds
	// the bottle's folders; "" holds them in an emptyDir on the node.
	Storage string
}

func (o Options) runtimeClass() string {
	if o.RuntimeClass == "" {
		return "gvisor"
	}
	return o.RuntimeClass
}

const (
	stateVolume = "state"
	binVolume   = "bin"
	runVolume   = "isolate-run" // iptables' lock, for the isolation alone
	isolateName = "isolate"
	keeperName  = "state"
	holdName    = "hold"
	// StateDir is where the state keeper has the bottle's volume, whole.
	StateDir = "/state"
	// BinDir holds, for the agent's container, the sidecar binary (to wait
	// for the go-ahead), the state keeper's mark that the sidecars are
	// ready, and the go-ahead itself.
	BinDir    = "/run/bottle/bin"
	GoFile    = BinDir + "/go"
	ReadyMark = BinDir + "/sidecars-ready"
	// SocketsDir is where the state keeper sees the pod's socket folders,
	// one folder each by its volume's name (the gateway's ready file is its
	// socket).
	SocketsDir = "/run/bottle/sockets"
)

// cpuRequest is what the scheduler is asked for of a container whose CPUs
// are limited, in thousandths of a CPU.
const cpuRequest = 100

// Objects are what a bottle is on a cluster, in the order they are made:
// its volume (a PersistentVolumeClaim, when o.Storage sizes one), its
// Secret, its NetworkPolicy and its pod. stateDir is the bottle's folder
// on the host: every mount of the plan must be inside it (the cluster
// cannot see the host's folders), and lands on the volume at the same
// place. Secret mounts name what goes into the Secret instead.
//
// The volume lives as long as the pod: the bottle's folders are copied
// onto it at start and home when the agent ends or the bottle stops, and
// a resume copies them onto a new one (Stop, Remove). So an emptyDir on
// the node holds them, by default: a claim waits for its binding, and the
// scheduler for the claim (a second on the test cluster).
func Objects(p *spec.Plan, stateDir string, o Options) (*Bottle, error) {
	name := p.Pod.Name
	meta := metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: maps.Clone(p.Pod.Labels)}
	b := &Bottle{
		Policy: networkPolicy(meta, p.Pod.Labels, p.Dials),
		meta:   meta,
	}
	volume := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	if o.Storage != "" {
		size, err := resource.ParseQuantity(o.Storage)
		if err != nil {
			return nil, fmt.Errorf("kubernetes storage %q: %w", o.Storage, err)
		}
		b.Volume = &corev1.PersistentVolumeClaim{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: meta,
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			},
		}
		volume = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}
	}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: meta,
		Spec: corev1.PodSpec{
			Hostname:                     name,
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr(false),
			EnableServiceLinks:           ptr(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				FSGroup:        ptr(inpod.AgentUID),
			},
			Volumes: []corev1.Volume{
				{Name: stateVolume, VolumeSource: volume},
				{Name: binVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: runVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
			},
		},
	}
	main := p.Main()
	if main == nil {
		return nil, fmt.Errorf("plan of %s has no main container", name)
	}
	if main.Runtime == "runsc" {
		pod.Spec.RuntimeClassName = ptr(o.runtimeClass())
	}
	b.stage = main.Stage
	sidecarImage := ""
	var sidecars, agent []corev1.Container
	for _, ct := range p.Containers {
		c, err := b.container(ct, stateDir, o)
		if err != nil {
			return nil, err
		}
		if sec := b.secretOf(ct.Service); sec != nil {
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: sec.Name, VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: sec.Name, DefaultMode: ptr(int32(0o400))}}})
		}
		if ct.Main {
			// The agent waits for the engine's go-ahead, given once its
			// terminal is attached, then becomes the command that comes
			// with it: a pod made ahead of its claim (docs/warm.md) is the
			// pod a cold start makes, whatever the claim's command.
			c.Stdin, c.TTY = true, true
			c.Command = []string{BinDir + "/bottle", "sidecar", "await", GoFile}
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: binVolume, MountPath: BinDir})
			agent = append(agent, c)
			continue
		}
		sidecarImage = c.Image
		sidecars = append(sidecars, c)
	}
	// The isolation comes before all else, then the state keeper, ready
	// once the engine has copied the bottle's folders in: both native
	// sidecars, each holding the next until its postStart hook is done
	// (after an init container that ends, the kubelet starts the next at
	// its next look at the pod's containers, up to a second later). Then
	// the agent, the sidecars and the hold start at once, as on Podman:
	// the sidecars do not need each other ready to start (the proxy waits
	// for the gateway's socket). The agent comes first (the kubelet makes
	// them one after the other): its container, which waits for the
	// go-ahead, is where the isolation's proof runs. The state keeper marks
	// the sidecars ready once their ready files are there; the engine
	// gives the agent its go-ahead once they are and the proof held. The
	// hold keeps the pod up once the agent has ended, until the engine has
	// copied its folders back.
	pod.Spec.InitContainers = []corev1.Container{isolate(sidecarImage), keeper(sidecarImage, b.sockets, b.ready)}
	pod.Spec.Containers = append(append(agent, sidecars...), hold(sidecarImage))
	b.shareSockets(pod)
	b.Pod = pod
	return b, nil
}

// Bottle is the objects of one bottle.
type Bottle struct {
	Volume *corev1.PersistentVolumeClaim // nil: an emptyDir
	// Secrets hold the credentials of one container each, mounted into
	// that container alone.
	Secrets []*Secret
	Policy  *netv1.NetworkPolicy
	Pod     *corev1.Pod
	meta    metav1.ObjectMeta
	sockets []string // the pod's socket folders' volumes
	ready   []string // the sidecars' ready files, where the state keeper sees them
	stage   string   // the agent's stage on the host (spec.Container.Stage)
	// Copies are host folders copied onto the volume at start, for a
	// container that reads them (the host repository's objects, which the
	// git gate's mirrors borrow): Name is the copy's place on the volume.
	Copies []inpod.Tree
}

// HostCopies is the volume's folder of the host folders copied onto it.
const HostCopies = "host-copies"

// copyOf is where the volume holds a copy of the host folder src.
func (b *Bottle) copyOf(src string) string {
	for _, t := range b.Copies {
		if t.Src == src {
			return t.Name
		}
	}
	name := path.Join(HostCopies, strconv.Itoa(len(b.Copies)), filepath.Base(src))
	b.Copies = append(b.Copies, inpod.Tree{Src: src, Name: name})
	return name
}

// Secret is one container's credentials and the host files they are read
// from at start: a file each key, or a folder whose every file is a key.
type Secret struct {
	*corev1.Secret
	Files   map[string]string // key -> host file
	Folders []string          // host folders whose files are keys
	service string
}

// secretOf is the Secret of one service's container, or nil.
func (b *Bottle) secretOf(service string) *Secret {
	for _, s := range b.Secrets {
		if s.service == service {
			return s
		}
	}
	return nil
}

// secretFor is the Secret of one service's container, made on first use.
func (b *Bottle) secretFor(service string) *Secret {
	if s := b.secretOf(service); s != nil {
		return s
	}
	meta := b.meta
	meta.Name = b.meta.Name + "-" + service
	s := &Secret{Secret: &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{},
	}, Files: map[string]string{}, service: service}
	b.Secrets = append(b.Secrets, s)
	return s
}

// uidOf is the user a service runs as on the cluster.
func uidOf(ct spec.Container) int64 {
	switch {
	case ct.Main:
		return inpod.AgentUID
	case ct.OutsidePod:
		return inpod.GatewayUID
	case ct.Service == gitgate.Service:
		return inpod.GateUID
	default:
		return inpod.ProxyUID
	}
}

// container translates one of the plan's containers.
func (b *Bottle) container(ct spec.Container, stateDir string, o Options) (corev1.Container, error) {
	c := corev1.Container{
		Name:       ct.Service,
		Image:      image(ct.Image.Ref, o.Registry),
		Command:    ct.Command,
		WorkingDir: ct.WorkDir,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(uidOf(ct)),
			RunAsGroup:               ptr(inpod.AgentUID),
			RunAsNonRoot:             ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(!ct.Main),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		ImagePullPolicy: corev1.PullIfNotPresent,
	}
	for _, k := range slices.Sorted(maps.Keys(ct.Env)) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: ct.Env[k]})
	}
	if r := ct.Resources; r.MemoryBytes > 0 || r.CPUs > 0 {
		c.Resources.Limits = corev1.ResourceList{}
		if r.MemoryBytes > 0 {
			c.Resources.Limits[corev1.ResourceMemory] = *resource.NewQuantity(r.MemoryBytes, resource.BinarySI)
		}
		if r.CPUs > 0 {
			// A ceiling, as Podman's quota is: without a request of its own
			// the scheduler would reserve the whole limit, and a bottle with
			// cpus = 2 would keep the next from a small node.
			milli := int64(r.CPUs * 1000)
			c.Resources.Limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(milli, resource.DecimalSI)
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(min(milli, cpuRequest), resource.DecimalSI)}
		}
	}
	for _, m := range ct.Mounts {
		rel, err := filepath.Rel(stateDir, m.Source)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			if ct.Service == gitgate.Service && m.ReadOnly {
				// The host repository's objects: the gate reads a copy.
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: stateVolume, MountPath: m.Target, SubPath: b.copyOf(m.Source), ReadOnly: true})
				continue
			}
			return c, fmt.Errorf("%s: %s is a host folder outside the bottle's, which a cluster cannot mount (on Kubernetes a bottle's workspace is a copy: workspace = \"copy\")", ct.Service, m.Source)
		}
		if m.Secret {
			// A file is one key, mounted at its place; a folder is the
			// whole Secret, mounted as the folder.
			sec := b.secretFor(ct.Service)
			vm := corev1.VolumeMount{Name: sec.Name, MountPath: m.Target, ReadOnly: true}
			if isFile(m) {
				key := filepath.Base(m.Source)
				sec.Files[key], sec.Data[key], vm.SubPath = m.Source, []byte{}, key
			} else {
				sec.Folders = append(sec.Folders, m.Source)
			}
			c.VolumeMounts = append(c.VolumeMounts, vm)
			continue
		}
		if m.Sockets {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: b.socketVolume(rel), MountPath: m.Target})
			continue
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: stateVolume, MountPath: m.Target, SubPath: rel, ReadOnly: m.ReadOnly})
	}
	// A sidecar is ready when its ready files exist, as on Podman: the
	// state keeper, which sees them all, says when they are.
	for _, f := range ct.Ready {
		seen, err := b.readyInKeeper(ct, stateDir, f)
		if err != nil {
			return c, err
		}
		b.ready = append(b.ready, seen)
	}
	return c, nil
}

// readyInKeeper is where the state keeper sees one of a sidecar's ready
// files: in a socket folder, which it mounts too, or on the volume.
func (b *Bottle) readyInKeeper(ct spec.Container, stateDir, file string) (string, error) {
	for _, m := range ct.Mounts {
		if rel, err := filepath.Rel(m.Source, file); m.Sockets && err == nil && filepath.IsLocal(rel) {
			dir, err := filepath.Rel(stateDir, m.Source)
			if err != nil || !filepath.IsLocal(dir) {
				break
			}
			return path.Join(SocketsDir, b.socketVolume(dir), filepath.ToSlash(rel)), nil
		}
	}
	if rel, err := filepath.Rel(stateDir, file); err == nil && filepath.IsLocal(rel) {
		return path.Join(StateDir, filepath.ToSlash(rel)), nil
	}
	return "", fmt.Errorf("%s: its ready file %s is outside the bottle's folder, which a cluster cannot see", ct.Service, file)
}

// socketVolume names the pod's own folder for the plan's socket folder rel
// (below the bottle's), made once however many containers mount it.
func (b *Bottle) socketVolume(rel string) string {
	name := "sockets-" + strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(rel)), "-")
	if !slices.Contains(b.sockets, name) {
		b.sockets = append(b.sockets, name)
	}
	return name
}

// shareSockets gives the pod its socket folders: emptyDirs in memory and,
// in a gVisor sandbox, one tmpfs of the sandbox's shared by the containers
// that mount it (a socket on a folder each container mounts apart is a
// file to the others, and cannot be connected to).
func (b *Bottle) shareSockets(pod *corev1.Pod) {
	for _, name := range b.sockets {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}})
		if pod.Spec.RuntimeClassName != nil {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			prefix := "dev.gvisor.spec.mount." + name + "."
			pod.Annotations[prefix+"share"] = "pod"
			pod.Annotations[prefix+"type"] = "tmpfs"
			pod.Annotations[prefix+"options"] = "rw,rprivate"
		}
	}
	if pod.Spec.RuntimeClassName == nil {
		return
	}
	// A container that finds the gateway's socket there but refusing may
	// then blame the hints (a cluster that drops them).
	for i, c := range pod.Spec.Containers {
		if slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return slices.Contains(b.sockets, m.Name) }) {
			pod.Spec.Containers[i].Env = append(pod.Spec.Containers[i].Env, corev1.EnvVar{Name: inpod.SocketsByHint, Value: "1"})
		}
	}
}

// isFile tells a mount of one file from a folder's, by name: the plan's
// secret files have an extension, their folders none.
func isFile(m spec.Mount) bool { return filepath.Ext(m.Source) != "" }
