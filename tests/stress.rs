//! Stress: random reloads, control requests and SIGKILLs against a real
//! tinyd (config mode, control socket) supervising a dozen services, for a
//! bounded time: `TINYD_STRESS_SECS` (default 30; `make stress`: 300).
//!
//! The run is driven by a seeded xorshift generator: the seed
//! (`TINYD_STRESS_SEED`, decimal or 0x-hex, else taken from the clock) is
//! printed at the start and in every failure message, and the same seed
//! gives the same sequence of actions (timing, of course, differs).
//!
//! Each step is a burst of one to three actions done back to back (so that
//! a request can land while a reload's replacement still waits for the old
//! instance): rewrite the file with a random subset of the services and
//! random settings, then `tinyd ctl reload` (or SIGHUP, or a broken file
//! that must be refused); `ctl start/stop/restart NAME`; SIGKILL one
//! process of a service; `ctl status [NAME]`. Then the state settles and
//! is checked. A monitor thread scans /proc all the time for the invariants
//! that must hold at every instant.
//!
//! Every service runs one of three scripts (stays up; ignores SIGTERM, as
//! its children do; exits after a short run), with `DIR/svc/NAME/` as an
//! argument, and runs its `sleep` as `DIR/svc/NAME/sleep` (a symlink): every
//! process of a service carries its name's marker in /proc/PID/cmdline.
//!
//! Invariants:
//!  1. never two live instances of one name (two process groups with live
//!     members carrying the name's marker), at any instant: an old instance
//!     still stopping while the new one runs is a violation;
//!  2. a service stopped by request (`ctl stop`) stays down, across reloads
//!     that keep it in the file, even changed, until `ctl start`/`restart`;
//!  3. a service in the file and not stopped by request has a (new, when
//!     the step replaced or killed it) instance within its old instance's
//!     stop timeout + its restart delay + a margin, seen in /proc without
//!     a word to tinyd (a request would wake it up), and `status` then says
//!     `running` or `backoff`;
//!  4. a removed service has no process left once its stop timeout, the
//!     SIGKILL and a margin have passed.
//!
//! At the end, right after a last burst that is not left to settle, `tinyd
//! ctl shutdown` must return within the largest stop timeout plus a margin,
//! tinyd must exit 0, and nothing is left: no process with a marker, no
//! zombie, no pidfile, no socket.

mod common;

use common::*;
use multi::*;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The services' names (a random subset is in the file at any time).
const NAMES: [&str; 12] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima",
];
const N: usize = NAMES.len();
/// Slack on every bound, seconds: the machine may be loaded.
const MARGIN: f64 = 8.0;
/// The largest stop timeout the test configures, seconds.
const MAX_STOP: f64 = 1.0;
/// After SIGKILL, how long a group may take to be gone (and reaped).
const KILL_SECS: f64 = 1.0;

const INV1: &str = "invariant 1 (never two live instances of one name)";
const INV2: &str = "invariant 2 (stopped by request stays down)";
const INV3: &str =
    "invariant 3 (in the file and not stopped by request: running or in backoff in bounded time)";
const INV4: &str = "invariant 4 (a removed service leaves no process)";

/// xorshift64*, seeded through splitmix64.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(z.max(1))
    }
    fn u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.u64() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}

fn seed() -> u64 {
    match std::env::var("TINYD_STRESS_SEED") {
        Ok(v) => {
            let v = v.trim();
            let n = match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => v.parse(),
            };
            n.unwrap_or_else(|_| panic!("TINYD_STRESS_SEED={v:?}: not a number"))
        }
        Err(_) => {
            let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Stays up; SIGTERM ends it.
    Plain,
    /// Ignores SIGTERM (so do its children): only SIGKILL ends it.
    Stubborn,
    /// Exits with `code` after `run` seconds.
    Quick { run: &'static str, code: u8 },
}

/// One service's settings, as the file gives them.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Settings {
    kind: Kind,
    restart: &'static str,
    /// `restart-delay` and its MAX in seconds.
    delay: (&'static str, f64),
    /// `stop-timeout` and its value in seconds.
    stop: (&'static str, f64),
    /// `env = GEN=N`: a change of environment only.
    generation: usize,
}

fn random_settings(rng: &mut Rng) -> Settings {
    let restart = rng.pick(&["always", "on-failure"]);
    let kind = match rng.below(100) {
        0..45 => Kind::Plain,
        45..75 => Kind::Stubborn,
        _ => Kind::Quick {
            run: rng.pick(&["0.2", "0.5", "1"]),
            // on-failure restarts only a failure: such a service fails.
            code: if restart == "on-failure" {
                1
            } else {
                rng.below(2) as u8
            },
        },
    };
    Settings {
        kind,
        restart,
        delay: rng.pick(&[
            ("0:0", 0.0),
            ("0.1", 0.1),
            ("0.2", 0.2),
            ("0.1:1", 1.0),
            ("0.3:0.6", 0.6),
        ]),
        stop: rng.pick(&[("0.3", 0.3), ("0.5", 0.5), ("0.7", 0.7), ("1", 1.0)]),
        generation: rng.below(3),
    }
}

/// What the test believes tinyd has: the file in force, and which of its
/// services were stopped by request.
#[derive(Clone, Default)]
struct Model {
    file: Vec<(usize, Settings)>,
    stopped: [bool; N],
}

impl Model {
    fn get(&self, n: usize) -> Option<Settings> {
        self.file.iter().find(|(m, _)| *m == n).map(|(_, s)| *s)
    }
    /// In the file and not stopped by request.
    fn wanted(&self) -> Vec<usize> {
        self.file
            .iter()
            .map(|(n, _)| *n)
            .filter(|&n| !self.stopped[n])
            .collect()
    }
}

/// A live (not zombie) process carrying a service's marker.
#[derive(Clone, Debug)]
struct P {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    state: char,
    /// Start time (clock ticks since boot): tells a reused pid apart.
    start: u64,
    name: usize,
    argv: String,
}

/// State, parent, group and start time of a process.
fn proc_stat(pid: i32) -> Option<(char, i32, i32, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f.first()?.chars().next()?,
        f.get(1)?.parse().ok()?,
        f.get(2)?.parse().ok()?,
        f.get(19)?.parse().ok()?,
    ))
}

/// The service whose marker (`PREFIX/NAME/`) is in a raw command line.
fn name_in(raw: &[u8], prefix: &[u8]) -> Option<usize> {
    let at = raw.windows(prefix.len()).position(|w| w == prefix)?;
    let rest = &raw[at + prefix.len()..];
    let end = rest.iter().position(|&c| c == b'/' || c == 0)?;
    NAMES.iter().position(|n| n.as_bytes() == &rest[..end])
}

/// Every live process of every service, from /proc.
fn scan(prefix: &[u8]) -> Vec<P> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return v;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|x| x.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let Some(name) = name_in(&raw, prefix) else {
            continue;
        };
        let Some((state, ppid, pgrp, start)) = proc_stat(pid) else {
            continue;
        };
        if state == 'Z' || state == 'X' {
            continue;
        }
        let argv =
            String::from_utf8_lossy(raw.strip_suffix(&[0]).unwrap_or(&raw)).replace('\0', " ");
        v.push(P {
            pid,
            ppid,
            pgrp,
            state,
            start,
            name,
            argv,
        });
    }
    v
}

/// Now, in the clock ticks since boot of a process's start time in
/// /proc/PID/stat (CLOCK_BOOTTIME, 1/100 s), rounded down: a process
/// whose start time is not before it was started after the call, or at
/// most one tick before.
fn boot_ticks() -> u64 {
    let s = fs::read_to_string("/proc/uptime").unwrap();
    let up = s.split_whitespace().next().unwrap();
    let (sec, frac) = up.split_once('.').unwrap_or((up, "0"));
    let frac = format!("{frac:0<2}");
    sec.parse::<u64>().unwrap() * 100 + frac[..2].parse::<u64>().unwrap()
}

/// Whether every one of `ps` is still the same live process now, read
/// twice over: then they were all alive at one instant (the last of the
/// first reads), which a single scan cannot tell (one may have died before
/// another was started).
fn all_alive_at_once(ps: &[&P]) -> bool {
    (0..2).all(|_| {
        ps.iter().all(|p| {
            proc_stat(p.pid)
                .is_some_and(|(st, _, _, start)| st != 'Z' && st != 'X' && start == p.start)
        })
    })
}

fn listing(ps: &[&P], tinyd: i32) -> String {
    let mut o = String::new();
    for p in ps {
        let who = if p.ppid == tinyd && p.pid == p.pgrp {
            "tinyd's child, group leader"
        } else if p.ppid == tinyd {
            "tinyd's child"
        } else {
            "not tinyd's child"
        };
        let _ = writeln!(
            o,
            "    pid {} ppid {} pgrp {} state {} ({who}): {}",
            p.pid, p.ppid, p.pgrp, p.state, p.argv
        );
    }
    o
}

/// What the main thread and the monitor share.
struct Shared {
    tinyd: i32,
    step: usize,
    /// Invariant 2: no process of the service from this instant on.
    down: [Option<Instant>; N],
    /// Invariant 4: no process of the removed service from this instant on.
    removed: [Option<Instant>; N],
    /// Instances seen, (leader pid, start time) -> the last scan that saw
    /// them (when it began).
    seen: Vec<HashMap<(i32, u64), Instant>>,
    /// The service groups seen since the shutdown began (for the zombie
    /// check at the end).
    groups: HashSet<i32>,
    /// Scans done.
    scans: u64,
    /// The first violation seen: which invariant, and what was seen.
    violation: Option<(&'static str, String)>,
    quit: bool,
}

fn lock(sh: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    sh.lock().unwrap_or_else(|e| e.into_inner())
}

/// Scans /proc over and over; the lock is held during a scan, so that the
/// main thread's changes to `down` and `removed` fall between scans.
fn monitor(sh: Arc<Mutex<Shared>>, prefix: Vec<u8>) {
    loop {
        {
            let mut g = lock(&sh);
            if g.quit {
                return;
            }
            let t0 = Instant::now();
            let procs = scan(&prefix);
            check(&mut g, t0, &procs);
            g.scans += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Invariants 1, 2 and 4 on one scan begun at `t0`.
fn check(g: &mut Shared, t0: Instant, procs: &[P]) {
    let tinyd = g.tinyd;
    for p in procs {
        if p.pid == p.pgrp && p.ppid == tinyd {
            g.seen[p.name]
                .entry((p.pid, p.start))
                .and_modify(|e| *e = t0)
                .or_insert(t0);
        }
        g.groups.insert(p.pgrp);
    }
    if g.violation.is_some() {
        return;
    }
    for (n, name) in NAMES.iter().enumerate() {
        let mine: Vec<&P> = procs.iter().filter(|p| p.name == n).collect();
        if mine.is_empty() {
            continue;
        }
        let mut groups: Vec<i32> = mine.iter().map(|p| p.pgrp).collect();
        groups.sort_unstable();
        groups.dedup();
        if groups.len() > 1 {
            let one_each: Vec<&P> = groups
                .iter()
                .map(|&gr| *mine.iter().find(|p| p.pgrp == gr).unwrap())
                .collect();
            if all_alive_at_once(&one_each) {
                g.violation = Some((
                    INV1,
                    format!(
                        "seen in /proc during step {}: {} has {} live process groups at \
                         once, {groups:?}:\n{}",
                        g.step,
                        name,
                        groups.len(),
                        listing(&mine, tinyd)
                    ),
                ));
                return;
            }
        }
        if let Some(after) = g.down[n]
            && t0 >= after
        {
            g.violation = Some((
                INV2,
                format!(
                    "seen in /proc during step {}: {} was stopped with `ctl stop` and not \
                     started since, yet it has processes:\n{}",
                    g.step,
                    name,
                    listing(&mine, tinyd)
                ),
            ));
            return;
        }
        if let Some(after) = g.removed[n]
            && t0 >= after
        {
            g.violation = Some((
                INV4,
                format!(
                    "seen in /proc during step {}: {} was removed from the file, its stop \
                     timeout + {KILL_SECS} s for SIGKILL + {MARGIN} s ran out {:.1} s ago, yet \
                     it has processes:\n{}",
                    g.step,
                    name,
                    (t0 - after).as_secs_f64(),
                    listing(&mine, tinyd)
                ),
            ));
            return;
        }
    }
}

/// Stops the monitor thread when the test ends, however it ends.
struct Monitor(Arc<Mutex<Shared>>, Option<std::thread::JoinHandle<()>>);

impl Drop for Monitor {
    fn drop(&mut self) {
        lock(&self.0).quit = true;
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

/// Polls `cond` every 10 ms until it holds (true) or `secs` pass (false).
fn wait(secs: f64, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The time of day, UTC, to the millisecond: tinyd's log says the same.
fn utc_now() -> String {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let (s, ms) = (t.as_secs() % 86400, t.subsec_millis());
    format!("{:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)
}

/// A status line, parsed leniently (a malformed one is reported, not a
/// panic without the seed).
#[derive(Debug)]
struct St {
    name: String,
    state: String,
    pid: Option<i32>,
}

fn parse(text: &str) -> Result<Vec<St>, String> {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() != 6 {
                return Err(format!("status line without 6 fields: {l:?}"));
            }
            Ok(St {
                name: f[0].to_string(),
                state: f[1].to_string(),
                pid: f[2].parse().ok(),
            })
        })
        .collect()
}

struct Run {
    seed: u64,
    secs: f64,
    rng: Rng,
    d: TempDir,
    conf: PathBuf,
    sock: PathBuf,
    /// `DIR/svc/`: what every service process carries, before its name.
    prefix: String,
    sh: Arc<Mutex<Shared>>,
    tinyd: i32,
    model: Model,
    step: usize,
    history: Vec<String>,
    /// What the step under way did so far.
    current: Vec<String>,
    /// When it began (UTC, as in tinyd's log).
    began: String,
    /// `ctl shutdown` was sent: tinyd is to exit.
    shutting_down: bool,
}

impl Run {
    fn fail(&self, what: &str, detail: &str) -> ! {
        let st = ctl(&self.sock, &["-w", "5", "status"]);
        let log = fs::read_to_string(self.d.join("tinyd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let log = lines[lines.len().saturating_sub(60)..].join("\n");
        let mut hist = self.history[self.history.len().saturating_sub(25)..].join("\n");
        if !self.current.is_empty() {
            let _ = write!(
                hist,
                "\nstep {} ({}, under way): {}",
                self.step,
                self.began,
                self.current.join("; ")
            );
        }
        let file: Vec<String> = self
            .model
            .file
            .iter()
            .map(|(n, s)| {
                let stop = if self.model.stopped[*n] {
                    " (stopped by request)"
                } else {
                    ""
                };
                format!("    {}{stop}: {s:?}", NAMES[*n])
            })
            .collect();
        panic!(
            "\nstress test FAILED: seed {seed:#x}, step {step}: {what}\n{detail}\n\n\
             replay: TINYD_STRESS_SEED={seed:#x} TINYD_STRESS_SECS={secs} cargo test --release \
             --locked --test stress -- --nocapture\n\n\
             last steps:\n{hist}\n\n\
             the file in force, as the test sees it:\n{}\n\n\
             `tinyd ctl status` now: exit {:?}\n{}{}\n\
             tinyd's log (last 60 lines of DIR/tinyd.log):\n{log}\n",
            file.join("\n"),
            st.code,
            st.stdout,
            st.stderr,
            seed = self.seed,
            secs = self.secs,
            step = self.step,
        );
    }

    /// Fails at once if the monitor saw a violation, or tinyd is gone.
    fn check_monitor(&self) {
        let v = lock(&self.sh).violation.clone();
        if let Some((what, v)) = v {
            self.fail(what, &v);
        }
        if !self.shutting_down && !alive(self.tinyd) {
            let err = fs::read_to_string(self.d.join("tinyd.stderr")).unwrap_or_default();
            let lines: Vec<&str> = err.lines().collect();
            self.fail(
                "tinyd runs until shutdown",
                &format!(
                    "tinyd (pid {}) is gone; the end of its stderr:\n{}",
                    self.tinyd,
                    lines[lines.len().saturating_sub(10)..].join("\n")
                ),
            );
        }
    }

    fn dir(&self) -> String {
        s(self.d.path())
    }

    fn marker(&self, n: usize) -> String {
        format!("{}{}/", self.prefix, NAMES[n])
    }

    fn section(&self, n: usize, s: &Settings) -> String {
        let dir = self.dir();
        let exec = match s.kind {
            Kind::Plain => format!("{dir}/plain.sh {}", self.marker(n)),
            Kind::Stubborn => format!("{dir}/stubborn.sh {}", self.marker(n)),
            Kind::Quick { run, code } => {
                format!("{dir}/quick.sh {} {run} {code}", self.marker(n))
            }
        };
        format!(
            "[{}]\nexec = {exec}\nrestart = {}\nrestart-delay = {}\nstop-timeout = {}\n\
             env = GEN={}\n\n",
            NAMES[n], s.restart, s.delay.0, s.stop.0, s.generation
        )
    }

    fn text(&self, file: &[(usize, Settings)]) -> String {
        let dir = self.dir();
        let mut t = format!(
            "[tinyd]\npidfile = {dir}/tinyd.pid\ncontrol = {dir}/ctl.sock\n\
             log = {dir}/tinyd.log\n\n"
        );
        for (n, s) in file {
            t.push_str(&self.section(*n, s));
        }
        t
    }

    fn write_conf(&self, text: &str) {
        let tmp = self.d.join("stress.conf.new");
        fs::write(&tmp, text).unwrap();
        fs::rename(&tmp, &self.conf).unwrap();
    }

    /// A new file: each service in it with a chance, its settings kept or
    /// drawn anew, sometimes in another order.
    fn new_file(&mut self) -> Vec<(usize, Settings)> {
        let mut v = Vec::new();
        for n in 0..N {
            let keep = self.rng.chance(75);
            let same = self.rng.chance(60);
            let fresh = random_settings(&mut self.rng);
            if !keep {
                continue;
            }
            let s = match self.model.get(n) {
                Some(old) if same => old,
                _ => fresh,
            };
            v.push((n, s));
        }
        if v.is_empty() {
            v.push((self.rng.below(N), random_settings(&mut self.rng)));
        }
        if self.rng.chance(30) {
            for i in (1..v.len()).rev() {
                let j = self.rng.below(i + 1);
                v.swap(i, j);
            }
        }
        v
    }

    /// `reloaded:` lines in tinyd's stderr.
    fn reload_events(&self) -> Vec<String> {
        fs::read_to_string(self.d.join("tinyd.stderr"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("tinyd: reloaded: ").map(str::to_string))
            .collect()
    }

    /// Rewrites the file and has tinyd read it again.
    fn reload(&mut self, affected: &mut [Option<u64>; N]) -> String {
        let how = self.rng.below(100);
        if how < 5 {
            // A broken file: refused whole, nothing changes.
            let (n, s) = (self.rng.below(N), random_settings(&mut self.rng));
            let mut bad = self.text(&self.model.file);
            bad.push_str(&self.section(n, &s).replace("restart =", "restart-when ="));
            self.write_conf(&bad);
            let o = ctl(&self.sock, &["reload"]);
            if o.code != Some(78) {
                self.fail(
                    "ctl reply: a reload of a broken file must be refused (78)",
                    &format!("{o:?}"),
                );
            }
            return "reload of a broken file -> 78".into();
        }
        let new = self.new_file();
        let old = self.model.clone();
        let (mut added, mut removed, mut changed, mut unchanged) = (0, 0, 0, 0);
        for (n, s) in &new {
            match old.get(*n) {
                None => added += 1,
                Some(o) if o == *s => unchanged += 1,
                Some(_) => changed += 1,
            }
        }
        for (n, _) in &old.file {
            if !new.iter().any(|(m, _)| m == n) {
                removed += 1;
            }
        }
        let expect =
            format!("{added} added, {removed} removed, {changed} changed, {unchanged} unchanged");
        // Services in the new file may start at once: no longer "removed".
        {
            let mut g = lock(&self.sh);
            for (n, _) in &new {
                g.removed[*n] = None;
            }
        }
        self.write_conf(&self.text(&new));
        let t = boot_ticks();
        let by_hup = how < 20;
        if by_hup {
            let before = self.reload_events().len();
            signal(self.tinyd, SIGHUP);
            let mut got = None;
            if !wait(10.0, || {
                let ev = self.reload_events();
                got = ev.get(before).cloned();
                got.is_some()
            }) {
                self.fail(
                    "SIGHUP: tinyd logs `reloaded: ...` within 10 s",
                    "no new `reloaded:` line in its stderr",
                );
            }
            if got.as_deref() != Some(expect.as_str()) {
                self.fail(
                    "SIGHUP reload: the counts tinyd logs are those of the files",
                    &format!("expected `reloaded: {expect}`, got {got:?}"),
                );
            }
        } else {
            let o = ctl(&self.sock, &["reload"]);
            if o.code != Some(0) || o.stdout != format!("reloaded: {expect}\n") {
                self.fail(
                    "ctl reply: reload answers 0 and the counts of the files",
                    &format!("expected `reloaded: {expect}`, got {o:?}"),
                );
            }
        }
        let now = Instant::now();
        let mut g = lock(&self.sh);
        let mut gone = Vec::new();
        for (n, s) in &old.file {
            if !new.iter().any(|(m, _)| m == n) {
                self.model.stopped[*n] = false;
                g.down[*n] = None;
                g.removed[*n] = Some(now + Duration::from_secs_f64(s.stop.1 + KILL_SECS + MARGIN));
                gone.push(NAMES[*n]);
            }
        }
        let mut moved = Vec::new();
        for (n, s) in &new {
            match old.get(*n) {
                None => {
                    self.model.stopped[*n] = false;
                    affected[*n] = Some(t);
                    moved.push(format!("+{}", NAMES[*n]));
                }
                Some(o) if o != *s => {
                    affected[*n] = Some(t);
                    moved.push(format!("~{}", NAMES[*n]));
                }
                Some(_) => {}
            }
        }
        drop(g);
        self.model.file = new;
        for n in &gone {
            moved.push(format!("-{n}"));
        }
        format!(
            "{} ({expect}: {})",
            if by_hup {
                "SIGHUP reload"
            } else {
                "ctl reload"
            },
            moved.join(" ")
        )
    }

    /// A name for a request: mostly one in the file.
    fn name_for_request(&mut self) -> usize {
        let any = self.rng.below(N);
        if self.model.file.is_empty() || self.rng.chance(12) {
            return any;
        }
        self.model.file[self.rng.below(self.model.file.len())].0
    }

    fn request(&mut self, affected: &mut [Option<u64>; N]) -> String {
        let req = self.rng.pick(&["start", "stop", "restart"]);
        let n = self.name_for_request();
        let known = self.model.get(n).is_some();
        if req != "stop" {
            lock(&self.sh).down[n] = None;
        }
        let t = boot_ticks();
        let o = ctl(&self.sock, &[req, NAMES[n]]);
        let want = if known { 0 } else { 4 };
        if o.code != Some(want) {
            self.fail(
                &format!(
                    "ctl reply: `ctl {req} {}` ({}) answers {want}",
                    NAMES[n],
                    if known {
                        "in the file"
                    } else {
                        "not in the file"
                    }
                ),
                &format!("{o:?}"),
            );
        }
        if known {
            match req {
                "stop" => {
                    // Down at once, unless an instance a reload replaced
                    // is still stopping: then after its stop.
                    let left = scan(self.prefix.as_bytes()).iter().any(|p| p.name == n);
                    let after = if left {
                        Instant::now() + Duration::from_secs_f64(MAX_STOP + KILL_SECS + MARGIN)
                    } else {
                        Instant::now()
                    };
                    self.model.stopped[n] = true;
                    affected[n] = None;
                    lock(&self.sh).down[n] = Some(after);
                }
                "restart" => {
                    self.model.stopped[n] = false;
                    affected[n] = Some(t);
                }
                _ => {
                    if self.model.stopped[n] {
                        affected[n] = Some(t);
                    }
                    self.model.stopped[n] = false;
                }
            }
        }
        format!("ctl {req} {} -> {}", NAMES[n], want)
    }

    fn kill(&mut self, affected: &mut [Option<u64>; N]) -> String {
        let r = self.rng.below(1000);
        let wanted = self.model.wanted();
        let Some(&n) = wanted.get(r % wanted.len().max(1)) else {
            return "kill: nothing to kill".into();
        };
        let r2 = self.rng.below(1000);
        let mut ps: Vec<P> = scan(self.prefix.as_bytes())
            .into_iter()
            .filter(|p| p.name == n)
            .collect();
        ps.sort_by_key(|p| p.pid);
        let Some(p) = ps.get(r2 % ps.len().max(1)) else {
            return format!("kill {}: no process (in backoff)", NAMES[n]);
        };
        let leader = p.pid == p.pgrp && p.ppid == self.tinyd;
        let t = boot_ticks();
        signal(p.pid, SIGKILL);
        if leader {
            affected[n] = Some(t);
        }
        format!(
            "SIGKILL {} pid {}{}",
            NAMES[n],
            p.pid,
            if leader { " (the leader)" } else { "" }
        )
    }

    fn status_request(&mut self) -> String {
        let one = self.rng.chance(40);
        let n = self.name_for_request();
        let o = if one {
            ctl(&self.sock, &["status", NAMES[n]])
        } else {
            ctl(&self.sock, &["status"])
        };
        let lines = parse(&o.stdout).unwrap_or_else(|e| self.fail("ctl reply: status", &e));
        let all_up = lines.iter().all(|l| l.state == "running");
        let code_ok = match (one, self.model.get(n)) {
            (true, None) => o.code == Some(4),
            _ => o.code == Some(if all_up { 0 } else { 3 }),
        };
        let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        let want: Vec<&str> = match (one, self.model.get(n)) {
            (true, None) => vec![],
            (true, Some(_)) => vec![NAMES[n]],
            (false, _) => self.model.file.iter().map(|(m, _)| NAMES[*m]).collect(),
        };
        if !code_ok || names != want {
            self.fail(
                "ctl reply: status lists the file's services in its order, exit 0 when all \
                 run, 3 when not, 4 unknown",
                &format!("expected services {want:?}; got {o:?}"),
            );
        }
        if one {
            format!("ctl status {} -> {:?}", NAMES[n], o.code)
        } else {
            format!("ctl status -> {:?}", o.code)
        }
    }

    /// One step: a burst of actions, then (unless the shutdown follows at
    /// once, in the middle of what they set going) the checks.
    fn step(&mut self, settle: bool) {
        self.step += 1;
        lock(&self.sh).step = self.step;
        let burst = match self.rng.below(100) {
            0..60 => 1,
            60..85 => 2,
            _ => 3,
        };
        let mut affected = [None; N];
        self.current.clear();
        self.began = utc_now();
        for _ in 0..burst {
            let what = match self.rng.below(100) {
                0..30 => self.reload(&mut affected),
                30..65 => self.request(&mut affected),
                65..85 => self.kill(&mut affected),
                _ => self.status_request(),
            };
            self.current.push(what);
            self.check_monitor();
        }
        if settle {
            self.current.push("settling".into());
            self.settle(&affected, Instant::now());
            self.current.pop();
        } else {
            self.current.push("(not settled: shutdown follows)".into());
        }
        let line = format!(
            "step {} ({}): {}",
            self.step,
            self.began,
            self.current.join("; ")
        );
        eprintln!("stress: {line}");
        self.history.push(line);
        self.current.clear();
    }

    /// Invariant 3 (and the rest through the monitor, and `status`).
    fn settle(&mut self, affected: &[Option<u64>; N], end: Instant) {
        // First from /proc alone: a request would wake tinyd up and hide a
        // service left waiting for no reason.
        let wanted = self.model.wanted();
        let bound = |n: usize| {
            let delay = self.model.get(n).map_or(0.0, |s| s.delay.1);
            MAX_STOP + KILL_SECS + delay + MARGIN
        };
        let up = |g: &Shared, n: usize| match affected[n] {
            Some(t) => g.seen[n].keys().any(|&(_, start)| start >= t),
            None => g.seen[n].values().any(|&last| last >= end),
        };
        loop {
            self.check_monitor();
            let missing: Vec<usize> = {
                let g = lock(&self.sh);
                wanted.iter().copied().filter(|&n| !up(&g, n)).collect()
            };
            let Some(&late) = missing
                .iter()
                .find(|&&n| end.elapsed().as_secs_f64() > bound(n))
            else {
                if missing.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let names: Vec<&str> = missing.iter().map(|&n| NAMES[n]).collect();
            let now: Vec<P> = scan(self.prefix.as_bytes());
            let refs: Vec<&P> = now.iter().collect();
            self.fail(
                INV3,
                &format!(
                    "{} has no {}instance in /proc {:.1} s after the step ({MAX_STOP} s stop \
                     timeout + {KILL_SECS} s for SIGKILL + its restart delay + {MARGIN} s), \
                     without a request to tinyd meanwhile; missing: {names:?}\n\
                     service processes now:\n{}",
                    NAMES[late],
                    if affected[late].is_some() { "new " } else { "" },
                    end.elapsed().as_secs_f64(),
                    listing(&refs, self.tinyd)
                ),
            );
        }
        // Then `status` agrees.
        let deadline = Instant::now() + Duration::from_secs_f64(MARGIN + 2.0);
        loop {
            self.check_monitor();
            let problem = self.status_problem();
            let Some((what, detail)) = problem else {
                break;
            };
            if Instant::now() > deadline {
                self.fail(&what, &detail);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.check_monitor();
    }

    /// What is wrong with `status` now, if anything.
    fn status_problem(&self) -> Option<(String, String)> {
        let Some((code, text)) = ask(&self.sock, "status") else {
            return Some(("status: tinyd answers".into(), "no reply".into()));
        };
        let lines = match parse(&text) {
            Ok(l) => l,
            Err(e) => return Some(("status: well-formed lines".into(), e)),
        };
        let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        let want: Vec<&str> = self.model.file.iter().map(|(n, _)| NAMES[*n]).collect();
        if names != want {
            return Some((
                "status lists the services of the file in force, in its order".into(),
                format!("expected {want:?}, got {code}:\n{text}"),
            ));
        }
        for (l, (n, _)) in lines.iter().zip(&self.model.file) {
            let n = *n;
            if self.model.stopped[n] {
                if l.state != "stopped" {
                    return Some((
                        INV2.into(),
                        format!(
                            "{} was stopped with `ctl stop` and not started since: status \
                             says {:?}\n{text}",
                            l.name, l.state
                        ),
                    ));
                }
            } else if l.state != "running" && l.state != "backoff" {
                return Some((
                    INV3.into(),
                    format!("{}: status says {:?}\n{text}", l.name, l.state),
                ));
            }
            if let Some(pid) = l.pid
                && alive(pid)
                && !cmdline(pid).iter().any(|a| a.contains(&self.marker(n)))
            {
                return Some((
                    "status: the pid of a running service is its process".into(),
                    format!("{}: pid {pid} runs {:?}\n{text}", l.name, cmdline(pid)),
                ));
            }
        }
        None
    }

    /// `ctl shutdown`, and nothing left.
    fn shutdown(&mut self, t: &mut Td) {
        self.step += 1;
        lock(&self.sh).step = self.step;
        self.began = utc_now();
        self.current = vec!["ctl shutdown".into()];
        // The groups of this moment on, not the pids of the whole run
        // (reused since by other processes of the machine).
        let s0 = {
            let mut g = lock(&self.sh);
            g.groups.clear();
            g.scans
        };
        wait(10.0, || lock(&self.sh).scans > s0 + 1);
        if !wait(10.0, || zombies_of(self.tinyd).is_empty()) {
            self.fail(
                "no zombie: tinyd reaps its children",
                &format!("zombies of tinyd: {:?}", zombies_of(self.tinyd)),
            );
        }
        let t0 = Instant::now();
        self.shutting_down = true;
        let o = ctl(&self.sock, &["-w", "25", "shutdown"]);
        let took = t0.elapsed().as_secs_f64();
        self.check_monitor();
        let bound = MAX_STOP + KILL_SECS + MARGIN;
        if o.code != Some(0) || o.stdout != "stopped\n" {
            self.fail(
                "shutdown: `tinyd ctl shutdown` returns 0, `stopped`",
                &format!("after {took:.1} s: {o:?}"),
            );
        }
        if took > bound {
            self.fail(
                "shutdown: within the largest stop timeout plus a margin",
                &format!("took {took:.1} s, more than {bound} s"),
            );
        }
        if !wait(10.0, || !alive(self.tinyd)) {
            self.fail(
                "shutdown: tinyd exits after its reply",
                "still there 10 s later",
            );
        }
        let st = t.wait_exit(5.0);
        self.check_monitor();
        lock(&self.sh).quit = true;
        if st.code() != Some(0) {
            self.fail("shutdown: tinyd exits 0", &format!("{st:?}"));
        }
        let left = procs_with(&marker(&self.d));
        if !left.is_empty() {
            let l: Vec<String> = left
                .iter()
                .map(|&p| format!("{p}: {:?}", cmdline(p)))
                .collect();
            self.fail("shutdown: no process with a marker left", &l.join("\n"));
        }
        let groups = lock(&self.sh).groups.clone();
        let zombies: Vec<i32> = fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&p| {
                stat(p).is_some_and(|s| {
                    s.state == 'Z' && (s.ppid == self.tinyd || groups.contains(&s.pgrp))
                })
            })
            .collect();
        if !zombies.is_empty() {
            self.fail("shutdown: no zombie left", &format!("{zombies:?}"));
        }
        for f in ["tinyd.pid", "ctl.sock"] {
            if self.d.join(f).exists() {
                self.fail(
                    "shutdown: pidfile and socket removed",
                    &format!("{f} is left"),
                );
            }
        }
        eprintln!("stress: shutdown in {took:.2} s, nothing left");
    }
}

#[test]
fn random_reloads_requests_and_kills() {
    let secs: f64 = std::env::var("TINYD_STRESS_SECS")
        .ok()
        .map(|v| v.trim().parse().expect("TINYD_STRESS_SECS: seconds"))
        .unwrap_or(30.0);
    let seed = seed();
    eprintln!(
        "stress: seed {seed:#x} for {secs} s (replay: TINYD_STRESS_SEED={seed:#x}; \
         TINYD_STRESS_SECS sets the time)"
    );
    let d = TempDir::new("stress");
    let dir = s(d.path());
    d.script(
        "plain.sh",
        "# plain.sh DIR/svc/NAME/: stays up; SIGTERM ends it.\n\
         echo \"up $$\"\nwhile :; do \"${1}sleep\" 1; done",
    );
    d.script(
        "stubborn.sh",
        "# stubborn.sh DIR/svc/NAME/: ignores SIGTERM, and so do its sleeps.\n\
         trap '' TERM\necho \"up $$, ignoring SIGTERM\"\nwhile :; do \"${1}sleep\" 1; done",
    );
    d.script(
        "quick.sh",
        "# quick.sh DIR/svc/NAME/ SECONDS CODE: exits with CODE after SECONDS.\n\
         echo \"up $$ for $2 s\"\n\"${1}sleep\" \"$2\"\nexit \"$3\"",
    );
    let prefix = format!("{dir}/svc/");
    for n in NAMES {
        let sub = d.join(&format!("svc/{n}"));
        fs::create_dir_all(&sub).unwrap();
        std::os::unix::fs::symlink("/bin/sleep", sub.join("sleep")).unwrap();
    }
    let sh = Arc::new(Mutex::new(Shared {
        tinyd: 0,
        step: 0,
        down: [None; N],
        removed: [None; N],
        seen: vec![HashMap::new(); N],
        groups: HashSet::new(),
        scans: 0,
        violation: None,
        quit: false,
    }));
    let mut r = Run {
        seed,
        secs,
        rng: Rng::new(seed),
        conf: d.join("stress.conf"),
        sock: d.join("ctl.sock"),
        prefix: prefix.clone(),
        d,
        sh: sh.clone(),
        tinyd: 0,
        model: Model::default(),
        step: 0,
        history: Vec::new(),
        current: Vec::new(),
        began: String::new(),
        shutting_down: false,
    };
    let first = r.new_file();
    r.write_conf(&r.text(&first));
    r.model.file = first;
    let t0 = Instant::now();
    let started = boot_ticks();
    let mut t = Td::spawn(&r.d, &["-f", "-c", &s(&r.conf)]);
    r.tinyd = t.pid;
    lock(&sh).tinyd = t.pid;
    let _mon = Monitor(
        sh.clone(),
        Some(std::thread::spawn({
            let sh = sh.clone();
            let prefix = prefix.into_bytes();
            move || monitor(sh, prefix)
        })),
    );
    if !wait(15.0, || ask(&r.sock, "status").is_some()) {
        r.fail("tinyd starts and answers on its socket", &t.stderr());
    }
    let names: Vec<&str> = r.model.file.iter().map(|(n, _)| NAMES[*n]).collect();
    r.history.push(format!("step 0: start with {names:?}"));
    eprintln!("stress: step 0: tinyd {} starts with {names:?}", t.pid);
    let mut all = [None; N];
    for (n, _) in &r.model.file {
        all[*n] = Some(started);
    }
    r.settle(&all, Instant::now());
    let end = t0 + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        r.step(true);
    }
    r.step(false);
    r.shutdown(&mut t);
    eprintln!(
        "stress: {} steps, seed {seed:#x}: every invariant held",
        r.step
    );
}
