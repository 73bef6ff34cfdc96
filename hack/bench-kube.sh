#!/usr/bin/env bash
# make bench's cluster part: on the test cluster (hack/kube-up.sh, in a
# network namespace of its own; every command aimed at it runs there), the
# time from `bottle start` to the agent's first output, against a bare pod
# of the same image (kubectl run --rm -i) to its first output, medians of
# alternating rounds. Adds its rows to BENCH_ROWS; a cluster that does not
# start, or is another run's, is said, not counted. Stops the cluster after.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${BENCH_KUBE_RUNS:-5}
ns=${BOTTLE_KUBE_NETNS:-bottle-kube}
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$BENCH_ROWS"; }
fig="cluster: cold start to the agent's first output, median"
if [ "$(id -u)" -ne 0 ]; then
	row "$fig" "-" "-" "not measured: the test cluster needs root" "at most 4 s"
	exit 0
fi
run=${BOTTLE_KUBE_RUN:-/tmp/bottle-kube}
if [ -f "$run/apiserver.pid" ] && kill -0 "$(cat "$run/apiserver.pid")" 2>/dev/null; then
	# Another run's (end-to-end tests check that the cluster holds no
	# bottle but theirs): not this bench's to use, nor to stop.
	row "$fig" "-" "-" "not measured: the test cluster is another run's" "at most 4 s"
	exit 0
fi
if ! kcfg=$(./hack/kube-up.sh 2>"$BENCH_WORK/kube-up.log"); then
	row "$fig" "-" "-" "not measured: the test cluster did not start ($BENCH_WORK/kube-up.log)" "at most 4 s"
	exit 0
fi
trap '"$repo/hack/kube-down.sh" >/dev/null 2>&1' EXIT
kbin=$(./hack/kube-build.sh | cut -d' ' -f1)
img=localhost/bottle-base:latest
podman save --format docker-archive -o "$BENCH_WORK/base-docker.tar" "$img" >/dev/null
ctr --address /run/containerd/containerd.sock -n k8s.io images import "$BENCH_WORK/base-docker.tar" >/dev/null
in_ns() { nsenter --net="/run/netns/$ns" env KUBECONFIG="$kcfg" "$@"; }
cfg=$BENCH_WORK/kube.toml
cat > "$cfg" <<EOF
[kubernetes]
namespace = "default"
import = ["ctr", "--address", "/run/containerd/containerd.sock", "-n", "k8s.io", "images", "import", "{archive}"]
[agents.k]
image = "$img"
command = ["/bin/sh", "-c"]
memory = "256m"
engine = "kubernetes"
EOF
mkdir -p "$BENCH_WORK/kwd"
cd "$BENCH_WORK/kwd"
# first COMMAND...: seconds from its start to its first line of output.
first() {
	local s; s=$(date +%s.%N)
	"$@" 2>/dev/null < /dev/null | { IFS= read -r _ || exit 1; e=$(date +%s.%N); cat >/dev/null; awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f\n", e - s}'; }
}
bottle() { in_ns env XDG_STATE_HOME="$BENCH_WORK/kstate" "$repo/bin/bottle" --config "$cfg" start --yes k -- 'echo first-output'; }
bare() { in_ns "$kbin/kubectl" run "bench-$RANDOM$RANDOM" --rm -i --restart=Never --quiet --image="$img" --image-pull-policy=IfNotPresent --command -- /bin/sh -c 'echo first-output'; }
# A warm-up each (the sidecar image reaches the cluster); the node lists
# what it holds a few seconds later, and a start looks there first.
first bottle >/dev/null; first bare >/dev/null; sleep 15
: > kb.t; : > kp.t
for _ in $(seq "$runs"); do
	first bare >> kp.t
	first bottle >> kb.t
done
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) {print "-"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }
p=$(median < kp.t); b=$(median < kb.t)
if [ "$(wc -l < kb.t)" -ne "$runs" ] || [ "$(wc -l < kp.t)" -ne "$runs" ]; then
	row "$fig" "$p s" "$b s" "not measured: $(wc -l < kb.t) of $runs starts, $(wc -l < kp.t) of $runs bare pods gave output" "at most 4 s"
	exit 0
fi
row "$fig of $runs (bare pod: kubectl run --rm -i)" "$p s" "$b s" "$(awk -v b="$b" -v p="$p" 'BEGIN {printf "%.2f", b / p}')" "at most 4 s"

# Warm claims: a profile that keeps one warm pod (docs/warm.md). The keeper
# makes the first; each claim's start runs the keeper again, which makes the
# next warm pod once the claimed agent runs. Before each round the bench
# waits (two minutes at most) until bottle ls --json lists a warm bottle
# ready to be claimed (status warm: made whole, its pod running, no command
# holding it), then for the keeper that made it to end (it holds the pool's
# lock until then), so the claim measured found a warm pod ready and shares
# the machine with no keeper at work. A round counts only if its start says
# it claimed one (--debug: the plan's line says warm=true).
wfig="cluster: warm claim to the agent's first output, p90 of 10"
printf '[agents.kw]\nextends = "k"\nwarm = 1\n' >> "$cfg"
kbottle() { in_ns env XDG_STATE_HOME="$BENCH_WORK/kstate" "$repo/bin/bottle" --config "$cfg" "$@"; }
warmready() {
	local i
	for i in $(seq 240); do
		if kbottle ls --json 2>/dev/null | grep -q '"status": *"warm"'; then
			flock -w 60 "$BENCH_WORK/kstate/bottle/.warm.lock" true 2>/dev/null
			return 0
		fi
		sleep 0.5
	done
	return 1
}
kbottle warm --engine kubernetes > "$BENCH_WORK/kwarm.log" 2>&1
: > kw.t
claims=0
for i in $(seq 10); do
	warmready || break
	s=$(date +%s.%N)
	kbottle --debug start --yes kw -- 'echo first-output' 2> "$BENCH_WORK/kwarm-$i.err" < /dev/null | {
		IFS= read -r _ || exit 1; e=$(date +%s.%N); cat >/dev/null; awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f\n", e - s}'; } > "$BENCH_WORK/kwarm-$i.t"
	if grep -q 'msg=planned.* warm=true ' "$BENCH_WORK/kwarm-$i.err"; then
		cat "$BENCH_WORK/kwarm-$i.t" >> kw.t
		claims=$((claims + 1))
	fi
done
# Nothing warm is left on the cluster the bench stops.
warmready > /dev/null
for id in $(kbottle ls --json 2>/dev/null | grep -o '"identity": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'); do kbottle rm "$id" > /dev/null 2>&1; done
p90() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) {print "-"; exit} i=int(NR*0.9+0.999); printf "%.3f", a[i]}'; }
w=$(p90 < kw.t)
if [ "$claims" -lt 10 ]; then
	row "$wfig" "$b s" "$w s" "not measured: $claims of 10 starts claimed a warm pod ($BENCH_WORK/kwarm-*.err)" "at most 1 s"
else
	row "$wfig (baseline: the cold start's median)" "$b s" "$w s" "$(awk -v b="$b" -v w="$w" 'BEGIN {printf "%.2f", w / b}')" "at most 1 s"
fi
