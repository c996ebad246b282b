# Sourced by the cluster scripts: paths and the kwokctl environment. Not executable on its own.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
_cluster_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${REPO:-$(cd "$_cluster_dir/../.." && pwd)}
# shellcheck source=versions.env
. "$_cluster_dir/versions.env"
WORK=${KRAFTWERK_WORK:-$REPO/.work}
CLUSTER_NAME=${KRAFTWERK_CLUSTER_NAME:-kraftwerk}
# The test runner uses a second cluster (name kraftwerk-test) so it never meets the demo.
KUBECONFIG_PATH=${KRAFTWERK_KUBECONFIG:-$WORK/kubeconfig}
CACHE=${KRAFTWERK_CACHE:-$HOME/.cache/kraftwerk}
BIN=$CACHE/k8s-v$K8S_VERSION-etcd-v$ETCD_VERSION-kwok-v$KWOK_VERSION/bin
# kwokctl keeps every cluster's state (pki, etcd data, logs, pids) under its workdir.
CLUSTER_DIR=$WORK/kwok/clusters/$CLUSTER_NAME
# Our own files about that cluster: generated configuration and kwokctl's output.
STATE=$WORK/cluster-$CLUSTER_NAME

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# Every binary kwokctl would otherwise download from dl.k8s.io or GitHub points at the
# locally built one; a non-URL source is used as a local path, so nothing is fetched.
kwok_env() {
  export KWOK_WORKDIR="$WORK/kwok"
  export KWOK_RUNTIME=binary
  export KWOK_KUBE_VERSION="v$K8S_VERSION"
  export KWOK_ETCD_VERSION="$ETCD_VERSION"
  export KWOK_KUBE_BINARY_PREFIX="$BIN"
  export KWOK_BINARY_PREFIX="$BIN"
  export KWOK_ETCD_BINARY_PREFIX="$BIN"
  export KWOK_KUBE_APISERVER_BINARY="$BIN/kube-apiserver"
  export KWOK_KUBE_CONTROLLER_MANAGER_BINARY="$BIN/kube-controller-manager"
  export KWOK_KUBE_SCHEDULER_BINARY="$BIN/kube-scheduler"
  export KWOK_KUBECTL_BINARY="$BIN/kubectl"
  export KWOK_CONTROLLER_BINARY="$BIN/kwok"
  export KWOK_ETCD_BINARY="$BIN/etcd"
}

# True when the kubeconfig answers /readyz.
api_ready() {
  [ -f "$KUBECONFIG_PATH" ] && "$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=5s get --raw /readyz >/dev/null 2>&1
}
