//! Signals through a self-pipe.
//!
//! The handler does one thing: write the signal number, one byte, to a
//! non-blocking pipe. It never blocks, never allocates, and ignores a full
//! pipe (a full pipe already means "signals pending"). The event loop polls
//! the read end and drains it into a [`Pending`] set. In a new child,
//! between fork and exec, it instead gives the signal its default action
//! (see [`forked_child`]).

use core::sync::atomic::{AtomicI32, Ordering};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::Signal;

use crate::arch;
use crate::os::sys::{self, Disposition, SigMask, Signo};

// The numbers differ between architectures (mips): rustix knows them.
pub const SIGHUP: Signo = Signal::HUP.as_raw();
pub const SIGINT: Signo = Signal::INT.as_raw();
pub const SIGKILL: Signo = Signal::KILL.as_raw();
pub const SIGUSR1: Signo = Signal::USR1.as_raw();
pub const SIGUSR2: Signo = Signal::USR2.as_raw();
pub const SIGPIPE: Signo = Signal::PIPE.as_raw();
pub const SIGTERM: Signo = Signal::TERM.as_raw();
pub const SIGCHLD: Signo = Signal::CHILD.as_raw();
pub const SIGSTOP: Signo = Signal::STOP.as_raw();

/// The signals tinyd catches.
pub const CAUGHT: [Signo; 6] = [SIGHUP, SIGINT, SIGUSR1, SIGUSR2, SIGTERM, SIGCHLD];

/// The write end of the self-pipe plus one, for the handler; 0 before
/// `install` (zero, so that it lives in .bss and the .data page stays
/// clean).
static WRITE_FD: AtomicI32 = AtomicI32::new(0);

/// WRITE_FD in a new child of tinyd, between fork and exec.
const IN_CHILD: i32 = -1;

extern "C" fn on_signal(sig: Signo) {
    let v = WRITE_FD.load(Ordering::Relaxed);
    if v == IN_CHILD {
        // The signal is meant for the command about to run: its default
        // action, as once exec has reset the handler. The default first,
        // then the signal again (blocked until this handler returns).
        let _ = sys::sigaction(sig, Disposition::Default, 0);
        if let Some(s) = Signal::from_named_raw(sig) {
            let _ = rustix::process::kill_process(rustix::process::getpid(), s);
        }
        return;
    }
    let fd = v - 1;
    if fd >= 0 {
        // SAFETY: WRITE_FD holds the write end of the self-pipe, which stays
        // open for the life of the process once installed.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        // A full pipe (EAGAIN) already wakes the loop: nothing to do.
        let _ = rustix::io::write(fd, &[sig as u8]);
    }
}

/// A set of pending signals, bit `n` for signal `n`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Pending(pub u64);

impl Pending {
    pub fn add(&mut self, sig: Signo) {
        if (1..64).contains(&sig) {
            self.0 |= 1 << sig;
        }
    }
    /// Returns whether `sig` was pending, and clears it.
    pub fn take(&mut self, sig: Signo) -> bool {
        let bit = 1u64 << sig;
        let was = self.0 & bit != 0;
        self.0 &= !bit;
        was
    }
}

/// The self-pipe: read end for the loop, write end for the handler.
pub struct SelfPipe {
    read: OwnedFd,
    _write: OwnedFd,
}

impl SelfPipe {
    /// Creates the pipe (non-blocking, close-on-exec) and installs the
    /// handler for [`CAUGHT`]; SIGPIPE is ignored (a closed log reader or
    /// syslog socket must not kill tinyd).
    pub fn install() -> Result<SelfPipe, Errno> {
        let (read, write) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
        WRITE_FD.store(
            rustix::fd::AsRawFd::as_raw_fd(&write) + 1,
            Ordering::Relaxed,
        );
        for sig in CAUGHT {
            let extra = if sig == SIGCHLD { sys::SA_NOCLDSTOP } else { 0 };
            sys::sigaction(sig, Disposition::Catch(on_signal), sys::SA_RESTART | extra)?;
        }
        sys::sigaction(SIGPIPE, Disposition::Ignore, 0)?;
        Ok(SelfPipe {
            read,
            _write: write,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Reads every byte in the pipe into `pending`, until EAGAIN.
    pub fn drain(&self, pending: &mut Pending) {
        let mut buf = [0u8; 64];
        loop {
            match rustix::io::read(&self.read, &mut buf) {
                Ok(0) => return,
                Ok(n) => buf[..n].iter().for_each(|&s| pending.add(s as Signo)),
                Err(Errno::INTR) => continue,
                Err(_) => return, // EAGAIN: drained
            }
        }
    }
}

/// First thing in a new child that will exec (signals still blocked): from
/// now on the handler never writes into tinyd's pipe; it gives a signal its
/// default action instead. The caught signals need no reset of their own:
/// exec resets every handler to the default.
pub fn forked_child() {
    WRITE_FD.store(IN_CHILD, Ordering::Relaxed);
}

/// Resets the ignored SIGPIPE (an ignored signal survives exec) and empties
/// the mask, in a new child just before exec ([`forked_child`] first).
pub fn reset_for_exec() -> Result<(), Errno> {
    sys::sigaction(SIGPIPE, Disposition::Default, 0)?;
    sys::sigprocmask(arch::SIG_SETMASK, SigMask::EMPTY).map(drop)
}

/// Resets every signal's disposition to default and unblocks them all
/// (daemon(7) step 1). A handler does not survive exec, so only an
/// ignored signal can be anything but default here: those are reset, as
/// `/proc/self/status` names them (three syscalls instead of 64); without
/// /proc (early boot), every signal. SIGKILL and SIGSTOP cannot be
/// changed; others that the kernel refuses are left as they are.
pub fn reset_all() -> Result<(), Errno> {
    let ignored = ignored_at_start().unwrap_or(u128::MAX);
    for sig in 1..=arch::NSIG {
        if sig != SIGKILL && sig != SIGSTOP && ignored >> (sig - 1) & 1 != 0 {
            let _ = sys::sigaction(sig, Disposition::Default, 0);
        }
    }
    sys::sigprocmask(arch::SIG_SETMASK, SigMask::EMPTY).map(drop)
}

/// The signals this process has ignored, from `/proc/self/status`.
#[inline(never)]
fn ignored_at_start() -> Option<u128> {
    let fd = rustix::fs::open(
        c"/proc/self/status",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    // SigIgn comes about 700 bytes in (after the ids, groups and memory
    // lines); a read that ends before its newline means "unknown", and
    // every signal is reset. Small: this stack page stays for good.
    let mut buf = [0u8; 1536];
    let n = loop {
        match rustix::io::read(&fd, &mut buf) {
            Err(Errno::INTR) => {}
            r => break r.ok()?,
        }
    };
    crate::pure::proc::sig_ignored(&buf[..n])
}

/// Blocks every signal, returning the previous mask (around fork, so that a
/// signal cannot run tinyd's handler in the child).
pub fn block_all() -> Result<SigMask, Errno> {
    sys::sigprocmask(arch::SIG_BLOCK, SigMask::FULL)
}

/// Restores a mask returned by [`block_all`].
pub fn restore(mask: SigMask) -> Result<(), Errno> {
    sys::sigprocmask(arch::SIG_SETMASK, mask).map(drop)
}

impl AsFd for SelfPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}
