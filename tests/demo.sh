#!/usr/bin/env bash
# `make demo`: build the operator, start the local cluster (unless KUBECONFIG already points
# at a reachable cluster), install the CRD, run the operator in the background, create
# deploy/examples/minimal.yaml and wait until it is Ready.
#   tests/demo.sh                  run the demo
#   tests/demo.sh --stop-operator  stop the operator the demo started (cluster-down does this)
# Env: KRAFTWERK_DEMO_EXAMPLE (default deploy/examples/minimal.yaml),
#      KRAFTWERK_METRICS_ADDR (default 127.0.0.1:9808), KRAFTWERK_DEMO_TIMEOUT (default 300s).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=cluster/env.sh
. "$REPO/tests/cluster/env.sh"
pidfile=$WORK/operator.pid
oplog=$WORK/operator.log
example=${KRAFTWERK_DEMO_EXAMPLE:-$REPO/deploy/examples/minimal.yaml}
metrics=${KRAFTWERK_METRICS_ADDR:-127.0.0.1:9808}
timeout=${KRAFTWERK_DEMO_TIMEOUT:-300}
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

step "building the operator (cargo build)"
cargo build --bins
operator=$target_dir/debug/kraftwerk

# kubectl: the one built with the cluster binaries, else whatever is on PATH.
kubectl_bin=$BIN/kubectl
if [ -n "${KUBECONFIG:-}" ] && { [ -x "$kubectl_bin" ] || kubectl_bin=$(command -v kubectl); } &&
  "$kubectl_bin" --request-timeout=5s get --raw /readyz >/dev/null 2>&1; then
  step "using the cluster KUBECONFIG points at ($KUBECONFIG)"
else
  step "starting the local cluster (real control plane, kwok-simulated nodes)"
  "$REPO/tests/cluster/cluster-up.sh"
  export KUBECONFIG=$KUBECONFIG_PATH
  kubectl_bin=$BIN/kubectl
fi
k() { "$kubectl_bin" "$@"; }
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

step "installing the CRD (kubectl apply -f crds/)"
k apply -f "$REPO/crds/"
wait_until 60 crd/kafkaclusters.kraftwerk.dev -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' ||
  { echo "the CRD did not become Established" >&2; exit 1; }

step "starting the operator in the background (log: $oplog)"
stop_operator >/dev/null
setsid nohup "$operator" run --metrics-addr "$metrics" >"$oplog" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/${metrics%:*}/${metrics##*:}") 2>/dev/null; then break; fi
  kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "the operator exited; its log:" >&2; tail -n 30 "$oplog" >&2; exit 1; }
  sleep 0.2
done
echo "operator pid $(cat "$pidfile"), metrics and health on http://$metrics/metrics"

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
  tail -n 40 "$oplog" >&2
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
echo
echo "Ready $ready_s s after apply; demo took $(($(date +%s) - t0)) s in all."
if [ "$fake" = 1 ]; then
  cat <<'MSG'
NOTE: the nodes are SIMULATED by kwok. The control plane (API server, etcd, scheduler,
controller manager) is real, so every object above exists and every pod was really
scheduled, but no container runs: kwok only marks the pods Running and Ready.
There is no Kafka process behind the bootstrap address on this tier.
MSG
fi
cat <<MSG

Try:  export KUBECONFIG=$KUBECONFIG
      alias kubectl=$kubectl_bin
      kubectl -n $ns get kc -o wide; kubectl -n $ns describe kc $name
      kubectl -n $ns delete pod $name-broker-0   (recreated with the same id and PVC)
Stop: make demo-down
MSG
