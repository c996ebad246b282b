#!/usr/bin/env bash
# Builds promtool (github.com/prometheus/prometheus/cmd/promtool, from the Go module proxy) into
# ~/.cache/kraftwerk/promtool-v<version>/ once; prints the binary's path. Several minutes of CPU
# cold, so .ci/run builds it in the background while the early tiers run (this script holds a
# lock: a second caller waits for the first build and then finds it done).
set -euo pipefail
PROMETHEUS_VERSION=0.316.0
cache=${KRAFTWERK_CACHE:-$HOME/.cache/kraftwerk}
out=$cache/promtool-v$PROMETHEUS_VERSION/promtool
mkdir -p "$(dirname "$out")"
exec 9>"$(dirname "$out")/.lock"
flock 9
if [ ! -x "$out" ]; then
  work=$cache/build/promtool-v$PROMETHEUS_VERSION
  # the module is set up from scratch unless a previous setup finished (.ready)
  if [ ! -f "$work/.ready" ]; then
    rm -rf "$work" && mkdir -p "$work"
    (cd "$work" && go mod init local.kraftwerk/promtool >/dev/null 2>&1 &&
      printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/prometheus/prometheus/cmd/promtool"\n' >tools.go &&
      go get "github.com/prometheus/prometheus@v$PROMETHEUS_VERSION" >&2 && go mod tidy >&2)
    touch "$work/.ready"
  fi
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -o "$out.tmp" github.com/prometheus/prometheus/cmd/promtool >&2)
  mv "$out.tmp" "$out"
fi
echo "$out"
