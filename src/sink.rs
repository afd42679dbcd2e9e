//! Where lines go: a log file (timestamped, rotated by size, reopened on
//! SIGHUP), syslog datagrams, or nowhere. A line that cannot be written is
//! counted and reported once writing works again; a sink never blocks and
//! never retries in a loop.

use core::ffi::CStr;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};
use rustix::time::{ClockId, clock_gettime};

use crate::buf::Buf;
use crate::limits::{LINE_MAX, PATH_MAX};
use crate::timefmt;

/// A formatted line: prefix, up to LINE_MAX bytes of text, newline.
pub type LineOut = Buf<{ LINE_MAX + 160 }>;

/// syslog priorities: facility daemon (3).
pub const PRI_INFO: u8 = 3 * 8 + 6;
pub const PRI_NOTICE: u8 = 3 * 8 + 5;
pub const PRI_ERR: u8 = 3 * 8 + 3;

pub enum Kind<'a> {
    None,
    File { path: &'a CStr, max: u64, keep: u32, fd: Option<OwnedFd>, size: u64 },
    Syslog { path: &'a CStr, fd: Option<OwnedFd> },
}

pub struct Sink<'a> {
    pub kind: Kind<'a>,
    /// Lines lost since the last successful write, and why.
    lost: u64,
    lost_why: Errno,
}

/// The wall clock, split into seconds and milliseconds.
fn wall() -> (i64, u32) {
    let t = clock_gettime(ClockId::Realtime);
    (t.tv_sec, (t.tv_nsec / 1_000_000) as u32)
}

impl<'a> Sink<'a> {
    pub fn none() -> Sink<'a> {
        Sink { kind: Kind::None, lost: 0, lost_why: Errno::IO }
    }

    pub fn file(path: &'a CStr, max: u64, keep: u32) -> Sink<'a> {
        Sink { kind: Kind::File { path, max, keep, fd: None, size: 0 }, ..Sink::none() }
    }

    pub fn syslog(path: &'a CStr) -> Sink<'a> {
        Sink { kind: Kind::Syslog { path, fd: None }, ..Sink::none() }
    }

    pub fn is_none(&self) -> bool {
        matches!(self.kind, Kind::None)
    }

    /// Opens (or reopens, on SIGHUP) the file or socket. `base` is the
    /// directory relative paths are resolved against.
    pub fn open(&mut self, base: BorrowedFd<'_>) -> Result<(), Errno> {
        match &mut self.kind {
            Kind::None => Ok(()),
            Kind::File { path, fd, size, .. } => {
                *fd = None;
                let f = rustix::fs::openat(
                    base,
                    *path,
                    OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOCTTY,
                    Mode::from_raw_mode(0o644),
                )?;
                *size = rustix::fs::fstat(&f)?.st_size as u64;
                *fd = Some(f);
                Ok(())
            }
            Kind::Syslog { path, fd } => {
                *fd = None;
                let s = rustix::net::socket_with(
                    AddressFamily::UNIX,
                    SocketType::DGRAM,
                    SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
                    None,
                )?;
                let addr = SocketAddrUnix::new(*path)?;
                rustix::net::connect(&s, &addr)?;
                *fd = Some(s);
                Ok(())
            }
        }
    }

    /// Writes one line of COMMAND's output: `text` from `tag[pid]`.
    pub fn line(&mut self, base: BorrowedFd<'_>, tag: &[u8], pid: i32, pri: u8, text: &[u8]) {
        let mut out = LineOut::new();
        let (secs, ms) = wall();
        match self.kind {
            Kind::None => return,
            Kind::File { .. } => {
                timefmt::rfc3339(&mut out, secs, ms);
                out.s(b" ").s(tag).s(b": ").s(text).s(b"\n");
            }
            Kind::Syslog { .. } => {
                out.s(b"<").u(pri as u64).s(b">");
                timefmt::rfc3164(&mut out, secs);
                out.s(b" ").s(tag).s(b"[").u(pid as u64).s(b"]: ").s(text);
            }
        }
        self.emit(base, out.as_bytes());
    }

    /// Writes a formatted line, first reporting lines lost before it.
    fn emit(&mut self, base: BorrowedFd<'_>, bytes: &[u8]) {
        if self.lost > 0 {
            let mut note = Buf::<96>::new();
            note.u(self.lost).s(b" lines lost: ").err(self.lost_why);
            let lost = self.lost;
            self.lost = 0;
            let mut out = LineOut::new();
            let (secs, ms) = wall();
            let ok = match self.kind {
                Kind::Syslog { .. } => {
                    out.s(b"<").u(PRI_ERR as u64).s(b">");
                    timefmt::rfc3164(&mut out, secs);
                    out.s(b" tinyd: ").s(note.as_bytes());
                    self.write(base, out.as_bytes())
                }
                _ => {
                    timefmt::rfc3339(&mut out, secs, ms);
                    out.s(b" tinyd: ").s(note.as_bytes()).s(b"\n");
                    self.write(base, out.as_bytes())
                }
            };
            if let Err(e) = ok {
                self.lost = lost + 1;
                self.lost_why = e;
                return;
            }
        }
        if let Err(e) = self.write(base, bytes) {
            self.lost += 1;
            self.lost_why = e;
        }
    }

    fn write(&mut self, base: BorrowedFd<'_>, bytes: &[u8]) -> Result<(), Errno> {
        if matches!(&self.kind, Kind::File { fd: None, .. } | Kind::Syslog { fd: None, .. }) {
            self.open(base)?;
        }
        match &mut self.kind {
            Kind::None => Ok(()),
            Kind::File { max, size, .. } => {
                if *size > 0 && *size + bytes.len() as u64 > *max {
                    self.rotate(base);
                }
                let Kind::File { fd: Some(fd), size, .. } = &mut self.kind else {
                    return Err(Errno::BADF);
                };
                let mut rest = bytes;
                while !rest.is_empty() {
                    match rustix::io::write(&*fd, rest) {
                        Ok(n) => {
                            *size += n as u64;
                            rest = &rest[n..];
                        }
                        Err(Errno::INTR) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Kind::Syslog { fd: Some(fd), .. } => {
                match rustix::net::send(&*fd, bytes, SendFlags::DONTWAIT) {
                    Ok(_) => Ok(()),
                    // syslogd restarted: reconnect once and resend.
                    Err(Errno::CONNREFUSED | Errno::NOTCONN | Errno::NOENT) => {
                        self.open(base)?;
                        let Kind::Syslog { fd: Some(fd), .. } = &self.kind else {
                            return Err(Errno::BADF);
                        };
                        rustix::net::send(fd, bytes, SendFlags::DONTWAIT).map(drop)
                    }
                    Err(e) => Err(e),
                }
            }
            Kind::Syslog { fd: None, .. } => Err(Errno::BADF),
        }
    }

    /// FILE.(keep-1) -> FILE.keep, ..., FILE -> FILE.1, then a new FILE;
    /// with keep 0, FILE is emptied instead.
    fn rotate(&mut self, base: BorrowedFd<'_>) {
        let Kind::File { path, keep, fd, size, .. } = &mut self.kind else { return };
        if *keep == 0 {
            if let Some(f) = fd {
                if rustix::fs::ftruncate(&*f, 0).is_ok() {
                    *size = 0;
                }
            }
            return;
        }
        let name = |n: u32| {
            let mut b = Buf::<PATH_MAX>::new();
            b.s(path.to_bytes());
            if n > 0 {
                b.s(b".").u(n as u64);
            }
            b
        };
        for n in (1..*keep).rev() {
            let (mut from, mut to) = (name(n), name(n + 1));
            if let (Some(f), Some(t)) = (from.cstr(), to.cstr()) {
                let _ = rustix::fs::renameat(base, f, base, t);
            }
        }
        let mut first = name(1);
        if let Some(t) = first.cstr() {
            if rustix::fs::renameat(base, *path, base, t).is_err() {
                // Could not move it aside: empty it so the size stays bounded.
                if let Some(f) = fd {
                    let _ = rustix::fs::ftruncate(&*f, 0);
                }
            }
        }
        *size = 0;
        let _ = self.open(base);
    }

    /// The file descriptor, for the tests of what is open.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            Kind::File { fd: Some(f), .. } | Kind::Syslog { fd: Some(f), .. } => Some(f.as_fd()),
            _ => None,
        }
    }
}

/// Writes a whole buffer to stderr, ignoring errors (there is nowhere else
/// to report them).
pub fn stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        match rustix::io::write(crate::sys::stderr(), rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::INTR) => {}
            Err(_) => return,
        }
    }
}
