#!/usr/bin/env bash
# Builds CoreDNS (github.com/coredns/coredns from the Go module proxy, with the plugins in
# main.go) into ~/.cache/kraftwerk/coredns-v$COREDNS_VERSION/coredns. Prints its path.
# A second run with the binary present returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../env.sh
. "$here/../env.sh"
out=$COREDNS_BIN
mkdir -p "$(dirname "$out")"
# One build at a time (CI starts one in the background; node-up.sh waits for it here).
exec 9>"$(dirname "$out")/.build.lock"
flock 9
if [ ! -x "$out" ]; then
  work=$CACHE/build/coredns-v$COREDNS_VERSION
  mkdir -p "$work" "$(dirname "$out")"
  cp "$here/main.go" "$work/main.go"
  if [ ! -f "$work/go.sum" ]; then
    (cd "$work" && rm -f go.mod && go mod init local.kraftwerk/coredns >/dev/null 2>&1 &&
      go get "github.com/coredns/coredns@v$COREDNS_VERSION" >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1)
  fi
  log "building CoreDNS v$COREDNS_VERSION (cold: a few minutes)"
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w" -o "$out.tmp" .)
  mv "$out.tmp" "$out"
fi
echo "$out"
