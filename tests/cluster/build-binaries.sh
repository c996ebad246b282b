#!/usr/bin/env bash
# Builds the local cluster's binaries from the Go module proxy and caches them under
# ~/.cache/kraftwerk/k8s-v$K8S_VERSION/bin. A second run with the binaries present takes
# well under a second. Prints the bin directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${KRAFTWERK_CACHE:-$HOME/.cache/kraftwerk}
bin="$cache/k8s-v$K8S_VERSION-etcd-v$ETCD_VERSION-kwok-v$KWOK_VERSION/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { printf '[build-binaries] %s\n' "$*" >&2; }

# KRAFTWERK_K8S_TOOLS limits the Kubernetes commands built (the kwok tier needs no kubelet
# or kube-proxy, which saves minutes on a cold machine); default: all six.
read -r -a k8s_tools <<<"${KRAFTWERK_K8S_TOOLS:-kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy}"
need_k8s=0
for t in "${k8s_tools[@]}"; do [ -x "$bin/$t" ] || need_k8s=1; done
if [ "$need_k8s" = 1 ]; then
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and resolves them through
  # ./staging replaces that do not apply to a dependency. The module below adds a replace
  # for every one of them, generated from the published go.mod so none is forgotten.
  work="$cache/build/k8s-v$K8S_VERSION"
  mkdir -p "$work"
  cp "$here/k8s/tools.go" "$work/tools.go"
  if [ ! -f "$work/go.mod" ]; then
    log "generating the k8s.io/kubernetes v$K8S_VERSION wrapper module"
    (cd "$work" && go mod init local.kraftwerk/k8sbins >/dev/null 2>&1)
    kmod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
    grep -E '^godebug' "$kmod" >> "$work/go.mod" || true
    staging=0.${K8S_VERSION#1.}
    awk -v s="$staging" '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print "replace " $1 " => " $1 " v" s}' "$kmod" >> "$work/go.mod"
    (cd "$work" && go get "k8s.io/kubernetes@v$K8S_VERSION" && go mod tidy)
  fi
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
  for t in "${k8s_tools[@]}"; do
    [ -x "$bin/$t" ] && continue
    log "building $t v$K8S_VERSION (cold: several minutes on 2 cores)"
    (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$bin/$t.tmp" "k8s.io/kubernetes/cmd/$t")
    mv "$bin/$t.tmp" "$bin/$t"
  done
fi

if [ ! -x "$bin/etcd" ]; then
  # etcd's own modules carry relative replaces, so `go install` refuses them; this wrapper
  # is etcd's server/main.go verbatim, in a module of its own so MVS never mixes it with k8s.
  work="$cache/build/etcd-v$ETCD_VERSION"
  mkdir -p "$work"
  cp "$here/etcd/main.go" "$work/main.go"
  if [ ! -f "$work/go.mod" ]; then
    (cd "$work" && go mod init local.kraftwerk/etcd >/dev/null 2>&1 && go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" && go mod tidy)
  fi
  log "building etcd v$ETCD_VERSION"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" .)
  mv "$bin/etcd.tmp" "$bin/etcd"
fi

for t in kwok kwokctl; do
  [ -x "$bin/$t" ] && continue
  log "building $t v$KWOK_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/$t@v$KWOK_VERSION"
done
# Helm, cached by its own version and linked into the bin directory (about 2 minutes cold).
helm_bin="$cache/helm-v$HELM_VERSION/helm"
if [ ! -x "$helm_bin" ]; then
  log "building helm v$HELM_VERSION"
  mkdir -p "$(dirname "$helm_bin")"
  GOBIN="$cache/build/helm-v$HELM_VERSION" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  mv "$cache/build/helm-v$HELM_VERSION/helm" "$helm_bin"
fi
[ "$(readlink "$bin/helm" 2>/dev/null)" = "$helm_bin" ] || ln -sfn "$helm_bin" "$bin/helm"
echo "$bin"
