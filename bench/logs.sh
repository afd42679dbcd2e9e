#!/bin/bash
# bench/logs.sh - log throughput: the same output, `seq 1 LINES` (default
# 3,000,000 lines, 23 MB), into a timestamped log file through tinyd (`-o
# FILE`), s6-log (`T`, ISO timestamps) and svlogd (`-tt`), Debian's builds
# and busybox's static svlogd when bench/build-busybox.sh built it, and
# busybox syslogd (`-n -O FILE`: the static build if it has syslogd, else
# Debian's busybox), on tmpfs (/dev/shm) and on disk (bench/out). Each
# logger REPS (3) times, interleaved; the median of the wall time, and of
# the CPU time (user+sys) of the logger and of the one `cat` that feeds it.
# Nothing rotates (100 MB files).
#
# syslogd reads datagrams from /dev/log only (busybox 1.35 has no option for
# another socket): it runs in a private mount namespace (`unshare --mount`)
# with a tmpfs on /dev (the machine's /dev/shm moved back into it) and on
# /run (its pidfile), and /dev/log there a symlink to a socket in this run's
# directory, so the machine's /dev/log and syslog are not touched. A python3
# feeder sends each input line as one datagram (`<30>seq: N`, no timestamp:
# syslogd stamps it) on a blocking socket, so a full queue makes the feeder
# wait rather than lose lines; the wall time runs from its first send until
# its last line is in the file. syslogd's CPU is its own (the feeder's, far
# larger, is reported beside the table), and the lines that reached the file
# are counted.
# Output: Markdown on stdout and in bench/out/logs.md.
# Environment: TINYD (default target/release/tinyd), LINES, REPS.
# (Single-quoted $: CMD[...] are eval'd in run(), NS_SH and FEEDER run elsewhere.)
# shellcheck disable=SC2016
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
# run_syslogd runs in a subshell (process substitution): it lists the pids it
# starts (feeder, syslogd, its namespace shell) in SL_PIDS for this cleanup.
SL_PIDS=$SHM/syslogd.pids
cleanup() {
  local p pids=()
  [ -s "$SL_PIDS" ] && mapfile -t pids <"$SL_PIDS"
  if [ ${#pids[@]} -gt 0 ]; then
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.2
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  fi
  rm -rf "$SHM" "$DISK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
IN=$SHM/in.txt
seq 1 "$LINES" >"$IN"
BYTES=$(stat -c %s "$IN")
MB=$(echo "scale=1; $BYTES / 1000000" | bc | sed 's/^\./0./')

declare -A CMD LABEL
CMD[tinyd]='"$TINYD" -f -o "$D/tinyd.log" --log-size 100M --log-keep 0 -r never -n seq -- cat "$IN" 2>/dev/null'
LABEL[tinyd]="tinyd \`-o FILE\`"
CMD[s6]='cat "$IN" | s6-log -b n2 s100000000 T "$D/s6"'
LABEL[s6]="s6-log \`T\` (Debian, dynamic)"
CMD[svlogd]='mkdir -p "$D/sv" && echo s100000000 >"$D/sv/config" && cat "$IN" | svlogd -tt "$D/sv"'
LABEL[svlogd]="svlogd \`-tt\` (Debian's runit, dynamic)"
IDS=(tinyd s6 svlogd)
# bb_has BUSYBOX APPLET: the build has APPLET. `APPLET --help` exits 0 when it
# is there (with or without usage texts: the static build has none) and 127
# ("applet not found") when not.
bb_has() { [ -x "$1" ] && { "$1" "$2" --help </dev/null >/dev/null 2>&1; [ $? -ne 127 ]; }; }
if bb_has "$BB" svlogd; then
  CMD[bbsvlogd]='mkdir -p "$D/bb" && echo s100000000 >"$D/bb/config" && cat "$IN" | "$BB" svlogd -tt "$D/bb"'
  LABEL[bbsvlogd]="busybox svlogd \`-tt\` (static musl)"
  IDS+=(bbsvlogd)
fi

# busybox syslogd: the static build if it has syslogd, else Debian's busybox.
SLBB="" SL_SKIP="" SLOPTS=()
if bb_has "$BB" syslogd; then
  SLBB=$BB; SLWHAT="static musl, bench/out/peers/bin/busybox"
elif bb_has "$(command -v busybox)" syslogd; then
  SLBB=$(command -v busybox); SLWHAT="Debian's build, $SLBB"
else
  SL_SKIP="busybox syslogd: skipped, neither $BB nor a busybox on PATH has the syslogd applet"
fi
if [ -n "$SLBB" ]; then
  if ! unshare --mount true 2>/dev/null; then
    SL_SKIP="busybox syslogd: skipped, \`unshare --mount\` fails here (it needs its own /dev/log, in a private mount namespace)"
  elif ! command -v python3 >/dev/null; then
    SL_SKIP="busybox syslogd: skipped, no python3 for the datagram feeder"
  else
    # A build with log rotation rotates at 200 kB by default: -s 0 turns it off.
    "$SLBB" syslogd --help 2>&1 | grep -q -- '-s SIZE' && SLOPTS=(-s 0)
    LABEL[syslogd]="busybox syslogd \`-n -O FILE\` ($SLWHAT)"
    IDS+=(syslogd)
  fi
fi
[ -n "$SL_SKIP" ] && echo "logs: $SL_SKIP" >&2

# In the private mount namespace: a tmpfs on /dev with the machine's /dev/shm
# moved back in, /dev/log -> SOCK (busybox syslogd binds where the symlink
# points), a tmpfs on /run (busybox may write /run/syslogd.pid); then syslogd
# under bash's time. Args: MNT (an empty directory outside /dev) SOCK PIDFILE
# TIMEFILE, then the syslogd command.
NS_SH='set -e
mnt=$1 sock=$2 pf=$3 tf=$4; shift 4
mount --bind /dev/shm "$mnt"
mount -t tmpfs -o mode=755,size=64k tinyd-bench-dev /dev
mkdir /dev/shm
mount --move "$mnt" /dev/shm
ln -s "$sock" /dev/log
run=$(readlink -f /var/run)
[ -d "$run" ] && mount -t tmpfs -o mode=755,size=64k tinyd-bench-run "$run"
echo $$ >"$pf"
set +e
TIMEFORMAT="%U %S"
{ time "$@" 2>>"$tf.err"; } 2>"$tf"'

# The feeder: each line of IN as one datagram on a blocking socket (a full
# queue makes it wait), then an end marker; prints "WALL CPU": from the first
# send until the marker is in OUT, and its own user+sys while sending.
FEEDER='import resource, socket, sys, time
path, inp, out, marker = sys.argv[1:5]
with open(inp, "rb") as f:
    lines = f.read().split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(path)
s.settimeout(60)
send, pre = s.send, b"<30>seq: "
end = b"seqend: " + marker.encode()
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
try:
    for l in lines:
        send(pre + l)
    send(b"<30>" + end)
except OSError as e:
    sys.exit("send failed after %.1f s: %s" % (time.perf_counter() - t0, e))
r1 = resource.getrusage(resource.RUSAGE_SELF)
deadline = time.perf_counter() + 60
while True:
    try:
        with open(out, "rb") as f:
            n = f.seek(0, 2)
            f.seek(max(0, n - 256))
            if end in f.read():
                break
    except FileNotFoundError:
        pass
    if time.perf_counter() > deadline:
        sys.exit("end marker not in %s 60 s after the last send" % out)
    time.sleep(0.0005)
t1 = time.perf_counter()
print("%.3f %.3f" % (t1 - t0, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))'

# run_syslogd DIR: prints "WALL CPU FEEDER_CPU LINES_IN_FILE"; 1 (message on
# stderr) on failure.
run_syslogd() {
  local D=$1 sock=$SHM/syslogd.sock pf=$SHM/syslogd.nspid tf=$SHM/syslogd.time fo=$SHM/feeder.out
  local f=$1/syslogd.log mnt=$DISK/ns-shm ns nsp="" pid="" fp rc t k fw fc
  rm -f "$sock" "$pf" "$tf" "$tf.err" "$fo"
  mkdir -p "$mnt"
  unshare --mount bash -c "$NS_SH" ns "$mnt" "$sock" "$pf" "$tf" \
    "$SLBB" syslogd -n -O "$f" "${SLOPTS[@]}" </dev/null >/dev/null 2>>"$tf.err" &
  ns=$!
  echo "$ns" >"$SL_PIDS"
  for ((t = 0; t < 500; t++)); do      # 5 s for the socket and syslogd's pid
    if [ -S "$sock" ] && [ -s "$pf" ]; then
      read -r nsp <"$pf"
      # (the file has no newline: read fails but sets pid)
      read -r pid _ 2>/dev/null <"/proc/$nsp/task/$nsp/children"; [ -n "$pid" ] && break
    fi
    kill -0 "$ns" 2>/dev/null || break
    sleep 0.01
  done
  if [ -z "$pid" ] || [ ! -S "$sock" ]; then
    echo "logs: busybox syslogd did not start (socket $sock, namespace shell ${nsp:-none}): $(tail -n2 "$tf.err" 2>/dev/null | tr '\n' ' ')" >&2
    kill -KILL "$ns" "$pid" 2>/dev/null; wait "$ns" 2>/dev/null; rm -f "$SL_PIDS"
    return 1
  fi
  echo "$pid" >>"$SL_PIDS"
  python3 -c "$FEEDER" "$sock" "$IN" "$f" "$$.$RANDOM" >"$fo" 2>&1 </dev/null &
  fp=$!
  echo "$fp" >>"$SL_PIDS"
  wait "$fp"; rc=$?
  kill -TERM "$pid" 2>/dev/null
  for ((t = 0; t < 500; t++)); do kill -0 "$ns" 2>/dev/null || break; sleep 0.01; done
  kill -KILL "$ns" "$pid" 2>/dev/null
  wait "$ns" 2>/dev/null
  rm -f "$SL_PIDS"
  if [ $rc -ne 0 ]; then echo "logs: busybox syslogd feeder: $(tail -n3 "$fo")" >&2; return 1; fi
  # syslogd's user+sys: the last line of two numbers in the time file (bash
  # may note the TERM before it)
  t=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ {c = $1 + $2} END {if (c != "") printf "%.3f", c}' "$tf")
  [ -n "$t" ] || { echo "logs: busybox syslogd: no CPU time in $tf: $(head -c 200 "$tf")" >&2; return 1; }
  k=$(grep -c ' seq: [0-9]*$' "$f")
  read -r fw fc <"$fo"
  echo "$fw $t $fc $k"
}

# run ID DIR: prints "WALL CPU" in seconds (syslogd: and FEEDER_CPU LINES).
run() {
  local D=$2 out
  rm -rf "${D:?}"/*
  [ "$1" = syslogd ] && { run_syslogd "$D"; return; }
  TIMEFORMAT='%R %U %S'
  out=$( { time eval "${CMD[$1]}" >/dev/null; } 2>&1 | tail -n1 )
  local w u s
  read -r w u s <<<"$out"
  printf '%s %.3f\n' "$w" "$(echo "$u + $s" | bc)"
}
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
min() { printf '%s\n' "$@" | sort -g | head -n1; }

declare -A WALL CPU FEED GOT
SL_FAIL=""
for where in tmpfs disk; do
  [ $where = tmpfs ] && D=$SHM/out || D=$DISK/out
  mkdir -p "$D"
  declare -A W C
  for id in "${IDS[@]}"; do W[$id]=""; C[$id]=""; done
  F="" G=""
  for _ in $(seq "$REPS"); do
    for id in "${IDS[@]}"; do
      if [ "$id" = syslogd ]; then
        [ -n "$SL_FAIL" ] && continue
        if ! read -r w c f g < <(run syslogd "$D") || [ -z "${g-}" ]; then
          SL_FAIL="busybox syslogd: a run failed on $where (messages above on stderr): row left out"
          continue
        fi
        F+="$f "; G+="$g "
      else
        read -r w c < <(run "$id" "$D")
      fi
      W[$id]+="$w "; C[$id]+="$c "
    done
  done
  for id in "${IDS[@]}"; do
    [ -n "${W[$id]}" ] || continue
    # shellcheck disable=SC2086
    WALL[$where.$id]=$(median ${W[$id]})
    # shellcheck disable=SC2086
    CPU[$where.$id]=$(median ${C[$id]})
  done
  # shellcheck disable=SC2086
  [ -n "$G" ] && { FEED[$where]=$(median $F); GOT[$where]=$(min $G); }
  unset W C
done
if [ -n "$SL_FAIL" ]; then
  echo "logs: $SL_FAIL" >&2
  SL_SKIP=$SL_FAIL
  for i in "${!IDS[@]}"; do [ "${IDS[$i]}" = syslogd ] && unset "IDS[$i]"; done
fi

ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
lost() { # where: " (N lost)" when the file of some run had fewer than LINES lines
  local g=${GOT[$1]-}
  [ -n "$g" ] && [ "$g" -lt "$LINES" ] && printf ' (%d lines lost)' $((LINES - g))
}
{
  echo "### Log throughput (\`seq 1 $LINES\`, $MB MB, into a timestamped file)"
  echo
  echo "Median of $REPS runs each, interleaved, in one run on this machine. Time"
  echo "ratios are the peer's over tinyd's (above 1: tinyd is faster); CPU is the"
  echo "logger's user+sys plus the one \`cat\` feeding it (busybox syslogd: its own alone, see below)."
  echo
  echo "| logger | tmpfs: wall s | CPU s | wall vs tinyd | disk: wall s | CPU s | wall vs tinyd |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for id in "${IDS[@]}"; do
    l=${LABEL[$id]} lt="" ld=""
    [ "$id" = syslogd ] && { lt=$(lost tmpfs); ld=$(lost disk); }
    echo "| $l | ${WALL[tmpfs.$id]}$lt | ${CPU[tmpfs.$id]} | $(ratio "${WALL[tmpfs.$id]}" "${WALL[tmpfs.tinyd]}") | ${WALL[disk.$id]}$ld | ${CPU[disk.$id]} | $(ratio "${WALL[disk.$id]}" "${WALL[disk.tinyd]}") |"
  done
  echo
  printf "tinyd's CPU per MB of input: %.4f s (tmpfs).\n" "$(echo "scale=6; ${CPU[tmpfs.tinyd]} * 1000000 / $BYTES" | bc)"
  if [ -n "${GOT[tmpfs]-}" ] && [ -n "${GOT[disk]-}" ]; then
    echo
    echo "busybox syslogd (\`$(basename "$SLBB") syslogd -n -O FILE${SLOPTS[*]:+ ${SLOPTS[*]}}\`, in a private mount namespace whose /dev/log is a socket of this run): each line"
    echo "arrives as one datagram \`<30>seq: N\` (syslogd adds its timestamp, host name and \`daemon.info\`), sent by a python3"
    echo "feeder on a blocking socket, so a full queue (net.unix.max_dgram_qlen $(cat /proc/sys/net/unix/max_dgram_qlen 2>/dev/null || echo '?')) makes it wait instead of losing lines."
    echo "Wall: from the feeder's first send until its last line is in FILE. CPU: syslogd's own user+sys; the feeder's,"
    echo "not counted, was ${FEED[tmpfs]} s (tmpfs) and ${FEED[disk]} s (disk), median. Lines in FILE: at least ${GOT[tmpfs]} (tmpfs) and ${GOT[disk]} (disk) of $LINES in every run."
  fi
  [ -n "$SL_SKIP" ] && { echo; echo "$SL_SKIP."; }
} | tee "$OUTDIR/logs.md"
