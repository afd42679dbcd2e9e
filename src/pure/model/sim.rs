//! A simulated world for the model: fake processes that exit, ignore
//! SIGTERM or leave group members behind, a fake clock, and a driver that
//! plays the supervisor loop's part. Random sequences of reloads, requests,
//! exits, readiness, ticks and shutdowns are fed to [`Model`], with
//! services that need or start after others, and the invariants are
//! checked after every step: among them, nothing starts before what it
//! needs is ready, and nothing is stopped while what needs it still runs. Used by the unit tests (seeded) and by the
//! `model` fuzz target (bytes as choices). Pure and no_std like the model.

use super::{Act, Hold, Inst, Model, Role, Staged, bit};
use crate::pure::args::Restart;
use crate::pure::svc::{Do, Policy, ReadyBy, State, Status};
use crate::pure::time::{Instant, Ms};
use crate::util::store::ArrayVec;

/// Names in the simulated configurations (the real limit is 64).
pub const NAMES: usize = 6;
/// Instance slots, as in the supervisor: twice the names.
pub const SLOTS: usize = 2 * NAMES;

/// Where choices come from.
pub trait Choose {
    /// A number below `n` (n > 0).
    fn pick(&mut self, n: u32) -> u32;
}

/// xorshift64*: seeded, for the tests.
pub struct Rng(pub u64);

impl Choose for Rng {
    fn pick(&mut self, n: u32) -> u32 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        ((x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % n as u64) as u32
    }
}

/// Choices read from fuzzer bytes (zero once they run out).
pub struct Bytes<'a>(pub &'a [u8]);

impl Choose for Bytes<'_> {
    fn pick(&mut self, n: u32) -> u32 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b as u32 % n
            }
            None => 0,
        }
    }
}

/// How a simulated COMMAND behaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Runs until SIGTERM, then exits.
    Clean,
    /// Exits by itself (status 0 or 1) after a while.
    Quits,
    /// Ignores SIGTERM: only SIGKILL ends it.
    Stubborn,
    /// Its leader exits on SIGTERM (or by itself), a group member stays
    /// until SIGKILL.
    Leaver,
}

/// One service of a simulated configuration.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub name: u8,
    pub kind: Kind,
    pub policy: Policy,
    /// Other settings: a different value is a changed service.
    pub variant: u8,
    /// `ready = notify`: how long after its start it says so (`None`:
    /// never).
    pub ready_in: Option<u64>,
    /// Names it needs and starts after (bits; only lower names, so that
    /// the graph has no cycle, as the file's check ensures).
    pub needs: u8,
    pub after: u8,
}

/// A simulated process group: the instance's run.
#[derive(Clone, Copy, Debug)]
struct Proc {
    pid: i32,
    leader: bool,
    member: bool,
    /// When the leader exits by itself (or after SIGTERM).
    exit_at: Option<(Instant, Status)>,
    /// When it says it is ready (notify).
    ready_at: Option<Instant>,
}

/// What the driver keeps per instance (the supervisor's slot).
#[derive(Clone, Copy, Debug)]
struct Slot {
    entry: Entry,
    proc: Option<Proc>,
}

/// A broken invariant.
#[derive(Debug)]
pub struct Violation {
    pub step: u32,
    pub what: &'static str,
}

pub struct World {
    pub m: Model<SLOTS>,
    slots: ArrayVec<Slot, SLOTS>,
    /// The configuration in force.
    config: ArrayVec<Entry, NAMES>,
    now: Instant,
    next_pid: i32,
    /// Names stopped by request (and not started since).
    down: [bool; NAMES],
    deadline: Option<Instant>,
    step: u32,
    /// When shutdown was asked for, and the longest stop timeout then.
    shutdown: Option<(Instant, Ms)>,
    pub reloads_refused: u32,
    /// Which instances were still starting when the last step began.
    starting: [bool; SLOTS],
}

/// The longest a simulated run waits after SIGTERM before it exits.
const TERM_EXIT: u64 = 50;

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> World {
        World {
            m: Model::new(),
            slots: ArrayVec::new(),
            config: ArrayVec::new(),
            now: Instant::from_millis(1000),
            next_pid: 100,
            down: [false; NAMES],
            deadline: None,
            step: 0,
            shutdown: None,
            reloads_refused: 0,
            starting: [false; SLOTS],
        }
    }

    fn fail(&self, what: &'static str) -> Violation {
        #[cfg(test)]
        self.dump();
        Violation {
            step: self.step,
            what,
        }
    }

    fn name_of(&self, i: usize) -> u8 {
        self.slots.as_slice()[i].entry.name
    }

    /// The current instance of a name.
    fn current(&self, name: u8) -> Option<usize> {
        (0..self.m.len()).find(|&i| self.m.get(i).role == Role::Current && self.name_of(i) == name)
    }

    fn alive_group(slots: &[Slot], m: &Model<SLOTS>, pgid: i32) -> bool {
        slots
            .iter()
            .zip(m.iter())
            .any(|(s, inst)| inst.svc.pgid == pgid && s.proc.is_some_and(|p| p.leader || p.member))
    }

    /// Steps of the model, their actions carried out, until one has
    /// nothing to do (as `Sup::decide`), each followed by the checks.
    fn settle(&mut self) -> Result<(), Violation> {
        for _ in 0..=SLOTS {
            if !self.settle_once()? {
                return self.check_deps();
            }
        }
        Err(self.fail("steps never stop acting"))
    }

    /// Whether instance `j` is still starting: running and not ready yet,
    /// about to run again, or waiting for its first try (not for a retry
    /// after a failure, nor for what it needs when that ended).
    fn is_starting(&self, j: usize) -> bool {
        let m = self.m.get(j);
        // What it needs ended: it cannot start.
        let stuck = !self.each_of(self.slots.as_slice()[j].entry.needs, &mut |k| {
            let n = self.m.get(k);
            n.svc.is_ready() || (n.up && (n.svc.state != State::Exited || n.fresh))
        });
        m.up && self.shutdown.is_none()
            && !self.m.ready(j)
            && !stuck
            && ((m.svc.state == State::Running && !m.svc.ready)
                || m.fresh
                || (matches!(m.svc.state, State::Backoff | State::Stopped)
                    && m.svc.failed.is_none()))
    }

    /// One step; whether it acted.
    fn settle_once(&mut self) -> Result<bool, Violation> {
        for j in 0..self.m.len() {
            self.starting[j] = self.is_starting(j);
        }
        let mut acts: ArrayVec<Act, { 4 * SLOTS }> = ArrayVec::new();
        let deadline = {
            let slots = self.slots.as_slice();
            let World { m, .. } = self;
            let alive_of: [(i32, bool); SLOTS] = {
                let mut a = [(0, false); SLOTS];
                for (k, inst) in m.iter().enumerate() {
                    a[k] = (inst.svc.pgid, Self::alive_group(slots, m, inst.svc.pgid));
                }
                a
            };
            m.step(
                self.now,
                &|g| alive_of.iter().any(|&(p, a)| p == g && a),
                &mut |a| {
                    let _ = acts.push(a);
                },
            )
        };
        #[cfg(test)]
        if std::env::var("SIM_TRACE").is_ok() {
            extern crate std;
            std::eprintln!(
                "step {} at {:?}: {:?}",
                self.step,
                self.now,
                acts.as_slice()
            );
        }
        for &a in acts.iter() {
            self.carry_out(a)?;
        }
        // What the loop sleeps until: the step's answer, unless carrying
        // it out changed a deadline (a failed fork).
        self.deadline = self.m.deadline();
        if acts.is_empty() && self.deadline != deadline {
            return Err(self.fail("the step's deadline is not the model's"));
        }
        self.check()?;
        Ok(!acts.is_empty())
    }

    /// The current instance of each name in `names` (bits).
    fn each_of(&self, names: u8, f: &mut dyn FnMut(usize) -> bool) -> bool {
        (0..NAMES as u8)
            .filter(|n| names >> n & 1 != 0)
            .filter_map(|n| self.current(n))
            .all(f)
    }

    /// Whether a current instance that depends on instance `i` (by
    /// `needs`; at shutdown by `after` too) has a process.
    fn dependant_runs(&self, i: usize) -> bool {
        let name = self.name_of(i);
        (0..self.m.len()).any(|j| {
            let e = self.slots.as_slice()[j].entry;
            let deps = if self.shutdown.is_some() {
                e.needs | e.after
            } else {
                e.needs
            };
            self.m.get(j).role == Role::Current
                && deps >> name & 1 != 0
                && self.m.get(j).svc.active()
        })
    }

    /// Once the steps are done: a service that runs while something it
    /// needs is not ready is being stopped, or waits for what needs it.
    fn check_deps(&self) -> Result<(), Violation> {
        for i in 0..self.m.len() {
            let m = self.m.get(i);
            if m.role != Role::Current || m.svc.state != State::Running {
                continue;
            }
            let needs = self.slots.as_slice()[i].entry.needs;
            if !self.each_of(needs, &mut |j| self.m.ready(j)) && !self.dependant_runs(i) {
                return Err(self.fail("a service runs while what it needs is not ready"));
            }
        }
        Ok(())
    }

    /// Every current instance waits for the current instances of the names
    /// its entry needs and starts after.
    fn set_deps(&mut self) {
        for i in 0..self.m.len() {
            if self.m.get(i).role != Role::Current {
                continue;
            }
            // An unchanged service keeps its slot: its graph is the file's.
            let name = self.name_of(i);
            if let Some(c) = self.config.iter().find(|c| c.name == name) {
                let slot = &mut self.slots.as_mut_slice()[i];
                (slot.entry.needs, slot.entry.after) = (c.needs, c.after);
            }
            let e = self.slots.as_slice()[i].entry;
            let keys = |names: u8| {
                (0..NAMES as u8)
                    .filter(|n| names >> n & 1 != 0)
                    .filter_map(|n| self.current(n))
                    .fold(0, |k, j| k | bit(self.m.get(j).key))
            };
            let (needs, after) = (keys(e.needs), keys(e.after));
            self.m.set_deps(i, needs, after);
        }
    }

    fn carry_out(&mut self, a: Act) -> Result<(), Violation> {
        match a {
            Act::Do(i, d) => self.act(i, d),
            Act::Drop(i) => {
                if self.slots.as_slice()[i]
                    .proc
                    .is_some_and(|p| p.leader || p.member)
                {
                    return Err(self.fail("dropped an instance whose processes still run"));
                }
                self.m.remove(i);
                self.slots.swap_remove(i);
                Ok(())
            }
        }
    }

    fn act(&mut self, i: usize, d: Do) -> Result<(), Violation> {
        let now = self.now;
        match d {
            Do::Nothing | Do::Done => Ok(()),
            Do::Spawn => {
                let name = self.name_of(i);
                if self.down[name as usize] && self.m.get(i).role == Role::Current {
                    return Err(self.fail("started a service stopped by request"));
                }
                if self.shutdown.is_some() {
                    return Err(self.fail("started a service during shutdown"));
                }
                let key = self.m.get(i).key;
                if self
                    .m
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != i && o.key == key && o.svc.active())
                {
                    return Err(self.fail("started beside another instance of its name"));
                }
                let e = self.slots.as_slice()[i].entry;
                if !self.each_of(e.needs, &mut |j| self.m.ready(j)) {
                    return Err(self.fail("started before what it needs is ready"));
                }
                // Still starting before the step and after it (the step
                // decides on what it changed first: a stop that ended).
                if !self.each_of(e.after, &mut |j| !self.starting[j] || !self.is_starting(j)) {
                    return Err(self.fail("started before what it starts after"));
                }
                let pid = self.next_pid;
                self.next_pid += 1;
                let exit_at = match e.kind {
                    Kind::Quits | Kind::Leaver => Some((
                        now + Ms(10 + (pid as u64 * 37) % 900),
                        Status::Exited((pid & 1) as u8),
                    )),
                    _ => None,
                };
                self.slots.as_mut_slice()[i].proc = Some(Proc {
                    pid,
                    leader: true,
                    member: e.kind == Kind::Leaver,
                    exit_at,
                    ready_at: match (e.policy.ready, e.ready_in) {
                        (ReadyBy::Notify, Some(t)) if !e.policy.oneshot => Some(now + Ms(t)),
                        _ => None,
                    },
                });
                self.m.spawned(i, pid, now);
                Ok(())
            }
            Do::Term | Do::Timeout => {
                let inst = self.m.get(i);
                if d == Do::Term && !inst.svc.want_up && self.dependant_runs(i) {
                    return Err(self.fail("stopped while what depends on it still runs"));
                }
                if d == Do::Timeout && inst.svc.failed.is_none() {
                    return Err(self.fail("a timeout that is not a failed start"));
                }
                let kind = self.slots.as_slice()[i].entry.kind;
                if let Some(p) = &mut self.slots.as_mut_slice()[i].proc
                    && p.leader
                    && kind != Kind::Stubborn
                {
                    let at = now + Ms(p.pid as u64 % TERM_EXIT);
                    if p.exit_at.is_none_or(|(t, _)| t > at) {
                        p.exit_at = Some((at, Status::Signaled(15)));
                    }
                }
                Ok(())
            }
            Do::Kill => {
                if let Some(p) = &mut self.slots.as_mut_slice()[i].proc {
                    p.member = false;
                    if p.leader {
                        p.exit_at = Some((now, Status::Signaled(9)));
                    }
                }
                Ok(())
            }
            Do::GiveUp => Err(self.fail("gave up on a group that SIGKILL ends")),
        }
    }

    /// The next leader exit in the simulation.
    fn next_exit(&self) -> Option<(usize, Instant)> {
        let mut best: Option<(usize, Instant)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(Proc {
                leader: true,
                exit_at: Some((t, _)),
                ..
            }) = s.proc
                && best.is_none_or(|(_, b)| t < b)
            {
                best = Some((i, t));
            }
        }
        best
    }

    /// The next readiness in the simulation.
    fn next_ready(&self) -> Option<(usize, Instant)> {
        let mut best: Option<(usize, Instant)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(Proc {
                leader: true,
                ready_at: Some(t),
                ..
            }) = s.proc
                && best.is_none_or(|(_, b)| t < b)
            {
                best = Some((i, t));
            }
        }
        best
    }

    /// Time moves on to the next exit, readiness or deadline, which
    /// happens.
    pub fn advance(&mut self) -> Result<bool, Violation> {
        if let Some((i, t)) = self.next_ready()
            && self.next_exit().is_none_or(|(_, e)| t < e)
            && self.deadline.is_none_or(|d| t < d)
        {
            self.now = self.now.max(t);
            if let Some(p) = &mut self.slots.as_mut_slice()[i].proc {
                p.ready_at = None;
            }
            self.m.became_ready(i);
            self.settle()?;
            return Ok(true);
        }
        let exit = self.next_exit();
        let next = match (exit, self.deadline) {
            (Some((_, t)), Some(d)) => t.min(d),
            (Some((_, t)), None) => t,
            (None, Some(d)) => d,
            (None, None) => return Ok(false),
        };
        self.now = self.now.max(next);
        if let Some((i, t)) = exit
            && t <= self.now
        {
            self.reap(i)?;
        }
        self.settle()?;
        Ok(true)
    }

    fn reap(&mut self, i: usize) -> Result<(), Violation> {
        let now = self.now;
        let slot = &mut self.slots.as_mut_slice()[i];
        let Some(p) = &mut slot.proc else {
            return Ok(());
        };
        let Some((_, status)) = p.exit_at.take() else {
            return Ok(());
        };
        p.leader = false;
        let pid = p.pid;
        let left = p.member;
        if !left {
            slot.proc = None;
        }
        if self.m.find_pid(pid) != Some(i) {
            return Err(self.fail("a reaped pid is not its instance's"));
        }
        let d = self.m.exited(i, status, now, left);
        #[cfg(test)]
        if std::env::var("SIM_TRACE").is_ok() {
            extern crate std;
            std::eprintln!("reap {i} {status:?} -> {d:?}");
        }
        self.act(i, d)?;
        self.settle()
    }

    /// A reload to `entries` (distinct names).
    pub fn reload(&mut self, entries: &[Entry]) -> Result<(), Violation> {
        // The plan, checked whole before anything changes, as the loop
        // makes it (sup::control::apply): the model decides.
        let mut staged: ArrayVec<Staged, NAMES> = ArrayVec::new();
        for e in entries {
            let current = self
                .current(e.name)
                .map(|i| (i, same(&self.slots.as_slice()[i].entry, e)));
            let named = (0..self.m.len()).find(|&i| self.name_of(i) == e.name);
            let _ = staged.push(Staged { current, named });
        }
        let Ok(p) = self.m.plan(staged.as_slice()) else {
            // Only when more names are stopping than a configuration holds.
            self.reloads_refused += 1;
            return Err(self.fail("a valid reload had no room"));
        };
        for (e, st) in entries.iter().zip(staged.iter()) {
            if st.current.is_none() {
                self.down[e.name as usize] = false;
            }
        }
        let retiring = p.retiring;
        for &i in retiring.iter() {
            self.m.retire(i);
        }
        for i in 0..self.m.len() {
            let name = self.name_of(i);
            if self.m.get(i).role == Role::Replaced && !entries.iter().any(|e| e.name == name) {
                self.down[name as usize] = false;
            }
        }
        let mut drops: ArrayVec<usize, SLOTS> = ArrayVec::new();
        self.m.sweep(&mut |a| {
            if let Act::Drop(i) = a {
                let _ = drops.push(i);
            }
        });
        for &i in drops.iter() {
            self.m.remove(i);
            self.slots.swap_remove(i);
        }
        for (&e, new) in entries.iter().zip(p.new.iter()) {
            let Some((key, up)) = *new else { continue };
            let key = key.unwrap_or_else(|| self.m.new_key());
            if self.m.add(key, e.policy, up).is_err()
                || self
                    .slots
                    .push(Slot {
                        entry: e,
                        proc: None,
                    })
                    .is_err()
            {
                return Err(self.fail("no room after the plan said there was"));
            }
        }
        self.config = ArrayVec::new();
        for e in entries {
            let _ = self.config.push(*e);
        }
        self.set_deps();
        self.settle()
    }

    pub fn request(&mut self, what: u32, name: u8) -> Result<(), Violation> {
        let Some(i) = self.current(name) else {
            return Ok(()); // unknown service
        };
        match what {
            0 => {
                // What it needs, and what that needs, is started too.
                let mut names = 1u8 << name;
                for _ in 0..NAMES {
                    for n in 0..NAMES as u8 {
                        if names >> n & 1 != 0
                            && let Some(j) = self.current(n)
                        {
                            names |= self.slots.as_slice()[j].entry.needs;
                        }
                    }
                }
                for n in 0..NAMES {
                    if names >> n & 1 != 0 {
                        self.down[n] = false;
                    }
                }
                self.m.start(i)
            }
            1 => {
                self.down[name as usize] = true;
                self.m.stop(i)
            }
            _ => {
                self.down[name as usize] = false;
                self.m.restart(i)
            }
        }
        self.settle()
    }

    pub fn shutdown(&mut self) -> Result<(), Violation> {
        // Dependants stop first: stops follow each other along a chain, so
        // the bound is their sum (with each one's SIGKILL and exit).
        let longest = self
            .m
            .iter()
            .map(|m| m.policy.stop_timeout + Ms(TERM_EXIT + 100))
            .fold(Ms::ZERO, |a, b| a + b);
        self.shutdown = Some((self.now, longest));
        self.m.shutdown();
        self.settle()
    }

    /// Time runs until nothing is timed; after a shutdown, everything must
    /// have ended in time.
    pub fn finish(&mut self) -> Result<(), Violation> {
        let mut n = 0;
        while self.advance()? {
            n += 1;
            if n > 100_000 {
                return Err(self.fail("never settles"));
            }
            if self.shutdown.is_none() {
                break;
            }
        }
        if let Some((t, longest)) = self.shutdown {
            if !self.m.all_down() {
                return Err(self.fail("shutdown never finished"));
            }
            // SIGTERM, the stop timeout, SIGKILL, and the exit.
            if self.now.since(t) > longest + Ms(TERM_EXIT + 100) {
                return Err(self.fail("shutdown took longer than the stop timeout"));
            }
        }
        Ok(())
    }

    /// Stops making requests and lets time run a while: every service
    /// wanted up must then be running or waiting for its restart delay.
    pub fn settle_all(&mut self) -> Result<(), Violation> {
        let until = self.now + Ms::secs(60);
        while self.now < until {
            // Only the services' own exits and timers: no more requests.
            let quits = self.slots.iter().any(|s| s.entry.kind != Kind::Clean);
            if !self.advance()? || (!quits && self.deadline.is_none()) {
                break;
            }
        }
        for (i, inst) in self.m.iter().enumerate() {
            if inst.role != Role::Current || !inst.up {
                continue;
            }
            let ok = match inst.svc.state {
                // Waiting for what it needs or starts after (which
                // `check_deps` and the wake-up checks hold to account).
                State::Backoff | State::Stopped if self.m.hold(i) != Hold::No => true,
                State::Running => true,
                State::Backoff => {
                    inst.svc.deadline.is_some() && (!self.m.blocked(i) || self.stopping_blocks(i))
                }
                State::Exited => {
                    inst.policy.oneshot || !matches!(inst.policy.restart, Restart::Always)
                }
                State::Stopping => inst.svc.deadline.is_some(),
                State::Stopped => false,
            };
            if !ok {
                return Err(self.fail("a service wanted up does not run"));
            }
        }
        Ok(())
    }

    /// Whether an instance that instance `i` waits for (another of its
    /// name, or one that depends on it) has a process or a deadline.
    fn stopping_blocks(&self, i: usize) -> bool {
        let (key, name) = (self.m.get(i).key, self.name_of(i));
        self.m.iter().enumerate().any(|(j, o)| {
            let e = self.slots.as_slice()[j].entry;
            (o.key == key || (e.needs | e.after) >> name & 1 != 0)
                && j != i
                && o.svc.active()
                && (o.svc.deadline.is_some() || o.svc.pid.is_some())
        })
    }

    /// The invariants, after every step.
    fn check(&self) -> Result<(), Violation> {
        if self.m.len() != self.slots.len() {
            return Err(self.fail("model and slots differ"));
        }
        for (i, a) in self.m.iter().enumerate() {
            let live = |m: &Inst| m.svc.active();
            for (j, b) in self.m.iter().enumerate() {
                if i < j && self.name_of(i) == self.name_of(j) && live(a) && live(b) {
                    return Err(self.fail("two live instances of one name"));
                }
                if i < j && self.name_of(i) == self.name_of(j) && a.key != b.key {
                    return Err(self.fail("two keys for one name"));
                }
                if i < j && a.key == b.key && a.role == Role::Current && b.role == Role::Current {
                    return Err(self.fail("two current instances of one name"));
                }
                if i != j && a.key == b.key && self.name_of(i) != self.name_of(j) {
                    return Err(self.fail("one key for two names"));
                }
            }
            let s = &self.slots.as_slice()[i];
            if s.proc.is_some_and(|p| p.leader || p.member) && !a.svc.active() {
                return Err(self.fail("processes run that the model forgot"));
            }
            // Every instance that waits for time has a deadline the loop
            // sleeps until; one that waits for its name's other instance
            // is woken by that one's deadline or exit.
            let waits = matches!(a.svc.state, State::Stopping | State::Backoff);
            if waits && self.m.blocked(i) {
                // Held by what it needs or starts after: their readiness,
                // exit or request wakes it. Else another instance of its
                // name or what depends on it is stopping.
                let woken = self.m.hold(i) != Hold::No || self.stopping_blocks(i);
                if !woken {
                    return Err(self.fail("an instance waits for another that nothing wakes"));
                }
            } else if waits {
                match (a.svc.deadline, self.deadline) {
                    (Some(d), Some(next)) if next <= d => {}
                    (Some(_), _) => {
                        return Err(self.fail("a deadline is missing from the poll timeout"));
                    }
                    (None, _) => return Err(self.fail("an instance waits with no deadline")),
                }
            }
            if self.down[self.name_of(i) as usize]
                && a.role == Role::Current
                && a.svc.state == State::Running
                && a.up
            {
                return Err(self.fail("a service stopped by request is wanted up"));
            }
        }
        Ok(())
    }

    /// The instances, for a failure's report.
    #[cfg(test)]
    fn dump(&self) {
        extern crate std;
        std::eprintln!("at {:?}, next deadline {:?}:", self.now, self.deadline);
        for (i, m) in self.m.iter().enumerate() {
            let e = self.slots.as_slice()[i].entry;
            std::eprintln!(
                "  {i}: name {} key {} {:?} {:?} up {} fresh {} pid {:?} deadline {:?} blocked {} {:?} needs {:b}/{:x} after {:b}/{:x} hold {:?} ready {} oneshot {}",
                e.name,
                m.key,
                m.role,
                m.svc.state,
                m.up,
                m.fresh,
                m.svc.pid,
                m.svc.deadline,
                self.m.blocked(i),
                e.kind,
                e.needs,
                m.needs,
                e.after,
                m.after,
                self.m.hold(i),
                m.svc.ready,
                m.policy.oneshot,
            );
        }
    }

    pub fn steps(&self) -> u32 {
        self.step
    }
}

fn same(a: &Entry, b: &Entry) -> bool {
    a.kind == b.kind && a.policy == b.policy && a.variant == b.variant
}

fn entry(c: &mut dyn Choose, name: u8) -> Entry {
    let oneshot = c.pick(5) == 0;
    let kind = if oneshot {
        Kind::Quits
    } else {
        [Kind::Clean, Kind::Quits, Kind::Stubborn, Kind::Leaver][c.pick(4) as usize]
    };
    let restart = [Restart::Always, Restart::OnFailure, Restart::Never][c.pick(3) as usize];
    let min = [0, 100, 1000][c.pick(3) as usize];
    let ready = if c.pick(2) == 0 {
        ReadyBy::Exec
    } else {
        ReadyBy::Notify
    };
    // Names below this one, each with a chance: no cycle.
    let deps = |c: &mut dyn Choose| {
        (0..name)
            .filter(|_| c.pick(3) == 0)
            .fold(0u8, |m, n| m | 1 << n)
    };
    let needs = deps(c);
    let after = deps(c);
    Entry {
        name,
        kind,
        policy: Policy {
            restart,
            delay_min: Ms(min),
            delay_max: Ms(min.max(100) * 4),
            stop_timeout: Ms([300, 1000, 5000][c.pick(3) as usize]),
            ready,
            ready_timeout: Ms([0, 300, 2000][c.pick(3) as usize]),
            oneshot,
        },
        variant: c.pick(2) as u8,
        ready_in: [None, Some(10), Some(200), Some(1000)][c.pick(4) as usize],
        needs,
        after,
    }
}

/// A random configuration: each name in it or not; a name kept often
/// keeps its settings (unchanged).
fn config(c: &mut dyn Choose, w: &World) -> ArrayVec<Entry, NAMES> {
    let mut v = ArrayVec::new();
    for name in 0..NAMES as u8 {
        if c.pick(4) == 0 {
            continue;
        }
        let old = w.config.iter().find(|e| e.name == name).copied();
        let e = match old {
            Some(e) if c.pick(2) == 0 => e,
            _ => entry(c, name),
        };
        let _ = v.push(e);
    }
    // Only names of this file (the file's check refuses others).
    let present = v.iter().fold(0u8, |m, e| m | 1 << e.name);
    for e in v.as_mut_slice() {
        e.needs &= present;
        e.after &= present;
    }
    v
}

/// One random sequence of `len` events, checked after each, ending with a
/// shutdown that must finish in time.
pub fn run(c: &mut dyn Choose, len: u32) -> Result<World, Violation> {
    let mut w = World::new();
    let first = config(c, &w);
    w.reload(first.as_slice())?;
    for _ in 0..len {
        w.step += 1;
        match c.pick(10) {
            0 | 1 => {
                let cfg = config(c, &w);
                w.reload(cfg.as_slice())?;
            }
            2..=4 => {
                let what = c.pick(3);
                let name = c.pick(NAMES as u32) as u8;
                w.request(what, name)?;
            }
            5 if c.pick(8) == 0 => {
                w.step += 1;
                w.settle_all()?;
            }
            _ => {
                w.advance()?;
            }
        }
    }
    w.step += 1;
    w.shutdown()?;
    w.finish()?;
    Ok(w)
}
