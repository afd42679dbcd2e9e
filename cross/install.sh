#!/usr/bin/env bash
# Installs what `make cross` and the foreign-architecture tests need, from
# Debian's packages, only what is missing, never removing anything:
#
#   rustc-web cargo-web rust-web-src   Debian's rustc 1.96 with every LLVM
#                                       target and the standard library's
#                                       source (-Zbuild-std=core)
#   lld llvm                            ld.lld links; llvm-objcopy trims mips
#   qemu-user, qemu-user-binfmt 10      from bookworm-backports (a source list
#                                       derived from the machine's own),
#                                       unpacked into the cache: its static
#                                       emulators need nothing installed.
#                                       bookworm's 7.2 fails PR_SET_CHILD_SUBREAPER
#                                       (EINVAL), so orphans escape tinyd there.
#   busybox-static of arm64, armhf, mipsel   the children's userland under
#                                       qemu-user and in the boot tests
#                                       (unpacked into the cache, not installed)
#
#   cross/install.sh [--no-binfmt]
#
# Then mounts binfmt_misc if needed and registers the cache's qemu for
# aarch64, arm, riscv64 and mipsel as tinyd-qemu-ARCH (flags PF: argv[0]
# kept, interpreter opened now, so it works in other mount namespaces too;
# not O, whose descriptor of the program qemu would leave open in COMMAND),
# newest entry first, so that it wins over any other qemu registered for the
# same binaries.
#
# Prints KEY=VALUE lines on stdout: CARGO, RUSTC (Debian's), QEMU_DIR, and
# BUSYBOX_<arch> for each architecture that has one (Debian 12 has no
# riscv64 port: no busybox there). Progress goes to stderr. Exit 0 when all
# is there, 1 with a reason.
set -euo pipefail
CACHE=${TINYD_CROSS_CACHE:-/var/cache/tinyd-cross}
SAY_AS=cross/install
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cross/apt.sh
. "$here/apt.sh"

mkdir -p "$CACHE" 2>/dev/null || die "cannot create $CACHE (set TINYD_CROSS_CACHE)"
exec 9>"$CACHE/.lock"
flock -w 900 9 || die "another cross/install.sh holds $CACHE/.lock"
command -v apt-get >/dev/null 2>&1 || die "no apt-get: not a Debian machine"

start=$(date +%s)
apt_install rustc-web cargo-web rust-web-src lld llvm binutils patch
[ -x /usr/bin/rustc ] && /usr/bin/rustc --version >/dev/null || die "/usr/bin/rustc (rustc-web) does not run"
[ -d /usr/lib/rustlib/src/rust/library/core ] || die "no core source in /usr/lib/rustlib/src/rust (rust-web-src)"

# The children's userland: Debian's static busybox of each architecture.
for pair in aarch64:arm64 armv7:armhf mipsel:mipsel; do
    arch=${pair%%:*} deb=${pair##*:}
    bb=$CACHE/$arch/bin/busybox
    if [ ! -x "$bb" ]; then
        fetch_from "arch:$deb" "busybox-static:$deb"
        rm -rf "$CACHE/$arch"; mkdir -p "$CACHE/$arch"
        dpkg-deb -x "$CACHE"/debs/busybox-static_*.deb "$CACHE/$arch"
        [ -x "$bb" ] || die "no bin/busybox in busybox-static:$deb"
    fi
done
rm -rf "$CACHE/debs"

qemu=$CACHE/qemu
if [ ! -x "$qemu/usr/bin/qemu-aarch64" ] || [ ! -d "$qemu/usr/lib/binfmt.d" ]; then
    fetch_from suite:bookworm-backports qemu-user qemu-user-binfmt
    rm -rf "$qemu"; mkdir -p "$qemu"
    for f in "$CACHE"/debs/*.deb; do dpkg-deb -x "$f" "$qemu"; done
    [ -x "$qemu/usr/bin/qemu-aarch64" ] || die "no usr/bin/qemu-aarch64 in qemu-user"
fi
rm -rf "$CACHE/debs"
"$qemu/usr/bin/qemu-aarch64" --version >/dev/null 2>&1 || die "$qemu/usr/bin/qemu-aarch64 does not run"

if [ "${1:-}" != --no-binfmt ]; then
    bf=/proc/sys/fs/binfmt_misc
    if [ ! -e "$bf/register" ]; then
        mount -t binfmt_misc binfmt_misc "$bf" 2>/dev/null ||
            die "cannot mount binfmt_misc at $bf (needed to run foreign binaries)"
    fi
    for a in aarch64 arm riscv64 mipsel; do
        conf=$qemu/usr/lib/binfmt.d/qemu-$a.conf
        [ -f "$conf" ] || die "no $conf (qemu-user-binfmt)"
        interp=$qemu/usr/libexec/qemu-binfmt/$a-binfmt-P
        [ -e "$interp" ] || die "no $interp (qemu-user)"
        # :name:type:offset:magic:mask:interpreter:flags
        IFS=: read -r _ _ type off magic mask _ _ <"$conf"
        name=tinyd-qemu-$a
        # The newest entry is tried first: where another qemu is registered
        # for the same binaries (it may have come later), register again.
        if [ -e "$bf/$name" ] && { [ -e "$bf/qemu-$a" ] || ! grep -qx 'flags: PF' "$bf/$name"; }; then
            echo -1 >"$bf/$name"
        fi
        if [ ! -e "$bf/$name" ]; then
            printf ':%s:%s:%s:%s:%s:%s:PF' "$name" "$type" "$off" "$magic" "$mask" "$interp" >"$bf/register" 2>/dev/null ||
                die "cannot register $interp with binfmt_misc"
            say "registered $name ($interp) with binfmt_misc"
        fi
        grep -qx enabled "$bf/$name" || die "binfmt_misc entry $name is disabled"
    done
fi

end=$(date +%s)
[ "$downloaded" -gt 0 ] && say "done in $((end - start)) s, $((downloaded / 1000000)) MB downloaded into $CACHE"
echo "CARGO=/usr/bin/cargo"
echo "RUSTC=/usr/bin/rustc"
echo "QEMU_DIR=$qemu/usr/bin"
for arch in aarch64 armv7 mipsel; do echo "BUSYBOX_$arch=$CACHE/$arch/bin/busybox"; done
