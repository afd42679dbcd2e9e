//! Everything that differs between CPU architectures, in one place: the
//! kernel's `struct sigaction` layout and the signal restorer (here), and the
//! process entry point and memory functions (`*_entry.rs`, used by the binary
//! only). Porting tinyd to aarch64, arm or riscv64 means adding one file of
//! each kind; syscall numbers come from `sc` and rustix.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("tinyd: this architecture is not ported yet (see src/arch/mod.rs)");
