#!/usr/bin/env bash
# make demo: builds a small base image from busybox-static and runs one
# bottle with the built-in shell profile on it, printing what the agent sees.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
./hack/base-image.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "a file on the host" > "$work/README"
cd "$work"
echo "--- bottle start --yes shell (in $work)"
"$repo/bin/bottle" --config "$repo/demo/config.toml" start --yes shell -- -c '
echo "hello from $(hostname), uid $(id -u)"
echo "kernel: $(cat /proc/version | cut -d" " -f1-3)"
echo "network interfaces: $(grep -c : /proc/net/dev) (loopback only)"
echo "workspace: $(ls /workspace)"
echo "egress: $(wget -q -O- http://example.com/ 2>&1 | head -1) (no route: the bottle'"'"'s proxy refuses it)"
echo "changed by the agent" > /workspace/README'
echo "--- back on the host, the copy mode left the tree untouched: $(cat "$work/README")"
"$repo/bin/bottle" --config "$repo/demo/config.toml" ls
