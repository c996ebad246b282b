#!/usr/bin/env bash
# `make demo`: a real Kafka cluster run by the operator, on this machine.
#
# By default (KRAFTWERK_DEMO_NODES=real, needs root) it starts the local control plane, builds
# the images (Kafka, the operator, pause), joins three real kubelet nodes (containerd, runc,
# CNI, kube-proxy, CoreDNS: tests/node/), cordons the simulated kwok nodes so every pod runs for
# real, installs the operator in-cluster with the Helm chart charts/kraftwerk as a user would,
# creates deploy/examples/minimal.yaml, waits until it is Ready, and writes and reads a few
# messages through the bootstrap Service.
#
# KRAFTWERK_DEMO_NODES=kwok is the quick variant: simulated nodes, the operator as a local
# process, no Kafka behind the pods. When KUBECONFIG points at a reachable cluster of your own,
# the demo uses it (CRD + the operator as a local process) instead of the local cluster.
#
#   tests/demo.sh                  run the demo
#   tests/demo.sh --stop-operator  stop the operator process the kwok variant started
# Env: KRAFTWERK_DEMO_NODES (real | kwok), KRAFTWERK_DEMO_EXAMPLE (default
#      deploy/examples/minimal.yaml), KRAFTWERK_METRICS_ADDR (default 127.0.0.1:9808),
#      KRAFTWERK_DEMO_TIMEOUT (default 900 s real, 300 s kwok).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=cluster/env.sh
. "$REPO/tests/cluster/env.sh"
pidfile=$WORK/operator.pid
oplog=$WORK/operator.log
example=${KRAFTWERK_DEMO_EXAMPLE:-$REPO/deploy/examples/minimal.yaml}
metrics=${KRAFTWERK_METRICS_ADDR:-127.0.0.1:9808}
mode=${KRAFTWERK_DEMO_NODES:-real}
case "$mode" in real | kwok) ;; *) echo "KRAFTWERK_DEMO_NODES must be real or kwok, not '$mode'" >&2; exit 2 ;; esac
if [ "$mode" = real ] && [ "$(id -u)" != 0 ]; then
  echo "real nodes need root (network namespaces, containerd); running the kwok variant instead" >&2
  mode=kwok
fi
target_dir=${CARGO_TARGET_DIR:-$REPO/target}
step() { printf '\n==> %s\n' "$*"; }

stop_operator() {
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    # Only a process that is our operator binary is stopped, never anything else.
    if kill -0 "$pid" 2>/dev/null && grep -q kraftwerk "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      echo "stopped the demo operator (pid $pid)"
    fi
    rm -f "$pidfile"
  fi
}

if [ "${1:-}" = --stop-operator ]; then
  stop_operator
  exit 0
fi

t0=$(date +%s)
mkdir -p "$WORK"


# kubectl: the one built with the cluster binaries, else whatever is on PATH.
kubectl_bin=$BIN/kubectl
if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$KUBECONFIG_PATH" ] &&
  { [ -x "$kubectl_bin" ] || kubectl_bin=$(command -v kubectl); } &&
  "$kubectl_bin" --request-timeout=5s get --raw /readyz >/dev/null 2>&1; then
  step "using the cluster KUBECONFIG points at ($KUBECONFIG)"
  mode=external
else
  step "starting the local cluster (real control plane)"
  "$REPO/tests/cluster/cluster-up.sh"
  export KUBECONFIG=$KUBECONFIG_PATH
  kubectl_bin=$BIN/kubectl
fi
timeout=${KRAFTWERK_DEMO_TIMEOUT:-$([ "$mode" = real ] && echo 900 || echo 300)}
k() { "$kubectl_bin" "$@"; }
simulated_nodes() { k get nodes -o jsonpath='{range .items[?(@.metadata.annotations.kwok\.x-k8s\.io/node=="fake")]}{.metadata.name}{"\n"}{end}'; }

if [ "$mode" = real ]; then
  step "building the images: Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO/tests/kafka/pom.xml"), the operator, pause (cold: several minutes; then cached)"
  "$REPO/tests/images/build.sh" all
  step "joining three real nodes (kubelet, containerd, runc, CNI, kube-proxy, CoreDNS)"
  "$REPO/tests/node/node-up.sh"
  step "cordoning the simulated kwok nodes, so every pod runs on a real node"
  for n in $(simulated_nodes); do k cordon "$n" >/dev/null; done
  k get nodes -L kraftwerk.dev/node-type,topology.kubernetes.io/zone
  step "installing the operator in-cluster: helm upgrade --install kraftwerk charts/kraftwerk (CRD included)"
  "$REPO/tests/node/deploy-operator.sh" helm
  k -n kraftwerk-system get pods -o wide
else
  if [ "$mode" = kwok ]; then
    for n in $(simulated_nodes); do k uncordon "$n" >/dev/null; done
  fi
  step "building the operator (cargo build)"
  cargo build --bins
  operator=$target_dir/debug/kraftwerk
fi
# wait_until SECONDS ARGS...: polls `kubectl get ARGS` until it prints "True". (`kubectl wait
# --for=condition` errors out while an object has no status.conditions yet.)
wait_until() {
  local deadline=$(($(date +%s) + $1))
  shift
  until [ "$(k get "$@" 2>/dev/null)" = True ]; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

if [ "$mode" != real ]; then
  step "installing the CRD (kubectl apply -f crds/)"
  k apply -f "$REPO/crds/"
  wait_until 60 crd/kafkaclusters.kraftwerk.dev -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' ||
    { echo "the CRD did not become Established" >&2; exit 1; }

  step "starting the operator in the background (log: $oplog)"
  stop_operator >/dev/null
  # It elects itself leader over a Lease in kraftwerk-system, as in-cluster (the chart installs
  # into that namespace).
  k create namespace kraftwerk-system --dry-run=client -o yaml | k apply -f - >/dev/null
  setsid nohup "$operator" run --metrics-addr "$metrics" >"$oplog" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/${metrics%:*}/${metrics##*:}") 2>/dev/null; then break; fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "the operator exited; its log:" >&2; tail -n 30 "$oplog" >&2; exit 1; }
    sleep 0.2
  done
  echo "operator pid $(cat "$pidfile"), metrics and health on http://$metrics/metrics"
fi

step "applying $(realpath --relative-to="$REPO" "$example")"
ref=$(k apply -f "$example" -o name | grep -i kafkacluster | head -n 1)
ns=$(k get -f "$example" -o jsonpath='{.metadata.namespace}' 2>/dev/null | awk '{print $1}')
ns=${ns:-$(k config view --minify -o jsonpath='{..namespace}')}
ns=${ns:-default}
name=${ref##*/}
echo "created $ref in namespace $ns"

step "waiting for Ready (timeout ${timeout}s)"
t1=$(date +%s)
if ! wait_until "$timeout" -n "$ns" "$ref" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'; then
  echo "the KafkaCluster did not become Ready; its status and the operator log:" >&2
  k -n "$ns" get "$ref" -o yaml >&2 || true
  if [ "$mode" = real ]; then k -n kraftwerk-system logs -l app.kubernetes.io/name=kraftwerk --prefix --tail=40 >&2 || true; else tail -n 40 "$oplog" >&2; fi
  exit 1
fi
ready_s=$(($(date +%s) - t1))

step "kubectl get kc -o wide"
k -n "$ns" get kc -o wide
echo
k -n "$ns" get pods,pvc,svc,pdb -l "kraftwerk.dev/cluster=$name" -o wide
echo
echo "Conditions:"
k -n "$ns" get "$ref" -o go-template='{{range .status.conditions}}  {{.type}}={{.status}}  {{.reason}}: {{.message}}{{"\n"}}{{end}}'
echo "Cluster id:        $(k -n "$ns" get "$ref" -o jsonpath='{.status.clusterId}')"
echo "Bootstrap address: $(k -n "$ns" get "$ref" -o jsonpath='{.status.bootstrapServers}')"

# Are the pods on simulated nodes?
nodes=$(k -n "$ns" get pods -l "kraftwerk.dev/cluster=$name" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u)
fake=0
for n in $nodes; do
  [ "$(k get node "$n" -o jsonpath='{.metadata.annotations.kwok\.x-k8s\.io/node}' 2>/dev/null)" = fake ] && fake=1
done
if [ "$fake" = 0 ] && [ "$mode" = real ]; then
  bootstrap=$(k -n "$ns" get "$ref" -o jsonpath='{.status.bootstrapServers}')
  step "writing and reading messages through $bootstrap (from inside $name-broker-0)"
  kx() { k -n "$ns" exec -i "$name-broker-0" -c kafka -- env KAFKA_HEAP_OPTS=-Xmx128m KAFKA_JVM_PERFORMANCE_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1" "$@"; }
  kx /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$bootstrap" --create --if-not-exists \
    --topic demo --partitions 3 --replication-factor 3 >/dev/null
  seq 1 5 | sed 's/^/hello from the demo, message /' |
    kx /opt/kafka/bin/kafka-console-producer.sh --bootstrap-server "$bootstrap" --topic demo
  kx /opt/kafka/bin/kafka-console-consumer.sh --bootstrap-server "$bootstrap" --topic demo \
    --from-beginning --max-messages 5 --timeout-ms 60000 2>/dev/null | sort
fi
echo
echo "Ready $ready_s s after apply; demo took $(($(date +%s) - t0)) s in all."
if [ "$fake" = 1 ]; then
  cat <<'MSG'
NOTE: the nodes are SIMULATED by kwok. The control plane (API server, etcd, scheduler,
controller manager) is real, so every object above exists and every pod was really
scheduled, but no container runs: kwok only marks the pods Running and Ready.
There is no Kafka process behind the bootstrap address on this tier.
MSG
else
  echo "Every pod above runs a real Kafka $(k -n "$ns" get "$ref" -o jsonpath='{.status.kafkaVersion}') process in a container on a real kubelet node."
fi
if [ "$mode" = real ]; then
  oplogs="kubectl -n kraftwerk-system logs -l app.kubernetes.io/name=kraftwerk --prefix --tail=-1   (leader and standby)"
else
  oplogs="tail -f $oplog"
fi
cat <<MSG

Try:  export KUBECONFIG=$KUBECONFIG
      alias kubectl=$kubectl_bin
      kubectl -n $ns get kc -o wide; kubectl -n $ns describe kc $name
      kubectl -n $ns delete pod $name-broker-0   (recreated with the same id and PVC)
      kubectl -n $ns patch kc $name --type merge -p '{"spec":{"brokers":{"config":{"log.retention.ms":"3600000"}}}}'
                                                 (a dynamic broker key: applied live, no restart)
      cargo run -q -- plan $name -n $ns           (the rollout plan)
      $oplogs
Stop: make demo-down
MSG
