//! The supervisor loop: one poll(2) loop that carries out the model's
//! decisions, the services' output, the control socket.
//!
//! The loop sleeps in poll on the self-pipe, the services' output pipes, the
//! control socket and its clients, the sd_notify socket and the `fd:N`
//! readiness pipes (`ready.rs`), with a timeout only when something has a
//! deadline (a restart delay, a stop or ready timeout, a client's wait): when nothing
//! is due, tinyd makes no wake-ups at all. What runs and what stops is
//! decided by the pure model (`model/`), once per turn ([`Sup::decide`]);
//! this module turns its actions into syscalls and never decides itself.

#[cfg(feature = "ctl")]
pub mod control;
pub mod logs;
pub mod ready;
#[cfg(feature = "ctl")]
pub mod reload;

use core::ffi::CStr;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
#[cfg(feature = "ctl")]
use rustix::fs::AtFlags;
use rustix::fs::OFlags;
use rustix::io::{Errno, IoSlice};
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::time::Timespec;

use crate::log::ring::{RingId, Rings};
use crate::log::sink::{PRI_ERR, PRI_NOTICE, Sink, TEXT_PARTS, Target};
use crate::os::daemon::Ready;
use crate::os::pidfile::Pidfile;
use crate::os::sig::{self, Pending, SelfPipe};
use crate::os::spawn::{self, Spawned};
use crate::os::sys;
use crate::pure::model::{Act, Key, Model, Role};
use crate::pure::spec::Spec;
use crate::pure::spec::{ArenaPool, Chunk};
use crate::pure::svc::{Do, State, Status};
use crate::pure::time::Instant;
use crate::util::argv::Argv;
use crate::util::buf::Buf;
#[cfg(feature = "ctl")]
use crate::util::limits::CONFIG_MAX;
use crate::util::limits::{LINE_MAX, MAX_SERVICES};
use crate::util::lines::LineBuf;
use crate::util::store::ArrayVec;

/// Services at once: the configured ones, plus those a reload replaced
/// that are still stopping.
#[cfg(feature = "ctl")]
pub const SLOTS: usize = 2 * MAX_SERVICES;
/// Without the `ctl` feature tinyd supervises the command line's service
/// only: one slot, one arena.
#[cfg(not(feature = "ctl"))]
pub const SLOTS: usize = 1;
/// Arenas: one per slot, one per service staged by a reload, and one for
/// tinyd's own settings (`[tinyd]`), kept for good.
const ARENAS: usize = if cfg!(feature = "ctl") {
    SLOTS + MAX_SERVICES + 1
} else {
    SLOTS
};
/// Control connections served at once; more wait in the listen backlog.
pub const MAX_CLIENTS: usize = 16;
/// Reads of one output pipe before the loop looks at the rest.
pub(crate) const READS_PER_TURN: usize = 64;

/// A message line.
pub type Msg = Buf<256>;

/// The descriptors of one poll, and what each is.
pub struct PollSet<'f> {
    fds: ArrayVec<PollFd<'f>, POLL_MAX>,
    srcs: ArrayVec<u16, POLL_MAX>,
}

impl<'f> PollSet<'f> {
    pub fn add(&mut self, fd: BorrowedFd<'f>, src: u16) {
        if self
            .fds
            .push(PollFd::from_borrowed_fd(fd, PollFlags::IN))
            .is_ok()
        {
            let _ = self.srcs.push(src);
        }
    }
}

/// Poll entries: the self-pipe, the listener, the log writer's room
/// pipe, the notify socket, clients, output pipes, readiness pipes.
pub const POLL_MAX: usize =
    4 + if cfg!(feature = "ctl") {
        MAX_CLIENTS
    } else {
        0
    } + 2 * SLOTS;
/// What a poll entry is: kind in the top bits, index below.
pub const SRC_KIND: u16 = 0xf000;
pub const SRC_PIPE: u16 = 0x1000;
pub const SRC_LISTEN: u16 = 0x2000;
pub const SRC_CLIENT: u16 = 0x3000;
pub const SRC_OUT: u16 = 0x4000;
pub const SRC_ROOM: u16 = 0x5000;
pub const SRC_NOTIFY: u16 = 0x6000;
pub const SRC_READY: u16 = 0x7000;

pub use crate::os::sys::now;

/// What a new instance needs made before a reload may go ahead (see
/// [`Sup::prepare`]): small, so that a reload's 64 fit on the stack.
pub struct Prepared {
    out: Option<(OwnedFd, OwnedFd)>,
    /// The syslog socket (a log file is the writer's: see `logs.rs`).
    sink: Sink,
}

/// What one instance of a service holds (its decisions are the model's,
/// at the same index).
pub struct Slot {
    pub spec: Spec,
    /// Position in the configuration file in force: `status` lists in it.
    #[cfg(feature = "ctl")]
    pub(crate) rank: u8,
    /// Output pipe: read end (non-blocking) and write end, when the output
    /// is logged.
    pub(crate) out: Option<(OwnedFd, OwnedFd)>,
    pub(crate) line: LineBuf<'static>,
    /// Its syslog socket.
    pub(crate) sink: Sink,
    /// The ring its log file's lines go through (see `log::ring`).
    pub(crate) ring: Option<RingId>,
    /// `log-full = drop`: since when its log has taken nothing while its
    /// output waits, and the ring's tail then (see `logs.rs`).
    pub(crate) full_since: Option<(Instant, u32)>,
    /// `ready = fd:N`: the read end of its pipe, until a newline or EOF.
    pub(crate) ready_r: Option<OwnedFd>,
    /// What it said last with `STATUS=` (notify), for `ctl status`.
    pub(crate) status: Buf<{ ready::STATUS_MAX }>,
    pub(crate) said: ready::Said,
}

impl Slot {
    /// The slot's spec, with the line buffer back in its arena.
    pub(crate) fn into_spec(self) -> Spec {
        let Slot { mut spec, line, .. } = self;
        if let Ok(buf) = <&'static mut [u8; LINE_MAX]>::try_from(line.into_buf()) {
            spec.put_line(buf);
        }
        spec
    }
}

/// The tables, in static storage (see `store.rs` and [`Memory`]): the
/// pool's header, the model's and the slots' first entries come first; the
/// rest is touched only as it fills.
#[repr(C)]
pub struct Tables {
    /// Arenas for specs (with their services' line buffers): the pool's
    /// header (its free list is at Memory's end).
    pub arenas: ArenaPool<ARENAS>,
    /// The configuration file's text, while it is parsed.
    #[cfg(feature = "ctl")]
    pub text: Option<&'static mut [u8; CONFIG_MAX + 1]>,
    /// What is wanted and what runs, instance by instance.
    pub model: Model<SLOTS>,
    /// Each instance's spec, pipe and log, at the model's index.
    pub slots: ArrayVec<Slot, SLOTS>,
    #[cfg(feature = "ctl")]
    pub clients: ArrayVec<crate::sup::control::Client, MAX_CLIENTS>,
    /// Specs read from a configuration file, before they are applied.
    #[cfg(feature = "ctl")]
    pub staged: ArrayVec<Spec, MAX_SERVICES>,
    /// Their dependencies, by position in the file (see `apply_deps`).
    #[cfg(feature = "ctl")]
    pub deps: [crate::pure::config::Deps; MAX_SERVICES],
}

/// All of the supervisor's static storage, in one `.bss` object laid out
/// for one service: what it touches (the tables' headers and first
/// entries, then its arena's strings) comes first and shares a page; the
/// other arenas, the log rings' counters and the scratch buffer (touched
/// only with logs) and the configuration text follow. Separate statics
/// would land wherever the linker puts them, each hot header on a page of
/// its own.
#[repr(C)]
struct Memory {
    tables: Tables,
    // With one service, its arena right after the tables. The full build's
    // arenas are a page each (page-aligned, see `Chunk`): inside Memory they
    // would align all of it, and the tables' head would lose the first
    // writable page; they are a static of their own, after Memory.
    #[cfg(not(feature = "ctl"))]
    chunks: [Chunk; ARENAS],
    // What only logging touches: after the arenas, whose line buffers (at
    // each arena's end) it touches too.
    rings: Rings,
    scratch: logs::Scratch,
    #[cfg(feature = "ctl")]
    text: [u8; CONFIG_MAX + 1],
    /// The arenas given back, used only once a service has gone.
    free_arenas: ArrayVec<crate::pure::spec::Arena, ARENAS>,
}

crate::static_once!(fn memory() -> Memory = Memory {
    tables: Tables {
        arenas: ArenaPool::empty(),
        #[cfg(feature = "ctl")]
        text: None,
        model: Model::new(),
        slots: ArrayVec::new(),
        #[cfg(feature = "ctl")]
        clients: ArrayVec::new(),
        #[cfg(feature = "ctl")]
        staged: ArrayVec::new(),
        #[cfg(feature = "ctl")]
        deps: [crate::pure::config::Deps { needs: 0, after: 0 }; MAX_SERVICES],
    },
    #[cfg(not(feature = "ctl"))]
    chunks: [Chunk::EMPTY; ARENAS],
    rings: Rings::new(),
    scratch: logs::Scratch::new(),
    #[cfg(feature = "ctl")]
    text: [0; CONFIG_MAX + 1],
    free_arenas: ArrayVec::new(),
}; bit 0; section ".bss.tinyd.memory");
#[cfg(feature = "ctl")]
crate::static_once!(fn chunks() -> [Chunk; ARENAS] = [Chunk::EMPTY; ARENAS]; bit 1; section ".bss.tinyd.arenas");

impl Tables {
    /// The tables (every arena and line buffer free), the log rings and
    /// the scratch buffer. Once only.
    pub fn take() -> Option<(
        &'static mut Tables,
        &'static mut Rings,
        &'static mut logs::Scratch,
    )> {
        let Memory {
            tables,
            #[cfg(not(feature = "ctl"))]
            chunks,
            rings,
            scratch,
            #[cfg(feature = "ctl")]
            text,
            free_arenas,
        } = memory()?;
        #[cfg(feature = "ctl")]
        let chunks = chunks()?;
        tables.arenas.fill(chunks, free_arenas);
        #[cfg(feature = "ctl")]
        {
            tables.text = Some(text);
        }
        Some((tables, rings, scratch))
    }
}

/// How the supervisor was started.
pub enum Mode<'a> {
    #[cfg(not(feature = "ctl"))]
    #[doc(hidden)]
    _Unused(core::convert::Infallible, core::marker::PhantomData<&'a ()>),
    /// One service from the command line: tinyd ends when it does.
    Single,
    /// Services from this file: reloadable.
    #[cfg(feature = "ctl")]
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
    /// tinyd's own log (`[tinyd] log =`), its ring, and where syslog
    /// lines go.
    pub log: Option<&'a CStr>,
    pub own_ring: Option<RingId>,
    pub rings: &'static mut Rings,
    pub writer: logs::Writer,
    /// One read of a service's pipe (see `logs.rs`).
    pub scratch: &'static mut logs::Scratch,
    pub devlog: &'a CStr,
    #[cfg(feature = "ctl")]
    pub control: Option<(&'a CStr, OwnedFd)>,
    /// `accept` ran out of descriptors or memory: the listener is left
    /// out of poll until then (a pending connection keeps it readable).
    #[cfg(feature = "ctl")]
    pub accept_after: Option<Instant>,
    /// A client was read (a request, its end) or a reload ran in this turn:
    /// the stack pages their frames touched (the configuration parser's
    /// are the deepest of all) go back after the turn, so that `tinyd ctl`
    /// leaves no dirty pages behind.
    #[cfg(feature = "ctl")]
    pub went_deep: bool,
    pub pipe: Option<SelfPipe>,
    pub me: Pid,
    /// The sd_notify socket, once a service needs it.
    pub notify: Option<ready::Notify>,
    /// `--no-wait`: the launcher returns once tinyd runs.
    pub no_wait: bool,
}

impl<'a> Sup<'a> {
    /// One of tinyd's own events, about service `i` or about tinyd: to the
    /// service's log, tinyd's log, and stderr in the foreground.
    pub fn event(&mut self, i: Option<usize>, pri: u8, m: &[u8]) {
        self.event_parts(i, pri, &[m]);
    }

    /// How events of priority `pri` go out (borrowing nothing of `self`).
    pub(crate) fn out(&self, pri: u8) -> Out<'a> {
        Out {
            foreground: self.foreground,
            me: self.me.as_raw_nonzero().get(),
            base: self.base,
            pri,
        }
    }

    /// An event whose text comes in parts (up to `TEXT_PARTS - 2`): a path
    /// or a command goes out whole, never cut to fit a buffer.
    pub fn event_parts(&mut self, i: Option<usize>, pri: u8, m: &[&[u8]]) {
        // With one COMMAND, tinyd's own events (stopping, stopped) go to
        // its log too: there is no other.
        let slot = match (i, &self.mode) {
            (None, Mode::Single) if !self.t.slots.is_empty() => Some(0),
            _ => i,
        };
        let out = self.out(pri);
        let Sup {
            t,
            rings,
            own_ring,
            devlog,
            ..
        } = self;
        let (spec, sink, ring) = match slot.map(|j| &mut t.slots[j]) {
            Some(s) => (Some(&s.spec), Some(&mut s.sink), s.ring),
            None => (None, None, None),
        };
        let mut parts: [&[u8]; TEXT_PARTS] = [b""; TEXT_PARTS];
        let mut n = 0;
        // `i` is `slot` when it is a service.
        if let (Some(_), Some(spec)) = (i, spec) {
            parts[..2].copy_from_slice(&[spec.name(), b": "]);
            n = 2;
        }
        let k = m.len().min(TEXT_PARTS - n);
        parts[n..n + k].copy_from_slice(&m[..k]);
        let dest = spec.map(|s| (target(s, devlog), ring));
        out.emit(&parts[..n + k], dest.zip(sink), *own_ring, rings);
    }

    /// "cannot execute COMMAND: REASON" (or "cannot start COMMAND: STEP:
    /// REASON") for service `i`, the command and directory whole.
    fn spawn_failure(&mut self, i: usize, step: spawn::Step, why: &[u8]) {
        let out = self.out(PRI_ERR);
        let Sup {
            t,
            rings,
            own_ring,
            devlog,
            ..
        } = self;
        let s = &mut t.slots[i];
        let what = failure_parts(&s.spec, step, why);
        let text = [
            s.spec.name(),
            b": ",
            what[0],
            what[1],
            what[2],
            what[3],
            what[4],
            what[5],
        ];
        out.emit(
            &text,
            Some(((target(&s.spec, devlog), s.ring), &mut s.sink)),
            *own_ring,
            rings,
        );
    }

    /// What an instance of `spec` needs besides its decisions: its output
    /// pipe and log when it has them, opened now (a log that cannot be
    /// opened is an error; syslogd may start later).
    #[inline(never)]
    pub fn prepare(&self, spec: &Spec) -> Result<Prepared, Errno> {
        let logged = spec.log_file().is_some() || spec.syslog_tag().is_some() || self.log.is_some();
        let out = if logged { Some(make_pipe()?) } else { None };
        let mut sink = Sink::new();
        let target = target(spec, self.devlog);
        let opened = sink.open(self.base, &target);
        if let Target::File { path, .. } = target {
            // The writer opens it again: this says now that it cannot.
            opened?;
            sink = Sink::new();
            if path.to_bytes().len() > crate::util::limits::PATH_MAX {
                return Err(Errno::NAMETOOLONG);
            }
        }
        Ok(Prepared { out, sink })
    }

    /// `spec`'s slot, with what [`Sup::prepare`] made for it.
    // The spec comes back on failure so that its arena returns to the pool
    // (it is moved, not copied: the size does not matter).
    #[allow(clippy::result_large_err)]
    pub fn make_slot(spec: Spec, p: Prepared, rank: u8) -> Result<Slot, Spec> {
        let mut spec = spec;
        let Some(buf) = spec.take_line() else {
            return Err(spec);
        };
        #[cfg(not(feature = "ctl"))]
        let _ = rank;
        Ok(Slot {
            spec,
            #[cfg(feature = "ctl")]
            rank,
            out: p.out,
            line: LineBuf::new(buf),
            sink: p.sink,
            ring: None,
            full_since: None,
            ready_r: None,
            status: Buf::new(),
            said: ready::Said::Nothing,
        })
    }

    /// Puts `slot` in the table as a new current instance of `key` (wanted
    /// up unless `up` is false); the model starts it at the next step.
    #[allow(clippy::result_large_err)]
    pub fn install(&mut self, slot: Slot, key: Key, up: bool) -> Result<usize, Spec> {
        let mut slot = slot;
        if let Some(path) = slot.spec.log_file() {
            let block = slot.spec.log_full == crate::pure::settings::LogFull::Block;
            match self
                .rings
                .take(path, slot.spec.log_size, slot.spec.log_keep, block)
            {
                Ok(r) => slot.ring = Some(r),
                Err(_) => return Err(slot.into_spec()),
            }
        }
        let policy = slot.spec.policy;
        let ring = slot.ring;
        if let Err(slot) = self.t.slots.push(slot) {
            if let Some(r) = ring {
                self.rings.give(r);
            }
            return Err(slot.into_spec());
        }
        match self.t.model.add(key, policy, up) {
            Ok(i) => Ok(i),
            Err(()) => {
                let slot = self.t.slots.pop().expect("just pushed");
                if let Some(r) = ring {
                    self.rings.give(r);
                }
                Err(slot.into_spec())
            }
        }
    }

    /// A new service from `spec` (at startup).
    #[allow(clippy::result_large_err)]
    pub fn add(&mut self, spec: Spec) -> Result<usize, (Spec, Errno)> {
        let rank = self.t.slots.len() as u8;
        let p = match self.prepare(&spec) {
            Ok(p) => p,
            Err(e) => return Err((spec, e)),
        };
        let slot = Self::make_slot(spec, p, rank).map_err(|s| (s, Errno::NOMEM))?;
        let key = self.t.model.new_key();
        self.install(slot, key, true).map_err(|s| (s, Errno::NOMEM))
    }

    /// The file's dependencies (`t.deps`, by position in the file) as the
    /// model's: by key, for every current instance (whose rank is its
    /// position in the file in force).
    #[cfg(feature = "ctl")]
    pub(crate) fn apply_deps(&mut self) {
        let mut key_of = [None::<Key>; MAX_SERVICES];
        for (i, m) in self.t.model.iter().enumerate() {
            if m.role == Role::Current
                && let Some(k) = key_of.get_mut(self.t.slots[i].rank as usize)
            {
                *k = Some(m.key);
            }
        }
        let keys = |bits: u64| {
            (0..MAX_SERVICES)
                .filter(|&j| bits >> j & 1 != 0)
                .filter_map(|j| key_of[j])
                .fold(0, |k, key| k | 1 << key)
        };
        for i in 0..self.t.slots.len() {
            let rank = self.t.slots[i].rank as usize;
            if self.t.model.get(i).role == Role::Current
                && let Some(d) = self.t.deps.get(rank)
            {
                let (needs, after) = (keys(d.needs), keys(d.after));
                self.t.model.set_deps(i, needs, after);
            }
        }
    }

    /// Carries out `Act::Drop(i)`: the model's instance and its slot go,
    /// the arena back to the pool.
    pub(crate) fn drop_slot(&mut self, i: usize) {
        self.t.model.remove(i);
        self.scratch.moved(i, self.t.slots.len() - 1);
        let slot = self.t.slots.swap_remove(i);
        if let Some(r) = slot.ring {
            self.rings.give(r);
        }
        let spec = slot.into_spec();
        self.t.arenas.give(spec.into_arena());
    }

    /// Whether a failure to start service `i` ends tinyd: the command line's
    /// one service, never started yet.
    pub(crate) fn first_start(&self, i: usize) -> bool {
        matches!(self.mode, Mode::Single) && self.t.model.get(i).svc.pgid == 0
    }

    /// Starts service `i`. A failure to start is logged; at the first start
    /// of the command line's service, it is fatal.
    // The error is the message to log, built where the failure is known.
    pub(crate) fn spawn(&mut self, i: usize, now: Instant) -> Result<(), ()> {
        let ready_w = match self.ready_setup(i) {
            Ok(w) => w,
            Err(e) => {
                let mut m = Msg::new();
                m.s(b"cannot start: readiness pipe: ").err(e);
                self.event(Some(i), PRI_ERR, m.as_bytes());
                self.t.model.spawn_failed(i, now);
                self.note_backoff(i, now);
                return Err(());
            }
        };
        let fd_n = match self.t.model.get(i).policy.ready {
            crate::pure::svc::ReadyBy::Fd(n) => n,
            _ => 0,
        };
        let slot = &self.t.slots[i];
        let spec = spawn::Spec {
            notify: self.notify_env(i),
            ready_fd: ready_w.as_ref().map(|w| (w.as_fd(), fd_n)),
            exec: slot.spec.exec(),
            envp: self.envp,
            env: slot.spec.env(),
            creds: slot.spec.creds.as_ref(),
            chdir: slot.spec.chdir(),
            base: self.base,
            umask: slot.spec.umask,
            out: slot.out.as_ref().map(|(_, w)| w.as_fd()),
        };
        let result = spawn::spawn(&spec);
        drop(ready_w);
        let mut m = Msg::new();
        match result {
            Ok(Spawned::Running(pid)) => {
                let pid = pid.as_raw_nonzero().get();
                self.t.model.spawned(i, pid, now);
                m.s(b"started pid ").u(pid as u64);
                self.event(Some(i), PRI_NOTICE, m.as_bytes());
                Ok(())
            }
            Ok(Spawned::Failed(pid, step, e)) => {
                m.s(b": ").err(e);
                if self.first_start(i) {
                    // Reap the child (it exits at once), then give up.
                    while let Err(Errno::INTR) =
                        rustix::process::waitpid(Some(pid), WaitOptions::empty())
                    {
                    }
                    self.fatal_spawn(i, step, e, m.as_bytes());
                }
                self.spawn_failure(i, step, m.as_bytes());
                // Its exit (127) arrives as SIGCHLD and leads to a restart.
                self.t.model.spawned(i, pid.as_raw_nonzero().get(), now);
                Err(())
            }
            Err(e) => {
                m.s(b"cannot fork: ").err(e);
                if self.first_start(i) {
                    self.fatal(crate::code::FAIL, &[m.as_bytes()]);
                }
                self.event(Some(i), PRI_ERR, m.as_bytes());
                self.t.model.spawn_failed(i, now);
                self.note_backoff(i, now);
                Err(())
            }
        }
    }

    /// Ends tinyd before its services run: the error (`tinyd: ` and the
    /// parts) goes to the launcher (or stderr), nothing is left behind.
    #[cold]
    #[inline(never)]
    pub fn fatal(&mut self, exit: u8, line: &[&[u8]]) -> ! {
        for i in 0..self.t.slots.len() {
            self.signal_group(i, Signal::KILL);
        }
        self.cleanup();
        self.ready.fail(exit, line);
        sys::exit(exit as i32)
    }

    /// `fatal` for a failed first start of service `i`.
    #[cold]
    #[inline(never)]
    fn fatal_spawn(&mut self, i: usize, step: spawn::Step, e: Errno, why: &[u8]) -> ! {
        let exit = spawn::exec_code(step, e);
        for j in 0..self.t.slots.len() {
            self.signal_group(j, Signal::KILL);
        }
        self.cleanup();
        let what = failure_parts(&self.t.slots[i].spec, step, why);
        self.ready.fail(exit, &what);
        sys::exit(exit as i32)
    }

    /// Removes the pidfile and the control socket.
    pub(crate) fn cleanup(&mut self) {
        if let Some(p) = self.pidfile.take() {
            p.remove(self.base);
        }
        #[cfg(feature = "ctl")]
        if let Some((path, _)) = self.control.take() {
            let _ = rustix::fs::unlinkat(self.base, path, AtFlags::empty());
        }
    }

    pub(crate) fn note_backoff(&mut self, i: usize, now: Instant) {
        let svc = &self.t.model.get(i).svc;
        if svc.state == State::Backoff && svc.deadline.is_some() {
            let mut m = Msg::new();
            m.s(b"restarting in ").secs(svc.wait(now).0).s(b" seconds");
            self.event(Some(i), PRI_NOTICE, m.as_bytes());
        }
    }

    pub(crate) fn signal_group(&self, i: usize, sig: Signal) {
        let svc = &self.t.model.get(i).svc;
        if let (Some(g), true) = (Pid::from_raw(svc.pgid), svc.active()) {
            let _ = rustix::process::kill_process_group(g, sig);
        }
    }

    /// Carries out what instance `i`'s state machine said.
    pub(crate) fn act(&mut self, i: usize, what: Do, now: Instant) {
        let mut m = Msg::new();
        let inst = *self.t.model.get(i);
        let pgid = inst.svc.pgid as u64;
        match what {
            Do::Nothing => self.note_backoff(i, now),
            Do::Spawn => {
                let _ = self.spawn(i, now);
            }
            Do::Term => {
                if inst.svc.want_up {
                    m.s(b"stopping leftover processes of group ").u(pgid);
                    self.event(Some(i), PRI_NOTICE, m.as_bytes());
                } else if let Some(pid) = inst.svc.pid {
                    m.s(b"stopping pid ").u(pid as u64);
                    if inst.role == Role::Replaced && !self.t.model.shutting_down() {
                        m.s(b" (reload)");
                    } else if inst.up && !self.t.model.shutting_down() && inst.role == Role::Current
                    {
                        m.s(b" (what it needs is not ready)");
                    }
                    self.event(Some(i), PRI_NOTICE, m.as_bytes());
                }
                self.signal_group(i, Signal::TERM);
                self.signal_group(i, Signal::CONT);
            }
            Do::Timeout => {
                m.s(b"not ready after ")
                    .secs(inst.policy.ready_timeout.0)
                    .s(b" seconds; stopping pid ")
                    .u(inst.svc.pid.unwrap_or(0) as u64);
                self.event(Some(i), PRI_ERR, m.as_bytes());
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
                    m.s(b"process group ")
                        .u(pgid)
                        .s(b" survived SIGKILL; giving up");
                    self.event(Some(i), PRI_ERR, m.as_bytes());
                }
                let (state, last) = (inst.svc.state, inst.svc.last);
                if state == State::Stopped && inst.svc.pgid != 0 {
                    self.event(Some(i), PRI_NOTICE, b"stopped");
                }
                if let (Mode::Single, State::Exited) = (&self.mode, state) {
                    self.exit(last.map_or(0, Status::code));
                }
            }
        }
    }

    /// Exits: pidfile and control socket removed, then waiting clients
    /// answered (so that "stopped" means nothing is left).
    pub(crate) fn exit(&mut self, exit: u8) -> ! {
        self.check_launch();
        self.finish_writer();
        self.cleanup();
        #[cfg(feature = "ctl")]
        self.answer_shutdown();
        sys::exit(exit as i32)
    }

    /// Reaps every child; a service's end goes to its state machine once
    /// all zombies (its leftovers among them) are gone.
    #[inline(never)]
    pub(crate) fn reap(&mut self, now: Instant) {
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, st))) => {
                    let status = match (st.exit_status(), st.terminating_signal()) {
                        (Some(c), _) => Status::Exited(c as u8),
                        (None, Some(s)) => Status::Signaled(s as u8),
                        _ => continue,
                    };
                    if self.writer.pid() == Some(pid) {
                        self.writer_ended(status, now);
                        continue;
                    }
                    let pid = pid.as_raw_nonzero().get();
                    let Some(i) = self.t.model.find_pid(pid) else {
                        continue; // an orphan we adopted as subreaper
                    };
                    // Handled at once: a reaped status exists nowhere else.
                    self.ended(i, status, now);
                }
                Ok(None) => break,
                Err(Errno::INTR) => {}
                Err(_) => break, // ECHILD: no children
            }
        }
    }

    /// Service `i`'s process ended with `status`.
    fn ended(&mut self, i: usize, status: Status, now: Instant) {
        self.flush_output(i);
        self.t.slots[i].ready_r = None;
        let mut m = Msg::new();
        match status {
            Status::Exited(c) => m.s(b"exited with status ").u(c as u64),
            Status::Signaled(s) => m.s(b"killed by signal ").u(s as u64),
        };
        self.event(Some(i), PRI_NOTICE, m.as_bytes());
        let alive = group_alive(self.t.model.get(i).svc.pgid);
        let d = self.t.model.exited(i, status, now, alive);
        self.act(i, d, now);
    }

    /// Stops every service (SIGTERM, SIGINT, `shutdown`): the next step
    /// stops them all.
    pub(crate) fn stop_all(&mut self) {
        if !self.t.model.shutting_down() {
            self.t.model.shutdown();
            self.event(None, PRI_NOTICE, b"stopping");
        }
    }

    /// One step of the model, carried out: everything that is due, every
    /// start, stop and drop that what is wanted calls for.
    /// What one step does may let another act at once (a start makes a
    /// service ready, and what needs it may start): steps follow until
    /// one has nothing to do, a round per level of the graph at most.
    pub(crate) fn decide(&mut self, now: Instant) {
        // Two bytes an act (an index below 256, and `None` for a drop):
        // the list stays a small part of this frame, which is on the stack
        // in every turn.
        const _: () = assert!(SLOTS <= 256);
        for _ in 0..=SLOTS {
            let mut acts: ArrayVec<(u8, Option<Do>), { 2 * SLOTS }> = ArrayVec::new();
            self.t.model.step(now, &group_alive, &mut |a| {
                let _ = acts.push(match a {
                    Act::Do(i, d) => (i as u8, Some(d)),
                    Act::Drop(i) => (i as u8, None),
                });
            });
            if acts.is_empty() {
                return;
            }
            for &(i, d) in acts.iter() {
                match d {
                    Some(d) => self.act(i as usize, d, now),
                    None => self.drop_slot(i as usize),
                }
            }
        }
    }

    /// The earliest deadline of a service, a client, waiting output or
    /// the log writer's restart.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let slots = crate::pure::time::earliest(self.t.model.deadline(), self.stuck_deadline());
        #[cfg(feature = "ctl")]
        let slots = self
            .t
            .clients
            .iter()
            .map(|c| c.deadline)
            .chain([self.accept_after])
            .fold(slots, crate::pure::time::earliest);
        slots
    }

    pub fn run(&mut self) -> ! {
        let Some(pipe) = self.pipe.take() else {
            self.exit(crate::code::SOFTWARE)
        };
        let mut pending = Pending::default();
        // Start every service; the launcher hears once they are ready.
        self.decide(now());
        if self.no_wait {
            self.ready.ok();
        }
        // Startup's frames (options, configuration, detaching) and the
        // first starts' (spawning, deeper than an idle turn goes) are done:
        // their stack pages go back to the kernel, one system call.
        sys::release_stack();
        loop {
            let now = now();
            self.decide(now);
            self.ensure_writer(now);
            self.resume_held();
            self.writer.kick(self.rings);
            self.check_launch();
            #[cfg(feature = "ctl")]
            self.check_waits(now);
            if self.t.model.shutting_down() && self.t.model.all_down() {
                self.event(None, PRI_NOTICE, b"stopped");
                self.exit(0);
            }
            let timeout = self.next_deadline().map(|d| {
                let ms = now.until(d).0;
                Timespec {
                    tv_sec: (ms / 1000) as _,
                    tv_nsec: (ms % 1000 * 1_000_000) as _,
                }
            });
            // What each poll entry is (SRC_* | index), and which are ready.
            let (srcs, ready, poll_err) = self.poll_once(&pipe, timeout.as_ref());
            let is_ready = |k: usize| ready[k / 64] & (1 << (k % 64)) != 0;
            if let Some(e) = poll_err {
                // Cannot happen with valid descriptors; say so, never spin.
                let mut m = Msg::new();
                m.s(b"poll: ").err(e);
                self.event(None, PRI_ERR, m.as_bytes());
                let pause = Timespec {
                    tv_sec: 1,
                    tv_nsec: 0,
                };
                let _ = rustix::thread::nanosleep(&pause);
            }
            // Output first (a service that exited has its last lines read
            // before its exit is logged), then signals, then control.
            for (k, &src) in srcs.iter().enumerate() {
                if src & SRC_KIND == SRC_OUT && is_ready(k) {
                    self.read_output((src & !SRC_KIND) as usize, READS_PER_TURN);
                }
                if src == SRC_ROOM && is_ready(k) {
                    self.writer.drain_room();
                }
                if src & SRC_KIND == SRC_READY && is_ready(k) {
                    self.read_ready_fd((src & !SRC_KIND) as usize);
                }
                // Before SIGCHLD is handled: a sender that was the leader
                // is still a zombie, its credentials still check out.
                if src == SRC_NOTIFY && is_ready(k) {
                    self.read_notify();
                }
            }
            if is_ready(0) {
                pipe.drain(&mut pending);
            }
            let now = crate::sup::now();
            self.signals(&mut pending, now);
            #[cfg(feature = "ctl")]
            self.serve(srcs.as_slice(), &is_ready, now);
            #[cfg(feature = "ctl")]
            if core::mem::take(&mut self.went_deep) {
                sys::release_stack();
            }
        }
    }

    /// The one poll(2) of a turn: returns what each entry is, which are
    /// ready, and poll's error. A frame of its own: the poll entries (a few
    /// KiB at most) are not under every other frame of the turn.
    #[inline(never)]
    fn poll_once(
        &self,
        pipe: &SelfPipe,
        timeout: Option<&Timespec>,
    ) -> (
        ArrayVec<u16, POLL_MAX>,
        [u64; POLL_MAX.div_ceil(64)],
        Option<Errno>,
    ) {
        let mut ready = [0u64; POLL_MAX.div_ceil(64)];
        let mut set = PollSet {
            fds: ArrayVec::new(),
            srcs: ArrayVec::new(),
        };
        set.add(pipe.fd(), SRC_PIPE);
        #[cfg(feature = "ctl")]
        self.poll_control(&mut set);
        if let Some(r) = self.writer.room_fd() {
            set.add(r, SRC_ROOM);
        }
        if let Some(n) = self.notify_fd() {
            set.add(n, SRC_NOTIFY);
        }
        for (i, s) in self.t.slots.iter().enumerate() {
            if let Some(r) = &s.ready_r {
                set.add(r.as_fd(), SRC_READY | i as u16);
            }
        }
        // Output that waits for room in its log is not read.
        for (i, s) in self.t.slots.iter().enumerate() {
            if let (Some((r, _)), false) = (&s.out, s.line.held()) {
                set.add(r.as_fd(), SRC_OUT | i as u16);
            }
        }
        let poll_err = match poll(set.fds.as_mut_slice(), timeout) {
            Ok(_) | Err(Errno::INTR) => None,
            Err(e) => Some(e),
        };
        for (k, f) in set.fds.iter().enumerate() {
            if !f.revents().is_empty() {
                ready[k / 64] |= 1 << (k % 64);
            }
        }
        (set.srcs, ready, poll_err)
    }

    #[inline(never)]
    pub(crate) fn signals(&mut self, pending: &mut Pending, now: Instant) {
        if pending.take(sig::SIGCHLD) {
            self.reap(now);
        }
        if pending.take(sig::SIGTERM) | pending.take(sig::SIGINT) {
            self.stop_all();
        }
        if pending.take(sig::SIGHUP) {
            self.reopen_logs();
            #[cfg(feature = "ctl")]
            self.reload_on_hup();
        }
        for s in [sig::SIGUSR1, sig::SIGUSR2] {
            if pending.take(s) {
                let sig = if s == sig::SIGUSR1 {
                    Signal::USR1
                } else {
                    Signal::USR2
                };
                for inst in self.t.model.iter() {
                    if let Some(pid) = inst.svc.pid.and_then(Pid::from_raw) {
                        let _ = rustix::process::kill_process(pid, sig);
                    }
                }
            }
        }
    }

    /// SIGHUP: the syslog sockets here, the files in the writer.
    pub(crate) fn reopen_logs(&mut self) {
        let base = self.base;
        for slot in self.t.slots.iter_mut() {
            let target = target(&slot.spec, self.devlog);
            if matches!(target, Target::Syslog { .. }) {
                let _ = slot.sink.open(base, &target);
            }
        }
        self.writer.reopen(self.rings);
    }
}

/// How one event goes out: to stderr (in the foreground), a service's log
/// and tinyd's.
pub(crate) struct Out<'b> {
    foreground: bool,
    me: i32,
    base: BorrowedFd<'b>,
    pri: u8,
}

impl Out<'_> {
    /// `text` to stderr (in the foreground), to a service's log (its
    /// target and ring, and its syslog sink) and to tinyd's own (`own`).
    /// A line that finds no room in a ring is counted as lost there.
    pub(crate) fn emit(
        &self,
        text: &[&[u8]],
        slot: Option<((Target<'_>, Option<RingId>), &mut Sink)>,
        own: Option<RingId>,
        rings: &mut Rings,
    ) {
        let text = &text[..text.len().min(TEXT_PARTS)];
        if self.foreground {
            let mut v = [IoSlice::new(b""); TEXT_PARTS + 2];
            v[0] = IoSlice::new(b"tinyd: ");
            for (slot, p) in v[1..].iter_mut().zip(text) {
                *slot = IoSlice::new(p);
            }
            v[text.len() + 1] = IoSlice::new(b"\n");
            let _ = rustix::io::writev(sys::stderr(), &v[..text.len() + 2]);
        }
        let (base, me, pri) = (self.base, self.me, self.pri);
        let mut to_ring = |r: RingId| {
            if !rings.line(r, b"tinyd", text) {
                rings.lose(r);
            }
        };
        match slot {
            Some(((Target::File { .. }, Some(r)), _)) => to_ring(r),
            Some(((t @ Target::Syslog { .. }, _), sink)) => {
                sink.line_parts(base, &t, b"tinyd", me, pri, text)
            }
            _ => {}
        }
        if let Some(r) = own {
            to_ring(r);
        }
    }
}

/// The words of "cannot execute COMMAND" or "cannot start COMMAND: STEP"
/// (the directory after `chdir`), then `why` (": REASON").
fn failure_parts<'s>(spec: &'s Spec, step: spawn::Step, why: &'s [u8]) -> [&'s [u8]; 6] {
    let cmd = spec.exec().first().to_bytes();
    match step {
        spawn::Step::Exec => [b"cannot execute ", cmd, why, b"", b"", b""],
        // Its one failure: the limit (MAX_INHERITED_ENV).
        spawn::Step::Environment => [
            b"cannot start ",
            cmd,
            b": environment: more than 256 variables inherited from tinyd (the limit)",
            b"",
            b"",
            b"",
        ],
        spawn::Step::Chdir => [
            b"cannot start ",
            cmd,
            b": chdir ",
            spec.chdir().to_bytes(),
            why,
            b"",
        ],
        _ => [b"cannot start ", cmd, b": ", step.name(), why, b""],
    }
}

/// Where a service's own lines go.
pub(crate) fn target<'s>(spec: &'s Spec, devlog: &'s CStr) -> Target<'s> {
    if let Some(path) = spec.log_file() {
        Target::File {
            path,
            max: spec.log_size,
            keep: spec.log_keep,
        }
    } else if spec.syslog_tag().is_some() {
        Target::Syslog {
            path: devlog,
            name: spec.name(),
        }
    } else {
        Target::None
    }
}

/// Whether process group `pgid` has members left.
fn group_alive(pgid: i32) -> bool {
    match Pid::from_raw(pgid) {
        Some(g) => !matches!(
            rustix::process::test_kill_process_group(g),
            Err(Errno::SRCH)
        ),
        None => false,
    }
}

/// A service's output pipe: the read end non-blocking for tinyd, the write
/// end blocking for the service (O_NONBLOCK belongs to the open file, so it
/// is set on the read end only).
fn make_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    rustix::fs::fcntl_setfl(&r, OFlags::NONBLOCK)?;
    Ok((r, w))
}

#[cfg(test)]
mod size_tests {
    /// The static tables are the daemon's memory: keep what one service
    /// costs from creeping up unnoticed (README, "Limits").
    #[test]
    fn tables_stay_small() {
        let slot = core::mem::size_of::<super::Slot>();
        assert!(slot <= 640, "Slot is {slot} bytes");
        let tables = core::mem::size_of::<super::Tables>();
        // 128 KiB since readiness (status text, dependencies): only the
        // pages that services use are ever touched.
        assert!(tables <= 128 * 1024, "Tables are {tables} bytes");
        assert!(core::mem::size_of::<crate::pure::svc::Svc>() <= 96);
    }
}
