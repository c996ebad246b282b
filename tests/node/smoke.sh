#!/usr/bin/env bash
# Smoke test of the real nodes without the operator: a 3-node KRaft Kafka (combined
# broker+controller, static voters) as bare pods of the locally built apache/kafka image,
# one per node, with volumes from the kraftwerk-local provisioner, a headless Service for the
# pods' DNS names, and a client pod that creates a topic (RF 3, min.insync.replicas 2),
# produces with acks=all and consumes everything back. Prints the Kafka JVMs' RSS.
# Needs tests/node/node-up.sh. Cleans up after itself (KRAFTWERK_SMOKE_KEEP=1 keeps it).
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
t0=$(date +%s)
NS=kraftwerk-smoke
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
IMAGE=docker.io/apache/kafka:$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO/tests/kafka/pom.xml")
step() { log "[$(($(date +%s) - t0))s] $*"; }
cleanup() {
  rc=$?
  if [ "${KRAFTWERK_SMOKE_KEEP:-0}" != 1 ]; then
    "${kubectl[@]}" delete namespace "$NS" --ignore-not-found --timeout=120s >/dev/null 2>&1 || true
  fi
  exit $rc
}
trap cleanup EXIT
fail() { log "FAILED: $*"; "${kubectl[@]}" -n "$NS" get pods,pvc -o wide >&2 || true; exit 1; }

"${kubectl[@]}" create namespace "$NS" --dry-run=client -o yaml | "${kubectl[@]}" apply -f - >/dev/null
voters="0@k-0.k.$NS.svc.$CLUSTER_DOMAIN:9093,1@k-1.k.$NS.svc.$CLUSTER_DOMAIN:9093,2@k-2.k.$NS.svc.$CLUSTER_DOMAIN:9093"
{
  cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: k, namespace: $NS}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: smoke-kafka}
  ports: [{name: client, port: 9092}, {name: controller, port: 9093}]
YAML
  for id in 0 1 2; do
    cat <<YAML
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data-k-$id, namespace: $NS}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: kraftwerk-local
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: k-$id, namespace: $NS, labels: {app: smoke-kafka}}
spec:
  hostname: k-$id
  subdomain: k
  nodeSelector: {$NODE_LABEL_KEY: $NODE_LABEL_VALUE, topology.kubernetes.io/zone: $(node_zone $((id + 1)))}
  securityContext: {runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, runAsNonRoot: true}
  terminationGracePeriodSeconds: 30
  containers:
  - name: kafka
    image: $IMAGE
    imagePullPolicy: IfNotPresent
    env:
    - {name: KAFKA_HEAP_OPTS, value: "-Xms256m -Xmx256m"}
    - {name: KAFKA_JVM_PERFORMANCE_OPTS, value: "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"}
    command:
    - bash
    - -ec
    - |
      cat > /tmp/server.properties <<EOF
      process.roles=broker,controller
      node.id=$id
      controller.quorum.voters=$voters
      listeners=PLAINTEXT://:9092,CONTROLLER://:9093
      advertised.listeners=PLAINTEXT://k-$id.k.$NS.svc.$CLUSTER_DOMAIN:9092
      controller.listener.names=CONTROLLER
      inter.broker.listener.name=PLAINTEXT
      listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
      log.dirs=/var/lib/kafka/data/logs
      offsets.topic.replication.factor=3
      transaction.state.log.replication.factor=3
      transaction.state.log.min.isr=2
      group.initial.rebalance.delay.ms=0
      num.network.threads=2
      num.io.threads=2
      log.cleaner.dedupe.buffer.size=2097152
      EOF
      /opt/kafka/bin/kafka-storage.sh format -t smoke-cluster-id-0000A -c /tmp/server.properties --ignore-formatted
      exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties
    ports: [{containerPort: 9092}, {containerPort: 9093}]
    readinessProbe:
      tcpSocket: {port: 9092}
      periodSeconds: 5
    resources: {requests: {cpu: 100m, memory: 512Mi}, limits: {memory: 768Mi}}
    volumeMounts: [{name: data, mountPath: /var/lib/kafka/data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data-k-$id}}]
YAML
  done
  cat <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: $NS}
spec:
  nodeSelector: {$NODE_LABEL_KEY: $NODE_LABEL_VALUE}
  securityContext: {runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true}
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: $IMAGE
    imagePullPolicy: IfNotPresent
    command: [sleep, infinity]
    env:
    - {name: KAFKA_HEAP_OPTS, value: "-Xmx128m"}
    - {name: KAFKA_JVM_PERFORMANCE_OPTS, value: "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"}
YAML
} | "${kubectl[@]}" apply -f - >/dev/null
step "3 Kafka pods + client applied in $NS"
"${kubectl[@]}" -n "$NS" wait pod/k-0 pod/k-1 pod/k-2 pod/client --for=condition=Ready --timeout=300s >/dev/null ||
  fail "pods not Ready"
step "pods Ready: $("${kubectl[@]}" -n "$NS" get pods -o jsonpath='{range .items[*]}{.metadata.name}@{.spec.nodeName}({.status.podIP}) {end}')"
bs=k-0.k.$NS.svc.$CLUSTER_DOMAIN:9092,k-1.k.$NS.svc.$CLUSTER_DOMAIN:9092
client() { "${kubectl[@]}" -n "$NS" exec -i client -- "$@"; }
for _ in $(seq 1 30); do
  client /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$bs" --create --if-not-exists --topic smoke \
    --partitions 3 --replication-factor 3 --config min.insync.replicas=2 >/dev/null 2>&1 && break
  sleep 2
done
client /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$bs" --describe --topic smoke >&2 || fail "topic"
seq 1 300 | sed 's/^/smoke-/' | client /opt/kafka/bin/kafka-console-producer.sh --bootstrap-server "$bs" \
  --topic smoke --producer-property acks=all >/dev/null || fail "produce"
got=$(client /opt/kafka/bin/kafka-console-consumer.sh --bootstrap-server "$bs" --topic smoke --from-beginning \
  --max-messages 300 --timeout-ms 60000 2>/dev/null | sort -u | grep -c '^smoke-' || true)
[ "$got" = 300 ] || fail "consumed $got of 300"
step "produced 300 messages (acks=all, RF 3) and consumed them back"
# RSS of each Kafka JVM (the container's main process)
for id in 0 1 2; do
  n=$("${kubectl[@]}" -n "$NS" get pod "k-$id" -o jsonpath='{.spec.nodeName}')
  rss=$("${kubectl[@]}" -n "$NS" exec "k-$id" -- sh -c 'grep VmRSS /proc/1/status' | awk '{print int($2/1024)}')
  log "k-$id on $n: Kafka JVM RSS ${rss} MiB (heap 256 MiB)"
done
log "smoke passed in $(($(date +%s) - t0))s"
