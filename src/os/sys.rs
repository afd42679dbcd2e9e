//! Raw system calls that rustix has no stable API for: fork (as `clone`),
//! `rt_sigaction` with a restorer, `rt_sigprocmask`, `execve`, `exit_group`,
//! `close_range` and `getsockopt(SO_PEERCRED)`, made through `arch::raw`
//! (`sc`, or the architecture's own shim). Everything else goes through
//! rustix. Nothing here may name an architecture: layouts and numbers that
//! differ are `arch`'s.
//!
//! tinyd is single-threaded and has no allocator, which is what makes a bare
//! fork sound here: the child owns a full copy of a one-thread address space.

use core::ffi::CStr;
#[cfg(feature = "ctl")]
use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::{Errno, IoSlice};
use rustix::process::Pid;

use crate::arch::{self, raw};

/// A signal number as the kernel sees it (1..=64).
pub type Signo = i32;

/// Turns a raw syscall return into a result: -4095..-1 are errnos.
fn check(ret: usize) -> Result<usize, Errno> {
    let r = ret as isize;
    if (-4095..0).contains(&r) {
        Err(Errno::from_raw_os_error(-r as i32))
    } else {
        Ok(ret)
    }
}

/// Which side of a fork we are on.
pub enum Forked {
    Child,
    Parent(Pid),
}

/// `clone(SIGCHLD, 0, 0, 0, 0)`—fork: works on every architecture, including
/// those without a `fork` syscall (aarch64, riscv64). The order of the last
/// three arguments differs between architectures; zeros do not care.
pub fn fork() -> Result<Forked, Errno> {
    let sigchld = rustix::process::Signal::CHILD.as_raw() as usize;
    // SAFETY: clone without CLONE_VM and with no new stack is fork: the child
    // gets a copy of this single-threaded address space and resumes here
    // with a return value of 0. No pointers are passed.
    let ret = check(unsafe { raw::syscall5(raw::CLONE, sigchld, 0, 0, 0, 0) })?;
    Ok(match Pid::from_raw(ret as i32) {
        None => Forked::Child,
        Some(pid) => Forked::Parent(pid),
    })
}

/// What a signal should do.
#[derive(Clone, Copy)]
pub enum Disposition {
    Default,
    Ignore,
    Catch(extern "C" fn(Signo)),
}

/// `SA_RESTART`: restart syscalls interrupted by the handler (poll still
/// returns EINTR). The same value on every architecture.
pub const SA_RESTART: usize = 0x1000_0000;
/// `SA_NOCLDSTOP`: no SIGCHLD when a child merely stops.
pub const SA_NOCLDSTOP: usize = 1;

/// `rt_sigaction(sig, &act, NULL, SIGSET_BYTES)`—sets a signal's
/// disposition, with the architecture's restorer where it has one.
pub fn sigaction(sig: Signo, disposition: Disposition, flags: usize) -> Result<(), Errno> {
    let handler = match disposition {
        Disposition::Default => 0,
        Disposition::Ignore => 1,
        Disposition::Catch(f) => f as usize,
    };
    // Every signal is blocked while a handler runs: handlers never nest, so
    // a storm cannot pile their frames (with FPU state) on the stack.
    let block_all = matches!(disposition, Disposition::Catch(_));
    let act = arch::KernelSigaction::new(handler, flags, block_all);
    // SAFETY: `act` is a valid kernel sigaction for this architecture that
    // lives across the call; the old action is not requested (null); the
    // sigset size is the one this architecture's kernel expects.
    check(unsafe {
        raw::syscall4(
            raw::RT_SIGACTION,
            sig as usize,
            &act as *const _ as usize,
            0,
            arch::SIGSET_BYTES,
        )
    })
    .map(drop)
}

/// A signal mask as the kernel reads it: bit `n - 1` of the words stands
/// for signal `n`; the kernel reads the first `arch::SIGSET_BYTES` bytes
/// (8, or 16 on mips with its 128 signals).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct SigMask(#[allow(dead_code, reason = "read and written by the kernel")] [u64; 2]);

impl SigMask {
    pub const EMPTY: SigMask = SigMask([0; 2]);
    pub const FULL: SigMask = SigMask([!0; 2]);
}

/// `rt_sigprocmask(how, &set, &old, SIGSET_BYTES)`—changes the blocked
/// set (`how` is `arch::SIG_BLOCK` or `arch::SIG_SETMASK`), returning the
/// old one.
pub fn sigprocmask(how: usize, set: SigMask) -> Result<SigMask, Errno> {
    let mut old = SigMask::EMPTY;
    // SAFETY: both pointers are to live 16-byte masks, at least the size
    // the kernel reads and writes.
    check(unsafe {
        raw::syscall4(
            raw::RT_SIGPROCMASK,
            how,
            &set as *const SigMask as usize,
            &mut old as *mut SigMask as usize,
            arch::SIGSET_BYTES,
        )
    })?;
    Ok(old)
}

/// `execve(path, argv, envp)`—returns only on failure, with the error.
///
/// # Safety
/// `argv` and `envp` must point to null-terminated arrays of pointers to
/// NUL-terminated strings, all valid until the call returns.
pub unsafe fn execve(path: &CStr, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: path is NUL-terminated; the caller vouches for argv and envp.
    let ret = unsafe {
        raw::syscall3(
            raw::EXECVE,
            path.as_ptr() as usize,
            argv as usize,
            envp as usize,
        )
    };
    match check(ret) {
        Err(e) => e,
        Ok(_) => Errno::INVAL, // execve does not return on success
    }
}

/// The uid of a Unix socket's peer, `getsockopt(SO_PEERCRED)`. Not rustix's
/// `socket_peercred`: for a peer in another PID namespace the kernel gives
/// pid 0, which rustix's `UCred` (a non-zero `Pid`) cannot hold.
#[cfg(feature = "ctl")]
pub fn peer_uid(fd: BorrowedFd<'_>) -> Result<u32, Errno> {
    // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
    let mut cred = [0u32; 3];
    let mut len = core::mem::size_of_val(&cred) as u32;
    // SAFETY: `cred` and `len` are live, writable, and `len` holds the size
    // of `cred`, so the kernel writes at most that many bytes.
    check(unsafe {
        raw::syscall5(
            raw::GETSOCKOPT,
            fd.as_raw_fd() as usize,
            arch::SOL_SOCKET,
            arch::SO_PEERCRED,
            cred.as_mut_ptr() as usize,
            &mut len as *mut u32 as usize,
        )
    })?;
    Ok(cred[1])
}

/// `exit_group(code)`—ends the process.
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group takes an int and never returns.
    unsafe {
        raw::syscall1(raw::EXIT_GROUP, code as usize);
    }
    #[allow(clippy::empty_loop)]
    loop {}
}

/// `close_range(first, ~0, 0)`—closes every descriptor from `first` up.
/// ENOSYS before Linux 5.9.
pub fn close_from(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range takes plain integers; descriptors closed here are
    // not owned by any Rust object (called once, at startup).
    check(unsafe { raw::syscall3(raw::CLOSE_RANGE, first as usize, u32::MAX as usize, 0) })
        .map(drop)
}

/// `close(fd)` for a descriptor that no Rust object owns (the fallback of
/// [`close_from`] when close_range is missing).
pub fn close_unowned(fd: i32) {
    // SAFETY: only called at startup, on descriptors inherited from the
    // parent process, which no `OwnedFd` of ours refers to.
    unsafe { rustix::io::close(fd) }
}

/// Descriptor 2. tinyd makes sure at startup that 0, 1 and 2 are open
/// (on /dev/null if they were closed), and only ever replaces them with
/// dup2, so fd 2 is valid for the life of the process.
pub fn stderr() -> rustix::fd::BorrowedFd<'static> {
    // SAFETY: see above: fd 2 is never closed, only replaced atomically.
    unsafe { rustix::fd::BorrowedFd::borrow_raw(2) }
}

/// Makes sure descriptors 0, 1 and 2 are open, on /dev/null if closed, so
/// that no file tinyd opens later lands on them.
pub fn ensure_std_fds() -> Result<(), Errno> {
    for fd in 0..3 {
        // SAFETY: fcntl(F_GETFD) on a possibly closed descriptor only asks;
        // the borrow does not outlive the call.
        let probe = unsafe { rustix::io::fcntl_getfd(rustix::fd::BorrowedFd::borrow_raw(fd)) };
        if probe == Err(Errno::BADF) {
            // The lowest free descriptor is `fd`: keep it open for good.
            let null = rustix::fs::open(
                c"/dev/null",
                rustix::fs::OFlags::RDWR,
                rustix::fs::Mode::empty(),
            )?;
            core::mem::forget(null);
        }
    }
    Ok(())
}

/// Descriptor 1; see [`stderr`] for why it is always open.
pub fn stdout() -> rustix::fd::BorrowedFd<'static> {
    // SAFETY: as for stderr: fd 1 is never closed, only replaced.
    unsafe { rustix::fd::BorrowedFd::borrow_raw(1) }
}

/// writev until all the parts (up to 11) are written, or an error: an
/// error line goes out whole, however long (to a pipe, a line longer than
/// its buffer takes more than one write).
pub fn write_parts(fd: rustix::fd::BorrowedFd<'_>, parts: &[&[u8]]) {
    let mut done: usize = 0;
    loop {
        // What is left: the parts not written yet, the first perhaps partly.
        let mut v = [IoSlice::new(b""); 11];
        let (mut n, mut skip) = (0, done);
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            v[n] = IoSlice::new(&p[skip..]);
            skip = 0;
            n += 1;
        }
        if n == 0 {
            return;
        }
        match rustix::io::writev(fd, &v[..n]) {
            Ok(0) => return,
            Ok(k) => done += k,
            Err(Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// Writes `tinyd: `, the parts (up to 8) and a newline to stderr: one
/// error line, whole however long.
pub fn stderr_line(parts: &[&[u8]]) {
    let mut all: [&[u8]; 10] = [b""; 10];
    all[0] = b"tinyd: ";
    let n = parts.len().min(8);
    all[1..=n].copy_from_slice(&parts[..n]);
    all[n + 1] = b"\n";
    write_parts(stderr(), &all[..n + 2]);
}

/// Writes a whole buffer to stderr, ignoring errors (there is nowhere else
/// to report them).
pub fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        match rustix::io::write(stderr(), rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// Now, on CLOCK_MONOTONIC.
pub fn now() -> crate::pure::time::Instant {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    crate::pure::time::Instant::from_millis(t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000)
}

/// How far below its caller [`release_stack`] gives pages back: deeper than
/// startup or a reload goes (a reload's frames, the configuration parser's
/// under the control request's, go about 40 KiB below the loop's on
/// x86_64), and inside the 128 KiB that the kernel maps below the arguments
/// at exec, so no other mapping is ever in the range.
pub const STACK_RELEASE: usize = 64 * 1024;

/// Gives back the stack pages below the caller that deep, finished work
/// (startup, a reload) touched: without this they would stay resident and
/// dirty for the daemon's whole life. They stay mapped, and come back as
/// zero pages when touched again. The pages from `STACK_MARGIN` below this
/// frame's locals up are kept: this small frame (the madvise system call is
/// inline, it calls nothing) and, on x86_64, the red zone below it.
#[inline(never)]
pub fn release_stack() {
    const STACK_MARGIN: usize = 512;
    let here = 0u8;
    let ps = rustix::param::page_size().max(4096);
    let Some(below) = (core::ptr::addr_of!(here) as usize).checked_sub(STACK_MARGIN) else {
        return;
    };
    let top = below & !(ps - 1);
    let Some(low) = top.checked_sub(STACK_RELEASE) else {
        return;
    };
    // SAFETY: [low, top) lies at least STACK_MARGIN below this function's
    // locals: every frame there has returned, and this one calls nothing
    // that would put a frame there (a signal frame is pushed below the
    // stack pointer only when a handler runs, and the kernel pushes it
    // after the call is done). Dropping those pages loses no live data;
    // the range is inside the stack mapping (see STACK_RELEASE), and were
    // part of it not mapped, madvise would only say so (ENOMEM), ignored.
    let _ = unsafe {
        rustix::mm::madvise(
            low as *mut core::ffi::c_void,
            top - low,
            rustix::mm::Advice::LinuxDontNeed,
        )
    };
}
