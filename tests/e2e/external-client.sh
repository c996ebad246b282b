#!/usr/bin/env bash
# A Kafka client outside the cluster — a JVM on the host, in the root network namespace, not in
# a pod — reaches every broker through the addresses the brokers advertise on a `nodeport`
# listener (issue 16).
#
#   external-client.sh <ns> <cluster> <listener> <messages>
#
# Reads status.listeners[<listener>] (the bootstrap address and each broker's address), checks
# that every broker advertises a real node's address, lists the brokers through the bootstrap
# address with Kafka's BrokerApiVersionsCommand (it connects to each broker at the address it
# advertises), then produces <messages> messages with acks=all to a topic with a partition led
# by every broker and reads them all back. Prints one summary line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
ns=$1 cluster=$2 listener=$3 n=$4
fail() { log "FAILED: $*"; exit 1; }

libs=$("$here/../kafka/fetch.sh")
# tool <main class> <args>: one of Kafka's tools on the host's JVM, logging to stderr
tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$here/../images/kafka/config/tools-log4j2.yaml" -cp "$libs/*" "$@"
}
status_of() { "${kubectl[@]}" -n "$ns" get kafkacluster "$cluster" -o jsonpath="$1"; }

# the addresses the operator reports, once every broker has one
brokers=$("${kubectl[@]}" -n "$ns" get kafkacluster "$cluster" -o jsonpath='{.spec.brokers.replicas}')
addresses=""
for _ in $(seq 1 60); do
  addresses=$(status_of "{range .status.listeners[?(@.name==\"$listener\")].brokers[*]}{.address}{\"\\n\"}{end}")
  [ "$(grep -c . <<<"$addresses")" = "$brokers" ] && break
  sleep 2
done
[ "$(grep -c . <<<"$addresses")" = "$brokers" ] || fail "status.listeners[$listener] lists $(grep -c . <<<"$addresses") of $brokers broker addresses"
bootstrap=$(status_of "{.status.listeners[?(@.name==\"$listener\")].bootstrapServers}")
[ -n "$bootstrap" ] || fail "status.listeners[$listener] has no bootstrap address"
node_ips=$("${kubectl[@]}" get nodes -l "$NODE_LABEL_KEY=$NODE_LABEL_VALUE" -o jsonpath='{range .items[*]}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
while read -r a; do
  grep -qx "${a%:*}" <<<"$node_ips" || fail "broker address $a is not a real node's address ($(tr '\n' ' ' <<<"$node_ips"))"
done <<<"$addresses"

# every broker, reached at its advertised address
seen=$(tool org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$bootstrap" 2>/dev/null |
  sed -n 's/^\([^ ]*\) (id: \([0-9]*\).*/\1/p' | sort)
[ "$seen" = "$(sort <<<"$addresses")" ] || fail "the client reached brokers at [$(tr '\n' ' ' <<<"$seen")], advertised [$(tr '\n' ' ' <<<"$addresses")]"

# produce and consume from the host
topic=external-e2e
tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create --if-not-exists \
  --topic "$topic" --partitions "$brokers" --replication-factor "$brokers" >/dev/null 2>&1 || fail "topic creation from the host"
seq 1 "$n" | sed 's/^/external-/' | tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$bootstrap" \
  --topic "$topic" --producer-property acks=all --producer-property enable.idempotence=true >/dev/null 2>&1 ||
  fail "produce from the host"
got=$(tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$bootstrap" --topic "$topic" \
  --from-beginning --max-messages "$n" --timeout-ms 60000 2>/dev/null | sort -u | grep -c '^external-' || true)
[ "$got" = "$n" ] || fail "the host read back $got of $n messages"
log "a client on the host (outside the cluster) reached every broker at its advertised $listener address ($(tr '\n' ' ' <<<"$addresses")) through $bootstrap; produced $n messages with acks=all and read back $got"
