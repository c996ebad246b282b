#!/usr/bin/env bash
# Joins real nodes to the running local control plane (tests/cluster/cluster-up.sh).
#
# Each node is a network namespace acting as a host, with its own IP on a bridge in the root
# namespace, running containerd (Debian, with runc), a kubelet and kube-proxy (built by
# tests/cluster/build-binaries.sh at the pinned Kubernetes version) and the CNI bridge plugin
# (Debian containernetworking-plugins). Cluster DNS is CoreDNS (built from the Go module
# proxy), a host process behind the kube-dns Service. A small local-path provisioner serves
# the StorageClass `kraftwerk-local`. Images come from tests/images/build.sh and are imported
# into each node's containerd; no registry is involved.
#
# Idempotent: components already running are kept. Needs root. See docs/real-node.md.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
t0=$(date +%s)
[ "$(id -u)" = 0 ] || { log "needs root (network namespaces, cgroups, mounts)"; exit 1; }

# --- prerequisites -------------------------------------------------------------------------
need_pkgs=()
for p in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
  iptables:iptables conntrack:conntrack socat:socat nsenter:util-linux ip:iproute2 jq:jq; do
  cmd=${p%%:*} pkg=${p#*:}
  if [[ $cmd == /* ]]; then [ -e "$cmd" ] || need_pkgs+=("$pkg"); else command -v "$cmd" >/dev/null || need_pkgs+=("$pkg"); fi
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null; }
fi
"$_cluster_dir/build-binaries.sh" >/dev/null
for b in kubelet kube-proxy kubectl; do [ -x "$BIN/$b" ] || { log "missing $BIN/$b"; exit 1; }; done
api_ready || { log "the control plane does not answer; run tests/cluster/cluster-up.sh first"; exit 1; }
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
"$_node_dir/../images/build.sh" pause >/dev/null
"$_node_dir/coredns/build.sh" >/dev/null

mkdir -p "$NODE_WORK" "$NODE_RUN" "$NODE_STATE"
# Config files are replaced only when their content changes: kube-proxy exits when its
# configuration file is written to ("content of the proxy server's configuration file was updated").
write_if_changed() { # stdin -> $1
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}
server=$("${kubectl[@]}" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
api_port=${server##*:}

# --- the host network ----------------------------------------------------------------------
if ! ip link show "$HOST_BRIDGE" >/dev/null 2>&1; then
  ip link add "$HOST_BRIDGE" type bridge
fi
ip addr replace "$HOST_IP/24" dev "$HOST_BRIDGE"
ip link set "$HOST_BRIDGE" up

# A kubeconfig for processes in the node namespaces: the same admin credentials, the API
# server reached on the bridge address; its serving certificate names 127.0.0.1, so TLS
# verification keeps that name.
node_kubeconfig=$NODE_WORK/kubeconfig
"${kubectl[@]}" config view --raw --flatten --minify >"$node_kubeconfig.tmp"
cluster=$("$BIN/kubectl" --kubeconfig "$node_kubeconfig.tmp" config view -o jsonpath='{.clusters[0].name}')
"$BIN/kubectl" --kubeconfig "$node_kubeconfig.tmp" config set-cluster "$cluster" \
  --server "https://$HOST_IP:$api_port" --tls-server-name 127.0.0.1 >/dev/null
mv "$node_kubeconfig.tmp" "$node_kubeconfig"
"$BIN/kubectl" --kubeconfig "$node_kubeconfig" config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
  base64 -d >"$NODE_WORK/ca.crt"

# --- cluster DNS: CoreDNS on the bridge address, behind the kube-dns Service -----------------
mkdir -p "$NODE_WORK/coredns"
write_if_changed "$NODE_WORK/coredns/Corefile" <<EOF
.:53 {
    bind $HOST_IP
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG_PATH
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
    loadbalance
}
EOF
# No forward plugin: the nodes have no upstream resolver (and no network) to forward to.
if ! pid_alive "$NODE_RUN/coredns.pid"; then
  log "starting CoreDNS v$COREDNS_VERSION on $HOST_IP:53"
  setsid nohup "$COREDNS_BIN" -conf "$NODE_WORK/coredns/Corefile" >"$NODE_WORK/coredns/coredns.log" 2>&1 &
  echo $! >"$NODE_RUN/coredns.pid"
fi
"${kubectl[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $SERVICE_DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: kraftwerk-tests}
addressType: IPv4
endpoints:
- addresses: ["$HOST_IP"]
  conditions: {ready: true}
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOF

# --- storage: a local-path provisioner for StorageClass kraftwerk-local ----------------------
"${kubectl[@]}" apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: kraftwerk-local
provisioner: kraftwerk.dev/local-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
EOF
# While real nodes are up, their local volumes are the default class: the control plane's
# `standard` class (the controller manager's hostPath provisioner) only suits simulated pods,
# since real containers (uid 1000, fsGroup) cannot own what it creates. node-down.sh restores it.
"${kubectl[@]}" annotate storageclass standard storageclass.kubernetes.io/is-default-class=false --overwrite >/dev/null 2>&1 || true
"${kubectl[@]}" annotate storageclass kraftwerk-local storageclass.kubernetes.io/is-default-class=true --overwrite >/dev/null
if ! pid_alive "$NODE_RUN/provisioner.pid"; then
  log "starting the local-path provisioner (volumes under $NODE_STATE/volumes)"
  KUBECTL="$BIN/kubectl" KUBECONFIG="$KUBECONFIG_PATH" VOLUME_ROOT="$NODE_STATE/volumes" \
    setsid nohup python3 "$_node_dir/local-provisioner.py" >"$NODE_WORK/provisioner.log" 2>&1 &
  echo $! >"$NODE_RUN/provisioner.pid"
fi

# --- per node ------------------------------------------------------------------------------
# kubelet sets host-wide kernel tunables at start (vm.overcommit_memory=1, kernel.panic=10,
# kernel.panic_on_oops=1). This VM is shared, so each kubelet runs in its own mount
# namespace where those /proc/sys files are replaced by read-only copies holding the values
# it wants: it reads them, finds nothing to change, and the host keeps its settings.
declare -A want_sysctl=([vm/overcommit_memory]=1 [vm/panic_on_oom]=0 [kernel/panic]=10
  [kernel/panic_on_oops]=1 [kernel/keys/root_maxkeys]=1000000 [kernel/keys/root_maxbytes]=25000000)
fake_sysctl=$NODE_WORK/fake-sysctl
mkdir -p "$fake_sysctl"
binds=""
for k in "${!want_sysctl[@]}"; do
  if [ "$(cat "/proc/sys/$k")" != "${want_sysctl[$k]}" ]; then
    f="$fake_sysctl/${k//\//.}"
    echo "${want_sysctl[$k]}" >"$f"
    binds+="mount --bind -o ro '$f' '/proc/sys/$k'; "
  fi
done

pause_archive=$IMAGES/pause.oci.tar
for ((i = 1; i <= NODE_COUNT; i++)); do
  name=$(node_name "$i") ip=$(node_ip "$i") ns=$(node_netns "$i") cidr=$(node_pod_cidr "$i")
  work=$NODE_WORK/$name run=$NODE_RUN/$name state=$NODE_STATE/nodes/$name
  mkdir -p "$work" "$run" "$state/containerd" "$state/kubelet" "$state/pod-logs" "$state/cni"

  # network namespace, veth to the bridge, routes to the other nodes' pods
  if [ ! -e "/run/netns/$ns" ]; then ip netns add "$ns"; fi
  if ! ip link show "kwv$i" >/dev/null 2>&1; then
    ip link add "kwv$i" type veth peer name eth0 netns "$ns"
  fi
  ip link set "kwv$i" master "$HOST_BRIDGE" up
  in_node "$i" ip link set lo up
  in_node "$i" ip addr replace "$ip/24" dev eth0
  in_node "$i" ip link set eth0 up
  in_node "$i" ip route replace default via "$HOST_IP"
  for ((j = 1; j <= NODE_COUNT; j++)); do
    [ "$j" = "$i" ] || in_node "$i" ip route replace "$(node_pod_cidr "$j")" via "$(node_ip "$j")"
  done
  ip route replace "$cidr" via "$ip" dev "$HOST_BRIDGE" # replies from the control plane / DNS
  in_node "$i" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 \
    net.bridge.bridge-nf-call-ip6tables=1 net.ipv4.conf.all.rp_filter=0

  # cgroup parent for this node's pods, in every v1 hierarchy
  for h in /sys/fs/cgroup/*/; do
    h=${h%/}
    [ "$(basename "$h")" = unified ] && continue
    mkdir -p "$h/$CGROUP_PARENT/$name"
    if [ -f "$h/cpuset.cpus" ]; then
      for d in "$h/$CGROUP_PARENT" "$h/$CGROUP_PARENT/$name"; do
        [ -s "$d/cpuset.cpus" ] && [ -n "$(cat "$d/cpuset.cpus")" ] || cat "$h/cpuset.cpus" >"$d/cpuset.cpus"
        [ -n "$(cat "$d/cpuset.mems")" ] || cat "$h/cpuset.mems" >"$d/cpuset.mems"
      done
    fi
  done

  # CNI: a bridge per node with this node's pod range
  mkdir -p "$work/net.d"
  write_if_changed "$work/net.d/10-kraftwerk.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kraftwerk",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$state/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

  # containerd
  write_if_changed "$work/containerd.toml" <<EOF
version = 2
root = "$state/containerd"
state = "$run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # This VM's root lacks CAP_SYS_RESOURCE (not in the bounding set), so runc cannot lower
  # oom_score_adj to the sandbox's -998 ("failed to update /proc/self/oom_score_adj:
  # Permission denied"). Restricted, scores are clamped to containerd's own (0).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$run/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$work/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
EOF
  if ! pid_alive "$run/containerd.pid"; then
    log "$name: starting containerd ($ip, pods $cidr)"
    setsid nohup nsenter --net="/run/netns/$ns" -- containerd --config "$work/containerd.toml" \
      >"$work/containerd.log" 2>&1 &
    echo $! >"$run/containerd.pid"
  fi
  for _ in $(seq 1 100); do ctr_node "$i" version >/dev/null 2>&1 && break; sleep 0.2; done
  ctr_node "$i" version >/dev/null || { log "$name: containerd did not start; see $work/containerd.log"; exit 1; }
  # images from tests/images/build.sh, imported once per node (skipped when the digest is
  # already there; KRAFTWERK_NODE_IMAGES lists the archives, default: all of them).
  for archive in "$pause_archive" ${KRAFTWERK_NODE_IMAGES:-$IMAGES/*.oci.tar}; do
    [ -f "$archive" ] || continue
    "$_node_dir/import-image.sh" "$i" "$archive"
  done

  # kubelet
  kubelet_dir=$state/kubelet
  if ! grep -q " $kubelet_dir " /proc/self/mountinfo; then
    mount --bind "$kubelet_dir" "$kubelet_dir"
  fi
  mount --make-rshared "$kubelet_dir" # pod volume mounts reach runc's (root) mount namespace
  write_if_changed "$work/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://$run/containerd.sock
imageServiceEndpoint: unix://$run/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_PARENT/$name
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: false
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$SERVICE_DNS_IP]
resolvConf: "$work/resolv.conf"
podLogsDir: $state/pod-logs
# The API server calls the kubelet (logs, exec) without a client certificate: a test node.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: $NODE_WORK/ca.crt}
authorization: {mode: AlwaysAllow}
serializeImagePulls: false
# Images are imported, never pulled: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
maxPods: 40
nodeStatusUpdateFrequency: 5s
shutdownGracePeriod: 0s
EOF
  : >"$work/resolv.conf" # pods with dnsPolicy Default get no upstream resolver
  if ! pid_alive "$run/kubelet.pid"; then
    log "$name: starting kubelet"
    setsid nohup nsenter --net="/run/netns/$ns" -- unshare --mount --propagation unchanged -- /bin/sh -c \
      "mount --make-rprivate /proc; $binds exec $BIN/kubelet --config=$work/kubelet.yaml \
       --kubeconfig=$node_kubeconfig --root-dir=$kubelet_dir --cert-dir=$state/pki \
       --hostname-override=$name --node-ip=$ip \
       --node-labels=$NODE_LABEL_KEY=$NODE_LABEL_VALUE,topology.kubernetes.io/zone=$(node_zone "$i"),topology.kubernetes.io/region=local \
       --v=${KRAFTWERK_KUBELET_V:-1}" >"$work/kubelet.log" 2>&1 &
    echo $! >"$run/kubelet.pid"
  fi

  # kube-proxy (iptables mode; its rules live in the node's network namespace)
  write_if_changed "$work/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $node_kubeconfig}
hostnameOverride: $name
mode: iptables
clusterCIDR: $NET_PREFIX.0.0/16
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Zero: leave the host-wide conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {minSyncPeriod: 0s, syncPeriod: 30s}
oomScoreAdj: 0 # no CAP_SYS_RESOURCE here (see containerd's restrict_oom_score_adj)
EOF
  if ! pid_alive "$run/kube-proxy.pid"; then
    log "$name: starting kube-proxy"
    setsid nohup nsenter --net="/run/netns/$ns" -- "$BIN/kube-proxy" --config="$work/kube-proxy.yaml" \
      --v=${KRAFTWERK_KUBE_PROXY_V:-1} >"$work/kube-proxy.log" 2>&1 &
    echo $! >"$run/kube-proxy.pid"
  fi
done

# The API server reaches kubelets (logs, exec, port-forward) by the node's Hostname address
# first (its default --kubelet-preferred-address-types). The node names resolve through a
# marked block in /etc/hosts, removed by node-down.sh.
hosts_block() {
  echo "# >>> kraftwerk real nodes (tests/node/node-up.sh)"
  for ((i = 1; i <= NODE_COUNT; i++)); do echo "$(node_ip "$i") $(node_name "$i")"; done
  echo "# <<< kraftwerk real nodes"
}
if [ "$(sed -n '/^# >>> kraftwerk real nodes/,/^# <<< kraftwerk real nodes/p' /etc/hosts)" != "$(hosts_block)" ]; then
  sed -i '/^# >>> kraftwerk real nodes/,/^# <<< kraftwerk real nodes/d' /etc/hosts
  hosts_block >>/etc/hosts
fi

# --- wait for the nodes --------------------------------------------------------------------
names=()
for ((i = 1; i <= NODE_COUNT; i++)); do names+=("node/$(node_name "$i")"); done
for _ in $(seq 1 120); do
  "${kubectl[@]}" get "${names[@]}" >/dev/null 2>&1 && break
  sleep 1
done
if ! "${kubectl[@]}" wait --for=condition=Ready "${names[@]}" --timeout=180s >/dev/null; then
  log "nodes not Ready; kubelet logs under $NODE_WORK/<node>/kubelet.log"
  "${kubectl[@]}" get nodes -l "$NODE_LABEL_KEY=$NODE_LABEL_VALUE" >&2 || true
  exit 1
fi
log "$NODE_COUNT real node(s) Ready in $(($(date +%s) - t0))s (label $NODE_LABEL_KEY=$NODE_LABEL_VALUE)"
"${kubectl[@]}" get nodes -l "$NODE_LABEL_KEY=$NODE_LABEL_VALUE" -o wide >&2
