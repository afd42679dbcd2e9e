#!/bin/bash
# Install the peer supervisors that bench/bench.sh compares tinyd with.
# Idempotent: does nothing when every tool is already present; runs
# `apt-get update` only when a package cannot be found in the apt cache.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# command -> Debian package
declare -A pkg=(
  [s6-supervise]=s6
  [runsv]=runit
  [busybox]=busybox-static
  [daemon]=daemon
  [supervisord]=supervisor
  [strace]=strace
  [ps]=procps
  [start-stop-daemon]=dpkg
)

missing=()
for cmd in "${!pkg[@]}"; do
  PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg[$cmd]}")
done
# busybox may exist but not be the static build; require the package itself.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
  || missing+=(busybox-static)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-peers: all peers present"
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-peers: need root to install: ${missing[*]}" >&2
  exit 1
fi

# Update the package lists only if some package is unknown to apt.
need_update=0
for p in "${missing[@]}"; do
  apt-cache show "$p" >/dev/null 2>&1 || need_update=1
done
[ $need_update -eq 1 ] && apt-get update

echo "install-peers: installing ${missing[*]}"
apt-get install -y --no-install-recommends "${missing[@]}"
