#!/bin/bash
# A runc wrapper, installed by e2e/scripts/docker-engine.sh as Docker's default runtime where the machine's capability
# bounding set lacks capabilities (CAP_SYS_RESOURCE on some VMs): `docker run --privileged`, which kind uses for its
# nodes, asks for every capability and runc then fails with "unable to apply caps: operation not permitted". This
# removes from the OCI spec (bundle config.json on create/run, the --process file on exec) only the capabilities
# outside the bounding set, which no process here can hold anyway, then runs the real runc. Nothing else changes.
#
#   KSA_REAL_RUNC  the runc to run (default /usr/sbin/runc)
#   KSA_CAPBND     the bounding set in hex (default: this process's CapBnd), for tests
set -euo pipefail
allowed=$(capsh --decode="${KSA_CAPBND:-$(awk '/^CapBnd/ {print $2}' /proc/self/status)}" | sed 's/^[^=]*=//' | tr 'a-z' 'A-Z' | jq -Rc 'split(",")')
filter='def keep: if type == "array" then map(select(. as $c | $allowed | index($c))) else . end;'
# runc [global flags] COMMAND [flags] ID: the command is the first word that is neither a flag nor a global flag's value.
cmd="" bundle="" process="" prev=""
for a in "$@"; do
  if [ -z "$cmd" ]; then
    case $a in
      -*) ;;
      *) case $prev in --root|--log|--log-format|--criu|--rootless) ;; *) cmd=$a ;; esac ;;
    esac
  else
    case $prev in
      --bundle|-b) bundle=$a ;;
      --process|-p) process=$a ;;
    esac
    case $a in
      --bundle=*) bundle=${a#--bundle=} ;;
      --process=*) process=${a#--process=} ;;
    esac
  fi
  prev=$a
done
rewrite() { # FILE JQ-PATH
  local f=$1 tmp
  tmp=$(mktemp "$f.XXXXXX")
  # A failed rewrite (no such spec, bad JSON) must not leave its temporary file behind: runc's default bundle is the
  # working directory, so a stray file would land wherever the caller stood.
  if ! jq --argjson allowed "$allowed" "$filter $2 |= (if . == null then . else with_entries(.value |= keep) end)" "$f" >"$tmp"; then
    rm -f "$tmp"
    exit 1
  fi
  mv "$tmp" "$f"
}
case $cmd in
  create|run) rewrite "${bundle:-.}/config.json" .process.capabilities ;;
  exec) [ -n "$process" ] && rewrite "$process" .capabilities ;;
esac
exec "${KSA_REAL_RUNC:-/usr/sbin/runc}" "$@"
