#!/usr/bin/env bash
# End-to-end test on real nodes (issue 5): real pods running the Kafka image, real Services,
# cluster DNS and volumes.
#
#  0. the local control plane (tests/cluster/cluster-up.sh), the images
#     (tests/images/build.sh) and the real nodes (tests/node/node-up.sh), each reused when up;
#  1. install the operator in-cluster with the Helm chart charts/kraftwerk (CRD included, one
#     step), as a user would;
#  2. apply the secure production example (deploy/examples/secure.yaml: its security, listeners
#     and KafkaUser) as a cluster of 3 controllers and 3 brokers pinned to the real nodes, wait
#     for Ready: internal TLS (the KRaft CONTROLLER listener and REPLICATION with mutual TLS),
#     SASL_SSL client listeners with SCRAM-SHA-512, authorization (StandardAuthorizer), the
#     example's super user `admin` (every client step below runs as it) and e2e-reader (ACLs:
#     read topic e2e); certificates from the operator's cluster CA;
#  2b. inside a broker pod, Kafka's own scripts (kafka-features.sh describe, kafka-acls.sh --list,
#     kafka-metadata-quorum.sh describe --status) run, and kafka-configs.sh shows the durability
#     Kafka runs with: cluster-level min.insync.replicas=2, and a topic created without settings
#     has replication factor 3 and effective min.insync.replicas=2; the operator shows the same
#     in status.durability, read back from Kafka; the cluster runs the dynamic quorum
#     (kraft.version 1, voters with directory ids, status.controllerQuorum read back from Kafka);
#  3. from a client pod, create a topic and produce with acks=all, then consume, through the
#     bootstrap Service's DNS name (SASL_SSL, hostname verification); e2e-reader may read the
#     topic and is refused writing to it;
#  3a. a client on the host (outside the cluster, not in a pod) reaches every broker through the
#     names they advertise on the TLS + SCRAM NodePort listener EXTERNAL, with hostname
#     verification, and produces and consumes (tests/e2e/external-client.sh); the pods run with a
#     read-only root filesystem throughout;
#  3b. every Kafka pod serves Prometheus metrics (JMX exporter, port `metrics`), scraped from
#     inside the cluster: key series present, 0 under-replicated partitions, one active
#     controller (tests/e2e/broker-metrics.sh);
#  3c. the CLI as a kubectl plugin from the host, with no broker address reachable from there:
#     kubeconfig namespace, port-forward to the brokers, topic/broker/endpoints/plan commands
#     (tests/e2e/cli-plugin.sh);
#  4. delete a broker pod: it comes back with the same node id, the same volume and the same
#     log segment files, and the data is all still readable; meanwhile the other brokers report
#     under-replicated partitions > 0, and 0 again once it is back;
#  5. a dynamic broker setting (spec.brokers.config) is applied live: no pod restarts, a
#     `Reconfigured` Event per broker, Kafka reports the value as a dynamic broker config;
#  6. a static setting for every node (spec.config) and a certificate renewal (the certificates'
#     renewBeforeDays raised past their remaining validity) roll all 6 nodes together, over TLS,
#     under a continuous idempotent acks=all producer, the operator pod killed once mid-roll
#     (during the broker phase): each node restarted exactly once, controllers first, never two
#     nodes down, every acknowledged message read back, every broker serves a new certificate
#     (read from the host with openssl); figures in .work/e2e-roll.json (raw data in .work/e2e-roll/);
#  6b. the cluster-level min.insync.replicas set to 1 (as the previous release left it) is
#     corrected live by a newly started operator: a DurabilityCorrected Event, no pod restarted;
#  6c. helm upgrade with changed values rolls the operator only; helm uninstall leaves the CRD,
#     the KafkaCluster, its pods and claims alone; installed again, the operator takes over
#     (tests/e2e/helm-lifecycle.sh);
#  6d. under an idempotent acks=all producer: `kubectl scale --replicas=4` adds broker 3 and the
#     operator rebalances onto it; then spec.brokers {replicas: 3, removedIds: [1]} drains broker 1
#     (a middle id), which is then removed; every acknowledged message read back;
#  6e. under an idempotent acks=all producer: `kraftwerk pod replace` of broker 2 (new claim and
#     volume, back in every ISR; tests/e2e/pod-replace.sh), then a real node hosting a broker
#     fails (Kafka containers killed, containerd and kubelet stopped): with
#     nodeLossTimeoutSeconds 20 its pods come back on the other nodes with new local volumes,
#     every ISR full again, the node restored (tests/e2e/node-loss.sh); every acknowledged
#     message read back;
#  7. delete the KafkaCluster: every object it owned is gone (pods, services, config maps,
#     PVCs, PDBs) and its volumes are reclaimed.
#
# Env: KRAFTWERK_E2E_KEEP=1 leaves the nodes, the cluster and the test namespace up;
#      KRAFTWERK_E2E_IMAGES (default all) the images to (re)build before the run;
#      KRAFTWERK_E2E_TIMEOUT (s, default 900) bounds the wait for Ready and for the full roll.
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
  "${kubectl[@]}" -n "$OP_NS" logs -l app.kubernetes.io/name=kraftwerk --prefix --tail=40 >&2 2>/dev/null || true
  exit 1
}
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
bootstrap=$CLUSTER-kafka-bootstrap.$NS.svc.$CLUSTER_DOMAIN:9092
# The cluster is the secure production example's (deploy/examples/secure.yaml): `example <kind>
# <path>` prints a part of one of its documents as JSON.
example() {
  python3 -c 'import json, sys, yaml
doc = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d["kind"] == sys.argv[2])
for key in [k for k in sys.argv[3].split(".") if k]:
    doc = doc[key]
print(json.dumps(doc))' "$here/../deploy/examples/secure.yaml" "$1" "$2"
}
# The clients' identities (KafkaUsers: the example's super user, and one with ACLs) and their
# configuration file in a pod (tests/e2e/client-config.sh).
E2E_USER=$(example KafkaCluster spec.security.authorization.superUsers | jq -r '.[0]') E2E_READER=e2e-reader
CLIENT_PROPS=/tmp/client.properties
# a Kafka tool's connection arguments in the client pod, and in a broker pod (its own name: the
# certificate carries it, not localhost)
boot=(--bootstrap-server "$bootstrap" --command-config "$CLIENT_PROPS")
kboot=(--bootstrap-server "$CLUSTER-broker-0.$CLUSTER-kafka-headless.$NS.svc.$CLUSTER_DOMAIN:9092" --command-config "$CLIENT_PROPS")

# --- 0. cluster, images, nodes ---------------------------------------------------------------
started_cluster=0
if ! api_ready; then
  started_cluster=1
  "$here/cluster/cluster-up.sh"
fi
# kwok must leave the real nodes alone (tests/cluster/cluster-up.sh since the real nodes came): a
# cluster created before that fakes the status of their pods and deletes terminating pods at once.
if grep -q -- '--manage-all-nodes=true' "$CLUSTER_DIR/kwok.yaml" 2>/dev/null &&
  ! grep -q -- '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake' "$CLUSTER_DIR/kwok.yaml"; then
  log "FAILED: the running cluster's kwok manages every node, the real ones too; recreate it: make nodes-down cluster-down, then rerun"
  exit 1
fi
step "building images"
# KRAFTWERK_E2E_IMAGES="pause kafka" reuses the last operator image (~/.cache/kraftwerk/images)
# instead of rebuilding it from the working tree.
# shellcheck disable=SC2086
"$here/images/build.sh" ${KRAFTWERK_E2E_IMAGES:-all} >/dev/null
step "real nodes"
"$here/node/node-up.sh"
watch_pid=""
cleanup() {
  rc=$?
  # the pod watch of step 6 runs in its own process group
  if [ -n "$watch_pid" ]; then kill -TERM -- "-$watch_pid" 2>/dev/null || true; fi
  if [ "${KRAFTWERK_E2E_KEEP:-0}" = 1 ]; then
    log "KRAFTWERK_E2E_KEEP=1: leaving the cluster, the nodes and namespace $NS up"
  else
    # KafkaUsers, then KafkaClusters, while the operator runs: their finalizers need it (a
    # user's removes its credentials and ACLs from Kafka)
    "${kubectl[@]}" -n "$NS" delete kafkausers --all --wait=true --timeout=120s >/dev/null 2>&1 || true
    "${kubectl[@]}" -n "$NS" delete kafkaclusters --all --wait=true --timeout=180s >/dev/null 2>&1 || true
    "${kubectl[@]}" delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    "$BIN/helm" --kubeconfig "$KUBECONFIG_PATH" -n "$OP_NS" uninstall kraftwerk >/dev/null 2>&1 || true
    "$here/node/node-down.sh" || rc=1
    if [ "$started_cluster" = 1 ]; then "$here/cluster/cluster-down.sh" || rc=1; fi
  fi
  exit $rc
}
trap cleanup EXIT

# --- 1. the operator, in-cluster ---------------------------------------------------------------
step "installing the operator: helm upgrade --install charts/kraftwerk (CRD included)"
"$here/node/deploy-operator.sh" helm || fail "the operator did not start"
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
  # the secure example's, with short-lived certificates: step 6 renews them
  security: $(example KafkaCluster spec.security | jq -c '.tls.certificates = {validityDays: 2, renewBeforeDays: 1}')
  listeners: $(example KafkaCluster spec.listeners)
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
# the example's super user, and a user with ACLs
example KafkaUser . | jq -c --arg ns "$NS" --arg c "$CLUSTER" '.metadata.namespace = $ns | .spec.cluster = $c' |
  "${kubectl[@]}" apply -f - >/dev/null || fail "applying the example's KafkaUser"
"${kubectl[@]}" apply -f - >/dev/null <<YAML
apiVersion: kraftwerk.dev/v1alpha1
kind: KafkaUser
metadata: {name: $E2E_READER, namespace: $NS}
spec:
  cluster: $CLUSTER
  authentication: {type: scram-sha-512}
  authorization:
    type: simple
    acls:
    - resource: {type: topic, name: e2e}
      operations: [Read, Describe]
    - resource: {type: group, name: $E2E_READER, patternType: prefixed}
      operations: [Read]
YAML
step "KafkaCluster $NS/$CLUSTER and KafkaUsers $E2E_USER, $E2E_READER applied; waiting for Ready (up to ${TIMEOUT}s)"
"${kubectl[@]}" -n "$NS" wait "kafkacluster/$CLUSTER" --for=condition=Ready --timeout="${TIMEOUT}s" >/dev/null ||
  fail "KafkaCluster not Ready"
for user in "$E2E_USER" "$E2E_READER"; do
  "${kubectl[@]}" -n "$NS" wait "kafkauser/$user" --for=condition=Ready --timeout=300s >/dev/null ||
    fail "KafkaUser $user not Ready: $("${kubectl[@]}" -n "$NS" get kafkauser "$user" -o jsonpath='{.status.conditions}')"
done
step "Ready: $("${kubectl[@]}" -n "$NS" get pods -l kraftwerk.dev/cluster=$CLUSTER -o jsonpath='{range .items[*]}{.metadata.name}@{.spec.nodeName} {end}')"

# --- 2b. Kafka's own tools inside a broker pod; durability as Kafka runs it (issue 11) ---------
# The image carries every script of Kafka's bin/ (tests/images/kafka/tools.list); an SRE's
# usual commands work with `kubectl exec`. Small JVMs: they share the broker container's memory.
# install_client_config <pod> [user] [file]: the cluster CA and a user's client configuration into
# the pod's /tmp (a broker pod's /tmp is a fresh emptyDir after each restart)
install_client_config() {
  "${kubectl[@]}" -n "$NS" get secret "$CLUSTER-cluster-ca-cert" -o jsonpath='{.data.ca\.crt}' | base64 -d |
    "${kubectl[@]}" -n "$NS" exec -i "$1" -- sh -c 'cat >/tmp/ca.crt' &&
    "$here/e2e/client-config.sh" "$NS" "${2:-$E2E_USER}" /tmp/ca.crt |
    "${kubectl[@]}" -n "$NS" exec -i "$1" -- sh -c "cat >${3:-$CLIENT_PROPS}"
}
kexec() {
  install_client_config "$CLUSTER-broker-0" || fail "installing the client configuration in $CLUSTER-broker-0"
  "${kubectl[@]}" -n "$NS" exec "$CLUSTER-broker-0" -- env KAFKA_HEAP_OPTS=-Xmx64m \
    KAFKA_JVM_PERFORMANCE_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k" "$@"
}
kb=/opt/kafka/bin
scripts=$(kexec sh -c "ls $kb/*.sh | wc -l") || fail "cannot list $kb in $CLUSTER-broker-0"
[ "$scripts" -ge 43 ] || fail "the broker image has $scripts scripts in $kb, Kafka 4.3.1 ships 43"
features=$(kexec $kb/kafka-features.sh "${kboot[@]}" describe) || fail "kafka-features.sh describe: $features"
grep -Eq 'Feature: eligible.leader.replicas.version.*FinalizedVersionLevel: 1' <<<"$features" ||
  fail "kafka-features.sh describe shows no eligible.leader.replicas.version 1: $features"
# The StandardAuthorizer lists the ACLs the operator set for KafkaUser e2e-reader.
acls=$(kexec $kb/kafka-acls.sh "${kboot[@]}" --list 2>&1) || fail "kafka-acls.sh --list: $acls"
grep -q "principal=User:$E2E_READER, host=\*, operation=READ, permissionType=ALLOW" <<<"$acls" ||
  fail "kafka-acls.sh --list shows no READ ACL of User:$E2E_READER: $acls"
quorum=$(kexec $kb/kafka-metadata-quorum.sh "${kboot[@]}" describe --status) ||
  fail "kafka-metadata-quorum.sh describe --status: $quorum"
for id in 9000 9001 9002; do
  grep -q "\"id\": $id" <<<"$(grep CurrentVoters <<<"$quorum")" || fail "controller $id is not a voter: $quorum"
done
# a new cluster runs the dynamic quorum (KIP-853): kraft.version 1, voters with directory ids
grep -Eq 'Feature: kraft.version.*FinalizedVersionLevel: 1' <<<"$features" ||
  fail "kraft.version is not 1 (dynamic quorum): $features"
grep -q '"directoryId"' <<<"$(grep CurrentVoters <<<"$quorum")" || fail "the voters carry no directory id: $quorum"
cluster_level=$(kexec $kb/kafka-configs.sh "${kboot[@]}" --describe --entity-type brokers --entity-default) ||
  fail "kafka-configs.sh --entity-default: $cluster_level"
grep -q '^ *min.insync.replicas=2 ' <<<"$cluster_level" || fail "cluster-level min.insync.replicas is not 2: $cluster_level"
# a topic created with nothing set gets the controllers' replication factor and the cluster's min ISR
kexec $kb/kafka-topics.sh "${kboot[@]}" --create --if-not-exists --topic e2e-defaults >/dev/null ||
  fail "creating topic e2e-defaults without settings"
topic_cfg=$(kexec $kb/kafka-configs.sh "${kboot[@]}" --describe --all --entity-type topics --entity-name e2e-defaults) ||
  fail "kafka-configs.sh --describe topic e2e-defaults: $topic_cfg"
min_isr_line=$(grep -E '^ *min.insync.replicas=' <<<"$topic_cfg" || true)
grep -q '^ *min.insync.replicas=2 ' <<<"$min_isr_line" || fail "topic e2e-defaults: effective $min_isr_line"
rf_line=$(kexec $kb/kafka-topics.sh "${kboot[@]}" --describe --topic e2e-defaults | grep -o 'ReplicationFactor: [0-9]*' | head -1 || true)
[ "$rf_line" = "ReplicationFactor: 3" ] || fail "topic e2e-defaults: $rf_line, want 3"
step "in $CLUSTER-broker-0 (SASL_SSL as $E2E_USER): $scripts Kafka scripts; kafka-features/metadata-quorum ran, kafka-acls lists User:$E2E_READER's ACLs; cluster level: $(grep -o -m1 'min.insync.replicas=[0-9]*' <<<"$cluster_level" | head -1); topic without settings: $rf_line, $(sed 's/^ *//; s/ .*//' <<<"$min_isr_line")"
# the operator reads back what Kafka runs with and shows it in the status
durability_status() {
  "${kubectl[@]}" -n "$NS" get kafkacluster "$CLUSTER" \
    -o jsonpath='{.status.durability.replicationFactor}/{.status.durability.minInSyncReplicas}'
}
for _ in $(seq 1 60); do
  [ "$(durability_status)" = 3/2 ] && break
  sleep 1
done
[ "$(durability_status)" = 3/2 ] || fail "status.durability (replicationFactor/minInSyncReplicas) is '$(durability_status)', want 3/2"
step "status.durability: replicationFactor/minInSyncReplicas $(durability_status), read back from Kafka"
quorum_status() {
  "${kubectl[@]}" -n "$NS" get kafkacluster "$CLUSTER" \
    -o jsonpath='{.status.controllerQuorum.mode} {.status.controllerQuorum.voters[*].id}'
}
for _ in $(seq 1 60); do
  [ "$(quorum_status)" = "Dynamic 9000 9001 9002" ] && break
  sleep 1
done
[ "$(quorum_status)" = "Dynamic 9000 9001 9002" ] || fail "status.controllerQuorum is '$(quorum_status)', want 'Dynamic 9000 9001 9002'"
step "status.controllerQuorum: $(quorum_status) (kraft.version 1, read back from Kafka)"

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
    # A Java client on Kubernetes must not cache broker addresses for the JVM's default 30 s:
    # a restarted broker comes back with a new IP (docs/operations.md).
    env: [{name: KAFKA_HEAP_OPTS, value: "-Xmx128m"}, {name: KAFKA_JVM_PERFORMANCE_OPTS, value: "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"},
          {name: KAFKA_OPTS, value: "-Dsun.net.inetaddr.ttl=5 -Dsun.net.inetaddr.negative.ttl=1"}]
YAML
"${kubectl[@]}" -n "$NS" wait pod/kafka-client --for=condition=Ready --timeout=120s >/dev/null || fail "client pod not Ready"
client() { "${kubectl[@]}" -n "$NS" exec -i kafka-client -- "$@"; }
install_client_config kafka-client || fail "installing the client configuration in kafka-client"
install_client_config kafka-client "$E2E_READER" /tmp/reader.properties || fail "installing $E2E_READER's configuration"
client getent hosts "$CLUSTER-kafka-bootstrap.$NS.svc.$CLUSTER_DOMAIN" >/dev/null ||
  fail "the bootstrap Service name does not resolve in the client pod"
client /opt/kafka/bin/kafka-topics.sh "${boot[@]}" --create --if-not-exists --topic e2e \
  --partitions 3 --replication-factor 3 --config min.insync.replicas=2 >/dev/null || fail "topic creation"
seq 1 "$N_MSGS" | sed 's/^/message-/' | client /opt/kafka/bin/kafka-console-producer.sh \
  "${boot[@]}" --topic e2e --producer-property acks=all \
  --producer-property enable.idempotence=true >/dev/null || fail "produce with acks=all"
consume() { # prints the number of distinct messages read back
  client /opt/kafka/bin/kafka-console-consumer.sh "${boot[@]}" --topic e2e \
    --from-beginning --max-messages "$N_MSGS" --timeout-ms 60000 2>/dev/null | sort -u | grep -c '^message-' || true
}
got=$(consume)
[ "$got" = "$N_MSGS" ] || fail "consumed $got of $N_MSGS messages"
step "produced $N_MSGS messages with acks=all and consumed them through $bootstrap (SASL_SSL as $E2E_USER)"
# e2e-reader's ACLs: it reads the topic, and may not write to it
read_as_reader=$(client /opt/kafka/bin/kafka-console-consumer.sh --bootstrap-server "$bootstrap" \
  --command-config /tmp/reader.properties --group "$E2E_READER-e2e" --topic e2e --from-beginning \
  --max-messages "$N_MSGS" --timeout-ms 60000 2>/dev/null | sort -u | grep -c '^message-' || true)
[ "$read_as_reader" = "$N_MSGS" ] || fail "$E2E_READER read $read_as_reader of $N_MSGS messages"
denied=$(echo denied | client /opt/kafka/bin/kafka-console-producer.sh --bootstrap-server "$bootstrap" \
  --command-config /tmp/reader.properties --topic e2e --command-property enable.idempotence=false \
  --command-property acks=1 --command-property max.block.ms=15000 --command-property delivery.timeout.ms=15000 --command-property request.timeout.ms=10000 2>&1 || true)
grep -q 'TopicAuthorizationException\|Not authorized to access topics' <<<"$denied" ||
  fail "$E2E_READER was not refused writing to topic e2e: $(tail -5 <<<"$denied")"
step "$E2E_READER (ACLs: read e2e) read all $N_MSGS messages and was refused writing: TopicAuthorizationException"
"$here/node/rss.sh" >&2 || true
external=$("$here/e2e/external-client.sh" "$NS" "$CLUSTER" EXTERNAL 100 "$E2E_USER" 2>&1) ||
  fail "external client (tests/e2e/external-client.sh): $(tail -5 <<<"$external")"
step "$(tail -1 <<<"$external")"
metrics_summary=$("$here/e2e/broker-metrics.sh" healthy "$NS" "$CLUSTER") || fail "Kafka metrics (tests/e2e/broker-metrics.sh healthy)"
step "$metrics_summary"
cli_summary=$("$here/e2e/cli-plugin.sh" "$NS" "$CLUSTER") || fail "the CLI as a kubectl plugin (tests/e2e/cli-plugin.sh)"
step "$cli_summary"

# --- 4. a broker pod deleted comes back with its id and data ------------------------------------
victim=$CLUSTER-broker-1
urp_samples=$WORK/e2e-urp.txt
rm -f "$urp_samples.stop"
"$here/e2e/broker-metrics.sh" sample-urp "$NS" "$CLUSTER" "$victim" "$urp_samples" &
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
touch "$urp_samples.stop"
wait
urp_max=$(awk '$2 ~ /^[0-9]+$/ && $2 > m {m = $2} END {print m + 0}' "$urp_samples")
[ "$urp_max" -gt 0 ] || fail "the other brokers never reported under-replicated partitions while $victim was down: $(tr '\n' ' ' <"$urp_samples")"
urp_now=""
for _ in $(seq 1 60); do
  urp_now=$("$here/e2e/broker-metrics.sh" urp "$NS" "$CLUSTER" 2>/dev/null || true)
  [ "$urp_now" = 0 ] && break
  sleep 2
done
[ "$urp_now" = 0 ] || fail "under-replicated partitions did not return to 0 after $victim came back (last: ${urp_now:-no answer})"
step "metrics while $victim was down: up to $urp_max under-replicated partitions ($(wc -l <"$urp_samples") samples); 0 again once it was back"
"${kubectl[@]}" -n "$NS" wait "kafkacluster/$CLUSTER" --for=condition=Ready --timeout=300s >/dev/null ||
  fail "KafkaCluster not Ready after the broker restart"
got=$(consume)
[ "$got" = "$N_MSGS" ] || fail "after the restart: consumed $got of $N_MSGS messages"
step "$victim returned with node id $id_after, volume $pv_after, the same segment files; all $N_MSGS messages readable"

# --- helpers for steps 5 and 6 ----------------------------------------------------------------
# "<pod> <uid> <container restart counts>" per node pod, sorted by name
pods_state() {
  "${kubectl[@]}" -n "$NS" get pods -l "kraftwerk.dev/cluster=$CLUSTER" --sort-by=.metadata.name \
    -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid} {.status.containerStatuses[*].restartCount}{"\n"}{end}'
}
# "<pod>|<uid>|<deletionTimestamp>|<Ready status>" per node pod
pods_live() {
  "${kubectl[@]}" -n "$NS" get pods -l "kraftwerk.dev/cluster=$CLUSTER" \
    -o jsonpath='{range .items[*]}{.metadata.name}{"|"}{.metadata.uid}{"|"}{.metadata.deletionTimestamp}{"|"}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'
}
# "<generation> <observedGeneration> <status.rollout.state> <Ready condition>"
cr_state() {
  "${kubectl[@]}" -n "$NS" get kafkacluster "$CLUSTER" \
    -o jsonpath='{.metadata.generation} {.status.observedGeneration} {.status.rollout.state} {.status.conditions[?(@.type=="Ready")].status}'
}
# the operator has seen the latest spec, its rollout is COMPLETE and the cluster Ready
rolled_out() {
  local g o s r
  read -r g o s r <<<"$(cr_state 2>/dev/null)" || return 1
  [ -n "$g" ] && [ "$g" = "$o" ] && [ "$s" = COMPLETE ] && [ "$r" = True ]
}
event_names() { # the names of the namespace's Events, after a header line (so the list is never empty)
  echo '#'
  "${kubectl[@]}" -n "$NS" get events.events.k8s.io -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'
}
new_event_notes() { # new_event_notes <reason> <file from event_names>: notes of newer Events about the cluster
  "${kubectl[@]}" -n "$NS" get events.events.k8s.io \
    -o jsonpath="{range .items[?(@.reason==\"$1\")]}{.metadata.name} {.regarding.name} {.note}{\"\\n\"}{end}" 2>/dev/null |
    awk -v c="$CLUSTER" 'NR == FNR { skip[$1] = 1; next } !($1 in skip) && $2 == c { $1 = ""; $2 = ""; sub(/^ +/, ""); print }' "$2" -
}
since() { awk -v now="$EPOCHREALTIME" -v t="$1" 'BEGIN { printf "%.1f", now - t }'; }
mkdir -p "$WORK"
roll_dir=$WORK/e2e-roll
rm -rf "$roll_dir" "$WORK/e2e-roll.json"
mkdir -p "$roll_dir"

# --- 5. a dynamic broker setting is applied live, without a restart -----------------------------
dyn_key=message.max.bytes dyn_value=2000000
state_before=$(pods_state)
[ "$(grep -c . <<<"$state_before")" = 6 ] || fail "expected 6 node pods, found: $state_before"
mapfile -t broker_ids < <("${kubectl[@]}" -n "$NS" get pods -l "kraftwerk.dev/cluster=$CLUSTER,kraftwerk.dev/role=broker" \
  -o jsonpath='{range .items[*]}{.metadata.labels.kraftwerk\.dev/node-id}{"\n"}{end}' | sort -n)
[ "${#broker_ids[@]}" = 3 ] || fail "expected 3 broker ids, found: ${broker_ids[*]}"
event_names >"$roll_dir/events-before-dynamic.txt"
t_dyn=$EPOCHREALTIME
"${kubectl[@]}" -n "$NS" patch kafkacluster "$CLUSTER" --type merge \
  -p "{\"spec\":{\"brokers\":{\"config\":{\"$dyn_key\":\"$dyn_value\"}}}}" >/dev/null || fail "patching spec.brokers.config"
step "patched spec.brokers.config $dyn_key=$dyn_value (dynamic); waiting for the live update"
deadline=$((SECONDS + 300))
while :; do
  notes=$(new_event_notes Reconfigured "$roll_dir/events-before-dynamic.txt")
  restarts=$(new_event_notes Restarting "$roll_dir/events-before-dynamic.txt")
  [ -z "$restarts" ] || fail "a dynamic change restarted nodes: $restarts"
  missing=""
  for id in "${broker_ids[@]}"; do
    grep -q "to broker $id without a restart" <<<"$notes" || missing="$missing $id"
  done
  if [ -z "$missing" ] && rolled_out; then break; fi
  [ "$SECONDS" -lt "$deadline" ] ||
    fail "the dynamic change was not applied within 300s (no Reconfigured Event for broker(s)${missing:- none}; Reconfigured Events: [${notes}]; cluster: $(cr_state))"
  sleep 1
done
dyn_secs=$(since "$t_dyn")
# what Kafka runs: the value as a per-broker dynamic config (set live) on every broker
dyn_described=$(client /opt/kafka/bin/kafka-configs.sh "${boot[@]}" --describe \
  --entity-type brokers 2>/dev/null) || fail "kafka-configs.sh --describe --entity-type brokers"
for id in "${broker_ids[@]}"; do
  awk -v id="$id" '/^Dynamic configs for broker / { on = ($5 == id) } on' <<<"$dyn_described" |
    grep "DYNAMIC_BROKER_CONFIG:$dyn_key=$dyn_value" >/dev/null ||
    fail "Kafka does not report $dyn_key=$dyn_value as a dynamic config of broker $id: $dyn_described"
done
state_after=$(pods_state)
[ "$state_after" = "$state_before" ] ||
  fail "pods restarted by a dynamic change (name uid restarts): before [$state_before] after [$state_after]"
step "dynamic change applied live in ${dyn_secs}s: a Reconfigured Event per broker, Kafka reports $dyn_key=$dyn_value on brokers ${broker_ids[*]}, all 6 pods kept their uid and restart count"

# --- 6. a full roll under an idempotent acks=all producer; the operator killed mid-roll --------
ROLL_RATE=200
static_key=socket.request.max.bytes static_value=52428800
client /opt/kafka/bin/kafka-topics.sh "${boot[@]}" --create --if-not-exists --topic roll \
  --partitions 3 --replication-factor 3 --config min.insync.replicas=2 >/dev/null || fail "creating topic roll"
mapfile -t nodes < <(pods_state | awk '{print $1}')
before=$(pods_state | awk '{printf "%s%s=%s", sep, $1, $2; sep = ","}')
declare -A uid_before
while read -r name uid _; do uid_before[$name]=$uid; done < <(pods_state)
event_names >"$roll_dir/events-before-roll.txt"
setsid "$here/e2e/watch-pods.sh" "$BIN/kubectl" "$KUBECONFIG_PATH" "$NS" "kraftwerk.dev/cluster=$CLUSTER" \
  "$roll_dir/pods.log" </dev/null >/dev/null 2>&1 &
watch_pid=$!
for _ in $(seq 1 30); do
  [ "$(grep -c '|ADDED|' "$roll_dir/pods.log" 2>/dev/null)" -ge 6 ] && break
  sleep 1
done
[ "$(grep -c '|ADDED|' "$roll_dir/pods.log" 2>/dev/null)" -ge 6 ] || fail "the pod watch did not start"
# Kafka's VerifiableProducer prints one JSON line per acknowledgement or error, with a timestamp.
client sh -c 'cat >/tmp/roll-producer.properties' <<'PROPS'
enable.idempotence=true
acks=all
retries=2147483647
max.in.flight.requests.per.connection=5
delivery.timeout.ms=300000
request.timeout.ms=10000
linger.ms=5
PROPS
client sh -c "cat $CLIENT_PROPS >>/tmp/roll-producer.properties" || fail "writing the producer's configuration"
client sh -c "nohup /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.VerifiableProducer \
  --bootstrap-server $bootstrap --topic roll --acks -1 --throughput $ROLL_RATE \
  --max-messages $((ROLL_RATE * (TIMEOUT + 600))) --command-config /tmp/roll-producer.properties \
  >/tmp/roll-producer.out 2>/tmp/roll-producer.err </dev/null & echo \$! >/tmp/roll-producer.pid" ||
  fail "starting the producer"
# shellcheck disable=SC2016 # expanded in the client pod
producer_alive() { client sh -c 'kill -0 "$(cat /tmp/roll-producer.pid)"' 2>/dev/null; }
acks_so_far() { client sh -c 'grep -c producer_send_success /tmp/roll-producer.out || true' 2>/dev/null || echo 0; }
for _ in $(seq 1 60); do
  [ "$(acks_so_far)" -ge "$ROLL_RATE" ] && break
  producer_alive || fail "the producer exited: $(client cat /tmp/roll-producer.err /tmp/roll-producer.out 2>&1 | tail -20)"
  sleep 2
done
[ "$(acks_so_far)" -ge "$ROLL_RATE" ] || fail "the producer got fewer than $ROLL_RATE acks in 120s"
op_uid_before=$("${kubectl[@]}" -n "$OP_NS" get pods -l app.kubernetes.io/name=kraftwerk -o jsonpath='{.items[*].metadata.uid}')

ca_file=$WORK/e2e-ca.crt
"${kubectl[@]}" -n "$NS" get secret "$CLUSTER-cluster-ca-cert" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$ca_file"
certs_before=$("$here/e2e/served-certs.sh" "$NS" "$CLUSTER" EXTERNAL "$ca_file") || fail "the brokers' certificates before the roll"
t_patch=$EPOCHREALTIME
"${kubectl[@]}" -n "$NS" patch kafkacluster "$CLUSTER" --type merge -p "{\"spec\":{\"config\":{\"$static_key\":\"$static_value\"},
  \"security\":{\"tls\":{\"certificates\":{\"validityDays\":3650,\"renewBeforeDays\":3000}}}}}" >/dev/null ||
  fail "patching spec.config and spec.security.tls.certificates"
step "producing to topic roll at $ROLL_RATE msg/s (idempotent, acks=all, SASL_SSL); patched spec.config $static_key=$static_value (static: every node restarts) and certificates renewBeforeDays 3000 (every certificate is renewed)"
t_kill="" restarted_seen="" deadline=$((SECONDS + TIMEOUT))
while :; do
  live=$(pods_live 2>/dev/null || true)
  restarted="" new_ready=0 broker_phase=0
  while IFS='|' read -r name uid deleting ready; do
    [ -n "$name" ] || continue
    old=${uid_before[$name]:-}
    if [ "$uid" != "$old" ]; then
      restarted="$restarted ${name#"$CLUSTER"-}"
      [ -z "$deleting" ] && [ "$ready" = True ] && new_ready=$((new_ready + 1))
    fi
    case $name in *-broker-*) [ "$uid" != "$old" ] || [ -n "$deleting" ] && broker_phase=1 ;; esac
  done <<<"$live"
  # kill the operator once a broker is being restarted and its Restarting Event is out (an
  # operator killed between the deletion and the Event would leave the node without one)
  if [ "$broker_phase" = 1 ] && [ -z "$t_kill" ] &&
    ! new_event_notes Restarting "$roll_dir/events-before-roll.txt" | grep -- "-broker-" >/dev/null; then
    broker_phase=0
  fi
  if [ "$restarted" != "$restarted_seen" ]; then
    step "roll: restarted so far:${restarted:- none} ($(cr_state 2>/dev/null | awk '{print $3}'))"
    restarted_seen=$restarted
  fi
  if [ -z "$t_kill" ] && [ "$broker_phase" = 1 ]; then
    t_kill=$EPOCHREALTIME
    "${kubectl[@]}" -n "$OP_NS" delete pod -l app.kubernetes.io/name=kraftwerk --grace-period=0 --force >/dev/null 2>&1 ||
      fail "killing the operator pod"
    step "broker phase started: killed the operator pod (the Deployment recreates it)"
  fi
  if [ "$new_ready" = "${#nodes[@]}" ] && rolled_out; then break; fi
  [ "$SECONDS" -lt "$deadline" ] || fail "the roll did not finish within ${TIMEOUT}s (restarted:${restarted:- none}; cluster: $(cr_state))"
  producer_alive || fail "the producer exited during the roll: $(client tail -5 /tmp/roll-producer.err 2>&1)"
  sleep 2
done
t_done=$EPOCHREALTIME
roll_secs=$(since "$t_patch")
[ -n "$t_kill" ] || fail "the broker phase was never observed, the operator was not killed"
op_uid_after=$("${kubectl[@]}" -n "$OP_NS" get pods -l app.kubernetes.io/name=kraftwerk -o jsonpath='{.items[*].metadata.uid}')
[ -n "$op_uid_after" ] && [ "$op_uid_after" != "$op_uid_before" ] ||
  fail "the operator pod was not replaced (before $op_uid_before, after $op_uid_after)"
step "roll complete in ${roll_secs}s: all ${#nodes[@]} nodes restarted, rollout COMPLETE, Ready"
# what Kafka runs now: the new static value, from the file each node restarted with
static_described=$(client /opt/kafka/bin/kafka-configs.sh "${boot[@]}" --describe \
  --entity-type brokers --entity-name "${broker_ids[0]}" --all 2>/dev/null) || fail "kafka-configs.sh --describe --all"
grep "STATIC_BROKER_CONFIG:$static_key=$static_value" <<<"$static_described" >/dev/null ||
  fail "broker ${broker_ids[0]} does not run $static_key=$static_value: $(grep "$static_key" <<<"$static_described")"
# what the brokers serve now: a new certificate each, valid for its advertised name
certs_after=$("$here/e2e/served-certs.sh" "$NS" "$CLUSTER" EXTERNAL "$ca_file") || fail "the brokers' certificates after the roll"
renewed=$(join <(sort <<<"$certs_before") <(sort <<<"$certs_after") | awk '$2 != $3 {n++} END {print n + 0}')
[ "$renewed" = "$(grep -c . <<<"$certs_before")" ] ||
  fail "not every broker serves a renewed certificate: before [$certs_before] after [$certs_after]"
# and every certificate Secret (controllers', brokers', the operator's) holds a 10-year one
read -r long total <<<"$("${kubectl[@]}" -n "$NS" get secrets -l "kraftwerk.dev/cluster=$CLUSTER" \
  -o jsonpath='{range .items[*]}{.metadata.annotations.kraftwerk\.dev/tls-not-after}{"\n"}{end}' |
  awk -v min="$(($(date +%s) + 1000 * 86400))" 'NF { t++; if ($1 > min) l++ } END { print l + 0, t + 0 }')"
[ "$total" -ge 7 ] && [ "$long" = "$total" ] || fail "$long of $total certificate Secrets were renewed (want all, at least 6 nodes and the operator)"
step "certificates renewed in the roll: every broker serves a new one (SHA-256 fingerprints read from the host, verified for its name): $renewed of $renewed; $long of $total certificate Secrets hold certificates valid for over 1000 days"

# a few more seconds of acknowledgements after the roll, then stop the producer cleanly
last_ack_ms() {
  client sh -c 'tail -n 20 /tmp/roll-producer.out' 2>/dev/null | sed -n 's/^{"timestamp":\([0-9]*\),"name":"producer_send_success".*/\1/p' | tail -1
}
want_ms=$(awk -v t="$t_done" 'BEGIN { printf "%d", (t + 3) * 1000 }')
for _ in $(seq 1 60); do
  [ "$(last_ack_ms)" -ge "$want_ms" ] 2>/dev/null && break
  sleep 1
done
[ "$(last_ack_ms)" -ge "$want_ms" ] 2>/dev/null || fail "the producer got no acknowledgement in the 60s after the roll"
# shellcheck disable=SC2016
client sh -c 'kill -TERM "$(cat /tmp/roll-producer.pid)"' || fail "stopping the producer"
for _ in $(seq 1 60); do
  client grep -q tool_data /tmp/roll-producer.out 2>/dev/null && break
  sleep 1
done
client grep -q tool_data /tmp/roll-producer.out 2>/dev/null || fail "the producer did not stop within 60s"
kill -TERM -- "-$watch_pid" 2>/dev/null || true
watch_pid=""
client cat /tmp/roll-producer.out >"$roll_dir/producer.jsonl" || fail "copying the producer's output"
# read the whole topic back: as many records as the partitions' end offsets add up to
records=$(client /opt/kafka/bin/kafka-get-offsets.sh "${boot[@]}" --topic roll 2>/dev/null |
  awk -F: '{n += $3} END {print n + 0}')
[ "$records" -gt 0 ] || fail "topic roll has no records"
client /opt/kafka/bin/kafka-console-consumer.sh "${boot[@]}" --topic roll --from-beginning \
  --max-messages "$records" --timeout-ms 60000 >"$roll_dir/consumed.txt" 2>"$roll_dir/consumer.err" || true
"${kubectl[@]}" -n "$NS" get events.events.k8s.io -o json >"$roll_dir/events.json"
node_list=$(printf '%s\n' "${nodes[@]}" | sort -t- -k2,2r -k3,3n | paste -sd,)
if ! summary=$(python3 "$here/e2e/roll_report.py" --pods "$roll_dir/pods.log" --producer "$roll_dir/producer.jsonl" \
  --consumed "$roll_dir/consumed.txt" --events "$roll_dir/events.json" --events-before "$roll_dir/events-before-roll.txt" \
  --cluster "$CLUSTER" --nodes "$node_list" --before "$before" --t-patch "$t_patch" --t-done "$t_done" --t-kill "$t_kill" \
  --extra "{\"dynamic_change_seconds\": $dyn_secs, \"producer_rate\": $ROLL_RATE, \"records_in_topic\": $records}" \
  --out "$WORK/e2e-roll.json"); then
  log "$summary"
  fail "the full roll (figures in $WORK/e2e-roll.json, raw data in $roll_dir)"
fi
step "$summary"

# --- 6b. a cluster left with the wrong cluster-level value (as the previous release left every
# default cluster) is corrected live by a newly started operator, with an Event, no restart -----
kexec $kb/kafka-configs.sh "${kboot[@]}" --alter --entity-type brokers --entity-default \
  --add-config min.insync.replicas=1 >/dev/null || fail "setting the cluster-level min.insync.replicas=1"
kafka_uids() {
  "${kubectl[@]}" -n "$NS" get pods -l kraftwerk.dev/cluster=$CLUSTER -o jsonpath='{range .items[*]}{.metadata.uid}{" "}{end}'
}
uids_before=$(kafka_uids)
t_wrong=$EPOCHREALTIME
"${kubectl[@]}" -n "$OP_NS" delete pod -l app.kubernetes.io/name=kraftwerk --wait=false >/dev/null ||
  fail "restarting the operator"
corrected() {
  "${kubectl[@]}" -n "$NS" get events.events.k8s.io --field-selector reason=DurabilityCorrected \
    -o jsonpath='{range .items[*]}{.note}{"\n"}{end}' 2>/dev/null | grep 'min.insync.replicas at the cluster level: 1 -> 2'
}
for _ in $(seq 1 120); do
  corrected >/dev/null && break
  sleep 1
done
note=$(corrected) || fail "no DurabilityCorrected Event for min.insync.replicas within 120s of the operator restart"
cluster_level=$(kexec $kb/kafka-configs.sh "${kboot[@]}" --describe --entity-type brokers --entity-default) ||
  fail "kafka-configs.sh --entity-default: $cluster_level"
grep -q '^ *min.insync.replicas=2 ' <<<"$cluster_level" || fail "cluster-level min.insync.replicas after the correction: $cluster_level"
[ "$(kafka_uids)" = "$uids_before" ] || fail "the correction restarted Kafka pods"
step "cluster-level min.insync.replicas=1 corrected live $(since "$t_wrong")s after the operator restart (\"$note\"); no Kafka pod restarted"

# --- 6c. the chart's upgrade and uninstall leave the Kafka cluster alone ---------------------------
helm_summary=$("$here/e2e/helm-lifecycle.sh" "$NS" "$CLUSTER") || fail "helm upgrade/uninstall (tests/e2e/helm-lifecycle.sh)"
step "$helm_summary"
# --- 6d. scale-up with rebalance (kubectl scale), drain of a middle broker (spec), zero loss ----
rebalance_state() { # "<operation> <state> <brokers> <partitionsToMove>"
  "${kubectl[@]}" -n "$NS" get kafkacluster "$CLUSTER" \
    -o jsonpath='{.status.rebalance.operation} {.status.rebalance.state} {.status.rebalance.brokers} {.status.rebalance.partitionsToMove}'
}
wait_rebalance() { # wait_rebalance <operation or ''> <brokers as JSON>: until COMPLETE over those brokers
  local deadline=$((SECONDS + TIMEOUT)) op st br n
  while :; do
    read -r op st br n <<<"$(rebalance_state 2>/dev/null)" || true
    { [ -z "$1" ] || [ "$op" = "$1" ]; } && [ "$st" = COMPLETE ] && [ "$br" = "$2" ] && rolled_out && return 0
    [ "$SECONDS" -lt "$deadline" ] || fail "$1 over $2 not COMPLETE within ${TIMEOUT}s (status.rebalance: $op $st $br $n)"
    sleep 2
  done
}
replicas_on() { # replicas_on <broker id>: partition replicas of every topic (internal ones too) on that broker
  { client /opt/kafka/bin/kafka-topics.sh "${boot[@]}" --describe 2>/dev/null || true; } |
    awk -v b="$1" '/Replicas:/ { for (i = 1; i <= NF; i++) if ($i == "Replicas:") { n = split($(i + 1), r, ","); for (j = 1; j <= n; j++) if (r[j] == b) c++ } } END { print c + 0 }'
}
start_producer() { # start_producer <topic>: an idempotent acks=all producer in the client pod (RF 3, min ISR 2)
  client /opt/kafka/bin/kafka-topics.sh "${boot[@]}" --create --if-not-exists --topic "$1" \
    --partitions 6 --replication-factor 3 --config min.insync.replicas=2 >/dev/null || fail "creating topic $1"
  client sh -c "nohup /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.VerifiableProducer \
    --bootstrap-server $bootstrap --topic $1 --acks -1 --throughput $ROLL_RATE \
    --max-messages $((ROLL_RATE * (2 * TIMEOUT + 600))) --command-config /tmp/roll-producer.properties \
    >/tmp/$1-producer.out 2>/tmp/$1-producer.err </dev/null & echo \$! >/tmp/$1-producer.pid" ||
    fail "starting the $1 producer"
}
stop_producer() { # stop_producer <topic>: stops it, reads the topic back; prints tests/e2e/zero_loss.py's summary
  # shellcheck disable=SC2016
  client sh -c "kill -TERM \"\$(cat /tmp/$1-producer.pid)\"" || fail "stopping the $1 producer"
  for _ in $(seq 1 60); do
    client grep -q tool_data "/tmp/$1-producer.out" 2>/dev/null && break
    sleep 1
  done
  client cat "/tmp/$1-producer.out" >"$roll_dir/$1-producer.jsonl" || fail "copying the $1 producer's output"
  local records
  records=$(client /opt/kafka/bin/kafka-get-offsets.sh "${boot[@]}" --topic "$1" 2>/dev/null |
    awk -F: '{n += $3} END {print n + 0}')
  client /opt/kafka/bin/kafka-console-consumer.sh "${boot[@]}" --topic "$1" --from-beginning \
    --max-messages "$records" --timeout-ms 60000 >"$roll_dir/$1-consumed.txt" 2>/dev/null || true
  python3 "$here/e2e/zero_loss.py" "$roll_dir/$1-producer.jsonl" "$roll_dir/$1-consumed.txt"
}
start_producer scale
t_scale=$EPOCHREALTIME
"${kubectl[@]}" -n "$NS" scale kafkacluster "$CLUSTER" --replicas=4 >/dev/null || fail "kubectl scale --replicas=4"
step "producing to topic scale; kubectl scale --replicas=4: waiting for broker 3 and the rebalance"
wait_rebalance rebalance '[0,1,2,3]'
on3=$(replicas_on 3)
# Balance is over all replicas: which topics' partitions move is the planner's choice.
on0=$(replicas_on 0)
[ "$on3" -gt 0 ] && [ "$on3" -ge $((on0 - 1)) ] ||
  fail "the rebalance left $on3 replicas on the new broker 3 (broker 0 holds $on0; want within 1)"
read -r _ _ _ moved_up <<<"$(rebalance_state)"
up_secs=$(since "$t_scale")
step "scale-up rebalanced in ${up_secs}s: $moved_up partitions moved, broker 3 holds $on3 replicas, broker 0 $on0"
t_drain=$EPOCHREALTIME
"${kubectl[@]}" -n "$NS" patch kafkacluster "$CLUSTER" --type merge \
  -p '{"spec":{"brokers":{"replicas":3,"removedIds":[1]}}}' >/dev/null || fail "patching removedIds [1]"
step "patched spec.brokers replicas 3, removedIds [1]: waiting for the drain of broker 1"
for _ in $(seq 1 "$TIMEOUT"); do
  "${kubectl[@]}" -n "$NS" get pod "$CLUSTER-broker-1" >/dev/null 2>&1 || break
  sleep 1
done
! "${kubectl[@]}" -n "$NS" get pod "$CLUSTER-broker-1" >/dev/null 2>&1 || fail "broker 1 not removed within ${TIMEOUT}s ($(rebalance_state))"
# the drain ends COMPLETE, or a rebalance over the remaining brokers follows it
wait_rebalance '' '[0,2,3]'
[ "$(replicas_on 1)" = 0 ] || fail "replicas left on removed broker 1"
drain_secs=$(since "$t_drain")
scale_summary=$(stop_producer scale) || fail "acknowledged messages lost during scale-up/drain: $scale_summary"
step "drain of broker 1 done in ${drain_secs}s (pod gone, no replica of any topic left on it); messages: $scale_summary"

# --- 6e. pod replace and a lost real node under a zero-loss producer (issue 14) -------------------
start_producer recovery
replace_summary=$(E2E_BOOTSTRAP=$bootstrap E2E_CLIENT_PROPS=$CLIENT_PROPS "$here/e2e/pod-replace.sh" "$NS" "$CLUSTER" 2) || fail "kraftwerk pod replace (tests/e2e/pod-replace.sh)"
step "$replace_summary"
loss_summary=$(E2E_BOOTSTRAP=$bootstrap E2E_CLIENT_PROPS=$CLIENT_PROPS "$here/e2e/node-loss.sh" "$NS" "$CLUSTER" 20) || fail "node loss (tests/e2e/node-loss.sh)"
step "$loss_summary"
recovery_summary=$(stop_producer recovery) || fail "acknowledged messages lost during the replace or the node loss: $recovery_summary"
step "messages during the pod replace and the node loss: $recovery_summary"

# --- 7. deleting the KafkaUsers and the KafkaCluster cleans up -------------------------------------
"${kubectl[@]}" -n "$NS" delete pod kafka-client --wait=false >/dev/null
"${kubectl[@]}" -n "$NS" delete kafkauser "$E2E_READER" --wait=true --timeout=120s >/dev/null || fail "deleting KafkaUser $E2E_READER"
acls_left=$(kexec $kb/kafka-acls.sh "${kboot[@]}" --list --principal "User:$E2E_READER" 2>&1) || fail "kafka-acls.sh --list: $acls_left"
! grep -q "principal=User:$E2E_READER" <<<"$acls_left" || fail "User:$E2E_READER's ACLs outlived its KafkaUser: $acls_left"
"${kubectl[@]}" -n "$NS" delete kafkauser "$E2E_USER" --wait=true --timeout=120s >/dev/null || fail "deleting KafkaUser $E2E_USER"
for user in "$E2E_READER" "$E2E_USER"; do
  ! "${kubectl[@]}" -n "$NS" get secret "$user" >/dev/null 2>&1 || fail "the Secret of KafkaUser $user outlived it"
done
step "KafkaUsers deleted: their Secrets and e2e-reader's ACLs are gone"
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
e2e_secs=$(($(date +%s) - t0))
python3 - "$WORK/e2e-roll.json" "$e2e_secs" <<'PY' || true
import json, sys
with open(sys.argv[1]) as f:
    d = json.load(f)
d["e2e_seconds"] = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    json.dump(d, f, indent=2)
    f.write("\n")
PY
log "e2e passed in ${e2e_secs}s"
