#!/bin/bash
# bench/bench.sh - compare tinyd with other process supervisors on this machine.
#
#   make bench            (runs: bash bench/bench.sh; needs root, Debian/Ubuntu)
#
# Every supervisor looks after the same service: `sleep N` with a number unique
# to this run, so that every process the benchmark starts can be found and
# ended again. Peers: s6-supervise (s6), runsv (runit), busybox runsv (a
# static musl busybox with runsv, runsvdir, sv, svlogd, start-stop-daemon and
# syslogd, built by bench/build-peers.sh into bench/out/peers/ from Debian's
# source package, as boards build it; Debian's busybox-static has no runsv), start-stop-daemon --background (dpkg), daemon --respawn
# (libslack), supervisord (python). tinyd is measured twice: the full build
# (column "tinyd", the base of every ratio) and the minimal build
# (--no-default-features, column "tinyd minimal"). Results: a Markdown table on
# stdout and in bench/out/results.md, then the many-services table of
# bench/services.sh (bench/out/services.md). Environment: TINYD=path (default
# target/release/tinyd), TINYD_MIN=path (default target/minimal/release/tinyd),
# REPS (5), STORM (10000), IDLE (10 seconds), SERVICES_TIMEOUT (900 seconds).
set -u
export LC_ALL=C
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
TINYD=${TINYD:-$ROOT/target/release/tinyd}
TINYD_MIN=${TINYD_MIN:-$ROOT/target/minimal/release/tinyd}
OUTDIR=$HERE/out
REPS=${REPS:-5}
MEMREPS=${MEMREPS:-9}   # launches for the memory rows (their median)
STORM=${STORM:-10000}
IDLE=${IDLE:-10}
# Fixed fd limit (Debian's default soft limit): start-stop-daemon and daemon
# close every possible fd, so their syscall counts scale with it.
NOFILE=${NOFILE:-1024}
ulimit -n "$NOFILE" 2>/dev/null || ulimit -Sn "$NOFILE"

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: must run as root (peers are installed with apt, services run as root)" >&2
  exit 1
fi
bash "$HERE/install-peers.sh" >&2 || { echo "bench: installing peers failed" >&2; exit 1; }
mkdir -p "$OUTDIR"
# busybox runsv: our own build (downloads and builds once, ~15 s; then reuses
# it). If that fails, its column is n/a with the reason; the rest still runs.
BB=$OUTDIR/peers/bin/busybox
BBVER=1.35.0
BB_FAIL=""
bash "$HERE/build-busybox.sh" 2>&1 | tee "$OUTDIR/build-busybox.txt" >&2
if [ "${PIPESTATUS[0]}" -ne 0 ] || [ ! -x "$BB" ]; then
  BB_FAIL=$(tail -n1 "$OUTDIR/build-busybox.txt")
  BB_FAIL=${BB_FAIL#build-busybox: }; BB_FAIL=${BB_FAIL#FAILED: }
  BB_FAIL=${BB_FAIL:-failed, no message}
fi

TMP=$(mktemp -d /tmp/tinyd-bench.XXXXXX)
chmod 755 "$TMP"
MARK="9$(printf %05d $(( $$ % 100000 )))"     # service = sleep ${MARK}NN
T_START=$EPOCHREALTIME

# ---------------------------------------------------------------- helpers
TAG=bench
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

is_sleep() { argv_of "$1" && [ "${ARGV[0]##*/}" = sleep ] && [ "${ARGV[1]-}" = "$2" ]; }

# SVCP = child of $1 that runs `sleep $2`
svc_child() {
  local k
  kids_of "$1"
  for k in $KIDS; do is_sleep "$k" "$2" && { SVCP=$k; return 0; }; done
  return 1
}

# FOUND = any process running `sleep $1`
pid_by_num() {
  local f p
  for f in /proc/[0-9]*/cmdline; do
    p=${f#/proc/}; p=${p%/cmdline}
    is_sleep "$p" "$1" && { FOUND=$p; return 0; }
  done
  return 1
}

alive() { ! dead "$1"; }

# wait_dead PID T0 : poll every 0.2 ms until PID is dead (max 10 s); ELAPSED = µs since T0
wait_dead() {
  while alive "$1"; do
    now_us; [ $((NOW - $2)) -gt 10000000 ] && return 1
    nap 0.0002
  done
  now_us; ELAPSED=$((NOW - $2))
}

pidfile_pid() { local p=""; { read -r p || [ -n "$p" ]; } 2>/dev/null <"$1"; [ -n "$p" ] && PFP=$p; }

smaps() { # smaps PID FIELD -> kB
  awk -v f="$2:" '$1 == f {print $2; exit}' "/proc/$1/smaps_rollup" 2>/dev/null
}
ctxsw() {
  awk '/^voluntary_ctxt_switches|^nonvoluntary_ctxt_switches/ {s += $2} END {print s}' \
    "/proc/$1/status" 2>/dev/null
}

ms() { awk -v u="$1" 'BEGIN {printf "%.1f", u/1000}'; }

# ---------------------------------------------------------------- cleanup
cleanup() {
  local f p d
  trap - EXIT INT TERM HUP
  for d in "$TMP"/s6-*; do [ -d "$d/supervise" ] && s6-svc -xd "$d" 2>/dev/null; done
  # Every process this run started carries $TMP or "sleep $MARK" in its argv.
  for sig in TERM KILL; do
    for f in /proc/[0-9]*/cmdline; do
      p=${f#/proc/}; p=${p%/cmdline}
      [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
      argv_of "$p" || continue
      case "${ARGV[*]}" in *"$TMP"*|*"sleep $MARK"*) kill -"$sig" "$p" 2>/dev/null ;; esac
    done
    [ $sig = TERM ] && nap 0.5
  done
  exec {NEVER}>&-
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------- the peers
# ids, column labels, service numbers
IDS=(tinyd tinymin s6 runsv bbrunsv bbrunsv1 ssd daemon supervisord)
declare -A LABEL=([tinyd]="tinyd" [tinymin]="tinyd minimal" [s6]="s6-supervise" [runsv]="runsv (runit)"
  [bbrunsv]="busybox runsv ($BBVER, static musl, built from Debian's source package)" [bbrunsv1]="busybox runsv alone (the same build with the runsv applet only)"
  [ssd]="start-stop-daemon" [daemon]="daemon (libslack)"
  [supervisord]="supervisord")
declare -A NUM SUP SVC NA FAILED V D
i=10
for id in "${IDS[@]}"; do NUM[$id]="$MARK$i"; i=$((i + 1)); done

# The tinyd builds: id -> binary, make target, --restart-delay used (DELAY).
TINYS=(tinyd tinymin)
declare -A TBIN=([tinyd]=$TINYD [tinymin]=$TINYD_MIN) TMAKE=([tinyd]=build [tinymin]=minimal) DELAY
is_tiny() { [ -n "${TBIN[$1]-}" ]; }
tiny_ok() { [ -z "${NA[$1]-}" ]; }
for id in "${TINYS[@]}"; do
  DELAY[$id]=0:0
  if [ ! -x "${TBIN[$id]}" ]; then
    NA[$id]="not built (${TBIN[$id]} missing)"
    problem "${LABEL[$id]} binary ${TBIN[$id]} not found: run make ${TMAKE[$id]}"
  fi
done
# A binary just built (make bench builds first) has dirty page-cache pages until
# writeback (about 30 s); smaps counts those in Private_Dirty of every process
# that maps them. Write them back now (sync FILE = fsync) so they are not counted.
for id in "${TINYS[@]}"; do
  tiny_ok "$id" && { sync -- "${TBIN[$id]}" || problem "sync ${TBIN[$id]} failed: its Private_Dirty may include unwritten page cache"; }
done
for f in "$BB" "$BB-runsv"; do  # the static peers, built minutes ago too
  [ -x "$f" ] && { sync -- "$f" || problem "sync $f failed: its Private_Dirty may include unwritten page cache"; }
done
if [ -n "$BB_FAIL" ]; then
  NA[bbrunsv]="n/a: bench/build-busybox.sh: $BB_FAIL (Debian's busybox-static has no runsv applet)"
  problem "busybox runsv: bench/build-busybox.sh failed ($BB_FAIL): column n/a"
fi
if [ -n "$BB_FAIL" ] || [ ! -x "$BB-runsv" ]; then
  NA[bbrunsv1]="n/a: $BB-runsv not built (bench/build-busybox.sh${BB_FAIL:+: $BB_FAIL})"
  problem "busybox runsv alone: $BB-runsv not built: column n/a"
fi

# TRACE=file: start the supervisor under strace -f writing to file; TRACER=strace pid
TRACE=""
TRACER=""

# spawn_fg cmd...: start a foreground supervisor in the background; LAUNCHED = its pid
spawn_fg() {
  if [ -n "$TRACE" ]; then
    strace -I2 -f -qq -o "$TRACE" -- "$@" </dev/null >/dev/null 2>>"$TMP/stderr.$ID" &
    TRACER=$!
    # strace may fork short-lived helpers first: wait for the child running $1
    wait_until 5 kid_running "$TRACER" "$1" || return 1
    LAUNCHED=$KID
  else
    "$@" </dev/null >/dev/null 2>>"$TMP/stderr.$ID" &
    LAUNCHED=$!
  fi
}
kid_running() { # kid_running PID PROGRAM: KID = child of PID whose argv[0] is PROGRAM
  local k
  kids_of "$1"
  for k in $KIDS; do argv_of "$k" && [ "${ARGV[0]}" = "$2" ] && { KID=$k; return 0; }; done
  return 1
}

# spawn_bg cmd...: run a command that daemonizes itself; RC = launcher's exit status
spawn_bg() {
  if [ -n "$TRACE" ]; then
    strace -I2 -f -qq -o "$TRACE" -- "$@" </dev/null >/dev/null 2>>"$TMP/stderr.$ID" &
    TRACER=$!
    RC=0
  else
    "$@" </dev/null >/dev/null 2>>"$TMP/stderr.$ID"
    RC=$?
  fi
}

# --- start_<id>: start the supervisor, set SUP[id] and SVC[id]; 1 on failure
start_tiny() { # start_tiny ID [fg]: tinyd build ID (daemon mode, or -f with fg)
  ID=$1
  local id=$1 bin=${TBIN[$1]} n=${NUM[$1]} pf=$TMP/$1.pid
  rm -f "$pf"
  if [ "${2-}" = fg ]; then
    spawn_fg "$bin" -f --restart-delay "${DELAY[$id]}" -n bench -- /usr/bin/sleep "$n" || return 1
    SUP[$id]=$LAUNCHED
  else
    spawn_bg "$bin" -p "$pf" --restart-delay "${DELAY[$id]}" -n bench -- /usr/bin/sleep "$n"
    if [ "$RC" -ne 0 ]; then
      problem "${LABEL[$id]}: \`$bin -p PIDFILE --restart-delay ${DELAY[$id]} -n bench -- sleep $n\`: expected exit 0 after the service exec'd, got exit $RC, stderr: $(tail -n1 "$TMP/stderr.$id" 2>/dev/null)"
      return 1
    fi
    if ! wait_until 5 pidfile_pid "$pf"; then
      problem "${LABEL[$id]}: daemon mode: expected pidfile $pf with the daemon's pid, got none after 5 s"
      return 1
    fi
    SUP[$id]=$PFP
  fi
  if ! wait_until 5 svc_child "${SUP[$id]}" "$n"; then
    kids_of "${SUP[$id]}"
    problem "${LABEL[$id]}: expected child \`sleep $n\` of $bin pid ${SUP[$id]} within 5 s, got children: '${KIDS}'"
    return 1
  fi
  SVC[$id]=$SVCP
}
start_tinyd() { start_tiny tinyd "$@"; }
start_tinymin() { start_tiny tinymin "$@"; }

mk_rundir() { # mk_rundir DIR NUM
  rm -rf "$1"; mkdir -p "$1"
  printf '#!/bin/sh\nexec /usr/bin/sleep %s\n' "$2" >"$1/run"
  chmod 755 "$1/run"
}

start_s6() {
  ID=s6
  local d=$TMP/s6-svc
  [ -d "$d" ] || mk_rundir "$d" "${NUM[s6]}"
  spawn_fg s6-supervise "$d" || return 1
  SUP[s6]=$LAUNCHED
  wait_until 5 svc_child "${SUP[s6]}" "${NUM[s6]}" || return 1
  SVC[s6]=$SVCP
}

start_runsv_generic() { # id, runsv command...
  ID=$1; shift
  local d=$TMP/$ID-svc
  [ -d "$d" ] || mk_rundir "$d" "${NUM[$ID]}"
  spawn_fg "$@" "$d" || return 1
  SUP[$ID]=$LAUNCHED
  wait_until 5 svc_child "${SUP[$ID]}" "${NUM[$ID]}" || return 1
  SVC[$ID]=$SVCP
}
start_runsv() { start_runsv_generic runsv runsv; }
start_bbrunsv() { start_runsv_generic bbrunsv "$BB" runsv; }
# a busybox of one applet runs it whatever its name (argv[1] is DIR)
start_bbrunsv1() { start_runsv_generic bbrunsv1 "$BB-runsv"; }

start_ssd() {
  ID=ssd
  spawn_bg start-stop-daemon -S -b -m -p "$TMP/ssd.pid" -x /usr/bin/sleep -- "${NUM[ssd]}"
  [ "$RC" -eq 0 ] || return 1
  SUP[ssd]=""
  wait_until 5 pid_by_num "${NUM[ssd]}" || return 1
  SVC[ssd]=$FOUND
}

start_daemon() {
  ID=daemon
  rm -f "$TMP/daemon.pid"
  spawn_bg daemon -F "$TMP/daemon.pid" --respawn --attempts=100 -- /usr/bin/sleep "${NUM[daemon]}"
  [ "$RC" -eq 0 ] || return 1
  wait_until 5 pidfile_pid "$TMP/daemon.pid" || return 1
  SUP[daemon]=$PFP
  wait_until 5 svc_child "${SUP[daemon]}" "${NUM[daemon]}" || return 1
  SVC[daemon]=$SVCP
}

start_supervisord() {
  ID=supervisord
  local d=$TMP/sd
  mkdir -p "$d"
  rm -f "$d/supervisord.pid"
  cat >"$d/supervisord.conf" <<EOF
[supervisord]
logfile=$d/supervisord.log
pidfile=$d/supervisord.pid
childlogdir=$d
user=root

[program:svc]
command=/usr/bin/sleep ${NUM[supervisord]}
startsecs=0
autorestart=true
stopsignal=TERM
stdout_logfile=NONE
stderr_logfile=NONE
EOF
  spawn_bg /usr/bin/supervisord -c "$d/supervisord.conf"
  [ "$RC" -eq 0 ] || return 1
  wait_until 10 pidfile_pid "$d/supervisord.pid" || return 1
  SUP[supervisord]=$PFP
  wait_until 10 svc_child "${SUP[supervisord]}" "${NUM[supervisord]}" || return 1
  SVC[supervisord]=$SVCP
}

# --- stop_<id>: the peer's own way to stop the service (not timed here)
stop_cmd() { # the command that stops the service of $1
  case $1 in
    tinyd|tinymin|daemon|supervisord) kill -TERM "${SUP[$1]}" 2>/dev/null ;;
    s6) s6-svc -d "$TMP/s6-svc" ;;
    runsv) sv down "$TMP/runsv-svc" >/dev/null ;;
    bbrunsv|bbrunsv1) "$BB" sv down "$TMP/$1-svc" >/dev/null ;;
    ssd) start-stop-daemon -K -q -p "$TMP/ssd.pid" ;;
  esac
}
# shut the supervisor down completely
shutdown_peer() {
  case $1 in
    s6) s6-svc -xd "$TMP/s6-svc" 2>/dev/null ;;
    runsv) sv down "$TMP/runsv-svc" >/dev/null 2>&1; sv exit "$TMP/runsv-svc" >/dev/null 2>&1 ;;
    bbrunsv|bbrunsv1) "$BB" sv down "$TMP/$1-svc" >/dev/null 2>&1
             "$BB" sv exit "$TMP/$1-svc" >/dev/null 2>&1 ;;
    *) stop_cmd "$1" 2>/dev/null ;;
  esac
  [ -n "${SUP[$1]-}" ] && wait_until 5 dead "${SUP[$1]}"
  [ -n "${SVC[$1]-}" ] && wait_until 5 dead "${SVC[$1]}"
  return 0
}

# ---------------------------------------------------------------- 1. size
lib_short() { local b=${1##*/}; b=${b%%.so*}; echo "${b#lib}"; }
measure_size() { # id binary [note]
  local id=$1 bin=$2 note=${3-} total libs="" l real
  real=$(readlink -f "$bin")
  total=$(stat -L -c %s "$real")
  if ldd "$real" >/dev/null 2>&1; then
    while read -r l; do
      [ -f "$l" ] || continue
      total=$(( total + $(stat -L -c %s "$l") ))
      libs+="${libs:+, }$(basename "$l")"
    done < <(ldd "$real" | awk '/=>/ {print $3; next} /^\t\// {print $1}')
  else
    libs="static, none"
  fi
  V[size,$id]=$(( (total + 512) / 1024 ))
  # the binary alone, stripped (a copy; nothing is changed in place)
  if strip -o "$TMP/bytes.$id" "$real" 2>/dev/null; then
    V[bytes,$id]=$(stat -c %s "$TMP/bytes.$id"); rm -f "$TMP/bytes.$id"
  fi
  D[libs,$id]="${note}${note:+: }$libs"
}

size_all() {
  local id t
  for id in "${TINYS[@]}"; do
    tiny_ok "$id" || continue
    t=${TBIN[$id]}
    if ! file -L "$t" | grep -q ', stripped'; then
      strip -o "$TMP/$id.stripped" "$t" && t=$TMP/$id.stripped
    fi
    measure_size "$id" "$t"
  done
  measure_size s6 "$(command -v s6-supervise)"
  measure_size runsv "$(command -v runsv)"
  if [ -z "${NA[bbrunsv]-}" ]; then
    measure_size bbrunsv "$BB" "as built (stripped by busybox's make)"
  fi
  [ -z "${NA[bbrunsv1]-}" ] && measure_size bbrunsv1 "$BB-runsv" "as built (stripped by busybox's make)"
  measure_size ssd "$(command -v start-stop-daemon)"
  measure_size daemon "$(command -v daemon)"
  measure_size supervisord /usr/bin/python3 "interpreter $(readlink -f /usr/bin/python3 | xargs basename) (+ .py not counted)"
}

# ---------------------------------------------------------------- 2. syscalls
# Count syscalls from the supervisor's execve to the service's successful
# execve (inclusive). A run script (./run, s6/runsv) counts as the service: its
# execve ends the count... its shell's own syscalls are not counted.
count_syscalls() { # file num
  awk -v num="$2" '
    function is_svc() {  # successful execve of ["sleep", "NUM"] or ["/path/sleep", "NUM"]
      return $2 ~ /^execve\(/ && $0 ~ ("\\[\"([^\"]*/)?sleep\", \"" num "\"\\]") && $0 !~ /= -1 /
    }
    / resumed>/ || $2 ~ /^(---|\+\+\+)/ { next }
    !started { if ($2 ~ /^execve\(/) started = 1; else next }
    skip[$1] { if (is_svc()) { print n; done = 1; exit }; next }
    {
      n++
      if ($2 ~ /^execve\("\.\/run"/ && $0 !~ /= -1 /) skip[$1] = 1
      else if (is_svc()) { print n; done = 1; exit }
    }
    END { if (!done) print "?" }' "$1"
}

trace_one() { # trace_one key id [start args]
  local key=$1 id=$2; shift 2
  TRACE=$TMP/strace.$key
  TRACER=""
  SUP[$id]=""; SVC[$id]=""
  if ! "start_$id" "$@"; then
    problem "$key: under strace the service did not come up"
  fi
  nap 0.3
  shutdown_peer "$id"
  if [ -n "$TRACER" ] && ! wait_until 10 dead "$TRACER"; then
    problem "$key: strace still running 10 s after the supervisor was told to stop"
    kill -TERM "$TRACER" 2>/dev/null
    wait_until 3 dead "$TRACER" || kill -KILL "$TRACER" 2>/dev/null
  fi
  [ -n "$TRACER" ] && wait_until 3 dead "$TRACER" && wait "$TRACER" 2>/dev/null
  V[$key]=$(count_syscalls "$TRACE" "${NUM[$id]}")
  cp "$TRACE" "$OUTDIR/strace-${key/,/-}.txt" 2>/dev/null
  TRACE=""; TRACER=""
  log "syscalls $key: ${V[$key]}"
}

# ---------------------------------------------------------------- memory
# Rss and Private_Dirty with one service, median of MEMREPS launches each:
# where the kernel puts the stack (ASLR, a random offset within a page)
# moves every supervisor's touched stack pages by one page from launch to
# launch, so one launch says little at this size.
memory_launches() { # id
  local id=$1 r pds=() rsss=()
  for ((r = 0; r < MEMREPS; r++)); do
    "start_$id" >/dev/null 2>&1 || { problem "$id: did not start for the memory rows"; return; }
    nap 0.3
    pds+=("$(smaps "${SUP[$id]}" Private_Dirty)"); rsss+=("$(smaps "${SUP[$id]}" Rss)")
    shutdown_peer "$id"
  done
  local lo hi
  V[pd,$id]=$(median "${pds[@]}"); V[rss,$id]=$(median "${rsss[@]}")
  lo=$(printf '%s\n' "${pds[@]}" | sort -n | head -n1); hi=$(printf '%s\n' "${pds[@]}" | sort -n | tail -n1)
  D[pdrange,$id]="$lo-$hi"
  lo=$(printf '%s\n' "${rsss[@]}" | sort -n | head -n1); hi=$(printf '%s\n' "${rsss[@]}" | sort -n | tail -n1)
  D[rssrange,$id]="$lo-$hi"
  log "memory $id: Private_Dirty ${pds[*]}, Rss ${rsss[*]}"
}

# ---------------------------------------------------------------- 5./6. latencies
# stop latency: the peer's stop command until the service process is dead
stop_latency() { # id
  local id=$1 r t0 svc vals=()
  for ((r = 0; r < REPS; r++)); do
    if [ -z "${SVC[$id]-}" ] || dead "${SVC[$id]}"; then
      case $id in
        s6) s6-svc -u "$TMP/s6-svc"; wait_until 5 svc_child "${SUP[s6]}" "${NUM[s6]}" && SVC[s6]=$SVCP ;;
        runsv) sv up "$TMP/runsv-svc" >/dev/null
               wait_until 5 svc_child "${SUP[runsv]}" "${NUM[runsv]}" && SVC[runsv]=$SVCP ;;
        bbrunsv|bbrunsv1) "$BB" sv up "$TMP/$id-svc" >/dev/null
               wait_until 5 svc_child "${SUP[$id]}" "${NUM[$id]}" && SVC[$id]=$SVCP ;;
        *) "start_$id" ;;
      esac || { problem "$id: could not (re)start for stop latency"; return; }
      nap 0.2
    fi
    svc=${SVC[$id]}
    now_us; t0=$NOW
    stop_cmd "$id"
    wait_dead "$svc" "$t0" || { problem "$id: service pid $svc still alive 10 s after stop"; return; }
    vals+=("$ELAPSED")
    if is_tiny "$id" || [ "$id" = daemon ] || [ "$id" = supervisord ]; then
      if ! wait_until 5 dead "${SUP[$id]}"; then
        is_tiny "$id" && problem "${LABEL[$id]}: after SIGTERM to tinyd pid ${SUP[$id]}: expected tinyd to exit, still running after 5 s"
      fi
      if is_tiny "$id" && [ -e "$TMP/$id.pid" ]; then
        problem "${LABEL[$id]}: after SIGTERM: expected pidfile removed, $TMP/$id.pid still exists"
      fi
    fi
  done
  V[stop,$id]=$(median "${vals[@]}")
  D[stopall,$id]="${vals[*]}"
  log "stop $id (us): ${vals[*]}"
}

# restart latency: SIGKILL the service until the supervisor has a new child
restart_latency() { # id
  local id=$1 r t0 old k vals=()
  for ((r = 0; r < REPS; r++)); do
    old=${SVC[$id]}
    now_us; t0=$NOW
    kill -KILL "$old"
    while :; do
      kids_of "${SUP[$id]}"
      for k in $KIDS; do [ "$k" != "$old" ] && break 2; done
      now_us; [ $((NOW - t0)) -gt 10000000 ] && { problem "$id: no new service 10 s after SIGKILL of $old"; return; }
      nap 0.0002
    done
    now_us; vals+=($((NOW - t0)))
    wait_until 5 svc_child "${SUP[$id]}" "${NUM[$id]}" || { problem "$id: restarted service did not exec"; return; }
    SVC[$id]=$SVCP
    nap 1.2     # let the new service live > 1 s: s6 and runsv throttle faster restarts
  done
  V[restart,$id]=$(median "${vals[@]}")
  D[restartall,$id]="${vals[*]}"
  log "restart $id (us): ${vals[*]}"
}

# ---------------------------------------------------------------- 7. signal storm
storm_peer() { # id: SIGCHLD x STORM
  local id=$1 sup=${SUP[$1]} svc=${SVC[$1]} before after i
  before=$(smaps "$sup" Rss)
  for ((i = 0; i < STORM; i++)); do kill -CHLD "$sup" 2>/dev/null || break; done
  nap 0.5
  after=$(smaps "$sup" Rss)
  if alive "$sup" && alive "$svc"; then
    D[storm,$id]="alive, Rss ${before}->${after} kB"
  elif alive "$sup"; then
    D[storm,$id]="alive, service pid changed; Rss ${before}->${after:-?} kB"
  else
    D[storm,$id]="DIED"
  fi
}

storm_tiny() { # ID: a second instance of tinyd build ID (daemon, -o LOG) gets the storm
  local id=$1 n=${NUM[$1]} pf=$TMP/storm-$1.pid lg=$TMP/storm-$1.log sup svc before after i rc t0 started exitnote
  local L=${LABEL[$1]}
  ID=$id
  "${TBIN[$id]}" -p "$pf" -o "$lg" --restart-delay "${DELAY[$id]}" -n storm -- \
    sh -c "trap '' USR1 USR2 HUP; exec /usr/bin/sleep $n" </dev/null >/dev/null 2>>"$TMP/stderr.$id"
  rc=$?
  if [ $rc -ne 0 ] || ! wait_until 5 pidfile_pid "$pf"; then
    problem "$L storm instance did not start (exit $rc)"; D[storm,$id]="did not start"; return
  fi
  sup=$PFP
  if ! wait_until 5 svc_child "$sup" "$n"; then
    problem "$L storm: service not up"; D[storm,$id]="service not up"; return
  fi
  svc=$SVCP
  nap 0.2
  before=$(smaps "$sup" Rss)
  after=""
  for _ in 1 2; do   # twice: one-time growth vs. growth per storm
    for ((i = 0; i < STORM; i++)); do
      case $((i % 3)) in 0) kill -USR1 "$sup" ;; 1) kill -HUP "$sup" ;; 2) kill -CHLD "$sup" ;; esac 2>/dev/null || break
    done
    nap 0.5
    after+="${after:+->}$(smaps "$sup" Rss)"
  done
  if dead "$sup"; then
    problem "$L: $STORM mixed USR1/HUP/CHLD to tinyd (daemon, -o LOG): expected it to survive, got: tinyd pid $sup gone"
    D[storm,$id]="DIED"; return
  fi
  local svcnote="service kept"
  if ! alive "$svc"; then
    svcnote="service restarted"
    problem "$L: $STORM mixed USR1/HUP/CHLD (service ignores USR1/HUP): expected service pid $svc unchanged, got it gone"
  fi
  started=$(grep -c 'started pid' "$lg" 2>/dev/null)
  [ "${started:-0}" -eq 1 ] || problem "$L storm: expected exactly one 'started pid' line in the log, got ${started:-0}"
  now_us; t0=$NOW
  kill -TERM "$sup"
  if wait_dead "$sup" "$t0"; then
    exitnote="exits on TERM ($(ms "$ELAPSED") ms)"
    [ -e "$pf" ] && { problem "$L storm: after SIGTERM expected pidfile removed, still there"; exitnote+=", pidfile left"; }
    alive "$svc" && { problem "$L storm: after SIGTERM expected service $svc gone, still alive"; exitnote+=", service left"; }
  else
    problem "$L: after the storm, SIGTERM to tinyd pid $sup: expected exit, still running after 10 s"
    exitnote="no exit on TERM"
  fi
  D[storm,$id]="survived 2 storms, Rss ${before}->${after} kB, $svcnote, $exitnote"
}

# ================================================================ run
log "tmp dir $TMP, service numbers ${MARK}xx, tinyd: $TINYD, tinyd minimal: $TINYD_MIN"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# Does each tinyd build accept --restart-delay 0:0? (contract: MIN may be 0)
for id in "${TINYS[@]}"; do
  tiny_ok "$id" || continue
  out=$("${TBIN[$id]}" --restart-delay 0:0 -f -r never -- true 2>&1); rc=$?
  if [ $rc -ne 0 ]; then
    problem "${LABEL[$id]}: \`${TBIN[$id]} --restart-delay 0:0 -f -r never -- true\`: expected exit 0, got $rc: $out; using --restart-delay 0"
    DELAY[$id]=0
  fi
done

PEERS=()
for id in "${IDS[@]}"; do [ -z "${NA[$id]-}" ] && PEERS+=("$id"); done

log "1/7 sizes"
size_all

log "2/7 syscalls (strace)"
for id in "${PEERS[@]}"; do
  trace_one "sys,$id" "$id"
done
for id in "${TINYS[@]}"; do tiny_ok "$id" && trace_one "sysfg,$id" "$id" fg; done

log "memory: $MEMREPS launches each"
for id in "${IDS[@]}"; do
  case $id in ssd|supervisord) continue ;; esac
  [ -z "${NA[$id]-}" ] && memory_launches "$id"
done

log "3/7 start all supervisors"
for id in "${PEERS[@]}"; do
  SUP[$id]=""; SVC[$id]=""
  if ! "start_$id"; then
    problem "$id: did not start"; FAILED[$id]=1
  fi
done
PEERS=()
for id in "${IDS[@]}"; do [ -z "${NA[$id]-}" ] && [ -z "${FAILED[$id]-}" ] && PEERS+=("$id"); done
nap 1
LONG=()    # long-lived supervisors
for id in "${PEERS[@]}"; do [ -n "${SUP[$id]}" ] && LONG+=("$id"); done

log "4/7 memory and ${IDLE}s idle context switches"
declare -A C0
for id in "${LONG[@]}"; do
  [ -n "${V[rss,$id]-}" ] || V[rss,$id]=$(smaps "${SUP[$id]}" Rss)
  [ -n "${V[pd,$id]-}" ] || V[pd,$id]=$(smaps "${SUP[$id]}" Private_Dirty)
  C0[$id]=$(ctxsw "${SUP[$id]}")
done
nap "$IDLE"
for id in "${LONG[@]}"; do V[ctx,$id]=$(( $(ctxsw "${SUP[$id]}") - C0[$id] )); done

log "5/7 restart latency"
for id in "${LONG[@]}"; do restart_latency "$id"; done

log "6/7 signal storm"
for id in "${LONG[@]}"; do is_tiny "$id" || storm_peer "$id"; done
for id in "${TINYS[@]}"; do tiny_ok "$id" && storm_tiny "$id"; done

log "7/7 stop latency"
for id in "${PEERS[@]}"; do stop_latency "$id"; done
for id in "${PEERS[@]}"; do shutdown_peer "$id"; done

# ---------------------------------------------------------------- table
for id in "${IDS[@]}"; do
  for m in stop restart; do [ -n "${V[$m,$id]-}" ] && V[$m,$id]=$(ms "${V[$m,$id]}"); done
done

cell() { # metric id
  local m=$1 id=$2 v base
  if [ -n "${NA[$id]-}" ]; then
    [ "$m" = bytes ] && echo "${NA[$id]}" || echo "n/a"; return
  fi
  case $m in
    bytes|size|libs) ;;
    *) [ -n "${FAILED[$id]-}" ] && { echo "failed to start"; return; } ;;
  esac
  case $m in
    libs|storm) echo "${D[$m,$id]-n/a}"; return ;;
  esac
  v=${V[$m,$id]-}
  [ -z "$v" ] && { echo "n/a"; return; }
  if is_tiny "$id"; then
    # tinyd itself: no ratio; other builds: ratio to tinyd (daemon and -f each)
    local fg=${V[sysfg,$id]-?}
    if [ "$id" != tinyd ]; then
      [ "$m" = sys ] && fg+=$(ratio "$fg" "${V[sysfg,tinyd]-}")
      v+=$(ratio "$v" "${V[$m,tinyd]-}")
    fi
    [ "$m" = sys ] && v="$v daemon / $fg -f"
    [ "$m" = pd ] && [ -n "${D[pdrange,$id]-}" ] && v+=" ${D[pdrange,$id]}"
    [ "$m" = rss ] && [ -n "${D[rssrange,$id]-}" ] && v+=" ${D[rssrange,$id]}"
    echo "$v"; return
  fi
  base=${V[$m,tinyd]-}
  # foreground-only supervisors are compared with tinyd --foreground
  if [ "$m" = sys ] && { [ "$id" = s6 ] || [ "$id" = runsv ] || [ "$id" = bbrunsv ] || [ "$id" = bbrunsv1 ]; }; then
    base=${V[sysfg,tinyd]-}
  fi
  local out="$v$(ratio "$v" "$base")"
  [ "$m" = pd ] && [ -n "${D[pdrange,$id]-}" ] && out+=" ${D[pdrange,$id]}"
  [ "$m" = rss ] && [ -n "${D[rssrange,$id]-}" ] && out+=" ${D[rssrange,$id]}"
  echo "$out"
}

ROWS=(bytes size libs rss pd sys ctx stop restart storm)
declare -A RNAME=(
  [bytes]="Stripped size of the binary alone, bytes"
  [size]="Size on disk, KiB (binary + shared libs it loads)"
  [libs]="Shared libraries counted"
  [rss]="Supervisor Rss, kB (service up; median of $MEMREPS launches, range)"
  [pd]="Supervisor Private_Dirty, kB (median of $MEMREPS launches, range)"
  [sys]="Syscalls, supervisor execve -> service execve"
  [ctx]="Context switches of the supervisor in ${IDLE} s idle"
  [stop]="Stop latency, ms (median of $REPS)"
  [restart]="Restart latency after SIGKILL, ms (median of $REPS)"
  [storm]="Signal storm, $STORM signals"
)

make_table() {
  local id m row hdr sep
  hdr="| Metric |"; sep="|---|"
  for id in "${IDS[@]}"; do hdr+=" ${LABEL[$id]} |"; sep+="---|"; done
  echo "$hdr"; echo "$sep"
  for m in "${ROWS[@]}"; do
    row="| ${RNAME[$m]} |"
    for id in "${IDS[@]}"; do
      local c
      c=$(cell "$m" "$id")
      if [ "$id" = ssd ] && [ "$c" = n/a ]; then
        case $m in rss|pd|ctx|restart|storm) c="n/a (exits after launch, no supervisor)";; esac
      fi
      row+=" ${c//|//} |"
    done
    echo "$row"
  done
}

rel() { case $1 in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) echo "$1" ;; esac; }
delays() { # the --restart-delay used, once if both builds used the same
  if [ "${DELAY[tinyd]}" = "${DELAY[tinymin]}" ]; then echo "${DELAY[tinyd]}"
  else echo "${DELAY[tinyd]} (minimal: ${DELAY[tinymin]})"; fi
}

T_END=$EPOCHREALTIME
{
  echo "tinyd benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r),"
  echo "load average $LOAD0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end; run took $(awk -v a="$T_START" -v b="$T_END" 'BEGIN{printf "%.0f", b-a}') s."
  echo
  make_table
  echo
  echo "Ratios in parentheses: peer / tinyd (the full build), also for tinyd minimal. Service: \`/usr/bin/sleep N\` (s6/runsv/busybox runsv: a \`#!/bin/sh exec /usr/bin/sleep N\` run script)."
  echo "tinyd: \`$(rel "$TINYD")\` (default features: config file, control socket); tinyd minimal: \`$(rel "$TINYD_MIN")\` (\`--no-default-features\`: one COMMAND only); both measured alike."
  echo "tinyd runs in daemon mode (\`-p PIDFILE --restart-delay $(delays)\`); its syscall count is given for daemon mode and for \`-f\`;"
  echo "s6-supervise, runsv and busybox runsv (foreground programs) are compared with \`tinyd -f\`, the others with daemon mode."
  echo "Syscalls: lines of \`strace -f\` from the supervisor's execve to the service's execve, all processes, signals/exits not counted;"
  echo "for s6/runsv/busybox runsv the count ends at execve(\"./run\") (the run script's shell is not counted)."
  echo "Stop: tinyd/daemon/supervisord SIGTERM to the supervisor; s6-svc -d; sv down; start-stop-daemon -K; until the service is dead (zombie or gone);"
  echo "the s6-svc, sv and start-stop-daemon times include starting that control program (about 1 ms), the SIGTERM cases (bash builtin kill) do not."
  echo "Restart: SIGKILL to the service until the supervisor has a new child (fork, before exec); the service had run > 1 s each time."
  echo "Syscall counts depend on the fd limit (ulimit -n $NOFILE here): start-stop-daemon and daemon close every fd below it."
  echo "Restart minimums: tinyd --restart-delay $(delays); s6/runsv built-in (1 s only if the service ran < 1 s); daemon --respawn --attempts=100; supervisord startsecs=0 autorestart=true."
  echo "Signal storm: each tinyd build gets USR1/HUP/CHLD in turn, twice ($STORM each, Rss after each) (service ignores USR1/HUP, tinyd logs to a file so HUP reopens it), then SIGTERM; peers get SIGCHLD only."
  echo "Versions: $(dpkg-query -W -f='${Package} ${Version}; ' s6 runit busybox-static dpkg daemon supervisor python3 2>/dev/null)"
  echo "busybox runsv: \`$(rel "$BB")\`, busybox $BBVER from Debian's source package (its patches applied), musl-gcc, static, \`make allnoconfig\` + runsv, runsvdir, sv, svlogd, start-stop-daemon, syslogd (bench/build-peers.sh);"
  echo "started as \`busybox runsv DIR\`, controlled with its own \`busybox sv\`. Debian's busybox-static has no runsv applet."
  echo "busybox runsv alone: \`$(rel "$BB-runsv")\`, the same source and flags with the runsv applet only (what a board that wants only runsv ships), started as \`busybox-runsv DIR\`, controlled with \`busybox sv\`."
  print_problems
} | tee "$OUTDIR/results.md"
log "written $OUTDIR/results.md"

# ---------------------------------------------------------------- many services
# bench/services.sh: tinyd -c FILE against s6-svscan and runsvdir. Its table
# follows the main one on stdout; the main table is written before it runs, so
# a failure here loses nothing but this part, and is listed as a problem.
SVC_MD=$OUTDIR/services.md
SPROBLEMS=()
rm -f "$SVC_MD"
log "services: bash bench/services.sh (TINYD=$TINYD)"
TINYD=$TINYD timeout -k 30 "${SERVICES_TIMEOUT:-900}" bash "$HERE/services.sh" </dev/null >/dev/null
rc=$?
if [ ! -s "$SVC_MD" ]; then
  SPROBLEMS+=("bench/services.sh (TINYD=$TINYD): expected the table in $SVC_MD, got exit $rc and no table (its messages are on stderr)")
elif [ $rc -ne 0 ]; then
  SPROBLEMS+=("bench/services.sh: exit $rc (its problems are listed under its table)")
fi
if [ -s "$SVC_MD" ]; then echo; cat "$SVC_MD"; fi
if [ ${#SPROBLEMS[@]} -gt 0 ]; then
  for p in "${SPROBLEMS[@]}"; do problem "$p"; done
  # on stdout after the services table, and recorded with the main table
  { echo; echo "Problems (many services, bench/services.sh):"
    for p in "${SPROBLEMS[@]}"; do echo "- $p"; done; } | tee -a "$OUTDIR/results.md"
fi

# ---------------------------------------------------------------- log throughput
# bench/logs.sh: tinyd -o FILE against s6-log and svlogd; its table follows.
log "logs: bash bench/logs.sh (TINYD=$TINYD)"
if TINYD=$TINYD timeout -k 30 "${LOGS_TIMEOUT:-900}" bash "$HERE/logs.sh" </dev/null >/dev/null; then
  echo; cat "$OUTDIR/logs.md"
  { echo; cat "$OUTDIR/logs.md"; } >>"$OUTDIR/results.md"
else
  problem "bench/logs.sh (TINYD=$TINYD) failed: see its messages on stderr"
  { echo; echo "Problems (log throughput, bench/logs.sh):"; echo "- bench/logs.sh failed"; } | tee -a "$OUTDIR/results.md"
fi
