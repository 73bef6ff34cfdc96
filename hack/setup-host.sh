#!/usr/bin/env bash
# Makes this machine able to run bottles: installs Podman and its helpers when
# they are missing (as root, through apt), and works around the host quirks
# measured in shared/notes/podman-on-this-host.md. Idempotent. On a workstation
# that already has Podman, and for a non-root user, it changes nothing.
set -euo pipefail

need_pkgs=(podman runc conmon netavark aardvark-dns slirp4netns uidmap fuse-overlayfs catatonit iptables runsc busybox-static)

if [ "$(id -u)" -ne 0 ]; then
	command -v podman >/dev/null || { echo "podman is not installed: install it with your package manager (Debian/Ubuntu: sudo apt-get install podman)" >&2; exit 1; }
	exit 0
fi

missing=()
for p in "${need_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || { echo "missing packages ${missing[*]} and no apt-get: install them by hand" >&2; exit 1; }
	echo "setup-host: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Host quirks, written only where measured to be needed, into a drop-in of our own.
conf=/etc/containers/containers.conf.d/50-bottle-host.conf
mkdir -p /etc/containers/containers.conf.d /usr/local/libexec/bottle
{
	echo "# written by bottle's hack/setup-host.sh"
	echo "[containers]"
	# A container cannot raise rlimits above the host's hard limits without CAP_SYS_RESOURCE.
	if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 1048576 ]; then
		echo "default_ulimits = [\"nofile=$(ulimit -Hn):$(ulimit -Hn)\", \"nproc=32768:32768\"]"
	fi
	echo "[engine]"
	# crun refuses a hybrid cgroup v1/v2 hierarchy; runc copes.
	if [ -d /sys/fs/cgroup/unified ] && ! [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		echo 'runtime = "runc"'
	fi
	echo "[network]"
	# Debian's podman 4.3 ships a CNI config without the CNI plugins; netavark is installed.
	if [ -f /etc/cni/net.d/87-podman-bridge.conflist ] && [ -x /usr/lib/podman/netavark ]; then
		echo 'network_backend = "netavark"'
	fi
	if [ -x /usr/bin/runsc ]; then
		echo "[engine.runtimes]"
		echo 'runsc = ["/usr/local/libexec/bottle/runsc"]'
	fi
} > "$conf.tmp"
mv "$conf.tmp" "$conf"

# gVisor inside a pod must use the pod's network namespace (--network=host), and
# rootless on cgroup v1 it cannot make cgroups (--ignore-cgroups).
cat > /usr/local/libexec/bottle/runsc.tmp <<'WRAP'
#!/bin/sh
# Rootless Podman calls us as uid 0 inside its user namespace: tell by the uid map.
if ! grep -Eq '^ *0 +0 +4294967295$' /proc/self/uid_map; then exec /usr/bin/runsc --network=host --ignore-cgroups "$@"; fi
exec /usr/bin/runsc --network=host "$@"
WRAP
chmod 755 /usr/local/libexec/bottle/runsc.tmp
mv /usr/local/libexec/bottle/runsc.tmp /usr/local/libexec/bottle/runsc

# slirp4netns (rootless networking) needs the tun device; it is 0600 on these VMs.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then chmod 666 /dev/net/tun; fi
