//! Detaching, daemon(7) style: fork, setsid, fork again, with a readiness
//! pipe back to the launching process.
//!
//! The launcher waits on the pipe and exits only when the daemon says
//! COMMAND has been exec'd (exit 0), or relays the daemon's error line and
//! its exit code. EOF without a message is a failure, never a success.

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{WaitOptions, waitpid};

use crate::os::pidfile::Pidfile;
use crate::os::sys::{self, Forked};
use crate::util::buf::Buf;

/// The daemon's end of the readiness pipe; none in the foreground.
pub struct Ready {
    fd: Option<OwnedFd>,
}

impl Ready {
    pub fn foreground() -> Ready {
        Ready { fd: None }
    }

    /// Whether a launcher is still waiting.
    pub fn pending(&self) -> bool {
        self.fd.is_some()
    }

    /// COMMAND runs: the launcher exits 0.
    pub fn ok(&mut self) {
        if let Some(fd) = self.fd.take() {
            let _ = rustix::io::write(&fd, &[0]);
        }
    }

    /// Some services failed to start: `text` (whole lines) goes to the
    /// launcher, which exits `code`; the daemon goes on.
    pub fn fail_text(&mut self, code: u8, text: &[u8]) {
        if let Some(fd) = self.fd.take() {
            sys::write_parts(rustix::fd::AsFd::as_fd(&fd), &[&[code.max(1)], text]);
        }
    }

    /// Reports a fatal error line (`tinyd: ` and `parts`, up to 8) to the
    /// launcher, or to stderr when there is none; the launcher exits
    /// `code`. Written as it is, however long: never cut.
    pub fn fail(&mut self, code: u8, parts: &[&[u8]]) {
        let Some(fd) = self.fd.take() else {
            return sys::stderr_line(parts);
        };
        let head = [code.max(1)];
        let mut all: [&[u8]; 11] = [b""; 11];
        all[..2].copy_from_slice(&[&head, b"tinyd: "]);
        let n = parts.len().min(8);
        all[2..2 + n].copy_from_slice(&parts[..n]);
        all[2 + n] = b"\n";
        sys::write_parts(rustix::fd::AsFd::as_fd(&fd), &all[..n + 3]);
    }
}

/// Detaches. Returns in the daemon (a grandchild, not a session leader);
/// the launcher never returns from here: it relays the outcome and exits.
#[inline(never)] // its buffers stay out of the caller's frame
pub fn daemonize(
    pidfile: Option<&Pidfile<'_>>,
    base: rustix::fd::BorrowedFd<'_>,
) -> Result<Ready, Errno> {
    let (r, w) = pipe_with(PipeFlags::CLOEXEC)?;
    match sys::fork()? {
        Forked::Parent(middle) => {
            drop(w);
            launcher(r, middle, pidfile, base)
        }
        Forked::Child => {}
    }
    drop(r);
    let mut ready = Ready { fd: Some(w) };
    let mut step = |what: &[u8], r: Result<(), Errno>| {
        if let Err(e) = r {
            let mut m = Buf::<128>::new();
            m.s(b"cannot detach: ").s(what).s(b": ").err(e);
            ready.fail(1, &[m.as_bytes()]);
            sys::exit(1);
        }
    };
    step(b"setsid", rustix::process::setsid().map(drop));
    match sys::fork() {
        Ok(Forked::Parent(_)) => sys::exit(0),
        Ok(Forked::Child) => {}
        Err(e) => step(b"fork", Err(e)),
    }
    Ok(ready)
}

/// The launching process: waits for the daemon's word and exits with it.
fn launcher(
    r: OwnedFd,
    middle: rustix::process::Pid,
    pidfile: Option<&Pidfile<'_>>,
    base: rustix::fd::BorrowedFd<'_>,
) -> ! {
    // The first byte: 0 for ready, else the exit code and the error line,
    // passed on as it comes, however long.
    let mut msg = [0u8; 512];
    let mut code: Option<u8> = None;
    loop {
        let n = match rustix::io::read(&r, &mut msg) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(_) => break,
        };
        let text = match code {
            Some(_) => &msg[..n],
            None => {
                code = Some(msg[0]);
                if msg[0] == 0 {
                    break;
                }
                &msg[1..n]
            }
        };
        sys::write_stderr(text);
    }
    // The middle process exits right after its fork: reap it.
    while let Err(Errno::INTR) = waitpid(Some(middle), WaitOptions::empty()) {}
    match code {
        Some(code) => sys::exit(code as i32),
        None => {
            // The daemon died without a word: nothing of it may remain.
            if let Some(p) = pidfile {
                let _ = rustix::fs::unlinkat(base, p.path(), rustix::fs::AtFlags::empty());
            }
            sys::write_stderr(b"tinyd: the daemon exited before starting COMMAND\n");
            sys::exit(1)
        }
    }
}

/// Points 0, 1 and 2 at /dev/null (daemon(7) step 4).
pub fn null_stdio() -> Result<(), Errno> {
    let null = rustix::fs::open(
        c"/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    Ok(())
}

/// Closes every descriptor from `first` up: close_range, else /proc/self/fd,
/// else one by one up to a bound (before /proc is mounted on an old kernel).
/// Only for descriptors no Rust object owns (at startup, in a new child).
#[inline(never)]
pub fn close_above(first: i32) {
    if sys::close_from(first as u32).is_ok() {
        return;
    }
    if let Ok(dir) = rustix::fs::open(
        c"/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        let own = rustix::fd::AsRawFd::as_raw_fd(&dir);
        let mut buf = [core::mem::MaybeUninit::<u8>::uninit(); 512];
        let mut high = [0i32; 64];
        let mut n = 0;
        let mut raw = rustix::fs::RawDir::new(&dir, &mut buf);
        while let Some(Ok(entry)) = raw.next() {
            if let Some(fd) = crate::util::num::decimal(entry.file_name().to_bytes()) {
                let fd = fd as i32;
                if fd >= first && fd != own && n < high.len() {
                    high[n] = fd;
                    n += 1;
                }
            }
        }
        drop(dir);
        high[..n].iter().for_each(|&fd| sys::close_unowned(fd));
        if n < high.len() {
            return;
        }
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1024);
    for fd in first..limit.min(65536) as i32 {
        sys::close_unowned(fd);
    }
}
