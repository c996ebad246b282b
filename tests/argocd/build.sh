#!/usr/bin/env bash
# Builds tests/argocd/lua-health (Argo CD's Lua engine, gopher-lua, from the Go module proxy)
# into ~/.cache/kraftwerk/lua-health-v<gopher-lua version>/ once; prints the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
GOPHER_LUA_VERSION=1.1.2
cache=${KRAFTWERK_CACHE:-$HOME/.cache/kraftwerk}
out=$cache/lua-health-v$GOPHER_LUA_VERSION/lua-health
stamp=$(sha256sum "$here/main.go" | cut -c1-16)
if [ ! -x "$out" ] || [ "$(cat "$out.inputs" 2>/dev/null)" != "$stamp" ]; then
  work=$cache/build/lua-health-v$GOPHER_LUA_VERSION
  mkdir -p "$work" "$(dirname "$out")"
  cp "$here/main.go" "$work/main.go"
  if [ ! -f "$work/go.mod" ]; then
    (cd "$work" && go mod init local.kraftwerk/luahealth >/dev/null 2>&1 && go get "github.com/yuin/gopher-lua@v$GOPHER_LUA_VERSION" >/dev/null 2>&1)
  fi
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -o "$out.tmp" . >&2)
  mv "$out.tmp" "$out"
  echo "$stamp" >"$out.inputs"
fi
echo "$out"
