//! Where lines go: a log file (timestamped, rotated by size, reopened on
//! SIGHUP), syslog datagrams, or nowhere. A line that cannot be written is
//! counted and reported once writing works again; a sink never blocks and
//! never retries in a loop.

use core::ffi::CStr;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::io::IoSlice;
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};
use rustix::time::{ClockId, clock_gettime};

use crate::buf::Buf;
use crate::limits::PATH_MAX;
use crate::timefmt;

/// The prefix of a line: timestamp or syslog header, and the tag.
type Prefix = Buf<192>;

/// syslog priorities: facility daemon (3).
pub const PRI_INFO: u8 = 3 * 8 + 6;
pub const PRI_NOTICE: u8 = 3 * 8 + 5;
pub const PRI_ERR: u8 = 3 * 8 + 3;

pub enum Kind<'a> {
    None,
    File {
        path: &'a CStr,
        max: u64,
        keep: u32,
        fd: Option<OwnedFd>,
        size: u64,
    },
    Syslog {
        path: &'a CStr,
        fd: Option<OwnedFd>,
    },
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
        Sink {
            kind: Kind::None,
            lost: 0,
            lost_why: Errno::IO,
        }
    }

    pub fn file(path: &'a CStr, max: u64, keep: u32) -> Sink<'a> {
        Sink {
            kind: Kind::File {
                path,
                max,
                keep,
                fd: None,
                size: 0,
            },
            ..Sink::none()
        }
    }

    pub fn syslog(path: &'a CStr) -> Sink<'a> {
        Sink {
            kind: Kind::Syslog { path, fd: None },
            ..Sink::none()
        }
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
                    OFlags::WRONLY
                        | OFlags::APPEND
                        | OFlags::CREATE
                        | OFlags::CLOEXEC
                        | OFlags::NOCTTY,
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

    /// Writes one line of COMMAND's output: `text` from `tag[pid]`. The
    /// prefix is built here and the text goes out as it is, in one writev
    /// or one datagram.
    pub fn line(&mut self, base: BorrowedFd<'_>, tag: &[u8], pid: i32, pri: u8, text: &[u8]) {
        let mut pre = Prefix::new();
        let (secs, ms) = wall();
        let end: &[u8] = match self.kind {
            Kind::None => return,
            Kind::File { .. } => {
                timefmt::rfc3339(&mut pre, secs, ms);
                pre.s(b" ").s(tag).s(b": ");
                b"\n"
            }
            Kind::Syslog { .. } => {
                pre.s(b"<").u(pri as u64).s(b">");
                timefmt::rfc3164(&mut pre, secs);
                pre.s(b" ").s(tag).s(b"[").u(pid as u64).s(b"]: ");
                b""
            }
        };
        if self.lost > 0 {
            self.report_lost(base);
        }
        if let Err(e) = self.write(base, &[pre.as_bytes(), text, end]) {
            self.lost += 1;
            self.lost_why = e;
        }
    }

    /// Writes "N lines lost: REASON" before the next line that gets through.
    #[cold]
    #[inline(never)]
    fn report_lost(&mut self, base: BorrowedFd<'_>) {
        let mut note = Prefix::new();
        let (secs, ms) = wall();
        let end: &[u8] = match self.kind {
            Kind::Syslog { .. } => {
                note.s(b"<").u(PRI_ERR as u64).s(b">");
                timefmt::rfc3164(&mut note, secs);
                b""
            }
            _ => {
                timefmt::rfc3339(&mut note, secs, ms);
                b"\n"
            }
        };
        note.s(b" tinyd: ")
            .u(self.lost)
            .s(b" lines lost: ")
            .err(self.lost_why);
        if self.write(base, &[note.as_bytes(), end]).is_ok() {
            self.lost = 0;
        }
    }

    /// Writes the parts as one record: all of it, or an error.
    fn write(&mut self, base: BorrowedFd<'_>, parts: &[&[u8]]) -> Result<(), Errno> {
        if matches!(
            &self.kind,
            Kind::File { fd: None, .. } | Kind::Syslog { fd: None, .. }
        ) {
            self.open(base)?;
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        match &mut self.kind {
            Kind::None => Ok(()),
            Kind::File { max, size, .. } => {
                if *size > 0 && *size + total as u64 > *max {
                    self.rotate(base);
                }
                let Kind::File {
                    fd: Some(fd), size, ..
                } = &mut self.kind
                else {
                    return Err(Errno::BADF);
                };
                write_all(fd, parts)?;
                *size += total as u64;
                Ok(())
            }
            Kind::Syslog { fd: Some(fd), .. } => match send(fd, parts) {
                // syslogd restarted: reconnect once and resend.
                Err(Errno::CONNREFUSED | Errno::NOTCONN | Errno::NOENT) => {
                    self.open(base)?;
                    let Kind::Syslog { fd: Some(fd), .. } = &self.kind else {
                        return Err(Errno::BADF);
                    };
                    send(fd, parts)
                }
                r => r,
            },
            Kind::Syslog { fd: None, .. } => Err(Errno::BADF),
        }
    }

    /// FILE.(keep-1) -> FILE.keep, ..., FILE -> FILE.1, then a new FILE;
    /// with keep 0, FILE is emptied instead.
    #[inline(never)]
    fn rotate(&mut self, base: BorrowedFd<'_>) {
        let Kind::File {
            path,
            keep,
            fd,
            size,
            ..
        } = &mut self.kind
        else {
            return;
        };
        if *keep == 0 {
            if let Some(f) = fd
                && rustix::fs::ftruncate(&*f, 0).is_ok()
            {
                *size = 0;
            }
            return;
        }
        // "FILE.n\0FILE.n+1\0" in one buffer: two C strings for renameat.
        let mut names = Buf::<PATH_MAX>::new();
        // Whether FILE itself was moved aside (the last rename).
        let mut moved = false;
        for n in (0..*keep).rev() {
            names.clear();
            names.s(path.to_bytes());
            if n > 0 {
                names.s(b".").u(n as u64);
            }
            let split = names.len() + 1;
            names.s(b"\0").s(path.to_bytes()).s(b".").u(n as u64 + 1).s(b"\0");
            let both = names.as_bytes();
            let (Ok(from), Ok(to)) = (
                CStr::from_bytes_with_nul(&both[..split]),
                CStr::from_bytes_with_nul(&both[split..]),
            ) else {
                break; // a path too long for the buffer
            };
            let ok = rustix::fs::renameat(base, from, base, to).is_ok();
            moved = n == 0 && ok;
        }
        if !moved {
            // Could not move FILE aside: empty it so the size stays bounded.
            if let Some(f) = fd {
                let _ = rustix::fs::ftruncate(&*f, 0);
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

/// Up to three parts as I/O vectors (prefix, text, end).
fn slices<'b>(parts: &[&'b [u8]]) -> ([IoSlice<'b>; 3], usize) {
    let mut v = [IoSlice::new(&[]), IoSlice::new(&[]), IoSlice::new(&[])];
    let n = parts.len().min(3);
    for (slot, p) in v.iter_mut().zip(parts) {
        *slot = IoSlice::new(p);
    }
    (v, n)
}

/// writev until every part is written (a file: short only when full).
fn write_all(fd: &OwnedFd, parts: &[&[u8]]) -> Result<(), Errno> {
    let (v, n) = slices(parts);
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut done = loop {
        match rustix::io::writev(fd, &v[..n]) {
            Ok(w) => break w,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    };
    // Rare: a short write. Finish part by part.
    let mut skip = done;
    for p in parts {
        if skip >= p.len() {
            skip -= p.len();
            continue;
        }
        let mut rest = &p[skip..];
        skip = 0;
        while !rest.is_empty() {
            match rustix::io::write(fd, rest) {
                Ok(0) => return Err(Errno::NOSPC),
                Ok(w) => {
                    rest = &rest[w..];
                    done += w;
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
    }
    debug_assert!(done >= total);
    Ok(())
}

/// One datagram made of the parts, without blocking.
fn send(fd: &OwnedFd, parts: &[&[u8]]) -> Result<(), Errno> {
    let (v, n) = slices(parts);
    let mut anc = SendAncillaryBuffer::default();
    rustix::net::sendmsg(fd, &v[..n], &mut anc, SendFlags::DONTWAIT).map(drop)
}
