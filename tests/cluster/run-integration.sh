#!/usr/bin/env bash
# Runs the integration tests (tests/integration_*.rs, all #[ignore]d so that a plain
# `cargo test` skips them) against a dedicated local cluster, "kraftwerk-test", which
# it starts and then deletes, also on failure. The demo cluster ("kraftwerk") and its
# operator are never touched. KRAFTWERK_KEEP_CLUSTER=1 keeps the test cluster running
# for a look afterwards (KUBECONFIG=.work/kubeconfig-test). Extra arguments go to
# the test binaries, e.g. `tests/cluster/run-integration.sh pod_loss` runs one test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export KRAFTWERK_CLUSTER_NAME=${KRAFTWERK_TEST_CLUSTER:-kraftwerk-test}
# shellcheck source=env.sh
. "$here/env.sh"
export KRAFTWERK_KUBECONFIG=$WORK/kubeconfig-test
KUBECONFIG_PATH=$KRAFTWERK_KUBECONFIG

cleanup() {
  rc=$?
  if [ "${KRAFTWERK_KEEP_CLUSTER:-0}" = 1 ]; then
    log "keeping the test cluster: export KUBECONFIG=$KUBECONFIG_PATH"
  else
    "$here/cluster-down.sh" || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# Compile first, so the cluster does not idle through a cold build.
log "building the operator and the integration tests"
cargo test --no-run --test 'integration_*' --test roll_kwok

# promtool for the alert-rule test (built once into the cache; .ci/run starts the build early).
promtool=$("$here/../prometheus/build.sh")

"$here/cluster-up.sh"
log "running the integration tests"
KUBECONFIG=$KUBECONFIG_PATH KRAFTWERK_KUBECTL=$BIN/kubectl KRAFTWERK_HELM=$BIN/helm KRAFTWERK_PROMTOOL=$promtool KRAFTWERK_TEST_LOGS=$WORK/test-logs \
  cargo test --no-fail-fast --test 'integration_*' --test roll_kwok -- --ignored --test-threads=1 "$@"
