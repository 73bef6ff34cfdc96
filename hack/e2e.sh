#!/usr/bin/env bash
# Runs the end-to-end tests against real Podman services: rootful as root,
# and rootless as an unprivileged user the setup creates. Fails when any test
# fails or is skipped, or when a run executes no test.
set -euo pipefail
cd "$(dirname "$0")/.."
tags="remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp e2e"
run=${BOTTLE_E2E_RUN:-/tmp/bottle-e2e}
user=${BOTTLE_E2E_USER:-bottletest}
parallel=${BOTTLE_E2E_PARALLEL:-2}
# Each phase names itself (BOTTLE_E2E_PHASE); a test says what it needs
# beside it (cmd/bottle/e2e_phases_test.go), and runs where that is.
# BOTTLE_E2E_PHASES picks phases (rootful rootless podman5 podman5-rootless kube);
# all by default, as CI runs them.
phases=" ${BOTTLE_E2E_PHASES:-rootful rootless podman5 podman5-rootless kube} "
want() { [[ "$phases" == *" $1 "* ]]; }

if [ "$(id -u)" -ne 0 ]; then
	echo "e2e: run as root: it starts the rootful service and a rootless user's service" >&2
	exit 1
fi
./hack/e2e-services.sh
mkdir -p "$run/bin"
# On a new machine the cluster's binaries take the better part of an hour to
# build: the build starts now, at the lowest priority, beside the Podman
# phases (whose tests mostly wait), and the kube phase's own call waits for
# it (hack/kube-build.sh takes a lock), where it would otherwise start it.
if want kube; then
	here=$PWD
	(cd / && exec setsid nice -n 19 "$here/hack/kube-build.sh") > "$run/kube-build.log" 2>&1 < /dev/null &
fi
CGO_ENABLED=0 go test -c -tags "$tags" -o "$run/bin/e2e.test" ./cmd/bottle
cp bin/bottle "$run/bin/bottle"
# The sidecar binary beside it, as make install puts it: the containers run it.
cp bin/bottle-sidecar "$run/bin/bottle-sidecar"
CGO_ENABLED=0 go build -o "$run/bin/probe" ./cmd/bottle/testdata/probe
rm -rf "$run/benign" && cp -r internal/dlp/testdata/benign "$run/benign"
chmod -R a+rX "$run/benign"
# The real Claude Code, from the npm registry: its native binary needs only glibc.
if ! [ -x "$run/npm/node_modules/@anthropic-ai/claude-code-linux-x64/claude" ]; then
	command -v npm >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	mkdir -p "$run/npm" && (cd "$run/npm" && npm install --silent --no-audit --no-fund @anthropic-ai/claude-code >/dev/null)
fi
# The real Codex CLI: a static binary.
if ! [ -x "$run/npm/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex" ]; then
	(cd "$run/npm" && npm install --silent --no-audit --no-fund @openai/codex >/dev/null)
fi
# The real Gemini CLI: a bundle for this machine's Node.js.
if ! [ -f "$run/npm/node_modules/@google/gemini-cli/bundle/gemini.js" ]; then
	(cd "$run/npm" && npm install --silent --no-audit --no-fund @google/gemini-cli >/dev/null)
fi
chmod -R a+rX "$run/npm"
export BOTTLE_E2E_PROBE="$run/bin/probe" BOTTLE_E2E_CORPUS="$run/benign" BOTTLE_E2E_CLAUDE="$run/npm/node_modules/@anthropic-ai/claude-code-linux-x64/claude" BOTTLE_E2E_CODEX="$run/npm/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex" BOTTLE_E2E_GEMINI="$run/npm/node_modules/@google/gemini-cli/bundle"
chmod 755 "$run" "$run/bin" "$run/bin/"*

# The images earlier runs left (a sidecar image per bottle binary, the tests'
# builds) fill a working machine's disk: each run starts from the base image.
# Only when the disk runs short: another run on the machine may be using
# the images it would take.
cat > "$run/bin/prune-images" <<'SH'
#!/bin/sh
free=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR==2 {print $4}')
[ "${free:-0}" -lt $((30 * 1024 * 1024)) ] || exit 0
podman "$@" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep '^localhost/bottle-' | grep -v '^localhost/bottle-base:' |
	while read -r img; do podman "$@" rmi "$img" >/dev/null 2>&1 || true; done
SH
chmod 755 "$run/bin/prune-images"
"$run/bin/prune-images"
env -u CONTAINER_HOST su "$user" -s /bin/sh -c "cd /tmp && XDG_RUNTIME_DIR=/run/user/$(id -u "$user") $run/bin/prune-images" < /dev/null

total_pass=0 total_fail=0
summarize() { # name, log, exit code
	local pass fail skip
	pass=$(grep -c -- '^--- PASS' "$2" || true)
	fail=$(grep -c -- '--- FAIL' "$2" || true)
	skip=$(grep -c -- '--- SKIP' "$2" || true)
	echo "e2e $1: $pass passed, $fail failed, $skip skipped (exit $3)"
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail + skip))
	if [ "$3" -ne 0 ] || [ "$skip" -ne 0 ] || [ "$pass" -eq 0 ]; then total_fail=$((total_fail + 1)); fi
}

set +e
if want rootful; then
echo "=== e2e rootful (podman $(podman version --format '{{.Server.Version}}' 2>/dev/null)) [$(date -u +%T)]"
env -u CONTAINER_HOST BOTTLE_E2E_PHASE=rootful BOTTLE_BIN="$run/bin/bottle" "$run/bin/e2e.test" -test.v -test.timeout 30m -test.parallel "$parallel" "$@" 2>&1 | tee "$run/rootful.log"
summarize rootful "$run/rootful.log" "${PIPESTATUS[0]}"
fi

uid=$(id -u "$user")
extra=$(printf '%q ' "$@")
if want rootless; then
echo "=== e2e rootless as $user [$(date -u +%T)]"
env -u CONTAINER_HOST su "$user" -s /bin/sh -c "cd /tmp && XDG_RUNTIME_DIR=/run/user/$uid BOTTLE_E2E_PHASE=rootless BOTTLE_BIN=$run/bin/bottle BOTTLE_E2E_PROBE=$BOTTLE_E2E_PROBE BOTTLE_E2E_CORPUS=$BOTTLE_E2E_CORPUS BOTTLE_E2E_CLAUDE=$BOTTLE_E2E_CLAUDE BOTTLE_E2E_CODEX=$BOTTLE_E2E_CODEX BOTTLE_E2E_GEMINI=$BOTTLE_E2E_GEMINI $run/bin/e2e.test -test.v -test.timeout 30m -test.parallel $parallel $extra" 2>&1 < /dev/null | tee "$run/rootless.log"
summarize rootless "$run/rootless.log" "${PIPESTATUS[0]}"
fi

# Podman 5.x, rootful, beside the host's: the bindings must work with both.
# runsc is left out: Podman's API ignores a container's runtime (see pod/conn.go),
# so bottle starts a runsc service from the podman on PATH, which is the host's.
if ! want podman5; then :
elif p5=$(./hack/podman5.sh); then
	if ! podman --remote --url "unix://$p5" image exists localhost/bottle-base:latest; then
		podman save -o "$run/base.tar" localhost/bottle-base:latest >/dev/null
		podman --remote --url "unix://$p5" load -i "$run/base.tar" >/dev/null
	fi
	"$run/bin/prune-images" --remote --url "unix://$p5"
	echo "=== e2e rootful against podman $(podman --remote --url "unix://$p5" version --format '{{.Server.Version}}') [$(date -u +%T)]"
	CONTAINER_HOST="unix://$p5" BOTTLE_E2E_PHASE=podman5 BOTTLE_BIN="$run/bin/bottle" "$run/bin/e2e.test" -test.v -test.timeout 30m -test.parallel "$parallel" "$@" 2>&1 | tee "$run/podman5.log"
	summarize podman5 "$run/podman5.log" "${PIPESTATUS[0]}"
else
	echo "e2e: the Podman 5.x service did not start"
	total_fail=$((total_fail + 1))
fi

# Podman 5.x, rootless, as the test user.
if ! want podman5-rootless; then :
elif p5r=$(./hack/podman5-rootless.sh); then
	su_user() { env -u CONTAINER_HOST su "$user" -s /bin/sh -c "cd /tmp && XDG_RUNTIME_DIR=/run/user/$uid $1" < /dev/null; }
	if ! su_user "podman --remote --url unix://$p5r image exists localhost/bottle-base:latest"; then
		save=$(su_user "mktemp /tmp/bottle-base-XXXXXX.tar")
		su_user "podman save -o $save localhost/bottle-base:latest >/dev/null && podman --remote --url unix://$p5r load -i $save >/dev/null; rm -f $save"
	fi
	su_user "$run/bin/prune-images --remote --url unix://$p5r"
	echo "=== e2e rootless as $user against podman $(su_user "podman --remote --url unix://$p5r version --format '{{.Server.Version}}'") [$(date -u +%T)]"
	su_user "CONTAINER_HOST=unix://$p5r BOTTLE_E2E_PHASE=podman5-rootless BOTTLE_BIN=$run/bin/bottle BOTTLE_E2E_PROBE=$BOTTLE_E2E_PROBE BOTTLE_E2E_CORPUS=$BOTTLE_E2E_CORPUS BOTTLE_E2E_CLAUDE=$BOTTLE_E2E_CLAUDE BOTTLE_E2E_CODEX=$BOTTLE_E2E_CODEX BOTTLE_E2E_GEMINI=$BOTTLE_E2E_GEMINI $run/bin/e2e.test -test.v -test.timeout 30m -test.parallel $parallel $extra" 2>&1 | tee "$run/podman5-rootless.log"
	summarize podman5-rootless "$run/podman5-rootless.log" "${PIPESTATUS[0]}"
else
	echo "e2e: the rootless Podman 5.x service did not start"
	total_fail=$((total_fail + 1))
fi
# Kubernetes: a real single-node cluster in a network namespace of its own
# (hack/kube-up.sh; its binaries are built once per machine), the tests run
# inside that namespace.
t0=$SECONDS
if ! want kube; then :
elif kcfg=$(./hack/kube-up.sh); then
	kbin=$(./hack/kube-build.sh | cut -d' ' -f1)
	echo "=== e2e against kubernetes $("$kbin/kubectl" version --client -o yaml | sed -n 's/ *gitVersion: //p' | head -1) (cluster up in $((SECONDS - t0)) s) [$(date -u +%T)]"
	# The agents' base image, on the cluster (no registry: imported).
	podman save --format docker-archive -o "$run/base-docker.tar" localhost/bottle-base:latest >/dev/null
	ctr --address /run/containerd/containerd.sock -n k8s.io images import "$run/base-docker.tar" >/dev/null
	nsenter --net=/run/netns/bottle-kube env BOTTLE_BIN="$run/bin/bottle" BOTTLE_KUBECTL="$kbin/kubectl" BOTTLE_KUBECONFIG="$kcfg" BOTTLE_E2E_PROBE="$BOTTLE_E2E_PROBE" \
		BOTTLE_E2E_PHASE=kube "$run/bin/e2e.test" -test.v -test.timeout 30m "$@" 2>&1 | tee "$run/kube.log"
	summarize kubernetes "$run/kube.log" "${PIPESTATUS[0]}"
else
	echo "e2e: the Kubernetes cluster did not start"
	total_fail=$((total_fail + 1))
fi
if want kube; then
	./hack/kube-down.sh
	echo "e2e: the Kubernetes part took $((SECONDS - t0)) s"
fi
set -e

echo "e2e: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
