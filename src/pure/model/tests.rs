//! The model, by hand (the defects of issue 8 that lived here) and by
//! seeded random sequences in the simulated world (`sim.rs`).

extern crate std;
use std::vec::Vec;

use super::sim::{self, Rng};
use super::*;
use crate::pure::args::Restart;
use crate::pure::time::Ms;

fn policy(stop: u64) -> Policy {
    Policy {
        restart: Restart::Always,
        delay_min: Ms(100),
        delay_max: Ms(1000),
        stop_timeout: Ms(stop),
        ready: crate::pure::svc::ReadyBy::Exec,
        ready_timeout: Ms(0),
        oneshot: false,
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// One step with every group gone unless listed alive, carried out as
/// the loop does: spawns get pid 100 + key, drops are removed. The
/// actions as the step gave them, and the deadline.
fn step(m: &mut Model<8>, now: u64, alive: &[i32]) -> (Vec<Act>, Option<Instant>) {
    let mut acts = Vec::new();
    let d = m.step(at(now), &|g| alive.contains(&g), &mut |a| acts.push(a));
    for a in &acts {
        match *a {
            Act::Do(i, Do::Spawn) => {
                let pid = 100 + m.get(i).key as i32;
                m.spawned(i, pid, at(now));
            }
            Act::Drop(i) => m.remove(i),
            _ => {}
        }
    }
    // (A start sets a ready timeout; the loop steps again after one.)
    if !acts.iter().any(|a| matches!(a, Act::Do(_, Do::Spawn))) {
        assert_eq!(m.deadline(), d, "the step's deadline is the model's");
    }
    (acts, d)
}

#[test]
fn replacement_starts_in_the_turn_the_old_instance_goes() {
    // Defect 1: a reload removes `x` and changes `a`, whose old instance
    // takes a moment to stop. The new `a` must start as soon as the old one
    // is gone, and never sleep without a deadline meanwhile.
    let mut m: Model<8> = Model::new();
    let x = m.add(0, policy(1000), true).unwrap();
    let a = m.add(1, policy(1000), true).unwrap();
    step(&mut m, 0, &[]);
    // Reload: x removed, a changed.
    m.retire(x);
    m.retire(a);
    let new_a = m.add(1, policy(1000), true).unwrap();
    let (acts, d) = step(&mut m, 10, &[100, 101]);
    assert!(acts.contains(&Act::Do(x, Do::Term)) && acts.contains(&Act::Do(a, Do::Term)));
    assert!(
        !acts.contains(&Act::Do(new_a, Do::Spawn)),
        "not beside the old one"
    );
    assert_eq!(d, Some(at(1010)), "the stop timeout wakes the loop");
    // x goes first (index 0), then a: both exits, then one step.
    assert_eq!(m.exited(0, Status::Signaled(15), at(20), false), Do::Done);
    assert_eq!(m.exited(1, Status::Signaled(15), at(20), false), Do::Done);
    let (acts, _) = step(&mut m, 20, &[]);
    // Drops come last, highest index first; the new `a` spawned before.
    assert_eq!(acts, [Act::Do(2, Do::Spawn), Act::Drop(1), Act::Drop(0)]);
    assert_eq!(m.len(), 1);
    assert_eq!(m.get(0).key, 1);
}

#[test]
fn restart_while_the_old_instance_stops_waits_for_it() {
    // Defect 2: `restart a` (or stop, start) while a reload's replacement
    // waits must not start it beside the old instance; shutdown then ends.
    let mut m: Model<8> = Model::new();
    let a = m.add(1, policy(1000), true).unwrap();
    step(&mut m, 0, &[]);
    m.retire(a);
    let b = m.add(1, policy(1000), true).unwrap();
    step(&mut m, 1, &[101]);
    for req in 0..3 {
        match req {
            0 => m.restart(b),
            1 => m.stop(b),
            _ => m.start(b),
        }
        let (acts, d) = step(&mut m, 2, &[101]);
        assert!(
            !acts.iter().any(|a| matches!(a, Act::Do(_, Do::Spawn))),
            "request {req}: {acts:?}"
        );
        assert!(d.is_some());
    }
    // Another changing reload, then shutdown: it ends at the stop timeout.
    m.retire(b);
    m.add(1, policy(1000), true).unwrap();
    m.shutdown();
    let (acts, _) = step(&mut m, 3, &[101]);
    assert!(
        acts.contains(&Act::Drop(1)),
        "the never-started one goes: {acts:?}"
    );
    let (acts, _) = step(&mut m, 1001, &[101]);
    assert!(acts.contains(&Act::Do(0, Do::Kill)), "{acts:?}");
    assert_eq!(m.exited(0, Status::Signaled(9), at(1002), false), Do::Done);
    step(&mut m, 1002, &[]);
    assert!(m.all_down());
}

#[test]
fn stopped_by_request_stays_down_when_a_reload_changes_it() {
    // Defect 5: the loop adds the changed service with `up` of the old.
    let mut m: Model<8> = Model::new();
    let a = m.add(1, policy(1000), true).unwrap();
    step(&mut m, 0, &[]);
    m.stop(a);
    step(&mut m, 1, &[101]);
    m.exited(a, Status::Signaled(15), at(2), false);
    step(&mut m, 2, &[]);
    let up = m.get(a).up;
    m.retire(a);
    let b = m.add(1, policy(2000), up).unwrap();
    let (acts, d) = step(&mut m, 3, &[]);
    assert!(
        !acts.iter().any(|a| matches!(a, Act::Do(_, Do::Spawn))),
        "{acts:?}"
    );
    assert_eq!(d, None, "nothing timed: no wake-ups");
    m.start(m.current(1).unwrap());
    let (acts, _) = step(&mut m, 4, &[]);
    assert_eq!(acts, [Act::Do(0, Do::Spawn)]);
    let _ = b;
}

#[test]
fn two_changing_reloads_of_every_service_fit() {
    // Defect 3: 64 services (here 4 in 8 slots), all changed twice while
    // the old instances are still stopping: the second reload's
    // never-started instances make room for the third.
    let mut m: Model<8> = Model::new();
    for k in 0..4 {
        m.add(k, policy(5000), true).unwrap();
    }
    step(&mut m, 0, &[]);
    for round in 0..3 {
        let cur: Vec<usize> = (0..m.len())
            .filter(|&i| m.get(i).role == Role::Current)
            .collect();
        let staged: Vec<Staged> = cur
            .iter()
            .map(|&i| Staged {
                current: Some((i, false)),
                named: Some(i),
            })
            .collect();
        let p = m
            .plan(&staged)
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        assert_eq!((p.changed, p.retiring.len()), (4, 4));
        for &i in p.retiring.iter() {
            m.retire(i);
        }
        let mut drops = Vec::new();
        m.sweep(&mut |a| drops.push(a));
        for a in drops {
            if let Act::Drop(i) = a {
                m.remove(i);
            }
        }
        for k in 0..4 {
            m.add(k, policy(5000), true).unwrap();
        }
        step(&mut m, 10 + round, &[100, 101, 102, 103]);
        assert_eq!(m.len(), 8);
    }
}

#[test]
fn restart_of_a_running_service_stops_then_starts_it() {
    let mut m: Model<8> = Model::new();
    let a = m.add(1, policy(1000), true).unwrap();
    step(&mut m, 0, &[]);
    m.restart(a);
    let (acts, _) = step(&mut m, 10, &[101]);
    assert_eq!(acts, [Act::Do(a, Do::Term)]);
    assert_eq!(m.exited(a, Status::Signaled(15), at(20), false), Do::Done);
    let (acts, _) = step(&mut m, 20, &[]);
    assert_eq!(acts, [Act::Do(a, Do::Spawn)]);
    assert_eq!(m.get(a).svc.delay, Ms(100), "the delay starts over");
}

#[test]
fn idle_means_no_deadline() {
    let mut m: Model<8> = Model::new();
    let a = m.add(1, policy(1000), true).unwrap();
    step(&mut m, 0, &[]);
    let (acts, d) = step(&mut m, 5, &[]);
    assert!(acts.is_empty());
    assert_eq!(d, None);
    let _ = a;
}

/// Seeds from TINYD_MODEL_SEED (one seed, to replay a failure) or a
/// fixed spread; TINYD_MODEL_RUNS sets how many.
fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("TINYD_MODEL_SEED") {
        return std::vec![s.parse().expect("TINYD_MODEL_SEED is a number")];
    }
    let runs: u64 = std::env::var("TINYD_MODEL_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    (0..runs)
        .map(|k| base.wrapping_mul(6364136223846793005).wrapping_add(k) | 1)
        .collect()
}

#[test]
fn random_sequences_keep_every_invariant() {
    let mut steps = 0u64;
    for seed in seeds() {
        let mut rng = Rng(seed);
        match sim::run(&mut rng, 200) {
            Ok(w) => steps += w.steps() as u64,
            Err(v) => panic!(
                "seed {seed}: step {}: {} (replay: TINYD_MODEL_SEED={seed} cargo test --lib model)",
                v.step, v.what
            ),
        }
    }
    assert!(steps > 100_000, "only {steps} steps");
}

#[test]
fn a_reload_without_room_is_refused_before_anything_changes() {
    // 4 slots: two services running, both replaced and still stopping,
    // their replacements waiting; a file with two new names has no room
    // until the old ones are gone (the loop then refuses it whole).
    let mut m: Model<4> = Model::new();
    for k in 0..2 {
        m.add(k, policy(5000), true).unwrap();
    }
    let mut acts = Vec::new();
    m.step(at(0), &|_| false, &mut |a| acts.push(a));
    for a in acts {
        if let Act::Do(i, Do::Spawn) = a {
            m.spawned(i, 100 + i as i32, at(0));
        }
    }
    m.retire(0);
    m.retire(1);
    m.add(0, policy(5000), true).unwrap();
    m.add(1, policy(5000), true).unwrap();
    // The waiting replacements change (they never ran: freed): room.
    let changed = |i| Staged {
        current: Some((i, false)),
        named: Some(i),
    };
    let p = m.plan(&[changed(2), changed(3)]).unwrap();
    assert_eq!((p.changed, p.removed, p.added), (2, 0, 0));
    assert_eq!(
        p.new.as_slice(),
        [Some((Some(0), true)), Some((Some(1), true))]
    );
    // Two more new names on top: no room; nothing was changed.
    let new = Staged::default();
    assert_eq!(
        m.plan(&[changed(2), changed(3), new, new]).err(),
        Some(NoRoom { stopping: 2 })
    );
    assert_eq!(m.len(), 4);
}

/// Steps until one does nothing, as the loop's `decide`; all actions.
fn settle(m: &mut Model<8>, now: u64, alive: &[i32]) -> Vec<Act> {
    let mut all = Vec::new();
    for _ in 0..10 {
        let (acts, _) = step(m, now, alive);
        if acts.is_empty() {
            break;
        }
        all.extend(acts);
    }
    all
}

fn notify(stop: u64) -> Policy {
    Policy {
        ready: crate::pure::svc::ReadyBy::Notify,
        ready_timeout: Ms(5000),
        ..policy(stop)
    }
}

#[test]
fn a_dependant_starts_once_what_it_needs_is_ready() {
    let mut m: Model<8> = Model::new();
    let db = m.add(0, notify(1000), true).unwrap();
    let web = m.add(1, policy(1000), true).unwrap();
    m.set_deps(web, 1 << 0, 0);
    let acts = settle(&mut m, 0, &[]);
    assert_eq!(acts, [Act::Do(db, Do::Spawn)], "web waits for db");
    assert_eq!(m.hold(web), Hold::Needs);
    assert_eq!(m.deadline(), Some(at(5000)), "db's ready timeout only");
    assert!(m.became_ready(db));
    assert!(!m.became_ready(db), "once");
    assert_eq!(settle(&mut m, 1000, &[]), [Act::Do(web, Do::Spawn)]);
    assert_eq!(m.launch(), Launch::Ready);
}

#[test]
fn a_restart_stops_dependants_first_and_starts_them_after() {
    let mut m: Model<8> = Model::new();
    let db = m.add(0, policy(1000), true).unwrap();
    let web = m.add(1, policy(1000), true).unwrap();
    m.set_deps(web, 1 << 0, 0);
    settle(&mut m, 0, &[]);
    assert!(m.get(web).svc.is_ready());
    m.restart(db);
    // web first; db waits while web's group lives.
    assert_eq!(settle(&mut m, 10, &[101]), [Act::Do(web, Do::Term)]);
    assert_eq!(m.get(db).svc.state, State::Running);
    // web gone: db stops; db gone: it starts, then web.
    assert_eq!(m.exited(web, Status::Signaled(15), at(20), false), Do::Done);
    assert_eq!(settle(&mut m, 20, &[100]), [Act::Do(db, Do::Term)]);
    m.exited(db, Status::Signaled(15), at(30), false);
    assert_eq!(
        settle(&mut m, 30, &[]),
        [Act::Do(db, Do::Spawn), Act::Do(web, Do::Spawn)]
    );
}

#[test]
fn shutdown_stops_in_reverse_order_and_start_brings_what_is_needed() {
    let mut m: Model<8> = Model::new();
    let a = m.add(0, policy(1000), true).unwrap();
    let b = m.add(1, policy(1000), true).unwrap();
    let c = m.add(2, policy(1000), true).unwrap();
    m.set_deps(b, 1 << 0, 0);
    m.set_deps(c, 0, 1 << 1);
    settle(&mut m, 0, &[]);
    // `stop a` stops b (which needs it) first; c (after b) stays.
    m.stop(a);
    assert_eq!(settle(&mut m, 1, &[100, 101, 102]), [Act::Do(b, Do::Term)]);
    m.exited(b, Status::Signaled(15), at(2), false);
    settle(&mut m, 2, &[100, 102]);
    m.exited(a, Status::Signaled(15), at(3), false);
    settle(&mut m, 3, &[102]);
    assert_eq!(
        m.get(c).svc.state,
        State::Running,
        "after has no stop coupling"
    );
    assert!(m.get(b).up, "b waits, wanted up");
    // `start b` starts a, then b.
    m.start(b);
    let acts = settle(&mut m, 4, &[102]);
    assert_eq!(acts, [Act::Do(a, Do::Spawn), Act::Do(b, Do::Spawn)]);
    // Shutdown: c (after b), then b, then a.
    m.shutdown();
    assert_eq!(settle(&mut m, 5, &[100, 101, 102]), [Act::Do(c, Do::Term)]);
    m.exited(c, Status::Signaled(15), at(6), false);
    assert_eq!(settle(&mut m, 6, &[100, 101]), [Act::Do(b, Do::Term)]);
}

#[test]
fn oneshots_are_done_at_exit_0_and_the_launcher_hears_of_failures() {
    let mut m: Model<8> = Model::new();
    let one = Policy {
        oneshot: true,
        restart: Restart::Always,
        ..policy(1000)
    };
    let fw = m.add(0, one, true).unwrap();
    let web = m.add(1, policy(1000), true).unwrap();
    m.set_deps(web, 1 << 0, 0);
    assert_eq!(settle(&mut m, 0, &[]), [Act::Do(fw, Do::Spawn)]);
    assert_eq!(m.launch(), Launch::Pending);
    assert_eq!(m.exited(fw, Status::Exited(0), at(10), false), Do::Done);
    assert_eq!(settle(&mut m, 10, &[]), [Act::Do(web, Do::Spawn)]);
    assert_eq!(
        m.get(fw).svc.state,
        State::Exited,
        "never again after exit 0"
    );
    assert!(m.ready(fw));
    // A failing oneshot fails the launch; what needs it is reported too.
    let mut m: Model<8> = Model::new();
    let fw = m
        .add(
            0,
            Policy {
                restart: Restart::Never,
                ..one
            },
            true,
        )
        .unwrap();
    let web = m.add(1, policy(1000), true).unwrap();
    m.set_deps(web, 1 << 0, 0);
    settle(&mut m, 0, &[]);
    m.exited(fw, Status::Exited(3), at(10), false);
    settle(&mut m, 10, &[]);
    assert_eq!(m.launch(), Launch::Failed(fw));
    assert_eq!(m.needs_ended(web), Some(fw));
}

#[test]
fn not_ready_in_time_is_a_failed_start() {
    let mut m: Model<8> = Model::new();
    let db = m.add(0, notify(1000), true).unwrap();
    settle(&mut m, 0, &[]);
    assert_eq!(settle(&mut m, 4999, &[100]), []);
    assert_eq!(settle(&mut m, 5000, &[100]), [Act::Do(db, Do::Timeout)]);
    assert_eq!(m.get(db).svc.failed, Some(crate::pure::svc::Fail::Timeout));
    assert_eq!(m.launch(), Launch::Failed(db));
    m.exited(db, Status::Signaled(15), at(5010), false);
    settle(&mut m, 5010, &[]);
    assert_eq!(
        m.get(db).svc.state,
        State::Backoff,
        "restarted by its policy"
    );
}
