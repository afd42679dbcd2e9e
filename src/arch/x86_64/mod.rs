//! x86_64: the kernel's `struct sigaction` and the `rt_sigreturn` restorer;
//! raw system calls from `sc`.
//!
//! The kernel requires `SA_RESTORER` on x86_64: without a restorer, returning
//! from a signal handler jumps to address 0.

/// Raw system calls and the numbers tinyd uses, from `sc`.
pub mod raw {
    pub use sc::nr::{
        CLONE, CLOSE_RANGE, EXECVE, EXIT_GROUP, GETSOCKOPT, RT_SIGACTION, RT_SIGPROCMASK,
    };
    pub use sc::{syscall1, syscall3, syscall4, syscall5};
}

/// `getsockopt` level and option for a Unix socket's peer credentials
/// (mips numbers its socket options as IRIX did).
pub const SOL_SOCKET: usize = 1;
pub const SO_PEERCRED: usize = 17;

/// Highest signal number.
pub const NSIG: i32 = 64;
/// The kernel's sigset size in bytes (the last argument of rt_sigaction).
pub const SIGSET_BYTES: usize = 8;
/// `how` values of rt_sigprocmask.
pub const SIG_BLOCK: usize = 0;
pub const SIG_SETMASK: usize = 2;

/// `SA_RESTORER` from the kernel's `asm/signal.h`.
const SA_RESTORER: usize = 0x0400_0000;

/// The kernel's `struct sigaction` on x86_64 (not libc's): handler, flags,
/// restorer, then the 64-bit mask.
#[repr(C)]
pub struct KernelSigaction {
    handler: usize,
    flags: usize,
    restorer: usize,
    mask: u64,
}

impl KernelSigaction {
    /// `handler` is 0 (default), 1 (ignore) or a function's address; with
    /// `block_all`, every signal is blocked while the handler runs.
    pub fn new(handler: usize, flags: usize, block_all: bool) -> KernelSigaction {
        KernelSigaction {
            handler,
            flags: flags | SA_RESTORER,
            restorer: restorer as *const () as usize,
            mask: if block_all { !0 } else { 0 },
        }
    }
}

/// Returns from a signal handler: `rt_sigreturn` (syscall 15). The kernel
/// pushes this address as the handler's return address.
#[unsafe(naked)]
extern "C" fn restorer() {
    core::arch::naked_asm!("mov eax, 15", "syscall", "ud2");
}
