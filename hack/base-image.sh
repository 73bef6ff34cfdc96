#!/usr/bin/env bash
# Builds a tiny base image from Debian's busybox-static (no registry is needed)
# and imports it into the Podman store of the calling user, or of the user named
# by $1 (run through su, for the rootless store). Idempotent.
set -euo pipefail
tag=${BOTTLE_BASE_IMAGE:-localhost/bottle-base:latest}
user=${1:-}

podman_as() {
	if [ -z "$user" ]; then podman "$@"; return; fi
	local uid; uid=$(id -u "$user")
	env -u CONTAINER_HOST su "$user" -s /bin/sh -c "cd /; XDG_RUNTIME_DIR=/run/user/$uid podman $(printf '%q ' "$@")"
}

if podman_as image exists "$tag"; then exit 0; fi
[ -x /bin/busybox ] || { echo "base-image: /bin/busybox missing: apt-get install busybox-static" >&2; exit 1; }
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
root=$dir/root
mkdir -p "$root"/{bin,etc,tmp,home,workspace,proc,sys,dev,root}
cp /bin/busybox "$root/bin/busybox"
for app in $("$root/bin/busybox" --list); do [ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"; done
printf 'root:x:0:0:root:/root:/bin/sh\nbottle:x:1000:1000:bottle:/home/bottle:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nbottle:x:1000:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
tar -C "$root" -cf "$dir/root.tar" .
chmod 755 "$dir"; chmod 644 "$dir/root.tar"
podman_as import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$dir/root.tar" "$tag" >/dev/null
echo "base-image: imported $tag${user:+ for $user}" >&2
