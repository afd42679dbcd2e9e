//! 32-bit arm (EABI, ARMv7): the kernel's `struct sigaction`, the
//! `sigreturn` restorer, and a raw system call shim (`sc` does not build
//! for arm: it still uses the removed `llvm_asm!`). Builds in ARM or Thumb-2
//! mode; tinyd ships Thumb-2 (`.cargo/config.toml`), a quarter smaller.
//!
//! The kernel's arm `struct sigaction` has 32-bit flags and a mask of two
//! 32-bit words (4-aligned: a `u64` there would add padding). Without
//! `SA_SIGINFO` the kernel builds a non-RT signal frame, so the restorer
//! must call `sigreturn` (119), not `rt_sigreturn` (173).

/// Raw system calls (EABI: number in r7, arguments in r0-r5, `svc 0`,
/// result in r0) and the numbers tinyd uses, from the kernel's headers.
pub mod raw {
    pub use super::super::generic::kernel_nr::*;
    use core::arch::asm;

    /// `svc 0` with the number in r7. In Thumb mode (tinyd's armv7 build)
    /// r7 is the frame pointer, which inline assembly may not name: it is
    /// saved in a scratch register around the call instead, as rustix does.
    #[cfg(not(target_feature = "thumb-mode"))]
    macro_rules! svc {
        ($n:expr, $($regs:tt)*) => {
            asm!("svc 0", in("r7") $n, $($regs)* options(nostack, preserves_flags))
        };
    }
    #[cfg(target_feature = "thumb-mode")]
    macro_rules! svc {
        ($n:expr, $($regs:tt)*) => {
            asm!("mov {tmp}, r7", "mov r7, {nr}", "svc 0", "mov r7, {tmp}",
                 nr = in(reg) $n, tmp = out(reg) _, $($regs)*
                 options(nostack, preserves_flags))
        };
    }

    /// # Safety
    /// As for the system call `n` with these arguments.
    #[inline(always)]
    pub unsafe fn syscall1(n: usize, a1: usize) -> usize {
        let ret;
        // SAFETY: the caller vouches for the call; only r0 is changed (and
        // r7 is restored).
        unsafe { svc!(n, inlateout("r0") a1 => ret,) };
        ret
    }

    /// # Safety
    /// As for the system call `n` with these arguments.
    #[inline(always)]
    pub unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> usize {
        let ret;
        // SAFETY: as in syscall1.
        unsafe { svc!(n, inlateout("r0") a1 => ret, in("r1") a2, in("r2") a3,) };
        ret
    }

    /// # Safety
    /// As for the system call `n` with these arguments.
    #[inline(always)]
    pub unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
        let ret;
        // SAFETY: as in syscall1.
        unsafe { svc!(n, inlateout("r0") a1 => ret, in("r1") a2, in("r2") a3, in("r3") a4,) };
        ret
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
        let ret;
        // SAFETY: as in syscall1.
        unsafe {
            svc!(n, inlateout("r0") a1 => ret, in("r1") a2, in("r2") a3, in("r3") a4,
                 in("r4") a5,)
        };
        ret
    }
}

use super::generic::SA_RESTORER;
pub use super::generic::consts::*;

/// The kernel's `struct sigaction` on arm: handler, 32-bit flags,
/// restorer, then the mask as two 32-bit words.
#[repr(C)]
pub struct KernelSigaction {
    handler: usize,
    flags: u32,
    restorer: usize,
    mask: [u32; 2],
}

impl KernelSigaction {
    /// `handler` is 0 (default), 1 (ignore) or a function's address; with
    /// `block_all`, every signal is blocked while the handler runs.
    pub fn new(handler: usize, flags: usize, block_all: bool) -> KernelSigaction {
        let m = if block_all { !0 } else { 0 };
        KernelSigaction {
            handler,
            flags: (flags | SA_RESTORER) as u32,
            restorer: restorer as *const () as usize,
            mask: [m, m],
        }
    }
}

/// Returns from a signal handler: `sigreturn` (119), the non-RT frame's
/// return, since tinyd's handlers do not ask for `SA_SIGINFO`.
#[unsafe(naked)]
extern "C" fn restorer() {
    core::arch::naked_asm!("mov r7, #119", "svc 0", "udf #0");
}
