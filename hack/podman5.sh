#!/usr/bin/env bash
# Starts a Podman 5.x API service beside the host's Podman, so the end-to-end
# tests cover both (see shared/notes/podman-on-this-host.md). Debian 13's
# podman is installed with debootstrap into a folder of its own (kept between
# runs), and its service runs in a private mount namespace with that folder as
# its root; the host's packages are untouched. Prints the socket. Needs root.
set -euo pipefail
root=${BOTTLE_PODMAN5_ROOT:-/var/lib/bottle-e2e/trixie}
sockdir=${BOTTLE_PODMAN5_SOCKDIR:-/run/bottle-e2e/podman5}
sock=$sockdir/podman.sock
log=${BOTTLE_E2E_RUN:-/tmp/bottle-e2e}/podman5-service.log
mkdir -p "$(dirname "$log")" "$sockdir"

if curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then echo "$sock"; exit 0; fi

if ! [ -x "$root/usr/bin/podman" ]; then
	command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
	# The host's own Debian mirror, from its apt sources.
	mirror=$(grep -rhoE '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -oE '[a-z]+://[^ ]+' | head -1 || true)
	mirror=${mirror:-http://deb.debian.org/debian}
	echo "podman5: debootstrap trixie into $root" >&2
	rm -rf "$root.tmp"
	debootstrap --variant=minbase \
		--include=podman,runc,conmon,netavark,aardvark-dns,catatonit,iptables,nftables,uidmap,fuse-overlayfs,slirp4netns,passt,ca-certificates \
		trixie "$root.tmp" "$mirror" > "$log.debootstrap" 2>&1 || { tail -20 "$log.debootstrap" >&2; exit 1; }
	mv "$root.tmp" "$root"
fi

hard=$(ulimit -Hn)
cat > "$root/etc/containers/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$hard:$hard", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
mkdir -p "$root/sock" "$root/oldroot" "$root/etc/containers/registries.conf.d"
[ ! -f /etc/containers/registries.conf.d/50-bottle-e2e.conf ] || cp /etc/containers/registries.conf.d/50-bottle-e2e.conf "$root/etc/containers/registries.conf.d/"

# The service, in a private mount namespace whose root is $root.
unshare --mount --propagation private /bin/bash -c '
set -e
root=$1 sockdir=$2
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount --rbind /tmp "$root/tmp" # bottles bind-mount workspaces and state from the host'"'"'s /tmp
mount --bind "$sockdir" "$root/sock"
cd "$root"
pivot_root . oldroot
umount -l /oldroot
export PODMAN_IGNORE_CGROUPSV1_WARNING=1
exec podman system service --time=0 unix:///sock/podman.sock
' bash "$root" "$sockdir" > "$log" 2>&1 < /dev/null &

for _ in $(seq 150); do
	if curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then echo "$sock"; exit 0; fi
	sleep 0.1
done
echo "podman5: no answer on $sock:" >&2; tail -20 "$log" >&2; exit 1
