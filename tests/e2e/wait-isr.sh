#!/usr/bin/env bash
# wait-isr.sh <namespace> <cluster> <timeout s>: waits until Kafka, asked from the e2e's client
# pod through the bootstrap Service, reports no under-replicated partition (every ISR full).
# Fails after the timeout, printing the last answer ("?" when Kafka did not answer).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
ns=$1 cluster=$2 timeout=$3
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
# Kafka tools in the client pod: the bootstrap address and client configuration e2e.sh passes
# (E2E_BOOTSTRAP, E2E_CLIENT_PROPS: SASL_SSL with hostname verification), else plaintext.
boot=(--bootstrap-server "${E2E_BOOTSTRAP:-$cluster-kafka-bootstrap:9092}")
if [ -n "${E2E_CLIENT_PROPS:-}" ]; then boot+=(--command-config "$E2E_CLIENT_PROPS"); fi
under_replicated() { # the count, or "?" when Kafka did not answer
  local out
  out=$("${kubectl[@]}" -n "$ns" exec kafka-client -- /opt/kafka/bin/kafka-topics.sh \
    "${boot[@]}" --describe --under-replicated-partitions 2>/dev/null) ||
    { echo "?"; return; }
  grep -c Partition <<<"$out" || true
}
deadline=$((SECONDS + timeout))
while n=$(under_replicated) && [ "$n" != 0 ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "FAILED: $n partition(s) under-replicated after ${timeout}s"
    exit 1
  fi
  sleep 1
done
