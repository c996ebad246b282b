#!/usr/bin/env bash
# A Kafka client outside the cluster — a JVM on the host, in the root network namespace, not in
# a pod — reaches every broker through the names the brokers advertise on a TLS + SCRAM
# `nodeport` listener, with hostname verification (issue 16).
#
#   external-client.sh <ns> <cluster> <listener> <messages> <kafka user>
#
# Reads status.listeners[<listener>] (each broker's advertised name and node port); resolves the
# names to the brokers' nodes through a hosts file of its own (tests/e2e/broker-hosts.sh, given to
# the JVM as jdk.net.hosts.file); checks with openssl that each broker serves a certificate of the
# cluster CA that verifies for its advertised name and not for another (tests/e2e/served-certs.sh);
# lists the brokers with Kafka's BrokerApiVersionsCommand (it connects to each broker at the
# address it advertises), then produces <messages> messages with acks=all to a topic with a
# partition led by every broker and reads them all back, as <kafka user> over SASL_SSL with
# SCRAM-SHA-512. Prints one summary line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
ns=$1 cluster=$2 listener=$3 n=$4 user=$5
fail() { log "FAILED: $*"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

libs=$("$here/../kafka/fetch.sh")
# tool <main class> <args>: one of Kafka's tools on the host's JVM, logging to stderr; names
# resolve through the hosts file only
tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djdk.net.hosts.file="$dir/hosts" \
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
"$here/broker-hosts.sh" "$ns" "$cluster" "$listener" >"$dir/hosts" || fail "the advertised names (tests/e2e/broker-hosts.sh)"
"${kubectl[@]}" -n "$ns" get secret "$cluster-cluster-ca-cert" -o jsonpath='{.data.ca\.crt}' | base64 -d >"$dir/ca.crt"
"$here/served-certs.sh" "$ns" "$cluster" "$listener" "$dir/ca.crt" >"$dir/served" ||
  fail "the brokers' certificates (tests/e2e/served-certs.sh)"
"$here/client-config.sh" "$ns" "$user" "$dir/ca.crt" >"$dir/client.properties"
# the advertised names are the bootstrap list: the node addresses are in no certificate
bootstrap=$(paste -sd, <<<"$addresses")
kafka=(--bootstrap-server "$bootstrap" --command-config "$dir/client.properties")

# every broker, reached at its advertised address
seen=$(tool org.apache.kafka.tools.BrokerApiVersionsCommand "${kafka[@]}" 2>/dev/null |
  sed -n 's/^\([^ ]*\) (id: \([0-9]*\).*/\1/p' | sort)
[ "$seen" = "$(sort <<<"$addresses")" ] || fail "the client reached brokers at [$(tr '\n' ' ' <<<"$seen")], advertised [$(tr '\n' ' ' <<<"$addresses")]"

# produce and consume from the host
topic=external-e2e
tool org.apache.kafka.tools.TopicCommand "${kafka[@]}" --create --if-not-exists \
  --topic "$topic" --partitions "$brokers" --replication-factor "$brokers" >/dev/null 2>&1 || fail "topic creation from the host"
seq 1 "$n" | sed 's/^/external-/' | tool org.apache.kafka.tools.ConsoleProducer "${kafka[@]}" \
  --topic "$topic" --command-property acks=all --command-property enable.idempotence=true >/dev/null 2>&1 ||
  fail "produce from the host"
got=$(tool org.apache.kafka.tools.consumer.ConsoleConsumer "${kafka[@]}" --topic "$topic" \
  --from-beginning --max-messages "$n" --timeout-ms 60000 2>/dev/null | sort -u | grep -c '^external-' || true)
[ "$got" = "$n" ] || fail "the host read back $got of $n messages"
log "a client on the host (outside the cluster) reached every broker at its advertised $listener name over SASL_SSL as $user, with hostname verification ($(awk '{print $1}' "$dir/served" | tr '\n' ' ')each certificate verified for its name by openssl and refused for another); produced $n messages with acks=all and read back $got"
