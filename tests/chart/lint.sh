#!/usr/bin/env bash
# helm lint --strict of charts/kraftwerk with the default values and with every values file
# under charts/kraftwerk/ci/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../cluster/env.sh
. "$here/../cluster/env.sh"
helm=${KRAFTWERK_HELM:-$BIN/helm}
chart=$REPO/charts/kraftwerk
"$helm" lint --strict "$chart"
for f in "$chart"/ci/*-values.yaml; do
  "$helm" lint --strict "$chart" -f "$f"
done
