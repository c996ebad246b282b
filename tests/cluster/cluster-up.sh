#!/usr/bin/env bash
# Starts the local test cluster, or reuses it when it is already running:
# a real kube-apiserver, etcd, kube-controller-manager and kube-scheduler run as local
# processes (kwokctl --runtime binary), and kwok simulates the nodes and the pods' status.
# Nodes: $KRAFTWERK_NODES (default 6) spread over zone-a, zone-b and zone-c, each with an
# allocatable of $KRAFTWERK_NODE_CPU (8), $KRAFTWERK_NODE_MEMORY (32Gi), $KRAFTWERK_NODE_PODS (110).
# Services get ClusterIPs from $KRAFTWERK_SERVICE_CIDR (10.0.0.0/16; applies when the cluster is created).
# Writes the kubeconfig to .work/kubeconfig. Needs nothing but the Go module proxy once.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
nodes=${KRAFTWERK_NODES:-6}
node_cpu=${KRAFTWERK_NODE_CPU:-8}
node_memory=${KRAFTWERK_NODE_MEMORY:-32Gi}
node_pods=${KRAFTWERK_NODE_PODS:-110}
service_cidr=${KRAFTWERK_SERVICE_CIDR:-10.0.0.0/16}
t0=$(date +%s)

# Only what the kwok tier needs; the real-node tier builds kubelet and kube-proxy itself.
KRAFTWERK_K8S_TOOLS="kube-apiserver kube-controller-manager kube-scheduler kubectl" \
  "$_cluster_dir/build-binaries.sh" >/dev/null
kwok_env
mkdir -p "$WORK" "$STATE"
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")

# The kwok configuration: kwok's default node and pod stages (nodes become Ready, pods
# Running and Ready at once), the chaos stage that turns a node NotReady when it carries
# the label node-not-ready.stage.kwok.x-k8s.io=true, and a selector that makes kwok leave
# alone the status of any pod or node annotated kwok.x-k8s.io/status=custom, so a test
# can write that status itself. The stages come from the kwok module the binaries were
# built from, so they always match the kwok version.
write_config() {
  local dir
  dir=$(cd "$WORK" && go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [ -d "$dir/kustomize/stage" ] || { log "kwok module source not found"; exit 1; }
  {
    cat <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  disableQPSLimits: true
  kubeAuthorization: true
  nodeLeaseDurationSeconds: 40
  # Pods (the operator in-cluster on the real nodes) reach the API at the kubernetes Service IP;
  # the certificate must name it, and the real nodes' bridge address.
  kubeApiserverCertSANs: ["10.0.0.1", "10.77.0.1"]
componentsPatches:
# kube-apiserver's default service range is 10.0.0.0/24: about 250 Services, fewer than the
# bootstrap Services of make bench-scale. 10.0.0.1 (kubernetes) and 10.0.0.10 (kube-dns of
# the real nodes) stay inside the wider default.
- name: kube-apiserver
  extraArgs:
  - key: service-cluster-ip-range
    value: $service_cidr
- name: kube-controller-manager
  extraArgs:
  # One instance: no leader election, so an API server outage (tests/cluster/apiserver-outage.sh)
  # does not make it exit when it cannot renew its lease.
  - key: leader-elect
    value: "false"
  # The node lifecycle looks at node leases every 5 s (kwokctl's 25 s), so a real node whose
  # kubelet stops (tests/e2e/node-loss.sh) is NotReady soon after kwokctl's grace period
  # (3m20s). A shorter grace period made a 30 s API server outage
  # (tests/cluster/apiserver-outage.sh) look like the loss of every node: the controller
  # manager marked their pods not ready for good (kwok never sets them Ready again).
  - key: node-monitor-period
    value: 5s
  # The in-tree hostPath provisioner gives PVCs real (if local-only) PersistentVolumes,
  # so pods with claims schedule and PVC lifecycles behave as on a real cluster.
  - key: enable-hostpath-provisioner
    value: "true"
- name: kube-scheduler
  extraArgs:
  - key: leader-elect
    value: "false"
  # A pod refused while its claim was still unbound waits for the claim's bind event; if the
  # scheduler's queueing hint misses it, the default retry is 5 minutes later (seen once in an
  # integration run: a scaled-up broker Pending for over 3 minutes with "pod has unbound
  # immediate PersistentVolumeClaims"). 30 s bounds that wait.
  - key: pod-max-in-unschedulable-pods-duration
    value: 30s
# A flag, not a KwokConfiguration document: kwokctl writes such a document out without
# its defaults, and kwok then refuses to start ("node leases parallelism must be > 0").
- name: kwok-controller
  extraArgs:
  # Node leases renewed every 10 s (a quarter of the duration), as a kubelet does: kwokctl
  # passes 200 s (whatever nodeLeaseDurationSeconds above says), a renewal every 50 s: with a
  # 50 s node-monitor grace period (tried once) the fake nodes flapped to Unknown and their
  # pods were marked not ready. 10 s renewals keep well inside kwokctl's 3m20s grace.
  - key: node-lease-duration-seconds
    value: "40"
  # The fake nodes' InternalIP (nodeport listeners advertise it). Left empty, kwokctl picks a
  # local address only when one suits it (the real nodes' bridge), so the nodes had none on a
  # machine without; 127.0.0.1 also keeps kwok's kubelet endpoint (logs, exec) reachable.
  - key: node-ip
    value: 127.0.0.1
  - key: disregard-status-with-annotation-selector
    value: kwok.x-k8s.io/status=custom
  # Only the simulated nodes (annotated kwok.x-k8s.io/node=fake) are kwok's: kwokctl passes
  # --manage-all-nodes=true, under which kwok also fakes the status of pods on the real
  # nodes (tests/node) and deletes their terminating pods at once, cutting Kafka's graceful
  # shutdown short. These flags come after kwokctl's, so they win.
  - key: manage-all-nodes
    value: "false"
  - key: manage-nodes-with-annotation-selector
    value: kwok.x-k8s.io/node=fake
YAML
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      node/chaos/node-not-ready.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo '---'
      cat "$dir/kustomize/stage/$f"
    done
  } >"$STATE/kwok-config.yaml"
}

# Names of the cluster's components whose process is not running.
dead_components() {
  local f
  for f in "$CLUSTER_DIR"/pids/*.pid; do
    [ -f "$f" ] || continue
    kill -0 "$(cat "$f")" 2>/dev/null || basename "$f" .pid
  done
}

if api_ready; then
  dead=$(dead_components | tr '\n' ' ')
  if [ -n "$dead" ]; then
    log "cluster '$CLUSTER_NAME' answers but these components are not running: $dead; restarting it"
    "$BIN/kwokctl" stop cluster --name "$CLUSTER_NAME" >"$STATE/kwokctl.log" 2>&1 || true
    "$BIN/kwokctl" start cluster --name "$CLUSTER_NAME" --wait 2m >>"$STATE/kwokctl.log" 2>&1 || true
    dead=$(dead_components | tr '\n' ' ')
    if [ -n "$dead" ] || ! api_ready; then
      log "still not running: $dead (see $CLUSTER_DIR/logs); recreate it with: make cluster-down cluster-up"
      exit 1
    fi
  fi
  log "reusing the running cluster '$CLUSTER_NAME'"
else
  if [ -d "$CLUSTER_DIR" ]; then
    log "cluster '$CLUSTER_NAME' exists but does not answer; starting it"
    if ! "$BIN/kwokctl" start cluster --name "$CLUSTER_NAME" --wait 2m >"$STATE/kwokctl.log" 2>&1 || ! api_ready; then
      log "start failed (see $STATE/kwokctl.log); recreating it"
      "$BIN/kwokctl" delete cluster --name "$CLUSTER_NAME" >>"$STATE/kwokctl.log" 2>&1 || true
      rm -rf "$CLUSTER_DIR"
    fi
  fi
  if ! api_ready; then
    log "creating cluster '$CLUSTER_NAME' (Kubernetes v$K8S_VERSION, etcd v$ETCD_VERSION, kwok v$KWOK_VERSION)"
    write_config
    rm -f "$KUBECONFIG_PATH"
    if ! "$BIN/kwokctl" create cluster --name "$CLUSTER_NAME" --runtime binary \
      --config "$STATE/kwok-config.yaml" \
      --kube-apiserver-binary "$BIN/kube-apiserver" \
      --kube-controller-manager-binary "$BIN/kube-controller-manager" \
      --kube-scheduler-binary "$BIN/kube-scheduler" \
      --kwok-controller-binary "$BIN/kwok" \
      --etcd-binary "$BIN/etcd" \
      --kubeconfig "$KUBECONFIG_PATH" \
      --wait 3m >"$STATE/kwokctl.log" 2>&1; then
      log "kwokctl create cluster failed; its output:"
      tail -n 40 "$STATE/kwokctl.log" >&2
      exit 1
    fi
  fi
fi

# Simulated nodes and a default StorageClass, applied every time (idempotent): zone labels, hostname, a realistic
# allocatable, the annotation that hands the node to kwok, and no taint.
zones=(zone-a zone-b zone-c)
{
  for ((i = 0; i < nodes; i++)); do
    name="kwok-node-$i"
    cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $name
    type: kwok
    topology.kubernetes.io/zone: ${zones[$((i % 3))]}
    topology.kubernetes.io/region: local
spec:
  podCIDR: 10.244.$i.0/24
  podCIDRs: [10.244.$i.0/24]
status:
  allocatable: {cpu: "$node_cpu", memory: $node_memory, pods: "$node_pods", ephemeral-storage: 100Gi}
  capacity: {cpu: "$node_cpu", memory: $node_memory, pods: "$node_pods", ephemeral-storage: 100Gi}
  nodeInfo:
    architecture: amd64
    kubeletVersion: v$K8S_VERSION
    operatingSystem: linux
YAML
  done
} >"$STATE/nodes.yaml"
cat >>"$STATE/nodes.yaml" <<'YAML'
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
allowVolumeExpansion: true
YAML
"${kubectl[@]}" apply -f "$STATE/nodes.yaml" >/dev/null
"${kubectl[@]}" wait --for=condition=Ready node --all --timeout=120s >/dev/null
# Pods need the "default" ServiceAccount, which the controller manager creates.
for _ in $(seq 1 60); do
  "${kubectl[@]}" -n default get serviceaccount default >/dev/null 2>&1 && break
  sleep 1
done

log "cluster '$CLUSTER_NAME' ready in $(($(date +%s) - t0))s: $nodes simulated (kwok) nodes in zone-a, zone-b, zone-c"
cat >&2 <<MSG
  export KUBECONFIG=$KUBECONFIG_PATH
  kubectl get nodes -L topology.kubernetes.io/zone     (kubectl: $BIN/kubectl)
  make cluster-down                                   stops and removes it
MSG
