#!/bin/bash
# bench/build-busybox.sh - build the busybox that bench/bench.sh uses for its
# "busybox runsv" column.
#
# Debian's busybox-static (1:1.35.0-4+deb12u1) has no runsv/sv applets, so we
# build the same upstream version (1.35.0) from Debian's orig tarball: `make
# allnoconfig`, then only runsv, sv and CONFIG_STATIC=y (static, like
# busybox-static); the shell that allnoconfig still picks as `sh` (ash, a
# choice cannot be empty) is switched to "none", as runsv starts ./run with
# execve and the kernel runs its #!/bin/sh (the system shell). Debian's own
# patches (the .debian.tar.xz) are not applied.
#
# Does nothing when bench/out/busybox-runsv/busybox exists. Otherwise downloads
# the tarball into bench/out/ (git-ignored: never commit it or the build),
# checks its sha256, unpacks and builds under bench/out/ (make log:
# bench/out/busybox-build.log) and installs the binary at
# bench/out/busybox-runsv/busybox. Installs missing build tools with apt-get
# (needs root then). On failure: exit 1, the last line on stderr is the reason.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE/out
DEST=$OUT/busybox-runsv/busybox
VER=1.35.0
TARBALL=busybox_$VER.orig.tar.bz2
URL=http://deb.debian.org/debian/pool/main/b/busybox/$TARBALL
# Debian's orig tarball of busybox 1.35.0 (the source of busybox-static
# 1:1.35.0-4+deb12u1): sha256 as observed on download, and as listed in
# Debian's busybox_1.35.0-4+deb12u1.dsc (Checksums-Sha256, 2480624 bytes).
SHA256=faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694
SRC=$OUT/busybox-$VER
LOG=$OUT/busybox-build.log

say() { printf 'build-busybox: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

if [ -x "$DEST" ]; then
  say "$DEST present"
  exit 0
fi
T0=$EPOCHREALTIME
mkdir -p "$OUT"

# ---- build tools: command -> Debian package
declare -A pkg=([curl]=curl [make]=make [gcc]=gcc [bzip2]=bzip2 [tar]=tar [sha256sum]=coreutils)
missing=()
for cmd in "${!pkg[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg[$cmd]}"); done
# static glibc (libc.a) and the kernel headers busybox includes
dpkg-query -W -f='${Status}' libc6-dev 2>/dev/null | grep -q 'ok installed' || missing+=(libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || fail "build tools missing (${missing[*]}), need root to apt-get install them"
  say "installing ${missing[*]}"
  need_update=0
  for p in "${missing[@]}"; do apt-cache show "$p" >/dev/null 2>&1 || need_update=1; done
  if [ $need_update -eq 1 ]; then apt-get update >&2 || fail "apt-get update failed"; fi
  apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
    || fail "apt-get install ${missing[*]} failed"
fi

# ---- the tarball
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }
if ! sha_ok "$OUT/$TARBALL"; then
  rm -f "$OUT/$TARBALL" "$OUT/$TARBALL.part"
  say "downloading $URL"
  curl -sSf --retry 2 -o "$OUT/$TARBALL.part" "$URL" || fail "download of $URL failed"
  if ! sha_ok "$OUT/$TARBALL.part"; then
    got=$(sha256sum "$OUT/$TARBALL.part" | cut -d' ' -f1)
    rm -f "$OUT/$TARBALL.part"
    fail "$TARBALL: expected sha256 $SHA256, got $got"
  fi
  mv "$OUT/$TARBALL.part" "$OUT/$TARBALL"
fi
say "$TARBALL sha256 ok"

# ---- unpack (fresh) and configure
rm -rf "$SRC"
tar -C "$OUT" -xjf "$OUT/$TARBALL" || fail "unpacking $TARBALL failed"
[ -f "$SRC/Makefile" ] || fail "$TARBALL did not unpack to $SRC"
cd "$SRC"
: >"$LOG"
make allnoconfig >>"$LOG" 2>&1 || fail "make allnoconfig failed (see $LOG)"
set_opt() { # set_opt NAME VALUE: VALUE y, n or a quoted string
  sed -i -e "/^CONFIG_$1=/d" -e "/^# CONFIG_$1 is not set\$/d" .config
  if [ "$2" = n ]; then echo "# CONFIG_$1 is not set"; else echo "CONFIG_$1=$2"; fi >>.config
}
set_opt STATIC y
set_opt RUNSV y
set_opt SV y
set_opt SV_DEFAULT_SERVICE_DIR '"/var/service"'   # upstream's default (allnoconfig: "")
set_opt SH_IS_ASH n
set_opt SH_IS_NONE y
# let Kconfig resolve dependencies; new questions get their default answer
# (not `yes "" | make ...`: under pipefail yes's SIGPIPE would fail the pipe)
make oldconfig < <(yes "") >>"$LOG" 2>&1 || fail "make oldconfig failed (see $LOG)"
for o in STATIC RUNSV SV; do
  grep -qx "CONFIG_$o=y" .config || fail "CONFIG_$o=y did not survive make oldconfig (see $SRC/.config)"
done
grep -qx 'CONFIG_SHELL_ASH=y' .config && fail "ash is still configured after make oldconfig"
say "config: $(grep -E '^CONFIG_[A-Z0-9_]+=y$' .config | sed 's/^CONFIG_//; s/=y$//' | tr '\n' ' ')"

# ---- build
say "make -j2 (log: $LOG)"
if ! make -j2 >>"$LOG" 2>&1; then
  fail "make -j2 failed: $(grep -m1 -E 'error|Error' "$LOG" || tail -n1 "$LOG")"
fi
[ -x busybox ] || fail "make -j2 produced no busybox binary"
ldd ./busybox >/dev/null 2>&1 && fail "built busybox is not static: $(ldd ./busybox | tr '\n' ' ')"
# busybox without the busybox applet: `busybox APPLET` still runs APPLET
for a in runsv sv; do
  if ./busybox "$a" </dev/null 2>&1 | grep -q 'applet not found'; then
    fail "built busybox has no $a applet"
  fi
done
mkdir -p "${DEST%/*}"
install -m 755 busybox "$DEST.tmp" && mv "$DEST.tmp" "$DEST" || fail "installing $DEST failed"
say "installed $DEST ($(stat -c %s "$DEST") bytes), build took $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s"
