#!/usr/bin/env bash
# import-image.sh <node index> <archive.oci.tar>: imports an OCI archive made by
# tests/images/build.sh into that node's containerd (namespace k8s.io, where the kubelet
# looks), unless the same manifest digest is already there under the same name.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
i=$1 archive=$2
index=$(tar -xOf "$archive" index.json)
ref=$(jq -r '.manifests[0].annotations["io.containerd.image.name"]' <<<"$index")
digest=$(jq -r '.manifests[0].digest' <<<"$index")
have=$(ctr_node "$i" -n k8s.io images ls -q "name==$ref" 2>/dev/null | head -1)
if [ -n "$have" ] && ctr_node "$i" -n k8s.io images ls "name==$ref" | grep -q "$digest"; then
  exit 0
fi
t=$(date +%s)
ctr_node "$i" -n k8s.io images import "$archive" >/dev/null
log "$(node_name "$i"): imported $ref (${digest:7:12}) in $(($(date +%s) - t))s"
