//! Where lines go: a log file (rotated by size, reopened on SIGHUP, and
//! when it is deleted or replaced), syslog datagrams, or nowhere. A line
//! that cannot be written is counted and reported once writing works
//! again; a sink never retries in a loop. In tinyd a sink is a syslog
//! socket (datagrams that never block); a file's sink lives in the log
//! writer (`writer.rs`), where a write may block: that is why the writer is
//! a process of its own.

use core::ffi::CStr;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::io::IoSlice;
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};
use rustix::time::{ClockId, clock_gettime};

use crate::log::timefmt;
use crate::util::buf::Buf;
use crate::util::limits::PATH_MAX;

/// The prefix of a line: timestamp or syslog header, and the tag.
type Prefix = Buf<192>;

/// The most parts a line's text may come in (a message and the paths or
/// commands it names, each written as it is, never copied into a buffer
/// that could cut it).
pub const TEXT_PARTS: usize = 8;

/// syslog priorities: facility daemon (3).
pub const PRI_INFO: u8 = 3 * 8 + 6;
pub const PRI_NOTICE: u8 = 3 * 8 + 5;
pub const PRI_ERR: u8 = 3 * 8 + 3;
pub const PRI_WARNING: u8 = 3 * 8 + 4;

/// Where a sink writes: what a service or tinyd's own log is configured
/// with. Passed on every call, so that a sink holds no borrowed paths.
#[derive(Clone, Copy)]
pub enum Target<'t> {
    None,
    File {
        path: &'t CStr,
        max: u64,
        keep: u32,
    },
    /// The socket, and the service's name (for tinyd's notes).
    Syslog {
        path: &'t CStr,
        name: &'t [u8],
    },
}

/// An open log file or syslog socket, and what could not be written.
pub struct Sink {
    fd: Option<OwnedFd>,
    /// The file's size, for rotation.
    size: u64,
    /// Lines lost since the last successful write, and why.
    lost: u64,
    lost_why: Errno,
    /// The wall-clock second the file was last looked at (see `check`).
    checked: i64,
}

/// What became of an open log file, seen from its path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    /// Still there.
    Stays,
    /// Deleted, or another file now stands at the path: reopen.
    Gone,
    /// Moved away with nothing in its place (external rotation: `mv`, then
    /// SIGHUP): keep writing to it until SIGHUP.
    Moved,
}

impl Default for Sink {
    fn default() -> Self {
        Self::new()
    }
}

/// The wall clock, split into seconds and milliseconds.
pub fn wall() -> (i64, u32) {
    let t = clock_gettime(ClockId::Realtime);
    (t.tv_sec, (t.tv_nsec / 1_000_000) as u32)
}

impl Sink {
    pub const fn new() -> Sink {
        Sink {
            fd: None,
            size: 0,
            lost: 0,
            lost_why: Errno::IO,
            checked: 0,
        }
    }

    /// What became of the open file (`Stays` when there is none, or when
    /// the kernel cannot say).
    fn fate(&self, base: BorrowedFd<'_>, path: &CStr) -> Fate {
        let Some(fd) = &self.fd else {
            return Fate::Stays;
        };
        let Ok(ours) = rustix::fs::fstat(fd) else {
            return Fate::Stays;
        };
        if ours.st_nlink == 0 {
            return Fate::Gone;
        }
        match rustix::fs::statat(base, path, rustix::fs::AtFlags::empty()) {
            Err(Errno::NOENT) => Fate::Moved,
            Ok(st) if (st.st_dev, st.st_ino) != (ours.st_dev, ours.st_ino) => Fate::Gone,
            _ => Fate::Stays,
        }
    }

    /// Once a second while lines flow: reopens a log file that was deleted
    /// or replaced, so that nothing more goes into a file nobody can read.
    fn check(&mut self, base: BorrowedFd<'_>, t: &Target<'_>, secs: i64) {
        if let Target::File { path, .. } = *t
            && secs != self.checked
        {
            self.checked = secs;
            if self.fate(base, path) == Fate::Gone {
                let _ = self.open(base, t);
            }
        }
    }

    /// Opens (or reopens, on SIGHUP) the file or socket. `base` is the
    /// directory relative paths are resolved against.
    pub fn open(&mut self, base: BorrowedFd<'_>, t: &Target<'_>) -> Result<(), Errno> {
        self.fd = None;
        match *t {
            Target::None => Ok(()),
            Target::File { path, .. } => {
                let f = rustix::fs::openat(
                    base,
                    path,
                    OFlags::WRONLY
                        | OFlags::APPEND
                        | OFlags::CREATE
                        | OFlags::CLOEXEC
                        | OFlags::NOCTTY,
                    Mode::from_raw_mode(0o644),
                )?;
                self.size = rustix::fs::fstat(&f)?.st_size as u64;
                self.fd = Some(f);
                Ok(())
            }
            Target::Syslog { path, .. } => {
                let s = rustix::net::socket_with(
                    AddressFamily::UNIX,
                    SocketType::DGRAM,
                    SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
                    None,
                )?;
                rustix::net::connect(&s, &SocketAddrUnix::new(path)?)?;
                self.fd = Some(s);
                Ok(())
            }
        }
    }

    /// Writes one line of COMMAND's output: `text` from `tag[pid]`. The
    /// prefix is built here and the text goes out as it is, in one writev
    /// or one datagram.
    pub fn line(
        &mut self,
        base: BorrowedFd<'_>,
        t: &Target<'_>,
        tag: &[u8],
        pid: i32,
        pri: u8,
        text: &[u8],
    ) {
        self.line_parts(base, t, tag, pid, pri, &[text]);
    }

    pub fn is_open(&self) -> bool {
        self.fd.is_some()
    }

    /// The open file's size as far as this sink knows it.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Counts `lines` as lost for `why`; reported before the next write
    /// that works.
    pub fn count_lost(&mut self, lines: u64, why: Errno) {
        self.lost += lines;
        self.lost_why = why;
    }

    /// Cuts the open file to `size` bytes (what a write cut short left).
    pub fn truncate(&mut self, size: u64) {
        if let Some(f) = &self.fd
            && rustix::fs::ftruncate(f, size).is_ok()
        {
            self.size = size;
        }
    }

    /// Appends whole lines (already formatted) to the file: the file is
    /// checked (deleted or replaced) once a second, a count of lines lost
    /// goes first, the file rotates first if they would take it past its
    /// size; `before` is told the file's size just before the write.
    pub fn append(
        &mut self,
        base: BorrowedFd<'_>,
        t: &Target<'_>,
        parts: &[&[u8]],
        before: impl FnOnce(u64),
    ) -> Result<(), Errno> {
        let (secs, _) = wall();
        self.check(base, t, secs);
        if self.lost > 0 {
            self.report_lost(base, t);
        }
        self.write_with(base, t, parts, before)
    }

    /// Like [`Sink::line`], with the text in up to `TEXT_PARTS` parts
    /// (the rest are left out). Syslog only: a log file's lines go through
    /// its ring to the writer (`ring.rs`, `writer.rs`).
    pub fn line_parts(
        &mut self,
        base: BorrowedFd<'_>,
        t: &Target<'_>,
        tag: &[u8],
        pid: i32,
        pri: u8,
        text: &[&[u8]],
    ) {
        let Target::Syslog { .. } = t else { return };
        let mut pre = Prefix::new();
        let (secs, _) = wall();
        pre.s(b"<").u(pri as u64).s(b">");
        timefmt::rfc3164(&mut pre, secs);
        pre.s(b" ").s(tag).s(b"[").u(pid as u64).s(b"]: ");
        let end: &[u8] = b"";
        if self.lost > 0 {
            self.report_lost(base, t);
        }
        let mut parts: [&[u8]; TEXT_PARTS + 2] = [b""; TEXT_PARTS + 2];
        parts[0] = pre.as_bytes();
        let n = text.len().min(TEXT_PARTS);
        parts[1..=n].copy_from_slice(&text[..n]);
        parts[n + 1] = end;
        if let Err(e) = self.write(base, t, &parts[..n + 2]) {
            self.lost += 1;
            self.lost_why = e;
        }
    }

    /// Writes "N lines lost: REASON" before the next line that gets through:
    /// `TIME tinyd: ...` in a file; in syslog, like tinyd's events,
    /// `<27>TIME tinyd[PID]: NAME: ...`.
    #[cold]
    #[inline(never)]
    fn report_lost(&mut self, base: BorrowedFd<'_>, t: &Target<'_>) {
        let mut head = Prefix::new();
        let (secs, ms) = wall();
        let (name, end): (&[u8], &[u8]) = match *t {
            Target::Syslog { name, .. } => {
                head.s(b"<").u(PRI_ERR as u64).s(b">");
                timefmt::rfc3164(&mut head, secs);
                let me = rustix::process::getpid().as_raw_nonzero().get();
                head.s(b" tinyd[").u(me as u64).s(b"]: ");
                (name, b"")
            }
            _ => {
                timefmt::rfc3339(&mut head, secs, ms);
                head.s(b" tinyd: ");
                (b"", b"\n")
            }
        };
        let sep: &[u8] = if name.is_empty() { b"" } else { b": " };
        let mut note = Buf::<80>::new();
        note.u(self.lost).s(b" lines lost: ").err(self.lost_why);
        let parts = [head.as_bytes(), name, sep, note.as_bytes(), end];
        if self.write(base, t, &parts).is_ok() {
            self.lost = 0;
        }
    }

    /// Writes the parts as one record: all of it, or an error.
    fn write(
        &mut self,
        base: BorrowedFd<'_>,
        t: &Target<'_>,
        parts: &[&[u8]],
    ) -> Result<(), Errno> {
        self.write_with(base, t, parts, |_| {})
    }

    /// [`Sink::write`], telling `before` the file's size just before the
    /// write (after any rotation).
    fn write_with(
        &mut self,
        base: BorrowedFd<'_>,
        t: &Target<'_>,
        parts: &[&[u8]],
        before: impl FnOnce(u64),
    ) -> Result<(), Errno> {
        if matches!(t, Target::None) {
            return Ok(());
        }
        if self.fd.is_none() {
            self.open(base, t)?;
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if let Target::File { max, .. } = *t {
            if self.size > 0 && self.size + total as u64 > max {
                self.rotate(base, t);
            }
            let fd = self.fd.as_ref().ok_or(Errno::BADF)?;
            before(self.size);
            write_all(fd, parts)?;
            self.size += total as u64;
            return Ok(());
        }
        let fd = self.fd.as_ref().ok_or(Errno::BADF)?;
        match send(fd, parts) {
            // syslogd restarted: reconnect once and resend.
            Err(Errno::CONNREFUSED | Errno::NOTCONN | Errno::NOENT) => {
                self.open(base, t)?;
                send(self.fd.as_ref().ok_or(Errno::BADF)?, parts)
            }
            r => r,
        }
    }

    /// FILE.(keep-1) -> FILE.keep, ..., FILE -> FILE.1, then a new FILE;
    /// with keep 0, FILE is emptied instead.
    #[inline(never)]
    fn rotate(&mut self, base: BorrowedFd<'_>, t: &Target<'_>) {
        let Target::File { path, keep, .. } = *t else {
            return;
        };
        // The open file is no longer FILE (deleted, replaced or moved
        // away): FILE.N are not ours to shift; start a new FILE.
        if self.fate(base, path) != Fate::Stays {
            self.size = 0;
            let _ = self.open(base, t);
            return;
        }
        // Whether FILE itself was moved aside (the last rename).
        let mut moved = false;
        if keep > 0 {
            // "FILE.n\0FILE.n+1\0" in one buffer: two C strings for renameat.
            let mut names = Buf::<PATH_MAX>::new();
            for n in (0..keep).rev() {
                names.clear();
                names.s(path.to_bytes());
                if n > 0 {
                    names.s(b".").u(n as u64);
                }
                let split = names.len() + 1;
                names
                    .s(b"\0")
                    .s(path.to_bytes())
                    .s(b".")
                    .u(n as u64 + 1)
                    .s(b"\0");
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
        }
        if !moved {
            // keep 0, or FILE could not be moved aside: empty it, so the
            // size stays bounded.
            if let Some(f) = &self.fd {
                let _ = rustix::fs::ftruncate(f, 0);
            }
            self.size = 0;
            return;
        }
        self.size = 0;
        let _ = self.open(base, t);
    }
}

pub use crate::os::sys::{stderr_line, write_parts, write_stderr as stderr};

/// The parts as I/O vectors (prefix, the text's parts, end).
fn slices<'b>(parts: &[&'b [u8]]) -> ([IoSlice<'b>; TEXT_PARTS + 2], usize) {
    let empty: &[u8] = &[];
    let mut v = [IoSlice::new(empty); TEXT_PARTS + 2];
    let n = parts.len().min(TEXT_PARTS + 2);
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
                Ok(0) => return Err(cut(fd, done, Errno::NOSPC)),
                Ok(w) => {
                    rest = &rest[w..];
                    done += w;
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(cut(fd, done, e)),
            }
        }
    }
    debug_assert!(done >= total);
    Ok(())
}

/// Takes the `done` bytes of a record cut short (disk full) back off the
/// file's end, so that no half line is left for the next one to join;
/// returns `e`.
#[cold]
fn cut(fd: &OwnedFd, done: usize, e: Errno) -> Errno {
    if let Ok(st) = rustix::fs::fstat(fd) {
        let _ = rustix::fs::ftruncate(fd, (st.st_size as u64).saturating_sub(done as u64));
    }
    e
}

/// One datagram made of the parts, without blocking.
fn send(fd: &OwnedFd, parts: &[&[u8]]) -> Result<(), Errno> {
    let (v, n) = slices(parts);
    let mut anc = SendAncillaryBuffer::default();
    rustix::net::sendmsg(fd, &v[..n], &mut anc, SendFlags::DONTWAIT).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("tinyd-sink-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn cstr(p: &std::path::Path) -> std::ffi::CString {
        std::ffi::CString::new(p.to_str().unwrap()).unwrap()
    }

    #[test]
    fn rotation_after_the_file_was_deleted_shifts_nothing() {
        // FILE deleted: renaming FILE.1 over FILE.2 would lose FILE.2.
        let d = dir("rot-del");
        let file = cstr(&d.join("log"));
        let t = Target::File {
            path: &file,
            max: 100,
            keep: 2,
        };
        let mut s = Sink::new();
        s.open(rustix::fs::CWD, &t).unwrap();
        fs::write(d.join("log.1"), "one\n").unwrap();
        fs::write(d.join("log.2"), "two\n").unwrap();
        fs::remove_file(d.join("log")).unwrap();
        assert_eq!(s.fate(rustix::fs::CWD, &file), Fate::Gone);
        s.rotate(rustix::fs::CWD, &t);
        assert_eq!(fs::read_to_string(d.join("log.1")).unwrap(), "one\n");
        assert_eq!(fs::read_to_string(d.join("log.2")).unwrap(), "two\n");
        assert!(d.join("log").exists(), "a new FILE");
        assert_eq!(s.fate(rustix::fs::CWD, &file), Fate::Stays);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn rotation_after_the_file_was_moved_keeps_the_moved_file() {
        // `mv log log.old` without SIGHUP yet: rotation used to shift the
        // chain and then truncate log.old (it could not move FILE aside).
        let d = dir("rot-mv");
        let file = cstr(&d.join("log"));
        let t = Target::File {
            path: &file,
            max: 100,
            keep: 2,
        };
        let mut s = Sink::new();
        s.open(rustix::fs::CWD, &t).unwrap();
        s.write(rustix::fs::CWD, &t, &[b"kept\n"]).unwrap();
        fs::rename(d.join("log"), d.join("log.old")).unwrap();
        assert_eq!(s.fate(rustix::fs::CWD, &file), Fate::Moved);
        s.rotate(rustix::fs::CWD, &t);
        assert_eq!(fs::read_to_string(d.join("log.old")).unwrap(), "kept\n");
        assert!(!d.join("log.1").exists());
        assert!(d.join("log").exists(), "a new FILE");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_replaced_at_its_path_is_gone() {
        let d = dir("replaced");
        let file = cstr(&d.join("log"));
        let t = Target::File {
            path: &file,
            max: 1 << 20,
            keep: 2,
        };
        let mut s = Sink::new();
        s.open(rustix::fs::CWD, &t).unwrap();
        assert_eq!(s.fate(rustix::fs::CWD, &file), Fate::Stays);
        fs::write(d.join("new"), "").unwrap();
        fs::rename(d.join("new"), d.join("log")).unwrap();
        assert_eq!(s.fate(rustix::fs::CWD, &file), Fate::Gone);
        fs::remove_dir_all(&d).unwrap();
    }
}
