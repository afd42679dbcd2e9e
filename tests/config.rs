//! Several services from a configuration file (`tinyd -c FILE`): errors
//! with line numbers, the issue's example, per-service settings, the logs,
//! the limits and SIGHUP.
//!
//! Every test has its own TempDir, and every process it starts names a file
//! of that directory in its command line (the directory is the marker), so
//! parallel tests never mistake each other's processes; a `Td` guard kills
//! tinyd, its services' process groups and whatever carries the marker when
//! the test ends, even when an assertion failed.

mod common;

use common::*;
use multi::*;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// A configuration file with errors on lines 4, 5, 7, 11, 12 and 13; the
/// services record every start in `ran.NAME` files.
fn broken_conf(d: &TempDir) -> String {
    let m = svc_script(d);
    format!(
        "# several errors\n\
         [good]\n\
         exec = {m} good\n\
         colour = blue\n\
         [good]\n\
         exec = {m} dup\n\
         [noexec]\n\
         restart = on-failure\n\
         [bad]\n\
         exec = {m} bad\n\
         restart = sometimes\n\
         user = nosuchuser\n\
         this is not a pair\n\
         [last]\n\
         exec = {m} last\n"
    )
}

/// Checks the error lines of `broken_conf` in `stderr`.
fn check_broken_errors(conf: &str, stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    let want: [(u32, &str, &str); 6] = [
        (4, "unknown key", "colour"),
        (5, "duplicate service", "good"),
        (7, "missing exec", "noexec"),
        (11, "bad restart", "sometimes"),
        (12, "unknown user", "nosuchuser"),
        (
            13,
            "expected key = value or [section]",
            "this is not a pair",
        ),
    ];
    assert_eq!(
        lines.len(),
        want.len(),
        "one line per error, nothing else:\n{stderr}"
    );
    for (l, (n, msg, txt)) in lines.iter().zip(want.iter()) {
        let head = format!("tinyd: {conf}:{n}: {msg}");
        assert!(
            l.starts_with(&head) && l.ends_with(&format!(": {txt}")),
            "expected `{head}...: {txt}`, got `{l}`; all:\n{stderr}"
        );
    }
}

/// Nothing of the broken configuration ran or was left behind.
fn check_nothing_started(d: &TempDir) {
    let ran: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ran."))
        .collect();
    assert!(ran.is_empty(), "services were started: {ran:?}");
    assert!(
        procs_with(&marker(d)).is_empty(),
        "processes left: {:?}",
        procs_with(&marker(d))
    );
    assert!(!d.join("tinyd.pid").exists(), "no pidfile");
    assert!(!d.join("ctl.sock").exists(), "no socket");
}

#[test]
fn config_errors_listed_with_line_numbers_foreground() {
    let d = TempDir::new("cfg-err-fg");
    let conf = write(&d, "broken.conf", &broken_conf(&d));
    let (pidf, sock) = (s(&d.join("tinyd.pid")), s(&d.join("ctl.sock")));
    let mut t = Td::spawn(&d, &["-f", "-p", &pidf, "--control", &sock, "-c", &conf]);
    let st = t.wait_exit(20.0);
    assert_eq!(st.code(), Some(78), "stderr: {}", t.stderr());
    check_broken_errors(&conf, &t.stderr());
    check_nothing_started(&d);
}

#[test]
fn config_errors_reach_the_launcher_in_daemon_mode() {
    let d = TempDir::new("cfg-err-daemon");
    let _t = Td::reaper(&d);
    let conf = write(&d, "broken.conf", &broken_conf(&d));
    let (pidf, sock) = (s(&d.join("tinyd.pid")), s(&d.join("ctl.sock")));
    let out = launch(&d, &["-p", &pidf, "--control", &sock, "-c", &conf]);
    assert_eq!(out.code, Some(78), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, "");
    check_broken_errors(&conf, &out.stderr);
    // Give a stray daemon a moment to show itself before looking.
    wait_until(10.0, "no process with the test's marker", || {
        procs_with(&marker(&d)).is_empty()
    });
    check_nothing_started(&d);
}

#[test]
fn options_or_command_with_config_are_usage_errors() {
    let d = TempDir::new("cfg-usage");
    let _t = Td::reaper(&d);
    let conf = write(&d, "ok.conf", &service(&d, "u", ""));
    let a = launch(&d, &["-f", "-c", &conf, "-r", "always"]);
    assert_eq!(a.code, Some(64), "service option with -c: {}", a.stderr);
    let b = launch(&d, &["-f", "-c", &conf, "/bin/true"]);
    assert_eq!(b.code, Some(64), "COMMAND with -c: {}", b.stderr);
    for o in [&a, &b] {
        assert_eq!(o.stderr.lines().count(), 1, "one line: {}", o.stderr);
        assert!(o.stderr.starts_with("tinyd: "), "{}", o.stderr);
    }
    assert!(!d.join("ran.u").exists(), "nothing started");
}

#[test]
fn issue_example_words_and_tinyd_section() {
    let d = TempDir::new("cfg-example");
    let www = d.join("www");
    fs::create_dir(&www).unwrap();
    let devlog = d.join("devlog.sock");
    let syslog = UnixDatagram::bind(&devlog).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let m = marker(&d);
    // Each script prints its $0 and arguments, one per line, then stays up.
    let body = format!(": {m}; printf \"%s\\n\" \"$0\" \"$@\"; while :; do sleep 2; done");
    let text = format!(
        "# /etc/tinyd.conf, adapted\n\
         [tinyd]\n\
         pidfile = {pid}\n\
         control = {sock}\n\
         log = {tlog}\n\
         \n\
         [web]\n\
         exec = sh -c '{body}' httpd -f -p 8080 -h \"/srv/www root\"\n\
         user = nobody\n\
         chdir = {www}\n\
         restart = always\n\
         restart-delay = 1:60\n\
         stop-timeout = 5\n\
         log = {wlog}\n\
         log-size = 256k\n\
         log-keep = 2\n\
         env = LANG=C\n\
         \n\
         [ntp]\n\
         exec = sh -c '{body}' ntpd -n -p 127.0.0.1\n\
         syslog = ntpd\n\
         restart = on-failure\n",
        pid = s(&d.join("tinyd.pid")),
        sock = s(&d.join("ctl.sock")),
        tlog = s(&d.join("tinyd.log")),
        www = s(&www),
        wlog = s(&d.join("web.log")),
    );
    let conf = write(&d, "tinyd.conf", &text);
    let mut t = Td::spawn_env(&d, &["-f", "-c", &conf], &[("TINYD_SYSLOG", &s(&devlog))]);
    let sock = d.join("ctl.sock");
    let pids = t.running(&sock, &["web", "ntp"]);
    assert_eq!(
        read_pid(&d.join("tinyd.pid")),
        Some(t.pid),
        "[tinyd] pidfile used"
    );

    // web: its words, in its own log file.
    let want_web = ["httpd", "-f", "-p", "8080", "-h", "/srv/www root"];
    let web = wait_for(10.0, "web's words in web.log", || {
        let o = output(&d.join("web.log"), "web");
        (o.len() >= want_web.len()).then_some(o)
    });
    assert_eq!(web, want_web, "the words web's COMMAND received");
    assert_eq!(
        status_field(pids[0], "Uid")
            .unwrap()
            .split_whitespace()
            .next(),
        Some("65534")
    );
    assert_eq!(
        fs::read_link(format!("/proc/{}/cwd", pids[0])).unwrap(),
        www
    );
    assert!(environ(pids[0]).contains(&"LANG=C".to_string()));

    // ntp: its words, as syslog datagrams tagged ntpd[PID].
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 2048];
    wait_until(10.0, "ntp's words over syslog", || {
        if let Ok(n) = syslog.recv(&mut buf) {
            let dg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if let Some(rest) = dg.strip_prefix("<30>") {
                // "Nov 25 11:23:34 ntpd[PID]: TEXT"
                let tag = format!(" ntpd[{}]: ", pids[1]);
                if let Some(i) = rest.find(&tag) {
                    got.push(rest[i + tag.len()..].trim_end_matches('\n').to_string());
                }
            }
        }
        got.len() >= 4
    });
    assert_eq!(
        got,
        ["ntpd", "-n", "-p", "127.0.0.1"],
        "the words ntp's COMMAND received"
    );
    assert_eq!(
        status_field(pids[1], "Uid")
            .unwrap()
            .split_whitespace()
            .next(),
        Some("0")
    );
    t.shutdown(&sock);
}

#[test]
fn env_chdir_umask_user_per_service() {
    let d = TempDir::new("cfg-per-svc");
    let (da, db) = (d.join("a"), d.join("b"));
    fs::create_dir(&da).unwrap();
    fs::create_dir(&db).unwrap();
    let text = format!(
        "{}{}",
        service(
            &d,
            "a",
            &format!(
                "env = FOO=one\nenv = BAR=x y\nchdir = {}\numask = 077\n",
                s(&da)
            )
        ),
        service(
            &d,
            "b",
            &format!(
                "env = FOO=two\nchdir = {}\numask = 027\nuser = nobody\n",
                s(&db)
            )
        ),
    );
    let conf = write(&d, "t.conf", &text);
    let mut t = Td::foreground(&d, &conf);
    let sock = d.join("ctl.sock");
    let p = t.running(&sock, &["a", "b"]);
    let (ea, eb) = (environ(p[0]), environ(p[1]));
    assert!(
        ea.contains(&"FOO=one".into()) && ea.contains(&"BAR=x y".into()),
        "{ea:?}"
    );
    assert!(
        eb.contains(&"FOO=two".into()) && !eb.iter().any(|e| e.starts_with("BAR=")),
        "{eb:?}"
    );
    assert!(!ea.contains(&"FOO=two".into()), "{ea:?}");
    assert_eq!(fs::read_link(format!("/proc/{}/cwd", p[0])).unwrap(), da);
    assert_eq!(fs::read_link(format!("/proc/{}/cwd", p[1])).unwrap(), db);
    assert_eq!(status_field(p[0], "Umask").as_deref(), Some("0077"));
    assert_eq!(status_field(p[1], "Umask").as_deref(), Some("0027"));
    let ids = |pid, k| -> Vec<String> {
        status_field(pid, k)
            .unwrap()
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(ids(p[0], "Uid"), ["0", "0", "0", "0"]);
    assert_eq!(ids(p[1], "Uid"), ["65534", "65534", "65534", "65534"]);
    assert_eq!(ids(p[1], "Gid"), ["65534", "65534", "65534", "65534"]);
    t.shutdown(&sock);
}

#[test]
fn tinyd_log_gets_events_and_output_of_services_without_log() {
    let d = TempDir::new("cfg-logs");
    let m = marker(&d);
    let tlog = d.join("tinyd.log");
    let blog = d.join("b.log");
    let loop_ = "while :; do sleep 2; done";
    let text = format!(
        "[tinyd]\nlog = {tl}\n\n\
         [a]\nexec = sh -c ': {m}; echo hello from a; {loop_}'\n\n\
         [b]\nexec = sh -c ': {m}; echo hello from b; {loop_}'\nlog = {bl}\n",
        tl = s(&tlog),
        bl = s(&blog),
    );
    let conf = write(&d, "t.conf", &text);
    let mut t = Td::foreground(&d, &conf);
    let sock = d.join("ctl.sock");
    let p = t.running(&sock, &["a", "b"]);
    wait_until(10.0, "a's output in tinyd.log, b's in b.log", || {
        output(&tlog, "a").contains(&"hello from a".to_string())
            && output(&blog, "b").contains(&"hello from b".to_string())
    });
    let all = fs::read_to_string(&tlog).unwrap();
    for l in all.lines() {
        let (ts, _) = l.split_once(' ').unwrap();
        assert!(timestamp_ok(ts), "line starts with a timestamp: {l:?}");
    }
    assert!(
        !all.contains("hello from b"),
        "b's output only in its own file:\n{all}"
    );
    let ev = events(&tlog);
    assert!(ev.contains(&format!("a: started pid {}", p[0])), "{ev:?}");
    assert!(ev.contains(&format!("b: started pid {}", p[1])), "{ev:?}");
    let bev = events(&blog);
    assert!(
        bev.contains(&format!("b: started pid {}", p[1])),
        "b's events in b.log: {bev:?}"
    );
    assert!(
        !bev.iter().any(|e| e.starts_with("a: ")),
        "a's events not in b.log: {bev:?}"
    );
    // In the foreground the events also go to stderr.
    let err = t.stderr();
    assert!(
        err.contains(&format!("tinyd: a: started pid {}\n", p[0])),
        "{err}"
    );
    t.shutdown(&sock);
    let ev = events(&tlog);
    assert!(
        ev.contains(&"stopping".to_string()) && ev.last().map(String::as_str) == Some("stopped"),
        "{ev:?}"
    );
}

#[test]
fn too_many_services_is_a_config_error() {
    let d = TempDir::new("cfg-65");
    let text: String = (1..=65)
        .map(|i| service_min(&d, &format!("s{i}")))
        .collect();
    let conf = write(&d, "t.conf", &text);
    let mut t = Td::foreground(&d, &conf);
    let st = t.wait_exit(20.0);
    let err = t.stderr();
    assert_eq!(st.code(), Some(78), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // Each service is 2 lines: the 65th header is line 129.
    assert!(
        err.starts_with(&format!("tinyd: {conf}:129: too many services")),
        "{err}"
    );
    check_nothing_started(&d);
}

#[test]
fn file_over_32k_is_a_config_error() {
    let d = TempDir::new("cfg-big");
    let mut text = service_min(&d, "big");
    while text.len() <= 32 * 1024 {
        text.push_str(&format!("# {:080}\n", 0));
    }
    let conf = write(&d, "t.conf", &text);
    let mut t = Td::foreground(&d, &conf);
    let st = t.wait_exit(20.0);
    let err = t.stderr();
    assert_eq!(st.code(), Some(78), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("tinyd: {conf}")) && err.contains("file too large"),
        "{err}"
    );
    check_nothing_started(&d);
}

#[test]
fn daemon_mode_starts_every_service_and_survives_an_exec_failure() {
    let d = TempDir::new("cfg-daemon");
    let mut t = Td::reaper(&d);
    let text = format!(
        "{}[missing]\nexec = {}\nrestart-delay = 0.2\n\n{}",
        service(&d, "one", ""),
        s(&d.join("no-such-command")),
        service(&d, "two", ""),
    );
    let conf = write(&d, "t.conf", &text);
    let (pidf, sock) = (d.join("tinyd.pid"), d.join("ctl.sock"));
    let out = launch(&d, &["-p", &s(&pidf), "--control", &s(&sock), "-c", &conf]);
    assert_eq!(
        out.code,
        Some(0),
        "an exec failure is not fatal in config mode: {}",
        out.stderr
    );
    t.pid = read_pid(&pidf).expect("pidfile written");
    let p = t.running(&sock, &["one", "two"]);
    for pid in &p {
        assert_eq!(
            stat(*pid).unwrap().ppid,
            t.pid,
            "services are children of the daemon"
        );
    }
    let o = ctl(&sock, &["status"]);
    assert_eq!(o.code, Some(3), "missing is not running: {}", o.stdout);
    let st = parse_status(&o.stdout);
    let names: Vec<&str> = st.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["one", "missing", "two"], "file order");
    assert_ne!(st[1].state, "running");
    t.shutdown(&sock);
    wait_until(10.0, "daemon gone", || !alive(t.pid));
    assert!(
        !pidf.exists() && !sock.exists(),
        "pidfile and socket removed"
    );
}

#[test]
fn sighup_reloads_the_file() {
    let d = TempDir::new("cfg-hup");
    let conf = write(&d, "t.conf", &service(&d, "first", ""));
    let mut t = Td::spawn(
        &d,
        &[
            "-f",
            "-p",
            &s(&d.join("tinyd.pid")),
            "--control",
            &s(&d.join("ctl.sock")),
            "-c",
            &conf,
        ],
    );
    let sock = d.join("ctl.sock");
    let p1 = t.running(&sock, &["first"]);
    let text = format!("{}{}", service(&d, "first", ""), service(&d, "second", ""));
    fs::write(&conf, text).unwrap();
    assert!(signal(t.pid, SIGHUP));
    let p2 = t.running(&sock, &["first", "second"]);
    assert_eq!(p2[0], p1[0], "the unchanged service keeps its pid");
    assert!(alive(p2[1]) && cmdline(p2[1]).join(" ").contains("svc.sh second"));
    assert!(
        t.stderr()
            .contains("tinyd: reloaded: 1 added, 0 removed, 0 changed, 1 unchanged"),
        "stderr: {}",
        t.stderr()
    );
    t.shutdown(&sock);
}

// ---------------------------------------------------------------------------
// Helpers shared in spirit with tests/control.rs (kept local so that
// common/mod.rs stays as it is).

mod multi {
    #![allow(dead_code)]
    use super::common::*;
    use std::fs::{self, File};
    use std::io::{ErrorKind, Read, Write};
    use std::os::unix::net::UnixStream;
    use std::os::unix::process::ExitStatusExt;
    use std::path::Path;
    use std::process::{Child, Command, ExitStatus};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    pub const SIGSTOP: i32 = 19;

    /// A path as a String (tests only use UTF-8 paths).
    pub fn s(p: &Path) -> String {
        p.to_str().unwrap().to_string()
    }

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

    /// The argument vector of a process (empty for zombies).
    pub fn cmdline(pid: i32) -> Vec<String> {
        let b = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let b = b.strip_suffix(&[0]).unwrap_or(&b);
        if b.is_empty() {
            return Vec::new();
        }
        b.split(|&c| c == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    /// A process's environment.
    pub fn environ(pid: i32) -> Vec<String> {
        let b = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        b.split(|&c| c == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    /// Live processes (other than this test process) with `marker` in an
    /// argument.
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

    /// Live (not zombie) members of process group `g`.
    pub fn live_members(g: i32) -> Vec<i32> {
        group_members(g).into_iter().filter(|&p| alive(p)).collect()
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

    /// A line of `status`: `NAME STATE PID UP RESTARTS LAST`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Line {
        pub name: String,
        pub state: String,
        pub pid: Option<i32>,
        pub up: String,
        pub restarts: String,
        pub last: String,
    }

    pub fn parse_status(text: &str) -> Vec<Line> {
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                assert_eq!(f.len(), 6, "status line has 6 fields: {l:?}");
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
                }
            })
            .collect()
    }

    /// `status` over the raw protocol.
    pub fn status(sock: &Path) -> Option<(i32, Vec<Line>)> {
        let (c, t) = ask(sock, "status")?;
        Some((c, parse_status(&t)))
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
            let mut c = tinyd();
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
            if let Some(s) = self.status {
                return s;
            }
            let child = self.child.as_mut().expect("wait_exit is for a child tinyd");
            let s = wait_for(secs, "tinyd exits", || child.try_wait().unwrap());
            self.status = Some(s);
            s
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

    fn kill_group(g: i32) {
        let me = stat(std::process::id() as i32).map(|s| s.pgrp).unwrap_or(0);
        if g > 1 && g != me {
            signal(-g, SIGKILL);
        }
    }

    impl Drop for Td {
        fn drop(&mut self) {
            if self.pid > 0 && self.status.is_none() && alive(self.pid) {
                // Freeze tinyd so that it restarts nothing, then kill its
                // services' groups and tinyd.
                signal(self.pid, SIGSTOP);
                for c in all_children(self.pid) {
                    if let Some(st) = stat(c) {
                        if st.pgrp == c {
                            kill_group(c);
                        }
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
                    if let Some(st) = stat(p) {
                        if st.pgrp == p {
                            kill_group(p);
                        }
                    }
                    signal(p, SIGKILL);
                }
            }
        }
    }
}
