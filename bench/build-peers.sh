#!/bin/bash
# bench/build-peers.sh - build the peers of bench/ the way boards build them:
# static musl binaries from Debian's (bookworm) source packages, compiled with
# Debian's musl-tools (musl-gcc).
#
#   bash bench/build-peers.sh [busybox] [busybox-runsv] [s6]   (default: all)
#
#   busybox  one static busybox (Debian's busybox source, Debian's patches
#            applied by dpkg-source) from `make allnoconfig` plus the applets
#            runsv, runsvdir, sv, svlogd, start-stop-daemon, syslogd and true;
#            installed as bench/out/peers/bin/busybox with applet symlinks
#            beside it (runsv -> busybox, ...).
#   busybox-runsv  the same busybox with the runsv applet alone (and no
#            symlinks): bench/out/peers/bin/busybox-runsv, for the size of
#            runsv as a board that wants only it would build it.
#   s6       skalibs and execline (static libraries only), then s6:
#            s6-supervise, s6-svscan, s6-log (and the rest of s6) in
#            bench/out/peers/bin/.
#
# Sources come from `apt-get source --download-only` (source_get in
# cross/apt.sh: a private deb-src state derived from the machine's own apt
# sources; /etc/apt is not changed), then `dpkg-source -x` into a fresh
# bench/out/build/NAME-VERSION. Everything is under bench/out/ (git-ignored).
# A peer whose binaries exist (static, checked) is not rebuilt; downloaded
# sources are kept. musl-gcc sees only musl's headers, so a directory of
# symlinks to the kernel's UAPI headers (linux/, asm/, asm-generic/, mtd/ from
# linux-libc-dev) is added to the include path, as a board's musl toolchain
# has them. Installs missing tools (musl-tools, dpkg-dev, make, gcc, ...) with
# apt-get, never removing anything (needs root then).
#
# Each binary is checked: no INTERP program header (readelf -lW) and no dynamic
# section (readelf -d); its path and stripped size are printed on stdout, one
# line each. Logs: bench/out/build/NAME.log. Exit 1 when a requested peer
# could not be built (the others are still built); the reason is printed.
set -uo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$HERE/out
SRCDIR=$OUT/src            # what apt-get source downloaded (.dsc, tarballs)
BUILD=$OUT/build           # unpacked trees and logs
PEERS=$OUT/peers           # installed: bin/, and the static libraries
KH=$OUT/kernel-headers     # the kernel UAPI headers for musl-gcc
CACHE=$OUT/apt             # cross/apt.sh's state (private deb-src lists)
SAY_AS=${SAY_AS:-build-peers}
mkdir -p "$SRCDIR" "$BUILD" "$PEERS/bin" "$CACHE"
# shellcheck source=../cross/apt.sh
source "$ROOT/cross/apt.sh"

T0=$EPOCHREALTIME
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }
FAILED=()
peer_fail() { say "FAILED: $1: $2"; echo "$2" >"$BUILD/$1.why"; }

want=("$@"); [ ${#want[@]} -gt 0 ] || want=(busybox busybox-runsv s6)
for w in "${want[@]}"; do
  case "$w" in busybox|busybox-runsv|s6) ;; *) die "unknown peer $w (busybox, busybox-runsv, s6)" ;; esac
done

# static_ok FILE: an ELF executable without INTERP and without dynamic section
static_ok() {
  [ -x "$1" ] && [ ! -L "$1" ] || return 1
  readelf -h "$1" 2>/dev/null | grep -q 'Type:.*EXEC\|Type:.*DYN' || return 1
  readelf -lW "$1" 2>/dev/null | grep -q INTERP && return 1
  readelf -d "$1" 2>/dev/null | grep -q 'There is no dynamic section' || return 1
  return 0
}
# report FILE: path (relative to the repo) and stripped size
report() {
  local f=$1 t
  t=$(mktemp "$BUILD/strip.XXXXXX")
  strip -o "$t" "$f" && printf '%s\t%s bytes stripped (%s bytes as installed)\n' \
    "${f#"$ROOT"/}" "$(stat -c %s "$t")" "$(stat -c %s "$f")"
  rm -f "$t"
}

# ---- tools
tools=(musl-tools dpkg-dev make gcc binutils xz-utils bzip2 linux-libc-dev)
need=()
for p in "${tools[@]}"; do installed "$p" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${need[*]}, need root to apt-get install them"
  apt_install "${need[@]}"
fi
command -v musl-gcc >/dev/null || die "musl-gcc not found after installing musl-tools"

# ---- kernel UAPI headers beside musl's own (musl-gcc drops /usr/include)
if [ ! -e "$KH/.done" ]; then
  rm -rf "$KH"; mkdir -p "$KH"
  ma=$(gcc -print-multiarch)
  for d in linux asm-generic mtd; do
    [ -d /usr/include/$d ] && ln -s /usr/include/$d "$KH/$d"
  done
  ln -s "/usr/include/$ma/asm" "$KH/asm"
  [ -e "$KH/linux/version.h" ] && [ -e "$KH/asm/unistd.h" ] || die "kernel headers not found (linux-libc-dev)"
  touch "$KH/.done"
fi

# unpack NAME: fetch Debian's source of NAME (once) and unpack it into a fresh
# $BUILD/NAME-VERSION; sets TREE. Returns 1 (with WHY) on failure.
unpack() {
  local name=$1 dsc
  dsc=$(ls "$SRCDIR/$name"/"${name}"_*.dsc 2>/dev/null | head -n1)
  if [ -z "$dsc" ] || ! ls "$SRCDIR/$name"/"${name}"_*.orig.tar.* >/dev/null 2>&1; then
    rm -rf "$SRCDIR/$name"
    say "apt-get source $name"
    if ! source_get "$SRCDIR/$name" "$name"; then
      WHY="apt-get source $name failed: $(grep -E '^E: ' "$CACHE/apt-src/source.log" | head -n 3 | tr '\n' ' ')"
      return 1
    fi
    dsc=$(ls "$SRCDIR/$name"/"${name}"_*.dsc 2>/dev/null | head -n1)
    [ -n "$dsc" ] || { WHY="apt-get source $name left no .dsc"; return 1; }
  fi
  local v=${dsc##*/}; v=${v#"${name}"_}; v=${v%.dsc}; v=${v#*:}
  TREE=$BUILD/$name-$v
  rm -rf "$TREE"
  dpkg-source --no-check -x "$dsc" "$TREE" >"$BUILD/$name.log" 2>&1 ||
    { WHY="dpkg-source -x ${dsc##*/} failed (see $BUILD/$name.log)"; return 1; }
  say "$name $v unpacked in ${TREE#"$ROOT"/} ($(grep -c 'applying' "$BUILD/$name.log") Debian patches applied)"
}

# ---------------------------------------------------------------- busybox
BB_APPLETS=(runsv runsvdir sv svlogd start-stop-daemon syslogd true)
build_busybox() { # [DEST APPLET...]: default bench/out/peers/bin/busybox, BB_APPLETS
  local dest=${1:-$PEERS/bin/busybox} a o links=1
  local applets=("${BB_APPLETS[@]}")
  if [ $# -gt 1 ]; then shift; applets=("$@"); links=0; fi
  if static_ok "$dest"; then say "busybox: $dest present"; return 0; fi
  local t=$EPOCHREALTIME
  unpack busybox || { peer_fail busybox "$WHY"; return 1; }
  local log=$BUILD/busybox.log
  cd "$TREE" || return 1
  nice -n 10 make allnoconfig >>"$log" 2>&1 || { peer_fail busybox "make allnoconfig failed (see $log)"; return 1; }
  set_opt() { # NAME VALUE (y, n or a quoted string)
    sed -i -e "/^CONFIG_$1=/d" -e "/^# CONFIG_$1 is not set\$/d" .config
    if [ "$2" = n ]; then echo "# CONFIG_$1 is not set"; else echo "CONFIG_$1=$2"; fi >>.config
  }
  set_opt STATIC y
  set_opt EXTRA_CFLAGS "\"-isystem $KH\""
  local opts=()
  for a in "${applets[@]}"; do a=${a^^}; opts+=("${a//-/_}"); done
  for o in "${opts[@]}"; do set_opt "$o" y; done
  set_opt SV_DEFAULT_SERVICE_DIR '"/var/service"'
  set_opt SH_IS_ASH n
  set_opt SH_IS_NONE y
  nice -n 10 make CC=musl-gcc HOSTCC=gcc oldconfig < <(yes "") >>"$log" 2>&1 ||
    { peer_fail busybox "make oldconfig failed (see $log)"; return 1; }
  for o in STATIC "${opts[@]}"; do
    grep -qx "CONFIG_$o=y" .config || { peer_fail busybox "CONFIG_$o=y lost in make oldconfig"; return 1; }
  done
  say "busybox: make -j2 CC=musl-gcc (log: ${log#"$ROOT"/})"
  if ! nice -n 10 make -j2 CC=musl-gcc HOSTCC=gcc >>"$log" 2>&1; then
    peer_fail busybox "make failed: $(grep -m1 -E 'error' "$log" || tail -n1 "$log")"; return 1
  fi
  static_ok busybox || { peer_fail busybox "built busybox is not a static executable"; return 1; }
  for a in "${applets[@]}"; do
    # (no `busybox --list`: the busybox applet itself is not configured)
    grep -qxF "\"$a\" \"\\0\"" include/applet_tables.h || { peer_fail busybox "no $a applet in the build"; return 1; }
  done
  install -m 755 busybox "$dest.tmp" && mv "$dest.tmp" "$dest" || { peer_fail busybox "installing $dest failed"; return 1; }
  [ $links = 1 ] && for a in "${applets[@]}"; do ln -sfn busybox "$PEERS/bin/$a"; done
  say "${dest##*/} built in $(elapsed "$t") s"
}
build_busybox-runsv() { build_busybox "$PEERS/bin/busybox-runsv" runsv; }

# ---------------------------------------------------------------- s6
# skarnet's configure: CC=musl-gcc, static libraries only, static binaries
# (--enable-static-libc where the package has it), the kernel headers added.
skarnet() { # NAME CONFIGURE-ARGS...: unpack, configure, make, make install
  local name=$1 log=$BUILD/$1.log; shift
  unpack "$name" || return 1
  cd "$TREE" || return 1
  local extra=()
  local ldflags=-static   # musl-gcc links dynamically (ld-musl) without it
  if ./configure --help 2>/dev/null | grep -q -- --enable-static-libc; then
    extra+=(--enable-static-libc); ldflags=
  fi
  CC=musl-gcc CFLAGS="-isystem $KH -Os" LDFLAGS="$ldflags" nice -n 10 ./configure --prefix="$PEERS" \
    --disable-shared "${extra[@]}" "$@" >>"$log" 2>&1 ||
    { WHY="$name: configure failed: $(tail -n1 "$log")"; return 1; }
  nice -n 10 make -j2 >>"$log" 2>&1 || { WHY="$name: make failed: $(grep -m1 error "$log" || tail -n1 "$log")"; return 1; }
  make install >>"$log" 2>&1 || { WHY="$name: make install failed: $(tail -n1 "$log")"; return 1; }
  say "$name built and installed under ${PEERS#"$ROOT"/}"
}
S6_BINS=(s6-supervise s6-svscan s6-log)
build_s6() {
  local b all=1 t=$EPOCHREALTIME
  for b in "${S6_BINS[@]}"; do static_ok "$PEERS/bin/$b" || all=0; done
  if [ $all = 1 ]; then say "s6: ${S6_BINS[*]} present"; return 0; fi
  local deps=(--with-sysdeps="$PEERS/lib/skalibs/sysdeps" --with-include="$PEERS/include"
              --with-lib="$PEERS/lib/skalibs" --with-lib="$PEERS/lib/execline")
  if [ ! -e "$PEERS/lib/skalibs/libskarnet.a" ]; then
    skarnet skalibs || { peer_fail s6 "$WHY"; return 1; }
  fi
  if [ ! -e "$PEERS/lib/execline/libexecline.a" ]; then
    skarnet execline "${deps[@]:0:3}" || { peer_fail s6 "$WHY"; return 1; }
  fi
  skarnet s6 "${deps[@]}" || { peer_fail s6 "$WHY"; return 1; }
  for b in "${S6_BINS[@]}"; do
    static_ok "$PEERS/bin/$b" || { peer_fail s6 "$PEERS/bin/$b missing or not static"; return 1; }
  done
  say "s6 (with skalibs, execline) built in $(elapsed "$t") s"
}

# each build in a subshell (its cd stays there); its reason in $BUILD/NAME.why
for w in "${want[@]}"; do
  rm -f "$BUILD/$w.why"
  ( "build_$w" ) || FAILED+=("$w: $(cat "$BUILD/$w.why" 2>/dev/null || echo failed)")
done

echo "peers (static, musl-gcc; no INTERP, no dynamic section):"
for w in "${want[@]}"; do
  case "$w" in
  busybox) bins=(busybox) ;;
  busybox-runsv) bins=(busybox-runsv) ;;
  s6) bins=("${S6_BINS[@]}") ;;
  esac
  for b in "${bins[@]}"; do
    if static_ok "$PEERS/bin/$b"; then report "$PEERS/bin/$b"; else echo "${PEERS#"$ROOT"/}/bin/$b: not built"; fi
  done
done
say "done in $(elapsed "$T0") s"
if [ ${#FAILED[@]} -gt 0 ]; then
  for f in "${FAILED[@]}"; do say "FAILED: $f"; done
  exit 1
fi
