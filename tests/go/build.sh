#!/usr/bin/env bash
# Builds the real Go components Sluice's tests and demo run (the Kubernetes control plane, etcd,
# kwok, kustomize, Gitea) from their pinned Go modules, with the machine's Go, into
# $SLUICE_CACHE/bin (default: <workspace>/.cache/bin). A tool whose wrapper module (go.mod,
# go.sum) has not changed since its last build is not rebuilt.
#
# Usage: tests/go/build.sh [TOOL...]   TOOL: kubernetes etcd kwok kustomize gitea (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${SLUICE_CACHE:-$root/.cache}
export GOMODCACHE=$cache/go/mod GOCACHE=$cache/go/build GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$cache/bin"

packages() {
  case $1 in
    kubernetes) echo k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ;;
    etcd) echo . ;;
    kwok) echo sigs.k8s.io/kwok/cmd/kwok ;;
    kustomize) echo sigs.k8s.io/kustomize/kustomize/v5 ;;
    gitea) echo code.gitea.io/gitea ;;
    *) echo "unknown tool $1" >&2; return 1 ;;
  esac
}

# What a build depends on: the wrapper module's files.
fingerprint() {
  { cat "$1"/go.mod "$1"/*.go "$1"/go.sum 2>/dev/null || true; } | sha256sum | cut -d" " -f1
}

tags() {
  case $1 in
    gitea) echo sqlite,sqlite_unlock_notify ;;
    *) echo "" ;;
  esac
}

# kwok simulates node and pod lifecycles by "stages"; the pinned module ships them. Gather the
# fast node and pod stages and the lease heartbeat into one config file next to the binary.
kwok_stages() {
  local module
  module=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  {
    printf 'apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions:\n'
    printf '  nodeLeaseDurationSeconds: 40\n  nodeLeaseParallelism: 4\n  podPlayStageParallelism: 4\n'
    printf '  nodePlayStageParallelism: 4\n  podsOnNodeSyncParallelism: 1\n'
    printf '  enablePodsOnNodeSyncListPager: true\n  enablePodsOnNodeSyncStreamWatch: false\n'
    for file in "$module"/kustomize/stage/node/fast/node-initialize.yaml \
                "$module"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
                "$module"/kustomize/stage/pod/fast/pod-*.yaml; do
      printf -- '---\n'; cat "$file"
    done
  } > "$cache/bin/kwok-config.yaml"
}

# Gitea built without bindata reads its templates and locales from its source tree: record where
# the pinned module's source is, for STATIC_ROOT_PATH.
gitea_static_root() {
  (cd "$here/gitea" && go list -m -f '{{.Dir}}' code.gitea.io/gitea) > "$cache/bin/gitea-static-root"
}

build() {
  local tool=$1 dir=$here/$1 stamp=$cache/bin/.$1.stamp want
  want=$(fingerprint "$dir")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$tool: up to date in $cache/bin"
    return
  fi
  echo "$tool: building (first run takes minutes)..."
  local start=$SECONDS
  # shellcheck disable=SC2046
  (cd "$dir" && go build -trimpath -ldflags='-s -w' -tags "$(tags "$tool")" -o "$cache/bin/" $(packages "$tool"))
  # go.sum is written by the first build; stamp what was built.
  [ "$tool" = kwok ] && kwok_stages
  [ "$tool" = gitea ] && gitea_static_root
  fingerprint "$dir" > "$stamp"
  echo "$tool: built in $((SECONDS - start))s"
}

command -v go >/dev/null || { echo "Go is required: apt-get install -y golang (1.26+) or use the machine's Go" >&2; exit 1; }
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(kubernetes etcd kwok kustomize gitea)
for tool in "${tools[@]}"; do build "$tool"; done
