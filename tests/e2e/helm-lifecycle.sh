#!/usr/bin/env bash
# helm-lifecycle.sh <namespace> <cluster>: the chart's day-2 paths on the e2e's running Kafka
# cluster (the operator installed with tests/node/deploy-operator.sh helm):
#  1. helm upgrade with changed values (log.json=true, log.level=debug): the Deployment rolls, the
#     new leader logs JSON lines starting with its version and revision; no Kafka pod restarts;
#  2. helm uninstall: the operator's Deployment, RBAC and service account are gone; the CRD, the
#     KafkaCluster, its pods (same uids) and its claims are still there;
#  3. installed again: a new operator leads and the KafkaCluster is Ready at its generation.
# Prints one summary line; exits non-zero with the reason on the first failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
ns=$1 cluster=$2
OP_NS=kraftwerk-system
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
helm=("$BIN/helm" --kubeconfig "$KUBECONFIG_PATH" -n "$OP_NS")
fail() { log "FAILED: $*"; exit 1; }
kafka_uids() { "${kubectl[@]}" -n "$ns" get pods -l "kraftwerk.dev/cluster=$cluster" -o jsonpath='{range .items[*]}{.metadata.uid}{" "}{end}'; }
leader() { "${kubectl[@]}" -n "$OP_NS" get lease kraftwerk-operator -o jsonpath='{.spec.holderIdentity}'; }
ready_now() {
  "${kubectl[@]}" -n "$ns" wait "kafkacluster/$cluster" --for=condition=Ready --timeout=300s >/dev/null &&
    [ "$("${kubectl[@]}" -n "$ns" get kafkacluster "$cluster" -o jsonpath='{.status.observedGeneration}')" = \
      "$("${kubectl[@]}" -n "$ns" get kafkacluster "$cluster" -o jsonpath='{.metadata.generation}')" ]
}
uids=$(kafka_uids)
claims=$("${kubectl[@]}" -n "$ns" get pvc -l "kraftwerk.dev/cluster=$cluster" -o name | sort | tr '\n' ' ')

# 1. upgrade with changed values
rev_before=$("${helm[@]}" history kraftwerk -o json | jq 'map(.revision) | max')
"$here/../node/deploy-operator.sh" helm --set log.json=true --set log.level=debug || fail "helm upgrade"
rev_after=$("${helm[@]}" history kraftwerk -o json | jq 'map(.revision) | max')
[ "$rev_after" -gt "$rev_before" ] || fail "helm upgrade made no new revision ($rev_before -> $rev_after)"
env_json=$("${kubectl[@]}" -n "$OP_NS" get deployment kraftwerk -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="KRAFTWERK_LOG_JSON")].value}')
[ "$env_json" = true ] || fail "the upgraded Deployment has KRAFTWERK_LOG_JSON=$env_json"
first=$("${kubectl[@]}" -n "$OP_NS" logs "$(leader)" | sed -n 1p)
jq -e 'select(.fields.message == "kraftwerk starting" and .fields.revision != null)' <<<"$first" >/dev/null ||
  fail "the upgraded leader's first log line is not the JSON start line: $first"
ready_now || fail "KafkaCluster not Ready after the operator upgrade"
[ "$(kafka_uids)" = "$uids" ] || fail "the operator upgrade restarted Kafka pods"

# 2. uninstall leaves the user's clusters alone
"${helm[@]}" uninstall kraftwerk --wait --timeout 120s >/dev/null || fail "helm uninstall"
left=$("${kubectl[@]}" -n "$OP_NS" get deployment,serviceaccount,role,rolebinding -l app.kubernetes.io/name=kraftwerk -o name)
[ -z "$left" ] || fail "helm uninstall left: $left"
"${kubectl[@]}" get clusterrole kraftwerk >/dev/null 2>&1 && fail "helm uninstall left the ClusterRole"
"${kubectl[@]}" get crd kafkaclusters.kraftwerk.dev >/dev/null || fail "helm uninstall removed the CRD"
"${kubectl[@]}" -n "$ns" get kafkacluster "$cluster" >/dev/null || fail "helm uninstall removed the KafkaCluster"
sleep 5
[ "$(kafka_uids)" = "$uids" ] || fail "Kafka pods changed after helm uninstall"
now_claims=$("${kubectl[@]}" -n "$ns" get pvc -l "kraftwerk.dev/cluster=$cluster" -o name | sort | tr '\n' ' ')
[ "$now_claims" = "$claims" ] || fail "claims changed after helm uninstall: $claims -> $now_claims"

# 3. installed again, it takes the cluster over
"$here/../node/deploy-operator.sh" helm || fail "helm install after uninstall"
ready_now || fail "KafkaCluster not Ready after the reinstall"
[ "$(kafka_uids)" = "$uids" ] || fail "the reinstall restarted Kafka pods"
echo "helm upgrade (revision $rev_before -> $rev_after, JSON logs) and uninstall/reinstall: CRD, KafkaCluster, $(wc -w <<<"$uids") pods and $(wc -w <<<"$claims") claims untouched"
