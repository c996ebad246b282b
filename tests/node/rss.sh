#!/usr/bin/env bash
# Prints the resident memory (VmRSS) of the real nodes' processes: per node containerd,
# kubelet, kube-proxy and the containerd shims, then CoreDNS and the provisioner, then the
# main process of every running container (e.g. each Kafka JVM), by pod.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
row() { awk -v c="$1" -v p="$2" -v k="$3" 'BEGIN { printf "%-58s %8s %9.1f\n", c, p, k / 1024 }'; }
total=0
printf '%-58s %8s %9s\n' process pid rss_mib
for d in "$NODE_RUN"/kraftwerk-node-*; do
  [ -d "$d" ] || continue
  n=$(basename "$d")
  for comp in containerd kubelet kube-proxy; do
    [ -f "$d/$comp.pid" ] || continue
    pid=$(cat "$d/$comp.pid"); k=$(rss "$pid"); total=$((total + k)); row "$n/$comp" "$pid" "$k"
  done
  shims=0 sk=0
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $d/containerd.sock" || true); do
    shims=$((shims + 1)); sk=$((sk + $(rss "$p")))
  done
  total=$((total + sk)); row "$n/containerd-shim-runc-v2 x$shims" - "$sk"
done
for comp in coredns provisioner; do
  [ -f "$NODE_RUN/$comp.pid" ] || continue
  pid=$(cat "$NODE_RUN/$comp.pid"); k=$(rss "$pid"); total=$((total + k)); row "$comp" "$pid" "$k"
done
row "total (node components)" "" "$total"
# containers: the main process of each task, named by its pod
for d in "$NODE_RUN"/kraftwerk-node-*; do
  [ -S "$d/containerd.sock" ] || continue
  n=$(basename "$d")
  ctr --address "$d/containerd.sock" -n k8s.io tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING" {print $1, $2}' |
    while read -r id pid; do
      labels=$(ctr --address "$d/containerd.sock" -n k8s.io containers info "$id" 2>/dev/null |
        jq -r '.Labels | "\(.["io.kubernetes.pod.namespace"] // "")/\(.["io.kubernetes.pod.name"] // "")/\(.["io.kubernetes.container.name"] // "sandbox")"')
      case "$labels" in */POD | */sandbox) continue ;; esac
      row "$n: $labels" "$pid" "$(rss "$pid")"
    done
done
