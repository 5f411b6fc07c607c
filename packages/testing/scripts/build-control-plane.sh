#!/usr/bin/env bash
# Builds the real etcd and kube-apiserver from their Go modules (through the Go module proxy) and caches the
# binaries outside the clone, so that a second run reuses them. No Docker, no prebuilt downloads.
#
#   --node        also build kubeadm, kubelet, kubectl, kube-controller-manager, kube-scheduler and kube-proxy (the
#                 kind node image of `pnpm e2e --offline`, see e2e/scripts/build-kind-offline.sh) from the same
#                 wrapper module, so they share its module resolution and Go build cache.
#
#   K8S_VERSION   Kubernetes version of kube-apiserver (default v1.36.3)
#   ETCD_VERSION  etcd version (default v3.6.16; both defaults are also in src/binaries.ts and e2e/scripts/versions.sh)
#   KSA_CACHE_DIR cache root (default ~/.cache/kube-service-auth)
#
# Prints the directory holding `etcd` and `kube-apiserver` as its last line.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CACHE=${KSA_CACHE_DIR:-$HOME/.cache/kube-service-auth}
OUT="$CACHE/kube/$K8S_VERSION-etcd-$ETCD_VERSION"
WITH_NODE=false
for arg in "$@"; do
  case $arg in
    --node) WITH_NODE=true ;;
    *) printf 'usage: %s [--node]\n' "$0" >&2; exit 2 ;;
  esac
done
NODE_CMDS=(kubeadm kubelet kubectl kube-controller-manager kube-scheduler kube-proxy)
WORK="$CACHE/build"
mkdir -p "$OUT" "$WORK"

log() { printf '[build-control-plane] %s\n' "$*" >&2; }

# Only a build needs Go: cached binaries must keep working without it.
need_go() { command -v go >/dev/null || { log "go is not installed: install Go >= 1.26 or set KUBEBUILDER_ASSETS"; exit 1; }; }

# Concurrent callers (parallel test workers, two terminals) would otherwise build twice into the same files; the
# second one waits here and then finds the binaries cached.
if command -v flock >/dev/null; then
  exec 9>"$CACHE/build.lock"
  flock 9
fi

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

build_etcd() {
  if [ -x "$OUT/etcd" ]; then log "etcd $ETCD_VERSION cached in $OUT"; return; fi
  need_go
  local dir="$WORK/etcd-$ETCD_VERSION"
  rm -rf "$dir" && mkdir -p "$dir"
  # etcd's server module has relative replace lines, so `go install pkg@version` refuses it; a wrapper module that
  # requires it builds fine because replace lines of dependencies are ignored.
  cat >"$dir/go.mod" <<MOD
module ksa.local/etcd-build

go 1.26
MOD
  log "etcd $ETCD_VERSION: resolving modules"
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  log "etcd $ETCD_VERSION: compiling (a few minutes)"
  (cd "$dir" && go build -trimpath -ldflags='-s -w' -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$OUT/etcd.tmp" "$OUT/etcd"
  log "etcd built: $OUT/etcd"
}

# The wrapper module that builds every Kubernetes command of $K8S_VERSION.
kube_module() {
  local dir="$WORK/kube-apiserver-$K8S_VERSION"
  if [ -f "$dir/go.mod" ] && grep -qE "^(require)?[[:space:]]*k8s.io/kubernetes $K8S_VERSION( |$)" "$dir/go.mod"; then return; fi
  rm -rf "$dir" && mkdir -p "$dir"
  log "kubernetes $K8S_VERSION: downloading k8s.io/kubernetes (large)"
  local gomod
  gomod=$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$gomod" ] || { log "could not locate go.mod of k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
  # k8s.io/kubernetes pins its staging modules at v0.0.0 with local replace lines that Go ignores in a dependency:
  # pin each one to the published v0.X.Y that matches v1.X.Y.
  local staging="v0.${K8S_VERSION#v1.}"
  {
    printf 'module ksa.local/kube-apiserver-build\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
    grep -oE 'k8s.io/[a-z0-9-]+ => \./staging/src/k8s.io/[a-z0-9-]+' "$gomod" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
    printf ')\n'
  } >"$dir/go.mod"
  log "kubernetes: $(grep -c '=> k8s.io' "$dir/go.mod") staging modules pinned to $staging"
}

# build_kube CMD...: builds k8s.io/kubernetes/cmd/CMD for each CMD not yet cached, in one `go build`.
build_kube() {
  local cmd todo=()
  for cmd in "$@"; do
    if [ -x "$OUT/$cmd" ]; then log "$cmd $K8S_VERSION cached in $OUT"; else todo+=("$cmd"); fi
  done
  [ ${#todo[@]} -gt 0 ] || return 0
  need_go
  kube_module
  local dir="$WORK/kube-apiserver-$K8S_VERSION" pkgs=() gets=()
  for cmd in "${todo[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); gets+=("k8s.io/kubernetes/cmd/$cmd@$K8S_VERSION"); done
  log "${todo[*]} $K8S_VERSION: resolving modules"
  (cd "$dir" && go get "${gets[@]}")
  log "${todo[*]} $K8S_VERSION: compiling (kube-apiserver alone takes 10-20 minutes on 2 cores)"
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  rm -rf "$OUT/.tmp" && mkdir -p "$OUT/.tmp"
  (cd "$dir" && go build -trimpath -ldflags="$ld" -o "$OUT/.tmp/" "${pkgs[@]}")
  for cmd in "${todo[@]}"; do mv "$OUT/.tmp/$cmd" "$OUT/$cmd"; done
  rmdir "$OUT/.tmp"
  log "built: ${todo[*]} in $OUT"
}

build_etcd
build_kube kube-apiserver
if $WITH_NODE; then build_kube "${NODE_CMDS[@]}"; fi
"$OUT/kube-apiserver" --version >&2
echo "$OUT"
