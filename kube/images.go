package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containers/image/v5/copy"
	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/archive"
	"github.com/containers/image/v5/signature"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bottle-sandbox/bottle/internal/sidecarimage"
	"github.com/bottle-sandbox/bottle/spec"
)

// Images puts what the plan runs where the cluster finds it: the sidecar
// image (the cluster's variant) and the agent's. An agent's image from a
// Containerfile, or one of this machine's own (localhost/...), is made
// here (Builder) and handed to the cluster; any other the cluster pulls.
// An isolated build has no network at all: the bottle's egress runs on
// the cluster, not where the build does.
func (e *Engine) Images(ctx context.Context, p *spec.Plan, exe string, progress io.Writer) (string, error) {
	if err := e.sidecarImage(ctx, exe); err != nil {
		return "", err
	}
	img := p.Main().Image
	img.Through = nil
	local := img.Containerfile != "" || strings.HasPrefix(img.Ref, "localhost/")
	if !local {
		return "", nil // the cluster pulls it
	}
	b, err := e.builder()
	if err != nil {
		return "", fmt.Errorf("the image %s is made on this machine, with Podman, for the cluster: %w", img.Ref, err)
	}
	digest, err := b.EnsureImage(ctx, img, progress)
	if err != nil {
		return "", err
	}
	if e.has(ctx, img.Ref, img.Containerfile != "") {
		return digest, nil
	}
	if err := e.deliver(ctx, img.Ref, func(w io.Writer) error { return b.SaveImage(ctx, img.Ref, w) }); err != nil {
		return "", fmt.Errorf("the image %s: %w", img.Ref, err)
	}
	return digest, nil
}

// HasImage says whether a start would have the image ref without pulling
// or building it: the cluster holds it (as has finds it), or, for what is
// made on this machine and delivered, this machine's Podman does.
func (e *Engine) HasImage(ctx context.Context, p *spec.Plan, ref string) (bool, error) {
	img := p.Main().Image
	built := ref == img.Ref && img.Containerfile != ""
	if e.has(ctx, ref, built) {
		return true, nil
	}
	// What a start makes here and hands to the cluster is this machine's
	// to hold: a localhost/ image, the one a Containerfile builds, and
	// what that build starts FROM (any other ref asked of).
	if strings.HasPrefix(ref, "localhost/") || built || ref != img.Ref {
		b, err := e.builder()
		if err != nil {
			return false, fmt.Errorf("the image %s is made on this machine, with Podman, for the cluster: %w", ref, err)
		}
		return b.HasImage(ctx, p, ref)
	}
	return false, nil
}

// has says whether the cluster holds an image of this machine's already:
// a built one (named by its content) that the registry has, or, without a
// registry, one every node reports. A tag of this machine's may have moved
// since the cluster got it: it is delivered again unless a node has it.
func (e *Engine) has(ctx context.Context, ref string, contentNamed bool) bool {
	if e.kube.Registry != "" {
		return contentNamed && registryHas(ctx, image(ref, e.kube.Registry))
	}
	nodes, err := e.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		return false
	}
	for _, n := range nodes.Items {
		held := false
		for _, img := range n.Status.Images {
			held = held || slices.Contains(img.Names, ref)
		}
		if !held {
			return false
		}
	}
	return true
}

// sidecarImage makes the sidecar image for a cluster (the sidecar binary,
// the host's CA roots and iptables' legacy tools, which the isolation
// needs) and puts it where the cluster finds it: pushed to the user's
// registry, or handed to the import command (a test cluster).
func (e *Engine) sidecarImage(ctx context.Context, exe string) error {
	ref, err := spec.SidecarRef(exe)
	if err != nil {
		return err
	}
	ref += kubeSuffix
	// Its name is the sidecar binary's content: an image of that name the
	// registry holds, or every node reports (what an import put there), is
	// this one. (The iptables tools in it are the host's when it was made.)
	if e.has(ctx, ref, true) {
		return nil
	}
	extra, err := iptablesFiles()
	if err != nil {
		return err
	}
	return e.deliver(ctx, ref, func(w io.Writer) error { return sidecarimage.Write(w, exe, ref, extra...) })
}

// deliver puts an image archive where the cluster finds it.
func (e *Engine) deliver(ctx context.Context, ref string, write func(io.Writer) error) error {
	f, err := os.CreateTemp("", "bottle-image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("the image %s: %w", ref, err)
	}
	f.Close()
	switch {
	case e.kube.Registry != "":
		return push(ctx, f.Name(), image(ref, e.kube.Registry))
	case len(e.kube.Import) > 0:
		argv := make([]string, len(e.kube.Import))
		for i, a := range e.kube.Import {
			argv[i] = strings.ReplaceAll(a, "{archive}", f.Name())
		}
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("import %s into the cluster (%s): %v: %s", ref, argv[0], err, bytes.TrimSpace(out))
		}
		return nil
	}
	return fmt.Errorf("the cluster needs bottle's image %s: set [kubernetes] registry (bottle pushes it there) or import (a command that puts {archive} on the cluster)", ref)
}

// push copies an image archive to a registry (containers/image), for a
// cluster that pulls from it; the registry's login is the user's own, as
// containers' tools keep it.
func push(ctx context.Context, archivePath, dest string) error {
	src, err := archive.ParseReference(archivePath)
	if err != nil {
		return err
	}
	dst, err := docker.ParseReference("//" + dest)
	if err != nil {
		return fmt.Errorf("the registry's name %s: %w", dest, err)
	}
	pc, err := signature.NewPolicyContext(&signature.Policy{Default: []signature.PolicyRequirement{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		return err
	}
	defer pc.Destroy()
	if _, err := copy.Image(ctx, pc, dst, src, &copy.Options{}); err != nil {
		return fmt.Errorf("push %s: %w", dest, err)
	}
	return nil
}

// registryHas reports whether the registry holds the image already.
func registryHas(ctx context.Context, dest string) bool {
	ref, err := docker.ParseReference("//" + dest)
	if err != nil {
		return false
	}
	src, err := ref.NewImageSource(ctx, nil)
	if err != nil {
		return false
	}
	defer src.Close()
	_, _, err = src.GetManifest(ctx, nil)
	return err == nil
}

// iptablesFiles are the legacy iptables tools and what they load, from the
// host, for the image's isolation step.
func iptablesFiles() ([]sidecarimage.File, error) {
	multi := ""
	for _, p := range []string{"/usr/sbin/xtables-legacy-multi", "/sbin/xtables-legacy-multi"} {
		if _, err := os.Stat(p); err == nil {
			multi = p
			break
		}
	}
	if multi == "" {
		return nil, errors.New("a bottle on Kubernetes isolates its pod with iptables: install the host's iptables (xtables-legacy-multi) so bottle can put it in the sidecar image")
	}
	files := []sidecarimage.File{
		{Path: "/usr/sbin/xtables-legacy-multi", Host: multi},
		{Path: "/usr/sbin/iptables-legacy", Link: "xtables-legacy-multi"},
		{Path: "/usr/sbin/ip6tables-legacy", Link: "xtables-legacy-multi"},
	}
	libs, err := sharedLibraries(multi)
	if err != nil {
		return nil, err
	}
	exts, _ := filepath.Glob("/usr/lib/x86_64-linux-gnu/xtables/*.so")
	for _, x := range exts {
		more, _ := sharedLibraries(x)
		libs = append(libs, more...)
		files = append(files, sidecarimage.File{Path: x, Host: x})
	}
	seen := map[string]bool{}
	for _, l := range libs {
		if seen[l] {
			continue
		}
		seen[l] = true
		real, err := filepath.EvalSymlinks(l)
		if err != nil {
			return nil, err
		}
		files = append(files, sidecarimage.File{Path: l, Host: real})
	}
	return files, nil
}

// sharedLibraries are the libraries a binary loads, as ldd lists them.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}

// SidecarTools says whether this machine has what the cluster's sidecar
// image takes from it (iptables' legacy tools, for the pod's isolation).
func SidecarTools() error {
	_, err := iptablesFiles()
	return err
}
