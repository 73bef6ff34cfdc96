#!/usr/bin/env bash
# make bench: the time from `bottle start --yes shell -- true` to exit,
# against `podman run --rm` of the same image, measured in the same run;
# then the egress sidecars against their floors. Each part adds its
# figures to one table (BENCH_ROWS: figure, baseline, bottle's, ratio,
# goal, tab-separated), printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${BENCH_RUNS:-10}
img=localhost/bottle-base:latest
./hack/base-image.sh
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export BENCH_ROWS=$work/rows.tsv BENCH_WORK=$work
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$BENCH_ROWS"; }
# The bottle's working directory lies beside the state folder, never
# around it (bottle refuses that); as root, it is a person's (uid 1000).
mkdir "$work/wd"
[ "$(id -u)" -ne 0 ] || chown 1000:1000 "$work" "$work/wd"
cfg=$work/config.toml
printf '[agents.shell]\nimage = "%s"\n' "$img" > "$cfg"
export XDG_STATE_HOME=$work/state

# Both go through a running service; start one if none answers, as bottle would.
sock=/run/podman/podman.sock; [ "$(id -u)" -eq 0 ] || sock=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/podman/podman.sock
if ! curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
	mkdir -p "$(dirname "$sock")"
	podman system service --time=0 "unix://$sock" >/dev/null 2>&1 &
	svc=$!; trap 'kill $svc; rm -rf "$work"' EXIT
	for _ in $(seq 100); do curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
timeit() { # command...: prints seconds
	local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "bench: $* failed" >&2; exit 1; }; e=$(date +%s.%N)
	awk -v s="$s" -v e="$e" 'BEGIN {printf "%.4f\n", e - s}'
}
# torndown: waits for the teardowns bottle hands off once an agent's exit
# code is back, so the next measure runs on a quiet machine.
torndown() {
	for _ in $(seq 600); do
		[ -z "$(ls -A "$XDG_STATE_HOME/bottle" 2>/dev/null | grep -v '^\.' || true)" ] && return 0
		sleep 0.1
	done
	echo "bench: a teardown is not done after a minute: $(ls -A "$XDG_STATE_HOME/bottle")" >&2; exit 1
}
# BENCH_BEFORE names another bottle binary (an earlier commit's) measured
# in the same run, alternating with the others, for before-and-after ratios
# (with the bottle-sidecar built with it beside it, when it has one).
before=${BENCH_BEFORE:-}
cd "$work/wd"
# One warm-up each, then alternate so drift in the machine hits both alike.
timeit podman run --rm "$img" true >/dev/null; timeit "$repo/bin/bottle" --config "$cfg" start --yes shell -- -c true >/dev/null; torndown
[ -z "$before" ] || { timeit "$before" --config "$cfg" start --yes shell -- -c true >/dev/null; torndown; }
: > podman.t; : > bottle.t; : > before.t
for _ in $(seq "$runs"); do
	timeit podman run --rm "$img" true >> podman.t
	timeit "$repo/bin/bottle" --config "$cfg" start --yes shell -- -c true >> bottle.t
	torndown
	[ -z "$before" ] || { timeit "$before" --config "$cfg" start --yes shell -- -c true >> before.t; torndown; }
done
p=$(median < podman.t); b=$(median < bottle.t)
ratio=$(awk -v b="$b" -v p="$p" 'BEGIN {printf "%.4f", b / p}')
printf '%-44s %10s\n' "measure ($runs runs, median)" "seconds"
printf '%-44s %10s\n' "podman run --rm IMAGE true (baseline)" "$p"
printf '%-44s %10s\n' "bottle start --yes shell -- -c true" "$b"
printf '%-44s %10.2f  (goal: at most 1.2)\n' "ratio bottle / podman run" "$ratio"
row "cold start / bare podman run --rm (median of $runs alternating)" "$p s" "$b s" "$(printf %.2f "$ratio")" "at most 1.2"
if [ -n "$before" ]; then
	bb=$(median < before.t)
	printf '%-44s %10s %10.2f\n' "before: $(basename "$before")" "$bb" "$(awk -v b="$bb" -v p="$p" 'BEGIN {print b / p}')"
	row "  before ($(basename "$before")), same run" "$p s" "$bb s" "$(awk -v b="$bb" -v p="$p" 'BEGIN {printf "%.2f", b / p}')" "-"
fi

# A warm start: bottle start claiming a bottle made ahead (hack/bench-warm.sh).
"$repo/hack/bench-warm.sh"

# Many at once: rootful here; rootless as the test user when there is one
# with a Podman service (hack/e2e-services.sh makes them).
echo
many() { # label, bottle binary: runs hack/bench-many.sh, as the test user when rootless
	if [ "$1" = rootful ]; then
		BENCH_ROWS=$BENCH_ROWS BENCH_MANY_NAME=$(basename "$2") "$repo/hack/bench-many.sh" "$2" "$1"
		return
	fi
	local user=${BENCH_USER:-bottletest} uid dir
	uid=$(id -u "$user")
	dir=$(mktemp -d); chmod 755 "$dir"
	cp "$2" "$dir/bottle"; cp "$repo/hack/bench-many.sh" "$dir/"
	# The sidecar binary beside it, when there is one: what the containers run.
	[ ! -f "$(dirname "$2")/bottle-sidecar" ] || cp "$(dirname "$2")/bottle-sidecar" "$dir/"; touch "$dir/rows.tsv"; chown "$user" "$dir/rows.tsv"
	env -u CONTAINER_HOST su "$user" -s /bin/sh -c "cd /tmp && XDG_RUNTIME_DIR=/run/user/$uid BENCH_ROWS=$dir/rows.tsv BENCH_MANY_NAME=$(basename "$2") BENCH_MANY=${BENCH_MANY:-20} BENCH_MANY_ROUNDS=${BENCH_MANY_ROUNDS:-2} $dir/bench-many.sh $dir/bottle rootless" < /dev/null
	cat "$dir/rows.tsv" >> "$BENCH_ROWS"; rm -rf "$dir"
}
if [ -z "${BENCH_SKIP_MANY:-}" ]; then
	many rootful "$repo/bin/bottle"
	[ -z "$before" ] || many rootful "$before"
	user=${BENCH_USER:-bottletest}
	# As root, the rootless figure is measured too: the test user and
	# their service are made and started when missing (idempotent).
	[ "$(id -u)" -ne 0 ] || [ -n "${BENCH_USER:-}" ] || "$repo/hack/e2e-services.sh" > "$work/services.log" 2>&1 ||
		{ echo "bench: hack/e2e-services.sh failed:" >&2; tail -5 "$work/services.log" >&2; }
	if [ "$(id -u)" -eq 0 ] && id "$user" >/dev/null 2>&1 && curl -sf --unix-socket "/run/user/$(id -u "$user")/podman/podman.sock" http://d/_ping >/dev/null 2>&1; then
		many rootless "$repo/bin/bottle"
		[ -z "$before" ] || many rootless "$before"
	else
		row "20 at once / 20 podman run --rm at once, wall, rootless" "-" "-" "not measured (no test user $user with a Podman service: hack/e2e-services.sh)" "at most 1.5"
	fi
fi

# The egress sidecars: real proxy and gateway processes, upstreams on loopback.
echo
cd "$repo"
CGO_ENABLED=0 go build -tags "remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp" -o bin/egressbench ./cmd/bottle/testdata/egressbench
# The sidecar binary: what the sidecars' containers run.
[ -n "${BENCH_SKIP_EGRESS:-}" ] || ./bin/egressbench bin/bottle-sidecar

# The cluster: cold starts on the test cluster.
[ -n "${BENCH_SKIP_KUBE:-}" ] || ./hack/bench-kube.sh

# The table: every figure, its baseline and its goal. Figures this bench
# cannot take on this machine say so.
have() { grep -q "^$1" "$BENCH_ROWS" 2>/dev/null; }
have "cluster: warm claim" || row "cluster: warm claim to the agent's first output, p90 of 10" "-" "-" "not measured by make bench (needs the test cluster)" "at most 1 s"
have "cluster: cold start" || row "cluster: cold start to the agent's first output, median" "-" "-" "not measured by make bench (needs the test cluster)" "at most 4 s"
echo
echo "make bench, $(date -u +%Y-%m-%d), $(nproc) CPUs, podman $(podman version --format '{{.Server.Version}}' 2>/dev/null)"
{ printf 'figure\tbaseline\tbottle\tratio\tgoal\n'; cat "$BENCH_ROWS"; } | column -t -s "$(printf '\t')"
