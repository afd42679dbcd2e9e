//! Helpers for the config-mode tests (tests/config.rs, tests/control.rs):
//! configuration files, `tinyd ctl` and the raw protocol, status lines, and
//! a `Td` guard that leaves nothing running when a test ends.
use super::*;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What every process of a test carries in its command line.
pub fn marker(d: &TempDir) -> String {
    format!("{}/", s(d.path()))
}

/// Writes a file in the test's directory; returns its path.
pub fn write(d: &TempDir, name: &str, text: &str) -> String {
    let p = d.join(name);
    fs::write(&p, text).unwrap();
    s(&p)
}

/// The service script: records its start in `ran.NAME` (when it may
/// write there), then stays up. `$1` is the service's name.
pub fn svc_script(d: &TempDir) -> String {
    let ran = s(&d.join("ran."));
    s(&d.script(
        "svc.sh",
        &format!("echo $$ >> '{ran}'\"$1\" 2>/dev/null\nwhile :; do sleep 2; done"),
    ))
}

/// A script that ignores SIGTERM, as do its children.
pub fn stubborn_script(d: &TempDir) -> String {
    s(&d.script("stubborn.sh", "trap '' TERM\nwhile :; do sleep 1; done"))
}

/// A `[NAME]` section running the service script, with short delays,
/// plus `extra` lines.
pub fn service(d: &TempDir, name: &str, extra: &str) -> String {
    format!(
        "[{name}]\nexec = {} {name}\nrestart-delay = 0.2\nstop-timeout = 2\n{extra}\n",
        svc_script(d)
    )
}

/// A two-line `[NAME]` section.
pub fn service_min(d: &TempDir, name: &str) -> String {
    format!("[{name}]\nexec = {} {name}\n", svc_script(d))
}

/// `2026-11-25T11:23:34.123Z`
pub fn timestamp_ok(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// The lines of a log file without their timestamps.
fn log_lines(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| Some(l.split_once(' ')?.1.to_string()))
        .collect()
}

/// The output lines of service `name` in a log file.
pub fn output(log: &Path, name: &str) -> Vec<String> {
    let p = format!("{name}: ");
    log_lines(log)
        .iter()
        .filter_map(|l| Some(l.strip_prefix(&p)?.to_string()))
        .collect()
}

/// tinyd's events in a log file (what follows `tinyd: `).
pub fn events(log: &Path) -> Vec<String> {
    output(log, "tinyd")
}

/// A finished command.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs tinyd with `args` to completion (20 s at most). Its stdout and
/// stderr go to files, so that a daemon keeping them open cannot make
/// the test hang.
pub fn launch(d: &TempDir, args: &[&str]) -> Out {
    let mut c = tinyd();
    c.args(args);
    launch_cmd(d, &mut c)
}

pub fn launch_cmd(d: &TempDir, c: &mut Command) -> Out {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let (o, e) = (
        d.join(&format!("launch{n}.out")),
        d.join(&format!("launch{n}.err")),
    );
    c.stdout(File::create(&o).unwrap())
        .stderr(File::create(&e).unwrap());
    let mut g = Guard(c.spawn().unwrap());
    let status = wait_for(20.0, "the launched command exits", || {
        g.0.try_wait().unwrap()
    });
    drop(g);
    Out {
        code: status.code(),
        signal: status.signal(),
        stdout: fs::read_to_string(&o).unwrap(),
        stderr: fs::read_to_string(&e).unwrap(),
    }
}

pub fn out(o: std::process::Output) -> Out {
    Out {
        code: o.status.code(),
        signal: o.status.signal(),
        stdout: text(&o.stdout),
        stderr: text(&o.stderr),
    }
}

/// `tinyd ctl -s SOCK ARGS...`, run to completion.
pub fn ctl(sock: &Path, args: &[&str]) -> Out {
    let mut c = tinyd();
    c.arg("ctl").arg("-s").arg(sock).args(args);
    let o = run_cmd(&mut c);
    out(o)
}

/// Reads until end of file or an error (a reset after the reply);
/// retries when interrupted (a socket read with a timeout fails with
/// EINTR when any signal arrives, even one without a handler).
pub fn read_all(st: &mut UnixStream) -> Vec<u8> {
    let mut v = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match st.read(&mut b) {
            Ok(0) => return v,
            Ok(n) => v.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return v,
        }
    }
}

/// One request over the raw protocol: the reply's status and text.
pub fn ask(sock: &Path, req: &str) -> Option<(i32, String)> {
    let mut st = UnixStream::connect(sock).ok()?;
    st.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    st.write_all(format!("{req}\n").as_bytes()).ok()?;
    let r = String::from_utf8_lossy(&read_all(&mut st)).into_owned();
    let (head, rest) = r.split_once('\n')?;
    Some((head.parse().ok()?, rest.to_string()))
}

/// Like `ask`, but says what went wrong: a failed connect, write or read
/// (other than an interruption), a reply that is not UTF-8 or has no
/// status line.
pub fn ask_verbose(sock: &Path, req: &str) -> Result<(i32, String), String> {
    let mut st = UnixStream::connect(sock).map_err(|e| format!("connect: {e}"))?;
    st.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    st.write_all(format!("{req}\n").as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut v = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match st.read(&mut b) {
            Ok(0) => break,
            Ok(n) => v.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read after {:?}: {e}", String::from_utf8_lossy(&v))),
        }
    }
    let r = String::from_utf8(v).map_err(|e| format!("reply not UTF-8: {e}"))?;
    let (head, rest) = r.split_once('\n').ok_or(format!("reply {r:?}"))?;
    Ok((
        head.parse().map_err(|_| format!("reply {r:?}"))?,
        rest.to_string(),
    ))
}

/// A line of `status`: `NAME STATE PID UP RESTARTS LAST`, then, for a
/// service that sent `STATUS=` (sd_notify), ` TEXT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub state: String,
    pub pid: Option<i32>,
    pub up: String,
    pub restarts: String,
    pub last: String,
    /// The service's `STATUS=` text (empty when it sent none).
    pub text: String,
}

pub fn parse_status(text: &str) -> Vec<Line> {
    text.lines()
        .map(|l| {
            // The six fields, and what follows them (the STATUS= text,
            // which may hold spaces).
            let f: Vec<&str> = l.splitn(7, ' ').collect();
            assert!(
                f.len() == 6 || (f.len() == 7 && !f[6].is_empty()),
                "status line has 6 fields (and maybe a STATUS= text): {l:?}"
            );
            Line {
                name: f[0].into(),
                state: f[1].into(),
                pid: if f[2] == "-" {
                    None
                } else {
                    Some(f[2].parse().unwrap_or_else(|_| panic!("pid in {l:?}")))
                },
                up: f[3].into(),
                restarts: f[4].into(),
                last: f[5].into(),
                text: f.get(6).map(|t| t.to_string()).unwrap_or_default(),
            }
        })
        .collect()
}

/// `status` over the raw protocol.
pub fn status(sock: &Path) -> Option<(i32, Vec<Line>)> {
    let (c, t) = ask(sock, "status")?;
    Some((c, parse_status(&t)))
}

/// The status line of `name`, over the raw protocol (None: no answer, or
/// no such line).
pub fn line_of(sock: &Path, name: &str) -> Option<Line> {
    let (_, lines) = status(sock)?;
    lines.into_iter().find(|l| l.name == name)
}

/// Waits until `name`'s state is `state`; returns its line (on timeout,
/// panics with the last line seen).
pub fn wait_state(sock: &Path, name: &str, state: &str, secs: f64) -> Line {
    let end = std::time::Instant::now() + Duration::from_secs_f64(secs);
    loop {
        let l = line_of(sock, name);
        if let Some(l) = l.as_ref().filter(|l| l.state == state) {
            return l.clone();
        }
        assert!(
            std::time::Instant::now() < end,
            "timed out after {secs}s waiting for {name} to be {state}; last: {l:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pids of the named services once they all run, in that order.
pub fn running_pids(sock: &Path, names: &[&str]) -> Option<Vec<i32>> {
    let (_, lines) = status(sock)?;
    names
        .iter()
        .map(|n| {
            let l = lines.iter().find(|l| l.name == *n)?;
            if l.state == "running" { l.pid } else { None }
        })
        .collect()
}

/// tinyd started by a test (or found through its pidfile).
pub struct Td {
    child: Option<Child>,
    pub pid: i32,
    status: Option<ExitStatus>,
    dir: String,
    marker: String,
    pgids: Vec<i32>,
}

impl Td {
    /// tinyd with `args`, stdout and stderr to files in the directory.
    pub fn spawn(d: &TempDir, args: &[&str]) -> Td {
        Self::spawn_env(d, args, &[])
    }

    pub fn spawn_env(d: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Td {
        Self::spawn_cmd(d, tinyd(), args, env)
    }

    /// `c` (tinyd) with `args` and `env`, stdout and stderr to files in
    /// the directory.
    pub fn spawn_cmd(d: &TempDir, mut c: Command, args: &[&str], env: &[(&str, &str)]) -> Td {
        c.args(args)
            .stdout(File::create(d.join("tinyd.stdout")).unwrap())
            .stderr(File::create(d.join("tinyd.stderr")).unwrap());
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c.spawn().expect("spawn tinyd");
        let mut t = Self::reaper(d);
        t.pid = child.id() as i32;
        t.child = Some(child);
        t
    }

    /// `tinyd -f -p DIR/tinyd.pid --control DIR/ctl.sock -c CONF`.
    /// tinyd in the foreground on a file `t.conf` holding `text`, once
    /// `names` run: the guard, the control socket, the services' pids.
    pub fn up(d: &TempDir, text: &str, names: &[&str]) -> (Td, PathBuf, Vec<i32>) {
        let conf = write(d, "t.conf", text);
        let mut t = Td::foreground(d, &conf);
        let sock = d.join("ctl.sock");
        let p = t.running(&sock, names);
        (t, sock, p)
    }

    pub fn foreground(d: &TempDir, conf: &str) -> Td {
        let (p, c) = (s(&d.join("tinyd.pid")), s(&d.join("ctl.sock")));
        Self::spawn(d, &["-f", "-p", &p, "--control", &c, "-c", conf])
    }

    /// No tinyd yet: only cleans up the test's processes on drop (set
    /// `pid` to a daemon's to have it killed too).
    pub fn reaper(d: &TempDir) -> Td {
        Td {
            child: None,
            pid: 0,
            status: None,
            dir: s(d.path()),
            marker: marker(d),
            pgids: Vec::new(),
        }
    }

    /// Waits until the named services run; returns their pids (and
    /// remembers their process groups for the cleanup).
    pub fn running(&mut self, sock: &Path, names: &[&str]) -> Vec<i32> {
        let p = wait_for(15.0, &format!("services {names:?} running"), || {
            running_pids(sock, names)
        });
        self.pgids.extend(&p);
        p
    }

    /// Remembers a process group to kill on drop.
    pub fn group(&mut self, g: i32) {
        self.pgids.push(g);
    }

    /// Waits (with a deadline) until tinyd (a child) exits.
    pub fn wait_exit(&mut self, secs: f64) -> ExitStatus {
        wait_child(&mut self.child, &mut self.status, secs)
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(Path::new(&self.dir).join("tinyd.stderr")).unwrap_or_default()
    }

    /// `tinyd ctl shutdown`: checks it answers 0, then that tinyd exits.
    pub fn shutdown(&mut self, sock: &Path) {
        let o = ctl(sock, &["shutdown"]);
        assert_eq!(o.code, Some(0), "shutdown: {o:?}");
        if self.child.is_some() {
            let st = self.wait_exit(20.0);
            assert_eq!(
                st.code(),
                Some(0),
                "tinyd exits 0; stderr: {}",
                self.stderr()
            );
        } else {
            wait_until(20.0, "tinyd exits", || !alive(self.pid));
        }
    }
}

impl Drop for Td {
    fn drop(&mut self) {
        if self.pid > 0 && self.status.is_none() && alive(self.pid) {
            // Freeze tinyd so that it restarts nothing, then kill its
            // services' groups and tinyd.
            signal(self.pid, SIGSTOP);
            for c in all_children(self.pid) {
                if stat(c).is_some_and(|st| st.pgrp == c) {
                    kill_group(c);
                }
                signal(c, SIGKILL);
            }
            signal(self.pid, SIGKILL);
        }
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        for _ in 0..3 {
            for &g in &self.pgids {
                kill_group(g);
            }
            for p in procs_with(&self.marker) {
                if stat(p).is_some_and(|st| st.pgrp == p) {
                    kill_group(p);
                }
                signal(p, SIGKILL);
            }
        }
    }
}
