//! Link the `tinyd` binary without start files or libc, statically, with no
//! ELF interpreter. Only the binary gets these flags: the library and the
//! tests link normally against std.
//!
//! Two linkers: the host's `cc` (gcc-style flags, `-Wl,` for the linker)
//! for the native build, and `ld.lld` itself for the boards' CPUs
//! (`linker-flavor=ld.lld` in `.cargo/config.toml`), which refuses the
//! gcc-style flags and takes the linker's own.
fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let rustflags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let bare = rustflags
        .split('\x1f')
        .any(|f| f.starts_with("linker-flavor=ld"));
    if target_os == "linux" {
        let linker = [
            "--build-id=none",
            "-z",
            "noexecstack",
            "-z",
            "norelro",
            "-z",
            "noseparate-code",
            "--no-eh-frame-hdr",
        ];
        if bare {
            // core is built here (-Zbuild-std) without unwind tables: there
            // is no .eh_frame to discard.
            // mips' linkers default to `__start`: name the entry point.
            println!("cargo:rustc-link-arg-bins=-static");
            println!("cargo:rustc-link-arg-bins=--entry=_start");
            for arg in linker {
                println!("cargo:rustc-link-arg-bins={arg}");
            }
            // Where the big statics go (link.ld; its /DISCARD/ of unwind
            // tables finds nothing here).
            let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
            println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
            println!("cargo:rerun-if-changed=link.ld");
        } else {
            for arg in ["-nostartfiles", "-nostdlib", "-static"] {
                println!("cargo:rustc-link-arg-bins={arg}");
            }
            println!("cargo:rustc-link-arg-bins=-Wl,{}", linker.join(","));
            // Discard the unwind tables that the precompiled core brings
            // (tinyd never unwinds), and place the big statics.
            let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{dir}/link.ld");
            println!("cargo:rerun-if-changed=link.ld");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
