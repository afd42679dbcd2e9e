//! Shared helpers for the integration tests: launch the built binary, wait
//! for conditions with deadlines, read what the kernel says in /proc.
//!
//! No dependencies beyond std: the few syscalls the tests need (kill) are
//! declared from the C library std already links.
#![allow(dead_code)]

pub mod launch;
pub mod multi;
pub mod ready;
pub mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn getpid() -> i32;
    fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
}

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGUSR2: i32 = 12;
pub const SIGPIPE: i32 = 13;
pub const SIGTERM: i32 = 15;
pub const SIGCHLD: i32 = 17;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;

pub const RLIMIT_NPROC: i32 = 6;
pub const RLIMIT_NOFILE: i32 = 7;

#[repr(C)]
struct Rlimit {
    cur: u64,
    max: u64,
}

/// Sets a resource limit (soft and hard) in a child before it execs.
pub fn limit(c: &mut Command, resource: i32, n: u64) {
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe,
    // on a struct it owns.
    unsafe {
        c.pre_exec(move || {
            let r = Rlimit { cur: n, max: n };
            if setrlimit(resource, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The tinyd binary under test: $TINYD_BIN, else the one cargo built.
pub fn bin() -> PathBuf {
    std::env::var_os("TINYD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tinyd")))
}

/// `kill(pid, sig)`; true on success.
pub fn signal(pid: i32, sig: i32) -> bool {
    // SAFETY: kill takes plain integers.
    unsafe { kill(pid, sig) == 0 }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match stat(pid) {
        Some(s) => s.state != 'Z',
        None => false,
    }
}

/// A fresh, empty directory for one test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        // SAFETY: getpid has no preconditions.
        let me = unsafe { getpid() };
        let p = std::env::temp_dir().join(format!("tinyd-test-{tag}-{me}-{n}"));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    /// Writes an executable shell script and returns its path.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        // A shell reads its script as it runs: never rewrite one in place
        // (a truncated file makes a starting shell exit at once). Write a
        // new file and rename it over the old one, and only when it changed.
        let p = self.join(name);
        let text = format!("#!/bin/sh\n{body}\n");
        if fs::read_to_string(&p).ok().as_deref() != Some(text.as_str()) {
            let tmp = self.join(&format!(".{name}.new"));
            fs::write(&tmp, text).unwrap();
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
            fs::rename(&tmp, &p).unwrap();
        }
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Polls `cond` every 10 ms until it holds or `secs` pass; panics with
/// `what` on timeout.
pub fn wait_until(secs: f64, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while !cond() {
        if Instant::now() > end {
            panic!("timed out after {secs}s waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Like `wait_until`, but returns the value `f` produced.
pub fn wait_for<T>(secs: f64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {secs}s waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A command for the binary under test.
pub fn tinyd() -> Command {
    let mut c = Command::new(bin());
    c.stdin(Stdio::null());
    c
}

/// Runs tinyd to completion with a deadline, capturing its output.
pub fn run(args: &[&str]) -> Output {
    run_cmd(tinyd().args(args))
}

/// Runs a prepared command to completion (30 s at most).
pub fn run_cmd(c: &mut Command) -> Output {
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let guard = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
            if !alive(pid) {
                return;
            }
        }
        signal(pid, SIGKILL);
    });
    let out = child.wait_with_output().unwrap();
    let _ = guard.join();
    out
}

/// Fields of /proc/PID/stat that the tests look at.
#[derive(Debug, Clone)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
    pub utime: u64,
    pub stime: u64,
}

pub fn stat(pid: i32) -> Option<Stat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: f[0].chars().next()?,
        ppid: f[1].parse().ok()?,
        pgrp: f[2].parse().ok()?,
        session: f[3].parse().ok()?,
        tty_nr: f[4].parse().ok()?,
        utime: f[11].parse().ok()?,
        stime: f[12].parse().ok()?,
    })
}

/// A process's CPU time so far, in clock ticks (1/100 s): utime + stime.
pub fn cpu(pid: i32) -> u64 {
    stat(pid)
        .map(|s| s.utime + s.stime)
        .unwrap_or_else(|| panic!("process {pid} alive"))
}

/// A field of /proc/PID/status ("Umask", "SigBlk", "SigIgn", "Uid", ...).
pub fn status_field(pid: i32, key: &str) -> Option<String> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| {
        l.strip_prefix(key)?
            .strip_prefix(':')
            .map(|v| v.trim().to_string())
    })
}

/// A field of /proc/PID/smaps_rollup in kB ("Rss", "Private_Dirty").
pub fn smaps_kb(pid: i32, key: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines().find_map(|l| {
        l.strip_prefix(key)?
            .strip_prefix(':')?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

/// Rss and dirty memory (Private_Dirty + Shared_Dirty) of a process, in
/// kB, or None once it is gone. Dirty pages that tinyd shares with its log
/// writer (a fork) count as Shared_Dirty and become Private_Dirty when the
/// writer exits, or when the binary just built is still dirty in the page
/// cache: the sum is what grows only when memory does.
pub fn try_mem(pid: i32) -> Option<(u64, u64)> {
    let rss = smaps_kb(pid, "Rss")?;
    let dirty = smaps_kb(pid, "Private_Dirty")? + smaps_kb(pid, "Shared_Dirty")?;
    Some((rss, dirty))
}

/// [`try_mem`] of a process that must be there.
pub fn mem(pid: i32) -> (u64, u64) {
    try_mem(pid).expect("smaps_rollup")
}

/// Checks that Rss and dirty memory (from `mem`) grew by 8 kB at most.
pub fn assert_flat(what: &str, before: (u64, u64), after: (u64, u64)) {
    assert!(
        after.0 <= before.0 + 8 && after.1 <= before.1 + 8,
        "{what}: Rss/dirty grew from {before:?} to {after:?} kB"
    );
    eprintln!("{what}: Rss/dirty {before:?} -> {after:?} kB");
}

/// A process's environment.
pub fn environ(pid: i32) -> Vec<String> {
    let b = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    b.split(|&c| c == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The descriptors open in a process, with what they point to.
pub fn fds(pid: i32) -> Vec<(i32, String)> {
    // Right after the exec that made the process findable, its loader may
    // still hold a descriptor: qemu-user (cross/test.sh) the program's,
    // ld.so a shared library's (a dynamic COMMAND, such as the host's
    // `sleep` under riscv64). Wait until they have let go, so that only
    // the program's own descriptors are seen.
    let program = fs::canonicalize(exe(pid)).unwrap_or_default();
    let loading = |t: &str| {
        let p = Path::new(t);
        (emulated(pid) && p == program)
            || p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".so") || n.contains(".so."))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while raw_fds(pid).iter().any(|(_, t)| loading(t)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    raw_fds(pid)
}

/// Whether qemu-user runs `pid` through binfmt_misc (see [`cmdline`]).
pub fn emulated(pid: i32) -> bool {
    let b = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    b.split(|&c| c == 0)
        .next()
        .is_some_and(|a| a.ends_with(b"-binfmt-P"))
}

fn raw_fds(pid: i32) -> Vec<(i32, String)> {
    let mut v: Vec<(i32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let n = e.file_name().to_str()?.parse().ok()?;
                let t = fs::read_link(e.path()).ok()?.to_string_lossy().into_owned();
                Some((n, t))
            })
            .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every child of a process (from /proc/PID/task/PID/children).
pub fn all_live_children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Whether `pid` is a log writer (`tinyd-log`, the child tinyd starts when
/// a service logs to a file).
pub fn is_log_writer(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "tinyd-log")
}

/// The children of a process but tinyd's log writer: for tinyd, its
/// services.
pub fn children(pid: i32) -> Vec<i32> {
    all_live_children(pid)
        .into_iter()
        .filter(|&c| !is_log_writer(c))
        .collect()
}

/// tinyd's log writer, if it runs.
pub fn log_writer(pid: i32) -> Option<i32> {
    all_live_children(pid)
        .into_iter()
        .find(|&c| is_log_writer(c))
}

/// Every process whose parent is `pid`, found by scanning /proc (works for
/// zombies too).
fn every_child(pid: i32) -> Vec<i32> {
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok())
            && stat(p).map(|s| s.ppid) == Some(pid)
        {
            v.push(p);
        }
    }
    v
}

/// Every process whose parent is `pid` (zombies too), but a running log
/// writer of tinyd's.
pub fn all_children(pid: i32) -> Vec<i32> {
    every_child(pid)
        .into_iter()
        .filter(|&c| !is_log_writer(c) || stat(c).is_some_and(|s| s.state == 'Z'))
        .collect()
}

/// Zombies whose parent is `pid`.
pub fn zombies_of(pid: i32) -> Vec<i32> {
    every_child(pid)
        .into_iter()
        .filter(|&c| stat(c).is_some_and(|s| s.state == 'Z'))
        .collect()
}

/// Every process (zombies included) in process group `pgrp`.
pub fn group_members(pgrp: i32) -> Vec<i32> {
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok())
            && stat(p).map(|s| s.pgrp) == Some(pgrp)
        {
            v.push(p);
        }
    }
    v
}

/// Live (not zombie) members of process group `g`.
pub fn live_members(g: i32) -> Vec<i32> {
    group_members(g).into_iter().filter(|&p| alive(p)).collect()
}

/// SIGKILLs process group `g`, unless it is init's, the kernel's or this
/// test process's own.
pub fn kill_group(g: i32) {
    let me = stat(std::process::id() as i32).map(|s| s.pgrp).unwrap_or(0);
    if g > 1 && g != me {
        signal(-g, SIGKILL);
    }
}

/// Reads a pidfile's PID, if the file holds one.
pub fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Starts tinyd in daemon mode with a pidfile and returns the daemon's pid
/// once the launcher has exited 0.
pub fn start_daemon(args: &[&str], pidfile: &Path) -> i32 {
    let mut all = vec!["-p", pidfile.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(
        out.status.success(),
        "launcher failed: {:?} {}",
        out.status,
        text(&out.stderr)
    );
    read_pid(pidfile).expect("pidfile holds a pid after a successful start")
}

/// Sends SIGTERM to a daemon and waits until it is gone.
pub fn stop_daemon(pid: i32) {
    signal(pid, SIGTERM);
    wait_until(15.0, "daemon exits after SIGTERM", || !alive(pid));
}

/// A process that the test spawned and must not leave behind: killed on drop.
pub struct Guard(pub std::process::Child);

impl Guard {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A path as a String (tests only use UTF-8 paths).
pub fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// The argument vector of a process (empty for zombies and kernel threads).
///
/// A foreign-architecture program run by qemu-user through binfmt_misc
/// (cross/test.sh) shows qemu's own vector, `INTERP PATH ARGV0 ARGS...`
/// (the `P` flag keeps ARGV0): that is turned back into the program's.
pub fn cmdline(pid: i32) -> Vec<String> {
    let b = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let b = b.strip_suffix(&[0]).unwrap_or(&b);
    if b.is_empty() {
        return Vec::new();
    }
    let mut v: Vec<String> = b
        .split(|&c| c == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if v.len() >= 3 && v[0].ends_with("-binfmt-P") {
        v.drain(..2);
    }
    v
}

/// The program a process runs: `/proc/PID/exe`, or, for a foreign program
/// that qemu-user runs through binfmt_misc (see [`cmdline`]), the path
/// binfmt_misc handed to qemu.
pub fn exe(pid: i32) -> PathBuf {
    if emulated(pid) {
        let b = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if let Some(path) = b.split(|&c| c == 0).nth(1) {
            return PathBuf::from(String::from_utf8_lossy(path).into_owned());
        }
    }
    fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

/// Live processes (other than this test process) with `marker` in an argument.
pub fn procs_with(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|x| x.parse::<i32>().ok()) else {
            continue;
        };
        if p != me && alive(p) && cmdline(p).iter().any(|a| a.contains(marker)) {
            v.push(p);
        }
    }
    v
}

/// Waits (with a deadline) until a guard's tinyd, a child, exits; reaps it
/// once and remembers its status.
pub fn wait_child(
    child: &mut Option<std::process::Child>,
    status: &mut Option<std::process::ExitStatus>,
    secs: f64,
) -> std::process::ExitStatus {
    if let Some(s) = *status {
        return s;
    }
    let child = child.as_mut().expect("wait_exit is for a child tinyd");
    let s = wait_for(secs, "tinyd exits", || child.try_wait().unwrap());
    *status = Some(s);
    s
}
