//! What is wanted of every service and what runs, as one pure state
//! machine: the supervisor's decisions, all in one place.
//!
//! For each service name (a [`Key`]) there is at most one *current*
//! instance (the configuration in force) and at most one *replaced*
//! instance (the one a reload changed or removed, still stopping). Events
//! only change what is wanted: a reload replaces instances and adds new
//! ones ([`Model::retire`], [`Model::add`]), requests set whether the
//! current instance should be up and whether a fresh run is asked for
//! ([`Model::start`], [`Model::stop`], [`Model::restart`]), shutdown wants
//! everything down, exits and spawns are reported by the loop. Then one
//! [`Model::step`] compares what is wanted with what runs and returns the
//! actions and the next deadline. Nothing else decides: no flag is read
//! anywhere but here.
//!
//! The rules `step` enforces:
//! - an instance that is not wanted (replaced, stopped by request, or
//!   shutdown) is stopped; a replaced one that is over is dropped;
//! - a current instance never starts while another instance of its name has
//!   a process: it waits, and the other one's deadlines (stop timeout,
//!   SIGKILL rechecks) or its exit wake the loop, so it starts in the same
//!   turn the other is dropped;
//! - every instance that has something timed to do has it in the returned
//!   deadline;
//! - an instance starts only once the current instances of what it `needs`
//!   are ready (running and ready, or a oneshot done) and those it starts
//!   `after` are ready or have given up; one whose `needs` is no longer
//!   ready is stopped and waits, wanted up, until it is;
//! - an instance is stopped (or started anew) only once no current
//!   instance that depends on it has a process: dependants go first, and
//!   at shutdown `after` counts too, so everything stops in the reverse of
//!   the start order. Replaced instances hold nothing back, so no mix of
//!   old and new graphs can wait on itself.
//!
//! It never reads a clock and never makes a syscall; whether a process
//! group still has members is asked through the `alive` callback.

#[cfg(any(test, feature = "sim"))]
pub mod sim;

use crate::pure::svc::{Do, Policy, State, Status, Svc};
use crate::pure::time::{Instant, earliest};
use crate::util::store::ArrayVec;

/// Which service an instance belongs to: the same name, the same key.
pub type Key = u16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// The instance of the configuration in force (one per name).
    Current,
    /// Changed or removed by a reload: it stops, then it is dropped.
    Replaced,
}

/// One instance of a service.
#[derive(Clone, Copy, Debug)]
pub struct Inst {
    pub key: Key,
    pub role: Role,
    /// Wanted up by requests: false from `stop` until `start` or `restart`
    /// (a reload that changes the service keeps it).
    pub up: bool,
    /// A new run is asked for (`restart`, or `start` of a service that is
    /// not running): what runs stops first, then it starts.
    pub fresh: bool,
    pub svc: Svc,
    pub policy: Policy,
    /// What it waits for, as bits of keys: `needs` (started once they are
    /// ready, stopped when they are not) and `after` (started once they
    /// are ready or have given up).
    pub needs: Keys,
    pub after: Keys,
}

/// A set of keys (keys are below [`MAX_KEYS`]).
pub type Keys = u128;
/// Keys are below this: a table of N ≤ 128 instances has a free one.
pub const MAX_KEYS: usize = 128;

/// Whether instances can depend on each other: only services of a file
/// can (`needs`, `after`), so a build without files leaves the code out.
const DEPS: bool = cfg!(any(feature = "ctl", test, feature = "sim"));

fn bit(k: Key) -> Keys {
    1 << (k as usize % MAX_KEYS)
}

impl Inst {
    /// Whether it should run now (what it waits for aside).
    fn wanted(&self, shutdown: bool) -> bool {
        !shutdown && self.role == Role::Current && self.up
    }
}

/// Where an instance stands with what it waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hold {
    /// Free to run.
    No,
    /// A `needs` is not ready: it must not run.
    Needs,
    /// An `after` is still starting: it must not start yet.
    After,
}

/// What the launcher waits for (see [`Model::launch`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Launch {
    /// Something is still starting.
    Pending,
    /// Every service is ready or done.
    Ready,
    /// This instance failed to start, or waits for one that ended.
    Failed(usize),
}

/// What the loop must carry out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Act {
    /// What instance `i`'s state machine said.
    Do(usize, Do),
    /// Instance `i` is over: call [`Model::remove`] and free its slot.
    /// Drops come after every `Do` of the same step, highest index first,
    /// so that each index is still valid when it is carried out.
    Drop(usize),
}

/// A service of the file a reload reads, as it stands against the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Staged {
    /// The current instance of its name, and whether its settings are
    /// the same.
    pub current: Option<(usize, bool)>,
    /// Any instance of its name (one still stopping, when the name was
    /// removed by an earlier file and comes back).
    pub named: Option<usize>,
}

/// What a reload does (see [`Model::plan`]).
pub struct Plan<const N: usize> {
    /// Current instances that stop and go.
    pub retiring: ArrayVec<usize, N>,
    /// For each staged service, in file order: `None` if it is unchanged,
    /// else the key of its new instance (`None`: a new name, any free
    /// key) and whether it is wanted up.
    pub new: ArrayVec<Option<(Option<Key>, bool)>, N>,
    pub added: u32,
    pub removed: u32,
    pub changed: u32,
    pub unchanged: u32,
}

/// Why a reload cannot be applied (nothing was changed).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NoRoom {
    /// Instances of earlier configurations still stopping.
    pub stopping: usize,
}

// The small fields first: after the instances they would share a page with
// the last, unused ones (see sup::Memory).
#[repr(C)]
pub struct Model<const N: usize> {
    shutdown: bool,
    next_key: Key,
    insts: ArrayVec<Inst, N>,
}

impl<const N: usize> Default for Model<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Model<N> {
    pub const fn new() -> Self {
        Model {
            insts: ArrayVec::new(),
            shutdown: false,
            next_key: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.insts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insts.is_empty()
    }

    pub fn get(&self, i: usize) -> &Inst {
        &self.insts.as_slice()[i]
    }

    pub fn iter(&self) -> core::slice::Iter<'_, Inst> {
        self.insts.iter()
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown
    }

    /// The current instance of service `key`.
    pub fn current(&self, key: Key) -> Option<usize> {
        self.insts
            .iter()
            .position(|m| m.key == key && m.role == Role::Current)
    }

    /// A key no instance has, for a name not seen before: the lowest free
    /// one after the last given, so that keys stay below [`MAX_KEYS`] (there
    /// are fewer instances than that) and a key is not soon reused.
    pub fn new_key(&mut self) -> Key {
        loop {
            let k = self.next_key % MAX_KEYS as Key;
            self.next_key = (k + 1) % MAX_KEYS as Key;
            if self.insts.iter().all(|m| m.key != k) {
                return k;
            }
        }
    }

    /// Instance `i` waits for the keys `needs` and `after` (from now on:
    /// a reload sets them for every current instance).
    pub fn set_deps(&mut self, i: usize, needs: Keys, after: Keys) {
        let m = &mut self.insts.as_mut_slice()[i];
        (m.needs, m.after) = (needs, after);
    }

    /// Whether instance `i` is ready for what depends on it: wanted, no
    /// fresh run asked for, running and ready (or a oneshot done).
    pub fn ready(&self, i: usize) -> bool {
        let m = self.get(i);
        m.wanted(self.shutdown) && !m.fresh && m.svc.is_ready()
    }

    /// Whether the current instance of every key of `keys` is ready
    /// (`after`: or has given up, see [`Model::given_up`]).
    fn keys_ok(&self, keys: Keys, after: bool) -> bool {
        if !DEPS {
            return true;
        }
        self.insts.iter().enumerate().all(|(j, m)| {
            m.role != Role::Current
                || keys & bit(m.key) == 0
                || self.ready(j)
                || (after && self.given_up(j))
        })
    }

    /// Whether instance `i` will not be ready without a request: not
    /// wanted, ended without a restart, a start failed, or what it needs
    /// ended. (One held back for a while is not: it is still starting.)
    pub fn given_up(&self, i: usize) -> bool {
        let m = self.get(i);
        let waits_to_retry = m.svc.failed.is_some() && m.svc.state == State::Backoff;
        !m.wanted(self.shutdown)
            || (!m.fresh && (waits_to_retry || m.svc.state == State::Exited))
            || self.needs_ended(i).is_some()
    }

    /// What instance `i` waits for, if anything.
    pub fn hold(&self, i: usize) -> Hold {
        let m = self.get(i);
        if !self.keys_ok(m.needs, false) {
            Hold::Needs
        } else if !self.keys_ok(m.after, true) {
            Hold::After
        } else {
            Hold::No
        }
    }

    /// Whether a current instance that depends on instance `i` still has
    /// a process: `i` is stopped, and restarted, only after it. At
    /// shutdown `after` counts too (the reverse of the start order).
    fn dependant_active(&self, i: usize) -> bool {
        if !DEPS {
            return false;
        }
        let k = bit(self.get(i).key);
        self.insts.iter().any(|m| {
            let deps = if self.shutdown {
                m.needs | m.after
            } else {
                m.needs
            };
            m.role == Role::Current && deps & k != 0 && m.svc.active()
        })
    }

    /// The launcher's question at startup: is every current service that
    /// is wanted up ready (or was it, or done), or has one failed?
    pub fn launch(&self) -> Launch {
        let mut all = true;
        for (i, m) in self.insts.iter().enumerate() {
            if !m.wanted(self.shutdown) || m.svc.was_ready {
                continue;
            }
            if m.svc.failed.is_some() || self.needs_ended(i).is_some() {
                return Launch::Failed(i);
            }
            all = false;
        }
        if all { Launch::Ready } else { Launch::Pending }
    }

    /// A `needs` of instance `i` that ended for good (not wanted, or
    /// exited and not restarted): `i` cannot start until it is started
    /// again.
    pub fn needs_ended(&self, i: usize) -> Option<usize> {
        if !DEPS {
            return None;
        }
        let needs = self.get(i).needs;
        self.insts.iter().position(|m| {
            m.role == Role::Current
                && needs & bit(m.key) != 0
                && !m.svc.is_ready()
                && (!m.wanted(self.shutdown) || (m.svc.state == State::Exited && !m.fresh))
        })
    }

    /// A new current instance of `key`, wanted up unless `up` is false (its
    /// name was stopped by request). It starts at the next step, once no
    /// other instance of its name runs. `Err` when the table is full.
    #[allow(clippy::result_unit_err)]
    pub fn add(&mut self, key: Key, policy: Policy, up: bool) -> Result<usize, ()> {
        let m = Inst {
            key,
            role: Role::Current,
            up,
            fresh: false,
            svc: Svc::new(&policy),
            policy,
            needs: 0,
            after: 0,
        };
        self.insts.push(m).map_err(|_| ())?;
        Ok(self.insts.len() - 1)
    }

    /// A reload changed or removed instance `i`: it stops and goes.
    pub fn retire(&mut self, i: usize) {
        let m = &mut self.insts.as_mut_slice()[i];
        m.role = Role::Replaced;
        m.fresh = false;
    }

    /// What a reload to the `staged` services does, decided whole before
    /// anything changes: which current instances are retired (changed, or
    /// not in the file), and for each staged service the key and `up` of
    /// its new instance. A changed service keeps its key and whether it was
    /// stopped by request; a name still stopping from an earlier file keeps
    /// its key, so that the new instance waits for the old. `Err` when the
    /// new instances do not fit, even once the retired instances without a
    /// process are dropped ([`Model::sweep`]).
    pub fn plan(&self, staged: &[Staged]) -> Result<Plan<N>, NoRoom> {
        let mut p = Plan {
            retiring: ArrayVec::new(),
            new: ArrayVec::new(),
            added: 0,
            removed: 0,
            changed: 0,
            unchanged: 0,
        };
        for st in staged {
            let new = match st.current {
                Some((_, true)) => {
                    p.unchanged += 1;
                    None
                }
                Some((i, false)) => {
                    p.changed += 1;
                    let _ = p.retiring.push(i);
                    Some((Some(self.get(i).key), self.get(i).up))
                }
                None => {
                    p.added += 1;
                    Some((st.named.map(|j| self.get(j).key), true))
                }
            };
            let _ = p.new.push(new);
        }
        for (i, m) in self.insts.iter().enumerate() {
            if m.role == Role::Current
                && staged
                    .iter()
                    .all(|st| st.current.is_none_or(|(j, _)| j != i))
            {
                p.removed += 1;
                let _ = p.retiring.push(i);
            }
        }
        let freed = p
            .retiring
            .iter()
            .filter(|&&i| !self.get(i).svc.active())
            .count();
        let adding = (p.added + p.changed) as usize;
        if N - self.insts.len() + freed >= adding {
            Ok(p)
        } else {
            let stopping = self
                .insts
                .iter()
                .filter(|m| m.role == Role::Replaced)
                .count();
            Err(NoRoom { stopping })
        }
    }

    /// The replaced instances that have no process left, as `Act::Drop`
    /// (highest index first).
    pub fn sweep(&self, out: &mut dyn FnMut(Act)) {
        for i in (0..self.insts.len()).rev() {
            let m = self.get(i);
            if m.role == Role::Replaced && !m.svc.active() {
                out(Act::Drop(i));
            }
        }
    }

    /// Carries out `Act::Drop(i)`: the last instance takes index `i` (as
    /// the loop's own table must do).
    pub fn remove(&mut self, i: usize) {
        debug_assert!(self.get(i).role == Role::Replaced && !self.get(i).svc.active());
        self.insts.swap_remove(i);
    }

    /// `start NAME`: wanted up; a service that is not running or waiting to
    /// restart starts afresh (after what is left of it has stopped).
    /// What it needs (and what that needs) is started too, unless it is
    /// ready.
    pub fn start(&mut self, i: usize) {
        let mut keys = bit(self.get(i).key);
        // The graph has no cycle: a round per level at most.
        if DEPS {
            for _ in 0..N {
                let more = self
                    .insts
                    .iter()
                    .filter(|m| m.role == Role::Current && keys & bit(m.key) != 0)
                    .fold(keys, |k, m| k | m.needs);
                if more == keys {
                    break;
                }
                keys = more;
            }
        }
        for j in 0..self.insts.len() {
            let m = self.get(j);
            let wanted = m.role == Role::Current && keys & bit(m.key) != 0;
            if !wanted || (j != i && self.ready(j)) {
                continue;
            }
            let m = &mut self.insts.as_mut_slice()[j];
            m.up = true;
            if !matches!(m.svc.state, State::Running | State::Backoff) {
                m.fresh = true;
            }
        }
    }

    /// `stop NAME`: wanted down until started again, across reloads.
    pub fn stop(&mut self, i: usize) {
        let m = &mut self.insts.as_mut_slice()[i];
        m.up = false;
        m.fresh = false;
    }

    /// `restart NAME`: wanted up, and a fresh run: what runs stops first.
    pub fn restart(&mut self, i: usize) {
        let m = &mut self.insts.as_mut_slice()[i];
        m.up = true;
        m.fresh = true;
    }

    /// SIGTERM, SIGINT or `shutdown`: everything down, for good.
    pub fn shutdown(&mut self) {
        self.shutdown = true;
    }

    /// Whether nothing of any instance is left (after `shutdown`: exit).
    pub fn all_down(&self) -> bool {
        self.insts.iter().all(|m| !m.svc.active())
    }

    /// Instance `i` was started as `pid`.
    pub fn spawned(&mut self, i: usize, pid: i32, now: Instant) {
        let m = &mut self.insts.as_mut_slice()[i];
        m.svc.spawned(pid, now, &m.policy);
    }

    /// Instance `i` said it is ready; `false` if that changes nothing.
    pub fn became_ready(&mut self, i: usize) -> bool {
        let m = &mut self.insts.as_mut_slice()[i];
        m.svc.became_ready(&m.policy)
    }

    /// Starting instance `i` failed before a process existed (fork).
    pub fn spawn_failed(&mut self, i: usize, now: Instant) {
        let m = &mut self.insts.as_mut_slice()[i];
        m.svc.spawn_failed(now, &m.policy);
    }

    /// The instance whose process `pid` is, if any.
    pub fn find_pid(&self, pid: i32) -> Option<usize> {
        self.insts.iter().position(|m| m.svc.pid == Some(pid))
    }

    /// Instance `i`'s process was reaped with `status`; `group_alive` says
    /// whether its process group has members left.
    pub fn exited(&mut self, i: usize, status: Status, now: Instant, group_alive: bool) -> Do {
        let m = &mut self.insts.as_mut_slice()[i];
        m.svc.exited(status, now, group_alive, &m.policy)
    }

    /// Compares what is wanted with what runs, for every instance: the
    /// actions go to `out` (every `Do` first, then the drops), and the
    /// next deadline comes back (`None`: nothing is timed, sleep until an
    /// event), as it will be once the drops are carried out.
    /// `alive(pgid)` tells whether a process group has members.
    // Indexes, not iterators: each instance's decision reads the others.
    #[allow(clippy::needless_range_loop)]
    pub fn step(
        &mut self,
        now: Instant,
        alive: &dyn Fn(i32) -> bool,
        out: &mut dyn FnMut(Act),
    ) -> Option<Instant> {
        let n = self.insts.len();
        let shutdown = self.shutdown;
        let mut gone = [false; N];
        // Stops that are over first (silently, when the run goes on): what
        // is decided next must know which processes are left.
        for i in 0..n {
            let m = &mut self.insts.as_mut_slice()[i];
            if m.svc.state == State::Stopping {
                tick(m, i, now, alive, out);
            }
        }
        // What must not run (not wanted, or a `needs` is not ready): stop
        // it once what depends on it has no process left; what was
        // replaced and is over goes.
        for i in 0..n {
            let m = self.get(i);
            let running = m.svc.state == State::Running;
            if m.wanted(shutdown) && !(running && self.hold(i) == Hold::Needs) {
                continue;
            }
            let wait = running && self.dependant_active(i);
            let m = &mut self.insts.as_mut_slice()[i];
            // (A stop of leftovers becomes a stop for good.)
            if !wait && !matches!(m.svc.state, State::Stopped | State::Exited) {
                emit(out, i, m.svc.stop(now, &m.policy));
            }
            tick(m, i, now, alive, out);
            gone[i] = m.role == Role::Replaced && !m.svc.active();
        }
        // What should run: fresh runs asked for, starts after a stop, and
        // whatever is due, unless another instance of the name still runs,
        // what it waits for is not there yet, or (for a new run) what
        // depends on it still has a process.
        for i in 0..n {
            let (key, wanted, running) = {
                let m = self.get(i);
                (
                    m.key,
                    m.wanted(shutdown),
                    m.svc.state == State::Running && !m.fresh,
                )
            };
            if !wanted {
                continue;
            }
            let held = self.hold(i) != Hold::No;
            let dependants = self.dependant_active(i);
            // (A service that runs and stays running waits for nothing.)
            let blocked = held
                || (!running
                    && (dependants
                        || (0..n).any(|j| j != i && !gone[j] && self.get(j).key == key)));
            let m = &mut self.insts.as_mut_slice()[i];
            // A stop that is over first: what follows may start it again.
            if m.svc.state == State::Stopping {
                tick(m, i, now, alive, out);
            }
            let fresh_stop = match m.svc.state {
                State::Running => !dependants,
                State::Backoff => true,
                _ => false,
            };
            if m.fresh && fresh_stop {
                emit(out, i, m.svc.stop(now, &m.policy));
            }
            if matches!(m.svc.state, State::Stopped) || (m.fresh && m.svc.state == State::Exited) {
                m.fresh = false;
                m.svc.start(now, &m.policy);
            }
            if blocked && m.svc.state == State::Backoff {
                continue; // what it waits for wakes us (an exit, a deadline, readiness)
            }
            tick(m, i, now, alive, out);
        }
        for i in (0..n).rev() {
            if gone[i] {
                out(Act::Drop(i));
            }
        }
        (0..n)
            .filter(|&i| !gone[i] && !self.blocked(i))
            .fold(None, |d, i| earliest(d, self.get(i).svc.deadline))
    }

    /// Whether instance `i` waits to start: for another instance of its
    /// name, for what it needs or starts after, or for what depends on it
    /// to stop.
    pub fn blocked(&self, i: usize) -> bool {
        let m = self.get(i);
        m.svc.state == State::Backoff
            && (self.hold(i) != Hold::No
                || self.dependant_active(i)
                || self
                    .insts
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != i && o.key == m.key && o.svc.active()))
    }

    /// The earliest deadline of an instance that can act on it (`None`:
    /// nothing is timed). Instances dropped by the last step are to be
    /// removed first.
    pub fn deadline(&self) -> Option<Instant> {
        (0..self.insts.len())
            .filter(|&i| !self.blocked(i))
            .fold(None, |d, i| earliest(d, self.get(i).svc.deadline))
    }
}

fn emit(out: &mut dyn FnMut(Act), i: usize, d: Do) {
    if d != Do::Nothing {
        out(Act::Do(i, d));
    }
}

/// The timed step of `m`, when it is due (or its stopped group may be gone).
fn tick(
    m: &mut Inst,
    i: usize,
    now: Instant,
    alive: &dyn Fn(i32) -> bool,
    out: &mut dyn FnMut(Act),
) {
    let due = m.svc.deadline.is_some_and(|d| d <= now);
    let check = m.svc.state == State::Stopping && m.svc.pid.is_none();
    if due || check {
        let group = m.svc.state == State::Stopping && alive(m.svc.pgid);
        emit(out, i, m.svc.tick(now, group, &m.policy));
    }
}

#[cfg(test)]
mod tests;
