//! The supervisor: every service's state, one poll(2) loop, the control
//! socket.
//!
//! The loop sleeps in poll on the self-pipe, the services' output pipes, the
//! control socket and its clients, with a timeout only when something has a
//! deadline (a restart delay, a stop timeout, a client's wait): when nothing
//! is due, tinyd makes no wake-ups at all. Each service's policy is the pure
//! state machine of `svc.rs`; this module turns its answers into syscalls.

use core::ffi::CStr;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode as FileMode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::time::{ClockId, Timespec, clock_gettime};

use crate::args::Argv;
use crate::buf::Buf;
use crate::ctl::{self, Request};
use crate::daemon::Ready;
use crate::limits::{CONFIG_MAX, LINE_MAX, MAX_SERVICES, SPEC_MAX};
use crate::lines::LineBuf;
use crate::pidfile::Pidfile;
use crate::sig::{self, Pending, SelfPipe};
use crate::sink::{self, PRI_ERR, PRI_INFO, PRI_NOTICE, Sink, Target};
use crate::spawn::{self, Spawned};
use crate::spec::Spec;
use crate::store::{ArrayVec, Once, Pool};
use crate::svc::{Do, State, Status, Svc};
use crate::sys;

/// Services at once: the configured ones, plus those a reload replaced
/// that are still stopping.
pub const SLOTS: usize = 2 * MAX_SERVICES;
/// Control connections served at once; more wait in the listen backlog.
pub const MAX_CLIENTS: usize = 16;
/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: u64 = 2000;
/// How long `start` and `restart` wait for the service to run.
const START_WAIT: u64 = 10_000;
/// Reads of one output pipe before the loop looks at the rest.
const READS_PER_TURN: usize = 64;

/// A message line.
pub type Msg = Buf<256>;

/// Milliseconds of CLOCK_MONOTONIC.
pub fn now() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// One supervised service.
pub struct Slot {
    pub spec: Spec,
    pub svc: Svc,
    /// A reload removed or replaced it: dropped once stopped.
    retired: bool,
    /// Replaces a service of the same name that is still stopping: starts
    /// when that one is gone.
    held: bool,
    /// `restart NAME`: start again once stopped.
    again: bool,
    /// Output pipe: read end (non-blocking) and write end, when the output
    /// is logged.
    out: Option<(OwnedFd, OwnedFd)>,
    line: LineBuf<'static>,
    sink: Sink,
}

/// A control connection.
struct Client {
    fd: OwnedFd,
    req: [u8; ctl::REQUEST_MAX],
    len: usize,
    /// Until when it may send its request, or its wait may last.
    deadline: u64,
    wait: Option<Wait>,
}

/// A request waiting for a service to reach a state.
#[derive(Clone, Copy)]
enum Wait {
    Up(Buf<64>),
    Down(Buf<64>),
    /// `shutdown`: answered as tinyd exits.
    Exit,
}

/// The tables, in static storage (see `store.rs`).
pub struct Tables {
    pub slots: ArrayVec<Slot, SLOTS>,
    clients: ArrayVec<Client, MAX_CLIENTS>,
    /// Arenas for specs, and output line buffers.
    pub arenas: Pool<[u8; SPEC_MAX], { SLOTS + MAX_SERVICES }>,
    lines: Pool<[u8; LINE_MAX], SLOTS>,
    /// Specs read from a configuration file, before they are applied.
    pub staged: ArrayVec<Spec, MAX_SERVICES>,
    /// The configuration file's text, while it is parsed.
    pub text: Option<&'static mut [u8; CONFIG_MAX + 1]>,
}

static TABLES: Once<Tables> = Once::new(Tables {
    slots: ArrayVec::new(),
    clients: ArrayVec::new(),
    arenas: Pool::empty(),
    lines: Pool::empty(),
    staged: ArrayVec::new(),
    text: None,
});
static TEXT: Once<[u8; CONFIG_MAX + 1]> = Once::new([0; CONFIG_MAX + 1]);
static ARENAS: Once<[[u8; SPEC_MAX]; SLOTS + MAX_SERVICES]> =
    Once::new([[0; SPEC_MAX]; SLOTS + MAX_SERVICES]);
static LINES: Once<[[u8; LINE_MAX]; SLOTS]> = Once::new([[0; LINE_MAX]; SLOTS]);

impl Tables {
    /// The tables, with every arena and line buffer free. Once only.
    pub fn take() -> Option<&'static mut Tables> {
        let t = TABLES.take()?;
        t.arenas.fill(ARENAS.take()?);
        t.lines.fill(LINES.take()?);
        t.text = Some(TEXT.take()?);
        Some(t)
    }
}

/// How the supervisor was started.
pub enum Mode<'a> {
    /// One service from the command line: tinyd ends when it does.
    Single,
    /// Services from this file: reloadable.
    Config(&'a CStr),
}

pub struct Sup<'a> {
    pub t: &'static mut Tables,
    pub mode: Mode<'a>,
    pub foreground: bool,
    pub base: BorrowedFd<'a>,
    pub envp: Argv<'a>,
    pub pidfile: Option<Pidfile<'a>>,
    pub ready: Ready,
    /// tinyd's own log (`[tinyd] log =`), and where syslog lines go.
    pub log: Option<&'a CStr>,
    pub log_sink: Sink,
    pub devlog: &'a CStr,
    pub control: Option<(&'a CStr, OwnedFd)>,
    pub pipe: Option<SelfPipe>,
    pub me: Pid,
    /// SIGTERM, SIGINT or `shutdown`.
    pub stopping: bool,
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

    fn log_target(&self) -> Target<'a> {
        match self.log {
            Some(path) => Target::File { path, max: 1024 * 1024, keep: 2 },
            None => Target::None,
        }
    }

    /// One of tinyd's own events, about service `i` or about tinyd: to the
    /// service's log, tinyd's log, and stderr in the foreground.
    pub fn event(&mut self, i: Option<usize>, pri: u8, m: &[u8]) {
        let mut text = Buf::<320>::new();
        if let Some(i) = i {
            text.s(self.t.slots[i].spec.name()).s(b": ");
        }
        text.s(m);
        if self.foreground {
            let mut line = Buf::<330>::new();
            line.s(b"tinyd: ").s(text.as_bytes()).s(b"\n");
            sink::stderr(line.as_bytes());
        }
        let me = self.me.as_raw_nonzero().get();
        let base = self.base;
        if let Some(i) = i {
            let slot = &mut self.t.slots[i];
            let target = target(&slot.spec, self.devlog);
            slot.sink.line(base, &target, b"tinyd", me, pri, text.as_bytes());
        }
        let target = self.log_target();
        self.log_sink.line(base, &target, b"tinyd", me, pri, text.as_bytes());
    }

    /// Makes a slot for `spec`: its output pipe and log when it has them.
    /// The service starts at the next turn of the loop (unless held).
    pub fn add(&mut self, spec: Spec, held: bool) -> Result<usize, (Spec, Errno)> {
        let logged = spec.log_file().is_some() || spec.syslog_tag().is_some() || self.log.is_some();
        let out = if logged {
            match make_pipe() {
                Ok(p) => Some(p),
                Err(e) => return Err((spec, e)),
            }
        } else {
            None
        };
        let Some(buf) = self.t.lines.take() else { return Err((spec, Errno::NOMEM)) };
        let svc = Svc::new(&spec.policy);
        let slot = Slot {
            spec,
            svc,
            retired: false,
            held,
            again: false,
            out,
            line: LineBuf::new(buf),
            sink: Sink::new(),
        };
        if let Err(slot) = self.t.slots.push(slot) {
            let Slot { spec, line, .. } = slot;
            self.give_line(line);
            return Err((spec, Errno::NOMEM));
        }
        let i = self.t.slots.len() - 1;
        let base = self.base;
        let slot = &mut self.t.slots[i];
        let target = target(&slot.spec, self.devlog);
        if let Err(e) = slot.sink.open(base, &target) {
            if matches!(target, Target::File { .. }) {
                let slot = self.t.slots.pop().expect("just pushed");
                let Slot { spec, line, .. } = slot;
                self.give_line(line);
                return Err((spec, e));
            }
            // syslogd may start later: lines are counted as lost till then.
        }
        Ok(i)
    }

    fn give_line(&mut self, line: LineBuf<'static>) {
        if let Ok(buf) = <&mut [u8; LINE_MAX]>::try_from(line.into_buf()) {
            self.t.lines.give(buf);
        }
    }

    /// Drops a stopped slot, returning its buffers to their pools.
    fn drop_slot(&mut self, i: usize) {
        let slot = self.t.slots.swap_remove(i);
        let Slot { spec, line, .. } = slot;
        self.t.arenas.give(spec.into_arena());
        self.give_line(line);
    }

    /// Index of the live (not retired) service called `name`.
    fn find(&self, name: &[u8]) -> Option<usize> {
        self.t.slots.iter().position(|s| !s.retired && s.spec.name() == name)
    }

    /// Whether a failure to start service `i` ends tinyd: the command line's
    /// one service, never started yet.
    fn first_start(&self, i: usize) -> bool {
        matches!(self.mode, Mode::Single) && self.t.slots[i].svc.pgid == 0
    }

    /// Starts service `i`. A failure to start is logged; at the first start
    /// of the command line's service, it is fatal.
    fn spawn(&mut self, i: usize, now: u64) -> Result<(), Msg> {
        let slot = &self.t.slots[i];
        let spec = spawn::Spec {
            exec: slot.spec.exec(),
            envp: self.envp,
            env: slot.spec.env(),
            creds: slot.spec.creds.as_ref(),
            chdir: slot.spec.chdir(),
            umask: slot.spec.umask,
            out: slot.out.as_ref().map(|(_, w)| w.as_fd()),
        };
        let result = spawn::spawn(&spec);
        let mut m = Msg::new();
        match result {
            Ok(Spawned::Running(pid)) => {
                let pid = pid.as_raw_nonzero().get();
                self.t.slots[i].svc.spawned(pid, now);
                m.s(b"started pid ").u(pid as u64);
                self.event(Some(i), PRI_NOTICE, m.as_bytes());
                Ok(())
            }
            Ok(Spawned::Failed(pid, step, e)) => {
                let cmd = self.t.slots[i].spec.exec().first().to_bytes();
                if step == spawn::Step::Exec {
                    m.s(b"cannot execute ").s(cmd).s(b": ").err(e);
                } else {
                    m.s(b"cannot start ").s(cmd).s(b": ").s(step.name()).s(b": ").err(e);
                }
                if self.first_start(i) {
                    // Reap the child (it exits at once), then give up.
                    while let Err(Errno::INTR) = rustix::process::waitpid(Some(pid), WaitOptions::empty()) {}
                    let mut line = Msg::new();
                    line.s(b"tinyd: ").s(m.as_bytes());
                    self.fatal(spawn::exec_code(step, e), line.as_bytes());
                }
                self.event(Some(i), PRI_ERR, m.as_bytes());
                // Its exit (127) arrives as SIGCHLD and leads to a restart.
                self.t.slots[i].svc.spawned(pid.as_raw_nonzero().get(), now);
                Err(m)
            }
            Err(e) => {
                m.s(b"cannot fork: ").err(e);
                if self.first_start(i) {
                    let mut line = Msg::new();
                    line.s(b"tinyd: ").s(m.as_bytes());
                    self.fatal(crate::code::FAIL, line.as_bytes());
                }
                self.event(Some(i), PRI_ERR, m.as_bytes());
                let policy = self.t.slots[i].spec.policy;
                self.t.slots[i].svc.spawn_failed(now, &policy);
                self.note_backoff(i, now);
                Err(m)
            }
        }
    }

    /// Ends tinyd before its services run: the error goes to the launcher
    /// (or stderr), nothing is left behind.
    #[cold]
    #[inline(never)]
    pub fn fatal(&mut self, exit: u8, line: &[u8]) -> ! {
        for i in 0..self.t.slots.len() {
            self.signal_group(i, Signal::KILL);
        }
        self.cleanup();
        self.ready.fail(exit, line);
        sys::exit(exit as i32)
    }

    /// Removes the pidfile and the control socket.
    fn cleanup(&mut self) {
        if let Some(p) = self.pidfile.take() {
            p.remove(self.base);
        }
        if let Some((path, _)) = self.control.take() {
            let _ = rustix::fs::unlinkat(self.base, path, AtFlags::empty());
        }
    }

    fn note_backoff(&mut self, i: usize, now: u64) {
        let svc = &self.t.slots[i].svc;
        if svc.state == State::Backoff && svc.deadline.is_some() {
            let mut m = Msg::new();
            m.s(b"restarting in ").secs(svc.wait(now)).s(b" seconds");
            self.event(Some(i), PRI_NOTICE, m.as_bytes());
        }
    }

    /// Reads what service `i` wrote, up to `rounds` reads, logging each line.
    fn read_output(&mut self, i: usize, rounds: usize) {
        let log_target = self.log_target();
        let base = self.base;
        let slot = &mut self.t.slots[i];
        let target = target(&slot.spec, self.devlog);
        let Some((r, _)) = &slot.out else { return };
        let tag = slot.spec.syslog_tag().unwrap_or(slot.spec.name());
        let pid = slot.svc.pid.unwrap_or(slot.svc.pgid);
        // A service without a log of its own writes to tinyd's log.
        let (sink, target) = match target {
            Target::None => (&mut self.log_sink, log_target),
            t => (&mut slot.sink, t),
        };
        for _ in 0..rounds {
            let n = match rustix::io::read(r, slot.line.spare()) {
                Ok(0) => return,
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(_) => return,
            };
            slot.line.commit(n, |p| sink.line(base, &target, tag, pid, PRI_INFO, p.text));
        }
    }

    /// Logs what is left of service `i`'s output, partial line included.
    fn flush_output(&mut self, i: usize) {
        self.read_output(i, usize::MAX);
        let log_target = self.log_target();
        let base = self.base;
        let slot = &mut self.t.slots[i];
        let target = target(&slot.spec, self.devlog);
        let tag = slot.spec.syslog_tag().unwrap_or(slot.spec.name());
        let pid = slot.svc.pgid;
        let (sink, target) = match target {
            Target::None => (&mut self.log_sink, log_target),
            t => (&mut slot.sink, t),
        };
        slot.line.flush(|p| sink.line(base, &target, tag, pid, PRI_INFO, p.text));
    }

    fn group_alive(&self, i: usize) -> bool {
        match Pid::from_raw(self.t.slots[i].svc.pgid) {
            Some(g) => !matches!(rustix::process::test_kill_process_group(g), Err(Errno::SRCH)),
            None => false,
        }
    }

    fn signal_group(&self, i: usize, sig: Signal) {
        let svc = &self.t.slots[i].svc;
        if let (Some(g), true) = (Pid::from_raw(svc.pgid), svc.pid.is_some() || svc.state == State::Stopping) {
            let _ = rustix::process::kill_process_group(g, sig);
        }
    }

    /// Carries out what service `i`'s state machine said.
    fn act(&mut self, i: usize, what: Do, now: u64) {
        let mut m = Msg::new();
        let pgid = self.t.slots[i].svc.pgid as u64;
        match what {
            Do::Nothing => self.note_backoff(i, now),
            Do::Spawn if self.stopping => {}
            Do::Spawn => {
                let _ = self.spawn(i, now);
            }
            Do::Term => {
                if self.t.slots[i].svc.want_up {
                    m.s(b"stopping leftover processes of group ").u(pgid);
                    self.event(Some(i), PRI_NOTICE, m.as_bytes());
                }
                self.signal_group(i, Signal::TERM);
                self.signal_group(i, Signal::CONT);
            }
            Do::Kill => {
                m.s(b"sending SIGKILL to process group ").u(pgid);
                self.event(Some(i), PRI_NOTICE, m.as_bytes());
                self.signal_group(i, Signal::KILL);
            }
            Do::GiveUp | Do::Done => {
                if what == Do::GiveUp {
                    m.s(b"process group ").u(pgid).s(b" survived SIGKILL; giving up");
                    self.event(Some(i), PRI_ERR, m.as_bytes());
                }
                let slot = &self.t.slots[i];
                let (state, last) = (slot.svc.state, slot.svc.last);
                if state == State::Stopped && slot.svc.pgid != 0 {
                    self.event(Some(i), PRI_NOTICE, b"stopped");
                }
                if let (Mode::Single, State::Exited) = (&self.mode, state) {
                    self.exit(last.map_or(0, Status::code));
                }
                if self.t.slots[i].again && !self.stopping {
                    self.t.slots[i].again = false;
                    let policy = self.t.slots[i].spec.policy;
                    let d = self.t.slots[i].svc.start(&policy);
                    self.act(i, d, now);
                }
            }
        }
    }

    /// Exits: pidfile and control socket removed, then waiting clients
    /// answered (so that "stopped" means nothing is left).
    fn exit(&mut self, exit: u8) -> ! {
        self.cleanup();
        let mut i = 0;
        while i < self.t.clients.len() {
            if matches!(self.t.clients[i].wait, Some(Wait::Exit)) {
                self.reply(i, ctl::OK, b"stopped\n");
            } else {
                i += 1;
            }
        }
        sys::exit(exit as i32)
    }

    /// Reaps every child; a service's end goes to its state machine once
    /// all zombies (its leftovers among them) are gone.
    #[inline(never)]
    fn reap(&mut self, now: u64) {
        let mut ended = ArrayVec::<(usize, Status), 8>::new();
        let mut more = false;
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, st))) => {
                    let pid = pid.as_raw_nonzero().get();
                    let Some(i) = self.t.slots.iter().position(|s| s.svc.pid == Some(pid)) else {
                        continue; // an orphan we adopted as subreaper
                    };
                    let status = match (st.exit_status(), st.terminating_signal()) {
                        (Some(c), _) => Status::Exited(c as u8),
                        (None, Some(s)) => Status::Signaled(s as u8),
                        _ => continue,
                    };
                    self.t.slots[i].svc.pid = None;
                    if ended.push((i, status)).is_err() {
                        // Handle these first; the rest at the next turn.
                        self.t.slots[i].svc.pid = Some(pid);
                        more = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(Errno::INTR) => {}
                Err(_) => break, // ECHILD: no children
            }
        }
        for &(i, status) in ended.iter() {
            self.flush_output(i);
            let mut m = Msg::new();
            match status {
                Status::Exited(c) => m.s(b"exited with status ").u(c as u64),
                Status::Signaled(s) => m.s(b"killed by signal ").u(s as u64),
            };
            self.event(Some(i), PRI_NOTICE, m.as_bytes());
            let alive = self.group_alive(i);
            let policy = self.t.slots[i].spec.policy;
            let d = self.t.slots[i].svc.exited(status, now, alive, &policy);
            self.act(i, d, now);
        }
        if more {
            self.reap(now);
        }
    }

    /// Stops every service (SIGTERM, SIGINT, `shutdown`).
    fn stop_all(&mut self, now: u64) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.event(None, PRI_NOTICE, b"stopping");
        for i in 0..self.t.slots.len() {
            let mut m = Msg::new();
            if let Some(pid) = self.t.slots[i].svc.pid {
                m.s(b"stopping pid ").u(pid as u64);
                self.event(Some(i), PRI_NOTICE, m.as_bytes());
            }
            let policy = self.t.slots[i].spec.policy;
            let d = self.t.slots[i].svc.stop(now, &policy);
            self.act(i, d, now);
        }
    }

    /// Whether every service has stopped (for the exit after `stop_all`).
    fn all_down(&self) -> bool {
        self.t.slots.iter().all(|s| s.svc.pid.is_none() && s.svc.state != State::Stopping)
    }

    /// The timed steps that are due, slots dropped or released by reload.
    fn timers(&mut self, now: u64) {
        let mut i = 0;
        while i < self.t.slots.len() {
            let slot = &self.t.slots[i];
            if slot.retired && slot.svc.pid.is_none() && slot.svc.state != State::Stopping {
                self.drop_slot(i);
                continue;
            }
            if slot.held {
                let name = slot.spec.name();
                let blocked = self.t.slots.iter().enumerate().any(|(j, s)| j != i && s.spec.name() == name);
                if blocked {
                    i += 1;
                    continue;
                }
                self.t.slots[i].held = false;
            }
            let slot = &self.t.slots[i];
            let due = slot.svc.deadline.is_some_and(|d| d <= now);
            let check = slot.svc.state == State::Stopping && slot.svc.pid.is_none();
            if due || check {
                let alive = self.group_alive(i);
                let policy = self.t.slots[i].spec.policy;
                let d = self.t.slots[i].svc.tick(now, alive, &policy);
                self.act(i, d, now);
            }
            i += 1;
        }
    }

    /// The earliest deadline of a service or a client.
    fn next_deadline(&self) -> Option<u64> {
        let slots = self.t.slots.iter().filter(|s| !s.held).filter_map(|s| s.svc.deadline);
        let clients = self.t.clients.iter().map(|c| c.deadline);
        slots.chain(clients).min()
    }

    pub fn run(&mut self) -> ! {
        let Some(pipe) = self.pipe.take() else { self.exit(crate::code::SOFTWARE) };
        let mut pending = Pending::default();
        // Start every service, then tell the launcher.
        self.timers(now());
        self.ready.ok();
        // What each poll entry is: the pipe, the listener, a client, a slot.
        #[derive(Clone, Copy)]
        enum Src {
            Pipe,
            Listen,
            Client(usize),
            Out(usize),
        }
        loop {
            let now = now();
            self.timers(now);
            self.check_waits(now);
            if self.stopping && self.all_down() {
                self.event(None, PRI_NOTICE, b"stopped");
                self.exit(0);
            }
            let timeout = self.next_deadline().map(|d| {
                let ms = d.saturating_sub(now);
                Timespec { tv_sec: (ms / 1000) as i64, tv_nsec: (ms % 1000 * 1_000_000) as i64 }
            });
            let mut srcs = ArrayVec::<Src, { 2 + MAX_CLIENTS + SLOTS }>::new();
            let mut ready = ArrayVec::<bool, { 2 + MAX_CLIENTS + SLOTS }>::new();
            let poll_err;
            {
                let mut fds = ArrayVec::<PollFd<'_>, { 2 + MAX_CLIENTS + SLOTS }>::new();
                let _ = fds.push(PollFd::new(&pipe, PollFlags::IN));
                let _ = srcs.push(Src::Pipe);
                if let Some((_, l)) = &self.control {
                    // A full client table leaves the rest in the backlog.
                    if !self.t.clients.is_full() {
                        let _ = fds.push(PollFd::new(l, PollFlags::IN));
                        let _ = srcs.push(Src::Listen);
                    }
                }
                for (i, c) in self.t.clients.iter().enumerate() {
                    if c.wait.is_none() {
                        let _ = fds.push(PollFd::new(&c.fd, PollFlags::IN));
                        let _ = srcs.push(Src::Client(i));
                    }
                }
                for (i, s) in self.t.slots.iter().enumerate() {
                    if let Some((r, _)) = &s.out {
                        let _ = fds.push(PollFd::new(r, PollFlags::IN));
                        let _ = srcs.push(Src::Out(i));
                    }
                }
                poll_err = match poll(fds.as_mut_slice(), timeout.as_ref()) {
                    Ok(_) | Err(Errno::INTR) => None,
                    Err(e) => Some(e),
                };
                for f in fds.iter() {
                    let _ = ready.push(!f.revents().is_empty());
                }
            }
            if let Some(e) = poll_err {
                // Cannot happen with valid descriptors; say so, never spin.
                let mut m = Msg::new();
                m.s(b"poll: ").err(e);
                self.event(None, PRI_ERR, m.as_bytes());
                let pause = Timespec { tv_sec: 1, tv_nsec: 0 };
                let _ = rustix::thread::nanosleep(&pause);
            }
            // Output first (a service that exited has its last lines read
            // before its exit is logged), then signals, then control.
            for (k, src) in srcs.iter().enumerate() {
                if let (Src::Out(i), true) = (*src, ready[k]) {
                    self.read_output(i, READS_PER_TURN);
                }
            }
            if ready[0] {
                pipe.drain(&mut pending);
            }
            let now = crate::sup::now();
            self.signals(&mut pending, now);
            // Clients from the last index down: a reply removes its entry.
            for k in (0..srcs.len()).rev() {
                if let (Src::Client(i), true) = (srcs[k], ready[k]) {
                    self.client_readable(i, now);
                }
            }
            if srcs.iter().zip(ready.iter()).any(|(s, &r)| r && matches!(s, Src::Listen)) {
                self.accept(now);
            }
        }
    }

    #[inline(never)]
    fn signals(&mut self, pending: &mut Pending, now: u64) {
        if pending.take(sig::SIGCHLD) {
            self.reap(now);
        }
        if pending.take(sig::SIGTERM) | pending.take(sig::SIGINT) {
            self.stop_all(now);
        }
        if pending.take(sig::SIGHUP) {
            self.reopen_logs();
            if let Mode::Config(_) = self.mode {
                let mut m = Buf::<2048>::new();
                let (code, _) = self.reload(&mut m, now);
                if code != ctl::OK {
                    self.event(None, PRI_ERR, b"reload on SIGHUP failed; the old configuration stays");
                }
            }
        }
        for s in [sig::SIGUSR1, sig::SIGUSR2] {
            if pending.take(s) {
                let sig = if s == sig::SIGUSR1 { Signal::USR1 } else { Signal::USR2 };
                for slot in self.t.slots.iter() {
                    if let Some(pid) = slot.svc.pid.and_then(Pid::from_raw) {
                        let _ = rustix::process::kill_process(pid, sig);
                    }
                }
            }
        }
    }

    fn reopen_logs(&mut self) {
        let base = self.base;
        let own = self.log_target();
        let _ = self.log_sink.open(base, &own);
        for slot in self.t.slots.iter_mut() {
            let target = target(&slot.spec, self.devlog);
            let _ = slot.sink.open(base, &target);
        }
    }

    /// Re-reads the configuration file and applies it: `out` gets the reply
    /// text. Returns the reply's status and what changed.
    #[inline(never)]
    pub fn reload(&mut self, out: &mut Buf<2048>, now: u64) -> (u8, Changes) {
        let Mode::Config(path) = self.mode else {
            out.s(b"tinyd: no configuration file to reload (started without --config)\n");
            return (ctl::FAILED, Changes::default());
        };
        let mut errors = 0;
        let loaded = crate::run::load_config(
            self.base,
            path,
            self.t,
            &mut |line: &[u8]| {
                errors += 1;
                out.s(line).s(b"\n");
            },
            // tinyd's own settings are read at start only.
            &mut |_, _| {},
        );
        if loaded.is_err() {
            // Tell tinyd's log too, one line per error.
            for line in out.as_bytes().split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
                self.event(None, PRI_ERR, line.strip_prefix(b"tinyd: ").unwrap_or(line));
            }
            return (crate::ctl::CONFIG, Changes::default());
        }
        let ch = self.apply(now);
        let mut m = Msg::new();
        m.s(b"reloaded: ").u(ch.added as u64).s(b" added, ").u(ch.removed as u64).s(b" removed, ");
        m.s(b"").u(ch.changed as u64).s(b" changed, ").u(ch.unchanged as u64).s(b" unchanged");
        self.event(None, PRI_NOTICE, m.as_bytes());
        out.s(m.as_bytes()).s(b"\n");
        (ctl::OK, ch)
    }

    /// Applies the staged specs: new services start, removed ones stop,
    /// changed ones restart with their new settings, unchanged ones keep
    /// running untouched.
    pub fn apply(&mut self, now: u64) -> Changes {
        let mut ch = Changes::default();
        // Slots only grow during this: the old ones keep their indices.
        let old = self.t.slots.len();
        let mut seen = [false; SLOTS];
        while let Some(spec) = self.t.staged.pop() {
            match self.find(spec.name()) {
                Some(i) if self.t.slots[i].spec.same(&spec) => {
                    seen[i] = true;
                    ch.unchanged += 1;
                    self.t.arenas.give(spec.into_arena());
                }
                Some(i) => {
                    seen[i] = true;
                    ch.changed += 1;
                    self.retire(i, now);
                    self.add_or_log(spec, true);
                }
                None => {
                    ch.added += 1;
                    self.add_or_log(spec, false);
                }
            }
        }
        for i in 0..old {
            if !seen[i] && !self.t.slots[i].retired {
                ch.removed += 1;
                self.retire(i, now);
            }
        }
        ch
    }

    fn add_or_log(&mut self, spec: Spec, held: bool) {
        if let Err((spec, e)) = self.add(spec, held) {
            let mut m = Msg::new();
            m.s(spec.name()).s(b": cannot set up: ").err(e);
            self.event(None, PRI_ERR, m.as_bytes());
            self.t.arenas.give(spec.into_arena());
        }
    }

    /// Stops slot `i` for good (a reload removed or replaced it).
    fn retire(&mut self, i: usize, now: u64) {
        self.t.slots[i].retired = true;
        let policy = self.t.slots[i].spec.policy;
        if let Some(pid) = self.t.slots[i].svc.pid {
            let mut m = Msg::new();
            m.s(b"stopping pid ").u(pid as u64).s(b" (reload)");
            self.event(Some(i), PRI_NOTICE, m.as_bytes());
        }
        let d = self.t.slots[i].svc.stop(now, &policy);
        self.act(i, d, now);
    }

    // ---- control ----

    #[inline(never)]
    fn accept(&mut self, now: u64) {
        while !self.t.clients.is_full() {
            let Some((_, l)) = &self.control else { return };
            let fd = match rustix::net::accept_with(l, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK) {
                Ok(fd) => fd,
                Err(_) => return, // EAGAIN: no more; others are transient
            };
            // Only root and tinyd's own user may ask anything.
            let allowed = match rustix::net::sockopt::socket_peercred(&fd) {
                Ok(cred) => cred.uid.is_root() || cred.uid == rustix::process::geteuid(),
                Err(_) => false,
            };
            if !allowed {
                let _ = rustix::io::write(&fd, b"77\ntinyd: permission denied\n");
                continue;
            }
            let c = Client { fd, req: [0; ctl::REQUEST_MAX], len: 0, deadline: now + REQUEST_TIMEOUT, wait: None };
            let _ = self.t.clients.push(c);
        }
    }

    /// Sends a reply and closes the connection (best effort: a client that
    /// does not read loses the end of its reply, never blocks tinyd).
    fn reply(&mut self, i: usize, code: u8, text: &[u8]) {
        let c = self.t.clients.swap_remove(i);
        let mut head = Buf::<8>::new();
        head.u(code as u64).s(b"\n");
        let _ = sink_send(&c.fd, head.as_bytes());
        let _ = sink_send(&c.fd, text);
    }

    fn client_readable(&mut self, i: usize, now: u64) {
        // An earlier reply may have moved clients: tolerate stale indices.
        let Some(c) = self.t.clients.as_mut_slice().get_mut(i) else { return };
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
    fn request(&mut self, i: usize, line: &[u8], now: u64) {
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
                m.s(b"tinyd: unknown service: ").s(name.unwrap_or(b"")).s(b"\n");
                return self.reply(i, ctl::UNKNOWN, m.as_bytes());
            }
            Some(Some(s)) => Some(s),
            None => None,
        };
        let mut wanted = Buf::<64>::new();
        wanted.s(name.unwrap_or(b""));
        match (req, slot) {
            (Request::Status(_), _) => {
                let mut out = Buf::<{ 100 * MAX_SERVICES }>::new();
                let mut all_up = true;
                for (j, s) in self.t.slots.iter().enumerate() {
                    if s.retired || slot.is_some_and(|k| k != j) {
                        continue;
                    }
                    all_up &= s.svc.state == State::Running;
                    status_line(&mut out, s, now);
                }
                self.reply(i, if all_up { ctl::OK } else { ctl::NOT_RUNNING }, out.as_bytes());
            }
            (Request::Start(_), Some(s)) => {
                let policy = self.t.slots[s].spec.policy;
                if self.t.slots[s].svc.state == State::Stopping {
                    self.t.slots[s].again = true;
                } else {
                    let d = self.t.slots[s].svc.start(&policy);
                    self.act(s, d, now);
                }
                self.wait(i, Wait::Up(wanted), now + START_WAIT, now);
            }
            (Request::Stop(_), Some(s)) => {
                let policy = self.t.slots[s].spec.policy;
                self.t.slots[s].again = false;
                let d = self.t.slots[s].svc.stop(now, &policy);
                self.act(s, d, now);
                self.wait(i, Wait::Down(wanted), now + 2 * policy.stop_timeout + START_WAIT, now);
            }
            (Request::Restart(_), Some(s)) => {
                let policy = self.t.slots[s].spec.policy;
                match self.t.slots[s].svc.state {
                    State::Running | State::Stopping => {
                        self.t.slots[s].again = true;
                        let d = self.t.slots[s].svc.stop(now, &policy);
                        self.act(s, d, now);
                    }
                    _ => {
                        self.t.slots[s].svc.stop(now, &policy);
                        let d = self.t.slots[s].svc.start(&policy);
                        self.act(s, d, now);
                    }
                }
                self.wait(i, Wait::Up(wanted), now + 2 * policy.stop_timeout + START_WAIT, now);
            }
            (Request::Reload, _) => {
                let mut out = Buf::<2048>::new();
                let (code, _) = self.reload(&mut out, now);
                self.reply(i, code, out.as_bytes());
            }
            (Request::Shutdown, _) => {
                self.t.clients[i].wait = Some(Wait::Exit);
                self.t.clients[i].deadline = u64::MAX;
                self.stop_all(now);
            }
            _ => self.reply(i, ctl::FAILED, b"tinyd: bad request\n"),
        }
    }

    /// Leaves client `i` waiting for a state (answered by `check_waits`).
    fn wait(&mut self, i: usize, w: Wait, deadline: u64, now: u64) {
        let c = &mut self.t.clients[i];
        c.wait = Some(w);
        c.deadline = deadline;
        self.check_waits(now);
    }

    /// Answers clients whose wait is over, and drops those too slow to
    /// send a request.
    #[inline(never)]
    fn check_waits(&mut self, now: u64) {
        let mut i = 0;
        while i < self.t.clients.len() {
            let c = &self.t.clients[i];
            let (w, late) = (c.wait, c.deadline <= now);
            let answer = match w {
                None if late => Some((ctl::FAILED, None)),
                None | Some(Wait::Exit) => None,
                Some(Wait::Up(n)) | Some(Wait::Down(n)) => {
                    let up = matches!(w, Some(Wait::Up(_)));
                    match self.find(n.as_bytes()) {
                        None => Some((ctl::UNKNOWN, None)),
                        Some(s) => {
                            let slot = &self.t.slots[s];
                            let state = slot.svc.state;
                            let done = if up {
                                state == State::Running && !slot.again
                            } else {
                                matches!(state, State::Stopped | State::Exited)
                            };
                            if done {
                                Some((ctl::OK, Some(s)))
                            } else if late {
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
                    let mut out = Buf::<128>::new();
                    match s {
                        Some(s) => status_line(&mut out, &self.t.slots[s], now),
                        None if w.is_none() => {
                            out.s(b"tinyd: request timed out\n");
                        }
                        None => {
                            out.s(b"tinyd: the service went away\n");
                        }
                    }
                    if code == ctl::FAILED && s.is_some() {
                        out.s(b"tinyd: timed out\n");
                    }
                    self.reply(i, code, out.as_bytes());
                }
                None => i += 1,
            }
        }
    }
}

/// The state's name in `status`.
fn state_name(s: &Slot) -> &'static [u8] {
    match s.svc.state {
        State::Running => b"running",
        State::Backoff if s.svc.pgid == 0 || s.held => b"starting",
        State::Backoff => b"backoff",
        State::Stopping => b"stopping",
        State::Stopped => b"stopped",
        State::Exited if s.svc.last.is_some_and(Status::failed) => b"failed",
        State::Exited => b"stopped",
    }
}

/// `NAME STATE PID UP RESTARTS LAST`: `-` where there is nothing to say.
fn status_line<const N: usize>(out: &mut Buf<N>, s: &Slot, now: u64) {
    out.s(s.spec.name()).s(b" ").s(state_name(s)).s(b" ");
    match s.svc.pid {
        Some(pid) if s.svc.state == State::Running => out.u(pid as u64).s(b" ").u(now.saturating_sub(s.svc.started) / 1000),
        _ => out.s(b"- -"),
    };
    out.s(b" ").u(s.svc.restarts as u64).s(b" ");
    match s.svc.last {
        Some(Status::Exited(c)) => out.u(c as u64),
        Some(Status::Signaled(n)) => out.s(b"sig").u(n as u64),
        None => out.s(b"-"),
    };
    out.s(b"\n");
}

/// Where a service's own lines go.
fn target<'s>(spec: &'s Spec, devlog: &'s CStr) -> Target<'s> {
    if let Some(path) = spec.log_file() {
        Target::File { path, max: spec.log_size, keep: spec.log_keep }
    } else if spec.syslog_tag().is_some() {
        Target::Syslog { path: devlog }
    } else {
        Target::None
    }
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

/// A service's output pipe: the read end non-blocking for tinyd, the write
/// end blocking for the service (O_NONBLOCK belongs to the open file, so it
/// is set on the read end only).
fn make_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    rustix::fs::fcntl_setfl(&r, OFlags::NONBLOCK)?;
    Ok((r, w))
}

/// Binds the control socket, mode 0600. A socket file left by a tinyd that
/// died (nobody accepts on it) is replaced; a live one is an error.
pub fn listen(base: BorrowedFd<'_>, path: &CStr) -> Result<OwnedFd, Errno> {
    let addr = SocketAddrUnix::new(path)?;
    let fd = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK, None)?;
    let old = rustix::process::umask(FileMode::from_raw_mode(0o177));
    let mut bound = rustix::net::bind(&fd, &addr);
    if bound == Err(Errno::ADDRINUSE) {
        let probe = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
        if rustix::net::connect(&probe, &addr) == Err(Errno::CONNREFUSED) {
            let _ = rustix::fs::unlinkat(base, path, AtFlags::empty());
            bound = rustix::net::bind(&fd, &addr);
        }
    }
    rustix::process::umask(old);
    bound?;
    rustix::net::listen(&fd, 128)?;
    Ok(fd)
}
