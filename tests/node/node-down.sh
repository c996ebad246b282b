#!/usr/bin/env bash
# Removes the real nodes started by node-up.sh, leaving nothing behind: pods are stopped
# through their kubelet (CNI teardown, pod network namespaces removed), then kubelet,
# kube-proxy and containerd stop, leftover shims and mounts are cleaned up, the node
# namespaces (and with them their iptables rules), veths, bridge, routes and cgroups go,
# CoreDNS and the provisioner stop, and the Node objects are deleted when the API answers.
#
#   node-down.sh            stop everything, keep containerd's image store (warm restart)
#   node-down.sh --purge    also delete $NODE_STATE (imported images, volumes)
#
# Idempotent: safe to run when nothing is up. Only processes recorded in the pid files, or
# shims serving this setup's containerd sockets, are signalled.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
purge=0
[ "${1:-}" = --purge ] && purge=1
[ "$(id -u)" = 0 ] || { log "needs root"; exit 1; }
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=10s)
have_api=0
api_ready && have_api=1

stop_pidfile() { # stop_pidfile <file> [timeout s]
  local f=$1 t=${2:-20} pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((t * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

nodes=()
for d in "$NODE_RUN"/kraftwerk-node-*; do [ -d "$d" ] && nodes+=("$(basename "$d")"); done

# 1. Pods off the nodes, through their kubelets (so CNI DEL runs and pod netns are removed).
if [ "$have_api" = 1 ] && [ ${#nodes[@]} -gt 0 ]; then
  for n in "${nodes[@]}"; do
    "${kubectl[@]}" cordon "$n" >/dev/null 2>&1 || true
    "${kubectl[@]}" delete pods -A --field-selector "spec.nodeName=$n" --wait=false >/dev/null 2>&1 || true
  done
  for _ in $(seq 1 60); do
    left=0
    for n in "${nodes[@]}"; do
      c=$("${kubectl[@]}" get pods -A --field-selector "spec.nodeName=$n" --no-headers 2>/dev/null | wc -l)
      left=$((left + c))
    done
    [ "$left" = 0 ] && break
    sleep 1
  done
  if [ "$left" != 0 ]; then
    log "$left pod(s) still on the real nodes; removing them from the API (the nodes are going away)"
    for n in "${nodes[@]}"; do
      "${kubectl[@]}" delete pods -A --field-selector "spec.nodeName=$n" --force --grace-period=0 >/dev/null 2>&1 || true
    done
  fi
fi

for n in "${nodes[@]}"; do
  run=$NODE_RUN/$n state=$NODE_STATE/nodes/$n sock=$NODE_RUN/$n/containerd.sock
  i=${n##*-}
  log "$n: stopping"
  stop_pidfile "$run/kube-proxy.pid"
  stop_pidfile "$run/kubelet.pid" 30
  # 2. Anything the kubelet left: stop the CRI sandboxes' tasks and remove their netns.
  if pid_alive "$run/containerd.pid"; then
    for id in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -s KILL "$id" >/dev/null 2>&1 || true
    done
    sleep 1
    for id in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(ctr --address "$sock" -n k8s.io containers ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  stop_pidfile "$run/containerd.pid" 20
  # shims of this containerd (their command line names its socket)
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $sock" || true); do kill -KILL "$p" 2>/dev/null || true; done
  # mounts under this node's state and run dirs (kubelet volumes, overlay rootfs, shm, netns)
  for root in "$run" "$state"; do
    awk -v r="$root" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
  done
  # 3. cgroups of this node's pods
  for h in /sys/fs/cgroup/*/"$CGROUP_PARENT/$n"; do
    [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  # 4. network: the pod range route, the veth, the namespace (its iptables rules go with it)
  ip route del "$NET_PREFIX.$i.0/24" 2>/dev/null || true
  ip link del "kwv$i" 2>/dev/null || true
  if [ -e "/run/netns/$(node_netns "$i")" ]; then ip netns del "$(node_netns "$i")"; fi
  rm -rf "$run" "$state/cni" # host-local IPAM leases: every pod is gone
  [ "$purge" = 1 ] && rm -rf "$state"
  if [ "$have_api" = 1 ]; then "${kubectl[@]}" delete node "$n" --ignore-not-found >/dev/null 2>&1 || true; fi
done

# Pod network namespaces whose sandbox is gone (none is expected after the steps above).
for nsf in /run/netns/cni-*; do
  [ -e "$nsf" ] || continue
  if [ -z "$(ip netns pids "$(basename "$nsf")" 2>/dev/null)" ]; then ip netns del "$(basename "$nsf")" 2>/dev/null || true; fi
done

stop_pidfile "$NODE_RUN/coredns.pid"
stop_pidfile "$NODE_RUN/provisioner.pid"
# volumes released by their claims meanwhile: reclaim them as the provisioner would
if [ "$have_api" = 1 ]; then
  "${kubectl[@]}" get pv -o json 2>/dev/null | jq -r '.items[] | select(.metadata.annotations["pv.kubernetes.io/provisioned-by"] == "kraftwerk.dev/local-path")
      | select(.status.phase == "Released" or .status.phase == "Failed") | "\(.metadata.name) \(.spec.local.path)"' |
    while read -r pv path; do
      case "$path" in "$NODE_STATE"/volumes/*) rm -rf "$path" ;; esac
      "${kubectl[@]}" delete pv "$pv" --wait=false >/dev/null 2>&1 || true
    done
fi
if ip link show "$HOST_BRIDGE" >/dev/null 2>&1; then ip link del "$HOST_BRIDGE"; fi
for h in /sys/fs/cgroup/*/"$CGROUP_PARENT"; do [ -d "$h" ] && rmdir "$h" 2>/dev/null || true; done
if [ "$have_api" = 1 ]; then
  "${kubectl[@]}" -n kube-system delete endpointslice kube-dns-host --ignore-not-found >/dev/null 2>&1 || true
  "${kubectl[@]}" -n kube-system delete service kube-dns --ignore-not-found >/dev/null 2>&1 || true
  # the simulated nodes' class is the default again (node-up.sh made kraftwerk-local the default)
  "${kubectl[@]}" annotate storageclass kraftwerk-local storageclass.kubernetes.io/is-default-class=false --overwrite >/dev/null 2>&1 || true
  "${kubectl[@]}" annotate storageclass standard storageclass.kubernetes.io/is-default-class=true --overwrite >/dev/null 2>&1 || true
fi
sed -i '/^# >>> kraftwerk real nodes/,/^# <<< kraftwerk real nodes/d' /etc/hosts
rm -rf "$NODE_RUN"
[ "$purge" = 1 ] && rm -rf "$NODE_STATE"
log "real nodes removed${nodes[*]:+: ${nodes[*]}}"
