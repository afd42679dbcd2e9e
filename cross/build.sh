#!/usr/bin/env bash
# Builds tinyd for the boards' CPUs, the full and the minimal build of each,
# as static, libc-free binaries, into dist/:
#
#   dist/tinyd-ARCH  dist/tinyd-minimal-ARCH  dist/SHA256SUMS
#
# ARCH: x86_64 (the native build, copied), aarch64, armv7, riscv64, mipsel.
#
#   cross/build.sh [ARCH...]      (default: all of them)
#
# Foreign targets use Debian's rustc (cross/install.sh) with
# RUSTC_BOOTSTRAP=1 -Zbuild-std=core and compiler_builtins' memory
# functions; the linker flags are in .cargo/config.toml and build.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=cross/targets.sh
. cross/targets.sh

# mipsel builds from a copy of the tree whose rustix (a copy of the one in
# cargo's registry) has cross/rustix-mips-at.patch applied: rustix 1.1.6's
# mips system calls lose $at on a real kernel. Prints the copy's directory.
mips_tree() {
    local copy=target/mipsel-src manifest rdir
    manifest=$(cargo metadata --format-version 1 --locked --filter-platform mipsel-unknown-linux-musl 2>/dev/null |
        grep -o '"manifest_path":"[^"]*/rustix-1\.1\.6/Cargo\.toml"' | head -n 1 | cut -d'"' -f4)
    rdir=$(dirname "$manifest")
    [ -f "$rdir/src/backend/linux_raw/arch/mips.rs" ] ||
        { echo "cross/build: FAILED: no rustix 1.1.6 source for the mipsel patch" >&2; exit 1; }
    rm -rf "$copy"; mkdir -p "$copy"
    cp -r Cargo.toml Cargo.lock build.rs link.ld src "$copy"/
    cp -r "$rdir" "$copy/rustix"
    patch -s -p1 -d "$copy/rustix" <cross/rustix-mips-at.patch ||
        { echo "cross/build: FAILED: cross/rustix-mips-at.patch does not apply" >&2; exit 1; }
    printf '\n[patch.crates-io]\nrustix = { path = "rustix" }\n' >>"$copy/Cargo.toml"
    echo "$copy"
}

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=("${ARCHS[@]}")
found=$(bash cross/install.sh)
CARGO=$(sed -n 's/^CARGO=//p' <<<"$found")
RUSTC=$(sed -n 's/^RUSTC=//p' <<<"$found")
mkdir -p dist

for arch in "${archs[@]}"; do
    if [ "$arch" = x86_64 ]; then
        make -s build minimal >&2
        cp target/release/tinyd dist/tinyd-x86_64
        cp target/minimal/release/tinyd dist/tinyd-minimal-x86_64
        continue
    fi
    t=$(target_of "$arch")
    # One target directory for both builds: core and rustix are built once.
    dir=$PWD/target/cross
    src=.
    if [ "$arch" = mipsel ]; then
        src=$(mips_tree)
    fi
    for build in full minimal; do
        feat=()
        [ $build = minimal ] && feat=(--no-default-features)
        echo "cross/build: $arch ($t), $build" >&2
        locked=--locked
        [ "$src" = . ] || locked=
        (cd "$src" && RUSTC_BOOTSTRAP=1 RUSTC=$RUSTC "$CARGO" build --release $locked -q \
            -Zbuild-std=core -Zbuild-std-features=compiler-builtins-mem \
            --target "$t" --target-dir "$dir" "${feat[@]}" --bin tinyd)
        out=dist/tinyd-$arch
        [ $build = minimal ] && out=dist/tinyd-minimal-$arch
        cp "$dir/$t/release/tinyd" "$out"
        # mips objects carry .pdr (procedure descriptors for debuggers), a
        # non-allocated section that --strip-all keeps: drop it.
        [ "$arch" = mipsel ] && llvm-objcopy --remove-section=.pdr --remove-section=.mdebug.abi32 "$out"
    done
done
(cd dist && sha256sum tinyd-* >SHA256SUMS)
echo "cross/build: dist/ holds $(ls dist | grep -c '^tinyd-') binaries and SHA256SUMS" >&2
