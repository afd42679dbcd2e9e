#!/usr/bin/env bash
# Installs what tests/boot/run.sh needs, from Debian's packages, and does
# nothing when it is all there already:
#
#   qemu-system-x86_64   package qemu-system-x86
#   a kernel             package linux-image-amd64 (only its vmlinuz is used)
#   a static busybox     package busybox-static
#   cpio                 package cpio
#
# A qemu-system-x86_64 on PATH, a /boot/vmlinuz-* and a static /bin/busybox
# are used as they are. Otherwise qemu and the kernel are not installed into
# the system but unpacked (apt-get download, dpkg-deb -x) into a cache,
# $TINYD_BOOT_CACHE (default /var/cache/tinyd-boot), and only the shared
# libraries qemu needs are installed with apt-get. The reason: on a Debian 12
# machine that carries the backported qemu-utils 10 (qemu-img), installing
# qemu-system-x86 7.2 makes apt remove qemu-utils, and linux-image-amd64
# pulls initramfs-tools, udev and a systemd upgrade, then builds an initrd
# nobody uses. The cache costs about 80 MB of downloads once, and 60 MB of
# disk (the kernel package's modules are not kept).
#
# Prints where things are as KEY=VALUE lines on stdout (QEMU, QEMU_DATADIR:
# the firmware directories for qemu's -L, colon-separated, empty for a
# system qemu; KERNEL, BUSYBOX, CPIO) for run.sh; progress and the size/time report go to
# stderr. Exit 0 when everything is there, 1 (with a reason) when not.
set -euo pipefail

CACHE=${TINYD_BOOT_CACHE:-/var/cache/tinyd-boot}
ROOT=$CACHE/root
export DEBIAN_FRONTEND=noninteractive

say() { echo "boot/install: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

mkdir -p "$CACHE" 2>/dev/null || die "cannot create $CACHE (set TINYD_BOOT_CACHE)"
# One installer at a time (parallel test runs share the cache).
exec 9>"$CACHE/.lock"
flock -w 900 9 || die "another install.sh holds $CACHE/.lock"

is_static() { [ -x "$1" ] && ! LC_ALL=C readelf -lW "$1" 2>/dev/null | grep -q INTERP; }

find_qemu() {
    if command -v qemu-system-x86_64 >/dev/null 2>&1 && qemu-system-x86_64 --version >/dev/null 2>&1; then
        QEMU=$(command -v qemu-system-x86_64); QEMU_DATADIR=
    elif [ -x "$ROOT/usr/bin/qemu-system-x86_64" ] && "$ROOT/usr/bin/qemu-system-x86_64" --version >/dev/null 2>&1; then
        QEMU=$ROOT/usr/bin/qemu-system-x86_64; QEMU_DATADIR=$ROOT/usr/share/qemu:$ROOT/usr/share/seabios
    else
        return 1
    fi
}
find_kernel() {
    KERNEL=$(ls -1 /boot/vmlinuz-* "$CACHE"/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
    [ -n "$KERNEL" ] && [ -r "$KERNEL" ]
}
find_busybox() {
    for b in /bin/busybox /usr/bin/busybox "$ROOT/bin/busybox"; do
        if is_static "$b"; then BUSYBOX=$b; return 0; fi
    done
    return 1
}
find_cpio() { CPIO=$(command -v cpio 2>/dev/null) || return 1; }
find_all() { find_qemu && find_kernel && find_busybox && find_cpio; }

report() {
    printf 'QEMU=%s\nQEMU_DATADIR=%s\nKERNEL=%s\nBUSYBOX=%s\nCPIO=%s\n' \
        "$QEMU" "$QEMU_DATADIR" "$KERNEL" "$BUSYBOX" "$CPIO"
}

if find_all; then
    report
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "no apt-get: not a Debian machine"
start=$(date +%s)
downloaded=0
updated=
apt_update() {
    [ -n "$updated" ] && return 0
    say "apt-get update"
    apt-get update -qq >"$CACHE/apt.log" 2>&1 || die "apt-get update failed: $(tail -n 5 "$CACHE/apt.log")"
    updated=1
}
# Packages whose .debs are unpacked into the cache; keeps them in $CACHE/debs
# only while unpacking.
fetch() {
    local dir=$CACHE/debs
    rm -rf "$dir"; mkdir -p "$dir"
    ( cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$@" >"$CACHE/apt.log" 2>&1 ) ||
        { apt_update; ( cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$@" >"$CACHE/apt.log" 2>&1 ); } ||
        die "apt-get download $* failed"
    local f
    for f in "$dir"/*.deb; do
        downloaded=$((downloaded + $(stat -c %s "$f")))
    done
}
installed() { [ "$(dpkg-query -W -f '${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
# apt-get install of the packages not installed yet (an installed one would
# be upgraded, and its reverse dependencies with it), never when apt would
# remove anything. apt's chatter goes to $CACHE/apt.log.
apt_install() {
    local sim p want=()
    for p in "$@"; do installed "$p" || want+=("$p"); done
    [ ${#want[@]} -gt 0 ] || return 0
    set -- "${want[@]}"
    apt_update
    sim=$(apt-get install -s -y --no-install-recommends "$@" 2>&1) || die "apt-get cannot install $*: $(echo "$sim" | tail -n 3)"
    if echo "$sim" | grep -q '^Remv '; then
        die "installing $* would remove: $(echo "$sim" | awk '/^Remv /{print $2}' | tr '\n' ' ')"
    fi
    local before after
    before=$(df -B1 --output=used / | tail -n 1)
    apt-get install -y -qq --no-install-recommends "$@" >"$CACHE/apt.log" 2>&1 ||
        die "apt-get install $* failed: $(tail -n 5 "$CACHE/apt.log")"
    after=$(df -B1 --output=used / | tail -n 1)
    say "installed $*: $(( (after - before) / 1000000 )) MB on disk"
}

if ! find_cpio; then
    apt_install cpio
    find_cpio || die "cpio is not there after installing it"
fi

if ! find_busybox; then
    fetch busybox-static
    dpkg-deb -x "$CACHE"/debs/busybox-static_*.deb "$ROOT"
    find_busybox || die "no static busybox in the busybox-static package"
fi

if ! find_kernel; then
    apt_update
    # linux-image-amd64 is a metapackage: its one dependency is the kernel.
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
    [ -n "$pkg" ] || die "apt-cache knows no linux-image-amd64"
    fetch "$pkg"
    dpkg-deb --fsys-tarfile "$CACHE"/debs/"$pkg"_*.deb | tar -x -C "$CACHE" --wildcards --strip-components=2 './boot/vmlinuz-*' ||
        die "no /boot/vmlinuz-* in $pkg"
    find_kernel || die "the kernel is not there after unpacking $pkg"
fi

if ! find_qemu; then
    apt_update
    pkgs="qemu-system-x86 qemu-system-common qemu-system-data seabios"
    # The shared libraries qemu-system-x86_64 links with: every Depends of
    # the two binary packages but the qemu ones and the firmware.
    libs=$(apt-cache show --no-all-versions qemu-system-x86 qemu-system-common |
        awk -F': ' '/^Depends:/{print $2}' | tr ',' '\n' |
        sed -e 's/|.*//' -e 's/(.*//' -e 's/[[:space:]]//g' |
        grep -v -E '^(qemu-|seabios$|ipxe-qemu$|$)' | sort -u | tr '\n' ' ')
    # shellcheck disable=SC2086
    apt_install $libs
    # shellcheck disable=SC2086
    fetch $pkgs
    rm -rf "$ROOT/usr/bin/qemu-system-x86_64"
    for f in "$CACHE"/debs/*.deb; do dpkg-deb -x "$f" "$ROOT"; done
    find_qemu || die "$ROOT/usr/bin/qemu-system-x86_64 does not run: $("$ROOT/usr/bin/qemu-system-x86_64" --version 2>&1 | head -n 1)"
fi
rm -rf "$CACHE/debs"

end=$(date +%s)
say "done in $((end - start)) s, $((downloaded / 1000000)) MB downloaded into $CACHE (plus the libraries above), cache now $(du -sm "$CACHE" | cut -f1) MB"
report
