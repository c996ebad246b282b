#!/usr/bin/env bash
# `make bench-scale`: the operator, release-built and run as a local process, against N
# KafkaClusters (`spec: {}`, 6 pods each) on a dedicated kwok cluster, "kraftwerk-bench",
# which it creates and deletes (also on failure). Measures the operator's memory, the time
# to Ready, a quiet window, a restart's full resync, and the API server's requests in each;
# prints a table and writes the JSON to .work/bench-scale.json (docs/benchmarks.md).
#
# Env: KRAFTWERK_BENCH_CLUSTERS (500) KafkaClusters; KRAFTWERK_BENCH_NODES (30) simulated
#      nodes, each KRAFTWERK_NODE_CPU (128) / KRAFTWERK_NODE_MEMORY (1Ti) / KRAFTWERK_NODE_PODS
#      (200); KRAFTWERK_BENCH_PROFILE (release) the cargo profile, or KRAFTWERK_BENCH_BINARY a
#      kraftwerk binary to run instead of building one and KRAFTWERK_BENCH_CRDS the CRD
#      directory that goes with it (crds/); KRAFTWERK_BENCH_SETTLE (30) and KRAFTWERK_BENCH_QUIET
#      (60) seconds; KRAFTWERK_LEADER_ELECTION (false: a lone process, as in the integration
#      tests; true: a Lease in the bench namespace); KRAFTWERK_KEEP_CLUSTER=1 keeps the cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export KRAFTWERK_CLUSTER_NAME=${KRAFTWERK_BENCH_CLUSTER:-kraftwerk-bench}
# shellcheck source-path=SCRIPTDIR source=../cluster/env.sh
. "$here/../cluster/env.sh"
export KRAFTWERK_KUBECONFIG=$WORK/kubeconfig-bench
KUBECONFIG_PATH=$KRAFTWERK_KUBECONFIG
export KRAFTWERK_NODES=${KRAFTWERK_BENCH_NODES:-30}
export KRAFTWERK_NODE_CPU=${KRAFTWERK_NODE_CPU:-128}
export KRAFTWERK_NODE_MEMORY=${KRAFTWERK_NODE_MEMORY:-1Ti}
export KRAFTWERK_NODE_PODS=${KRAFTWERK_NODE_PODS:-200}
clusters=${KRAFTWERK_BENCH_CLUSTERS:-500}
profile=${KRAFTWERK_BENCH_PROFILE:-release}
quiet=${KRAFTWERK_BENCH_QUIET:-60}
settle=${KRAFTWERK_BENCH_SETTLE:-30}
# The operator's own settings (an operator without leader election ignores them).
export KRAFTWERK_LEADER_ELECTION=${KRAFTWERK_LEADER_ELECTION:-false}
export KRAFTWERK_LEASE_NAMESPACE=${KRAFTWERK_LEASE_NAMESPACE:-bench}

# What scale.py reads.
export BENCH_DIR=$WORK/bench-scale BENCH_NS=bench BENCH_JSON=$WORK/bench-scale.json
export KUBECTL=$BIN/kubectl KUBECONFIG=$KUBECONFIG_PATH CLUSTER_DIR
py() { python3 "$here/scale.py" "$@"; }
now() { date +%s.%N; }

operator_bin=${KRAFTWERK_BENCH_BINARY:-$REPO/target/$([ "$profile" = dev ] && echo debug || echo "$profile")/kraftwerk}
operator_pid=

build_operator() {
  [ -z "${KRAFTWERK_BENCH_BINARY:-}" ] || return 0
  log "building the operator (cargo --profile $profile, niced)"
  (cd "$REPO" && CARGO_TARGET_DIR=$REPO/target nice -n 19 cargo build -q --profile "$profile" --bin kraftwerk)
}

crd_established() {
  "$KUBECTL" wait --for=condition=Established crd/kafkaclusters.kraftwerk.dev --timeout=30s >/dev/null
}

# A fresh cluster every run: a kept one (KRAFTWERK_KEEP_CLUSTER=1) is deleted first.
start_cluster() {
  rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"
  delete_cluster >/dev/null 2>&1
  "$here/../cluster/cluster-up.sh"
  "$KUBECTL" apply -f "${KRAFTWERK_BENCH_CRDS:-$REPO/crds/}" >/dev/null
  # kubectl wait fails at once on an object without status yet: retried, the last time loudly.
  for _ in $(seq 1 30); do
    crd_established 2>/dev/null && break
    sleep 1
  done
  crd_established
  "$KUBECTL" create namespace "$BENCH_NS" >/dev/null
}

start_operator() {
  local port
  port=$(py free-port)
  export OPERATOR_METRICS=http://127.0.0.1:$port/metrics
  "$operator_bin" run --metrics-addr "127.0.0.1:$port" --log-level info \
    >>"$BENCH_DIR/operator.log" 2>&1 </dev/null &
  operator_pid=$!
  export OPERATOR_PID=$operator_pid
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$operator_pid" 2>/dev/null || { log "the operator exited; see $BENCH_DIR/operator.log"; return 1; }
    sleep 0.2
  done
  log "the operator's /readyz did not answer in 60 s"
  return 1
}

stop_operator() {
  [ -n "$operator_pid" ] || return 0
  kill -TERM "$operator_pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$operator_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL "$operator_pid" 2>/dev/null || true
  wait "$operator_pid" 2>/dev/null || true
  operator_pid=
  unset OPERATOR_PID
}

manifests() {
  local i
  for ((i = 1; i <= clusters; i++)); do
    # kwok's pods run no Kafka: the annotation lets a roll proceed without Kafka's gates
    # (none is expected for spec: {}, but a roll must not wait on brokers that cannot answer).
    printf -- '---\napiVersion: kraftwerk.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: kc-%04d\n  namespace: %s\n  annotations: {kraftwerk.dev/skip-kafka-gates: "true"}\nspec: {}\n' "$i" "$BENCH_NS"
  done
}

create_clusters() {
  manifests >"$BENCH_DIR/clusters.yaml"
  local t0
  py snapshot apply
  t0=$(now)
  log "creating $clusters KafkaClusters"
  "$KUBECTL" create -f "$BENCH_DIR/clusters.yaml" >/dev/null
  ready_times=$(py wait-ready "$clusters" "$t0")
  py snapshot ready
  log "all $clusters Ready: $ready_times (seconds after the first create)"
}

quiet_window() {
  log "settling ${settle}s, then a quiet window of ${quiet}s"
  sleep "$settle"
  py snapshot quiet-start
  sleep "$quiet"
  py snapshot quiet-end
}

restart_operator() {
  log "restarting the operator: full resync of $clusters clusters"
  local t0
  stop_operator
  py snapshot restart
  t0=$(now)
  start_operator
  resync_times=$(py wait-resync "$clusters" "$t0")
}

report() {
  local commit meta
  # The last commit that changed the operator's code (the bench scripts' own commits do not).
  commit=$(git -C "$REPO" log -1 --format=%h -- src Cargo.toml Cargo.lock)
  git -C "$REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock || commit+=+dirty
  [ -z "${KRAFTWERK_BENCH_BINARY:-}" ] || commit=$(basename "$KRAFTWERK_BENCH_BINARY")
  meta=$(printf '{"clusters": %d, "nodes": %d, "commit": "%s", "profile": "%s", "leader_election": %s, "ready_times": %s, "resync_times": %s, "cores": %d}' \
    "$clusters" "$KRAFTWERK_NODES" "$commit" "$profile" "$KRAFTWERK_LEADER_ELECTION" "$ready_times" "$resync_times" "$(nproc)")
  BENCH_META=$meta py report
  log "JSON: $BENCH_JSON"
}

# PV directories of the in-tree hostPath provisioner that the deleted cluster would leave in /tmp.
remove_volumes() {
  "$KUBECTL" get pv -o jsonpath='{range .items[*]}{.spec.hostPath.path}{"\n"}{end}' 2>/dev/null |
    grep '^/tmp/hostpath_pv/' | xargs -r rm -rf
}

delete_cluster() {
  if api_ready; then remove_volumes || true; fi
  "$here/../cluster/cluster-down.sh" || true
}

cleanup() {
  local rc=$?
  stop_operator
  if [ "${KRAFTWERK_KEEP_CLUSTER:-0}" = 1 ]; then
    log "keeping the bench cluster: export KUBECONFIG=$KUBECONFIG_PATH"
  else
    delete_cluster
  fi
  exit "$rc"
}

main() {
  build_operator
  trap cleanup EXIT
  start_cluster
  start_operator
  sleep 10
  py snapshot idle
  create_clusters
  quiet_window
  restart_operator
  report
}

main "$@"
