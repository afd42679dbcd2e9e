//! aarch64: the generic numbers, the `struct sigaction` with a restorer
//! (the same shape as x86_64's), the `rt_sigreturn` restorer; raw system
//! calls from `sc`.
//!
//! The kernel would return through the vDSO's trampoline without a
//! restorer, but a board's kernel may be built without the vDSO; like musl,
//! tinyd brings its own.

pub use super::generic::WithRestorer as KernelSigaction;
pub use super::generic::consts::*;
pub use super::generic::sc_raw as raw;

/// Returns from a signal handler: `rt_sigreturn` (syscall 139). The kernel
/// puts this address in the link register before calling the handler.
#[unsafe(naked)]
pub(super) extern "C" fn restorer() {
    core::arch::naked_asm!("mov x8, #139", "svc #0", "udf #0");
}
