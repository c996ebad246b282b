#!/usr/bin/env bash
# served-certs.sh <ns> <cluster> <listener> <ca file>: what each broker serves on a
# TLS `nodeport` listener, read from the host (outside the cluster) with openssl: one line
# "<broker address> <SHA-256 fingerprint>" per broker of status.listeners[<listener>]. Each
# certificate must verify against <ca file> for the name the broker advertises (hostname
# verification), and must fail it for a name the broker does not carry. The advertised names
# are reached through tests/e2e/broker-hosts.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
ns=$1 cluster=$2 listener=$3 ca=$4
fail() { echo "served-certs.sh: $*" >&2; exit 1; }
addresses=$("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" -n "$ns" get kafkacluster "$cluster" \
  -o jsonpath="{range .status.listeners[?(@.name==\"$listener\")].brokers[*]}{.address}{\"\\n\"}{end}")
[ -n "$addresses" ] || fail "status.listeners[$listener] lists no broker"
hosts=$("$here/broker-hosts.sh" "$ns" "$cluster" "$listener")
# s_client <ip> <port> <name to verify>: openssl's verification result line
s_client() {
  openssl s_client -connect "$1:$2" -servername "$3" -verify_hostname "$3" -CAfile "$ca" </dev/null 2>/dev/null
}
while read -r address; do
  host=${address%:*} port=${address##*:}
  ip=$(awk -v h="$host" '$2 == h {print $1; exit}' <<<"$hosts")
  [ -n "$ip" ] || fail "$host has no node address"
  out=$(s_client "$ip" "$port" "$host") || true
  grep -q 'Verify return code: 0 (ok)' <<<"$out" || fail "$address: the certificate does not verify for $host: $(grep 'Verify return code' <<<"$out")"
  out_wrong=$(s_client "$ip" "$port" "not-$host") || true
  grep -q 'Verify return code: 62 (hostname mismatch)' <<<"$out_wrong" ||
    fail "$address: a name the broker does not carry (not-$host) was not refused: $(grep 'Verify return code' <<<"$out_wrong")"
  fp=$(openssl x509 -noout -fingerprint -sha256 <<<"$out" | sed 's/.*=//')
  [ -n "$fp" ] || fail "$address: no certificate served"
  echo "$address $fp"
done <<<"$addresses"
