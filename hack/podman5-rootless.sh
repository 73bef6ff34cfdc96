#!/usr/bin/env bash
# Starts a rootless Podman 5.x API service for the test user, from the Debian 13
# root that hack/podman5.sh installs, in a private mount namespace like the
# rootful one: the user as the host knows it, running as that user (setpriv).
# Prints the socket. Needs root. Idempotent.
set -euo pipefail
root=${BOTTLE_PODMAN5_ROOT:-/var/lib/bottle-e2e/trixie}
user=${BOTTLE_E2E_USER:-bottletest}
sockdir=${BOTTLE_PODMAN5_ROOTLESS_SOCKDIR:-/run/bottle-e2e/podman5-rootless}
log=${BOTTLE_E2E_RUN:-/tmp/bottle-e2e}/podman5-rootless-service.log
uid=$(id -u "$user") gid=$(id -g "$user")
sock=$sockdir/podman.sock
ping() { su "$user" -s /bin/sh -c "curl -sf --unix-socket $sock http://d/_ping" >/dev/null 2>&1; }

if ping; then echo "$sock"; exit 0; fi
[ -x "$root/usr/bin/podman" ] || { echo "podman5-rootless: run hack/podman5.sh first" >&2; exit 1; }
mkdir -p "$sockdir" "$(dirname "$log")"
chown "$uid:$gid" "$sockdir"; chmod 755 "$sockdir"
for f in passwd group subuid subgid; do cp "/etc/$f" "$root/etc/$f"; done
mkdir -p "$root/home/$user" "$root/sock-rootless"; chown "$uid:$gid" "$root/home/$user"

unshare --mount --propagation private /bin/bash -c '
set -e
root=$1 sockdir=$2 user=$3 uid=$4 gid=$5
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount --rbind /tmp "$root/tmp" # workspaces and state live in the host'"'"'s /tmp
mount --bind "$sockdir" "$root/sock-rootless"
cd "$root"
pivot_root . oldroot
umount -l /oldroot
mkdir -p "/run/user/$uid" && chown "$uid:$gid" "/run/user/$uid" && chmod 700 "/run/user/$uid"
cd /
exec setpriv --reuid="$uid" --regid="$gid" --init-groups env -i PATH=/usr/bin:/bin HOME="/home/$user" USER="$user" \
	XDG_RUNTIME_DIR="/run/user/$uid" PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman system service --time=0 unix:///sock-rootless/podman.sock
' bash "$root" "$sockdir" "$user" "$uid" "$gid" > "$log" 2>&1 < /dev/null &

for _ in $(seq 150); do
	if ping; then echo "$sock"; exit 0; fi
	sleep 0.1
done
echo "podman5-rootless: no answer on $sock:" >&2; tail -20 "$log" >&2; exit 1
