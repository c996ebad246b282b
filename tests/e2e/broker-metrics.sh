#!/usr/bin/env bash
# Kafka's Prometheus metrics (the JMX exporter agent of the Kafka image, port `metrics`),
# scraped from inside the cluster: a broker pod opens /metrics of another pod's IP with bash's
# /dev/tcp (the image has no HTTP client).
#
#   broker-metrics.sh healthy <ns> <cluster>
#       every node serves metrics; the key series exist with plausible values on a healthy
#       cluster (0 under-replicated, under-min-ISR and offline partitions, exactly one active
#       controller, bytes in > 0 over the brokers, request counts and latency percentiles, log sizes, JVM heap and
#       GC); prints a summary line
#   broker-metrics.sh urp <ns> <cluster> [<skip pod>]
#       prints the under-replicated partitions summed over the brokers (but <skip pod>)
#   broker-metrics.sh sample-urp <ns> <cluster> <skip pod> <out>
#       appends "<epoch> <under-replicated partitions summed over the brokers but <skip pod>>" to
#       <out> about every second, until <out>.stop exists (at most 10 minutes)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
cmd=$1 ns=$2 cluster=$3
port_of() { "${kubectl[@]}" -n "$ns" get pod "$1" -o jsonpath='{.spec.containers[0].ports[?(@.name=="metrics")].containerPort}'; }

# scrape <target pod>: its /metrics text, fetched from inside <cluster>-broker-0
scrape() {
  local ip port
  ip=$("${kubectl[@]}" -n "$ns" get pod "$1" -o jsonpath='{.status.podIP}')
  port=$(port_of "$1")
  [ -n "$ip" ] && [ -n "$port" ] || return 1
  "${kubectl[@]}" -n "$ns" exec "$cluster-broker-0" -- bash -c \
    "exec 3<>/dev/tcp/$ip/$port && printf 'GET /metrics HTTP/1.0\r\nHost: $ip\r\n\r\n' >&3 && cat <&3" 2>/dev/null
}
# value <series regex>: the sum of the matching samples of the text on stdin, or "missing"
value() { awk -v re="^($1)( |[{])" '$0 ~ re {s += $NF; n++} END {if (n) printf "%g\n", s; else print "missing"}'; }
pods_of() { "${kubectl[@]}" -n "$ns" get pods -l "kraftwerk.dev/cluster=$cluster,kraftwerk.dev/role=$1" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'; }
fail() { log "FAILED: $*"; exit 1; }
# want <name> <got> <test> <bound>: fails unless got is a number and [ got <test> bound ]
want() { [[ $2 =~ ^[0-9.e+-]+$ ]] && awk -v a="$2" -v b="$4" -v t="$3" 'BEGIN {exit !((t=="eq" && a==b) || (t=="gt" && a>b))}' || fail "$1 = $2, want $3 $4"; }

healthy() {
  local p text active=0 urp=0 bytes_in=0 summary=""
  for p in $(pods_of controller); do
    text=$(scrape "$p") || fail "no metrics from $p"
    want "$p jvm heap used" "$(value 'jvm_memory_used_bytes[{]area="heap"[}]' <<<"$text")" gt 0
    want "$p gc collections" "$(value 'jvm_gc_collection_seconds_count' <<<"$text")" gt -1
    a=$(value kafka_controller_kafkacontroller_activecontrollercount <<<"$text")
    want "$p active controller count" "$a" gt -1
    active=$(awk -v x="$active" -v y="$a" 'BEGIN {print x + y}')
    if [ "$a" = 1 ]; then
      want "offline partitions ($p, active)" "$(value kafka_controller_kafkacontroller_offlinepartitionscount <<<"$text")" eq 0
      summary+=" active controller $p (offline partitions 0, $(value kafka_controller_kafkacontroller_globalpartitioncount <<<"$text") partitions);"
    fi
  done
  want "active controllers" "$active" eq 1
  for p in $(pods_of broker); do
    text=$(scrape "$p") || fail "no metrics from $p"
    want "$p under-replicated" "$(value kafka_server_replicamanager_underreplicatedpartitions <<<"$text")" eq 0
    want "$p under-min-ISR" "$(value kafka_server_replicamanager_underminisrpartitioncount <<<"$text")" eq 0
    want "$p offline replicas" "$(value kafka_server_replicamanager_offlinereplicacount <<<"$text")" eq 0
    want "$p ISR shrinks" "$(value kafka_server_replicamanager_isrshrinks_total <<<"$text")" gt -1
    want "$p ISR expands" "$(value kafka_server_replicamanager_isrexpands_total <<<"$text")" gt -1
    # produce bytes arrive at partition leaders only: one broker may have none
    want "$p bytes in" "$(value kafka_server_brokertopicmetrics_bytesin_total <<<"$text")" gt -1
    bytes_in=$(awk -v x="$bytes_in" -v y="$(value kafka_server_brokertopicmetrics_bytesin_total <<<"$text")" 'BEGIN {print x + y}')
    want "$p bytes out" "$(value kafka_server_brokertopicmetrics_bytesout_total <<<"$text")" gt -1
    want "$p requests" "$(value kafka_network_requestmetrics_requests_total <<<"$text")" gt 0
    want "$p produce p99 latency" "$(value 'kafka_network_requestmetrics_totaltimems[{]quantile="0.99",request="Produce"[}]|kafka_network_requestmetrics_totaltimems[{]request="Produce",quantile="0.99"[}]' <<<"$text")" gt -1
    want "$p log size" "$(value kafka_log_log_size <<<"$text")" gt 0
    want "$p jvm heap used" "$(value 'jvm_memory_used_bytes[{]area="heap"[}]' <<<"$text")" gt 0
    urp=$((urp + $(value kafka_server_replicamanager_underreplicatedpartitions <<<"$text")))
    summary+=" $p: $(value kafka_server_replicamanager_leadercount <<<"$text") leaders, log $(value kafka_log_log_size <<<"$text") B, bytes in $(value kafka_server_brokertopicmetrics_bytesin_total <<<"$text");"
  done
  want "bytes in, all brokers" "$bytes_in" gt 0
  echo "metrics of $(($(pods_of controller | wc -l) + $(pods_of broker | wc -l))) pods scraped in-cluster: 1 active controller, under-replicated $urp, under-min-ISR 0, offline 0;$summary"
}

urp() {
  local skip=${1:-} p sum=0 v
  for p in $(pods_of broker); do
    [ "$p" = "$skip" ] && continue
    v=$(scrape "$p" | value kafka_server_replicamanager_underreplicatedpartitions) || v=missing
    [ "$v" = missing ] && return 1
    sum=$((sum + v))
  done
  echo "$sum"
}

sample_urp() {
  local skip=$1 out=$2 end=$(($(date +%s) + 600)) v
  : >"$out"
  while [ ! -e "$out.stop" ] && [ "$(date +%s)" -lt "$end" ]; do
    v=$(urp "$skip") || v=missing
    echo "$(date +%s) $v" >>"$out"
    sleep 1
  done
}

case "$cmd" in
  healthy) healthy ;;
  urp) urp "${4:-}" ;;
  sample-urp) sample_urp "$4" "$5" ;;
  *) log "unknown command $cmd"; exit 2 ;;
esac
