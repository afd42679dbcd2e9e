//! Helpers for the single-command tests (tests/logs.rs, tests/supervise.rs,
//! tests/faults.rs): a `Tinyd` guard that leaves no process behind, and log
//! parsing.
use super::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// tinyd started by a test (or a daemon, or only a cleanup). On drop,
/// tinyd is frozen, its children's process groups, the recorded groups
/// and processes, and every process whose command line names the test's
/// directory or a marker are SIGKILLed, then tinyd itself.
pub struct Tinyd {
    child: Option<Child>,
    pub pid: i32,
    status: Option<ExitStatus>,
    dir: String,
    err: PathBuf,
    markers: Vec<String>,
    pgids: Vec<i32>,
    pids: Vec<i32>,
}

impl Tinyd {
    /// Starts tinyd with `args` (stdout and stderr to files in `dir`).
    pub fn spawn(dir: &TempDir, args: &[&str]) -> Tinyd {
        Self::spawn_env(dir, args, &[])
    }

    pub fn spawn_env(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Tinyd {
        let mut c = tinyd();
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Self::spawn_files(dir, c, "tinyd.stdout", "tinyd.stderr")
    }

    /// Starts tinyd with `args`, stdout and stderr to `TAG.out` and
    /// `TAG.err` in `dir` (for several tinyds in one directory).
    pub fn spawn_tag(dir: &TempDir, tag: &str, args: &[&str]) -> Tinyd {
        let mut c = tinyd();
        c.args(args);
        Self::spawn_cmd(dir, tag, c)
    }

    /// Spawns `c` (tinyd, or something that execs it) with stdin on
    /// /dev/null, stdout and stderr to `TAG.out` and `TAG.err` in `dir`.
    pub fn spawn_cmd(dir: &TempDir, tag: &str, mut c: Command) -> Tinyd {
        c.stdin(Stdio::null());
        Self::spawn_files(dir, c, &format!("{tag}.out"), &format!("{tag}.err"))
    }

    fn spawn_files(dir: &TempDir, mut c: Command, out: &str, err: &str) -> Tinyd {
        let err = dir.join(err);
        c.stdout(fs::File::create(dir.join(out)).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        let child = c.spawn().expect("spawn tinyd");
        let mut t = Self::reaper(dir);
        t.pid = child.id() as i32;
        t.child = Some(child);
        t.err = err;
        t
    }

    /// Starts tinyd in daemon mode (`-p PIDFILE` is added); returns once
    /// the launcher exited 0, with the daemon's pid.
    pub fn daemon(dir: &TempDir, args: &[&str], pidfile: &Path) -> Tinyd {
        let mut t = Self::reaper(dir);
        t.pid = start_daemon(args, pidfile);
        t
    }

    /// No tinyd yet: only cleans up the test's processes on drop (set
    /// `pid` to a daemon's to have it killed too).
    pub fn reaper(dir: &TempDir) -> Tinyd {
        Tinyd {
            child: None,
            pid: 0,
            status: None,
            dir: dir.path().to_string_lossy().into_owned(),
            err: dir.join("tinyd.stderr"),
            markers: Vec::new(),
            pgids: Vec::new(),
            pids: Vec::new(),
        }
    }

    /// Also kill processes whose command line contains `m` on drop.
    pub fn marker(&mut self, m: &str) {
        self.markers.push(m.to_string());
    }

    /// Also kill process group `g` on drop.
    pub fn group(&mut self, g: i32) {
        self.pgids.push(g);
    }

    /// Also kill process `p` on drop.
    pub fn process(&mut self, p: i32) {
        self.pids.push(p);
    }

    /// Waits (with a deadline) until tinyd (not a daemon) exits and
    /// reaps it.
    pub fn wait_exit(&mut self, secs: f64) -> ExitStatus {
        wait_child(&mut self.child, &mut self.status, secs)
    }

    /// Whether tinyd has exited (reaping it if so).
    pub fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) if self.status.is_none() => self.status = c.try_wait().unwrap(),
            Some(_) => {}
            None => return !alive(self.pid),
        }
        self.status.is_some()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// SIGTERM, then checks tinyd (a child) exits 0 within `secs`;
    /// returns how long it took.
    pub fn stop(&mut self, secs: f64) -> Duration {
        let t0 = Instant::now();
        assert!(signal(self.pid, SIGTERM));
        let st = self.wait_exit(secs);
        let took = t0.elapsed();
        assert_eq!(
            st.code(),
            Some(0),
            "tinyd exits 0 after SIGTERM ({st:?}); stderr: {}",
            self.stderr()
        );
        took
    }
}

fn cmdline(pid: i32) -> String {
    super::cmdline(pid).join(" ")
}

/// Processes (zombies included), other than this one, whose command line
/// (arguments joined by spaces) contains `needle`.
pub fn procs_matching(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok())
            && p != me
            && cmdline(p).contains(needle)
        {
            v.push(p);
        }
    }
    v
}

/// Whether `pid` is a live process running `sleep ARG`.
pub fn is_sleep(pid: i32, arg: &str) -> bool {
    alive(pid) && cmdline(pid).trim_end() == format!("sleep {arg}")
}

impl Drop for Tinyd {
    fn drop(&mut self) {
        if self.pid > 0 && self.status.is_none() && alive(self.pid) {
            signal(self.pid, SIGSTOP);
            for c in all_children(self.pid) {
                if let Some(s) = stat(c) {
                    kill_group(s.pgrp);
                }
                signal(c, SIGKILL);
            }
            signal(self.pid, SIGKILL);
        }
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        for &g in &self.pgids {
            kill_group(g);
        }
        for &p in &self.pids {
            signal(p, SIGKILL);
        }
        let mut needles = self.markers.clone();
        needles.push(format!("{}/", self.dir));
        // Twice: a process forked while the first round ran is caught by
        // the second.
        for _ in 0..2 {
            for n in &needles {
                for p in procs_matching(n) {
                    if let Some(s) = stat(p) {
                        kill_group(s.pgrp);
                    }
                    signal(p, SIGKILL);
                }
            }
        }
    }
}

// ---- time -------------------------------------------------------------

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + if m <= 2 { 1 } else { 0 }, m, d)
}

fn num(s: &str, lo: i64, hi: i64) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = s.parse().ok()?;
    (lo..=hi).contains(&v).then_some(v)
}

/// Parses exactly `YYYY-MM-DDTHH:MM:SS.mmmZ` into ms since the epoch.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 24 || !s.is_ascii() {
        return None;
    }
    let sep = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ];
    if sep.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let y = num(&s[0..4], 1970, 9999)?;
    let mo = num(&s[5..7], 1, 12)?;
    let d = num(&s[8..10], 1, 31)?;
    let h = num(&s[11..13], 0, 23)?;
    let mi = num(&s[14..16], 0, 59)?;
    let se = num(&s[17..19], 0, 60)?;
    let ms = num(&s[20..23], 0, 999)?;
    let days = days_from_civil(y, mo, d);
    if civil_from_days(days) != (y, mo, d) {
        return None; // e.g. Feb 30
    }
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000 + ms)
}

/// `Mmm dd hh:mm:ss` (RFC 3164, day space-padded) for a UTC time.
pub fn rfc3164(secs: i64) -> String {
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, m, d) = civil_from_days(secs.div_euclid(86400));
    let r = secs.rem_euclid(86400);
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        M[m as usize - 1],
        d,
        r / 3600,
        r / 60 % 60,
        r % 60
    )
}

// ---- log files ----------------------------------------------------------

/// One line of a log file: timestamp (ms) and what follows it.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub ms: i64,
    pub rest: String,
}

/// The complete lines of a log file (a trailing partial line is left
/// out); panics on a line that does not start with a timestamp.
pub fn log_lines(path: &Path) -> Vec<LogLine> {
    let s = match fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => return Vec::new(),
    };
    let mut v = Vec::new();
    let complete = match s.rfind('\n') {
        Some(i) => &s[..i + 1],
        None => "",
    };
    for l in complete.lines() {
        let ts = l.get(..24).unwrap_or("");
        let ms = parse_rfc3339_ms(ts)
            .unwrap_or_else(|| panic!("{}: bad timestamp in line {l:?}", path.display()));
        assert_eq!(
            l.as_bytes().get(24),
            Some(&b' '),
            "no space after timestamp: {l:?}"
        );
        v.push(LogLine {
            ms,
            rest: l[25..].to_string(),
        });
    }
    v
}

/// Output lines of NAME: (ms, TEXT).
pub fn output(path: &Path, name: &str) -> Vec<(i64, String)> {
    let p = format!("{name}: ");
    log_lines(path)
        .into_iter()
        .filter_map(|l| l.rest.strip_prefix(&p).map(|t| (l.ms, t.to_string())))
        .collect()
}

/// tinyd's events about NAME: (ms, EVENT).
pub fn events(path: &Path, name: &str) -> Vec<(i64, String)> {
    let p = format!("tinyd: {name}: ");
    log_lines(path)
        .into_iter()
        .filter_map(|l| l.rest.strip_prefix(&p).map(|t| (l.ms, t.to_string())))
        .collect()
}

/// (ms, pid) of every `started pid N` event.
pub fn starts(path: &Path, name: &str) -> Vec<(i64, i32)> {
    events(path, name)
        .into_iter()
        .filter_map(|(ms, e)| Some((ms, e.strip_prefix("started pid ")?.parse().ok()?)))
        .collect()
}

/// Waits until the log holds at least `n` starts; returns them.
pub fn wait_starts(path: &Path, name: &str, n: usize, secs: f64) -> Vec<(i64, i32)> {
    wait_for(
        secs,
        &format!("{n} `started pid` events in {}", path.display()),
        || {
            let s = starts(path, name);
            (s.len() >= n).then_some(s)
        },
    )
}

/// Waits until NAME wrote a line with exactly `text`.
pub fn wait_output(path: &Path, name: &str, text: &str, secs: f64) {
    wait_until(
        secs,
        &format!("output line {text:?} in {}", path.display()),
        || output(path, name).iter().any(|(_, t)| t == text),
    );
}

/// Waits until a process is quiet: sleeping, nothing pending, and its
/// context-switch count unchanged over 200 ms.
pub fn wait_quiet(pid: i32, secs: f64) {
    let mut last = (u64::MAX, Instant::now());
    wait_until(secs, "tinyd is idle", || {
        let st = stat(pid).map(|s| s.state);
        let pend = status_field(pid, "ShdPnd").zip(status_field(pid, "SigPnd"));
        let idle = st == Some('S')
            && pend.is_some_and(|(a, b)| {
                a.trim_start_matches('0').is_empty() && b.trim_start_matches('0').is_empty()
            });
        let n = ctxt(pid);
        if !idle || n != last.0 {
            last = (n, Instant::now());
            return false;
        }
        last.1.elapsed() >= Duration::from_millis(200)
    });
}

/// voluntary + nonvoluntary context switches.
pub fn ctxt(pid: i32) -> u64 {
    let f = |k| {
        status_field(pid, k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    f("voluntary_ctxt_switches") + f("nonvoluntary_ctxt_switches")
}

/// `tinyd -f -n full ARGS -o MNT/out.log SVC` in a mount namespace of its
/// own, with a tmpfs of `size` (`64k`, `1m`) at `d/mnt`: the guard, and the
/// tmpfs as seen from outside (through tinyd's /proc/PID/root).
pub fn on_small_tmpfs(d: &TempDir, size: &str, args: &str, svc: &Path) -> (Tinyd, PathBuf) {
    let mnt = d.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size={size} tinyd-full '{m}' && exec '{t}' -f -n full {args} -o '{m}/out.log' '{s}'",
            m = s(&mnt),
            t = s(&bin()),
            s = s(svc)
        ));
    let t = Tinyd::spawn_cmd(d, "full", c);
    let root = PathBuf::from(format!("/proc/{}/root{}", t.pid, s(&mnt)));
    (t, root)
}

/// Fills the file system of directory `dir` with a file `filler`.
pub fn fill_disk(dir: &Path) {
    use std::io::Write;
    let mut f = fs::File::create(dir.join("filler")).unwrap();
    let chunk = [b'f'; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filler: {e}"),
        }
    }
}
