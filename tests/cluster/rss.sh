#!/usr/bin/env bash
# Prints the resident memory (VmRSS) of each process of the local cluster.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
total=0
printf '%-26s %8s %10s\n' component pid rss_mib
for comp in etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller; do
  pidfile="$CLUSTER_DIR/pids/$comp.pid"
  [ -f "$pidfile" ] || { printf '%-26s %8s %10s\n' "$comp" - -; continue; }
  pid=$(cat "$pidfile")
  kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  total=$((total + kib))
  awk -v c="$comp" -v p="$pid" -v k="$kib" 'BEGIN { printf "%-26s %8s %10.1f\n", c, p, k / 1024 }'
done
awk -v k="$total" 'BEGIN { printf "%-26s %8s %10.1f\n", "total", "", k / 1024 }'
