//! Services' output, and the log writer's supervision.
//!
//! Lines read from a service's pipe go to its ring (its log file), to
//! tinyd's own ring (a service without a log of its own) or to syslog. A
//! line that finds its ring full waits in the service's line buffer, and
//! tinyd stops reading that pipe: the pipe fills and the service's writes
//! wait. With `log-full = block` that lasts until the writer makes room;
//! with `drop` (the default) only while the writer is making progress:
//! once its log has taken nothing for `STUCK`, lines are read and counted
//! as lost instead, so the service never waits longer than that.
//!
//! The writer (`log::writer`) is a child of tinyd, started when a ring is
//! first used and restarted at once when it dies (after `RESTART_DELAY`
//! if it died within `QUICK` of its start). tinyd keeps the rings and the
//! pipes, so a restart loses nothing; the delay is far below `STUCK`, so
//! that even a writer killed again and again does not make `drop` drop.

use core::sync::atomic::Ordering::SeqCst;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::time::Timespec;

use crate::log::ring::{RingId, Rings};
use crate::log::sink::{PRI_ERR, PRI_INFO, Target};
use crate::os::spawn::{self, Helper};
use crate::pure::settings::LogFull;
use crate::pure::svc::Status;
use crate::pure::time::{Instant, Ms};
use crate::sup::{Msg, Sup, target};

/// How long a service's output may wait for a log that takes nothing
/// before its lines are dropped (`log-full = drop`).
pub const STUCK: Ms = Ms(1000);
/// A writer that dies sooner than `QUICK` after its start is started
/// again `RESTART_DELAY` after its death (never a fork loop).
pub const QUICK: Ms = Ms(1000);
pub const RESTART_DELAY: Ms = Ms(100);
/// How long tinyd waits at exit for the writer to write what is left.
pub const DRAIN: Ms = Ms(1000);

/// The log writer as tinyd sees it.
pub struct Writer {
    pid: Option<Pid>,
    /// Write end of the pipe that wakes the writer; read end of the one
    /// that wakes tinyd (room in a ring).
    kick: Option<OwnedFd>,
    room: Option<OwnedFd>,
    started: Instant,
    /// When it may be started (again); `None`: at once.
    due: Option<Instant>,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    pub const fn new() -> Writer {
        Writer {
            pid: None,
            kick: None,
            room: None,
            started: Instant::ZERO,
            due: None,
        }
    }

    pub fn pid(&self) -> Option<Pid> {
        self.pid
    }

    /// The pipe tinyd polls for room, while a writer runs.
    pub fn room_fd(&self) -> Option<BorrowedFd<'_>> {
        self.room.as_ref().map(|f| f.as_fd())
    }

    /// When the writer is to be started again, if it is waiting for that.
    pub fn deadline(&self) -> Option<Instant> {
        if self.pid.is_none() { self.due } else { None }
    }

    /// Wakes the writer if something was pushed and it sleeps.
    pub fn kick(&mut self, rings: &mut Rings) {
        let (true, Some(area), Some(k)) = (rings.take_pushed(), rings.mapped(), &self.kick) else {
            return;
        };
        if area.idle.swap(0, SeqCst) == 1 {
            let _ = rustix::io::write(k, &[0]);
        }
    }

    /// SIGHUP: the writer reopens every file.
    pub fn reopen(&mut self, rings: &mut Rings) {
        if let (Some(area), Some(k)) = (rings.mapped(), &self.kick) {
            area.reopen.fetch_add(1, SeqCst);
            let _ = rustix::io::write(k, &[0]);
        }
    }

    /// Reads the room pipe empty.
    pub fn drain_room(&self) {
        let Some(r) = &self.room else { return };
        let mut buf = [0u8; 64];
        while let Ok(n) = rustix::io::read(r, &mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}

/// A pipe: (read end, write end).
type Pipe = (OwnedFd, OwnedFd);

/// Two pipes, non-blocking on both ends: (kick read, kick write),
/// (room read, room write).
fn pipes() -> Result<(Pipe, Pipe), Errno> {
    use rustix::pipe::{PipeFlags, pipe_with};
    let kick = pipe_with(PipeFlags::CLOEXEC)?;
    let room = pipe_with(PipeFlags::CLOEXEC)?;
    rustix::fs::fcntl_setfl(&kick.1, rustix::fs::OFlags::NONBLOCK)?;
    rustix::fs::fcntl_setfl(&kick.0, rustix::fs::OFlags::NONBLOCK)?;
    rustix::fs::fcntl_setfl(&room.0, rustix::fs::OFlags::NONBLOCK)?;
    rustix::fs::fcntl_setfl(&room.1, rustix::fs::OFlags::NONBLOCK)?;
    Ok((kick, room))
}

impl Sup<'_> {
    /// Starts the writer when a ring is in use and none runs (and its
    /// restart is due).
    #[inline(never)]
    pub(crate) fn ensure_writer(&mut self, now: Instant) {
        let w = &self.writer;
        if w.pid.is_some() || w.due.is_some_and(|d| now < d) || !self.rings.busy() {
            return;
        }
        let Some(area) = self.rings.mapped() else {
            return;
        };
        let mut m = Msg::new();
        let ((kick_r, kick_w), (room_r, room_w)) = match pipes() {
            Ok(p) => p,
            Err(e) => return self.writer_failed(now, m.s(b"cannot start the log writer: ").err(e)),
        };
        let cwd = rustix::fd::AsRawFd::as_raw_fd(&self.base)
            == rustix::fd::AsRawFd::as_raw_fd(&rustix::fs::CWD);
        let base = self.base;
        let all = [base, kick_r.as_fd(), room_w.as_fd()];
        let fds = if cwd { &all[1..] } else { &all[..] };
        match spawn::fork_helper(c"tinyd-log", fds) {
            Ok(Helper::Child(mut fds)) => {
                let room = fds.pop();
                let kick = fds.pop();
                let base = fds.pop();
                let (Some(kick), Some(room)) = (kick, room) else {
                    crate::os::sys::exit(71)
                };
                match &base {
                    Some(b) => crate::log::writer::run(area, b.as_fd(), kick, room),
                    None => crate::log::writer::run(area, rustix::fs::CWD, kick, room),
                }
            }
            Ok(Helper::Parent(pid)) => {
                let w = &mut self.writer;
                (w.pid, w.kick, w.room, w.started, w.due) =
                    (Some(pid), Some(kick_w), Some(room_r), now, None);
                // Whatever waits in the rings is its to write.
                area.idle.store(0, SeqCst);
                let _ = rustix::io::write(self.writer.kick.as_ref().expect("set"), &[0]);
            }
            Err(e) => self.writer_failed(now, m.s(b"cannot start the log writer: ").err(e)),
        }
    }

    #[cold]
    fn writer_failed(&mut self, now: Instant, m: &Msg) {
        self.writer.due = Some(now + RESTART_DELAY);
        self.event(None, PRI_ERR, m.as_bytes());
    }

    /// The writer (`pid`) ended with `status`: it is started again.
    #[inline(never)]
    pub(crate) fn writer_ended(&mut self, status: Status, now: Instant) {
        let w = &mut self.writer;
        let pid = w.pid.take().map_or(0, |p| p.as_raw_nonzero().get());
        (w.kick, w.room) = (None, None);
        let soon = now.since(w.started) < QUICK;
        w.due = soon.then(|| now + RESTART_DELAY);
        let mut m = Msg::new();
        m.s(b"log writer (pid ").u(pid as u64).s(b") ");
        match status {
            Status::Exited(c) => m.s(b"exited with status ").u(c as u64),
            Status::Signaled(s) => m.s(b"killed by signal ").u(s as u64),
        };
        m.s(b"; restarting");
        self.event(None, PRI_ERR, m.as_bytes());
    }

    /// At exit (every service is down): output still waiting for room is
    /// given it as the writer makes it, then the writer is told to finish
    /// (its pipe closed) and to write what is left, all within `DRAIN`;
    /// then it is killed. Reaped either way.
    #[inline(never)]
    pub(crate) fn finish_writer(&mut self) {
        let end = crate::sup::now() + DRAIN;
        while self.writer.pid.is_some() {
            for i in 0..self.t.slots.len() {
                self.flush_output(i);
            }
            self.writer.kick(self.rings);
            let (Some(area), Some(room)) = (self.rings.mapped(), &self.writer.room) else {
                break;
            };
            let now = crate::sup::now();
            if !self.t.slots.iter().any(|s| s.line.held()) || now >= end {
                break;
            }
            area.waiting.store(1, SeqCst);
            if !wait_readable(room, now.until(end)) {
                break;
            }
            let mut buf = [0u8; 64];
            if let Ok(0) = rustix::io::read(room, &mut buf) {
                break; // the writer is gone
            }
        }
        let Some(pid) = self.writer.pid.take() else {
            return;
        };
        self.writer.kick = None;
        if let Some(room) = self.writer.room.take() {
            // The room pipe ends (POLLHUP) when the writer exits.
            while wait_readable(&room, crate::sup::now().until(end)) {
                let mut buf = [0u8; 64];
                if let Ok(0) = rustix::io::read(&room, &mut buf) {
                    break;
                }
            }
        }
        let _ = rustix::process::kill_process(pid, Signal::KILL);
        while let Err(Errno::INTR) = rustix::process::waitpid(Some(pid), WaitOptions::empty()) {}
    }

    /// Where service `i`'s lines go: its ring, tinyd's ring, or (`None`)
    /// syslog or nowhere.
    fn ring_of(&self, i: usize) -> Option<RingId> {
        let slot = &self.t.slots[i];
        match target(&slot.spec, self.devlog) {
            Target::File { .. } => slot.ring,
            Target::None => self.own_ring,
            Target::Syslog { .. } => None,
        }
    }

    /// Reads what service `i` wrote, up to `rounds` reads, logging each
    /// line; stops early when its log cannot take more (see the module).
    pub(crate) fn read_output(&mut self, i: usize, rounds: usize) {
        let ring = self.ring_of(i);
        let now = crate::sup::now();
        let base = self.base;
        let devlog = self.devlog;
        let svc = &self.t.model.get(i).svc;
        let pid = svc.pid.unwrap_or(svc.pgid);
        let Sup {
            t, rings, scratch, ..
        } = self;
        let slot = &mut t.slots[i];
        let Some((r, _)) = &slot.out else { return };
        let target = target(&slot.spec, devlog);
        let tag = slot.spec.syslog_tag().unwrap_or(slot.spec.name());
        let block = slot.spec.log_full == LogFull::Block;
        // `drop`: a log that has taken nothing for STUCK loses lines.
        let mut dropping = false;
        if let (Some(rg), false) = (ring, block) {
            let tail = rings.tail(rg);
            match slot.full_since {
                Some((_, t0)) if t0 != tail => slot.full_since = None,
                Some((since, _)) => dropping = now.since(since) >= STUCK,
                None => {}
            }
        }
        // The lines of one read get one time, taken at their first (lines
        // waiting from an earlier read: when they are taken).
        let fresh = core::cell::Cell::new(true);
        let full_since = &mut slot.full_since;
        let sink = &mut slot.sink;
        let mut put = |p: crate::util::lines::Piece<'_>| -> bool {
            let text = p.text;
            if fresh.replace(false) {
                rings.now();
            }
            let Some(rg) = ring else {
                sink.line(base, &target, tag, pid, PRI_INFO, text);
                return true;
            };
            if rings.output(rg, tag, text) {
                return true;
            }
            if dropping {
                rings.lose(rg);
                return true;
            }
            if !block && full_since.is_none() {
                *full_since = Some((now, rings.tail(rg)));
            }
            false
        };
        if !slot.line.resume(&mut put) {
            return;
        }
        // What an earlier read left in the scratch buffer goes first.
        if scratch.owner == Some(i) {
            let (at, len) = (scratch.at, scratch.len);
            match feed(&mut slot.line, &scratch.buf[at..len], &mut put) {
                Some(k) => {
                    scratch.at = at + k;
                    return;
                }
                None => scratch.owner = None,
            }
        }
        for _ in 0..rounds {
            // Big reads through the scratch buffer while it is free (one
            // read for a few pages of short lines), else into the line
            // buffer.
            let free = scratch.owner.is_none();
            let buf = if free {
                &mut scratch.buf[..]
            } else {
                slot.line.spare()
            };
            let want = buf.len();
            let n = match rustix::io::read(r, buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(_) => break, // EAGAIN: all read
            };
            fresh.set(true);
            if free {
                if let Some(k) = feed(&mut slot.line, &scratch.buf[..n], &mut put) {
                    (scratch.owner, scratch.at, scratch.len) = (Some(i), k, n);
                    return;
                }
            } else if !slot.line.commit(n, &mut put) {
                return;
            }
            // A short read emptied the pipe: no read just to hear EAGAIN.
            if n < want {
                break;
            }
        }
        if !slot.line.held() {
            slot.full_since = None;
        }
    }

    /// Logs what is left of service `i`'s output, partial line included
    /// (unless its log cannot take it now: then it waits, and comes first
    /// when it can).
    pub(crate) fn flush_output(&mut self, i: usize) {
        self.read_output(i, usize::MAX);
        if self.t.slots[i].line.held() {
            return;
        }
        let ring = self.ring_of(i);
        let base = self.base;
        let devlog = self.devlog;
        let pid = self.t.model.get(i).svc.pgid;
        let Sup { t, rings, .. } = self;
        let slot = &mut t.slots[i];
        let target = target(&slot.spec, devlog);
        let tag = slot.spec.syslog_tag().unwrap_or(slot.spec.name());
        let sink = &mut slot.sink;
        rings.now();
        slot.line.flush(|p| match ring {
            Some(rg) => rings.output(rg, tag, p.text),
            None => {
                sink.line(base, &target, tag, pid, PRI_INFO, p.text);
                true
            }
        });
    }

    /// Services whose output waits for room: read again (room may have
    /// come). Tells the writer to wake tinyd when it makes room, first, so
    /// that room made meanwhile is not missed.
    #[inline(never)]
    pub(crate) fn resume_held(&mut self) {
        let held = self.t.slots.iter().any(|s| s.line.held());
        let Some(area) = self.rings.mapped() else {
            return;
        };
        if !held {
            return;
        }
        area.waiting.store(1, SeqCst);
        for i in 0..self.t.slots.len() {
            if self.t.slots[i].line.held() {
                self.read_output(i, crate::sup::READS_PER_TURN);
            }
        }
    }

    /// The earliest time a service's waiting output starts to be dropped.
    pub(crate) fn stuck_deadline(&self) -> Option<Instant> {
        self.t
            .slots
            .iter()
            .filter(|s| s.line.held())
            .filter_map(|s| s.full_since.map(|(t, _)| t + STUCK))
            .map(Some)
            .fold(self.writer.deadline(), crate::pure::time::earliest)
    }
}

/// Waits up to `ms` for `fd` to be readable (or at its end); false when
/// the time ran out.
fn wait_readable(fd: &OwnedFd, ms: Ms) -> bool {
    let end = crate::sup::now() + ms;
    loop {
        let left = crate::sup::now().until(end).0;
        if left == 0 {
            return false;
        }
        let t = Timespec {
            tv_sec: (left / 1000) as _,
            tv_nsec: (left % 1000 * 1_000_000) as _,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&t)) {
            Err(Errno::INTR) => {}
            Ok(0) | Err(_) => return false,
            Ok(_) => return true,
        }
    }
}

/// Bytes read into the scratch buffer for one service, while they wait.
#[repr(C)] // the header first, on the buffer's first page
pub struct Scratch {
    /// The instance whose bytes `at..len` wait here (its output was
    /// refused for room); `None`: free.
    pub(crate) owner: Option<usize>,
    pub(crate) at: usize,
    pub(crate) len: usize,
    pub(crate) buf: [u8; SCRATCH],
}

/// Bytes of one read of a service's pipe through the scratch buffer.
pub const SCRATCH: usize = 4096;

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    pub const fn new() -> Scratch {
        Scratch {
            buf: [0; SCRATCH],
            owner: None,
            at: 0,
            len: 0,
        }
    }

    /// Instance `i` is removed and the last one takes its index.
    pub fn moved(&mut self, i: usize, last: usize) {
        if self.owner == Some(i) {
            self.owner = None;
        } else if self.owner == Some(last) {
            self.owner = Some(i);
        }
    }
}

/// Feeds `data` through `line`, a buffer's worth at a time; `Some(k)` when
/// a piece was refused with `data[k..]` not yet taken.
fn feed(
    line: &mut crate::util::lines::LineBuf<'_>,
    data: &[u8],
    put: &mut impl FnMut(crate::util::lines::Piece<'_>) -> bool,
) -> Option<usize> {
    let mut at = 0;
    while at < data.len() {
        let spare = line.spare();
        let k = spare.len().min(data.len() - at);
        spare[..k].copy_from_slice(&data[at..at + k]);
        at += k;
        if !line.commit(k, &mut *put) {
            return Some(at);
        }
    }
    None
}
