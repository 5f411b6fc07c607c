#!/usr/bin/env bash
# Builds, from Go modules and Debian's gcc, every binary the offline kind node image needs: kind itself, kubeadm,
# kubelet, kubectl and the control-plane commands (through packages/testing/scripts/build-control-plane.sh, sharing its wrapper module and Go
# build cache), containerd with its shim and ctr, crictl, coredns and the pause binary. Each lands in
# $KSA_CACHE_DIR/bin/<name>-<version>/ and is reused on the next run. No registry, no prebuilt download.
#
# usage: build-kind-binaries.sh [STEP...]   (steps: kind kube containerd crictl coredns pause; default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/versions.sh"
BIN="$KSA_CACHE/bin"

step_kind() {
  local out="$BIN/kind-$KIND_VERSION"
  [ -x "$out/kind" ] && { ksa_log "kind $KIND_VERSION cached in $out"; return; }
  ksa_go_build "$KSA_CACHE/build/kind-$KIND_VERSION" "sigs.k8s.io/kind@$KIND_VERSION" "$out" "-s -w" "" sigs.k8s.io/kind
}

step_kube() {
  K8S_VERSION=$K8S_VERSION ETCD_VERSION=$ETCD_VERSION bash "$here/../../packages/testing/scripts/build-control-plane.sh" --node >/dev/null
}

step_containerd() {
  local out="$BIN/containerd-$CONTAINERD_VERSION" m=github.com/containerd/containerd/v2
  [ -x "$out/containerd" ] && [ -x "$out/containerd-shim-runc-v2" ] && [ -x "$out/ctr" ] \
    && { ksa_log "containerd $CONTAINERD_VERSION cached in $out"; return; }
  # The storage drivers kind's node does not use need cgo or kernel headers; the same tags as containerd's static builds.
  ksa_go_build "$KSA_CACHE/build/containerd-$CONTAINERD_VERSION" "$m@$CONTAINERD_VERSION" "$out" \
    "-s -w -X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Revision=ksa-offline -X $m/version.Package=github.com/containerd/containerd" \
    "no_aufs no_zfs no_btrfs no_devmapper urfave_cli_no_docs" \
    "$m/cmd/containerd" "$m/cmd/containerd-shim-runc-v2" "$m/cmd/ctr"
}

step_crictl() {
  local out="$BIN/crictl-$CRICTL_VERSION" m=sigs.k8s.io/cri-tools
  [ -x "$out/crictl" ] && { ksa_log "crictl $CRICTL_VERSION cached in $out"; return; }
  ksa_go_build "$KSA_CACHE/build/crictl-$CRICTL_VERSION" "$m@$CRICTL_VERSION" "$out" \
    "-s -w -X $m/pkg/version.Version=$CRICTL_VERSION" "" "$m/cmd/crictl"
}

step_coredns() {
  local out="$BIN/coredns-$COREDNS_VERSION"
  [ -x "$out/coredns" ] && { ksa_log "coredns $COREDNS_VERSION cached in $out"; return; }
  ksa_go_build "$KSA_CACHE/build/coredns-$COREDNS_VERSION" "github.com/coredns/coredns@$COREDNS_VERSION" "$out" \
    "-s -w" "" github.com/coredns/coredns
}

# pause is C, not Go: Kubernetes ships its source in build/pause of the k8s.io/kubernetes module, which the kube step
# has already downloaded; its Makefile holds the image tag.
step_pause() {
  local out="$BIN/pause-$K8S_VERSION"
  [ -x "$out/pause" ] && [ -f "$out/tag" ] && { ksa_log "pause cached in $out"; return; }
  ksa_need_go
  command -v gcc >/dev/null || ksa_missing "gcc is required for the pause binary (apt-get install gcc libc6-dev)"
  local src
  src=$(cd /tmp && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$src/build/pause/linux/pause.c" ] || ksa_die "pause.c not found in k8s.io/kubernetes@$K8S_VERSION ($src)"
  local tag
  tag=$(sed -n 's/^TAG[[:space:]]*?=[[:space:]]*\([0-9.]*\).*/\1/p' "$src/build/pause/Makefile" | head -1)
  [ -n "$tag" ] || ksa_die "no TAG in $src/build/pause/Makefile"
  mkdir -p "$out"
  gcc -Os -Wall -Werror -static -DVERSION="v$tag-ksa-offline" -o "$out/pause.tmp" "$src/build/pause/linux/pause.c"
  strip "$out/pause.tmp" && mv "$out/pause.tmp" "$out/pause"
  echo "$tag" >"$out/tag"
  ksa_log "pause $tag built in $out"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(kind kube containerd crictl coredns pause)
for s in "${steps[@]}"; do
  declare -F "step_$s" >/dev/null || { echo "usage: $0 [kind|kube|containerd|crictl|coredns|pause]..." >&2; exit 2; }
  ksa_step "bin-$s" "step_$s"
done
