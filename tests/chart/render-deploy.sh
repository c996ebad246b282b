#!/usr/bin/env bash
# Prints deploy/operator.yaml: the chart charts/kraftwerk rendered with its default values
# (helm template) into namespace kraftwerk-system, the Namespace included. `make deploy-manifest`
# writes it; tests/integration_chart.rs checks the committed file is exactly this output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../cluster/env.sh
. "$repo/tests/cluster/env.sh"
helm=${KRAFTWERK_HELM:-$BIN/helm}
cat <<'HEADER'
# kraftwerk operator: namespace, service account, least-privilege RBAC and the Deployment.
# GENERATED from the Helm chart charts/kraftwerk with its default values (make deploy-manifest);
# edit the chart, not this file. Install the CRD first: kubectl apply -f crds/
# Two replicas: the one holding the Lease kraftwerk-system/kraftwerk-operator acts, the other
# stands by and takes over within about 10 s if the leader dies (docs/architecture.md, "High
# availability").
HEADER
"$helm" template kraftwerk "$repo/charts/kraftwerk" --namespace kraftwerk-system --set createNamespace=true
