# The architectures tinyd ships and their Rust targets (sourced, bash).
# musl targets: tinyd links no libc, so the C library in the name only
# decides what rustc assumes (static, no crt objects with
# link-self-contained=no); -gnu targets would do as well.
ARCHS=(x86_64 aarch64 armv7 riscv64 mipsel)
target_of() {
    case "$1" in
    x86_64) echo x86_64-unknown-linux-gnu ;;
    aarch64) echo aarch64-unknown-linux-musl ;;
    armv7) echo armv7-unknown-linux-musleabihf ;;
    riscv64) echo riscv64gc-unknown-linux-musl ;;
    mipsel) echo mipsel-unknown-linux-musl ;;
    *) echo "cross: unknown architecture $1" >&2; return 64 ;;
    esac
}
