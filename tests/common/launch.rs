//! Helpers for the launch tests (tests/command.rs, tests/daemon.rs): unique
//! markers, process lookup by command line, a `Reaper` that kills whatever
//! carries a marker, and running tinyd with its output captured.
use super::*;
use std::fs::{self, File};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A number used by no other test in any test binary: the first four
/// digits a per-binary prefix and a counter, the last seven (after the
/// point) our pid.
/// `prefix` tells the test binaries apart.
pub fn uniq_in(prefix: u8) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    // A duration `sleep` takes on 32-bit boards too (busybox refuses one
    // over 2^32 s): PREFIX NNN . PID, a few hours at the most.
    format!("{prefix}{:03}.{:07}", n, std::process::id())
}

/// The marker for processes that mention files of this TempDir.
pub fn dir_marker(t: &TempDir) -> String {
    format!("{}/", s(t.path()))
}

/// Checks that a failed launcher wrote exactly one line, `tinyd: ...`.
pub fn assert_one_error_line(o: &Out, what: &str) {
    assert!(
        o.stderr.starts_with("tinyd: ")
            && o.stderr.ends_with('\n')
            && o.stderr.lines().count() == 1,
        "{what}: expected exactly one line starting `tinyd: ` on stderr, got {:?}",
        o.stderr
    );
}

/// The path the kernel shows for an open file (the path itself if missing).
pub fn canon(p: &Path) -> String {
    s(&fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// Waits (with a deadline) until no process carries `marker`.
pub fn assert_no_process(marker: &str) {
    wait_until(
        10.0,
        &format!("no process left with {marker:?} in its command line"),
        || procs_with(marker).is_empty(),
    );
}

/// Kills, when dropped, every process that carries one of the markers.
pub struct Reaper(Vec<String>);

impl Reaper {
    pub fn new(markers: &[&str]) -> Reaper {
        Reaper(markers.iter().map(|m| m.to_string()).collect())
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for _ in 0..3 {
            for m in &self.0 {
                for p in procs_with(m) {
                    signal(p, SIGKILL);
                }
            }
        }
    }
}

/// What a finished launcher left.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a prepared command to completion (20 s at most). Its stdout and
/// stderr go to files, not pipes, so a daemon that kept them open cannot
/// make the test hang.
pub fn launch(t: &TempDir, c: &mut Command) -> Out {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let (o, e) = (
        t.join(&format!("launch{n}.out")),
        t.join(&format!("launch{n}.err")),
    );
    c.stdout(File::create(&o).unwrap())
        .stderr(File::create(&e).unwrap());
    let mut g = Guard(c.spawn().unwrap());
    let status = wait_for(20.0, "the launched tinyd exits", || g.0.try_wait().unwrap());
    drop(g);
    Out {
        status,
        stdout: fs::read_to_string(&o).unwrap(),
        stderr: fs::read_to_string(&e).unwrap(),
    }
}

/// tinyd with these arguments.
pub fn td(args: &[&str]) -> Command {
    let mut c = tinyd();
    c.args(args);
    c
}

pub fn run_t(t: &TempDir, args: &[&str]) -> Out {
    launch(t, &mut td(args))
}

/// Starts a daemon with pidfile `t/pid`; returns the daemon's pid.
pub fn start(t: &TempDir, args: &[&str]) -> i32 {
    let pf = s(&t.join("pid"));
    let mut all = vec!["-p", pf.as_str()];
    all.extend_from_slice(args);
    let o = run_t(t, &all);
    assert_eq!(
        o.status.code(),
        Some(0),
        "launcher failed: {:?} {}",
        o.status,
        o.stderr
    );
    read_pid(&t.join("pid")).expect("pidfile holds a pid after a successful start")
}

/// The child of `parent` whose argv is exactly `argv` (waits for it).
pub fn find_child(parent: i32, argv: &[&str]) -> i32 {
    wait_for(10.0, &format!("a child {argv:?} of {parent}"), || {
        children(parent).into_iter().find(|&c| cmdline(c) == argv)
    })
}
