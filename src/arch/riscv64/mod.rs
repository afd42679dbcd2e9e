//! riscv64: the generic numbers, the kernel's `struct sigaction` without a
//! restorer; raw system calls from `sc`.
//!
//! riscv has no `SA_RESTORER` and no restorer field: the kernel always
//! returns from a handler through the vDSO's `rt_sigreturn` trampoline.

pub use super::generic::consts::*;
pub use super::generic::sc_raw as raw;

/// The kernel's generic `struct sigaction` without `SA_RESTORER`: handler,
/// flags, then the 64-bit mask.
#[repr(C)]
pub struct KernelSigaction {
    handler: usize,
    flags: usize,
    mask: u64,
}

impl KernelSigaction {
    /// `handler` is 0 (default), 1 (ignore) or a function's address; with
    /// `block_all`, every signal is blocked while the handler runs.
    pub fn new(handler: usize, flags: usize, block_all: bool) -> KernelSigaction {
        KernelSigaction {
            handler,
            flags,
            mask: if block_all { !0 } else { 0 },
        }
    }
}
