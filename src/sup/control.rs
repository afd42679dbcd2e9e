//! The control socket and reload (the `ctl` feature): `tinyd ctl`
//! requests, the clients waiting for a service to reach a state, and
//! re-reading the configuration file.
//!
//! A client never blocks the loop: its socket is non-blocking, its request
//! must arrive within `REQUEST_TIMEOUT`, and replies are written once,
//! without waiting (a client that does not read loses the rest).

use core::ffi::CStr;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode as FileMode};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::log::sink::{self, PRI_ERR, PRI_NOTICE};
use crate::os::sys;
use crate::pure::model::{Act, Hold, Model, Role, Staged};
use crate::pure::protocol::{self as ctl, Request};
use crate::pure::svc::{Fail, State, Status};
use crate::pure::time::{Instant, Ms};
use crate::sup::ready::Said;
use crate::sup::{
    Mode, Msg, PollSet, Prepared, SLOTS, SRC_CLIENT, SRC_KIND, SRC_LISTEN, Slot, Sup,
};
use crate::util::buf::Buf;
use crate::util::limits::MAX_SERVICES;
use crate::util::store::ArrayVec;
use rustix::fd::AsFd;

/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: Ms = Ms(2000);
/// The listen backlog, and the most connections accepted in one turn.
const BACKLOG: usize = 128;
/// How long the listener rests after `accept` ran out of descriptors.
const ACCEPT_PAUSE: Ms = Ms(1000);
/// How long `start` and `restart` wait for the service to run.
const START_WAIT: Ms = Ms(10_000);
/// Bytes of the longest `status` line: a 64-byte name, `stopping`, a PID,
/// UP, RESTARTS and `sig255`, with their spaces and newline (121), and
/// a space and the service's `STATUS=` text (48).
const STATUS_LINE_MAX: usize = 128 + 1 + crate::util::limits::STATUS_MAX;

/// A control connection.
pub struct Client {
    fd: OwnedFd,
    req: [u8; ctl::REQUEST_MAX],
    len: usize,
    /// Until when it may send its request, or its wait may last (`None`:
    /// `shutdown`, answered as tinyd exits).
    pub deadline: Option<Instant>,
    pub wait: Option<Wait>,
}

/// A request waiting for a service to reach a state.
#[derive(Clone, Copy)]
pub enum Wait {
    /// Until it is ready, or a start fails (the count of failed starts
    /// when it was asked).
    Up(Buf<64>, u32),
    Down(Buf<64>),
    /// `shutdown`: answered as tinyd exits.
    Exit,
}

/// What a reload changed.
#[derive(Default)]
pub struct Changes {
    pub added: u32,
    pub removed: u32,
    pub changed: u32,
    pub unchanged: u32,
}

impl<'a> Sup<'a> {
    /// The listener and the clients' sockets, for the loop's poll.
    pub fn poll_control<'f>(&'f self, set: &mut PollSet<'f>) {
        if let Some((_, l)) = &self.control {
            // A table full of clients that all wait for a state leaves the
            // rest in the backlog; one without a request yet makes room.
            if self.room_for_one() && self.accept_after.is_none() {
                set.add(rustix::fd::AsFd::as_fd(l), SRC_LISTEN);
            }
        }
        for (i, c) in self.t.clients.iter().enumerate() {
            if c.wait.is_none() {
                set.add(rustix::fd::AsFd::as_fd(&c.fd), SRC_CLIENT | i as u16);
            }
        }
    }

    /// Reads the clients that are ready, then accepts new ones.
    pub fn serve(&mut self, srcs: &[u16], ready: &dyn Fn(usize) -> bool, now: Instant) {
        if self.accept_after.is_some_and(|t| t <= now) {
            self.accept_after = None;
        }
        // From the last index down: a reply removes its entry.
        for k in (0..srcs.len()).rev() {
            if srcs[k] & SRC_KIND == SRC_CLIENT && ready(k) {
                self.went_deep = true;
                self.client_readable((srcs[k] & !SRC_KIND) as usize, now);
            }
        }
        if srcs
            .iter()
            .enumerate()
            .any(|(k, &s)| s == SRC_LISTEN && ready(k))
        {
            self.accept(now);
        }
    }

    /// Index of the current instance of the service called `name`.
    pub(crate) fn find(&self, name: &[u8]) -> Option<usize> {
        let Sup { t, .. } = self;
        (0..t.slots.len())
            .find(|&i| t.model.get(i).role == Role::Current && t.slots[i].spec.name() == name)
    }

    /// SIGHUP in config mode: reload (errors go to tinyd's log).
    #[inline(never)]
    pub fn reload_on_hup(&mut self) {
        if let Mode::Config(_) = self.mode {
            let code = self.reload(None);
            if code != ctl::OK {
                self.event(
                    None,
                    PRI_ERR,
                    b"reload on SIGHUP failed; the old configuration stays",
                );
            }
        }
    }

    /// Answers `shutdown` requests as tinyd exits.
    pub fn answer_shutdown(&mut self) {
        let mut i = 0;
        while i < self.t.clients.len() {
            if matches!(self.t.clients[i].wait, Some(Wait::Exit)) {
                self.reply(i, ctl::OK, b"stopped\n");
            } else {
                i += 1;
            }
        }
    }

    /// Re-reads the configuration file and applies it. The reply goes to
    /// `client` (taken out of the table, closed after it) as it is made,
    /// one line per error, however many: nothing is held in a buffer that
    /// could cut it. Each error goes to tinyd's log too. Returns the status.
    #[inline(never)]
    pub fn reload(&mut self, client: Option<Client>) -> u8 {
        self.went_deep = true;
        let send = |parts: &[&[u8]]| {
            if let Some(c) = &client {
                sink::write_parts(c.fd.as_fd(), parts);
            }
        };
        let Mode::Config(path) = self.mode else {
            send(&[
                b"1\n",
                b"tinyd: no configuration file to reload (started without --config)\n",
            ]);
            return ctl::FAILED;
        };
        let out = self.out(PRI_ERR);
        let mut head = false;
        let Sup {
            t,
            rings,
            own_ring,
            base,
            ..
        } = self;
        let loaded = crate::sup::reload::load_config(
            *base,
            path,
            t,
            &mut |line: &[&[u8]]| {
                let mut all: [&[u8]; 10] = [b""; 10];
                all[0] = if head { b"" } else { b"78\n" };
                all[1] = b"tinyd: ";
                let n = line.len().min(7);
                all[2..2 + n].copy_from_slice(&line[..n]);
                all[2 + n] = b"\n";
                send(&all[..3 + n]);
                head = true;
                out.emit(line, None, *own_ring, rings);
            },
            // tinyd's own settings are read at start only.
            &mut |_, _| {},
        );
        if loaded.is_err() {
            if !head {
                send(&[b"78\n"]);
            }
            return ctl::CONFIG;
        }
        let ch = match self.apply(client.as_ref()) {
            Ok(ch) => ch,
            Err(code) => return code,
        };
        let mut m = Msg::new();
        m.s(b"reloaded: ")
            .u(ch.added as u64)
            .s(b" added, ")
            .u(ch.removed as u64)
            .s(b" removed, ");
        m.s(b"")
            .u(ch.changed as u64)
            .s(b" changed, ")
            .u(ch.unchanged as u64)
            .s(b" unchanged");
        self.event(None, PRI_NOTICE, m.as_bytes());
        send(&[b"0\n", m.as_bytes(), b"\n"]);
        ctl::OK
    }

    /// Applies the staged specs: new services start, removed ones stop,
    /// changed ones restart with their new settings (once the old instance
    /// is gone), unchanged ones keep running untouched; a service stopped
    /// by request stays stopped. The whole reload is checked first (room
    /// for the new instances, every new log file opened): if anything
    /// fails, the error is logged (and sent, by the caller) and nothing of
    /// the running configuration is touched.
    fn apply(&mut self, client: Option<&Client>) -> Result<Changes, u8> {
        // Each staged spec against the table; the model makes the plan.
        let mut staged = [Staged::default(); MAX_SERVICES];
        for (st, spec) in staged.iter_mut().zip(self.t.staged.iter()) {
            st.current = self
                .find(spec.name())
                .map(|i| (i, self.t.slots[i].spec.same(spec)));
            st.named =
                (0..self.t.slots.len()).find(|&j| self.t.slots[j].spec.name() == spec.name());
        }
        let n = self.t.staged.len();
        let plan = match self.t.model.plan(&staged[..n]) {
            Ok(p) => p,
            Err(e) => {
                let mut m = Msg::new();
                m.s(b"cannot reload: ")
                    .u(e.stopping as u64)
                    .s(b" services of earlier configurations are still stopping (room for ")
                    .u(SLOTS as u64)
                    .s(b" instances); nothing was changed");
                let code = self.refuse(client, &[m.as_bytes()]);
                self.unstage();
                return Err(code);
            }
        };
        // A ring for every new instance that logs to a file (rings of
        // instances gone are free once written out).
        let rings = self
            .t
            .staged
            .iter()
            .enumerate()
            .filter(|&(k, spec)| plan.new[k].is_some() && spec.log_file().is_some());
        let need = rings.count();
        if need > self.rings.free_count() {
            let mut m = Msg::new();
            m.s(b"cannot reload: ")
                .u(need as u64)
                .s(b" log files need a ring, ")
                .u(self.rings.free_count() as u64)
                .s(b" are free (the others are still being written out); nothing was changed");
            let code = self.refuse(client, &[m.as_bytes()]);
            self.unstage();
            return Err(code);
        }
        // Every new instance prepared (pipes, logs opened) before anything
        // changes.
        let mut made: ArrayVec<Prepared, MAX_SERVICES> = ArrayVec::new();
        let mut failed = None;
        for (k, spec) in self.t.staged.iter().enumerate() {
            if plan.new[k].is_none() {
                continue;
            }
            match self.prepare(spec) {
                Ok(p) => {
                    let _ = made.push(p);
                }
                Err(e) => {
                    failed = Some((k, e));
                    break;
                }
            }
        }
        if let Some((k, e)) = failed {
            let spec = self.t.staged.swap_remove(k);
            let mut m = Msg::new();
            m.s(b": ").err(e);
            let what: [&[u8]; 4] = match spec.log_file() {
                Some(p) => [
                    spec.name(),
                    b": cannot open log ",
                    p.to_bytes(),
                    m.as_bytes(),
                ],
                None => [spec.name(), b": cannot set up", m.as_bytes(), b""],
            };
            let code = self.refuse(client, &what);
            self.event(None, PRI_ERR, b"reload failed; nothing was changed");
            self.t.arenas.give(spec.into_arena());
            self.unstage();
            return Err(code);
        }
        // Carry it out: unchanged services take their place in the new
        // file (for `status`), the rest are retired, then the new added.
        for (k, st) in staged[..n].iter().enumerate() {
            if let Some((i, true)) = st.current {
                self.t.slots[i].rank = k as u8;
            }
        }
        for &i in plan.retiring.iter() {
            self.t.model.retire(i);
        }
        let mut drops: ArrayVec<usize, SLOTS> = ArrayVec::new();
        self.t.model.sweep(&mut |a| {
            if let Act::Drop(i) = a {
                let _ = drops.push(i);
            }
        });
        for &i in drops.iter() {
            self.drop_slot(i);
        }
        // The staged specs, in file order, into their slots.
        self.t.staged.as_mut_slice().reverse();
        made.as_mut_slice().reverse();
        for new in plan.new.iter() {
            let Some(spec) = self.t.staged.pop() else {
                break;
            };
            let rank = (n - 1 - self.t.staged.len()) as u8;
            let (Some((key, up)), Some(p)) = (*new, new.and_then(|_| made.pop())) else {
                self.t.arenas.give(spec.into_arena());
                continue;
            };
            let key = key.unwrap_or_else(|| self.t.model.new_key());
            let installed = match Sup::make_slot(spec, p, rank) {
                Ok(slot) => self.install(slot, key, up),
                Err(spec) => Err(spec),
            };
            if let Err(spec) = installed {
                // Cannot happen: the room was checked.
                self.t.arenas.give(spec.into_arena());
            }
        }
        self.apply_deps();
        Ok(Changes {
            added: plan.added,
            removed: plan.removed,
            changed: plan.changed,
            unchanged: plan.unchanged,
        })
    }

    /// A refused reload's staged specs go back to the pool.
    fn unstage(&mut self) {
        while let Some(spec) = self.t.staged.pop() {
            self.t.arenas.give(spec.into_arena());
        }
    }

    /// Why the reload is refused: to tinyd's log and to the client (its
    /// whole reply); the status.
    fn refuse(&mut self, client: Option<&Client>, parts: &[&[u8]]) -> u8 {
        self.event_parts(None, PRI_ERR, parts);
        if let Some(c) = client {
            let mut all: [&[u8]; 8] = [b""; 8];
            all[0] = b"1\ntinyd: ";
            let n = parts.len().min(6);
            all[1..1 + n].copy_from_slice(&parts[..n]);
            all[1 + n] = b"\n";
            sink::write_parts(c.fd.as_fd(), &all[..2 + n]);
        }
        ctl::FAILED
    }

    /// Whether a new client can be taken: a free slot, or one that has not
    /// sent a whole request to drop.
    fn room_for_one(&self) -> bool {
        !self.t.clients.is_full() || self.t.clients.iter().any(|c| c.wait.is_none())
    }

    /// Drops the oldest client that has not sent a whole request (the
    /// earliest request deadline): idle connections must not starve the
    /// socket.
    fn drop_oldest_idle(&mut self) {
        let oldest = (0..self.t.clients.len())
            .filter(|&i| self.t.clients[i].wait.is_none())
            .min_by_key(|&i| self.t.clients[i].deadline);
        if let Some(i) = oldest {
            self.reply(
                i,
                ctl::FAILED,
                b"tinyd: dropped (no request yet, another client waits)\n",
            );
        }
    }

    #[inline(never)]
    fn accept(&mut self, now: Instant) {
        // Bounded by the backlog: a flood of connections cannot hold the
        // loop here.
        for _ in 0..BACKLOG {
            if !self.room_for_one() {
                return;
            }
            let Some((_, l)) = &self.control else { return };
            let fd = match rustix::net::accept_with(l, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK)
            {
                Ok(fd) => fd,
                // Out of descriptors or memory: the connection stays in the
                // backlog and the listener readable; retry later, never spin.
                Err(e @ (Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)) => {
                    self.accept_after = Some(now + ACCEPT_PAUSE);
                    let mut m = Msg::new();
                    m.s(b"control socket: cannot accept: ").err(e);
                    self.event(None, PRI_ERR, m.as_bytes());
                    return;
                }
                Err(_) => return, // EAGAIN: no more; others are transient
            };
            // Only root and tinyd's own user may ask anything.
            let allowed = match sys::peer_uid(fd.as_fd()) {
                Ok(uid) => uid == 0 || uid == rustix::process::geteuid().as_raw(),
                Err(_) => false,
            };
            if !allowed {
                let _ = rustix::io::write(&fd, b"77\ntinyd: permission denied\n");
                continue;
            }
            if self.t.clients.is_full() {
                self.drop_oldest_idle();
            }
            let c = Client {
                fd,
                req: [0; ctl::REQUEST_MAX],
                len: 0,
                deadline: Some(now + REQUEST_TIMEOUT),
                wait: None,
            };
            if self.t.clients.push(c).is_ok() {
                // `tinyd ctl` sends its request as it connects: read it now,
                // before a newer connection could make it the oldest.
                self.client_readable(self.t.clients.len() - 1, now);
            }
        }
    }

    /// Sends a reply and closes the connection (best effort: a client that
    /// does not read loses the end of its reply, never blocks tinyd).
    pub fn reply(&mut self, i: usize, code: u8, text: &[u8]) {
        let c = self.t.clients.swap_remove(i);
        let mut head = Buf::<8>::new();
        head.u(code as u64).s(b"\n");
        let _ = sink_send(&c.fd, head.as_bytes());
        let _ = sink_send(&c.fd, text);
    }

    fn client_readable(&mut self, i: usize, now: Instant) {
        // An earlier reply may have moved clients: tolerate stale indices.
        let Some(c) = self.t.clients.as_mut_slice().get_mut(i) else {
            return;
        };
        if c.wait.is_some() {
            return;
        }
        let n = match rustix::io::read(&c.fd, &mut c.req[c.len..]) {
            Ok(0) => {
                // Gone before a whole request.
                self.t.clients.swap_remove(i);
                return;
            }
            Ok(n) => n,
            Err(Errno::AGAIN | Errno::INTR) => return,
            Err(_) => {
                self.t.clients.swap_remove(i);
                return;
            }
        };
        c.len += n;
        let Some(nl) = c.req[..c.len].iter().position(|&b| b == b'\n') else {
            if c.len == c.req.len() {
                self.reply(i, ctl::BAD_REQUEST, b"tinyd: request too long\n");
            }
            return;
        };
        let req = c.req;
        self.request(i, &req[..nl], now);
    }

    /// Carries out a request from client `i`.
    #[inline(never)]
    fn request(&mut self, i: usize, line: &[u8], now: Instant) {
        let req = match ctl::parse(line) {
            Ok(r) => r,
            Err(e) => {
                let mut m = Msg::new();
                m.s(b"tinyd: ").s(e.as_bytes()).s(b"\n");
                return self.reply(i, ctl::BAD_REQUEST, m.as_bytes());
            }
        };
        let name = match req {
            Request::Start(n) | Request::Stop(n) | Request::Restart(n) => Some(n),
            Request::Status(n) => n,
            _ => None,
        };
        let slot = match name.map(|n| self.find(n)) {
            Some(None) => {
                let mut m = Msg::new();
                m.s(b"tinyd: unknown service: ")
                    .s(name.unwrap_or(b""))
                    .s(b"\n");
                return self.reply(i, ctl::UNKNOWN, m.as_bytes());
            }
            Some(Some(s)) => Some(s),
            None => None,
        };
        let mut wanted = Buf::<64>::new();
        wanted.s(name.unwrap_or(b""));
        match (req, slot) {
            (Request::Status(_), _) => {
                let mut out = Buf::<{ STATUS_LINE_MAX * MAX_SERVICES }>::new();
                let mut all_up = true;
                // Live slots in file order (the slots' own order is that
                // of their arrival).
                let mut order = [0u8; SLOTS];
                let mut n = 0;
                for j in 0..self.t.slots.len() {
                    if self.t.model.get(j).role == Role::Current && slot.is_none_or(|k| k == j) {
                        order[n] = j as u8;
                        n += 1;
                    }
                }
                let slots = self.t.slots.as_slice();
                // Insertion sort: at most 64 entries, and little code.
                for a in 1..n {
                    let mut b = a;
                    while b > 0 && slots[order[b - 1] as usize].rank > slots[order[b] as usize].rank
                    {
                        order.swap(b - 1, b);
                        b -= 1;
                    }
                }
                for &j in &order[..n] {
                    all_up &= self.t.model.ready(j as usize);
                    status_line(&mut out, &slots[j as usize], &self.t.model, j as usize, now);
                }
                self.reply(
                    i,
                    if all_up { ctl::OK } else { ctl::NOT_RUNNING },
                    out.as_bytes(),
                );
            }
            (Request::Start(_), Some(s)) => {
                self.t.model.start(s);
                let (wait, fails) = self.up_wait(s);
                self.wait(i, Wait::Up(wanted, fails), now + wait, now);
            }
            (Request::Stop(_), Some(s)) => {
                self.t.model.stop(s);
                let wait = self.t.model.get(s).policy.stop_timeout.double() + START_WAIT;
                self.wait(i, Wait::Down(wanted), now + wait, now);
            }
            (Request::Restart(_), Some(s)) => {
                self.t.model.restart(s);
                let (wait, fails) = self.up_wait(s);
                self.wait(i, Wait::Up(wanted, fails), now + wait, now);
            }
            (Request::Reload, _) => {
                let c = self.t.clients.swap_remove(i);
                self.reload(Some(c));
            }
            (Request::Shutdown, _) => {
                self.t.clients[i].wait = Some(Wait::Exit);
                self.t.clients[i].deadline = None;
                self.stop_all();
            }
            _ => self.reply(i, ctl::FAILED, b"tinyd: bad request\n"),
        }
    }

    /// How long `start` or `restart` of instance `s` may wait (a stop, a
    /// start, its readiness), and its failed starts so far.
    fn up_wait(&self, s: usize) -> (Ms, u32) {
        let m = self.t.model.get(s);
        let p = &m.policy;
        (
            p.stop_timeout.double() + START_WAIT + p.ready_timeout,
            m.svc.fails,
        )
    }

    /// Leaves client `i` waiting for a state (answered by `check_waits`,
    /// after the next step has acted on the request).
    fn wait(&mut self, i: usize, w: Wait, deadline: Instant, now: Instant) {
        let c = &mut self.t.clients[i];
        c.wait = Some(w);
        c.deadline = Some(deadline);
        self.decide(now);
        self.check_waits(now);
    }

    /// Answers clients whose wait is over, and drops those too slow to
    /// send a request.
    #[inline(never)]
    pub fn check_waits(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.t.clients.len() {
            let c = &self.t.clients[i];
            let (w, late) = (c.wait, c.deadline.is_some_and(|d| d <= now));
            let answer = match w {
                None if late => Some((ctl::FAILED, None)),
                None | Some(Wait::Exit) => None,
                Some(Wait::Up(n, _)) | Some(Wait::Down(n)) => {
                    let up = matches!(w, Some(Wait::Up(..)));
                    let fails = fails_of(w);
                    match self.find(n.as_bytes()) {
                        None => Some((ctl::UNKNOWN, None)),
                        Some(s) => {
                            let inst = self.t.model.get(s);
                            let state = inst.svc.state;
                            let failed = inst.svc.fails > fails;
                            let done = if up {
                                self.t.model.ready(s)
                            } else {
                                // Stopped means nothing of it runs: no
                                // replaced instance either.
                                matches!(state, State::Stopped | State::Exited)
                                    && self
                                        .t
                                        .model
                                        .iter()
                                        .all(|o| o.key != inst.key || !o.svc.active())
                            };
                            if done {
                                Some((ctl::OK, Some(s)))
                            } else if late || failed {
                                Some((ctl::FAILED, Some(s)))
                            } else {
                                None
                            }
                        }
                    }
                }
            };
            match answer {
                Some((code, s)) => {
                    // The line, and why it failed (a name and a status).
                    let mut out = Buf::<{ STATUS_LINE_MAX + 128 }>::new();
                    match s {
                        Some(s) => status_line(&mut out, &self.t.slots[s], &self.t.model, s, now),
                        None if w.is_none() => {
                            out.s(b"tinyd: request timed out\n");
                        }
                        None => {
                            out.s(b"tinyd: the service went away\n");
                        }
                    }
                    match s.map(|s| self.t.model.get(s).svc) {
                        Some(svc) if code == ctl::FAILED => {
                            let name = self.t.slots[s.unwrap_or(0)].spec.name();
                            match svc.failed {
                                _ if svc.fails <= fails_of(w) => out.s(b"tinyd: timed out\n"),
                                Some(Fail::Timeout) => {
                                    out.s(b"tinyd: ").s(name).s(b": not ready in time\n")
                                }
                                Some(Fail::Exit(st)) => out
                                    .s(b"tinyd: ")
                                    .s(name)
                                    .s(b": not ready: exited with status ")
                                    .u(st.code() as u64)
                                    .s(b"\n"),
                                None => out.s(b"tinyd: timed out\n"),
                            };
                        }
                        _ => {}
                    }
                    self.reply(i, code, out.as_bytes());
                }
                None => i += 1,
            }
        }
    }
}

/// The state's name in `status`.
fn state_name<const N: usize>(
    model: &Model<N>,
    i: usize,
    said: Said,
    now: Instant,
) -> &'static [u8] {
    let m = model.get(i);
    let svc = &m.svc;
    let ready = svc.is_ready();
    match svc.state {
        State::Running if ready && said == Said::Reloading => b"reloading",
        State::Running if ready && said == Said::Stopping => b"stopping",
        State::Running if ready => b"running",
        State::Running => b"starting",
        // Held back by what it needs or starts after.
        State::Backoff | State::Stopped
            if m.role == Role::Current && m.up && model.hold(i) != Hold::No =>
        {
            b"waiting"
        }
        // Waiting for the old instance of its name, or not started yet
        // and no failed attempt (which sets a later deadline).
        State::Backoff
            if model.blocked(i) || (svc.pgid == 0 && svc.deadline.is_none_or(|d| d <= now)) =>
        {
            b"starting"
        }
        State::Backoff => b"backoff",
        State::Stopping => b"stopping",
        State::Stopped => b"stopped",
        State::Exited if ready => b"done",
        State::Exited if svc.last.is_some_and(Status::failed) => b"failed",
        State::Exited => b"stopped",
    }
}

/// `NAME STATE PID UP RESTARTS LAST [STATUS]`: `-` where there is nothing
/// to say; STATUS is what the service said with `STATUS=` (notify).
fn status_line<const N: usize, const M: usize>(
    out: &mut Buf<N>,
    s: &Slot,
    model: &Model<M>,
    i: usize,
    now: Instant,
) {
    let svc = &model.get(i).svc;
    out.s(s.spec.name())
        .s(b" ")
        .s(state_name(model, i, s.said, now))
        .s(b" ");
    match svc.pid {
        Some(pid) if svc.state == State::Running => {
            out.u(pid as u64).s(b" ").u(now.since(svc.started).0 / 1000)
        }
        _ => out.s(b"- -"),
    };
    out.s(b" ").u(svc.restarts as u64).s(b" ");
    match svc.last {
        Some(Status::Exited(c)) => out.u(c as u64),
        Some(Status::Signaled(n)) => out.s(b"sig").u(n as u64),
        None => out.s(b"-"),
    };
    if !s.status.is_empty() {
        out.s(b" ").s(s.status.as_bytes());
    }
    out.s(b"\n");
}

/// Writes without blocking; a client that does not read loses the rest.
fn sink_send(fd: &OwnedFd, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Binds the control socket, mode 0600. A socket file left by a tinyd that
/// died (nobody accepts on it) is replaced; a live one is an error
/// (`ADDRINUSE`), and so is anything else at the path (`NOTSOCK`: a file
/// named by mistake is never removed).
pub fn listen(base: BorrowedFd<'_>, path: &CStr) -> Result<OwnedFd, Errno> {
    let addr = SocketAddrUnix::new(path)?;
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    let old = rustix::process::umask(FileMode::from_raw_mode(0o177));
    let bound = bind_or_replace(base, path, &fd, &addr);
    rustix::process::umask(old);
    bound?;
    rustix::net::listen(&fd, BACKLOG as i32)?;
    Ok(fd)
}

/// bind; if the path is taken by a socket nobody listens on, removes it
/// and binds again.
fn bind_or_replace(
    base: BorrowedFd<'_>,
    path: &CStr,
    fd: &OwnedFd,
    addr: &SocketAddrUnix,
) -> Result<(), Errno> {
    match rustix::net::bind(fd, addr) {
        Err(Errno::ADDRINUSE) => {}
        r => return r,
    }
    let st = rustix::fs::statat(base, path, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Socket {
        return Err(Errno::NOTSOCK);
    }
    let probe = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    if rustix::net::connect(&probe, addr) != Err(Errno::CONNREFUSED) {
        return Err(Errno::ADDRINUSE);
    }
    rustix::fs::unlinkat(base, path, AtFlags::empty())?;
    rustix::net::bind(fd, addr)
}

/// The failed starts counted when a wait began (none for other waits).
fn fails_of(w: Option<Wait>) -> u32 {
    match w {
        Some(Wait::Up(_, f)) => f,
        _ => u32::MAX,
    }
}
