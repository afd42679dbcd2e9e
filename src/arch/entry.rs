//! The binary's entry point, `_start`, for the architecture being built:
//! included by `src/main.rs` only (the library has no `_start`, so that the
//! tests, which link it with std, keep libc's).

#[cfg_attr(target_arch = "x86_64", path = "x86_64/entry.rs")]
#[cfg_attr(target_arch = "aarch64", path = "aarch64/entry.rs")]
#[cfg_attr(target_arch = "arm", path = "arm/entry.rs")]
#[cfg_attr(target_arch = "riscv64", path = "riscv64/entry.rs")]
#[cfg_attr(target_arch = "mips", path = "mips/entry.rs")]
mod imp;
