#!/usr/bin/env bash
# Stops the cluster hack/kube-up.sh started and puts the host back: the
# daemons, the pods' processes, the sysctls kubelet changed, the fixed paths
# it and containerd use, the network namespace. It kills only what the
# cluster started, each by its process id: the daemons by the ones kube-up.sh
# kept, the shims by the ones containerd kept in its state folder, the pods'
# processes by their network namespaces.
set -uo pipefail
ns=${BOTTLE_KUBE_NETNS:-bottle-kube}
run=${BOTTLE_KUBE_RUN:-/tmp/bottle-kube}

daemons="kube-router kubelet scheduler controller-manager apiserver containerd etcd"
# The shims containerd started (runc's and gVisor's), each of which wrote
# its process id into its task's folder; one grouping a pod's containers
# wrote it once. Read now, while containerd's state is there.
shims=""
for f in /run/containerd/io.containerd.runtime.v2.task/*/*/shim.pid; do
	[ -f "$f" ] || continue
	pid=$(cat "$f")
	id=$(basename "$(dirname "$f")")
	# Only a process that is still that task's shim (its id on its command line).
	tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$id" && shims="$shims $pid"
done
for d in $daemons; do
	[ -f "$run/$d.pid" ] && kill "$(cat "$run/$d.pid")" 2>/dev/null
done
sleep 1
for d in $daemons; do
	[ -f "$run/$d.pid" ] && kill -9 "$(cat "$run/$d.pid")" 2>/dev/null
	rm -f "$run/$d.pid"
done
# What ran in the pods: shims and their children, found by the namespace.
if [ -e "/run/netns/$ns" ]; then
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
fi
# The pods' own network namespaces (CNI names them cni-*): a pod still
# being deleted when the cluster stopped leaves its processes there.
for pns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
	ip netns pids "$pns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$pns" 2>/dev/null
done
for pid in $shims; do kill -9 "$pid" 2>/dev/null; done
if [ -f "$run/sysctls" ]; then
	while IFS== read -r k v; do sysctl -qw "$k=$v"; done < "$run/sysctls"
fi
# Mounts left under the cluster's folders, deepest first.
grep -E " ($run|/run/containerd|/var/lib/kubelet)" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
rm -rf /var/log/containers /var/log/pods /var/lib/kubelet /var/lib/cni/results /run/containerd /tmp/hostpath_pv
ip netns del "$ns" 2>/dev/null
rm -rf "$run"
exit 0
