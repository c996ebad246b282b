#!/usr/bin/env bash
# Stops and deletes the local test cluster started by cluster-up.sh. Idempotent.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
kwok_env
mkdir -p "$STATE"
if [ -d "$CLUSTER_DIR" ] && [ -x "$BIN/kwokctl" ]; then
  log "deleting cluster '$CLUSTER_NAME'"
  "$BIN/kwokctl" delete cluster --name "$CLUSTER_NAME" >"$STATE/kwokctl-delete.log" 2>&1 || {
    log "kwokctl delete failed; see $STATE/kwokctl-delete.log"
    exit 1
  }
else
  log "no cluster '$CLUSTER_NAME' to delete"
fi
# A component started again by apiserver-outage.sh is not one kwokctl knows: stop whatever still
# runs from this cluster's binaries.
if pkill -f "^$CLUSTER_DIR/bin/" 2>/dev/null; then
  log "stopped components kwokctl did not know (restarted by apiserver-outage.sh)"
fi
rm -rf "$CLUSTER_DIR" "$STATE"
rm -f "$KUBECONFIG_PATH"
