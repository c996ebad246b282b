#!/usr/bin/env bash
# Installs the operator in-cluster as a user does, pinned to the real nodes, and waits until a
# Ready pod leads (holds the Lease).
#
#   deploy-operator.sh [helm|manifests] [helm --set ...]...
#
#   helm       (default) helm upgrade --install of charts/kraftwerk into kraftwerk-system, CRD
#              included, in one step (the operator waits for its CRD); extra arguments go to helm
#   manifests  kubectl apply -f crds/ and deploy/operator.yaml, then patched the same way
#
# Used by `make demo` and `make e2e`. Needs the real nodes (node-up.sh) and the operator image
# ($OPERATOR_IMAGE, tests/images/build.sh operator) imported into them (node-up.sh does); it is
# never pulled (IfNotPresent).
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
OP_NS=kraftwerk-system
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
mode=${1:-helm}
[ $# -gt 0 ] && shift

# A rebuilt image keeps its tag: a pod annotation with the build's checksum restarts the pods
# so they run the image just imported.
image_id=$(awk '{print $NF}' "$OPERATOR_ARCHIVE.inputs" 2>/dev/null || true)
# The API server's certificate must name the kubernetes Service IP for in-cluster clients that
# connect by IP (kube-rs does). A cluster created before cluster-up.sh added that SAN is reached
# by a name the certificate has, resolved by the cluster DNS.
svc_ip=$("${kubectl[@]}" -n default get service kubernetes -o jsonpath='{.spec.clusterIP}')
api_host=""
if ! openssl x509 -in "$CLUSTER_DIR/pki/admin.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$svc_ip\(,\|$\)"; then
  log "note: the API server certificate lacks IP $svc_ip; the operator connects to kubernetes.default.svc instead (tests/cluster/cluster-up.sh now adds the SAN)"
  api_host=kubernetes.default.svc
fi

# The local cluster also has simulated (kwok) nodes, where no container really runs: the
# operator goes to the real nodes.
# An install from deploy/operator.yaml (an earlier run's) is not Helm's to adopt: its objects go
# first (not the namespace, and no KafkaCluster is touched).
remove_unmanaged() {
  local release
  release=$("${kubectl[@]}" -n "$OP_NS" get deployment kraftwerk -o jsonpath='{.metadata.annotations.meta\.helm\.sh/release-name}' 2>/dev/null) || return 0
  [ -z "$release" ] || return 0
  log "removing an operator installed from deploy/operator.yaml before the Helm install"
  "${kubectl[@]}" -n "$OP_NS" delete deployment/kraftwerk serviceaccount/kraftwerk service/kraftwerk-metrics \
    role/kraftwerk-leader-election rolebinding/kraftwerk-leader-election --ignore-not-found --wait=true >/dev/null
  "${kubectl[@]}" delete clusterrole/kraftwerk clusterrolebinding/kraftwerk --ignore-not-found >/dev/null
}

install_helm() {
  local values=$WORK/operator-values.yaml
  remove_unmanaged
  {
    printf 'nodeSelector: {%s: %s}\n' "$NODE_LABEL_KEY" "$NODE_LABEL_VALUE"
    printf 'podAnnotations: {kraftwerk.dev/image-build: "%s"}\n' "$image_id"
    if [ -n "$api_host" ]; then printf 'extraEnv: [{name: KUBERNETES_SERVICE_HOST, value: %s}]\n' "$api_host"; fi
  } >"$values"
  "$BIN/helm" --kubeconfig "$KUBECONFIG_PATH" upgrade --install kraftwerk "$REPO/charts/kraftwerk" \
    --namespace "$OP_NS" --create-namespace -f "$values" "$@" --wait --timeout 180s >/dev/null || {
    log "helm upgrade --install did not finish"
    "${kubectl[@]}" -n "$OP_NS" get pods -o wide >&2 || true
    "${kubectl[@]}" -n "$OP_NS" logs -l app.kubernetes.io/name=kraftwerk --prefix --tail=30 >&2 || true
    exit 1
  }
}

install_manifests() {
  "${kubectl[@]}" apply --server-side -f "$REPO/crds/" >/dev/null
  # (not `kubectl wait`: it fails instead of waiting while a fresh CRD has no status.conditions yet)
  established() { [ "$("${kubectl[@]}" get crd kafkaclusters.kraftwerk.dev -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" = True ]; }
  for _ in $(seq 1 60); do established && break; sleep 1; done
  established || { log "the KafkaCluster CRD is not Established after 60s"; exit 1; }
  "${kubectl[@]}" apply -f "$REPO/deploy/operator.yaml" >/dev/null
  "${kubectl[@]}" -n "$OP_NS" patch deployment kraftwerk --type strategic \
    -p "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"$NODE_LABEL_KEY\":\"$NODE_LABEL_VALUE\"}}}}}" >/dev/null
  if [ -n "$api_host" ]; then
    "${kubectl[@]}" -n "$OP_NS" set env deployment/kraftwerk KUBERNETES_SERVICE_HOST="$api_host" >/dev/null
  fi
  "${kubectl[@]}" -n "$OP_NS" patch deployment kraftwerk --type merge \
    -p "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"kraftwerk.dev/image-build\":\"$image_id\"}}}}}" >/dev/null
  "${kubectl[@]}" -n "$OP_NS" rollout status deployment/kraftwerk --timeout=180s >/dev/null || {
    log "the operator Deployment did not become available"
    "${kubectl[@]}" -n "$OP_NS" get pods -o wide >&2 || true
    exit 1
  }
}

case "$mode" in
  helm) install_helm "$@" ;;
  manifests) install_manifests ;;
  *) log "unknown mode '$mode' (helm, manifests)"; exit 2 ;;
esac
# Two replicas, one leading: the operator is up once a Ready pod that is not stopping holds the
# Lease (an old pod of the rollout may still hold it for the moment it takes to release it).
leader_ready() {
  local holder
  holder=$("${kubectl[@]}" -n "$OP_NS" get lease kraftwerk-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null) || return 1
  [ -n "$holder" ] || return 1
  [ "$("${kubectl[@]}" -n "$OP_NS" get pod "$holder" \
    -o jsonpath='{.metadata.deletionTimestamp}{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
for _ in $(seq 1 90); do leader_ready && break; sleep 2; done
leader_ready || {
  log "no Ready operator pod holds the Lease $OP_NS/kraftwerk-operator after 180s"
  "${kubectl[@]}" -n "$OP_NS" get pods,leases -o wide >&2 || true
  "${kubectl[@]}" -n "$OP_NS" logs -l app.kubernetes.io/name=kraftwerk --prefix --tail=30 >&2 || true
  exit 1
}
