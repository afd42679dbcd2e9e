# shellcheck shell=bash
# bench/lib.sh: helpers shared by bench/bench.sh and bench/services.sh (bb_has also in logs.sh).
# Sourced after TMP is made: `TAG=name; source lib.sh`. No forks in the
# helpers that poll (bash builtins only), so polling does not load the
# machine it measures.

# nap SECONDS: sleep without fork (read with a timeout on a fifo nobody
# writes).
mkfifo "$TMP/never"
exec {NEVER}<>"$TMP/never"
nap() { read -r -t "$1" -u "$NEVER" _ 2>/dev/null; return 0; }

log() { printf '%s: %s\n' "$TAG" "$*" >&2; }

PROBLEMS=()
problem() { PROBLEMS+=("$*"); log "PROBLEM: $*"; }
# The problems as a Markdown list after a table (nothing when none).
print_problems() {
  [ ${#PROBLEMS[@]} -gt 0 ] || return 0
  echo
  echo "Problems:"
  local p
  for p in "${PROBLEMS[@]}"; do echo "- $p"; done
}

# NOW = µs since the epoch, no fork
now_us() { local t=$EPOCHREALTIME; NOW=${t/./}; NOW=$((10#$NOW)); }

kids_of() {
  local t c
  KIDS=""
  for t in /proc/"$1"/task/*/children; do
    c=""
    { read -r c || [ -n "$c" ]; } 2>/dev/null <"$t" && KIDS+="$c "
  done
  return 0
}

argv_of() { mapfile -d '' ARGV 2>/dev/null <"/proc/$1/cmdline" && [ ${#ARGV[@]} -gt 0 ]; }

dead() {
  local s
  read -r s 2>/dev/null <"/proc/$1/stat" || return 0
  s=${s##*) }
  [ "${s:0:1}" = Z ] || [ "${s:0:1}" = X ]
}

wait_until() {
  local limit=$1 int frac end; shift
  int=${limit%%.*}; frac=0
  [[ $limit == *.* ]] && { frac=${limit#*.}000000; frac=${frac:0:6}; }
  now_us; end=$(( NOW + 10#${int:-0} * 1000000 + 10#$frac ))
  while :; do
    "$@" && return 0
    now_us; [ "$NOW" -ge "$end" ] && return 1
    nap 0.01
  done
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }

ratio() { # value base
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) exit
    r = a / b; printf(r >= 10 ? " (%.0fx)" : " (%.1fx)", r) }'
}

# bb_has BUSYBOX APPLET: the build has APPLET. `APPLET --help` exits 0 when it
# is there (with or without usage texts: the static build has none) and 127
# ("applet not found") when not.
bb_has() { [ -x "$1" ] && { "$1" "$2" --help </dev/null >/dev/null 2>&1; [ $? -ne 127 ]; }; }
