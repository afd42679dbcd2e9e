//! What most architectures share, for their modules to take: the kernel's
//! asm-generic signal and socket numbers (`consts`: all but mips), the
//! `struct sigaction` that has a restorer field (`WithRestorer`: x86_64,
//! aarch64), raw system calls from `sc` (`sc_raw`: where `sc` builds), and
//! the syscall numbers for the shims of arm and mips (`kernel_nr`).

/// The asm-generic values (every architecture here but mips).
#[cfg(not(target_arch = "mips"))]
pub mod consts {
    /// Highest signal number.
    pub const NSIG: i32 = 64;
    /// The kernel's sigset size in bytes (the last argument of
    /// rt_sigaction and rt_sigprocmask).
    pub const SIGSET_BYTES: usize = 8;
    /// `how` values of rt_sigprocmask.
    pub const SIG_BLOCK: usize = 0;
    pub const SIG_SETMASK: usize = 2;
    /// `getsockopt` level and option for a Unix socket's peer credentials.
    pub const SOL_SOCKET: usize = 1;
    pub const SO_PEERCRED: usize = 17;
}

/// Raw system calls and the numbers tinyd uses, from `sc`.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
pub mod sc_raw {
    pub use sc::nr::{
        CLONE, CLOSE_RANGE, EXECVE, EXIT_GROUP, GETSOCKOPT, RT_SIGACTION, RT_SIGPROCMASK,
    };
    pub use sc::{syscall1, syscall3, syscall4, syscall5};
}

/// The numbers tinyd's own shims use, from the kernel's headers (where
/// `sc` does not build).
#[cfg(any(target_arch = "arm", target_arch = "mips"))]
pub mod kernel_nr {
    use linux_raw_sys::general as k;

    pub const CLONE: usize = k::__NR_clone as usize;
    pub const CLOSE_RANGE: usize = k::__NR_close_range as usize;
    pub const EXECVE: usize = k::__NR_execve as usize;
    pub const EXIT_GROUP: usize = k::__NR_exit_group as usize;
    pub const GETSOCKOPT: usize = k::__NR_getsockopt as usize;
    pub const RT_SIGACTION: usize = k::__NR_rt_sigaction as usize;
    pub const RT_SIGPROCMASK: usize = k::__NR_rt_sigprocmask as usize;
}

/// `SA_RESTORER` from the kernel's `asm/signal.h` (the same on x86_64,
/// aarch64 and arm).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm"))]
pub const SA_RESTORER: usize = 0x0400_0000;

/// The kernel's `struct sigaction` where the architecture has
/// `SA_RESTORER` and 64-bit words: handler, flags, restorer, then the
/// 64-bit mask; the restorer is the architecture's own `rt_sigreturn` stub.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[repr(C)]
pub struct WithRestorer {
    handler: usize,
    flags: usize,
    restorer: usize,
    mask: u64,
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl WithRestorer {
    /// `handler` is 0 (default), 1 (ignore) or a function's address; with
    /// `block_all`, every signal is blocked while the handler runs.
    pub fn new(handler: usize, flags: usize, block_all: bool) -> WithRestorer {
        WithRestorer {
            handler,
            flags: flags | SA_RESTORER,
            restorer: super::imp::restorer as *const () as usize,
            mask: if block_all { !0 } else { 0 },
        }
    }
}
