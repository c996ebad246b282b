#!/usr/bin/env bash
# client-config.sh <ns> <kafka user> <truststore path>: prints a Java client's configuration for
# the e2e cluster's SASL_SSL listeners: SCRAM-SHA-512 with the KafkaUser's credentials (the
# `sasl.jaas.config` of the Secret the operator made for it) and the cluster CA as a PEM
# truststore at <truststore path>. Hostname verification stays on (Kafka's default, https).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
ns=$1 user=$2 truststore=$3
jaas=$("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" -n "$ns" get secret "$user" \
  -o jsonpath='{.data.sasl\.jaas\.config}' | base64 -d)
[ -n "$jaas" ] || { echo "client-config.sh: the Secret $ns/$user has no sasl.jaas.config" >&2; exit 1; }
cat <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$jaas
ssl.truststore.type=PEM
ssl.truststore.location=$truststore
PROPS
