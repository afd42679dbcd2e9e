#!/usr/bin/env bash
# Runs the integration suites against a foreign build of tinyd under
# qemu-user (binfmt_misc, registered by cross/install.sh), with the
# children from that architecture's busybox:
#
#   cross/test.sh ARCH [full|minimal]       (dist/tinyd-ARCH, from make cross)
#
# The suites run in a private mount namespace in which /bin/sh, sleep, cat,
# true, false and readlink (what the tests start as COMMAND or run as
# scripts' interpreter) are the architecture's static busybox, bind-mounted
# over the host's; the kernel hands them to qemu-user like tinyd itself.
# Debian 12 has no riscv64 port, so riscv64's children are the host's.
#
# Tests that cannot pass under qemu-user are listed, with the exact
# limitation, in cross/qemu-user-limits; they are skipped here and printed
# as SKIPPED with their reason. Missing qemu or binfmt_misc is a failure,
# never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: cross/test.sh ARCH [full|minimal]}
build=${2:-full}
bin=$PWD/dist/tinyd-$arch
suites=(daemon command logs logwriter supervise config control reload early_boot ready)
if [ "$build" = minimal ]; then
    bin=$PWD/dist/tinyd-minimal-$arch
    suites=(daemon command logs supervise early_boot)
fi
[ -x "$bin" ] || { echo "cross/test: FAILED: no $bin (make cross)"; exit 1; }

found=$(bash cross/install.sh)
bb=$(sed -n "s/^BUSYBOX_$arch=//p" <<<"$found")
"$bin" --version >/dev/null 2>&1 ||
    { echo "cross/test: FAILED: $bin does not run here (qemu-user or binfmt_misc missing?)"; exit 1; }

skips=()
while IFS=$'\t' read -r name archs why; do
    case "$name" in '' | '#'*) continue ;; esac
    case ",$archs," in *",$arch,"* | *,all,*) ;; *) continue ;; esac
    skips+=(--skip "$name")
    echo "cross/test: $arch: SKIPPED $name: $why"
done <cross/qemu-user-limits

args=()
for s in "${suites[@]}"; do args+=(--test "$s"); done
# Build the test binaries first, outside the namespace.
cargo test --release --locked --no-run "${args[@]}" >/dev/null 2>&1 ||
    cargo test --release --locked --no-run "${args[@]}"

binds=
if [ -n "$bb" ]; then
    for tool in sh sleep cat true false readlink; do
        binds="$binds mount --bind $bb $(readlink -f "/bin/$tool") &&"
    done
    echo "cross/test: $arch ($build): children from $bb"
else
    echo "cross/test: $arch ($build): no busybox for $arch in Debian 12: children are the host's"
fi
echo "cross/test: $arch ($build): $bin under $(sed -n 's/^interpreter //p' /proc/sys/fs/binfmt_misc/tinyd-qemu-"${arch/armv7/arm}")"
TINYD_BIN=$bin exec unshare --mount --propagation private -- sh -c \
    "$binds exec \"\$0\" \"\$@\"" \
    cargo test --release --locked --no-fail-fast "${args[@]}" -- --test-threads=4 "${skips[@]}"
