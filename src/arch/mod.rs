//! Everything that differs between CPU architectures, and nothing else: the
//! kernel's `struct sigaction` layout and signal restorer, the signal-mask
//! size and `how` values, the raw system call path for the few calls rustix
//! has no stable API for, and (in `ARCH/entry.rs`, for the binary only) the
//! process entry point `_start`.
//!
//! One folder per architecture. x86_64, aarch64 and riscv64 take their raw
//! system calls from `sc`; 32-bit arm and mips, where `sc` does not build
//! (it still uses the removed `llvm_asm!`), have a small shim of their own
//! here. Code outside this folder must never name an architecture: it calls
//! [`raw`] and [`KernelSigaction::new`] and reads the constants below. (The
//! one exception is a crate-level attribute, which only a crate root can
//! carry: `lib.rs` and `main.rs` enable `asm_experimental_arch` on mips.)
//! `entry.rs` picks the binary's `_start` the same way `imp` is picked here.
//!
//! Every module here must keep the same shape: `KernelSigaction` with
//! `new(handler, flags, block_all)`, `NSIG`, `SIGSET_BYTES`, `SIG_BLOCK`,
//! `SIG_SETMASK`, `SOL_SOCKET`, `SO_PEERCRED`, and `raw::{syscall1, syscall3, syscall4, syscall5}` with
//! the numbers `CLONE`, `RT_SIGACTION`, `RT_SIGPROCMASK`, `EXECVE`,
//! `GETSOCKOPT`, `EXIT_GROUP`, `CLOSE_RANGE`. Each `syscallN` returns the
//! kernel's raw result: -4095..-1 is an errno, as on every architecture but
//! mips (whose shim converts).

#[cfg_attr(target_arch = "x86_64", path = "x86_64/mod.rs")]
#[cfg_attr(target_arch = "aarch64", path = "aarch64/mod.rs")]
#[cfg_attr(target_arch = "arm", path = "arm/mod.rs")]
#[cfg_attr(target_arch = "riscv64", path = "riscv64/mod.rs")]
#[cfg_attr(target_arch = "mips", path = "mips/mod.rs")]
mod imp;

mod generic;

pub use imp::{
    KernelSigaction, NSIG, SIG_BLOCK, SIG_SETMASK, SIGSET_BYTES, SO_PEERCRED, SOL_SOCKET, raw,
};

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "mips"
)))]
compile_error!("tinyd: this architecture is not ported yet (see src/arch/mod.rs)");
