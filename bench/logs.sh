#!/bin/bash
# bench/logs.sh - log throughput: the same output, `seq 1 LINES` (default
# 3,000,000 lines, 23 MB), into a timestamped log file through tinyd (`-o
# FILE`), s6-log (`T`, ISO timestamps) and svlogd (`-tt`), Debian's builds
# and busybox's static svlogd when bench/build-busybox.sh built it; on tmpfs
# (/dev/shm) and on disk (bench/out). Each logger REPS (3) times,
# interleaved; the median of the wall time, and of the CPU time (user+sys)
# of the logger and of the one `cat` that feeds it. Nothing rotates (100 MB
# files). Output: Markdown on stdout and in bench/out/logs.md.
# Environment: TINYD (default target/release/tinyd), LINES, REPS.
set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
TINYD=${TINYD:-$ROOT/target/release/tinyd}
LINES=${LINES:-3000000}
REPS=${REPS:-3}
OUTDIR=$HERE/out
BB=$OUTDIR/peers/bin/busybox
mkdir -p "$OUTDIR"
bash "$HERE/install-peers.sh" >&2 || { echo "logs: installing peers failed" >&2; exit 1; }

SHM=$(mktemp -d /dev/shm/tinyd-logs.XXXXXX)
DISK=$(mktemp -d "$OUTDIR/logs.XXXXXX")
trap 'rm -rf "$SHM" "$DISK"' EXIT
IN=$SHM/in.txt
seq 1 "$LINES" >"$IN"
MB=$(( $(stat -c %s "$IN") / 1000000 ))

declare -A CMD LABEL
CMD[tinyd]='"$TINYD" -f -o "$D/tinyd.log" --log-size 100M --log-keep 0 -r never -n seq -- cat "$IN" 2>/dev/null'
LABEL[tinyd]="tinyd \`-o FILE\`"
CMD[s6]='cat "$IN" | s6-log -b n2 s100000000 T "$D/s6"'
LABEL[s6]="s6-log \`T\` (Debian, dynamic)"
CMD[svlogd]='mkdir -p "$D/sv" && echo s100000000 >"$D/sv/config" && cat "$IN" | svlogd -tt "$D/sv"'
LABEL[svlogd]="svlogd \`-tt\` (Debian's runit, dynamic)"
IDS=(tinyd s6 svlogd)
if [ -x "$BB" ] && "$BB" svlogd 2>&1 | grep -qi usage; then
  CMD[bbsvlogd]='mkdir -p "$D/bb" && echo s100000000 >"$D/bb/config" && cat "$IN" | "$BB" svlogd -tt "$D/bb"'
  LABEL[bbsvlogd]="busybox svlogd \`-tt\` (static musl)"
  IDS+=(bbsvlogd)
fi

# run ID DIR: prints "WALL CPU" in seconds.
run() {
  local D=$2 out
  rm -rf "${D:?}"/*
  TIMEFORMAT='%R %U %S'
  out=$( { time eval "${CMD[$1]}" >/dev/null; } 2>&1 | tail -n1 )
  local w u s
  read -r w u s <<<"$out"
  printf '%s %.3f\n' "$w" "$(echo "$u + $s" | bc)"
}
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }

declare -A WALL CPU
for where in tmpfs disk; do
  [ $where = tmpfs ] && D=$SHM/out || D=$DISK/out
  mkdir -p "$D"
  declare -A W C
  for id in "${IDS[@]}"; do W[$id]=""; C[$id]=""; done
  for _ in $(seq "$REPS"); do
    for id in "${IDS[@]}"; do
      read -r w c < <(run "$id" "$D")
      W[$id]+="$w "; C[$id]+="$c "
    done
  done
  for id in "${IDS[@]}"; do
    # shellcheck disable=SC2086
    WALL[$where.$id]=$(median ${W[$id]}); CPU[$where.$id]=$(median ${C[$id]})
  done
  unset W C
done

ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
{
  echo "### Log throughput (\`seq 1 $LINES\`, $MB MB, into a timestamped file)"
  echo
  echo "Median of $REPS runs each, interleaved, in one run on this machine. Time"
  echo "ratios are the peer's over tinyd's (above 1: tinyd is faster); CPU is the"
  echo "logger's user+sys plus the one \`cat\` feeding it."
  echo
  echo "| logger | tmpfs: wall s | CPU s | wall vs tinyd | disk: wall s | CPU s | wall vs tinyd |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for id in "${IDS[@]}"; do
    echo "| ${LABEL[$id]} | ${WALL[tmpfs.$id]} | ${CPU[tmpfs.$id]} | $(ratio "${WALL[tmpfs.$id]}" "${WALL[tmpfs.tinyd]}") | ${WALL[disk.$id]} | ${CPU[disk.$id]} | $(ratio "${WALL[disk.$id]}" "${WALL[disk.tinyd]}") |"
  done
  echo
  printf "tinyd's CPU per MB of input: %.4f s (tmpfs).\n" "$(echo "scale=6; ${CPU[tmpfs.tinyd]} / $MB" | bc)"
} | tee "$OUTDIR/logs.md"
