#!/usr/bin/env bash
# Part of make bench: a warm start (bottle start claiming a warm bottle,
# docs/warm.md) to the agent's exit, against podman run --rm of the same
# image, alternating, in the same run. Before each round the pool is full
# and its keeper done, so neither side pays for the other's refill; the
# keeper a start runs in the background is part of that start's cost.
# Expects bench.sh's environment: BENCH_ROWS, BENCH_WORK, XDG_STATE_HOME.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${BENCH_RUNS:-10}
img=localhost/bottle-base:latest
cfg=$BENCH_WORK/warm.toml
printf '[agents.warm]\nextends = "shell"\nimage = "%s"\nwarm = 1\n' "$img" > "$cfg"
bottle() { "$repo/bin/bottle" --config "$cfg" "$@"; }
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$BENCH_ROWS"; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
timeit() { # command...: prints seconds
	local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "bench: $* failed" >&2; exit 1; }; e=$(date +%s.%N)
	awk -v s="$s" -v e="$e" 'BEGIN {printf "%.4f\n", e - s}'
}
# ready waits for a warm bottle to claim and for no keeper to be at work.
ready() {
	for _ in $(seq 600); do
		if bottle ls --json | grep -q '"status": "warm"'; then
			flock "$XDG_STATE_HOME/bottle/.warm.lock" true
			return
		fi
		sleep 0.1
	done
	echo "bench: no warm bottle after 60 s: $(cat "$XDG_STATE_HOME/bottle/.warm.log" 2>/dev/null)" >&2
	exit 1
}
cleanup() { for id in $(bottle ls --json | awk -F'"' '/"identity"/ {print $4}'); do bottle rm "$id" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
cd "$BENCH_WORK/wd"
bottle warm >/dev/null
ready
# One warm-up each (the first start builds nothing: the image is there).
timeit podman run --rm "$img" true >/dev/null; timeit bottle start --yes warm -- -c true >/dev/null
: > "$BENCH_WORK/wpodman.t"; : > "$BENCH_WORK/warm.t"
for _ in $(seq "$runs"); do
	ready
	timeit podman run --rm "$img" true >> "$BENCH_WORK/wpodman.t"
	ready
	timeit bottle start --yes warm -- -c true >> "$BENCH_WORK/warm.t"
done
ready
p=$(median < "$BENCH_WORK/wpodman.t"); w=$(median < "$BENCH_WORK/warm.t")
ratio=$(awk -v w="$w" -v p="$p" 'BEGIN {printf "%.2f", w / p}')
printf '%-44s %10s\n' "bottle start --yes warm -- -c true (claimed)" "$w"
printf '%-44s %10s  (goal: at most 0.5)\n' "ratio warm start / podman run" "$ratio"
row "warm start / podman run --rm (median of $runs alternating rounds)" "$p s" "$w s" "$ratio" "at most 0.5"
