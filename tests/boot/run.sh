#!/usr/bin/env bash
# Boots tinyd on a real kernel: Debian's kernel under qemu-system with
# software emulation (TCG), with an initramfs that holds only a static
# busybox, tinyd, /etc/inittab and /etc/tinyd.conf.
#
#   tests/boot/run.sh [TINYD [ARCH]]   (default $TINYD_BIN, else
#                                       target/release/tinyd; ARCH x86_64)
#
# ARCH: x86_64 (linux-image-amd64, qemu-system-x86_64 -M pc), aarch64
# (linux-image-arm64, qemu-system-aarch64 -M virt), armv7 (32-bit arm
# busybox and tinyd on the same arm64 kernel, which runs them in AArch32),
# mipsel (linux-image-4kc-malta, qemu-system-mipsel -M malta -cpu 24Kf).
#
# busybox init mounts /proc, /dev, /run and /tmp, starts tinyd in daemon mode
# from ::sysinit:, whose one service writes a marker on the console; a
# ::once: script runs `tinyd ctl status`, prints its output, its exit code
# and tinyd's log, kills the service and waits for tinyd to restart it, adds
# a second service to the file and `tinyd ctl reload`s, then `poweroff`; init runs the ::shutdown: actions
# (`tinyd ctl shutdown`, then a check that tinyd and its service are gone)
# and powers the machine off, and qemu exits by itself.
#
# Prints the console, then one line: "boot: ok ..." and exit 0, or
# "boot: FAILED: reason" and exit 1. Exit 77 with a SKIPPED banner when qemu
# or the kernel cannot be installed (tests/boot/install.sh).
#
# Environment: TINYD_BOOT_TIMEOUT (seconds for the boot, default 150: it
# takes 8-10 s on an idle 2-core machine, 28-48 s with 4 busy loops on it),
# TINYD_BOOT_CACHE (install.sh's cache), TINYD_BOOT_KEEP=1 (keep the work
# directory and say where it is).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tinyd=${1:-${TINYD_BIN:-$repo/target/release/tinyd}}
arch=${2:-x86_64}
case "$arch" in
x86_64) machine=(-M pc -accel tcg -cpu qemu64) console_dev=ttyS0 ;;
aarch64 | armv7) machine=(-M virt -accel tcg -cpu cortex-a57) console_dev=ttyAMA0 ;;
mipsel) machine=(-M malta -accel tcg -cpu 24Kf) console_dev=ttyS0 ;;
*) echo "boot: FAILED: unknown architecture $arch"; exit 1 ;;
esac
timeout_s=${TINYD_BOOT_TIMEOUT:-150}

fail() { echo "boot: FAILED: $*"; exit 1; }
skip() {
    {
        echo "######################################################################"
        echo "# SKIPPED ($arch): qemu-system or the kernel cannot be installed: $*"
        echo "# (the boot test of tinyd under a real kernel did NOT run)"
        echo "######################################################################"
    }
    exit 77
}

[ -x "$tinyd" ] || fail "no tinyd binary at $tinyd (make build)"
case "$tinyd" in /*) ;; *) tinyd=$PWD/$tinyd ;; esac
if LC_ALL=C readelf -lW "$tinyd" 2>/dev/null | grep -q INTERP; then
    fail "$tinyd has an ELF interpreter: it cannot run in an initramfs without a libc"
fi

# What install.sh found or installed, as KEY=VALUE lines.
t0=$(date +%s.%N)
ilog=$(mktemp /tmp/tinyd-boot-install.XXXXXX)
found=$(timeout -k 10 900 "$here/install.sh" "$arch" 2>"$ilog")
irc=$?
sed 's/^/  /' "$ilog" >&2
why=$(grep -m1 'FAILED: ' "$ilog" | sed 's/.*FAILED: //')
rm -f "$ilog"
[ $irc -eq 0 ] || skip "tests/boot/install.sh exited $irc: ${why:-no reason given (timed out after 900 s?)}"
QEMU= QEMU_DATADIR= KERNEL= BUSYBOX= CPIO=
while IFS='=' read -r k v; do
    case "$k" in QEMU | QEMU_DATADIR | KERNEL | BUSYBOX | CPIO) printf -v "$k" '%s' "$v" ;; esac
done <<<"$found"
[ -n "$QEMU" ] && [ -n "$KERNEL" ] || skip "install.sh named no qemu or no kernel"
[ -n "$BUSYBOX" ] && [ -n "$CPIO" ] || fail "install.sh named no busybox or no cpio"
t1=$(date +%s.%N)

work=$(mktemp -d /tmp/tinyd-boot.XXXXXX)
if [ "${TINYD_BOOT_KEEP:-}" = 1 ]; then
    trap 'echo "boot: work directory kept: $work"' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi
root=$work/root

# ---- the initramfs ---------------------------------------------------------
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,root} "$root"/var/log
ln -s ../run "$root/var/run"
cp "$BUSYBOX" "$root/bin/busybox"
cp "$tinyd" "$root/bin/tinyd"
for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
ln -s ../bin/busybox "$root/sbin/init"
ln -s tinyd "$root/bin/tinyctl"
# The kernel's own built-in initramfs already holds /dev/console; ours has
# none (making a device node needs privileges a container may lack).

cat >"$root/etc/inittab" <<'EOF'
::sysinit:/bin/mount -t proc proc /proc
::sysinit:/bin/mount -t devtmpfs devtmpfs /dev
::sysinit:/bin/mount -t tmpfs -o mode=0755 tmpfs /run
::sysinit:/bin/mount -t tmpfs tmpfs /tmp
::sysinit:/bin/sh -c 'echo "TINYD-BOOT: kernel $(uname -r), machine $(uname -m), init up after $(cut -d" " -f1 /proc/uptime) s"'
::sysinit:/bin/sh -c 'trap "" HUP USR1 USR2 PIPE 32 34; /bin/tinyd -c /etc/tinyd.conf; echo "TINYD-LAUNCHER-EXIT: $?"'
::once:/etc/check.sh
::shutdown:/bin/sh -c '/bin/tinyd ctl shutdown; echo "TINYD-CTL-SHUTDOWN-EXIT: $?"'
::shutdown:/etc/after.sh
EOF

cat >"$root/etc/tinyd.conf" <<'EOF'
[tinyd]
pidfile = /var/run/tinyd.pid
control = /var/run/tinyd.sock
log = /var/log/tinyd.log

[marker]
exec = /bin/sh -c 'echo "TINYD-SERVICE-UP pid $$" >/dev/console; echo "service stdout line"; trap "echo TINYD-SERVICE-TERM >/dev/console; exit 0" TERM; sleep 1000 & wait'
restart = always
stop-timeout = 5
EOF

# ::once: runs it once sysinit is done (tinyd's launcher has returned, so
# the service has been exec'd).
cat >"$root/etc/check.sh" <<'EOF'
#!/bin/sh
out=$(/bin/tinyd ctl status 2>&1); rc=$?
echo "$out" | sed 's/^/TINYD-STATUS: /'
echo "TINYD-STATUS-EXIT: $rc"
out=$(/bin/tinyctl status marker 2>&1); rc=$?
echo "TINYD-TINYCTL: $out (exit $rc)"
echo "TINYD-PIDFILE: $(cat /var/run/tinyd.pid 2>&1)"
exe=/proc/$(cat /var/run/tinyd.pid)/exe
echo "TINYD-EXE: $(od -An -tx1 -j4 -N1 "$exe" | tr -d ' ') $(od -An -tx1 -j18 -N2 "$exe" | sed 's/^ *//')"
# A killed service is restarted (after the 1 s restart delay).
pid=$(/bin/tinyctl status marker | awk '{print $3}')
kill -KILL "$pid"
n=0
while [ $n -lt 100 ]; do
    new=$(/bin/tinyctl status marker | awk '$2 == "running" {print $3}')
    [ -n "$new" ] && [ "$new" != "$pid" ] && break
    sleep 0.1; n=$((n + 1))
done
echo "TINYD-RESTARTED: $pid -> ${new:-none}"
# Reload with a second service added: it starts, the first is untouched.
printf '\n[second]\nexec = /bin/sleep 2000\n' >>/etc/tinyd.conf
out=$(/bin/tinyd ctl reload 2>&1); rc=$?
echo "TINYD-RELOAD: $out (exit $rc)"
n=0
while ! /bin/tinyctl status second 2>/dev/null | grep -q running && [ $n -lt 100 ]; do
    sleep 0.1; n=$((n + 1))
done
echo "TINYD-SECOND: $(/bin/tinyctl status second 2>&1)"
# The launcher ignored HUP USR1 USR2 PIPE and the real-time signal 34 (a
# hostile rcS; Debian's busybox, built on glibc, cannot ignore 32 itself):
# a service tinyd execs directly still has no signal ignored or blocked.
# qemu-user cannot show this (cross/qemu-user-limits).
second=$(/bin/tinyctl status second | awk '{print $3}')
echo "TINYD-SECOND-SIGNALS: $(grep -E '^Sig(Blk|Ign):' /proc/$second/status | tr -s ' \t' ' ' | tr '\n' ' ')"
echo "TINYD-MARKER-AFTER-RELOAD: $(/bin/tinyctl status marker | awk '{print $3}')"
# The service writes its marker itself: wait (10 s at most) until its
# stdout line is in tinyd's log.
n=0
while ! grep -q 'service stdout line' /var/log/tinyd.log 2>/dev/null && [ $n -lt 100 ]; do
    sleep 0.1; n=$((n + 1))
done
sed 's/^/TINYD-LOG: /' /var/log/tinyd.log
# The log writer: a child of tinyd named tinyd-log (comm and cmdline).
for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = tinyd-log ] || continue
    echo "TINYD-WRITER: $(cat "$d/comm") $(tr '\0' ' ' <"$d/cmdline") ppid $(awk '{print $4}' "$d/stat")"
done
echo "TINYD-CHECK-DONE: uptime $(cut -d' ' -f1 /proc/uptime) s"
poweroff
EOF

# The last ::shutdown: action: tinyd and its service must be gone before
# init's own SIGTERM/SIGKILL to every process.
cat >"$root/etc/after.sh" <<'EOF'
#!/bin/sh
left=""
for d in /proc/[0-9]*; do
    c=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)
    case "$c" in *tinyd\ -c* | tinyd-log* | *sleep\ 1000* | *sleep\ 2000*) left="$left ${d#/proc/}:$c" ;; esac
done
[ -n "$left" ] && echo "TINYD-LEFT-RUNNING:$left" || echo "TINYD-ALL-STOPPED"
[ -e /var/run/tinyd.pid ] && echo "TINYD-PIDFILE-LEFT" || echo "TINYD-PIDFILE-REMOVED"
[ -e /var/run/tinyd.sock ] && echo "TINYD-SOCKET-LEFT" || echo "TINYD-SOCKET-REMOVED"
sed "s/^/TINYD-LOG-END: /" /var/log/tinyd.log | tail -n 6
echo "TINYD-POWEROFF: uptime $(cut -d' ' -f1 /proc/uptime) s"
EOF
chmod 755 "$root/etc/check.sh" "$root/etc/after.sh"

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | "$CPIO" -o -H newc -R 0:0 --quiet) |
    gzip -1 >"$work/initramfs.gz" || fail "cannot build the initramfs with $CPIO"

# ---- the boot --------------------------------------------------------------
L=()
IFS=: read -r -a dirs <<<"$QEMU_DATADIR"
for d in "${dirs[@]}"; do [ -n "$d" ] && L+=(-L "$d"); done
console=$work/console.log
echo "boot: $arch: $(basename "$KERNEL") + $(stat -c %s "$work/initramfs.gz")-byte initramfs under $("$QEMU" --version | head -n 1), TCG, timeout ${timeout_s}s"
t2=$(date +%s.%N)
timeout -k 5 "$timeout_s" "$QEMU" "${L[@]}" \
    "${machine[@]}" -smp 1 -m 256 \
    -nodefaults -display none -no-user-config -no-reboot \
    -serial "file:$console" -monitor none \
    -kernel "$KERNEL" -initrd "$work/initramfs.gz" \
    -append "console=$console_dev panic=-1 quiet rdinit=/sbin/init" \
    </dev/null >"$work/qemu.out" 2>&1
qrc=$?
t3=$(date +%s.%N)
echo "---- console ----"
tr -d '\r' <"$console" 2>/dev/null
echo "---- end of console ----"
[ -s "$work/qemu.out" ] && sed 's/^/qemu: /' "$work/qemu.out"

boot_s=$(awk "BEGIN{print $t3 - $t2}")
c=$(tr -d '\r' <"$console" 2>/dev/null)
has() { grep -q -E -- "$1" <<<"$c"; }

[ $qrc -eq 124 ] || [ $qrc -eq 137 ] && fail "qemu did not power off within ${timeout_s}s (killed; boot took longer or hung)"
[ $qrc -eq 0 ] || fail "qemu exited with status $qrc"
has 'Kernel panic' && fail "the kernel panicked: $(grep -m1 'Kernel panic' <<<"$c")"
has '^TINYD-BOOT: ' || fail "init never ran /etc/inittab's ::sysinit: (no TINYD-BOOT line; initramfs not unpacked or no console?)"
# What the running tinyd is: ELF class and e_machine of /proc/PID/exe
# (uname -m says aarch64 for 32-bit programs on the arm64 kernel too).
case "$arch" in x86_64) m='02 3e 00' ;; aarch64) m='02 b7 00' ;; armv7) m='01 28 00' ;; mipsel) m='01 08 00' ;; esac
has "^TINYD-EXE: $m\$" || fail "the running tinyd is not a $arch program (ELF class, machine: $(grep -m1 'TINYD-EXE' <<<"$c"))"
has '^TINYD-LAUNCHER-EXIT: 0$' || fail "tinyd's launcher did not exit 0: $(grep -m1 'TINYD-LAUNCHER-EXIT' <<<"$c")"
has '^TINYD-SERVICE-UP pid [0-9]+$' || fail "the service's marker never reached the console"
has '^TINYD-STATUS: marker running [0-9]+ [0-9]+ 0 -$' || fail "tinyd ctl status does not show 'marker running PID UP 0 -': $(grep 'TINYD-STATUS: ' <<<"$c")"
has '^TINYD-STATUS-EXIT: 0$' || fail "tinyd ctl status did not exit 0: $(grep 'TINYD-STATUS-EXIT' <<<"$c")"
has '^TINYD-TINYCTL: marker running .*\(exit 0\)$' || fail "tinyctl status marker failed: $(grep 'TINYD-TINYCTL' <<<"$c")"
has '^TINYD-LOG: .* tinyd: marker: started pid [0-9]+$' || fail "tinyd's log has no 'marker: started pid'"
has '^TINYD-LOG: .* marker: service stdout line$' || fail "tinyd's log lacks the service's stdout line"
pid=$(grep -m1 '^TINYD-PIDFILE: ' <<<"$c" | awk '{print $2}')
has "^TINYD-WRITER: tinyd-log tinyd-log +ppid $pid\$" || fail "no log writer named tinyd-log, child of tinyd $pid: $(grep 'TINYD-WRITER' <<<"$c")"
has '^TINYD-RESTARTED: [0-9]+ -> [0-9]+$' || fail "the killed service was not restarted: $(grep 'TINYD-RESTARTED' <<<"$c")"
has '^TINYD-RELOAD: reloaded: 1 added, 0 removed, 0 changed, 1 unchanged \(exit 0\)$' || fail "tinyd ctl reload failed: $(grep 'TINYD-RELOAD' <<<"$c")"
has '^TINYD-SECOND: second running [0-9]+ ' || fail "the service added by the reload is not running: $(grep 'TINYD-SECOND' <<<"$c")"
has '^TINYD-SECOND-SIGNALS: SigBlk: 0+ SigIgn: 0+ $' || fail "a service inherited blocked or ignored signals: $(grep 'TINYD-SECOND-SIGNALS' <<<"$c")"
restarted=$(grep -m1 '^TINYD-RESTARTED: ' <<<"$c" | awk '{print $4}')
has "^TINYD-MARKER-AFTER-RELOAD: $restarted\$" || fail "the reload touched the unchanged service: $(grep 'TINYD-MARKER-AFTER' <<<"$c")"
has '^TINYD-SERVICE-TERM$' || fail "the service never got SIGTERM at shutdown"
has '^TINYD-CTL-SHUTDOWN-EXIT: 0$' || fail "tinyd ctl shutdown did not exit 0: $(grep 'TINYD-CTL-SHUTDOWN' <<<"$c")"
has '^TINYD-LOG-END: .* tinyd: marker: stopped$' || fail "tinyd's log does not end with 'marker: stopped'"
has '^TINYD-ALL-STOPPED$' || fail "processes left after tinyd ctl shutdown: $(grep 'TINYD-LEFT' <<<"$c")"
has '^TINYD-PIDFILE-REMOVED$' || fail "tinyd left its pidfile behind"
has '^TINYD-SOCKET-REMOVED$' || fail "tinyd left its control socket behind"
has '^TINYD-POWEROFF: ' || fail "the last ::shutdown: action never ran"
has 'reboot: Power down' || fail "the kernel did not power down (no 'reboot: Power down')"

uptime=$(grep -m1 '^TINYD-POWEROFF: ' <<<"$c" | awk '{print $3}')
printf 'boot: ok: %s: tinyd started from ::sysinit:, service up, status running (exit 0), killed service restarted, reload added a service, stopped by ctl shutdown, powered off; qemu %.1f s (guest uptime %s s), install check %.1f s\n' "$arch" \
    "$boot_s" "$uptime" "$(awk "BEGIN{print $t1 - $t0}")"
