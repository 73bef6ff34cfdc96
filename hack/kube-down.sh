#!/usr/bin/env bash
# Stops the cluster hack/kube-up.sh started and puts the host back: the
# daemons, the pods' processes, the sysctls kubelet changed, the fixed paths
# it and containerd use, the network namespace.
set -uo pipefail
ns=${BOTTLE_KUBE_NETNS:-bottle-kube}
run=${BOTTLE_KUBE_RUN:-/tmp/bottle-kube}

for d in kubelet scheduler controller-manager apiserver containerd etcd; do
	[ -f "$run/$d.pid" ] && kill "$(cat "$run/$d.pid")" 2>/dev/null
done
sleep 1
for d in kubelet scheduler controller-manager apiserver containerd etcd; do
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
pkill -9 -f containerd-shim 2>/dev/null
if [ -f "$run/sysctls" ]; then
	while IFS== read -r k v; do sysctl -qw "$k=$v"; done < "$run/sysctls"
fi
# Mounts left under the cluster's folders, deepest first.
grep -E " ($run|/run/containerd|/var/lib/kubelet)" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
rm -rf /var/log/containers /var/log/pods /var/lib/kubelet /var/lib/cni/results /run/containerd /tmp/hostpath_pv
ip netns del "$ns" 2>/dev/null
rm -rf "$run"
exit 0
