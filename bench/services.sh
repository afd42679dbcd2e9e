#!/bin/bash
# bench/services.sh - many services and status queries: tinyd's config mode
# against s6-svscan + s6-supervise and runsvdir + runsv.
#
#   bash bench/services.sh        (also run at the end of bench/bench.sh; needs root)
#
# 1. Memory with 1, 16 and 64 services: `tinyd -f -c FILE` (one process) against
#    s6-svscan and runsvdir with one s6-supervise / runsv per service; for the
#    peers the sum over every supervisor process (scanner included). Every service
#    is `sleep N` with N unique to this run and service.
# 2. Status round trip on one service: `tinyd ctl -s SOCK status` against
#    `s6-svstat DIR` and `sv status DIR`, CTL_REPS calls each, interleaved, each
#    call timed from bash (so fork + exec included); plus process-start baselines
#    and python3 doing the request in-process (no process start).
# Output: Markdown on stdout and in bench/out/services.md. Environment:
# TINYD=path (default target/release/tinyd), CTL_REPS (200), COUNTS ("1 16 64").
set -u
export LC_ALL=C
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
TINYD=${TINYD:-$ROOT/target/release/tinyd}
OUTDIR=$HERE/out
CTL_REPS=${CTL_REPS:-200}
read -r -a COUNTS <<<"${COUNTS:-1 16 64}"

if [ "$(id -u)" -ne 0 ]; then
  echo "services: must run as root" >&2
  exit 1
fi
if [ ! -x "$TINYD" ]; then
  echo "services: tinyd binary $TINYD not found: run cargo build --release" >&2
  exit 1
fi
bash "$HERE/install-peers.sh" >&2 || { echo "services: installing peers failed" >&2; exit 1; }
# A freshly built binary's page-cache pages stay dirty until writeback and
# smaps would count them in Private_Dirty: write it back first (fsync).
sync -- "$TINYD" || echo "services: sync $TINYD failed (Private_Dirty may include page cache)" >&2
for c in s6-svscan s6-svstat runsvdir sv python3 busybox; do
  command -v "$c" >/dev/null || { echo "services: $c not found" >&2; exit 1; }
done
mkdir -p "$OUTDIR"

TMP=$(mktemp -d /tmp/tinyd-services.XXXXXX)
chmod 755 "$TMP"
MARK="8$(printf %05d $(( $$ % 100000 )))"   # service = sleep ${MARK}KII (K: 1 tinyd, 2 s6, 3 runit)
T_START=$EPOCHREALTIME

# ---------------------------------------------------------------- helpers
TAG=services
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

all_dead() { local p; for p in "$@"; do dead "$p" || return 1; done; }
mean() { printf '%s\n' "$@" | awk '{s+=$1} END {if (NR) printf "%.0f", s/NR}'; }
ms3() { awk -v u="$1" 'BEGIN {printf "%.3f", u/1000}'; }

# Supervision tree below TOP: SUPS = TOP and its descendants that are not
# services; SVCS = the services (`sleep ${MARK}K..`); UP = their number.
scan_tree() { # TOP K
  local todo=("$1") p k
  SUPS=(); SVCS=(); UP=0
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}; todo=("${todo[@]:1}")
    if argv_of "$p" && [ "${ARGV[0]##*/}" = sleep ] && [[ ${ARGV[1]-} == "$MARK$2"* ]]; then
      UP=$((UP + 1)); SVCS+=("$p"); continue
    fi
    dead "$p" && continue
    SUPS+=("$p")
    kids_of "$p"
    for k in $KIDS; do todo+=("$k"); done
  done
}
tree_up() { scan_tree "$1" "$2"; [ "$UP" -eq "$3" ] && [ ${#SUPS[@]} -eq "$4" ]; }

mem_sum() { # pids... -> MEM_RSS MEM_PSS MEM_PD (kB, summed)
  local files=() p
  for p in "$@"; do files+=("/proc/$p/smaps_rollup"); done
  read -r MEM_RSS MEM_PSS MEM_PD < <(awk '$1 == "Rss:" {r += $2} $1 == "Pss:" {s += $2}
    $1 == "Private_Dirty:" {d += $2} END {print r + 0, s + 0, d + 0}' "${files[@]}" 2>/dev/null)
}

svc_num() { printf '%s%s%02d' "$MARK" "$1" "$2"; }   # K I

# ---------------------------------------------------------------- cleanup
TOPS=()
cleanup() {
  local f p sig c victims=()
  trap - EXIT INT TERM HUP
  # Everything this script started has $TMP in its argv or cwd, or is `sleep $MARK..`.
  for f in /proc/[0-9]*/cmdline; do
    p=${f#/proc/}; p=${p%/cmdline}
    { [ "$p" = $$ ] || [ "$p" = "$BASHPID" ]; } && continue
    argv_of "$p" || continue
    c=$(readlink "/proc/$p/cwd" 2>/dev/null)
    case "${ARGV[*]}|$c" in *"$TMP"*|"sleep $MARK"*|*"/sleep $MARK"*) victims+=("$p") ;; esac
  done
  if [ ${#victims[@]} -gt 0 ]; then
    log "cleanup: ending ${#victims[@]} leftover processes"
    for sig in TERM KILL; do
      for p in "${victims[@]}"; do dead "$p" || kill -"$sig" "$p" 2>/dev/null; done
      [ $sig = TERM ] && wait_until 2 all_dead "${victims[@]}" && break
    done
  fi
  for p in "${TOPS[@]}"; do wait "$p" 2>/dev/null; done
  exec {NEVER}>&-
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------- supervisors
declare -A TOP V NPROC
KINDS=(tinyd s6 runit)
declare -A K=([tinyd]=1 [s6]=2 [runit]=3)
declare -A LABEL=([tinyd]="tinyd -f -c FILE" [s6]="s6-svscan + s6-supervise" [runit]="runsvdir + runsv")

SOCK=$TMP/tinyd.sock
mk_rundirs() { # scandir K N
  local i d
  rm -rf "$1"; mkdir -p "$1"
  for ((i = 0; i < $3; i++)); do
    d=$1/$(printf 's%02d' "$i"); mkdir "$d"
    printf '#!/bin/sh\nexec /usr/bin/sleep %s\n' "$(svc_num "$2" "$i")" >"$d/run"
    chmod 755 "$d/run"
  done
}

start_tinyd() { # N
  local i conf=$TMP/tinyd.conf
  { printf '[tinyd]\ncontrol = %s\n' "$SOCK"
    for ((i = 0; i < $1; i++)); do
      printf '\n[s%02d]\nexec = /usr/bin/sleep %s\n' "$i" "$(svc_num 1 "$i")"
    done; } >"$conf"
  "$TINYD" -f -c "$conf" </dev/null >>"$TMP/tinyd.err" 2>&1 &
  TOP[tinyd]=$!; TOPS+=($!)
  if ! wait_until 10 tree_up "${TOP[tinyd]}" 1 "$1" 1; then
    problem "tinyd: \`tinyd -f -c FILE\` with $1 \`sleep N\` services: expected $1 services as children within 10 s, got $UP (supervisor processes ${#SUPS[@]}); stderr: $(tail -n1 "$TMP/tinyd.err")"
    return 1
  fi
  wait_until 5 test -S "$SOCK" || { problem "tinyd: control socket $SOCK not created within 5 s"; return 1; }
  # The control socket must agree: N lines, all running, exit 0.
  local out rc
  out=$("$TINYD" ctl -s "$SOCK" status 2>&1); rc=$?
  local running; running=$(grep -c '^s[0-9]* running [0-9]' <<<"$out")
  if [ $rc -ne 0 ] || [ "$running" -ne "$1" ]; then
    problem "tinyd: \`tinyd ctl -s SOCK status\` with $1 services up: expected exit 0 and $1 running lines, got exit $rc and $running: $(head -n3 <<<"$out" | tr '\n' ';')"
  fi
}
stop_tinyd() {
  local out rc p=${TOP[tinyd]}
  scan_tree "$p" 1
  out=$("$TINYD" ctl -s "$SOCK" shutdown 2>&1); rc=$?
  if [ $rc -ne 0 ] || [ "$out" != stopped ]; then
    problem "tinyd: \`tinyd ctl -s SOCK shutdown\`: expected exit 0 and 'stopped', got exit $rc: $out"
    kill -TERM "$p" 2>/dev/null
  fi
  wait_until 5 dead "$p" || { problem "tinyd: still running 5 s after ctl shutdown"; kill -KILL "$p"; }
  wait "$p" 2>/dev/null
  [ -e "$SOCK" ] && problem "tinyd: after shutdown expected $SOCK removed, still there"
}

start_s6() { # N
  mk_rundirs "$TMP/s6" 2 "$1"
  s6-svscan "$TMP/s6" </dev/null >/dev/null 2>>"$TMP/s6.err" &
  TOP[s6]=$!; TOPS+=($!)
  wait_until 10 tree_up "${TOP[s6]}" 2 "$1" $(($1 + 1)) ||
    { problem "s6: expected $1 services under s6-svscan within 10 s, got $UP"; return 1; }
}
stop_s6() { # s6-svscan on SIGTERM stops every s6-supervise (and its service), then exits
  scan_tree "${TOP[s6]}" 2
  kill -TERM "${TOP[s6]}"
}

start_runit() { # N
  mk_rundirs "$TMP/runit" 3 "$1"
  runsvdir "$TMP/runit" </dev/null >/dev/null 2>>"$TMP/runit.err" &
  TOP[runit]=$!; TOPS+=($!)
  wait_until 10 tree_up "${TOP[runit]}" 3 "$1" $(($1 + 1)) ||
    { problem "runit: expected $1 services under runsvdir within 10 s, got $UP"; return 1; }
}
stop_runit() { # runsvdir on SIGHUP sends TERM to every runsv (which stops its service) and exits
  scan_tree "${TOP[runit]}" 3
  kill -HUP "${TOP[runit]}"
}

stop_all() {
  local id pids=()
  for id in "${KINDS[@]}"; do
    [ -n "${TOP[$id]-}" ] || continue
    "stop_$id"
    pids+=("${SUPS[@]}" "${SVCS[@]}")
  done
  wait_until 10 all_dead "${pids[@]}" || problem "some supervisor or service still alive 10 s after shutdown"
  for id in "${KINDS[@]}"; do [ -n "${TOP[$id]-}" ] && wait "${TOP[$id]}" 2>/dev/null; TOP[$id]=""; done
}

# ---------------------------------------------------------------- 2. status timing
# Interleaved: each round runs every query once, so load changes hit all alike.
declare -A CTL_Q CTL_VALS
CTL_IDS=(tinyd s6 runit busybox true)
time_status() { # ids...: CTL_REPS rounds + 5 warm-up
  local r id t0 rc out
  for id in "$@"; do CTL_VALS[$id]=""; done
  for ((r = -5; r < CTL_REPS; r++)); do
    for id in "$@"; do
      now_us; t0=$NOW
      case $id in
        tinyd|tinyd64) "$TINYD" ctl -s "$SOCK" status >/dev/null 2>&1 ;;
        s6) s6-svstat "$TMP/s6/s00" >/dev/null 2>&1 ;;
        runit) sv status "$TMP/runit/s00" >/dev/null 2>&1 ;;
        busybox) busybox true ;;
        true) /usr/bin/true ;;
      esac
      rc=$?
      now_us
      [ $rc -eq 0 ] || { problem "status query $id: exit $rc in round $r"; continue; }
      [ $r -ge 0 ] && CTL_VALS[$id]+="$((NOW - t0)) "
    done
  done
  for id in "$@"; do
    # shellcheck disable=SC2086
    V[q_med,$id]=$(median ${CTL_VALS[$id]}); V[q_mean,$id]=$(mean ${CTL_VALS[$id]})
    log "status $id: median ${V[q_med,$id]} us, mean ${V[q_mean,$id]} us"
  done
}
# The same request without a process start: python3 connects, sends `status\n`,
# reads to EOF (tinyd closes after each reply, so one connection per request).
time_python() { # key
  local out
  out=$(python3 - "$SOCK" "$CTL_REPS" <<'EOF'
import socket, statistics, sys, time
path, n = sys.argv[1], int(sys.argv[2])
vals = []
for i in range(n + 20):
    t = time.perf_counter_ns()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"status\n")
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    t = time.perf_counter_ns() - t
    if not buf.startswith(b"0\n"):
        print("bad reply", repr(buf[:80]))
        sys.exit(1)
    if i >= 20:
        vals.append(t / 1000)
print("%.0f %.0f" % (statistics.median(vals), statistics.mean(vals)))
EOF
  ) || { problem "python3 raw request on $SOCK: $out"; return; }
  read -r "V[q_med,$1]" "V[q_mean,$1]" <<<"$out"
  log "status $1: median ${V[q_med,$1]} us, mean ${V[q_mean,$1]} us"
}

# ================================================================ run
log "tmp dir $TMP, service numbers ${MARK}Kxx, tinyd: $TINYD"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for n in "${COUNTS[@]}"; do
  log "$n service(s): starting tinyd, s6-svscan, runsvdir"
  for id in "${KINDS[@]}"; do
    TOP[$id]=""
    "start_$id" "$n" || V[fail,$id,$n]=1
  done
  nap 1
  for id in "${KINDS[@]}"; do
    [ -n "${V[fail,$id,$n]-}" ] && continue
    scan_tree "${TOP[$id]}" "${K[$id]}"
    mem_sum "${SUPS[@]}"
    V[procs,$id,$n]=${#SUPS[@]}
    V[rss,$id,$n]=$MEM_RSS; V[pss,$id,$n]=$MEM_PSS; V[pd,$id,$n]=$MEM_PD
    log "$id $n: ${#SUPS[@]} processes, Rss $MEM_RSS Pss $MEM_PSS Private_Dirty $MEM_PD kB"
  done
  if [ "$n" = 1 ]; then
    if [ -z "${V[fail,tinyd,1]-}${V[fail,s6,1]-}${V[fail,runit,1]-}" ]; then
      log "status round trips, $CTL_REPS each"
      time_status "${CTL_IDS[@]}"
      time_python py
    else
      problem "status timing skipped: a supervisor did not start with 1 service"
    fi
  fi
  if [ "$n" = 64 ] && [ -z "${V[fail,tinyd,64]-}" ]; then
    time_status tinyd64
    time_python py64
  fi
  stop_all
done

# ---------------------------------------------------------------- tables
mem_cell() { # metric id n
  local v=${V[$1,$2,$3]-}
  [ -n "${V[fail,$2,$3]-}" ] && { echo "failed to start"; return; }
  [ -z "$v" ] && { echo "n/a"; return; }
  [ "$2" = tinyd ] || [ "$1" = procs ] && { echo "$v"; return; }
  echo "$v$(ratio "$v" "${V[$1,tinyd,$3]-}")"
}
q_row() { # label id
  local m=${V[q_med,$2]-} a=${V[q_mean,$2]-}
  [ -z "$m" ] && { echo "| $1 | n/a | n/a | |"; return; }
  echo "| $1 | $(ms3 "$m") | $(ms3 "$a") | $(ratio "$m" "${V[q_med,tinyd]-}" | tr -d ' ()') |"
}

T_END=$EPOCHREALTIME
{
  echo "tinyd services benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r),"
  echo "load average $LOAD0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end; took $(awk -v a="$T_START" -v b="$T_END" 'BEGIN{printf "%.0f", b-a}') s."
  echo
  echo "Memory of the supervisor processes, kB (sum over all of them), all services up for 1 s:"
  echo
  echo "| Services | Metric | ${LABEL[tinyd]} | ${LABEL[s6]} | ${LABEL[runit]} |"
  echo "|---|---|---|---|---|"
  for n in "${COUNTS[@]}"; do
    for m in procs rss pss pd; do
      case $m in procs) mn="supervisor processes" ;; rss) mn="Rss" ;; pss) mn="Pss" ;; pd) mn="Private_Dirty" ;; esac
      echo "| $n | $mn | $(mem_cell $m tinyd "$n") | $(mem_cell $m s6 "$n") | $(mem_cell $m runit "$n") |"
    done
  done
  echo
  echo "Status query on one service, $CTL_REPS calls each, interleaved, timed from bash (fork + exec + wait included):"
  echo
  echo "| Query | median, ms | mean, ms | median / tinyd ctl |"
  echo "|---|---|---|---|"
  q_row "\`tinyd ctl -s SOCK status\` (asks the tinyd process over its socket)" tinyd
  q_row "\`s6-svstat DIR\` (reads DIR/supervise/status)" s6
  q_row "\`sv status DIR\` (runit; reads DIR/supervise/status)" runit
  q_row "process start only: \`busybox true\` (static)" busybox
  q_row "process start only: \`/usr/bin/true\` (glibc)" true
  q_row "python3 in-process: connect, \`status\\n\`, read to EOF (no process start)" py
  if [ -n "${V[q_med,tinyd64]-}" ]; then
    q_row "\`tinyd ctl -s SOCK status\`, 64 services listed" tinyd64
    q_row "python3 in-process, 64 services listed" py64
  fi
  echo
  echo "Ratios in parentheses: peer / tinyd. Services: \`/usr/bin/sleep N\` (s6/runit: a \`#!/bin/sh exec /usr/bin/sleep N\` run script per service dir)."
  echo "s6 and runit need one supervisor process per service plus the scanner; tinyd supervises all of them in one process."
  echo "Rss sums count libc pages shared between the peer processes once per process; Pss splits shared pages between their users."
  echo "Versions: $(dpkg-query -W -f='${Package} ${Version}; ' s6 runit busybox-static 2>/dev/null)python3 $(python3 -c 'import platform; print(platform.python_version())')"
  print_problems
} | tee "$OUTDIR/services.md"
log "written $OUTDIR/services.md"
[ ${#PROBLEMS[@]} -eq 0 ]
