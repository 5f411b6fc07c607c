# Shared helpers of the build scripts in e2e/scripts (sourced, not run).
#
#   KSA_CACHE_DIR  cache root (default ~/.cache/kube-service-auth); every artefact lives under it, keyed by version.

KSA_CACHE=${KSA_CACHE_DIR:-$HOME/.cache/kube-service-auth}
KSA_LOG_TAG=${KSA_LOG_TAG:-$(basename "${0%.sh}")}
mkdir -p "$KSA_CACHE/locks"

ksa_log() { printf '[%s] %s\n' "$KSA_LOG_TAG" "$*" >&2; }
ksa_die() { ksa_log "error: $*"; exit 1; }
# A prerequisite the user must provide (not a build failure): exit code 2, like `pnpm e2e` itself.
ksa_missing() { ksa_log "missing prerequisite: $*"; exit 2; }

ksa_fmt_secs() { local s=$1; if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi; }

# ksa_step NAME FUNCTION [ARGS...]: runs FUNCTION under the lock file locks/NAME.lock and prints how long it took.
# Two runs of the same step (two terminals, CI next to a developer) serialise on the lock; the second one then finds
# the artefact cached, because every step checks its own output first (a step that starts a daemon must close fd 8
# for it, or the daemon holds the lock for its whole life) and writes it under a temporary name before
# renaming it, so an interrupted run leaves nothing half-written behind (resumable).
ksa_step() {
  local name=$1; shift
  local start=$SECONDS
  (
    if command -v flock >/dev/null; then
      exec 8>"$KSA_CACHE/locks/$name.lock"
      flock -n 8 || { ksa_log "$name: another build holds the lock, waiting"; flock 8; }
    fi
    "$@"
  ) || { local rc=$?; ksa_log "$name: FAILED after $(ksa_fmt_secs $((SECONDS - start)))"; return $rc; }
  ksa_log "$name: done in $(ksa_fmt_secs $((SECONDS - start)))"
}

ksa_need_go() {
  export PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || ksa_missing "go is not installed: install Go >= 1.26 (https://go.dev/dl/) to build from source"
}

# ksa_go_build DIR MODULE@VERSION OUTDIR LDFLAGS TAGS PKG...: builds main packages of a module through a wrapper
# module in DIR. A wrapper (instead of `go install pkg@version`) works for modules with replace lines too, because a
# dependency's replace lines are ignored, and it lets several commands share one resolution.
ksa_go_build() {
  local dir=$1 modver=$2 out=$3 ldflags=$4 tags=$5; shift 5
  local ver=${modver#*@}
  ksa_need_go
  mkdir -p "$dir" "$out"
  [ -f "$dir/go.mod" ] || printf 'module ksa.local/%s\n\ngo 1.26\n' "$(basename "$dir")" >"$dir/go.mod"
  ksa_log "$modver: resolving modules"
  local p gets=()
  for p in "$@"; do gets+=("$p@$ver"); done
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go get "${gets[@]}")
  ksa_log "$modver: compiling $*"
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build ${KSA_GO_P:+-p "$KSA_GO_P"} -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.tmp/" "$@")
  mv "$out.tmp"/* "$out/" && rmdir "$out.tmp"
}
