//! The sd_notify socket: an abstract AF_UNIX datagram socket that services
//! send `READY=1` and the like to (`pure::notify` parses what arrives).
//!
//! The kernel attaches each sender's credentials (SO_PASSCRED), so a
//! datagram says which process sent it. Descriptors that arrive with a
//! datagram (SCM_RIGHTS) are closed at once, never kept: systemd-notify
//! sends `BARRIER=1` with a pipe and waits until the receiver closes it.
//! Never blocks and never interprets what it receives.

use core::mem::MaybeUninit;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::{Errno, IoSliceMut};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SocketAddrUnix, SocketFlags, SocketType,
};

use crate::util::buf::Buf;
use crate::util::store::ArrayVec;

/// The socket's abstract name is this and tinyd's PID.
const PREFIX: &[u8] = b"tinyd/notify/";
/// The variable that tells a service where to send; `@` marks an abstract
/// name for sd_notify clients.
const VAR: &[u8] = b"NOTIFY_SOCKET=@";

/// Bytes of a name: the prefix and a PID of up to 10 digits.
pub const NAME_LEN: usize = PREFIX.len() + 10;
/// Bytes of `NOTIFY_SOCKET=@NAME`.
pub const ENV_LEN: usize = VAR.len() + NAME_LEN;

/// The abstract name of tinyd `pid`'s socket, without the leading NUL:
/// `tinyd/notify/PID`.
pub fn name(pid: u32) -> Buf<NAME_LEN> {
    let mut b = Buf::new();
    b.s(PREFIX).u(pid.into());
    b
}

/// The environment entry for services: `NOTIFY_SOCKET=@tinyd/notify/PID`
/// (no NUL at the end).
pub fn env(pid: u32) -> Buf<ENV_LEN> {
    let mut b = Buf::new();
    b.s(VAR).s(name(pid).as_bytes());
    b
}

/// Descriptors one datagram may carry that are taken (and closed) rather
/// than left to the kernel to discard; systemd-notify sends one.
const FDS: usize = 8;
/// Room for the credentials and `FDS` descriptors.
const SPACE: usize = rustix::cmsg_space!(ScmCredentials(1), ScmRights(FDS));

/// The ancillary buffer, aligned for `cmsghdr` so that none of it is lost
/// to alignment.
#[repr(C, align(8))]
struct Space([MaybeUninit<u8>; SPACE]);

pub struct NotifySocket {
    fd: OwnedFd,
}

/// One datagram received.
pub struct Datagram<'b> {
    /// What was sent (its first bytes, if `truncated`).
    pub bytes: &'b [u8],
    /// The sender's PID, from its credentials; `None` if none came. A
    /// privileged sender may name another process: systemd-notify run as
    /// root names its parent, as any other user itself.
    pub pid: Option<i32>,
    /// The datagram was longer than the buffer (MSG_TRUNC); count it as
    /// malformed.
    pub truncated: bool,
    /// The descriptors that came with it, closed when the datagram is
    /// dropped: after the sender is checked, since a sender such as
    /// systemd-notify waits for them to close and then exits (and an
    /// exited sender can no longer be placed).
    pub fds: ArrayVec<OwnedFd, FDS>,
}

impl NotifySocket {
    /// `socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK)`, with
    /// SO_PASSCRED, bound to the abstract name `name` (no leading NUL or
    /// `@`). Another socket with the name is `ADDRINUSE`.
    pub fn bind(name: &[u8]) -> Result<NotifySocket, Errno> {
        let addr = SocketAddrUnix::new_abstract_name(name)?;
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        // Before bind, so that no datagram arrives without credentials.
        rustix::net::sockopt::set_socket_passcred(&fd, true)?;
        rustix::net::bind(&fd, &addr)?;
        Ok(NotifySocket { fd })
    }

    /// For poll(2): readable when a datagram is waiting.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `recvmsg(MSG_DONTWAIT)`: one datagram into `buf`, or `None` if none
    /// is waiting. Descriptors that came with it are in the datagram, and
    /// closed with it (those that did not fit in the ancillary buffer, the
    /// kernel has closed already; more than `FDS` are closed at once).
    pub fn recv<'b>(&self, buf: &'b mut [u8]) -> Result<Option<Datagram<'b>>, Errno> {
        let mut space = Space([MaybeUninit::uninit(); SPACE]);
        let mut anc = RecvAncillaryBuffer::new(&mut space.0);
        let r = loop {
            let mut iov = [IoSliceMut::new(&mut *buf)];
            match rustix::net::recvmsg(
                &self.fd,
                &mut iov,
                &mut anc,
                RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(r) => break r,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(e),
            }
        };
        let mut pid = None;
        let mut fds = ArrayVec::new();
        for m in anc.drain() {
            match m {
                RecvAncillaryMessage::ScmCredentials(c) => pid = Some(c.pid.as_raw_nonzero().get()),
                // Each descriptor is an OwnedFd: one that finds no room is
                // dropped, which closes it.
                RecvAncillaryMessage::ScmRights(got) => got.for_each(|fd| drop(fds.push(fd))),
                _ => {}
            }
        }
        let buf: &'b [u8] = buf;
        let n = r.bytes.min(buf.len());
        Ok(Some(Datagram {
            bytes: &buf[..n],
            pid,
            truncated: r.flags.contains(ReturnFlags::TRUNC),
            fds,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};

    fn bound(tag: &str) -> (NotifySocket, UnixDatagram) {
        let name = format!("tinyd-test/notify/{tag}/{}", std::process::id());
        let sock = NotifySocket::bind(name.as_bytes()).unwrap();
        let tx = UnixDatagram::unbound().unwrap();
        tx.connect_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
            .unwrap();
        (sock, tx)
    }

    #[test]
    fn names() {
        assert_eq!(name(4_294_967_295).as_bytes(), b"tinyd/notify/4294967295");
        assert_eq!(env(42).as_bytes(), b"NOTIFY_SOCKET=@tinyd/notify/42");
        assert_eq!(env(u32::MAX).len(), ENV_LEN);
    }

    #[test]
    fn receives_bytes_and_sender_pid() {
        let (sock, tx) = bound("pid");
        let mut buf = [0u8; 64];
        assert!(sock.recv(&mut buf).unwrap().is_none());
        tx.send(b"READY=1\nSTATUS=up\n").unwrap();
        let d = sock.recv(&mut buf).unwrap().unwrap();
        assert_eq!(d.bytes, b"READY=1\nSTATUS=up\n");
        assert_eq!(d.pid, Some(std::process::id() as i32));
        assert!(!d.truncated);
        assert!(sock.recv(&mut buf).unwrap().is_none());

        // Too long for the buffer: cut, and said so.
        tx.send(&[b'x'; 100]).unwrap();
        let d = sock.recv(&mut buf).unwrap().unwrap();
        assert_eq!(d.bytes, &[b'x'; 64][..]);
        assert!(d.truncated);
    }

    #[test]
    fn name_taken() {
        let (_sock, _tx) = bound("taken");
        let name = format!("tinyd-test/notify/taken/{}", std::process::id());
        assert_eq!(
            NotifySocket::bind(name.as_bytes()).err(),
            Some(Errno::ADDRINUSE)
        );
    }

    /// A rustix socket connected to `sock`'s name (std's `UnixDatagram` is
    /// not a rustix `AsFd`), to send descriptors with.
    fn sender(tag: &str) -> (NotifySocket, OwnedFd) {
        let name = format!("tinyd-test/notify/{tag}/{}", std::process::id());
        let sock = NotifySocket::bind(name.as_bytes()).unwrap();
        let tx = rustix::net::socket(AddressFamily::UNIX, SocketType::DGRAM, None).unwrap();
        let addr = SocketAddrUnix::new_abstract_name(name.as_bytes()).unwrap();
        rustix::net::connect(&tx, &addr).unwrap();
        (sock, tx)
    }

    /// Sends `bytes` with `fds` (SCM_RIGHTS).
    fn send_fds(tx: &OwnedFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
        let mut anc = SendAncillaryBuffer::new(&mut space);
        assert!(anc.push(SendAncillaryMessage::ScmRights(fds)));
        let iov = [rustix::io::IoSlice::new(bytes)];
        rustix::net::sendmsg(tx, &iov, &mut anc, SendFlags::empty()).unwrap();
    }

    /// Whether the pipe's write end is closed everywhere (a read end sees
    /// POLLHUP).
    fn hung_up(r: &OwnedFd) -> bool {
        let mut p = [rustix::event::PollFd::new(r, rustix::event::PollFlags::IN)];
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::event::poll(&mut p, Some(&zero)).unwrap();
        p[0].revents().contains(rustix::event::PollFlags::HUP)
    }

    #[test]
    fn passed_descriptors_are_closed() {
        let (sock, tx) = sender("fds");
        let (r, w) = rustix::pipe::pipe().unwrap();
        send_fds(&tx, b"BARRIER=1\n", &[w.as_fd()]);
        drop(w);
        // The write end lives on in the datagram (and then in tinyd).
        assert!(!hung_up(&r));
        let mut buf = [0u8; 64];
        let d = sock.recv(&mut buf).unwrap().unwrap();
        assert_eq!(d.bytes, b"BARRIER=1\n");
        assert!(!hung_up(&r), "held while the datagram is");
        drop(d);
        assert!(hung_up(&r));
        let mut b = [0u8; 1];
        assert_eq!(rustix::io::read(&r, &mut b), Ok(0));
    }

    #[test]
    fn too_many_descriptors_leak_nothing() {
        // More than the ancillary buffer holds: the kernel closes the rest
        // (MSG_CTRUNC), recv closes what it got.
        let (sock, tx) = sender("many");
        let pipes: Vec<(OwnedFd, OwnedFd)> = (0..FDS + 8)
            .map(|_| rustix::pipe::pipe().unwrap())
            .collect();
        let ws: Vec<BorrowedFd<'_>> = pipes.iter().map(|(_, w)| w.as_fd()).collect();
        send_fds(&tx, b"x", &ws);
        drop(ws);
        let rs: Vec<OwnedFd> = pipes.into_iter().map(|(r, _w)| r).collect();
        let mut buf = [0u8; 64];
        let d = sock.recv(&mut buf).unwrap().unwrap();
        assert_eq!(d.bytes, b"x");
        assert_eq!(d.pid, Some(std::process::id() as i32));
        drop(d);
        for r in &rs {
            assert!(hung_up(r));
        }
    }
}
