#!/usr/bin/env bash
# pod-replace.sh <namespace> <cluster> <broker id>: `kraftwerk pod replace` of a broker on the
# running e2e cluster (the CLI from the host, as a user runs it): the broker's claim and pod are
# replaced exactly once (a new pod uid, a new claim uid and a new volume), the pod comes back
# Ready, and Kafka has it in every ISR again (no under-replicated partition). Prints one summary
# line: the time from the request to full ISR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
ns=$1 cluster=$2 id=$3
fail() { log "FAILED: $*"; exit 1; }
bin=$CACHE/build/operator-target/$(uname -m)-unknown-linux-gnu/${KRAFTWERK_IMAGE_PROFILE:-e2e}/kraftwerk
[ -x "$bin" ] || fail "no kraftwerk binary at $bin (tests/images/build.sh operator builds it)"
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
pod=$cluster-broker-$id claim=data-$cluster-broker-$id
uid_of() { "${kubectl[@]}" -n "$ns" get "$1" "$2" -o jsonpath='{.metadata.uid}' 2>/dev/null || true; }
volume_of() { "${kubectl[@]}" -n "$ns" get pvc "$claim" -o jsonpath='{.spec.volumeName}' 2>/dev/null || true; }
ready() { [ "$("${kubectl[@]}" -n "$ns" get pod "$pod" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }

old_pod=$(uid_of pod "$pod") old_claim=$(uid_of pvc "$claim") old_volume=$(volume_of)
[ -n "$old_pod" ] && [ -n "$old_claim" ] || fail "no pod or claim for broker $id"
t0=$EPOCHREALTIME
KUBECONFIG=$KUBECONFIG_PATH "$bin" pod replace "$cluster" "$id" -n "$ns" >/dev/null || fail "kraftwerk pod replace $cluster $id"
for _ in $(seq 1 600); do
  new_pod=$(uid_of pod "$pod") new_claim=$(uid_of pvc "$claim")
  [ -n "$new_pod" ] && [ "$new_pod" != "$old_pod" ] && [ -n "$new_claim" ] && [ "$new_claim" != "$old_claim" ] && ready && break
  sleep 1
done
ready && [ "$new_pod" != "$old_pod" ] || fail "broker $id not back Ready with a new pod within 600s"
[ "$new_claim" != "$old_claim" ] || fail "the claim of broker $id was not replaced"
new_volume=$(volume_of)
[ "$new_volume" != "$old_volume" ] || fail "the same volume $new_volume"
t_ready=$EPOCHREALTIME
"$here/wait-isr.sh" "$ns" "$cluster" 600 || fail "partitions still under-replicated 600s after the replace"
t_isr=$EPOCHREALTIME
# exactly once: the request is recorded against the old pod, and the pod is not replaced again
sleep 10
[ "$(uid_of pod "$pod")" = "$new_pod" ] && [ "$(uid_of pvc "$claim")" = "$new_claim" ] || fail "broker $id replaced twice"
record=$("${kubectl[@]}" -n "$ns" get configmap "$pod" -o jsonpath='{.metadata.annotations.kraftwerk\.dev/replaced-for}')
[[ $record == *"@$old_pod" ]] || fail "replaced-for record: $record"
awk -v a="$t0" -v b="$t_ready" -v c="$t_isr" -v v0="$old_volume" -v v1="$new_volume" -v id="$id" 'BEGIN {
  printf "pod replace of broker %s: new pod Ready after %.1fs, every ISR full after %.1fs; volume %s -> %s\n", id, b - a, c - a, v0, v1 }'
