#!/usr/bin/env bash
# Records every change of the pods matching a selector, one line each:
#   <epoch seconds>|<ADDED|MODIFIED|DELETED>|<pod>|<uid>|<Ready status>|<deletionTimestamp>
# A watch that ends (API server timeout) is restarted; the line `<epoch>|RESYNC|||||` marks the
# relist that follows. Runs until killed (tests/e2e.sh starts it with setsid and kills its group).
# Usage: watch-pods.sh <kubectl> <kubeconfig> <namespace> <label selector> <output file>
set -uo pipefail
kubectl=$1 kubeconfig=$2 ns=$3 selector=$4 out=$5
fmt='{.type}{"|"}{.object.metadata.name}{"|"}{.object.metadata.uid}{"|"}{.object.status.conditions[?(@.type=="Ready")].status}{"|"}{.object.metadata.deletionTimestamp}{"\n"}'
first=1
while :; do
  [ "$first" = 1 ] || echo "$EPOCHREALTIME|RESYNC|||||" >>"$out"
  first=0
  "$kubectl" --kubeconfig "$kubeconfig" -n "$ns" get pods -l "$selector" --watch --output-watch-events \
    -o jsonpath="$fmt" 2>/dev/null |
    while IFS= read -r line; do echo "$EPOCHREALTIME|$line"; done >>"$out"
  sleep 1
done
