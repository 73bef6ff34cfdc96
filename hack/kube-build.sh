#!/usr/bin/env bash
# Builds, once per machine and version, the Kubernetes binaries the
# Kubernetes engine's tests run a real single-node cluster with: the control
# plane and kubelet from k8s.io/kubernetes through the Go module proxy (no
# registry is reachable here), gVisor's runsc with its containerd shim, and
# kube-router, whose firewall alone enforces NetworkPolicy there. Prints the
# three folders.
# The binaries stay in $BOTTLE_KUBE_CACHE, keyed by version: a later run on
# the same machine finds them. See shared/notes/kubernetes-on-this-host.md.
set -euo pipefail
ver=${BOTTLE_KUBE_VERSION:-1.37.2}
gvisor=${BOTTLE_GVISOR_VERSION:-v0.0.0-20260905035102-160fafc42237}
cache=${BOTTLE_KUBE_CACHE:-/var/cache/bottle/kube}
out=$cache/v$ver/bin
gout=$cache/gvisor-$gvisor/bin
export PATH="/usr/local/go/bin:$PATH" CGO_ENABLED=0 GOFLAGS=-mod=mod
# One build at a time (hack/e2e.sh starts one ahead, in the background, on a
# new machine): a second waits, then finds the binaries built.
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9

bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
built() { for b in "${bins[@]}"; do [ -x "$out/$b" ] || return 1; done; }

if ! built; then
	src=$cache/v$ver/src
	mkdir -p "$src" "$out"
	minor=${ver#*.}
	# A wrapper module: k8s.io/kubernetes points its staging modules at
	# ./staging, which a dependency cannot use; the published v0.MINOR.PATCH
	# of each is the same code.
	{
		echo "module bottle.test/kube-build"
		echo "go 1.26"
		echo "require k8s.io/kubernetes v$ver"
		echo "replace ("
		go mod download -json "k8s.io/kubernetes@v$ver" >/dev/null
		mod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v$ver.mod
		sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 v0.'"$minor"'#p' "$mod"
		echo ")"
	} > "$src/go.mod"
	pkg=k8s.io/component-base/version
	cg=k8s.io/client-go/pkg/version
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	ld="-s -w"
	for p in "$pkg" "$cg"; do
		ld="$ld -X $p.gitVersion=v$ver -X $p.gitMajor=${ver%%.*} -X $p.gitMinor=${minor%%.*} -X $p.gitTreeState=clean -X $p.buildDate=$now"
	done
	for b in "${bins[@]}"; do
		[ -x "$out/$b" ] && continue
		echo "kube-build: building $b v$ver (once per machine)" >&2
		(cd "$src" && nice -n 10 go build -trimpath -ldflags "$ld" -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b")
		mv "$out/$b.tmp" "$out/$b"
	done
fi

# gVisor for the RuntimeClass: runsc and its containerd shim, the shim's
# refusal to run without CAP_SYS_RESOURCE (it sets its own oom score) made a
# warning, and a wrapper that answers containerd 1.6's start in its form.
recipe=2 # bump when the shim's patch or wrapper changes
if ! [ -x "$gout/runsc" ] || ! [ -x "$gout/containerd-shim-runsc-v1" ] || [ "$(cat "$gout/recipe" 2>/dev/null)" != "$recipe" ]; then
	gsrc=$cache/gvisor-$gvisor/src
	mkdir -p "$gout" "$gsrc"
	go mod download -json "gvisor.dev/gvisor@$gvisor" >/dev/null
	dir=$(go env GOMODCACHE)/gvisor.dev/gvisor@$gvisor
	rm -rf "$gsrc/gvisor"
	cp -r "$dir" "$gsrc/gvisor"
	chmod -R u+w "$gsrc/gvisor"
	mgr=$gsrc/gvisor/pkg/shim/v1/manager.go
	[ -f "$mgr" ] || mgr=$(grep -rl "oom_score_adj\|OOMScoreAdj\|AdjustOOMScore" "$gsrc/gvisor/pkg/shim" | head -1)
	python3 - "$mgr" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
# The one error return after setting the shim's own oom score becomes a warning.
# (Quietly: what the shim prints at start is what containerd reads its address from.)
new, n = re.subn(r'(if err := [^\n]*(?:OOMScore|oomScore|AdjustOOMScore)[^\n]*\{\n)(\s*)return ([^\n]*)\n', r'\1\2_ = err // bottle: no CAP_SYS_RESOURCE here\n', s, count=1)
if n != 1:
    sys.exit("kube-build: the shim's oom-score error is not where expected in " + p)
open(p, 'w').write(new)
PY
	(cd "$gsrc/gvisor" && echo "kube-build: building gVisor runsc and its shim (once per machine)" >&2 &&
		nice -n 10 go build -trimpath -o "$gout/runsc.tmp" ./runsc && nice -n 10 go build -trimpath -o "$gout/containerd-shim-runsc-v1.real" ./shim)
	mv "$gout/runsc.tmp" "$gout/runsc"
	cat > "$gout/containerd-shim-runsc-v1.tmp" <<'WRAP'
#!/bin/sh
# containerd 1.6 reads only the socket address from a shim's start: the
# newer shim prints JSON.
case " $* " in
*" start "*)
	out=$("$0.real" "$@") || exit $?
	addr=$(printf '%s\n' "$out" | sed -n 's/.*"address":"\([^"]*\)".*/\1/p' | tail -1)
	[ -n "$addr" ] || addr=$(printf '%s\n' "$out" | grep -o 'unix://[^ "]*' | tail -1)
	printf '%s' "$addr" ;;
*) exec "$0.real" "$@" ;;
esac
WRAP
	chmod 755 "$gout/containerd-shim-runsc-v1.tmp"
	mv "$gout/containerd-shim-runsc-v1.tmp" "$gout/containerd-shim-runsc-v1"
	echo "$recipe" > "$gout/recipe"
fi

# kube-router's firewall enforces NetworkPolicy on the test cluster, whose
# plain bridge network does not. v2.1.0 is the only version the module proxy
# serves, and security flaws are reported for it: a throw-away cluster in a
# network namespace of its own lives with that; nothing else runs it.
krver=${BOTTLE_KUBE_ROUTER_VERSION:-v2.1.0}
krout=$cache/kube-router-$krver/bin
if ! [ -x "$krout/kube-router" ]; then
	mkdir -p "$krout"
	echo "kube-build: building kube-router $krver (once per machine)" >&2
	GOBIN="$krout" nice -n 10 go install "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$krver"
fi
echo "$out $gout $krout"
