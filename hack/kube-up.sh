#!/usr/bin/env bash
# Starts a real single-node Kubernetes for the Kubernetes engine's tests, as
# root, inside a network namespace of its own (tests may reach only loopback
# and namespaces they made): etcd and containerd from Debian, the control
# plane and kubelet from hack/kube-build.sh, a gVisor RuntimeClass, and
# kube-router's firewall, which enforces NetworkPolicy. Prints the
# kubeconfig's path. hack/kube-down.sh stops it and puts the host back.
# Idempotent: a running cluster is left as it is (its firewall started if
# it has none).
# See shared/notes/kubernetes-on-this-host.md for the why of each quirk.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns=${BOTTLE_KUBE_NETNS:-bottle-kube}
run=${BOTTLE_KUBE_RUN:-/tmp/bottle-kube}
node=bottle-node
ip=10.231.0.1 # the node's address, on the namespace's own loopback
podnet=10.231.128.0/24
svcnet=10.231.64.0/24
kcfg=$run/admin.kubeconfig

if [ "$(id -u)" -ne 0 ]; then echo "kube-up: run as root" >&2; exit 1; fi
in_ns() { nsenter --net="/run/netns/$ns" "$@"; }
kubectl() { in_ns "$bin/kubectl" --kubeconfig "$kcfg" "$@"; }

pkgs="etcd-server containerd containernetworking-plugins catatonit openssl ipset iptables"
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
	apt-get update -qq
	# --no-upgrade: a plain install upgrades the host's openssl as a side effect.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade $pkgs >/dev/null
	break
done
read -r bin gbin krbin <<<"$("$here/kube-build.sh")"

start() { # name, command...
	local name=$1; shift
	(cd / && exec setsid nsenter --net="/run/netns/$ns" env PATH="$gbin:$PATH" "$@") >"$run/logs/$name.log" 2>&1 < /dev/null &
	echo $! > "$run/$name.pid"
}
# kube-router's firewall alone (no routing, no service proxy, no CNI), as a
# process in the cluster's namespace: it hooks the namespace's own filter
# table per pod address and rejects what no NetworkPolicy allows. Its
# service range is the API server's.
firewall() {
	start kube-router "$krbin/kube-router" --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
		--kubeconfig="$kcfg" --hostname-override="$node" --service-cluster-ip-range="$svcnet" -v 1
	for _ in $(seq 1 100); do in_ns iptables -S KUBE-ROUTER-FORWARD >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "kube-up: kube-router's firewall did not start:" >&2; tail -20 "$run/logs/kube-router.log" >&2; exit 1
}

if [ -f "$kcfg" ] && ip netns list | grep -qw "$ns" && kubectl get --raw /readyz >/dev/null 2>&1; then
	if ! { [ -f "$run/kube-router.pid" ] && kill -0 "$(cat "$run/kube-router.pid")" 2>/dev/null; }; then
		firewall >&2
	fi
	echo "$kcfg"
	exit 0
fi
"$here/kube-down.sh" >/dev/null 2>&1 || true
mkdir -p "$run"/{pki,etcd,containerd,cni,logs,kubelet}
cd "$run"

# The namespace: loopback with the node's address, nothing else.
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add "$ip/32" dev lo
in_ns sysctl -qw net.ipv4.ip_forward=1

# Certificates: one CA, the API server's, and a client certificate per user.
pki=$run/pki
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 30 -subj "/CN=bottle-kube-ca" 2>/dev/null
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
cert() { # name, subject, [server SANs]
	openssl req -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$2" 2>/dev/null
	local ext=$pki/$1.ext
	if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" > "$ext"; else printf 'extendedKeyUsage=clientAuth\n' > "$ext"; fi
	openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -out "$pki/$1.crt" -days 30 -extfile "$ext" 2>/dev/null
}
cert apiserver "/CN=kube-apiserver" "IP:$ip,IP:127.0.0.1,IP:${svcnet%.*}.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost"
cert kubelet "/O=system:nodes/CN=system:node:$node" "IP:$ip,DNS:$node"
cert admin "/O=system:masters/CN=bottle-admin"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
cert apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client"
kubeconfig() { # file, user
	cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: bottle, cluster: {server: "https://$ip:6443", certificate-authority: $pki/ca.crt}}]
users: [{name: $2, user: {client-certificate: $pki/$2.crt, client-key: $pki/$2.key}}]
contexts: [{name: bottle, context: {cluster: bottle, user: $2}}]
current-context: bottle
EOF
}
kubeconfig "$kcfg" admin
kubeconfig "$run/kubelet.kubeconfig" kubelet
kubeconfig "$run/controller-manager.kubeconfig" controller-manager
kubeconfig "$run/scheduler.kubeconfig" scheduler

# containerd: a private CNI folder and bridge (Podman's would be picked up),
# oom score adjustments kept within what this machine allows, runc and runsc.
cat > "$run/cni/10-bottle.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "bottle-kube", "plugins": [
  {"type": "bridge", "bridge": "bottlekube0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$podnet"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "loopback"}]}
EOF
cat > "$run/containerd/config.toml" <<EOF
version = 2
root = "$run/containerd/root"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/bottle-pause:1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$run/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
      runtime_type = "io.containerd.runsc.v1"
      # gVisor's mount hints (a bottle's socket folder, shared in the sandbox).
      pod_annotations = ["dev.gvisor.*"]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc.options]
        TypeUrl = "io.containerd.runsc.v1.options"
        ConfigPath = "$run/containerd/runsc.toml"
EOF
# gVisor takes raw sockets (iptables' own, for a bottle's isolation) when told.
printf '[runsc_config]\n  net-raw = "true"\n' > "$run/containerd/runsc.toml"
# kubelet changes these; kube-down.sh puts them back.
for k in vm.overcommit_memory kernel.panic kernel.panic_on_oops; do
	echo "$k=$(sysctl -n "$k")"
done > "$run/sysctls"

start etcd etcd --data-dir "$run/etcd" --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
	--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster default=http://127.0.0.1:2380
start containerd containerd --config "$run/containerd/config.toml"
start apiserver "$bin/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --advertise-address="$ip" --secure-port=6443 \
	--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
	--kubelet-client-certificate="$pki/apiserver-kubelet.crt" --kubelet-client-key="$pki/apiserver-kubelet.key" \
	--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
	--service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range="$svcnet" \
	--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
	--kubelet-preferred-address-types=InternalIP
for _ in $(seq 1 150); do kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 0.2; done
kubectl get --raw /readyz >/dev/null || { echo "kube-up: the API server did not come up:" >&2; tail -20 "$run/logs/apiserver.log" >&2; exit 1; }
start controller-manager "$bin/kube-controller-manager" --kubeconfig="$run/controller-manager.kubeconfig" \
	--service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" --use-service-account-credentials \
	--cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" --leader-elect=false \
	--enable-hostpath-provisioner
start scheduler "$bin/kube-scheduler" --kubeconfig="$run/scheduler.kubeconfig" --leader-elect=false

# The pause image, from catatonit (no registry): a one-layer image imported into containerd.
for _ in $(seq 1 100); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done
img=$run/pause; rm -rf "$img"; mkdir -p "$img/rootfs"
cp /usr/bin/catatonit "$img/rootfs/pause"
tar -C "$img/rootfs" -cf "$img/layer.tar" .
layer=$(sha256sum "$img/layer.tar" | cut -d' ' -f1)
printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause","-P"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$img/config.json"
printf '[{"Config":"config.json","RepoTags":["localhost/bottle-pause:1"],"Layers":["layer.tar"]}]' > "$img/manifest.json"
tar -C "$img" -cf "$img.tar" config.json manifest.json layer.tar
in_ns ctr -n k8s.io images import "$img.tar" >/dev/null

cat > "$run/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
makeIPTablesUtilChains: false
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
authentication: {anonymous: {enabled: false}, x509: {clientCAFile: $pki/ca.crt}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
clusterDomain: cluster.local
resolvConf: $run/resolv.conf
# The test node shares a working machine's disk: at the default thresholds
# (15% of the image file system free) a busy disk taints the node with
# disk-pressure and every bottle's pod stays Pending; nor may the kubelet
# collect the images the tests imported (nothing can pull them again).
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
printf 'nameserver 127.0.0.1\n' > "$run/resolv.conf"
# The kubelet's usual root: gVisor's shim finds a pod's volumes below it
# (volumes the pod's containers share inside the sandbox, by annotation).
start kubelet "$bin/kubelet" --config="$run/kubelet.yaml" --kubeconfig="$run/kubelet.kubeconfig" --root-dir=/var/lib/kubelet \
	--node-ip="$ip" --hostname-override="$node"
for _ in $(seq 1 300); do kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True && break; sleep 0.2; done
kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True || {
	echo "kube-up: the node is not Ready:" >&2; tail -20 "$run/logs/kubelet.log" >&2; exit 1; }
kubectl apply -f - >/dev/null <<EOF
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor}
handler: runsc
---
# Volumes for bottles: the single-node host-path provisioner (under /tmp/hostpath_pv).
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
EOF
for _ in $(seq 1 100); do kubectl get serviceaccount default >/dev/null 2>&1 && break; sleep 0.2; done
firewall >&2
echo "$kcfg"
