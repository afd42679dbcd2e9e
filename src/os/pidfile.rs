//! The pidfile: created `O_CLOEXEC|O_NOFOLLOW`, mode 0644, `flock`ed
//! exclusively for the daemon's whole life (the lock belongs to the open
//! file description, so it survives the daemon's forks and stays out of
//! COMMAND). A file nobody holds a lock on is stale and taken over, if it
//! is a pidfile: a regular file, empty or holding a PID. Anything else (a
//! path given by mistake) is refused, never truncated or removed. It holds
//! the PID in decimal and a newline, as start-stop-daemon reads it.

use core::ffi::CStr;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::util::buf::Buf;

pub struct Pidfile<'a> {
    fd: OwnedFd,
    path: &'a CStr,
}

/// Why the pidfile could not be taken.
#[derive(Debug)]
pub enum Refused {
    /// Another live process holds it; its PID if the file says.
    Locked(Option<u64>),
    /// The file is not a pidfile: not a regular file, or neither empty nor
    /// a PID.
    NotPidfile,
    Io(Errno),
}

impl From<Errno> for Refused {
    fn from(e: Errno) -> Refused {
        Refused::Io(e)
    }
}

impl<'a> Pidfile<'a> {
    /// Creates or takes over `path` (relative to `base`) and locks it.
    #[inline(never)] // its buffers stay out of the caller's frame
    pub fn acquire(base: BorrowedFd<'_>, path: &'a CStr) -> Result<Pidfile<'a>, Refused> {
        // A holder may remove the file between our open and our lock: then
        // we locked a file nobody can see. Check and retry a few times.
        for _ in 0..8 {
            let fd = rustix::fs::openat(
                base,
                path,
                OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NOCTTY,
                Mode::from_raw_mode(0o644),
            )?;
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => {
                    let pid = match read_pid(&fd) {
                        PidText::Pid(p) => Some(p),
                        _ => None,
                    };
                    return Err(Refused::Locked(pid));
                }
                Err(e) => return Err(e.into()),
            }
            let ours = rustix::fs::fstat(&fd)?;
            match rustix::fs::statat(base, path, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_ino == ours.st_ino && st.st_dev == ours.st_dev => {}
                Ok(_) | Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            }
            // Only now is anything changed: a file that is not ours to
            // take over is left as it was.
            let regular = FileType::from_raw_mode(ours.st_mode) == FileType::RegularFile;
            if !regular || ours.st_size > PID_TEXT_MAX as i64 || read_pid(&fd) == PidText::Other {
                return Err(Refused::NotPidfile);
            }
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644))?;
            rustix::fs::ftruncate(&fd, 0)?;
            return Ok(Pidfile { fd, path });
        }
        Err(Refused::Io(Errno::AGAIN))
    }

    /// Writes `pid` and a newline.
    pub fn write(&self, pid: i32) -> Result<(), Errno> {
        let mut b = Buf::<16>::new();
        b.u(pid as u64).s(b"\n");
        rustix::fs::ftruncate(&self.fd, 0)?;
        match rustix::io::pwrite(&self.fd, b.as_bytes(), 0)? {
            n if n == b.len() => Ok(()),
            _ => Err(Errno::NOSPC),
        }
    }

    /// Removes the file, while still holding the lock, then unlocks.
    pub fn remove(self, base: BorrowedFd<'_>) {
        let _ = rustix::fs::unlinkat(base, self.path, AtFlags::empty());
    }

    pub fn path(&self) -> &'a CStr {
        self.path
    }
}

/// The most bytes a pidfile may hold (a PID padded with blanks, as some
/// tools write it).
const PID_TEXT_MAX: usize = 64;

/// What a file holds, as far as a pidfile goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PidText {
    /// Nothing, or only blanks.
    Empty,
    /// A decimal PID, blanks around it allowed.
    Pid(u64),
    /// Anything else: not a pidfile.
    Other,
}

/// What the file says; a file that cannot be read is not a pidfile.
fn read_pid(fd: &OwnedFd) -> PidText {
    let mut b = [0u8; PID_TEXT_MAX + 1];
    match rustix::io::pread(fd, &mut b, 0) {
        Ok(n) => pid_text(&b[..n]),
        Err(_) => PidText::Other,
    }
}

/// What a pidfile's text `b` holds.
pub fn pid_text(b: &[u8]) -> PidText {
    if b.len() > PID_TEXT_MAX {
        return PidText::Other;
    }
    let blank = |c: &u8| c.is_ascii_whitespace();
    let start = b.iter().position(|c| !blank(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !blank(c)).map_or(start, |i| i + 1);
    if start == end {
        return PidText::Empty;
    }
    crate::util::num::decimal(&b[start..end]).map_or(PidText::Other, PidText::Pid)
}

#[cfg(test)]
mod tests {
    use super::PidText::{Empty, Other, Pid};
    use super::pid_text;

    #[test]
    fn what_a_pidfile_may_hold() {
        assert_eq!(pid_text(b""), Empty);
        assert_eq!(pid_text(b"\n"), Empty);
        assert_eq!(pid_text(b"4711\n"), Pid(4711));
        assert_eq!(pid_text(b"4711"), Pid(4711));
        assert_eq!(pid_text(b"      4711\n"), Pid(4711));
        // Not a pidfile: left alone (issue 8, defect 9).
        assert_eq!(pid_text(b"[tinyd]\npidfile = x\n"), Other);
        assert_eq!(pid_text(b"4711\nmore\n"), Other);
        assert_eq!(pid_text(b"-1\n"), Other);
        assert_eq!(pid_text(&[b' '; 65]), Other);
    }
}
