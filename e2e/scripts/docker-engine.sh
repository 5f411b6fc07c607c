#!/usr/bin/env bash
# Makes sure a Docker engine answers, for kind and the image builds of `pnpm e2e --offline`.
#
# - An engine that already answers is left running. The only change ever made to it is the one below, and only when
#   the machine needs it and it is missing.
# - Otherwise Debian's docker.io is installed where dockerd is missing (root only) and dockerd is started in the
#   background (machines without systemd), logging to /var/log/kube-service-auth-dockerd.log.
# - Where the capability bounding set lacks capabilities that `docker run --privileged` asks for (CAP_SYS_RESOURCE on
#   some VMs; kind always runs its nodes privileged), runc fails with "unable to apply caps". A small runc wrapper
#   removes from each container's spec only the capabilities the process could never get, and is registered as the
#   default runtime. Where the bounding set is full, nothing is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

WRAPPER=/usr/local/lib/kube-service-auth/runc-caps-wrapper
RUNTIME=ksa-runc
DAEMON_JSON=/etc/docker/daemon.json

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

# Capabilities in the bounding set that the full set (every capability this kernel knows) lacks.
missing_caps() {
  local bnd last full
  bnd=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
  last=$(cat /proc/sys/kernel/cap_last_cap 2>/dev/null || echo 40)
  full=$(( (1 << (last + 1)) - 1 ))
  printf '%x' $(( full & ~0x$bnd ))
}

install_packages() {
  local pkgs=("$@") need=()
  local p
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  [ ${#need[@]} -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || ksa_missing "missing Debian packages ${need[*]}; install them as root: apt-get install -y ${need[*]}"
  command -v apt-get >/dev/null || ksa_missing "missing ${need[*]} and no apt-get to install them"
  ksa_log "installing ${need[*]} from Debian"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

write_wrapper() {
  mkdir -p "$(dirname "$WRAPPER")"
  cp "$here/runc-caps-wrapper.sh" "$WRAPPER.tmp"
  chmod 755 "$WRAPPER.tmp" && mv "$WRAPPER.tmp" "$WRAPPER"
}

# Registers the wrapper as the default runtime in daemon.json, keeping every other setting there.
register_wrapper() {
  mkdir -p "$(dirname "$DAEMON_JSON")"
  local cur='{}'
  [ -s "$DAEMON_JSON" ] && cur=$(cat "$DAEMON_JSON")
  jq --arg p "$WRAPPER" --arg r "$RUNTIME" '.runtimes[$r] = {path: $p} | .["default-runtime"] = $r' <<<"$cur" >"$DAEMON_JSON.tmp"
  mv "$DAEMON_JSON.tmp" "$DAEMON_JSON"
}

main() {
  local missing
  missing=$(missing_caps)
  if [ "$missing" != 0 ]; then
    ksa_log "capability bounding set lacks 0x$missing$(command -v capsh >/dev/null && printf ' (%s)' "$(capsh --decode=$missing | sed 's/^[^=]*=//')"): a runc wrapper is needed for privileged containers"
  fi

  if engine_answers; then
    ksa_log "a Docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null)): leaving it running"
    # A wrapper installed by an older checkout is brought up to date (same path, so dockerd needs no reload).
    if [ -f "$WRAPPER" ] && [ -w "$WRAPPER" ] && ! cmp -s "$here/runc-caps-wrapper.sh" "$WRAPPER"; then write_wrapper && ksa_log "updated $WRAPPER"; fi
    if [ "$missing" != 0 ] && [ "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" != "$RUNTIME" ]; then
      [ "$(id -u)" = 0 ] || ksa_missing "the running engine would fail privileged containers (kind nodes); run as root once, or add a runtime that drops capabilities 0x$missing"
      local pid
      pid=$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || true)
      [ -n "$pid" ] || ksa_die "the engine lacks the runc wrapper and its dockerd process is not on this machine"
      install_packages jq libcap2-bin
      write_wrapper && register_wrapper
      ksa_log "registered $WRAPPER as default runtime; reloading dockerd (SIGHUP, containers keep running)"
      kill -HUP "$pid"
      local i; for i in $(seq 1 20); do [ "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" = "$RUNTIME" ] && break; sleep 0.5; done
    fi
    return 0
  fi

  [ "$(id -u)" = 0 ] || ksa_missing "no Docker engine answers, and starting one needs root (apt-get install docker.io; dockerd)"
  local pkgs=(docker.io)
  [ "$missing" != 0 ] && pkgs+=(jq libcap2-bin)
  command -v dockerd >/dev/null && [ "$missing" = 0 ] || install_packages "${pkgs[@]}"
  command -v dockerd >/dev/null || ksa_die "dockerd not found after installing docker.io"
  if [ "$missing" != 0 ]; then write_wrapper && register_wrapper && ksa_log "runc wrapper registered as default runtime in $DAEMON_JSON"; fi
  ksa_log "starting dockerd (log: /var/log/kube-service-auth-dockerd.log)"
  # fd 8 is this step's lock (ksa_step): dockerd must not inherit it, or it would hold the lock for its whole life.
  setsid nohup dockerd >/var/log/kube-service-auth-dockerd.log 2>&1 </dev/null 8>&- &
  local i
  for i in $(seq 1 60); do engine_answers && break; sleep 1; done
  engine_answers || ksa_die "dockerd did not answer within 60 s; see /var/log/kube-service-auth-dockerd.log"
  ksa_log "Docker engine $(docker version --format '{{.Server.Version}}') up, default runtime $(docker info --format '{{.DefaultRuntime}}')"
}

ksa_step docker-engine main
