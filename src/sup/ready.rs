//! Readiness as the loop sees it: the `ready = fd:N` pipes, the sd_notify
//! socket, and the launcher's answer.
//!
//! A service with `ready = fd:N` gets a pipe's write end at descriptor N;
//! tinyd polls the read end, and a newline on it makes the service ready
//! (s6's notification fd). One with `ready = notify` gets `NOTIFY_SOCKET`,
//! the name of one abstract datagram socket for all of them; a datagram
//! counts only if the kernel's credentials name a process of that
//! service's process group (the leader, or a process whose group is the
//! service's), so that no other process can make it ready. Descriptors
//! that come with a datagram (`systemd-notify`'s barrier) are closed at
//! once. The model decides what readiness means (`Model::became_ready`,
//! `Model::launch`); this module only carries it in.

use rustix::fd::OwnedFd;
use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::Pid;

use crate::log::sink::{PRI_ERR, PRI_NOTICE, PRI_WARNING};
use crate::os::notify::{self, NotifySocket};
use crate::pure::model::Launch;
use crate::pure::svc::{Fail, ReadyBy, Status};
use crate::sup::{Msg, Sup};
use crate::util::buf::Buf;

pub use crate::util::limits::{NOTIFY_MAX, NOTIFY_PER_TURN, STATUS_MAX};

/// The notify socket and the variable that names it.
pub struct Notify {
    sock: NotifySocket,
    /// `NOTIFY_SOCKET=@...` and its NUL.
    env: Buf<{ notify::ENV_LEN + 1 }>,
}

/// What a service said with `STOPPING=1` or `RELOADING=1`, shown by
/// `ctl status` until it is ready again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Said {
    Nothing,
    Reloading,
    Stopping,
}

impl<'a> Sup<'a> {
    /// What service `i`'s start needs for its readiness: the write end of
    /// its `fd:N` pipe (the read end stays in its slot), or the notify
    /// socket made if it is not yet. A socket that cannot be made is
    /// logged: the service then times out.
    pub(crate) fn ready_setup(&mut self, i: usize) -> Result<Option<OwnedFd>, Errno> {
        let p = self.t.model.get(i).policy;
        let slot = &mut self.t.slots[i];
        slot.ready_r = None;
        slot.status.clear();
        slot.said = Said::Nothing;
        if p.oneshot {
            return Ok(None);
        }
        match p.ready {
            ReadyBy::Exec => Ok(None),
            ReadyBy::Fd(_) => {
                let (r, w) = pipe_with(PipeFlags::CLOEXEC)?;
                rustix::fs::fcntl_setfl(&r, OFlags::NONBLOCK)?;
                slot.ready_r = Some(r);
                Ok(Some(w))
            }
            ReadyBy::Notify => {
                if self.notify.is_none() {
                    let me = self.me.as_raw_nonzero().get() as u32;
                    match NotifySocket::bind(notify::name(me).as_bytes()) {
                        Ok(sock) => {
                            let mut env = Buf::new();
                            env.s(notify::env(me).as_bytes()).s(b"\0");
                            self.notify = Some(Notify { sock, env });
                        }
                        Err(e) => {
                            let mut m = Msg::new();
                            m.s(b"cannot make the notify socket: ").err(e);
                            self.event(Some(i), PRI_ERR, m.as_bytes());
                        }
                    }
                }
                Ok(None)
            }
        }
    }

    /// `NOTIFY_SOCKET=...` for service `i`, if it uses it.
    pub(crate) fn notify_env(&self, i: usize) -> Option<&core::ffi::CStr> {
        let p = &self.t.model.get(i).policy;
        if p.ready != ReadyBy::Notify || p.oneshot {
            return None;
        }
        let n = self.notify.as_ref()?;
        core::ffi::CStr::from_bytes_until_nul(n.env.as_bytes()).ok()
    }

    pub(crate) fn notify_fd(&self) -> Option<rustix::fd::BorrowedFd<'_>> {
        self.notify.as_ref().map(|n| n.sock.fd())
    }

    /// Service `i` said it is ready: the model decides what follows.
    pub(crate) fn became_ready(&mut self, i: usize) {
        self.t.slots[i].said = Said::Nothing;
        if self.t.model.became_ready(i) {
            self.event(Some(i), PRI_NOTICE, b"ready");
        }
    }

    /// Service `i`'s `fd:N` pipe is readable: a newline is readiness; EOF
    /// (or the newline) closes tinyd's end.
    pub(crate) fn read_ready_fd(&mut self, i: usize) {
        let mut buf = [0u8; 64];
        loop {
            let Some(r) = &self.t.slots[i].ready_r else {
                return;
            };
            match rustix::io::read(r, &mut buf) {
                Ok(n) if n > 0 && !buf[..n].contains(&b'\n') => continue,
                Ok(n) => {
                    self.t.slots[i].ready_r = None;
                    if n > 0 {
                        self.became_ready(i);
                    }
                    return;
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return,
                Err(_) => {
                    self.t.slots[i].ready_r = None;
                    return;
                }
            }
        }
    }

    /// The notify socket is readable: a few datagrams, each from a process
    /// of the service it speaks for, or refused. (Not inlined: its buffer
    /// is on the stack only while it runs, not in the loop's frame.)
    #[inline(never)]
    pub(crate) fn read_notify(&mut self) {
        let mut buf = [0u8; NOTIFY_MAX];
        for _ in 0..NOTIFY_PER_TURN {
            let Some(n) = &self.notify else { return };
            let crate::os::notify::Datagram {
                bytes,
                pid,
                truncated: cut,
                fds,
            } = match n.sock.recv(&mut buf) {
                Ok(Some(d)) => d,
                Ok(None) | Err(_) => return,
            };
            let len = bytes.len();
            // The sender first, then its descriptors closed: a sender that
            // waits for that (systemd-notify's barrier) is still there.
            let sender = pid.and_then(|p| self.notify_sender(p));
            drop(fds);
            let Some(i) = sender else {
                let mut m = Msg::new();
                m.s(b"notify: refused a message from pid ")
                    .u(pid.unwrap_or(0) as u64)
                    .s(b" (not in a service's process group)");
                self.event(None, PRI_WARNING, m.as_bytes());
                continue;
            };
            let msg = crate::pure::notify::parse(&buf[..len]);
            if msg.malformed || cut {
                let mut m = Msg::new();
                m.s(b"notify: malformed message from pid ")
                    .u(pid.unwrap_or(0) as u64);
                self.event(Some(i), PRI_WARNING, m.as_bytes());
            }
            if let Some(text) = msg.status {
                let st = &mut self.t.slots[i].status;
                st.clear();
                // One line, printable: it goes into `status` lines.
                for &c in text.iter().take(STATUS_MAX) {
                    st.s(&[if (b' '..0x7f).contains(&c) { c } else { b'?' }]);
                }
            }
            // READY=1 first: with RELOADING=1 or STOPPING=1 in the same
            // datagram, that is what it says last.
            if msg.ready {
                self.became_ready(i);
            }
            if msg.reloading {
                self.t.slots[i].said = Said::Reloading;
            }
            if msg.stopping {
                self.t.slots[i].said = Said::Stopping;
            }
        }
    }

    /// The instance with `ready = notify` that process `pid` belongs to:
    /// its leader, or a member of its process group.
    fn notify_sender(&self, pid: i32) -> Option<usize> {
        let group = Pid::from_raw(pid)
            .and_then(|p| rustix::process::getpgid(Some(p)).ok())
            .map_or(0, |g| g.as_raw_nonzero().get());
        self.t.model.iter().position(|m| {
            m.policy.ready == ReadyBy::Notify
                && m.svc.active()
                && (m.svc.pid == Some(pid) || (group != 0 && m.svc.pgid == group))
        })
    }

    /// While a launcher waits: tells it once every service is ready (exit
    /// 0), or as soon as one failed to start (exit 1, one line for each
    /// that did).
    pub(crate) fn check_launch(&mut self) {
        if !self.ready.pending() {
            return;
        }
        match self.t.model.launch() {
            Launch::Pending => {}
            Launch::Ready => self.ready.ok(),
            Launch::Failed(_) => self.launch_failed(),
        }
    }

    /// The launcher's answer when a start failed: one line per service
    /// (its text buffer is in this frame only, not in every turn's).
    #[cold]
    #[inline(never)]
    fn launch_failed(&mut self) {
        let mut text = Buf::<2048>::new();
        for (i, m) in self.t.model.iter().enumerate() {
            if m.svc.was_ready || m.role != crate::pure::model::Role::Current {
                continue;
            }
            let ended = self.t.model.needs_ended(i);
            if m.svc.failed.is_none() && ended.is_none() {
                continue;
            }
            text.s(b"tinyd: ").s(self.t.slots[i].spec.name());
            match (m.svc.failed, ended) {
                (Some(Fail::Timeout), _) => text
                    .s(b": not ready after ")
                    .secs(m.policy.ready_timeout.0)
                    .s(b" seconds"),
                (Some(Fail::Exit(Status::Exited(c))), _) => {
                    text.s(b": not ready: exited with status ").u(c as u64)
                }
                (Some(Fail::Exit(Status::Signaled(n))), _) => {
                    text.s(b": not ready: killed by signal ").u(n as u64)
                }
                (None, Some(j)) => text
                    .s(b": not ready: needs ")
                    .s(self.t.slots[j].spec.name())
                    .s(b", which is not running"),
                (None, None) => &mut text,
            };
            text.s(b"\n");
        }
        self.ready.fail_text(crate::code::FAIL, text.as_bytes());
    }
}
