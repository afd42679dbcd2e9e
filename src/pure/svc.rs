//! The supervision policy of one service instance, as a pure state machine.
//!
//! It never reads a clock or makes a syscall: the caller passes `now` and
//! whether COMMAND's process group still has members, and carries out the
//! returned [`Do`]. Whether the instance should run at all (requests,
//! reloads, shutdown) is decided above it, in `pure::model`; this machine
//! knows one run after another of one COMMAND.

use crate::pure::args::Restart;
use crate::pure::time::{Instant, Ms};

/// How a process ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Exited(u8),
    Signaled(u8),
}

impl Status {
    /// The shell's view: the exit code, or 128+N for signal N.
    pub fn code(self) -> u8 {
        match self {
            Status::Exited(c) => c,
            Status::Signaled(s) => 128u8.saturating_add(s),
        }
    }
    pub fn failed(self) -> bool {
        self != Status::Exited(0)
    }
}

/// Where a service is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// COMMAND runs.
    Running,
    /// Waiting to start: the restart delay, or (deadline passed) for
    /// whatever the model still waits for.
    Backoff,
    /// SIGTERM sent (by request, or to leftovers of an exited COMMAND);
    /// SIGKILL follows at the deadline.
    Stopping,
    /// Stopped on request; not restarted until started again.
    Stopped,
    /// Ended by itself and the policy says no restart.
    Exited,
}

/// The settings that drive the machine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Policy {
    pub restart: Restart,
    pub delay_min: Ms,
    pub delay_max: Ms,
    pub stop_timeout: Ms,
    /// How it says it is ready (`ready =`).
    pub ready: ReadyBy,
    /// Not ready this long after its start: a failed start (0: no limit).
    pub ready_timeout: Ms,
    /// `type = oneshot`: runs to completion; an exit 0 is `done`.
    pub oneshot: bool,
}

/// Why a start failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fail {
    /// Not ready within `ready-timeout`.
    Timeout,
    /// Ended before it was ready (a oneshot: ended with a failure).
    Exit(Status),
}

/// How a service says it is ready (`ready =`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReadyBy {
    /// Once exec'd.
    Exec,
    /// `READY=1` on `NOTIFY_SOCKET` (sd_notify).
    Notify,
    /// A newline on this descriptor (s6's notification fd).
    Fd(u8),
}

/// What the loop must do now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Do {
    Nothing,
    /// Start COMMAND, then call [`Svc::spawned`] or [`Svc::spawn_failed`].
    Spawn,
    /// SIGTERM and SIGCONT to the process group.
    Term,
    /// Not ready within `ready-timeout`: a failed start, stopped like
    /// `Term` (and restarted by the policy).
    Timeout,
    /// SIGKILL to the process group.
    Kill,
    /// Gave up on leftovers that survived SIGKILL (should not happen): the
    /// process is forgotten, its end is reaped as an orphan's.
    GiveUp,
    /// The run is over (stopped, or not restarted).
    Done,
}

/// After SIGKILL, how often to look whether the group is gone.
const RECHECK: Ms = Ms(20);
pub use crate::util::limits::DELAY_FLOOR;

#[derive(Clone, Copy, Debug)]
pub struct Svc {
    pub state: State,
    /// COMMAND's pid until it is reaped.
    pub pid: Option<i32>,
    /// COMMAND's process group (its pid), 0 before the first start.
    pub pgid: i32,
    /// When COMMAND was started.
    pub started: Instant,
    /// The next restart delay.
    pub delay: Ms,
    /// When the next timed step is due (`None`: nothing is).
    pub deadline: Option<Instant>,
    /// Starts after the first.
    pub restarts: u32,
    pub last: Option<Status>,
    /// Whether the run should go on after a stop of leftovers (false once
    /// stopped on purpose).
    pub want_up: bool,
    /// This run said it is ready (at exec, by notify or its fd; a oneshot:
    /// it exited 0). See [`Svc::is_ready`].
    pub ready: bool,
    /// It was ready once since it was made (the launcher's question).
    pub was_ready: bool,
    /// Why the last start failed (not ready in time, or ended before it
    /// was ready); `None` once it is ready.
    pub failed: Option<Fail>,
    /// Failed starts so far (a request waits for no new one).
    pub fails: u32,
    /// How long the last run lasted, for the delay.
    ran: Ms,
    /// SIGKILL already sent in this stop.
    killed: bool,
    /// When to stop waiting for the group after SIGKILL.
    give_up: Instant,
    spawned_once: bool,
}

impl Svc {
    /// A service not started yet: due at once.
    pub fn new(p: &Policy) -> Svc {
        Svc {
            state: State::Backoff,
            pid: None,
            pgid: 0,
            started: Instant::ZERO,
            delay: p.delay_min,
            deadline: Some(Instant::ZERO),
            restarts: 0,
            last: None,
            want_up: true,
            ready: false,
            was_ready: false,
            failed: None,
            fails: 0,
            ran: Ms::ZERO,
            killed: false,
            give_up: Instant::ZERO,
            spawned_once: false,
        }
    }

    /// Whether any process of it may exist (the leader, or a group being
    /// stopped).
    pub fn active(&self) -> bool {
        self.pid.is_some() || self.state == State::Stopping
    }

    /// COMMAND was started as `pid` (its own process group): ready now
    /// with `ready = exec`, else once it says so, within the timeout.
    pub fn spawned(&mut self, pid: i32, now: Instant, p: &Policy) {
        if self.spawned_once {
            self.restarts = self.restarts.saturating_add(1);
        }
        self.spawned_once = true;
        self.state = State::Running;
        self.pid = Some(pid);
        self.pgid = pid;
        self.started = now;
        self.deadline = None;
        self.killed = false;
        self.ready = false;
        if p.ready == ReadyBy::Exec && !p.oneshot {
            self.set_ready();
        } else if p.ready_timeout > Ms::ZERO {
            self.deadline = Some(now + p.ready_timeout);
        }
    }

    /// It said it is ready (notify, its fd); `false` if that changes
    /// nothing (not running, or ready already).
    pub fn became_ready(&mut self, p: &Policy) -> bool {
        if self.state != State::Running || self.ready || p.oneshot {
            return false;
        }
        self.set_ready();
        true
    }

    fn set_ready(&mut self) {
        self.ready = true;
        self.was_ready = true;
        self.failed = None;
        self.deadline = None;
    }

    /// Whether what depends on it may run: it runs and said it is ready,
    /// or it is a oneshot that exited 0.
    pub fn is_ready(&self) -> bool {
        self.ready && matches!(self.state, State::Running | State::Exited)
    }

    fn start_failed(&mut self, why: Fail) {
        self.failed = Some(why);
        self.fails = self.fails.saturating_add(1);
    }

    /// fork failed (out of processes or memory): try again after the delay.
    pub fn spawn_failed(&mut self, now: Instant, p: &Policy) {
        self.ran = Ms::ZERO;
        self.backoff(now, p);
    }

    /// COMMAND was reaped with `status`; `group_alive` tells whether other
    /// members of its process group remain.
    pub fn exited(&mut self, status: Status, now: Instant, group_alive: bool, p: &Policy) -> Do {
        self.pid = None;
        self.last = Some(status);
        match self.state {
            State::Stopping if group_alive => Do::Nothing,
            State::Stopping => self.finish(now, p),
            _ => {
                self.ran = now.since(self.started);
                if p.oneshot && status == Status::Exited(0) {
                    self.set_ready(); // done
                } else if !self.ready || p.oneshot {
                    self.start_failed(Fail::Exit(status));
                    self.ready = false;
                } else {
                    self.ready = false;
                }
                if group_alive {
                    // Leftovers of a COMMAND that ended by itself: clean up
                    // before deciding about a restart.
                    self.begin_stop(now, p)
                } else {
                    self.after_exit(now, p)
                }
            }
        }
    }

    /// Stop for good: SIGTERM now, SIGKILL after the stop timeout.
    pub fn stop(&mut self, now: Instant, p: &Policy) -> Do {
        self.want_up = false;
        if self.state != State::Exited {
            self.ready = false;
        }
        match self.state {
            State::Running => self.begin_stop(now, p),
            State::Stopping => Do::Nothing,
            State::Backoff | State::Stopped | State::Exited => {
                self.state = State::Stopped;
                self.deadline = None;
                Do::Done
            }
        }
    }

    /// Start again (after a stop, or an end not restarted): due at once,
    /// with the delay reset. The start itself comes from [`Svc::tick`].
    pub fn start(&mut self, now: Instant, p: &Policy) {
        self.want_up = true;
        if let State::Stopped | State::Exited = self.state {
            // A new first try: what failed before is history.
            self.ready = false;
            self.failed = None;
            self.delay = p.delay_min;
            self.state = State::Backoff;
            self.deadline = Some(now);
        }
    }

    /// The deadline may have passed; `group_alive` as in [`Svc::exited`].
    pub fn tick(&mut self, now: Instant, group_alive: bool, p: &Policy) -> Do {
        if self.state == State::Stopping && self.pid.is_none() && !group_alive {
            return self.finish(now, p);
        }
        match self.deadline {
            Some(d) if d <= now => {}
            _ => return Do::Nothing,
        }
        match self.state {
            State::Backoff => {
                self.deadline = None;
                Do::Spawn
            }
            State::Running if !self.ready => {
                self.start_failed(Fail::Timeout);
                self.begin_stop(now, p);
                Do::Timeout
            }
            State::Stopping if !self.killed => {
                self.killed = true;
                self.give_up = now + p.stop_timeout.max(Ms(1000));
                self.deadline = Some(now + RECHECK);
                Do::Kill
            }
            State::Stopping if now >= self.give_up => {
                // Forget the process too: a shutdown must not wait for it
                // forever (if it ever ends, it is reaped as an orphan).
                self.pid = None;
                self.deadline = None;
                let d = self.finish(now, p);
                if d == Do::Done { Do::GiveUp } else { d }
            }
            State::Stopping => {
                self.deadline = Some(now + RECHECK);
                Do::Nothing
            }
            _ => {
                self.deadline = None;
                Do::Nothing
            }
        }
    }

    fn begin_stop(&mut self, now: Instant, p: &Policy) -> Do {
        self.state = State::Stopping;
        self.killed = false;
        self.deadline = Some(now + p.stop_timeout);
        Do::Term
    }

    /// The process group is gone after a stop.
    fn finish(&mut self, now: Instant, p: &Policy) -> Do {
        self.deadline = None;
        if self.want_up {
            self.after_exit(now, p)
        } else {
            self.state = State::Stopped;
            Do::Done
        }
    }

    /// COMMAND ended by itself and nothing of it is left: restart or not.
    fn after_exit(&mut self, now: Instant, p: &Policy) -> Do {
        let again = match p.restart {
            _ if p.oneshot && self.last == Some(Status::Exited(0)) => false,
            Restart::Always => true,
            Restart::OnFailure => self.last.is_some_and(Status::failed),
            Restart::Never => false,
        };
        if again {
            self.backoff(now, p);
            Do::Nothing
        } else {
            self.state = State::Exited;
            self.deadline = None;
            Do::Done
        }
    }

    /// Waits `delay`, then doubles it for next time; a run of at least MAX
    /// first resets it to MIN.
    fn backoff(&mut self, now: Instant, p: &Policy) {
        if self.ran >= p.delay_max {
            self.delay = p.delay_min;
        }
        let wait = self.delay;
        self.delay = self.delay.double().max(Ms(DELAY_FLOOR)).min(p.delay_max);
        self.state = State::Backoff;
        self.deadline = Some(now + wait);
    }

    /// The delay before the pending restart, for the log.
    pub fn wait(&self, now: Instant) -> Ms {
        self.deadline.map_or(Ms::ZERO, |d| now.until(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(restart: Restart, min: u64, max: u64) -> Policy {
        Policy {
            restart,
            delay_min: Ms(min),
            delay_max: Ms(max),
            stop_timeout: Ms(5000),
            ready: ReadyBy::Exec,
            ready_timeout: Ms(60_000),
            oneshot: false,
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Runs COMMAND for `run` ms, lets it exit with `status`, and returns
    /// the restart delay chosen (None: not restarted).
    fn cycle(s: &mut Svc, p: &Policy, now: &mut u64, run: u64, status: Status) -> Option<u64> {
        assert_eq!(s.tick(at(*now), false, p), Do::Spawn);
        s.spawned(42, at(*now), p);
        *now += run;
        match s.exited(status, at(*now), false, p) {
            Do::Nothing => {
                assert_eq!(s.state, State::Backoff);
                let wait = s.wait(at(*now)).0;
                if wait > 0 {
                    assert_eq!(s.tick(at(*now + wait - 1), false, p), Do::Nothing);
                }
                *now += wait;
                Some(wait)
            }
            Do::Done => None,
            d => panic!("unexpected {d:?}"),
        }
    }

    #[test]
    fn delay_doubles_up_to_max_and_resets_after_a_long_run() {
        let p = policy(Restart::Always, 1000, 8000);
        let mut s = Svc::new(&p);
        let mut now = 0;
        let quick = Status::Exited(1);
        let waits: Vec<_> = (0..6)
            .map(|_| cycle(&mut s, &p, &mut now, 10, quick).unwrap())
            .collect();
        assert_eq!(waits, [1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(cycle(&mut s, &p, &mut now, 8000, quick), Some(1000));
        assert_eq!(cycle(&mut s, &p, &mut now, 7999, quick), Some(2000));
        assert_eq!(s.restarts, 7);
    }

    #[test]
    fn zero_minimum_never_spins() {
        let p = policy(Restart::Always, 0, 400);
        let mut s = Svc::new(&p);
        let mut now = 0;
        let waits: Vec<_> = (0..5)
            .map(|_| cycle(&mut s, &p, &mut now, 1, Status::Exited(0)).unwrap())
            .collect();
        assert_eq!(waits, [0, 100, 200, 400, 400]);
    }

    #[test]
    fn zero_minimum_alone_never_spins() {
        // `--restart-delay 0`: at once, then every 0.1 s (issue 8, defect 8).
        let (min, max) = crate::util::num::millis_range(b"0").unwrap();
        let p = policy(Restart::Always, min, max);
        let mut s = Svc::new(&p);
        let mut now = 0;
        let waits: Vec<_> = (0..4)
            .map(|_| cycle(&mut s, &p, &mut now, 1, Status::Exited(1)).unwrap())
            .collect();
        assert_eq!(waits, [0, 100, 100, 100]);
    }

    #[test]
    fn restart_policies() {
        for (restart, status, again) in [
            (Restart::Always, Status::Exited(0), true),
            (Restart::Always, Status::Signaled(9), true),
            (Restart::OnFailure, Status::Exited(0), false),
            (Restart::OnFailure, Status::Exited(3), true),
            (Restart::OnFailure, Status::Signaled(15), true),
            (Restart::Never, Status::Exited(3), false),
            (Restart::Never, Status::Exited(0), false),
        ] {
            let p = policy(restart, 100, 1000);
            let mut s = Svc::new(&p);
            let mut now = 5;
            let r = cycle(&mut s, &p, &mut now, 10, status);
            assert_eq!(r.is_some(), again, "{restart:?} {status:?}");
            if !again {
                assert_eq!(s.state, State::Exited);
                assert_eq!(s.last, Some(status));
            }
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Status::Exited(3).code(), 3);
        assert_eq!(Status::Signaled(9).code(), 137);
        assert!(!Status::Exited(0).failed());
        assert!(Status::Signaled(15).failed());
    }

    #[test]
    fn stop_terms_then_kills_at_the_timeout() {
        let p = policy(Restart::Always, 100, 1000);
        let mut s = Svc::new(&p);
        assert_eq!(s.tick(at(0), false, &p), Do::Spawn);
        s.spawned(7, at(0), &p);
        assert_eq!(s.deadline, None, "no timer while running");
        assert_eq!(s.stop(at(100), &p), Do::Term);
        assert_eq!(s.state, State::Stopping);
        assert_eq!(s.deadline, Some(at(5100)));
        assert_eq!(s.tick(at(5099), true, &p), Do::Nothing);
        assert_eq!(s.tick(at(5100), true, &p), Do::Kill);
        assert_eq!(s.exited(Status::Signaled(9), at(5101), false, &p), Do::Done);
        assert_eq!(s.state, State::Stopped);
        assert_eq!(s.deadline, None);
    }

    #[test]
    fn stop_waits_for_the_whole_group() {
        let p = policy(Restart::Always, 100, 1000);
        let mut s = Svc::new(&p);
        s.tick(at(0), false, &p);
        s.spawned(7, at(0), &p);
        s.stop(at(10), &p);
        // The leader goes, a grandchild stays: keep waiting.
        assert_eq!(
            s.exited(Status::Signaled(15), at(20), true, &p),
            Do::Nothing
        );
        assert_eq!(s.tick(at(30), true, &p), Do::Nothing);
        // It goes without a SIGCHLD to us: the next tick notices.
        assert_eq!(s.tick(at(40), false, &p), Do::Done);
    }

    #[test]
    fn gives_up_on_a_group_that_survives_sigkill() {
        let p = policy(Restart::Always, 100, 1000);
        let mut s = Svc::new(&p);
        s.tick(at(0), false, &p);
        s.spawned(7, at(0), &p);
        s.stop(at(0), &p);
        assert_eq!(s.exited(Status::Signaled(15), at(1), true, &p), Do::Nothing);
        assert_eq!(s.tick(at(5000), true, &p), Do::Kill);
        let mut now = at(5000);
        let mut last = Do::Nothing;
        while now < at(20_000) && last == Do::Nothing {
            now = s.deadline.expect("rechecks while waiting");
            last = s.tick(now, true, &p);
        }
        assert_eq!(last, Do::GiveUp);
        assert_eq!(s.pid, None, "forgotten: a shutdown cannot wait for it");
        assert!(
            now >= at(10_000),
            "waited the stop timeout after SIGKILL, gave up at {now:?}"
        );
    }

    #[test]
    fn leftovers_of_an_exited_command_are_stopped_before_the_restart() {
        let p = policy(Restart::Always, 100, 1000);
        let mut s = Svc::new(&p);
        s.tick(at(0), false, &p);
        s.spawned(7, at(0), &p);
        assert_eq!(s.exited(Status::Exited(0), at(50), true, &p), Do::Term);
        assert_eq!(s.state, State::Stopping);
        assert_eq!(s.tick(at(60), false, &p), Do::Nothing);
        assert_eq!(s.state, State::Backoff);
        assert_eq!(s.deadline, Some(at(160)));
    }

    #[test]
    fn stop_during_backoff_and_start_again() {
        let p = policy(Restart::Always, 100, 1000);
        let mut s = Svc::new(&p);
        s.tick(at(0), false, &p);
        s.spawned(7, at(0), &p);
        s.exited(Status::Exited(1), at(10), false, &p);
        assert_eq!(s.stop(at(20), &p), Do::Done);
        assert_eq!(s.state, State::Stopped);
        assert_eq!(
            s.tick(at(10_000), false, &p),
            Do::Nothing,
            "stopped stays stopped"
        );
        s.start(at(30), &p);
        assert_eq!(s.tick(at(30), false, &p), Do::Spawn);
        s.spawned(8, at(30), &p);
        assert_eq!(s.restarts, 1);
    }

    #[test]
    fn readiness_by_notify_within_the_timeout() {
        let p = Policy {
            ready: ReadyBy::Notify,
            ready_timeout: Ms(3000),
            ..policy(Restart::Always, 100, 1000)
        };
        let mut s = Svc::new(&p);
        s.tick(at(0), false, &p);
        s.spawned(7, at(0), &p);
        assert!(!s.is_ready());
        assert_eq!(s.deadline, Some(at(3000)), "the ready timeout");
        assert!(s.became_ready(&p));
        assert!(s.is_ready() && s.was_ready);
        assert_eq!(s.deadline, None, "ready: nothing timed");
        // An exit of a ready service is no failed start.
        s.exited(Status::Exited(1), at(10), false, &p);
        assert!(!s.is_ready());
        assert_eq!((s.failed, s.fails), (None, 0));
    }

    #[test]
    fn not_ready_in_time_or_an_exit_first_is_a_failed_start() {
        let p = Policy {
            ready: ReadyBy::Fd(3),
            ready_timeout: Ms(1000),
            ..policy(Restart::Always, 100, 1000)
        };
        let mut s = Svc::new(&p);
        s.tick(at(0), false, &p);
        s.spawned(7, at(0), &p);
        assert_eq!(s.tick(at(999), false, &p), Do::Nothing);
        assert_eq!(s.tick(at(1000), false, &p), Do::Timeout);
        assert_eq!(
            (s.failed, s.fails, s.state),
            (Some(Fail::Timeout), 1, State::Stopping)
        );
        assert!(!s.became_ready(&p), "too late: it is being stopped");
        assert_eq!(
            s.exited(Status::Signaled(15), at(1001), false, &p),
            Do::Nothing
        );
        assert_eq!(s.state, State::Backoff, "restarted by its policy");
        s.tick(at(1101), false, &p);
        s.spawned(8, at(1101), &p);
        s.exited(Status::Exited(2), at(1200), false, &p);
        assert_eq!(
            (s.failed, s.fails),
            (Some(Fail::Exit(Status::Exited(2))), 2)
        );
        assert!(!s.was_ready);
    }

    #[test]
    fn a_oneshot_is_done_at_exit_0_whatever_its_policy() {
        for restart in [Restart::Always, Restart::OnFailure, Restart::Never] {
            let p = Policy {
                oneshot: true,
                ..policy(restart, 100, 1000)
            };
            let mut s = Svc::new(&p);
            s.tick(at(0), false, &p);
            s.spawned(7, at(0), &p);
            assert!(
                !s.is_ready() && !s.became_ready(&p),
                "ready only at its exit"
            );
            assert_eq!(s.exited(Status::Exited(0), at(5), false, &p), Do::Done);
            assert_eq!(s.state, State::Exited);
            assert!(s.is_ready() && s.was_ready, "{restart:?}");
            // Started again by request: a new first try.
            s.start(at(10), &p);
            assert!(!s.is_ready());
            s.tick(at(10), false, &p);
            s.spawned(8, at(10), &p);
            let again = s.exited(Status::Exited(1), at(20), false, &p);
            assert_eq!(s.failed, Some(Fail::Exit(Status::Exited(1))));
            assert_eq!(
                again == Do::Nothing,
                restart != Restart::Never,
                "{restart:?}"
            );
        }
    }

    #[test]
    fn fork_failure_retries_after_the_delay() {
        let p = policy(Restart::Never, 500, 1000);
        let mut s = Svc::new(&p);
        assert_eq!(s.tick(at(0), false, &p), Do::Spawn);
        s.spawn_failed(at(0), &p);
        assert_eq!(s.state, State::Backoff);
        assert_eq!(s.tick(at(499), false, &p), Do::Nothing);
        assert_eq!(s.tick(at(500), false, &p), Do::Spawn);
    }
}
