//! x86_64: the kernel's `struct sigaction` and the `rt_sigreturn` restorer.
//!
//! The kernel requires `SA_RESTORER` on x86_64: without a restorer, returning
//! from a signal handler jumps to address 0.

/// `SA_RESTORER` from the kernel's `asm/signal.h`.
pub const SA_RESTORER: u64 = 0x0400_0000;

/// The kernel's `struct sigaction` on x86_64 (not libc's): handler, flags,
/// restorer, then the 64-bit mask.
#[repr(C)]
pub struct KernelSigaction {
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: u64,
}

/// Returns from a signal handler: `rt_sigreturn` (syscall 15). The kernel
/// pushes this address as the handler's return address.
#[unsafe(naked)]
pub extern "C" fn restorer() {
    core::arch::naked_asm!("mov eax, 15", "syscall", "ud2");
}

/// The address to pass as `restorer` in [`KernelSigaction`].
pub fn restorer_addr() -> usize {
    restorer as *const () as usize
}
