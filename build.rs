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
            "-Wl,--no-eh-frame-hdr",
        ] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
        // Discard the unwind tables: tinyd never unwinds.
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{dir}/link.ld");
        println!("cargo:rerun-if-changed=link.ld");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
