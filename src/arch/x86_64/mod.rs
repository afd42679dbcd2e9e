//! x86_64: the generic numbers, the `struct sigaction` with a restorer, the
//! `rt_sigreturn` restorer; raw system calls from `sc`.
//!
//! The kernel requires `SA_RESTORER` on x86_64: without a restorer, returning
//! from a signal handler jumps to address 0.

pub use super::generic::WithRestorer as KernelSigaction;
pub use super::generic::consts::*;
pub use super::generic::sc_raw as raw;

/// Returns from a signal handler: `rt_sigreturn` (syscall 15). The kernel
/// pushes this address as the handler's return address.
#[unsafe(naked)]
pub(super) extern "C" fn restorer() {
    core::arch::naked_asm!("mov eax, 15", "syscall", "ud2");
}
