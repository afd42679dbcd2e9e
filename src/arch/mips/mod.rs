//! 32-bit mips (o32, little or big endian): the kernel's `struct
//! sigaction`, its 128-signal mask, and a raw system call shim (`sc` does
//! not build for mips: it still uses the removed `llvm_asm!`).
//!
//! mips differs from every other architecture tinyd runs on: the flags come
//! first in `struct sigaction` (32 bits, then the handler, then a 128-bit
//! mask), there are 128 signals, `SIG_BLOCK` is 1 and `SIG_SETMASK` 3,
//! signal numbers differ (SIGCHLD is 18: code elsewhere takes them from
//! rustix), there is no `SA_RESTORER` (the kernel returns through its own
//! trampoline), and a failed system call sets a3 and returns a positive
//! errno in v0, which the shim below turns into the -errno that every other
//! architecture returns. The kernel does not preserve `$at` across a system
//! call, and Rust's `asm!` cannot declare it clobbered: the shim saves it
//! in v1 (found on a booted malta kernel: qemu-user preserves `$at`).

/// Raw system calls (o32: number in v0, arguments in a0-a3 and then on the
/// stack at 16($sp), `syscall`, error flag in a3) and the numbers tinyd
/// uses, from the kernel's headers.
pub mod raw {
    pub use super::super::generic::kernel_nr::*;
    use core::arch::asm;

    /// v0 and the a3 error flag as every other architecture's result.
    fn result(v0: usize, err: usize) -> usize {
        if err != 0 { v0.wrapping_neg() } else { v0 }
    }

    /// # Safety
    /// As for the system call `n` with these arguments.
    #[inline(always)]
    pub unsafe fn syscall1(n: usize, a1: usize) -> usize {
        // SAFETY: the caller vouches for the call; the kernel ignores the
        // arguments a call does not take.
        unsafe { syscall4(n, a1, 0, 0, 0) }
    }

    /// # Safety
    /// As for the system call `n` with these arguments.
    #[inline(always)]
    pub unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> usize {
        // SAFETY: as in syscall1.
        unsafe { syscall4(n, a1, a2, a3, 0) }
    }

    /// # Safety
    /// As for the system call `n` with these arguments.
    #[inline(always)]
    pub unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
        let (v0, err);
        // SAFETY: the caller vouches for the call; the kernel may change
        // v0, a3 and the temporaries t0-t9, all declared clobbered. It
        // also returns with a stale $at (its o32 entry never saves $at,
        // its exit restores it), which asm! cannot name: $at is kept in
        // v1, which the kernel does save and restore, and put back.
        unsafe {
            asm!(".set noat", "move $3, $1", "syscall", "move $1, $3", ".set at",
                 inlateout("$2") n => v0, in("$4") a1, in("$5") a2, in("$6") a3,
                 inlateout("$7") a4 => err, lateout("$3") _,
                 lateout("$8") _, lateout("$9") _, lateout("$10") _, lateout("$11") _,
                 lateout("$12") _, lateout("$13") _, lateout("$14") _, lateout("$15") _,
                 lateout("$24") _, lateout("$25") _,
                 options(nostack, preserves_flags));
        }
        result(v0, err)
    }

    /// # Safety
    /// As for the system call `n` with these arguments.
    #[inline(always)]
    pub unsafe fn syscall5(
        n: usize,
        a1: usize,
        a2: usize,
        a3: usize,
        a4: usize,
        a5: usize,
    ) -> usize {
        let (v0, err);
        // SAFETY: as in syscall4; the fifth argument goes in the o32
        // argument area at 16($sp) of a frame made and dropped around the
        // call, so the stack pointer is the same after it.
        unsafe {
            asm!(".set noat", "subu $sp, 32", "sw {a5}, 16($sp)", "move $3, $1", "syscall", "move $1, $3",
                 "addu $sp, 32", ".set at",
                 a5 = in(reg) a5,
                 inlateout("$2") n => v0, in("$4") a1, in("$5") a2, in("$6") a3,
                 inlateout("$7") a4 => err, lateout("$3") _,
                 lateout("$8") _, lateout("$9") _, lateout("$10") _, lateout("$11") _,
                 lateout("$12") _, lateout("$13") _, lateout("$14") _, lateout("$15") _,
                 lateout("$24") _, lateout("$25") _,
                 options(preserves_flags));
        }
        result(v0, err)
    }
}

/// `getsockopt` level and option for a Unix socket's peer credentials
/// (mips numbers its socket options as IRIX did).
pub const SOL_SOCKET: usize = 0xffff;
pub const SO_PEERCRED: usize = 18;

/// Highest signal number.
pub const NSIG: i32 = 128;
/// The kernel's sigset size in bytes (the last argument of rt_sigaction).
pub const SIGSET_BYTES: usize = 16;
/// `how` values of rt_sigprocmask.
pub const SIG_BLOCK: usize = 1;
pub const SIG_SETMASK: usize = 3;

/// The kernel's `struct sigaction` on mips: 32-bit flags, handler, then the
/// 128-bit mask.
#[repr(C)]
pub struct KernelSigaction {
    flags: u32,
    handler: usize,
    mask: [u32; 4],
}

impl KernelSigaction {
    /// `handler` is 0 (default), 1 (ignore) or a function's address; with
    /// `block_all`, every signal is blocked while the handler runs.
    pub fn new(handler: usize, flags: usize, block_all: bool) -> KernelSigaction {
        let m = if block_all { !0 } else { 0 };
        KernelSigaction {
            flags: flags as u32,
            handler,
            mask: [m; 4],
        }
    }
}
