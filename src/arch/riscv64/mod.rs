//! riscv64: the kernel's `struct sigaction`; raw system calls from `sc`.
//!
//! riscv has no `SA_RESTORER` and no restorer field: the kernel always
//! returns from a handler through the vDSO's `rt_sigreturn` trampoline.

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
