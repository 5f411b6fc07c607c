#!/usr/bin/env bash
# Everything `pnpm e2e --offline` needs, built on this machine without any image registry: a Docker engine (started
# if none answers), kind, a kind node image for Kubernetes $K8S_VERSION, the control-plane images inside it, and a
# stand-in for the Dockerfiles' base image. Cached under $KSA_CACHE_DIR (default ~/.cache/kube-service-auth), keyed
# by versions; safe to run twice at once (each step holds a lock); an interrupted run resumes where it stopped.
#
# Prints each stage's duration on stderr, and on stdout, as its last lines, what the driver needs:
#   kind=PATH  kubectl=PATH  node_image=IMAGE  etcd_image_tag=TAG
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/versions.sh"
export PATH="$PATH:/usr/local/go/bin"

stage() {
  local name=$1 start=$SECONDS; shift
  ksa_log "== $name"
  "$@"
  STAGES+=("$(printf '%-22s %s' "$name" "$(ksa_fmt_secs $((SECONDS - start)))")")
}
STAGES=()
total_start=$SECONDS

packages() {
  local need=() p
  for p in debootstrap jq libcap2-bin gcc libc6-dev; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  [ ${#need[@]} -gt 0 ] || { ksa_log "Debian packages present"; return; }
  [ "$(id -u)" = 0 ] || ksa_missing "missing Debian packages: ${need[*]} (as root: apt-get install -y ${need[*]})"
  ksa_log "installing ${need[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

stage "packages" packages
stage "docker engine" bash "$here/docker-engine.sh"
stage "go binaries" bash "$here/build-kind-binaries.sh"
images_out=$(mktemp)
trap 'rm -f "$images_out"' EXIT
stage "images" eval 'bash "$here/build-kind-images.sh" >"$images_out"'
node_image=$(tail -1 "$images_out")

ksa_log "stage durations:"
for s in "${STAGES[@]}"; do ksa_log "  $s"; done
ksa_log "  total                  $(ksa_fmt_secs $((SECONDS - total_start)))"
echo "kind=$KSA_CACHE/bin/kind-$KIND_VERSION/kind"
echo "kubectl=$KSA_CACHE/kube/$K8S_VERSION-etcd-$ETCD_VERSION/kubectl"
echo "node_image=$node_image"
echo "etcd_image_tag=$ETCD_VERSION"
