#!/usr/bin/env bash
# node-loss.sh <namespace> <cluster> <timeout s>: a real node fails under the running e2e
# cluster: the Kafka containers on it are killed (SIGKILL), then its containerd and kubelet,
# so the Node goes NotReady/Unknown as after a power loss. The node chosen hosts a broker but
# not the client pod (the producer); the operator is moved off it first when it runs there.
# With spec.recovery.nodeLossTimeoutSeconds set to <timeout>, the operator recovers the
# stranded pods one at a time on the other real nodes with new local volumes (their
# PersistentVolumes pin the lost node): every pod Ready elsewhere, no under-replicated
# partition, and a controller recovered there a voter again under a new directory id (as Kafka
# reports the voters). The node is then restored (tests/node/node-up.sh starts what is not
# running). Prints one summary line: the times from the failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
ns=$1 cluster=$2 timeout=$3
fail() { log "FAILED: $*"; exit 1; }
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
# Kafka tools in the client pod: the bootstrap address and client configuration e2e.sh passes
# (E2E_BOOTSTRAP, E2E_CLIENT_PROPS: SASL_SSL with hostname verification), else plaintext.
boot=(--bootstrap-server "${E2E_BOOTSTRAP:-$cluster-kafka-bootstrap:9092}")
if [ -n "${E2E_CLIENT_PROPS:-}" ]; then boot+=(--command-config "$E2E_CLIENT_PROPS"); fi
node_of() { "${kubectl[@]}" get pods -A -l "$1" -o jsonpath='{.items[0].spec.nodeName}' 2>/dev/null || true; }
pods_on() {
  "${kubectl[@]}" -n "$ns" get pods -l "kraftwerk.dev/cluster=$cluster" \
    -o jsonpath="{range .items[?(@.spec.nodeName==\"$1\")]}{.metadata.name} {end}"
}
all_ready() { # every pod of the cluster bound to another node than the lost one, and Ready
  local rows
  rows=$("${kubectl[@]}" -n "$ns" get pods -l "kraftwerk.dev/cluster=$cluster" \
    -o jsonpath='{range .items[*]}{.spec.nodeName}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
  [ -n "$rows" ] && ! grep -q "^$lost=" <<<"$rows" && ! grep -qv '=True$' <<<"$rows"
}
kafka() { "${kubectl[@]}" -n "$ns" exec kafka-client -- "/opt/kafka/bin/$1" "${boot[@]}" "${@:2}" 2>/dev/null; }
voters() { # the voters as Kafka reports them: "id=directory-id ..." (sorted)
  kafka kafka-metadata-quorum.sh describe --status | python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("CurrentVoters:"):
        print(" ".join(sorted("%s=%s" % (v["id"], v.get("directoryId", "")) for v in json.loads(line.split(":", 1)[1]))))'
}

operator_elsewhere() { # the operator pod Ready, and not on the node to lose
  local rows
  rows=$("${kubectl[@]}" get pods -A -l "$operator" \
    -o jsonpath='{range .items[*]}{.spec.nodeName}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
  grep -q '=True$' <<<"$rows" && ! grep -q "^$lost=" <<<"$rows"
}
move_operator() { # off node $lost (cordoned meanwhile): it must outlive the failure
  "${kubectl[@]}" cordon "$lost" >/dev/null || fail "cordon $lost"
  "${kubectl[@]}" delete pods -A -l "$operator" --wait=true >/dev/null || fail "deleting the operator pod"
  for _ in $(seq 1 120); do
    operator_elsewhere && break
    sleep 1
  done
  "${kubectl[@]}" uncordon "$lost" >/dev/null || fail "uncordon $lost"
  operator_elsewhere || fail "the operator is not back Ready on another node than $lost"
}

# The node to lose hosts a broker, and not the client pod (the producer runs there).
operator=app.kubernetes.io/name=kraftwerk
client_node=$("${kubectl[@]}" -n "$ns" get pod kafka-client -o jsonpath='{.spec.nodeName}')
lost="" i=""
for n in $("${kubectl[@]}" -n "$ns" get pods -l "kraftwerk.dev/cluster=$cluster,kraftwerk.dev/role=broker" -o jsonpath='{range .items[*]}{.spec.nodeName} {end}'); do
  if [ "$n" != "$client_node" ]; then lost=$n; break; fi
done
[ -n "$lost" ] || fail "every broker runs on the client pod's node ($client_node)"
i=${lost##*-}
[ "$(node_of "$operator")" != "$lost" ] || move_operator
stranded=$(pods_on "$lost")
voters_before=$(voters)
[ "$(wc -w <<<"$voters_before")" = 3 ] || fail "Kafka reports voters '$voters_before'"
lost_voters=$(grep -o 'controller-[0-9]*' <<<"$stranded" | sed 's/controller-//' || true)
"${kubectl[@]}" -n "$ns" patch kafkacluster "$cluster" --type merge \
  -p "{\"spec\":{\"recovery\":{\"nodeLossTimeoutSeconds\":$timeout}}}" >/dev/null || fail "setting nodeLossTimeoutSeconds"

# The failure: Kafka killed, then the node's runtime and kubelet.
t0=$EPOCHREALTIME
for task in $(ctr_node "$i" -n k8s.io tasks ls -q 2>/dev/null); do
  ctr_node "$i" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
done
run=$NODE_RUN/$lost
for f in "$run/kubelet.pid" "$run/containerd.pid"; do
  if [ -f "$f" ]; then kill -KILL "$(cat "$f")" 2>/dev/null || true; fi
done
for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $run/containerd.sock" || true); do kill -KILL "$p" 2>/dev/null || true; done
restore() { "$here/../node/node-up.sh" >/dev/null 2>&1 || log "node-up.sh failed restoring $lost"; }
trap restore EXIT

for _ in $(seq 1 300); do
  [ "$("${kubectl[@]}" get node "$lost" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" != True ] && break
  sleep 1
done
t_notready=$EPOCHREALTIME
for _ in $(seq 1 900); do
  all_ready && break
  sleep 1
done
all_ready || fail "pods of $lost ($stranded) not Ready elsewhere within 900s: $("${kubectl[@]}" -n "$ns" get kafkacluster "$cluster" -o jsonpath='{.status.conditions[?(@.type=="Degraded")].message}')"
t_ready=$EPOCHREALTIME
"$here/wait-isr.sh" "$ns" "$cluster" 600 || fail "partitions still under-replicated 600s after recovery"
t_isr=$EPOCHREALTIME
# A controller recovered on a new volume is a voter again under a new directory id (the
# quorum pass removed its old identity and added the new one).
swapped() {
  # shellcheck disable=SC2086
  python3 -c '
import sys
before, now = (dict(v.split("=", 1) for v in s.split()) for s in sys.argv[1:3])
ok = len(now) == 3 and all(now.get(v, before[v]) != before[v] for v in sys.argv[3:])
sys.exit(0 if ok else 1)' "$voters_before" "$(voters)" $lost_voters
}
for _ in $(seq 1 120); do
  swapped && break
  sleep 2
done
swapped || fail "the voters are $(voters), were $voters_before (controllers recovered: ${lost_voters:-none})"
t_quorum=$EPOCHREALTIME
events=$("${kubectl[@]}" -n "$ns" get events.events.k8s.io --field-selector reason=RecoveringPod -o jsonpath='{range .items[*]}{.note}{"\n"}{end}')
grep -q "local to lost node $lost" <<<"$events" || fail "no RecoveringPod Event replacing a volume local to $lost: $events"
restore
trap - EXIT
for _ in $(seq 1 120); do
  [ "$("${kubectl[@]}" get node "$lost" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] && break
  sleep 1
done
awk -v a="$t0" -v b="$t_notready" -v c="$t_ready" -v d="$t_isr" -v q="$t_quorum" -v n="$lost" -v p="$stranded" -v v="${lost_voters:-none}" 'BEGIN {
  printf "node %s lost (pods %s): NotReady after %.0fs, pods Ready elsewhere after %.0fs, every ISR full after %.0fs, voters whole (new directory id for %s) after %.0fs (from the failure); node restored\n", n, p, b - a, c - a, d - a, v, q - a }'
