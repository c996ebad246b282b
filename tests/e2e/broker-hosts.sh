#!/usr/bin/env bash
# broker-hosts.sh <ns> <cluster> <listener>: a hosts file ("<ip> <name>" lines, as /etc/hosts)
# for the names the brokers advertise on a `nodeport` listener with `advertisedHost` set: each
# name maps to the address of the real node its broker runs on (the per-broker Services have
# externalTrafficPolicy Local, so only that node answers on the broker's node port). A client on
# the host uses it through the JVM's jdk.net.hosts.file or openssl's -connect; /etc/hosts stays
# untouched. Fails unless every broker advertises a name (not an address).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
ns=$1 cluster=$2 listener=$3
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
fail() { echo "broker-hosts.sh: $*" >&2; exit 1; }
"${kubectl[@]}" -n "$ns" get kafkacluster "$cluster" \
  -o jsonpath="{range .status.listeners[?(@.name==\"$listener\")].brokers[*]}{.id} {.address}{\"\\n\"}{end}" |
  while read -r id address; do
    host=${address%:*}
    [[ $host =~ ^[0-9.]+$ ]] && fail "broker $id advertises an address ($address), not a name"
    node=$("${kubectl[@]}" -n "$ns" get pod "$cluster-broker-$id" -o jsonpath='{.spec.nodeName}')
    ip=$("${kubectl[@]}" get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
    [ -n "$ip" ] || fail "no address for node '$node' of broker $id"
    echo "$ip $host"
  done
