#!/usr/bin/env bash
# Installs what tests/boot/run.sh needs for one architecture, from Debian's
# packages, and does nothing when it is all there already:
#
#   tests/boot/install.sh [ARCH]     ARCH: x86_64 (default), aarch64, armv7,
#                                          mipsel
#
#   x86_64   qemu-system-x86_64 (qemu-system-x86), linux-image-amd64,
#            the machine's static busybox (busybox-static)
#   aarch64  qemu-system-aarch64 (qemu-system-arm), linux-image-arm64,
#            busybox-static:arm64
#   armv7    the same qemu and arm64 kernel, which runs 32-bit arm programs
#            (CONFIG_COMPAT) on a cortex-a57: busybox-static:armhf
#   mipsel   qemu-system-mipsel (qemu-system-mips), linux-image-4kc-malta
#            (its /boot/vmlinuz-* is an ELF, the self-decompressing kernel
#            qemu -M malta loads), busybox-static:mipsel
#   and cpio for the initramfs.
#
# A qemu on PATH, and for x86_64 a /boot/vmlinuz-* and a static
# /bin/busybox, are used as they are. Otherwise qemu and the kernel are not
# installed into the system but unpacked (apt-get download, dpkg-deb -x)
# into a cache, $TINYD_BOOT_CACHE (default /var/cache/tinyd-boot), and only
# the shared libraries qemu needs are installed with apt-get. The reason:
# on a Debian 12 machine that carries the backported qemu-utils 10
# (qemu-img), installing bookworm's qemu-system-* 7.2 makes apt remove
# qemu-utils, and a linux-image package pulls initramfs-tools, udev and a
# systemd upgrade, then builds an initrd nobody uses. Foreign packages come
# from a private apt state for that architecture (cross/apt.sh); the
# machine's dpkg architectures are not changed.
#
# Prints where things are as KEY=VALUE lines on stdout (QEMU, QEMU_DATADIR:
# the firmware directories for qemu's -L, colon-separated, empty for a
# system qemu; KERNEL, BUSYBOX, CPIO) for run.sh; progress and the size/time
# report go to stderr. Exit 0 when everything is there, 1 (with a reason)
# when not.
set -euo pipefail

ARCH=${1:-x86_64}
CACHE=${TINYD_BOOT_CACHE:-/var/cache/tinyd-boot}
ROOT=$CACHE/root
SAY_AS=boot/install
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cross/apt.sh
. "$here/../../cross/apt.sh"

case "$ARCH" in
x86_64) qemu_bin=qemu-system-x86_64 qemu_pkg=qemu-system-x86 firmware=seabios
        kernel_meta=linux-image-amd64 kernel_from= bb_from= ;;
aarch64) qemu_bin=qemu-system-aarch64 qemu_pkg=qemu-system-arm firmware=
        kernel_meta=linux-image-arm64 kernel_from=arch:arm64 bb_from=arch:arm64 ;;
armv7) qemu_bin=qemu-system-aarch64 qemu_pkg=qemu-system-arm firmware=
        kernel_meta=linux-image-arm64 kernel_from=arch:arm64 bb_from=arch:armhf ;;
mipsel) qemu_bin=qemu-system-mipsel qemu_pkg=qemu-system-mips firmware=
        kernel_meta=linux-image-4kc-malta kernel_from=arch:mipsel bb_from=arch:mipsel ;;
*) echo "boot/install: unknown architecture $ARCH" >&2; exit 64 ;;
esac
kdir=$CACHE/kernel-${kernel_meta#linux-image-}

mkdir -p "$CACHE" 2>/dev/null || die "cannot create $CACHE (set TINYD_BOOT_CACHE)"
# One installer at a time (parallel test runs share the cache).
exec 9>"$CACHE/.lock"
flock -w 900 9 || die "another install.sh holds $CACHE/.lock"

is_static() { [ -x "$1" ] && ! LC_ALL=C readelf -lW "$1" 2>/dev/null | grep -q INTERP; }

find_qemu() {
    if command -v "$qemu_bin" >/dev/null 2>&1 && "$qemu_bin" --version >/dev/null 2>&1; then
        QEMU=$(command -v "$qemu_bin"); QEMU_DATADIR=
    elif [ -x "$ROOT/usr/bin/$qemu_bin" ] && "$ROOT/usr/bin/$qemu_bin" --version >/dev/null 2>&1; then
        QEMU=$ROOT/usr/bin/$qemu_bin; QEMU_DATADIR=$ROOT/usr/share/qemu:$ROOT/usr/share/seabios
    else
        return 1
    fi
}
find_kernel() {
    local host=
    [ "$ARCH" = x86_64 ] && host=/boot/vmlinuz-*
    # shellcheck disable=SC2086 # the glob
    KERNEL=$(ls -1 $host "$kdir"/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
    [ -n "$KERNEL" ] && [ -r "$KERNEL" ]
}
find_busybox() {
    local b
    if [ "$ARCH" = x86_64 ]; then
        for b in /bin/busybox /usr/bin/busybox "$ROOT/bin/busybox"; do
            if is_static "$b"; then BUSYBOX=$b; return 0; fi
        done
        return 1
    fi
    b=$CACHE/busybox-$ARCH/bin/busybox
    is_static "$b" && BUSYBOX=$b
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

if ! find_cpio; then
    apt_install cpio
    find_cpio || die "cpio is not there after installing it"
fi

if ! find_busybox; then
    if [ -z "$bb_from" ]; then
        fetch busybox-static
        dpkg-deb -x "$CACHE"/debs/busybox-static_*.deb "$ROOT"
    else
        fetch_from "$bb_from" "busybox-static:${bb_from#arch:}"
        rm -rf "$CACHE/busybox-$ARCH"
        dpkg-deb -x "$CACHE"/debs/busybox-static_*.deb "$CACHE/busybox-$ARCH"
    fi
    find_busybox || die "no static busybox in the busybox-static package"
fi

if ! find_kernel; then
    # linux-image-ARCH is a metapackage: its one dependency is the kernel.
    if [ -z "$kernel_from" ]; then
        apt_update
        pkg=$(apt-cache depends "$kernel_meta" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
        [ -n "$pkg" ] || die "apt-cache knows no $kernel_meta"
        fetch "$pkg"
    else
        pkg=$(depends_of "$kernel_from" "$kernel_meta")
        [ -n "$pkg" ] || die "apt-cache knows no $kernel_meta ($kernel_from)"
        fetch_from "$kernel_from" "$pkg"
    fi
    mkdir -p "$kdir"
    dpkg-deb --fsys-tarfile "$CACHE"/debs/"$pkg"_*.deb | tar -x -C "$kdir" --wildcards --strip-components=2 './boot/vmlinuz-*' ||
        die "no /boot/vmlinuz-* in $pkg"
    find_kernel || die "the kernel is not there after unpacking $pkg"
fi

if ! find_qemu; then
    apt_update
    pkgs="$qemu_pkg qemu-system-common qemu-system-data $firmware"
    # The shared libraries qemu links with: every Depends of the two binary
    # packages but the qemu ones and the firmware.
    libs=$(apt-cache show --no-all-versions "$qemu_pkg" qemu-system-common |
        awk -F': ' '/^Depends:/{print $2}' | tr ',' '\n' |
        sed -e 's/|.*//' -e 's/(.*//' -e 's/[[:space:]]//g' |
        grep -v -E '^(qemu-|seabios$|ipxe-qemu$|$)' | sort -u | tr '\n' ' ')
    # shellcheck disable=SC2086
    apt_install $libs
    # shellcheck disable=SC2086
    fetch $pkgs
    rm -rf "$ROOT/usr/bin/$qemu_bin"
    for f in "$CACHE"/debs/*.deb; do dpkg-deb -x "$f" "$ROOT"; done
    find_qemu || die "$ROOT/usr/bin/$qemu_bin does not run: $("$ROOT/usr/bin/$qemu_bin" --version 2>&1 | head -n 1)"
fi
rm -rf "$CACHE/debs"

end=$(date +%s)
say "done in $((end - start)) s, $((downloaded / 1000000)) MB downloaded into $CACHE (plus the libraries above), cache now $(du -sm "$CACHE" | cut -f1) MB"
report
