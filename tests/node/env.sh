# Sourced by tests/node/*.sh: the real nodes' layout. Not executable on its own.
# shellcheck shell=bash disable=SC2034
# shellcheck source=../cluster/env.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../cluster" && pwd)/env.sh"
_node_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# How many real nodes (kubelet + containerd + kube-proxy, each in its own network namespace).
NODE_COUNT=${KRAFTWERK_REAL_NODES:-3}
# The "host" network: a bridge in the root namespace joins the nodes' namespaces.
# 10.77.0.1 is the bridge (the control plane and CoreDNS are reached there); node i is
# 10.77.0.(10+i); its pods get 10.77.i.0/24.
NET_PREFIX=10.77
HOST_BRIDGE=kwbr0
HOST_IP=$NET_PREFIX.0.1
SERVICE_DNS_IP=10.0.0.10 # kube-dns ClusterIP, inside the local cluster's service range (KRAFTWERK_SERVICE_CIDR, 10.0.0.0/16)
CLUSTER_DOMAIN=cluster.local
# Heavy state (containerd content and snapshots, kubelet pod dirs, PV data) stays out of the
# repo; sockets and runtime state under /run; configs and logs under .work (gitignored).
NODE_STATE=${KRAFTWERK_NODE_STATE:-/var/lib/kraftwerk}
NODE_RUN=/run/kraftwerk
NODE_WORK=$WORK/nodes
CGROUP_PARENT=kraftwerk
# Images built by tests/images/build.sh.
IMAGES=$CACHE/images
COREDNS_VERSION=${COREDNS_VERSION:-1.14.7}
COREDNS_BIN=$CACHE/coredns-v$COREDNS_VERSION/coredns
NODE_LABEL_KEY=kraftwerk.dev/node-type
NODE_LABEL_VALUE=real

node_name() { echo "kraftwerk-node-$1"; }
node_ip() { echo "$NET_PREFIX.0.$((10 + $1))"; }
node_netns() { echo "kw-node-$1"; }
node_pod_cidr() { echo "$NET_PREFIX.$1.0/24"; }
node_zone() { local z=(zone-a zone-b zone-c); echo "${z[$((($1 - 1) % 3))]}"; }

# Run a command inside node i's network namespace, in the root mount namespace (unlike
# `ip netns exec`, which makes a private mount namespace: kubelet's volume mounts must be
# seen by containerd and runc).
in_node() { local i=$1; shift; nsenter --net="/run/netns/$(node_netns "$i")" -- "$@"; }

ctr_node() { local i=$1; shift; ctr --address "$NODE_RUN/$(node_name "$i")/containerd.sock" "$@"; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The operator image, named where the chart names it (values.yaml image.repository, tag = the
# chart's appVersion), so the chart and deploy/operator.yaml run the image built here.
OPERATOR_REPOSITORY=$(sed -n 's/^  repository: *//p' "$REPO/charts/kraftwerk/values.yaml" | head -1)
OPERATOR_TAG=$(sed -n 's/^appVersion: *"*\([^"]*\)"*$/\1/p' "$REPO/charts/kraftwerk/Chart.yaml")
OPERATOR_IMAGE=$OPERATOR_REPOSITORY:$OPERATOR_TAG
OPERATOR_ARCHIVE=$IMAGES/kraftwerk.oci.tar
