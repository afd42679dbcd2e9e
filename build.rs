//! Link the `tinyd` binary without start files or libc, statically, with no
//! ELF interpreter. Only the binary gets these flags: the library and the
//! tests link normally against std.
fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        for arg in [
            "-nostartfiles",
            "-nostdlib",
            "-static",
            "-Wl,--build-id=none",
            "-Wl,-z,noexecstack",
            "-Wl,-z,norelro",
            "-Wl,-z,noseparate-code",
        ] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
