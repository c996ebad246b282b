#!/usr/bin/env bash
# cli-plugin.sh <namespace> <cluster>: the kraftwerk CLI as a kubectl plugin on the e2e's
# running cluster, from the host, with no broker address reachable from here: `kubectl kraftwerk`
# (a kubectl-kraftwerk symlink to the binary the operator image was built from) finds the cluster
# through the kubeconfig, whose context namespace is the test namespace (no -n), and reaches the
# brokers by port-forward through the API server. Prints one summary line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
ns=$1 cluster=$2
fail() { log "FAILED: $*"; exit 1; }
bin=$CACHE/build/operator-target/$(uname -m)-unknown-linux-gnu/${KRAFTWERK_IMAGE_PROFILE:-e2e}/kraftwerk
[ -x "$bin" ] || fail "no kraftwerk binary at $bin (tests/images/build.sh operator builds it)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ln -s "$bin" "$dir/kubectl-kraftwerk"
cp "$KUBECONFIG_PATH" "$dir/kubeconfig"
export PATH="$dir:$BIN:$PATH" KUBECONFIG="$dir/kubeconfig"
kubectl config set-context --current --namespace="$ns" >/dev/null
k() { kubectl kraftwerk "$@"; }

version=$(k version) || fail "kubectl kraftwerk version"
[[ $version == "kraftwerk "* ]] || fail "version: $version"
brokers=$(k broker list -o json) || fail "kubectl kraftwerk broker list: $brokers"
[ "$(jq length <<<"$brokers")" = 3 ] || fail "broker list: $brokers"
broker=$(k broker get 0 -o yaml) || fail "broker get 0: $broker"
grep -q '^id: 0$' <<<"$broker" || fail "broker get 0: $broker"
topics=$(k topic list -o json) || fail "topic list: $topics"
jq -e 'index("e2e") != null' <<<"$topics" >/dev/null || fail "topic list has no e2e: $topics"
parts=$(k topic partitions e2e -o json) || fail "topic partitions: $parts"
[ "$(jq '.[0].replicas | length' <<<"$parts")" = 3 ] || fail "topic partitions e2e: $parts"
k topic create cli-made -p 2 -r 3 >/dev/null || fail "topic create"
k topic config set cli-made retention.ms=3600000 >/dev/null || fail "topic config set"
value=$(k topic config get cli-made retention.ms -o json | jq -r '.[0].value')
[ "$value" = 3600000 ] || fail "topic config get retention.ms: $value"
k topic delete cli-made >/dev/null || fail "topic delete"
for _ in $(seq 1 20); do
  k topic list -o json | jq -e 'index("cli-made") == null' >/dev/null && break
  sleep 1
done
k topic list -o json | jq -e 'index("cli-made") == null' >/dev/null || fail "cli-made still listed after topic delete"
endpoints=$(k endpoints -o json) || fail "endpoints: $endpoints"
[ "$(jq '.nodes | length' <<<"$endpoints")" = 6 ] || fail "endpoints: $endpoints"
plan=$(k plan "$cluster" -o json) || fail "plan -o json: $plan"
jq -e '.state' <<<"$plan" >/dev/null || fail "plan -o json: $plan"
k completion bash | grep -q 'kubectl-kraftwerk' || fail "completion bash does not name kubectl-kraftwerk"
echo "kubectl kraftwerk (kubeconfig namespace, port-forward): version, broker list/get, topic list/partitions/create/config set+get/delete, endpoints (6 nodes), plan -o json, completion bash"
