#!/usr/bin/env bash
# Starts what the end-to-end tests need, as root on a fresh machine: the rootful
# Podman API service, an unprivileged user with its own rootless service, and the
# base image in both stores. Prints the environment the tests read. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
user=${BOTTLE_E2E_USER:-bottletest}
run=${BOTTLE_E2E_RUN:-/tmp/bottle-e2e}
mkdir -p "$run"

"$here/setup-host.sh"
# What the tests drive the product with: a terminal multiplexer, and curl for readiness.
for tool in tmux curl git; do
	command -v "$tool" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null; }
done
# An SSH server the git gate tests start on loopback, each its own; the
# package's own service is kept from starting (policy-rc.d) and disabled.
if [ ! -x /usr/sbin/sshd ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
	apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null
	rm -f /usr/sbin/policy-rc.d
	command -v systemctl >/dev/null && systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
fi

wait_sock() { # socket, log
	for _ in $(seq 1 100); do
		curl -sf --unix-socket "$1" http://d/_ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "e2e-services: no answer on $1; log:" >&2; tail -20 "$2" >&2; return 1
}

# A registry on loopback, so pulling (with progress) is tested without the internet.
command -v docker-registry >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null; }
registry=127.0.0.1:5000
if ! curl -sf "http://$registry/v2/" >/dev/null 2>&1; then
	mkdir -p "$run/registry"
	cat > "$run/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $run/registry
http:
  addr: $registry
YML
	(cd / && exec setsid docker-registry serve "$run/registry.yml") > "$run/registry.log" 2>&1 < /dev/null &
	for _ in $(seq 100); do curl -sf "http://$registry/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
fi
mkdir -p /etc/containers/registries.conf.d
printf '# the end-to-end tests'"'"' registry on loopback, plain HTTP\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$registry" > /etc/containers/registries.conf.d/50-bottle-e2e.conf

# Rootful service (started after the registry's configuration: it reads it once).
rootful_sock=/run/podman/podman.sock
if ! curl -sf --unix-socket "$rootful_sock" http://d/_ping >/dev/null 2>&1; then
	mkdir -p /run/podman
	# From /: a service that outlives the checkout it was started from
	# (conmon's "Failed to get working directory") fails every start.
	(cd / && exec setsid podman system service --time=0 "unix://$rootful_sock") >"$run/rootful-service.log" 2>&1 < /dev/null &
	wait_sock "$rootful_sock" "$run/rootful-service.log"
fi

# Rootless user and service.
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
uid=$(id -u "$user")
grep -q "^$user:" /etc/subuid || usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$user"
xdg=/run/user/$uid
mkdir -p "$xdg/podman"; chown -R "$user:" "$xdg"; chmod 700 "$xdg"
rootless_sock=$xdg/podman/podman.sock
if ! curl -sf --unix-socket "$rootless_sock" http://d/_ping >/dev/null 2>&1; then
	# Nothing of the user's runs any more (their service was killed, not stopped): do
	# what logind does at a last logout and empty the runtime folder. Left as it is,
	# it says containers run whose processes are gone, and rootless Podman then
	# refuses to start ("invalid internal status ... podman system migrate").
	if ! pgrep -u "$user" >/dev/null; then
		find "$xdg" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +
		mkdir -p "$xdg/podman"; chown -R "$user:" "$xdg"
	fi
	env -u CONTAINER_HOST su "$user" -s /bin/sh -c "cd /; XDG_RUNTIME_DIR=$xdg setsid podman system service --time=0 unix://$rootless_sock" >"$run/rootless-service.log" 2>&1 < /dev/null &
	wait_sock "$rootless_sock" "$run/rootless-service.log"
fi

"$here/base-image.sh"
"$here/base-image.sh" "$user"


echo "BOTTLE_E2E_USER=$user BOTTLE_E2E_REGISTRY=$registry"
