#!/usr/bin/env bash
# Installs the operator in-cluster exactly as a user does (kubectl apply -f crds/ and
# deploy/operator.yaml), pinned to the real nodes, and waits until a Ready pod leads (holds the
# Lease).
# Used by `make demo` and `make e2e`. Needs the real nodes (node-up.sh) and the operator image
# kraftwerk:dev imported into them (tests/images/build.sh operator; node-up.sh imports it).
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
OP_NS=kraftwerk-system
kubectl=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")

"${kubectl[@]}" apply -f "$REPO/crds/" >/dev/null
# (not `kubectl wait`: it fails instead of waiting while a fresh CRD has no status.conditions yet)
established() { [ "$("${kubectl[@]}" get crd kafkaclusters.kraftwerk.dev -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" = True ]; }
for _ in $(seq 1 60); do established && break; sleep 1; done
established || { log "the KafkaCluster CRD is not Established after 60s"; exit 1; }
"${kubectl[@]}" apply -f "$REPO/deploy/operator.yaml" >/dev/null
# The local cluster also has simulated (kwok) nodes, where no container really runs: pin the
# operator to the real nodes. Its image was imported into every node, so IfNotPresent never
# pulls.
"${kubectl[@]}" -n "$OP_NS" patch deployment kraftwerk --type strategic \
  -p "{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"$NODE_LABEL_KEY\":\"$NODE_LABEL_VALUE\"}}}}}" >/dev/null
# The API server's certificate must name the kubernetes Service IP for in-cluster clients that
# connect by IP (kube-rs does). A cluster created before cluster-up.sh added that SAN is reached
# by a name the certificate has, resolved by the cluster DNS.
svc_ip=$("${kubectl[@]}" -n default get service kubernetes -o jsonpath='{.spec.clusterIP}')
if ! openssl x509 -in "$CLUSTER_DIR/pki/admin.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$svc_ip\(,\|$\)"; then
  log "note: the API server certificate lacks IP $svc_ip; the operator connects to kubernetes.default.svc instead (tests/cluster/cluster-up.sh now adds the SAN)"
  "${kubectl[@]}" -n "$OP_NS" set env deployment/kraftwerk KUBERNETES_SERVICE_HOST=kubernetes.default.svc >/dev/null
fi
# A rebuilt image keeps its tag: restart the pod so it runs the image just imported.
image_id=$(cat "$CACHE/images/kraftwerk-dev.oci.tar.inputs" 2>/dev/null | cut -c1-63 || true)
"${kubectl[@]}" -n "$OP_NS" patch deployment kraftwerk --type merge \
  -p "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"kraftwerk.dev/image-build\":\"${image_id// /-}\"}}}}}" >/dev/null
"${kubectl[@]}" -n "$OP_NS" rollout status deployment/kraftwerk --timeout=180s >/dev/null || {
  log "the operator Deployment did not become available"
  "${kubectl[@]}" -n "$OP_NS" get pods -o wide >&2 || true
  exit 1
}
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
