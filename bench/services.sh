#!/bin/bash
# bench/services.sh - many services and status queries: tinyd's config mode
# against s6-svscan + s6-supervise, runsvdir + runsv (Debian's runit) and
# busybox runsvdir + runsv (the static musl busybox of bench/build-peers.sh,
# when it is there with runsv, runsvdir and svlogd).
#
#   bash bench/services.sh        (also run at the end of bench/bench.sh; needs root)
#
# 1. Memory with 1, 16 and 64 services, twice:
#    - supervisors only: `tinyd -f -c FILE` (one process) against s6-svscan,
#      runsvdir and busybox runsvdir with one s6-supervise / runsv per service;
#      every service is `sleep N` with N unique to this run and service;
#    - as deployed, every service logging to a file: tinyd with `log = FILE`
#      per service; s6 with a `log/` subservice per service running s6-log
#      (s6-svscan pairs them with a pipe, one more s6-supervise each); runit
#      and busybox runit with a `log/run` per service running svlogd (runsv
#      supervises it too). Every service writes one line (`sNN up`), then
#      execs `sleep N`; the tree is measured once every log file has its line.
#    The sums are over the top process and every process below it that is not
#    a service: the scanner, the supervisors and the loggers (for tinyd, its
#    log writer child `tinyd-log` as soon as a tinyd version has one).
#    Rss, Pss and Private_Dirty, kB.
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
BB=$OUTDIR/peers/bin/busybox
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
MARK="8$(printf %05d $(( $$ % 100000 )))"   # service = sleep ${MARK}KII (K: the tree, see KNUM)
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
# tree_ready TOP K N NSUPS: N services up and NSUPS other processes in the tree
# ("1+": at least one, for tinyd, whose log writer child is counted when there
# is one but not expected), and every file of LOGFILES written to.
LOGFILES=()
tree_ready() {
  local f
  scan_tree "$1" "$2"
  [ "$UP" -eq "$3" ] || return 1
  if [ "$4" = 1+ ]; then [ ${#SUPS[@]} -ge 1 ] || return 1
  else [ ${#SUPS[@]} -eq "$4" ] || return 1; fi
  for f in "${LOGFILES[@]}"; do [ -s "$f" ] || return 1; done
}
# COMP = the processes of SUPS by name: "s6-svscan 1, s6-supervise 2, s6-log 1"
# (the comm, so a forked child that names itself shows; busybox: the applet)
comp_of() {
  local p c names=() seen
  declare -A cnt=()
  for p in "${SUPS[@]}"; do
    c=""; read -r c 2>/dev/null <"/proc/$p/comm"
    [ "$c" = busybox ] && argv_of "$p" && c=${ARGV[1]:-busybox}
    c=${c:-?}
    [ -n "${cnt[$c]-}" ] || names+=("$c")
    cnt[$c]=$(( ${cnt[$c]-0} + 1 ))
  done
  COMP=""
  for seen in "${names[@]}"; do COMP+="${COMP:+, }$seen ${cnt[$seen]}"; done
}

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
declare -A TOP V
KINDS=(tinyd s6 runit)
# busybox runit: only the static build of bench/build-peers.sh (Debian's
# busybox-static has no runsv)
BBDIR=$(dirname "$BB")
if bb_has "$BB" runsvdir && bb_has "$BB" runsv && bb_has "$BB" svlogd; then
  KINDS+=(bb)
  BBREAL=$(readlink -f "$BB")
else
  BB_NOTE="busybox runit: no column, $BB is missing or lacks runsvdir, runsv or svlogd (bench/build-busybox.sh builds it)"
  log "$BB_NOTE"
fi
PASSES=(bare log)
# K digit of the service numbers, per pass and tree
declare -A KNUM=([bare,tinyd]=1 [bare,s6]=2 [bare,runit]=3 [bare,bb]=4
  [log,tinyd]=5 [log,s6]=6 [log,runit]=7 [log,bb]=8)
declare -A LABEL=([bare,tinyd]="tinyd -f -c FILE" [bare,s6]="s6-svscan + s6-supervise"
  [bare,runit]="runsvdir + runsv" [bare,bb]="busybox runsvdir + runsv (static musl)"
  [log,tinyd]="tinyd -f -c FILE, \`log = FILE\` per service"
  [log,s6]="s6-svscan + s6-supervise ×2 + s6-log per service"
  [log,runit]="runsvdir + runsv + svlogd per service"
  [log,bb]="busybox runsvdir + runsv + svlogd (static musl)")

SOCK=$TMP/tinyd.sock
# mk_rundirs SCANDIR K N PASS KIND: a service dir per service; in pass log a
# run script that writes one line first, and log/run starting KIND's logger
# into log/main (LOGFILES: the files the lines go to).
mk_rundirs() {
  local i d
  rm -rf "$1"; mkdir -p "$1"
  LOGFILES=()
  for ((i = 0; i < $3; i++)); do
    d=$1/$(printf 's%02d' "$i"); mkdir "$d"
    if [ "$4" = log ]; then
      printf '#!/bin/sh\necho "%s up"\nexec /usr/bin/sleep %s\n' "${d##*/}" "$(svc_num "$2" "$i")" >"$d/run"
      mkdir -p "$d/log/main"
      case $5 in
        s6) printf '#!/bin/sh\nexec s6-log -b n2 s1000000 T %s\n' "$d/log/main" ;;
        runit) printf '#!/bin/sh\nexec svlogd -tt %s\n' "$d/log/main" ;;
        bb) printf '#!/bin/sh\nexec %s svlogd -tt %s\n' "$BB" "$d/log/main" ;;
      esac >"$d/log/run"
      chmod 755 "$d/log/run"
      LOGFILES+=("$d/log/main/current")
    else
      printf '#!/bin/sh\nexec /usr/bin/sleep %s\n' "$(svc_num "$2" "$i")" >"$d/run"
    fi
    chmod 755 "$d/run"
  done
}

start_tinyd() { # N PASS
  local i k=${KNUM[$2,tinyd]} conf=$TMP/$2/tinyd.conf logs=$TMP/$2/tinyd-logs name
  mkdir -p "$logs"; rm -f "$logs"/*
  LOGFILES=()
  { printf '[tinyd]\ncontrol = %s\n' "$SOCK"
    for ((i = 0; i < $1; i++)); do
      name=$(printf 's%02d' "$i")
      if [ "$2" = log ]; then
        printf "\n[%s]\nexec = /bin/sh -c 'echo %s up; exec /usr/bin/sleep %s'\nlog = %s\n" \
          "$name" "$name" "$(svc_num "$k" "$i")" "$logs/$name.log"
        LOGFILES+=("$logs/$name.log")
      else
        printf '\n[%s]\nexec = /usr/bin/sleep %s\n' "$name" "$(svc_num "$k" "$i")"
      fi
    done; } >"$conf"
  # cwd $TMP, so that cleanup finds every process of the tree by its cwd
  (cd "$TMP" && exec "$TINYD" -f -c "$conf") </dev/null >>"$TMP/tinyd.err" 2>&1 &
  TOP[tinyd]=$!; TOPS+=($!)
  if ! wait_until 10 tree_ready "${TOP[tinyd]}" "$k" "$1" 1+; then
    problem "tinyd ($2): \`tinyd -f -c FILE\` with $1 services: expected $1 services as children$([ "$2" = log ] && echo " and a line in each log file") within 10 s, got $UP services (other processes ${#SUPS[@]}); stderr: $(tail -n1 "$TMP/tinyd.err")"
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
stop_tinyd() { # PASS
  local out rc p=${TOP[tinyd]}
  scan_tree "$p" "${KNUM[$1,tinyd]}"
  out=$("$TINYD" ctl -s "$SOCK" shutdown 2>&1); rc=$?
  if [ $rc -ne 0 ] || [ "$out" != stopped ]; then
    problem "tinyd: \`tinyd ctl -s SOCK shutdown\`: expected exit 0 and 'stopped', got exit $rc: $out"
    kill -TERM "$p" 2>/dev/null
  fi
  wait_until 5 dead "$p" || { problem "tinyd: still running 5 s after ctl shutdown"; kill -KILL "$p"; }
  wait "$p" 2>/dev/null
  [ -e "$SOCK" ] && problem "tinyd: after shutdown expected $SOCK removed, still there"
}

# the process count of a peer tree: the scanner, a supervisor per service (s6:
# two with a logger), a logger per service
peer_procs() { # N PASS KIND
  case $2,$3 in
    bare,*) echo $(($1 + 1)) ;;
    log,s6) echo $((3 * $1 + 1)) ;;
    log,*) echo $((2 * $1 + 1)) ;;
  esac
}
start_peer() { # N PASS KIND
  local k=${KNUM[$2,$3]} d=$TMP/$2/$3 want p e
  mk_rundirs "$d" "$k" "$1" "$2" "$3"
  case $3 in
    s6) s6-svscan "$d" </dev/null >/dev/null 2>>"$TMP/s6.err" & ;;
    runit) runsvdir "$d" </dev/null >/dev/null 2>>"$TMP/runit.err" & ;;
    # busybox runsvdir starts `runsv` from PATH: busybox's applet links first
    bb) PATH=$BBDIR:$PATH "$BB" runsvdir "$d" </dev/null >/dev/null 2>>"$TMP/bb.err" & ;;
  esac
  TOP[$3]=$!; TOPS+=($!)
  want=$(peer_procs "$1" "$2" "$3")
  if ! wait_until 10 tree_ready "${TOP[$3]}" "$k" "$1" "$want"; then
    problem "${LABEL[$2,$3]}: expected $1 services and $want other processes$([ "$2" = log ] && echo ", a line in each log file") within 10 s, got $UP services and ${#SUPS[@]} other processes"
    return 1
  fi
  if [ "$3" = bb ]; then   # every process of the tree is the static busybox
    for p in "${SUPS[@]}"; do
      e=$(readlink "/proc/$p/exe" 2>/dev/null)
      [ "$e" = "$BBREAL" ] || problem "${LABEL[$2,$3]}: expected every supervisor and logger to run $BBREAL, pid $p runs ${e:-?}"
    done
  fi
}
start_s6() { start_peer "$@" s6; }
start_runit() { start_peer "$@" runit; }
start_bb() { start_peer "$@" bb; }
# s6-svscan on SIGTERM stops every s6-supervise (and its service or logger),
# then exits; runsvdir on SIGHUP sends TERM to every runsv (which stops its
# service, then its logger) and exits.
stop_peer() { # PASS KIND
  scan_tree "${TOP[$2]}" "${KNUM[$1,$2]}"
  case $2 in s6) kill -TERM "${TOP[$2]}" ;; *) kill -HUP "${TOP[$2]}" ;; esac
}
stop_s6() { stop_peer "$1" s6; }
stop_runit() { stop_peer "$1" runit; }
stop_bb() { stop_peer "$1" bb; }

stop_all() { # PASS
  local id pids=()
  for id in "${KINDS[@]}"; do
    [ -n "${TOP[$id]-}" ] || continue
    "stop_$id" "$1"
    pids+=("${SUPS[@]}" "${SVCS[@]}")
  done
  wait_until 10 all_dead "${pids[@]}" || problem "$1: some supervisor, logger or service still alive 10 s after shutdown"
  for id in "${KINDS[@]}"; do [ -n "${TOP[$id]-}" ] && wait "${TOP[$id]}" 2>/dev/null; TOP[$id]=""; done
}

# ---------------------------------------------------------------- 2. status timing
# Interleaved: each round runs every query once, so load changes hit all alike.
declare -A CTL_VALS
CTL_IDS=(tinyd s6 runit busybox true)
time_status() { # ids...: CTL_REPS rounds + 5 warm-up
  local r id t0 rc out
  for id in "$@"; do CTL_VALS[$id]=""; done
  for ((r = -5; r < CTL_REPS; r++)); do
    for id in "$@"; do
      now_us; t0=$NOW
      case $id in
        tinyd|tinyd64) "$TINYD" ctl -s "$SOCK" status >/dev/null 2>&1 ;;
        s6) s6-svstat "$TMP/bare/s6/s00" >/dev/null 2>&1 ;;
        runit) sv status "$TMP/bare/runit/s00" >/dev/null 2>&1 ;;
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
    V[q_med,$id]=$(median ${CTL_VALS[$id]})
    # shellcheck disable=SC2086
    V[q_mean,$id]=$(mean ${CTL_VALS[$id]})
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
for pass in "${PASSES[@]}"; do
  for n in "${COUNTS[@]}"; do
    log "$pass: $n service(s): starting ${KINDS[*]}"
    for id in "${KINDS[@]}"; do
      TOP[$id]=""
      "start_$id" "$n" "$pass" || V[fail,$pass,$id,$n]=1
    done
    nap 1
    for id in "${KINDS[@]}"; do
      [ -n "${V[fail,$pass,$id,$n]-}" ] && continue
      scan_tree "${TOP[$id]}" "${KNUM[$pass,$id]}"
      mem_sum "${SUPS[@]}"
      comp_of
      V[procs,$pass,$id,$n]=${#SUPS[@]}; V[comp,$pass,$id,$n]=$COMP
      V[rss,$pass,$id,$n]=$MEM_RSS; V[pss,$pass,$id,$n]=$MEM_PSS; V[pd,$pass,$id,$n]=$MEM_PD
      log "$pass $id $n: ${#SUPS[@]} processes ($COMP), Rss $MEM_RSS Pss $MEM_PSS Private_Dirty $MEM_PD kB"
    done
    if [ "$pass" = bare ] && [ "$n" = 1 ]; then
      if [ -z "${V[fail,bare,tinyd,1]-}${V[fail,bare,s6,1]-}${V[fail,bare,runit,1]-}" ]; then
        log "status round trips, $CTL_REPS each"
        time_status "${CTL_IDS[@]}"
        time_python py
      else
        problem "status timing skipped: a supervisor did not start with 1 service"
      fi
    fi
    if [ "$pass" = bare ] && [ "$n" = 64 ] && [ -z "${V[fail,bare,tinyd,64]-}" ]; then
      time_status tinyd64
      time_python py64
    fi
    stop_all "$pass"
  done
done

# ---------------------------------------------------------------- tables
mem_cell() { # metric pass id n
  local v=${V[$1,$2,$3,$4]-}
  [ -n "${V[fail,$2,$3,$4]-}" ] && { echo "failed to start"; return; }
  [ -z "$v" ] && { echo "n/a"; return; }
  [ "$3" = tinyd ] || [ "$1" = procs ] && { echo "$v"; return; }
  echo "$v$(ratio "$v" "${V[$1,$2,tinyd,$4]-}")"
}
mem_table() { # pass
  local n m mn id row hdr="| Services | Metric |" sep="|---|---|"
  for id in "${KINDS[@]}"; do hdr+=" ${LABEL[$1,$id]} |"; sep+="---|"; done
  echo "$hdr"; echo "$sep"
  for n in "${COUNTS[@]}"; do
    for m in procs rss pss pd; do
      case $m in
        procs) [ "$1" = log ] && mn="processes (supervisors and loggers)" || mn="supervisor processes" ;;
        rss) mn="Rss" ;; pss) mn="Pss" ;; pd) mn="Private_Dirty" ;;
      esac
      row="| $n | $mn |"
      for id in "${KINDS[@]}"; do row+=" $(mem_cell $m "$1" "$id" "$n") |"; done
      echo "$row"
    done
  done
  echo
  n=${COUNTS[0]}
  row="Processes counted with $n service(s):"
  for id in "${KINDS[@]}"; do row+=" ${LABEL[$1,$id]%%,*}: ${V[comp,$1,$id,$n]:-n/a};"; done
  echo "${row%;}."
}
q_row() { # label id
  local m=${V[q_med,$2]-} a=${V[q_mean,$2]-}
  [ -z "$m" ] && { echo "| $1 | n/a | n/a | |"; return; }
  echo "| $1 | $(ms3 "$m") | $(ms3 "$a") | $(ratio "$m" "${V[q_med,tinyd]-}" | tr -d ' ()') |"
}

rel() { case $1 in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) echo "$1" ;; esac; }
T_END=$EPOCHREALTIME
{
  echo "tinyd services benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r),"
  echo "load average $LOAD0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end; took $(awk -v a="$T_START" -v b="$T_END" 'BEGIN{printf "%.0f", b-a}') s."
  echo
  echo "Memory of the supervisor processes, kB (sum over all of them), all services up for 1 s:"
  echo
  mem_table bare
  echo
  echo "As deployed, every service logging to a file (tinyd \`log = FILE\`; s6: a \`log/\` subservice running \`s6-log T\`;"
  echo "runit and busybox: \`log/run\` running \`svlogd -tt\`); each service wrote one line, then exec'd \`sleep N\`."
  echo "Sums over the whole tree but its services (the scanner, the supervisors and the loggers; for tinyd,"
  echo "tinyd and every process below it that is not a service), kB, once every log file had its line, 1 s later:"
  echo
  mem_table log
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
  echo "Ratios in parentheses: peer / tinyd (of the same table). Services: \`/usr/bin/sleep N\` (s6/runit: a \`#!/bin/sh exec /usr/bin/sleep N\` run script per service dir)."
  echo "s6 and runit need one supervisor process per service plus the scanner; tinyd supervises all of them in one process."
  echo "Rss sums count libc pages shared between the peer processes once per process; Pss splits shared pages between their users"
  echo "(the trees of one table run side by side, those of the two tables one after the other)."
  [ -n "${BBREAL-}" ] && echo "busybox: \`$(rel "$BB")\` (static musl, bench/build-peers.sh), \`busybox runsvdir\` with busybox's applet links first in PATH, so its runsv is busybox's."
  [ -n "${BB_NOTE-}" ] && echo "$BB_NOTE."
  echo "Versions: $(dpkg-query -W -f='${Package} ${Version}; ' s6 runit busybox-static 2>/dev/null)python3 $(python3 -c 'import platform; print(platform.python_version())')"
  print_problems
} | tee "$OUTDIR/services.md"
log "written $OUTDIR/services.md"
[ ${#PROBLEMS[@]} -eq 0 ]
