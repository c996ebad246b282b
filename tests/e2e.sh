#!/usr/bin/env bash
# End-to-end test on real nodes (issue 5): real pods running the Kafka image, real Services,
# cluster DNS and volumes.
#
#  0. the local control plane (tests/cluster/cluster-up.sh), the images
#     (tests/images/build.sh) and the real nodes (tests/node/node-up.sh), each reused when up;
#  1. deploy the operator in-cluster from the plain manifests in deploy/, as a user would;
#  2. apply a KafkaCluster with 3 controllers and 3 brokers pinned to the real nodes, wait
#     for Ready;
#  3. from a client pod, create a topic and produce with acks=all, then consume, through the
#     bootstrap Service's DNS name;
#  4. delete a broker pod: it comes back with the same node id, the same volume and the same
#     log segment files, and the data is all still readable;
#  5. delete the KafkaCluster: every object it owned is gone (pods, services, config maps,
#     PVCs, PDBs) and its volumes are reclaimed.
#
# Env: KRAFTWERK_E2E_KEEP=1 leaves the nodes, the cluster and the test namespace up;
#      KRAFTWERK_E2E_IMAGES (default all) the images to (re)build before the run;
#      KRAFTWERK_E2E_TIMEOUT (s, default 900) bounds the wait for Ready.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=node/env.sh
. "$here/node/env.sh"
t0=$(date +%s)
NS=kraftwerk-e2e
CLUSTER=e2e
N_MSGS=500
TIMEOUT=${KRAFTWERK_E2E_TIMEOUT:-900}
OP_NS=kraftwerk-system
step() { log "[$(($(date +%s) - t0))s] $*"; }
fail() {
  log "FAILED: $*"
  "${kubectl[@]}" get nodes -o wide >&2 2>/dev/null || true
  "${kubectl[@]}" -n "$NS" get kafkacluster,pods,svc,pvc -o wide >&2 2>/dev/null || true
  "${kubectl[@]}" -n "$OP_NS" logs deploy/kraftwerk --tail=40 >&2 2>/dev/null || true
  exit 1
}
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
bootstrap=$CLUSTER-kafka-bootstrap.$NS.svc.$CLUSTER_DOMAIN:9092

# --- 0. cluster, images, nodes ---------------------------------------------------------------
started_cluster=0
if ! api_ready; then
  started_cluster=1
  "$here/cluster/cluster-up.sh"
fi
step "building images"
# KRAFTWERK_E2E_IMAGES="pause kafka" reuses the last operator image (~/.cache/kraftwerk/images)
# instead of rebuilding it from the working tree.
# shellcheck disable=SC2086
"$here/images/build.sh" ${KRAFTWERK_E2E_IMAGES:-all} >/dev/null
step "real nodes"
"$here/node/node-up.sh"
cleanup() {
  rc=$?
  if [ "${KRAFTWERK_E2E_KEEP:-0}" = 1 ]; then
    log "KRAFTWERK_E2E_KEEP=1: leaving the cluster, the nodes and namespace $NS up"
  else
    "${kubectl[@]}" delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    "${kubectl[@]}" delete -f "$REPO/deploy/operator.yaml" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    "$here/node/node-down.sh" || rc=1
    if [ "$started_cluster" = 1 ]; then "$here/cluster/cluster-down.sh" || rc=1; fi
  fi
  exit $rc
}
trap cleanup EXIT

# --- 1. the operator, in-cluster ---------------------------------------------------------------
step "deploying the operator: crds/ and deploy/operator.yaml"
[ -f "$REPO/deploy/operator.yaml" ] || fail "deploy/operator.yaml is missing"
[ -d "$REPO/crds" ] || fail "crds/ is missing (make crds)"
"${kubectl[@]}" apply -f "$REPO/crds/" >/dev/null
"${kubectl[@]}" wait --for=condition=Established crd/kafkaclusters.kraftwerk.dev --timeout=60s >/dev/null
"${kubectl[@]}" apply -f "$REPO/deploy/operator.yaml" >/dev/null
# The test cluster also has simulated (kwok) nodes, where a pod never really runs: pin the
# operator to the real nodes. Its image, kraftwerk:dev, was imported into every node by
# node-up.sh (tests/images/build.sh operator), so IfNotPresent never pulls.
"${kubectl[@]}" -n "$OP_NS" patch deployment kraftwerk --type strategic \
  -p "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"$NODE_LABEL_KEY\":\"$NODE_LABEL_VALUE\"}}}}}" >/dev/null
# The API server's certificate must name the kubernetes Service IP for in-cluster clients
# that connect by IP (kube-rs does). Without it (a cluster created before cluster-up.sh
# added the SAN), connect by a name the certificate has, resolved by the cluster DNS.
svc_ip=$("${kubectl[@]}" -n default get service kubernetes -o jsonpath='{.spec.clusterIP}')
if ! openssl x509 -in "$CLUSTER_DIR/pki/admin.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$svc_ip\(,\|$\)"; then
  log "note: the API server certificate lacks IP $svc_ip; the operator connects to kubernetes.default.svc instead (older clusters; tests/cluster/cluster-up.sh now adds the SAN)"
  "${kubectl[@]}" -n "$OP_NS" set env deployment/kraftwerk KUBERNETES_SERVICE_HOST=kubernetes.default.svc >/dev/null
fi
"${kubectl[@]}" -n "$OP_NS" rollout status deployment/kraftwerk --timeout=180s >/dev/null ||
  fail "the operator Deployment did not become available"
"${kubectl[@]}" -n "$OP_NS" wait pods -l app.kubernetes.io/name=kraftwerk --for=condition=Ready --timeout=180s >/dev/null ||
  fail "the operator pod is not Ready"
op_node=$("${kubectl[@]}" -n "$OP_NS" get pods -l app.kubernetes.io/name=kraftwerk -o jsonpath='{.items[0].spec.nodeName}' 2>/dev/null || true)
step "operator running (node ${op_node:-?})"

# --- 2. a 3 controller + 3 broker cluster ------------------------------------------------------
# a test namespace left by an earlier run goes first
if "${kubectl[@]}" get namespace "$NS" >/dev/null 2>&1; then
  step "removing namespace $NS left by an earlier run"
  "${kubectl[@]}" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  for i in $(seq 1 90); do
    "${kubectl[@]}" get namespace "$NS" >/dev/null 2>&1 || break
    # pods of nodes that are gone never finish terminating by themselves
    if [ "$i" -gt 30 ]; then "${kubectl[@]}" -n "$NS" delete pods --all --force --grace-period=0 >/dev/null 2>&1 || true; fi
    sleep 2
  done
fi
"${kubectl[@]}" create namespace "$NS" --dry-run=client -o yaml | "${kubectl[@]}" apply -f - >/dev/null
pool() { # pool <heap> <memory limit>
  cat <<YAML
    resources: {requests: {cpu: 100m, memory: $2}, limits: {memory: $2}}
    jvm: {heap: $1}
    storage: {size: 1Gi, storageClassName: kraftwerk-local, deleteClaim: true}
    template:
      nodeSelector: {$NODE_LABEL_KEY: $NODE_LABEL_VALUE}
YAML
}
"${kubectl[@]}" apply -f - >/dev/null <<YAML
apiVersion: kraftwerk.dev/v1alpha1
kind: KafkaCluster
metadata: {name: $CLUSTER, namespace: $NS}
spec:
  version: "4.3.1"
  imagePullPolicy: IfNotPresent
  config:
    log.cleaner.dedupe.buffer.size: "2097152"
    num.network.threads: "2"
    num.io.threads: "2"
    group.initial.rebalance.delay.ms: "0"
  controllers:
    replicas: 3
$(pool 192Mi 640Mi)
  brokers:
    replicas: 3
$(pool 256Mi 768Mi)
YAML
step "KafkaCluster $NS/$CLUSTER applied; waiting for Ready (up to ${TIMEOUT}s)"
"${kubectl[@]}" -n "$NS" wait "kafkacluster/$CLUSTER" --for=condition=Ready --timeout="${TIMEOUT}s" >/dev/null ||
  fail "KafkaCluster not Ready"
step "Ready: $("${kubectl[@]}" -n "$NS" get pods -l kraftwerk.dev/cluster=$CLUSTER -o jsonpath='{range .items[*]}{.metadata.name}@{.spec.nodeName} {end}')"

# --- 3. produce (acks=all) and consume through the bootstrap Service ---------------------------
"${kubectl[@]}" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: kafka-client, namespace: $NS}
spec:
  nodeSelector: {$NODE_LABEL_KEY: $NODE_LABEL_VALUE}
  securityContext: {runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true}
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: docker.io/apache/kafka:4.3.1
    imagePullPolicy: IfNotPresent
    command: [sleep, infinity]
    env: [{name: KAFKA_HEAP_OPTS, value: "-Xmx128m"}, {name: KAFKA_JVM_PERFORMANCE_OPTS, value: "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"}]
YAML
"${kubectl[@]}" -n "$NS" wait pod/kafka-client --for=condition=Ready --timeout=120s >/dev/null || fail "client pod not Ready"
client() { "${kubectl[@]}" -n "$NS" exec -i kafka-client -- "$@"; }
client getent hosts "$CLUSTER-kafka-bootstrap.$NS.svc.$CLUSTER_DOMAIN" >/dev/null ||
  fail "the bootstrap Service name does not resolve in the client pod"
client /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$bootstrap" --create --if-not-exists --topic e2e \
  --partitions 3 --replication-factor 3 --config min.insync.replicas=2 >/dev/null || fail "topic creation"
seq 1 "$N_MSGS" | sed 's/^/message-/' | client /opt/kafka/bin/kafka-console-producer.sh \
  --bootstrap-server "$bootstrap" --topic e2e --producer-property acks=all \
  --producer-property enable.idempotence=true >/dev/null || fail "produce with acks=all"
consume() { # prints the number of distinct messages read back
  client /opt/kafka/bin/kafka-console-consumer.sh --bootstrap-server "$bootstrap" --topic e2e \
    --from-beginning --max-messages "$N_MSGS" --timeout-ms 60000 2>/dev/null | sort -u | grep -c '^message-' || true
}
got=$(consume)
[ "$got" = "$N_MSGS" ] || fail "consumed $got of $N_MSGS messages"
step "produced $N_MSGS messages with acks=all and consumed them through $bootstrap"
"$here/node/rss.sh" >&2 || true

# --- 4. a broker pod deleted comes back with its id and data ------------------------------------
victim=$CLUSTER-broker-1
id_before=$("${kubectl[@]}" -n "$NS" get pod "$victim" -o jsonpath='{.metadata.labels.kraftwerk\.dev/node-id}')
uid_before=$("${kubectl[@]}" -n "$NS" get pod "$victim" -o jsonpath='{.metadata.uid}')
pv_before=$("${kubectl[@]}" -n "$NS" get pvc "data-$victim" -o jsonpath='{.spec.volumeName}')
# the broker's files, wherever the operator mounts its data volume
find_cmd='find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o'
seg_cmd="$find_cmd -path '*/e2e-*/00000000000000000000.log' -print 2>/dev/null | xargs -r ls -i | sort"
meta_cmd="cat \$($find_cmd -name meta.properties -print 2>/dev/null | head -1)"
segs_before=$("${kubectl[@]}" -n "$NS" exec "$victim" -- sh -c "$seg_cmd" 2>/dev/null || true)
meta_before=$("${kubectl[@]}" -n "$NS" exec "$victim" -- sh -c "$meta_cmd" 2>/dev/null | grep -E '^(node.id|cluster.id)=' | sort)
[ -n "$segs_before" ] || fail "no log segment of topic e2e found in $victim"
"${kubectl[@]}" -n "$NS" delete pod "$victim" --wait=true >/dev/null
step "deleted pod $victim (node id $id_before); waiting for it to return"
for _ in $(seq 1 120); do
  uid_now=$("${kubectl[@]}" -n "$NS" get pod "$victim" -o jsonpath='{.metadata.uid}' 2>/dev/null || true)
  [ -n "$uid_now" ] && [ "$uid_now" != "$uid_before" ] && break
  sleep 2
done
[ -n "${uid_now:-}" ] && [ "$uid_now" != "$uid_before" ] || fail "$victim was not recreated"
"${kubectl[@]}" -n "$NS" wait pod "$victim" --for=condition=Ready --timeout=300s >/dev/null || fail "$victim not Ready again"
id_after=$("${kubectl[@]}" -n "$NS" get pod "$victim" -o jsonpath='{.metadata.labels.kraftwerk\.dev/node-id}')
pv_after=$("${kubectl[@]}" -n "$NS" get pvc "data-$victim" -o jsonpath='{.spec.volumeName}')
segs_after=$("${kubectl[@]}" -n "$NS" exec "$victim" -- sh -c "$seg_cmd" 2>/dev/null || true)
meta_after=$("${kubectl[@]}" -n "$NS" exec "$victim" -- sh -c "$meta_cmd" 2>/dev/null | grep -E '^(node.id|cluster.id)=' | sort)
[ "$id_after" = "$id_before" ] || fail "node id changed: $id_before -> $id_after"
[ "$pv_after" = "$pv_before" ] || fail "volume changed: $pv_before -> $pv_after"
[ "$meta_after" = "$meta_before" ] || fail "meta.properties changed: [$meta_before] -> [$meta_after]"
[ "$segs_after" = "$segs_before" ] || fail "log segments differ (not the same files): [$segs_before] -> [$segs_after]"
"${kubectl[@]}" -n "$NS" wait "kafkacluster/$CLUSTER" --for=condition=Ready --timeout=300s >/dev/null ||
  fail "KafkaCluster not Ready after the broker restart"
got=$(consume)
[ "$got" = "$N_MSGS" ] || fail "after the restart: consumed $got of $N_MSGS messages"
step "$victim returned with node id $id_after, volume $pv_after, the same segment files; all $N_MSGS messages readable"

# --- 5. deleting the KafkaCluster cleans up ------------------------------------------------------
"${kubectl[@]}" -n "$NS" delete pod kafka-client --wait=false >/dev/null
t_del=$(date +%s)
"${kubectl[@]}" -n "$NS" delete "kafkacluster/$CLUSTER" --wait=true --timeout=300s >/dev/null || fail "deleting the KafkaCluster"
left=""
for _ in $(seq 1 90); do
  left=$("${kubectl[@]}" -n "$NS" get pods,services,endpointslices,configmaps,pvc,pdb -l "kraftwerk.dev/cluster=$CLUSTER" -o name 2>/dev/null)
  pvs=$("${kubectl[@]}" get pv -o jsonpath="{range .items[?(@.spec.claimRef.namespace==\"$NS\")]}{.metadata.name} {end}")
  [ -z "$left" ] && [ -z "$pvs" ] && break
  sleep 2
done
[ -z "$left" ] || fail "left behind after deleting the KafkaCluster: $left"
[ -z "$pvs" ] || fail "volumes not reclaimed: $pvs"
step "KafkaCluster deleted: no pods, services, config maps, PVCs, PDBs or volumes left ($(($(date +%s) - t_del))s)"
log "e2e passed in $(($(date +%s) - t0))s"
