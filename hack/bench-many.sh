#!/usr/bin/env bash
# make bench, many at once: N bottles (`bottle start --yes shell -- -c true`,
# each in a working directory of its own) started at the same moment,
# against N `podman run --rm IMAGE true` started at the same moment, in
# alternating rounds. Prints the wall time of each batch (until every exit
# code is back; for the bottles also until every teardown is done) and the
# p50 and p90 of each start; fails when a start fails or a bottle leaves a
# pod, a container or state behind. Run by hack/bench.sh as root, and as the
# rootless test user. Usage: bench-many.sh BOTTLE_BINARY LABEL
set -euo pipefail
bin=$1 label=$2
n=${BENCH_MANY:-20}
rounds=${BENCH_MANY_ROUNDS:-2}
img=localhost/bottle-base:latest
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ "$(id -u)" -ne 0 ] || chown 1000:1000 "$work"
cfg=$work/config.toml
printf '[agents.shell]\nimage = "%s"\n' "$img" > "$cfg"
export XDG_STATE_HOME=$work/state
root=$XDG_STATE_HOME/bottle
rootlabel=$(printf %s "$root" | sha256sum | cut -c1-16)
for i in $(seq "$n"); do
	mkdir -p "$work/w$i"
	[ "$(id -u)" -ne 0 ] || chown 1000:1000 "$work/w$i"
done

now() { date +%s.%N; }
# one I OUT COMMAND...: runs one start in w$I, writes its seconds (or FAIL) to OUT.
one() {
	local i=$1 out=$2 s e; shift 2
	s=$(now)
	if (cd "$work/w$i" && "$@") > "$out.log" 2>&1; then
		e=$(now); awk -v s="$s" -v e="$e" 'BEGIN {printf "%.4f\n", e - s}' > "$out"
	else
		echo FAIL > "$out"
	fi
}
# batch KIND COMMAND...: N at once; appends the wall time to KIND.wall and each start's to KIND.t.
batch() {
	local kind=$1 s e; shift
	rm -f "$work/$kind".one.*
	s=$(now)
	for i in $(seq "$n"); do one "$i" "$work/$kind.one.$i" "$@" & done
	wait
	e=$(now)
	awk -v s="$s" -v e="$e" 'BEGIN {printf "%.4f\n", e - s}' >> "$work/$kind.wall"
	for i in $(seq "$n"); do
		if [ "$(cat "$work/$kind.one.$i")" = FAIL ]; then
			echo "bench: $kind start $i failed:" >&2; tail -5 "$work/$kind.one.$i.log" >&2
			exit 1
		fi
		cat "$work/$kind.one.$i" >> "$work/$kind.t"
	done
}
# torndown: waits for every teardown to be done, then nothing of the bottles may be left.
torndown() {
	local s=$1 e
	for _ in $(seq 1200); do
		[ -z "$(ls -A "$root" 2>/dev/null | grep -v '^\.' || true)" ] && break
		sleep 0.1
	done
	e=$(now)
	awk -v s="$s" -v e="$e" 'BEGIN {printf "%.4f\n", e - s}' >> "$work/bottle.down"
	local pods ctrs states
	pods=$(podman pod ls -q --filter "label=io.bottle.root=$rootlabel")
	ctrs=$(podman ps -aq --filter "label=io.bottle.root=$rootlabel")
	states=$(ls -A "$root" 2>/dev/null | grep -v '^\.' || true)
	if [ -n "$pods$ctrs$states" ]; then
		echo "bench: left behind: pods [$pods] containers [$ctrs] state [$states]" >&2
		exit 1
	fi
}

: > "$work/podman.t"; : > "$work/bottle.t"; : > "$work/podman.wall"; : > "$work/bottle.wall"; : > "$work/bottle.down"
# A warm-up of each (the sidecar image, made once per bottle binary, is not what is measured).
(cd "$work/w1" && podman run --rm "$img" true && "$bin" --config "$cfg" start --yes shell -- -c true) >/dev/null 2>&1
torndown "$(now)"; : > "$work/bottle.down"
for _ in $(seq "$rounds"); do
	batch podman podman run --rm "$img" true
	s=$(now)
	batch bottle "$bin" --config "$cfg" start --yes shell -- -c true
	torndown "$s"
done

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; printf "%.3f", a[i]}'; }
pw=$(median < "$work/podman.wall"); bw=$(median < "$work/bottle.wall"); bd=$(median < "$work/bottle.down")
printf '%-44s %10s %8s %8s\n' "$n at once, $label ($rounds rounds)" "wall" "p50" "p90"
printf '%-44s %10s %8s %8s\n' "podman run --rm IMAGE true (baseline)" "$pw" "$(pct 50 < "$work/podman.t")" "$(pct 90 < "$work/podman.t")"
printf '%-44s %10s %8s %8s\n' "bottle start --yes shell -- -c true" "$bw" "$(pct 50 < "$work/bottle.t")" "$(pct 90 < "$work/bottle.t")"
printf '%-44s %10s\n' "  ... until every teardown is done" "$bd"
ratio=$(awk -v b="$bw" -v p="$pw" 'BEGIN {printf "%.2f", b / p}')
printf '%-44s %10s  (goal: at most 1.5; none failed, nothing left)\n' "ratio bottle / podman run, wall" "$ratio"
if [ -n "${BENCH_ROWS:-}" ]; then
	name=""; [ "${BENCH_MANY_NAME:-bottle}" = bottle ] || name=" (${BENCH_MANY_NAME})"
	printf '%s\t%s\t%s\t%s\t%s\n' "$n at once / $n podman run --rm at once, wall, $label$name" "$pw s" "$bw s" "$ratio" "at most 1.5" >> "$BENCH_ROWS"
	printf '%s\t%s\t%s\t%s\t%s\n' "  each start's p50, p90, $label$name" "$(pct 50 < "$work/podman.t") s, $(pct 90 < "$work/podman.t") s" "$(pct 50 < "$work/bottle.t") s, $(pct 90 < "$work/bottle.t") s" "-" "-" >> "$BENCH_ROWS"
fi
