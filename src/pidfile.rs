//! The pidfile: created `O_CLOEXEC|O_NOFOLLOW`, mode 0644, `flock`ed
//! exclusively for the daemon's whole life (the lock belongs to the open
//! file description, so it survives the daemon's forks and stays out of
//! COMMAND). A file nobody holds a lock on is stale and taken over. It holds
//! the PID in decimal and a newline, as start-stop-daemon reads it.

use core::ffi::CStr;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::buf::Buf;

pub struct Pidfile<'a> {
    fd: OwnedFd,
    path: &'a CStr,
}

/// Why the pidfile could not be taken.
#[derive(Debug)]
pub enum Refused {
    /// Another live process holds it; its PID if the file says.
    Locked(Option<u64>),
    Io(Errno),
}

impl From<Errno> for Refused {
    fn from(e: Errno) -> Refused {
        Refused::Io(e)
    }
}

impl<'a> Pidfile<'a> {
    /// Creates or takes over `path` (relative to `base`) and locks it.
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
                Err(Errno::WOULDBLOCK) => return Err(Refused::Locked(read_pid(&fd))),
                Err(e) => return Err(e.into()),
            }
            let ours = rustix::fs::fstat(&fd)?;
            match rustix::fs::statat(base, path, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_ino == ours.st_ino && st.st_dev == ours.st_dev => {}
                Ok(_) | Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
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

fn read_pid(fd: &OwnedFd) -> Option<u64> {
    let mut b = [0u8; 24];
    let n = rustix::io::pread(fd, &mut b, 0).ok()?;
    let digits = b[..n].iter().take_while(|c| c.is_ascii_digit()).count();
    crate::num::decimal(&b[..digits])
}
