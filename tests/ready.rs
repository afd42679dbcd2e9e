//! Readiness, ordering, one-shots and the launcher (issue 10), seen from
//! outside: what `tinyd ctl` answers, what tinyd logs, what the launcher
//! prints and returns, and what the services themselves record (their
//! pids and the times they started, became ready and got SIGTERM, from
//! `date +%s%N`, the same clock as the test's).
//!
//! Readiness is signalled by real clients: `echo >&3` (ready = fd:3),
//! Debian's `systemd-notify --ready`, a pure python sd_notify client,
//! libsystemd's sd_notify() through python's ctypes (ready = notify), and
//! s6's s6-notifyoncheck (ready = fd:3). tests/install-deps.sh installs
//! them; a missing one fails the test with that hint.
//!
//! Every test has its own TempDir, socket, pidfile and log, and every
//! process it starts names a file of that directory in its command line
//! (the marker): the `Td` guards kill what carries it when the test ends.
//! A service that must not become ready before the test has looked waits
//! for a `go` file that the test creates, so no assertion depends on how
//! fast a loaded machine is; time is only checked as a lower bound.

mod common;

use common::ready::*;
use common::*;
use multi::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a reload refused for a graph error exits with: 78, as for every
/// other configuration error (README, "The control socket").
const RELOAD_GRAPH_ERROR: i32 = 78;

/// `[tinyd]` with tinyd's own log (its events, and the output of the
/// services), and that log's path.
fn head(d: &TempDir) -> (String, PathBuf) {
    let tlog = d.join("tinyd.log");
    (format!("[tinyd]\nlog = {}\n\n", s(&tlog)), tlog)
}

/// The service script, `node.sh NAME [WAIT [HOW [STOP]]]`:
/// - appends `PID NS` to `start.NAME` when it starts;
/// - WAIT `-` (default): never says it is ready; `go`: waits until the
///   file `go` exists; SECONDS: sleeps that long; then appends `PID NS` to
///   `ready.NAME` and says it is ready: HOW `fd` (default) writes a
///   newline to descriptor 3, `sd` runs `systemd-notify --ready`;
/// - on SIGTERM appends `NAME term` to `order`, sleeps STOP seconds
///   (default 0), appends `NAME stopped` and exits 0.
fn node(d: &TempDir) -> String {
    let dir = s(d.path());
    let sd = SYSTEMD_NOTIFY;
    s(&d.script(
        "node.sh",
        &format!(
            "n=$1; wait=${{2:--}}; how=${{3:-fd}}; stop=${{4:-0}}\n\
             trap 'echo \"$n term\" >> {dir}/order; sleep $stop; echo \"$n stopped\" >> {dir}/order; exit 0' TERM\n\
             echo \"$$ $(/usr/bin/date +%s%N)\" >> {dir}/start.$n\n\
             if [ \"$wait\" != - ]; then\n\
             \x20   if [ \"$wait\" = go ]; then\n\
             \x20       while [ ! -e {dir}/go ]; do sleep 0.02; done\n\
             \x20   else\n\
             \x20       sleep $wait & wait $!\n\
             \x20   fi\n\
             \x20   echo \"$$ $(/usr/bin/date +%s%N)\" >> {dir}/ready.$n\n\
             \x20   if [ \"$how\" = sd ]; then {sd} --ready; else echo >&3; fi\n\
             fi\n\
             while :; do sleep 1 & wait $!; done"
        ),
    ))
}

/// A `[NAME]` section running `node.sh NAME ARGS`, with `extra` lines.
fn sec(d: &TempDir, name: &str, args: &str, extra: &str) -> String {
    let args = if args.is_empty() {
        String::new()
    } else {
        format!(" {args}")
    };
    format!(
        "[{name}]\nexec = {} {name}{args}\nrestart-delay = 0.2\nstop-timeout = 5\n{extra}\n",
        node(d)
    )
}

/// The lines of `order` (who got SIGTERM and stopped, in order).
fn order(d: &TempDir) -> Vec<String> {
    fs::read_to_string(d.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The 1-based number of the line of `text` that is exactly `line`, the
/// first after the line `[section]`.
fn line_no(text: &str, section: &str, line: &str) -> usize {
    let head = format!("[{section}]");
    let from = text
        .lines()
        .position(|l| l == head)
        .unwrap_or_else(|| panic!("no {head} in {text}"));
    from + 1
        + text
            .lines()
            .skip(from)
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("no {line:?} in {head}"))
}

/// Waits until tinyd's log holds every one of `want` (the log writer
/// writes events a moment after they happen); returns the events.
fn wait_events(tlog: &Path, want: &[String]) -> Vec<String> {
    wait_for(15.0, &format!("{want:?} in tinyd's log"), || {
        let ev = events(tlog);
        want.iter().all(|w| ev.contains(w)).then_some(ev)
    })
}

fn pos(ev: &[String], what: &str) -> usize {
    ev.iter()
        .position(|e| e == what)
        .unwrap_or_else(|| panic!("{what:?} in tinyd's log: {ev:?}"))
}

/// The line of `name` (it must be listed).
fn line(sock: &Path, name: &str) -> Line {
    line_of(sock, name).unwrap_or_else(|| panic!("ctl status lists {name}"))
}

/// Sleeps until `secs` after `t0` (ns since the epoch), if not past.
fn sleep_until(t0: i64, secs: f64) {
    let end = t0 + (secs * 1e9) as i64;
    let now = epoch_ns();
    if end > now {
        std::thread::sleep(Duration::from_nanos((end - now) as u64));
    }
}

// ---------------------------------------------------------------------------
// 1. Each readiness mechanism, with a dependant.

/// `db` (the section given) becomes ready once the file `go` exists, and
/// writes its stamp to `ready.db` just before it says so; `web` needs db.
/// The test creates `go` no earlier than 1 s after tinyd's start, after
/// checking that db is `starting` and web `waiting` and not started.
/// Then web must start after db's stamp (and so at least 0.9 s after
/// tinyd's start), tinyd must log `db: ready` before web's start, and
/// db must be `running`. `texts`: the STATUS= text db shows before and
/// after it is ready. `notify`: db's NOTIFY_SOCKET must be tinyd's.
fn dependant_waits_for_db(d: &TempDir, db: &str, texts: Option<(&str, &str)>, notify: bool) {
    let (head, tlog) = head(d);
    let text = format!("{head}{db}\n{}", sec(d, "web", "", "needs = db"));
    let conf = write(d, "t.conf", &text);
    let t0 = epoch_ns();
    let mut t = Td::foreground(d, &conf);
    let sock = d.join("ctl.sock");
    let first = wait_for(15.0, "db started (a pid in ctl status)", || {
        line_of(&sock, "db").filter(|l| l.pid.is_some())
    });
    let dbp = first.pid.unwrap();
    t.group(dbp);
    assert_eq!(first.state, "starting", "db is not ready yet: {first:?}");
    assert_eq!(
        stat(dbp).map(|s| s.ppid),
        Some(t.pid),
        "db's pid is tinyd's child"
    );
    if notify {
        assert_eq!(
            notify_socket(dbp),
            Some(notify_address(t.pid)),
            "db's NOTIFY_SOCKET names tinyd's abstract socket"
        );
    }
    let web = line(&sock, "web");
    assert_eq!(
        (web.state.as_str(), web.pid),
        ("waiting", None),
        "web waits for db: {web:?}"
    );
    if let Some((before, _)) = texts {
        let l = wait_for(15.0, "db's STATUS= text in ctl status", || {
            line_of(&sock, "db").filter(|l| l.text == before)
        });
        assert_eq!(l.state, "starting", "{l:?}");
    }
    sleep_until(t0, 1.0);
    let l = line(&sock, "db");
    assert_eq!((l.state.as_str(), l.pid), ("starting", Some(dbp)), "{l:?}");
    let web = line(&sock, "web");
    assert_eq!((web.state.as_str(), web.pid), ("waiting", None), "{web:?}");
    assert!(stamps(&d.join("start.web")).is_empty(), "web did not start");

    fs::write(d.join("go"), "").unwrap();
    let web_start = wait_stamps(&d.join("start.web"), 1, 20.0)[0];
    let db_ready = wait_stamps(&d.join("ready.db"), 1, 10.0)[0].1;
    assert!(
        web_start.1 >= db_ready,
        "web started {} ms before db said it was ready",
        (db_ready - web_start.1) / 1_000_000
    );
    assert!(
        web_start.1 >= t0 + 900_000_000,
        "web started {} ms after tinyd, not after db's readiness",
        (web_start.1 - t0) / 1_000_000
    );
    let p = t.running(&sock, &["db", "web"]);
    assert_eq!(
        p,
        [dbp, web_start.0],
        "db kept its pid; web's is the one that started"
    );
    assert_eq!(stamps(&d.join("start.web")).len(), 1, "web started once");
    if let Some((_, after)) = texts {
        let l = wait_for(10.0, "db's new STATUS= text", || {
            line_of(&sock, "db").filter(|l| l.text == after)
        });
        assert_eq!(l.state, "running", "{l:?}");
    }
    let ev = wait_events(
        &tlog,
        &[
            "db: ready".to_string(),
            format!("web: started pid {}", p[1]),
        ],
    );
    assert!(
        pos(&ev, "db: ready") < pos(&ev, &format!("web: started pid {}", p[1])),
        "db: ready before web's start: {ev:?}"
    );
    assert!(
        !ev.iter().any(|e| e.starts_with("notify: refused")),
        "db's own message was not refused: {ev:?}"
    );
    t.shutdown(&sock);
}

#[test]
fn ready_fd_echo_then_its_dependant_starts() {
    let d = TempDir::new("rd-fd");
    let db = sec(&d, "db", "go fd", "ready = fd:3");
    dependant_waits_for_db(&d, &db, None, false);
}

#[test]
fn ready_systemd_notify_then_its_dependant_starts() {
    need(SYSTEMD_NOTIFY);
    let d = TempDir::new("rd-sdnotify");
    let db = sec(&d, "db", "go sd", "ready = notify");
    dependant_waits_for_db(&d, &db, None, true);
}

#[test]
fn ready_python_sd_notify_with_status_text() {
    let py = need(PYTHON);
    let d = TempDir::new("rd-python");
    let client = write(
        &d,
        "client.py",
        &python_client(
            &["STATUS=warming up"],
            &d.join("go"),
            &d.join("ready.db"),
            "READY=1\nSTATUS=serving",
        ),
    );
    let db = format!("[db]\nexec = {py} {client}\nready = notify\nstop-timeout = 5\n");
    dependant_waits_for_db(&d, &db, Some(("warming up", "serving")), true);
}

#[test]
fn ready_libsystemd_sd_notify_then_its_dependant_starts() {
    let py = need(PYTHON);
    need_libsystemd();
    let d = TempDir::new("rd-libsystemd");
    let client = write(
        &d,
        "client.py",
        &libsystemd_client(&d.join("go"), &d.join("ready.db")),
    );
    let db = format!("[db]\nexec = {py} {client}\nready = notify\nstop-timeout = 5\n");
    dependant_waits_for_db(&d, &db, None, true);
}

#[test]
fn ready_s6_notifyoncheck_then_its_dependant_starts() {
    let oncheck = need_tool("s6-notifyoncheck");
    let d = TempDir::new("rd-s6");
    // s6-notifyoncheck runs ./data/check (every 50 ms) in its working
    // directory until it exits 0, then writes a newline to fd 3.
    let svdir = d.join("s6svc");
    let check = format!(
        "[ -e '{}' ] || exit 1\n{}",
        s(&d.join("go")),
        stamp_sh(&d.join("ready.db"))
    );
    let _lock = s6_service_dir(&d, &svdir, &check);
    let db = format!(
        "[db]\nexec = {oncheck} -3 3 -s 20 -w 50 -n 0 {} db\nchdir = {}\nready = fd:3\nstop-timeout = 5\n",
        node(&d),
        s(&svdir)
    );
    dependant_waits_for_db(&d, &db, None, false);
}

// ---------------------------------------------------------------------------
// 2. The notify socket refuses strangers.

#[test]
fn notify_from_outside_every_service_is_refused() {
    let py = need(PYTHON);
    let d = TempDir::new("rd-refused");
    let (head, tlog) = head(&d);
    let client = write(
        &d,
        "client.py",
        &python_client(&[], &d.join("go"), &d.join("ready.db"), "READY=1"),
    );
    let conf = write(
        &d,
        "t.conf",
        &format!("{head}[db]\nexec = {py} {client}\nready = notify\nstop-timeout = 5\n"),
    );
    let mut t = Td::foreground(&d, &conf);
    let sock = d.join("ctl.sock");
    let l = wait_for(15.0, "db started", || {
        line_of(&sock, "db").filter(|l| l.pid.is_some())
    });
    let dbp = l.pid.unwrap();
    t.group(dbp);
    assert_eq!(l.state, "starting", "{l:?}");
    let addr = notify_socket(dbp).expect("db has NOTIFY_SOCKET");
    assert_eq!(addr, notify_address(t.pid));
    // The kernel lists tinyd's socket: abstract, datagram (type 0002).
    let name = addr.clone();
    wait_until(10.0, "the notify socket in /proc/net/unix", || {
        fs::read_to_string("/proc/net/unix")
            .unwrap_or_default()
            .lines()
            .any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() >= 8 && f[4] == "0002" && f[7] == name
            })
    });

    // This test process is in no service's process group.
    notify_from_here(&addr, "READY=1").expect("send to tinyd's notify socket");
    let me = std::process::id();
    let refused =
        format!("notify: refused a message from pid {me} (not in a service's process group)");
    wait_events(&tlog, std::slice::from_ref(&refused));
    std::thread::sleep(Duration::from_millis(500));
    let l = line(&sock, "db");
    assert_eq!(
        (l.state.as_str(), l.pid),
        ("starting", Some(dbp)),
        "still not ready: {l:?}"
    );
    assert!(!events(&tlog).contains(&"db: ready".to_string()));

    // The same message from db itself is taken.
    fs::write(d.join("go"), "").unwrap();
    let l = wait_state(&sock, "db", "running", 15.0);
    assert_eq!(l.pid, Some(dbp));
    wait_events(&tlog, &["db: ready".to_string()]);
    t.shutdown(&sock);
}

/// RELOADING=1 and STOPPING=1 show in `status` until the next READY=1; a
/// malformed datagram is logged, and what else it says still counts.
#[test]
fn notify_reloading_stopping_and_a_malformed_datagram() {
    let py = need(PYTHON);
    let d = TempDir::new("rd-said");
    let (head, tlog) = head(&d);
    let (go1, go2) = (s(&d.join("go1")), s(&d.join("go2")));
    let client = write(
        &d,
        "said.py",
        &format!(
            "import os, socket, time\n\
             a = os.environ['NOTIFY_SOCKET']\n\
             a = '\\0' + a[1:] if a.startswith('@') else a\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             def wait(f):\n\
             \x20   while not os.path.exists(f): time.sleep(0.02)\n\
             s.sendto(b'READY=1\\nRELOADING=1\\nSTATUS=loading', a)\n\
             wait('{go1}')\n\
             s.sendto(b'no equals sign\\nREADY=1\\nSTATUS=up', a)\n\
             wait('{go2}')\n\
             s.sendto(b'STOPPING=1', a)\n\
             while True: time.sleep(1)\n"
        ),
    );
    let conf = write(
        &d,
        "t.conf",
        &format!("{head}[db]\nexec = {py} {client}\nready = notify\nstop-timeout = 5\n"),
    );
    let mut t = Td::foreground(&d, &conf);
    let sock = d.join("ctl.sock");
    let l = wait_state(&sock, "db", "reloading", 15.0);
    t.group(l.pid.expect("db runs"));
    assert_eq!(l.text, "loading", "{l:?}");
    fs::write(&go1, "").unwrap();
    let l = wait_state(&sock, "db", "running", 15.0);
    assert_eq!(l.text, "up", "{l:?}");
    let bad = format!("db: notify: malformed message from pid {}", l.pid.unwrap());
    wait_events(&tlog, std::slice::from_ref(&bad));
    fs::write(&go2, "").unwrap();
    wait_state(&sock, "db", "stopping", 15.0);
    assert_eq!(
        ctl(&sock, &["status", "db"]).code,
        Some(0),
        "it is still up"
    );
    t.shutdown(&sock);
}

// ---------------------------------------------------------------------------
// 3. Not ready in time: a failed start.

#[test]
fn not_ready_in_time_is_stopped_and_restarted() {
    let d = TempDir::new("rd-timeout");
    let (head, tlog) = head(&d);
    let text = format!(
        "{head}{}",
        sec(
            &d,
            "slow",
            "",
            "ready = notify\nready-timeout = 1\nrestart = always"
        )
    );
    let conf = write(&d, "t.conf", &text);
    let mut t = Td::foreground(&d, &conf);
    let sock = d.join("ctl.sock");
    let runs = wait_stamps(&d.join("start.slow"), 2, 20.0);
    let (p1, p2) = (runs[0].0, runs[1].0);
    t.group(p1);
    t.group(p2);
    assert_ne!(p1, p2, "restarted: a new pid");
    let stopped = format!("slow: not ready after 1 seconds; stopping pid {p1}");
    wait_events(&tlog, &[stopped.clone(), format!("slow: started pid {p2}")]);
    assert!(!alive(p1), "the first instance is gone");
    assert!(
        order(&d).contains(&"slow term".to_string()),
        "stopped with SIGTERM: {:?}",
        order(&d)
    );
    // Timed: the stop came at least 0.9 s after the start, the new start
    // after the stop.
    let ev = support::events(&tlog, "slow");
    let at = |what: &str| {
        ev.iter()
            .find(|(_, e)| e == what)
            .map(|&(ms, _)| ms)
            .unwrap_or_else(|| panic!("{what:?} in {ev:?}"))
    };
    let started1 = at(&format!("started pid {p1}"));
    let stop1 = at(&stopped["slow: ".len()..]);
    let started2 = at(&format!("started pid {p2}"));
    assert!(
        stop1 - started1 >= 900,
        "stopped {} ms after its start",
        stop1 - started1
    );
    assert!(started2 >= stop1, "{ev:?}");
    let l = line(&sock, "slow");
    assert!(
        ["starting", "stopping", "backoff", "failed"].contains(&l.state.as_str()),
        "never running: {l:?}"
    );
    assert_ne!(l.state, "running");

    // ctl restart waits for a readiness that never comes: exit 1, after
    // the timeout.
    let t1 = Instant::now();
    let o = ctl(&sock, &["restart", "slow"]);
    assert_eq!(
        o.code,
        Some(1),
        "restart of a service that is never ready: {o:?}"
    );
    assert!(
        t1.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t1.elapsed()
    );
    t.shutdown(&sock);
}

// ---------------------------------------------------------------------------
// 4. Graph errors.

/// Runs tinyd on a file with a graph error, in the foreground and as a
/// daemon: 78 both times, `want` (the start of an error line) on stderr,
/// and nothing started or left running.
fn refused_at_start(d: &TempDir, name: &str, text: &str, want: &str) {
    let _reaper = Td::reaper(d);
    let conf = write(d, name, text);
    let (pf, sock) = (s(&d.join("tinyd.pid")), s(&d.join("ctl.sock")));
    for args in [
        vec!["-f", "-p", &pf, "--control", &sock, "-c", &conf],
        vec!["-p", &pf, "--control", &sock, "-c", &conf],
    ] {
        let o = launch(d, &args);
        assert_eq!(o.code, Some(78), "{args:?}: {o:?}");
        let want = format!("tinyd: {conf}:{want}");
        assert!(
            o.stderr.lines().any(|l| l.starts_with(&want)),
            "{args:?}: stderr has a line starting {want:?}: {o:?}"
        );
        assert!(!Path::new(&pf).exists(), "no pidfile");
        assert!(procs_with(&marker(d)).is_empty(), "nothing runs");
    }
    for n in ["a", "b", "c", "x"] {
        assert!(
            stamps(&d.join(&format!("start.{n}"))).is_empty(),
            "{n} never started"
        );
    }
}

#[test]
fn unknown_service_in_needs_or_after_is_a_configuration_error() {
    let d = TempDir::new("rd-unknown");
    let text = format!(
        "{}{}",
        sec(&d, "x", "", ""),
        sec(&d, "a", "", "needs = x nosuch")
    );
    let l = line_no(&text, "a", "needs = x nosuch");
    refused_at_start(
        &d,
        "needs.conf",
        &text,
        &format!("{l}: unknown service in needs: nosuch"),
    );
    let text = format!(
        "{}{}",
        sec(&d, "a", "", "after = other"),
        sec(&d, "b", "", "")
    );
    let l = line_no(&text, "a", "after = other");
    refused_at_start(
        &d,
        "after.conf",
        &text,
        &format!("{l}: unknown service in after: other"),
    );
}

#[test]
fn a_dependency_cycle_is_a_configuration_error() {
    let d = TempDir::new("rd-cycle");
    // x is not on the cycle; a comes first of those that are: the error
    // is on a's needs line. The cycle goes through an `after` too.
    let text = format!(
        "{}{}{}{}",
        sec(&d, "x", "", ""),
        sec(&d, "a", "", "env = K=1\nneeds = x b"),
        sec(&d, "b", "", "needs = c"),
        sec(&d, "c", "", "after = a"),
    );
    let l = line_no(&text, "a", "needs = x b");
    refused_at_start(&d, "cycle.conf", &text, &format!("{l}: dependency cycle"));
}

#[test]
fn a_reload_with_a_cycle_is_refused_and_changes_nothing() {
    let d = TempDir::new("rd-cycle-reload");
    let (head, tlog) = head(&d);
    let v1 = format!(
        "{head}{}{}{}",
        sec(&d, "a", "", "env = V=1"),
        sec(&d, "b", "", ""),
        sec(&d, "c", "", "needs = b"),
    );
    let (mut t, sock, p) = up(&d, &v1, &["a", "b", "c"]);
    let conf = s(&d.join("t.conf"));
    // a changed, d added, and a cycle b -> c -> b.
    let v2 = format!(
        "{head}{}{}{}{}",
        sec(&d, "a", "", "env = V=2"),
        sec(&d, "b", "", "needs = c"),
        sec(&d, "c", "", "needs = b"),
        sec(&d, "d", "", ""),
    );
    let l = line_no(&v2, "b", "needs = c");
    fs::write(&conf, &v2).unwrap();
    let o = ctl(&sock, &["reload"]);
    assert_eq!(
        o.code,
        Some(RELOAD_GRAPH_ERROR),
        "reload with a cycle: {o:?}"
    );
    let want = format!("tinyd: {conf}:{l}: dependency cycle");
    assert!(
        o.stderr.lines().any(|e| e.starts_with(&want)),
        "{want:?} in {o:?}"
    );
    assert_eq!(ctl(&sock, &["status", "d"]).code, Some(4), "d not added");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        running_pids(&sock, &["a", "b", "c"]),
        Some(p.clone()),
        "nothing restarted"
    );
    assert!(
        environ(p[0]).contains(&"V=1".to_string()),
        "a kept its settings"
    );
    assert_eq!(stamps(&d.join("start.a")).len(), 1);
    wait_until(10.0, "the cycle in tinyd's log", || {
        events(&tlog)
            .iter()
            .any(|e| e.starts_with(&format!("{conf}:{l}: dependency cycle")))
    });
    // The graph of v1 still holds: stopping b stops c.
    assert_eq!(ctl(&sock, &["stop", "b"]).code, Some(0));
    assert!(!alive(p[2]), "c (needs b) stopped with b");
    assert_eq!(line(&sock, "c").state, "waiting");
    t.shutdown(&sock);
}

// ---------------------------------------------------------------------------
// 5. Shutdown: dependants first.

/// c (needs or after b) and b (needs a) in a file that lists c first:
/// neither file order nor its reverse is the dependency order. Each takes
/// a while to stop (c 0.6 s, b 0.3 s, a at once), so a SIGTERM to all at
/// once would record a, b, c.
fn chain(d: &TempDir, c_on_b: &str) -> String {
    let (head, _) = head(d);
    format!(
        "{head}{}{}{}",
        sec(d, "c", "- fd 0.6", &format!("{c_on_b} = b")),
        sec(d, "a", "- fd 0", ""),
        sec(d, "b", "- fd 0.3", "needs = a"),
    )
}

const REVERSE: [&str; 6] = [
    "c term",
    "c stopped",
    "b term",
    "b stopped",
    "a term",
    "a stopped",
];

#[test]
fn sigterm_stops_dependants_first() {
    let d = TempDir::new("rd-shutdown");
    let (mut t, _sock, p) = up(&d, &chain(&d, "needs"), &["a", "b", "c"]);
    // They started in dependency order (tinyd's events: with ready = exec
    // each is ready at its exec, and the scripts' own first lines may run
    // in any order).
    let started: Vec<String> = ["a", "b", "c"]
        .iter()
        .zip(&p)
        .map(|(n, pid)| format!("{n}: started pid {pid}"))
        .collect();
    let ev = wait_events(&d.join("tinyd.log"), &started);
    assert!(
        pos(&ev, &started[0]) < pos(&ev, &started[1])
            && pos(&ev, &started[1]) < pos(&ev, &started[2]),
        "started a, b, c: {ev:?}"
    );
    assert!(signal(t.pid, SIGTERM));
    let code = t.wait_exit(30.0);
    assert_eq!(code.code(), Some(0), "{}", t.stderr());
    assert_eq!(
        order(&d),
        REVERSE,
        "each got SIGTERM once its dependants had stopped"
    );
    assert!(
        !t.stderr().contains("SIGKILL"),
        "nothing needed SIGKILL: {}",
        t.stderr()
    );
}

#[test]
fn ctl_shutdown_stops_dependants_first_after_too() {
    let d = TempDir::new("rd-shutdown-after");
    let (mut t, sock, _) = up(&d, &chain(&d, "after"), &["a", "b", "c"]);
    t.shutdown(&sock);
    assert_eq!(order(&d), REVERSE, "c (after b) stopped before b");
}

// ---------------------------------------------------------------------------
// 6. stop, start and restart with dependants.

/// a becomes ready (fd:3) 0.5 s after its start; b needs a.
fn a_and_b(d: &TempDir) -> String {
    let (head, _) = head(d);
    format!(
        "{head}{}{}",
        sec(d, "b", "", "needs = a"),
        sec(d, "a", "0.5 fd", "ready = fd:3"),
    )
}

/// `Td::up`, then until each service's script has set its TERM trap (it
/// stamps its start right after): a SIGTERM before that would end it
/// without its lines in `order` (seen under qemu-user, where a shell takes
/// a while to start).
fn up(d: &TempDir, text: &str, names: &[&str]) -> (Td, PathBuf, Vec<i32>) {
    let (t, sock, p) = Td::up(d, text, names);
    for (n, &pid) in names.iter().zip(&p) {
        stamp(d, "start", n, pid);
    }
    (t, sock, p)
}

/// The stamp that `pid` wrote in `FILE.NAME`.
fn stamp(d: &TempDir, file: &str, name: &str, pid: i32) -> i64 {
    let p = d.join(&format!("{file}.{name}"));
    wait_for(10.0, &format!("{pid}'s stamp in {file}.{name}"), || {
        stamp_of(&p, pid)
    })
}

#[test]
fn restart_of_a_needed_service_restarts_its_dependant() {
    let d = TempDir::new("rd-restart");
    let (mut t, sock, p) = up(&d, &a_and_b(&d), &["a", "b"]);
    let (a1, b1) = (p[0], p[1]);
    assert!(stamp(&d, "ready", "a", a1) <= stamp(&d, "start", "b", b1));
    let o = ctl(&sock, &["restart", "a"]);
    assert_eq!(o.code, Some(0), "restart a: {o:?}");
    let l = parse_status(&o.stdout);
    assert_eq!(l.len(), 1, "{o:?}");
    assert_eq!(
        l[0].state, "running",
        "restart answers once a is ready: {o:?}"
    );
    let a2 = l[0].pid.expect("a's new pid");
    t.group(a2);
    assert_ne!(a2, a1);
    let b2 = wait_for(15.0, "b running again with a new pid", || {
        running_pids(&sock, &["b"])
            .map(|q| q[0])
            .filter(|&q| q != b1)
    });
    t.group(b2);
    assert!(!alive(a1) && !alive(b1), "the old ones are gone");
    assert_eq!(
        order(&d),
        ["b term", "b stopped", "a term", "a stopped"],
        "b stopped before a"
    );
    let a2_ready = stamp(&d, "ready", "a", a2);
    let b2_start = stamp(&d, "start", "b", b2);
    assert!(
        b2_start >= a2_ready,
        "b started again {} ms before a's new readiness",
        (a2_ready - b2_start) / 1_000_000
    );
    assert_eq!(
        stamps(&d.join("start.b")).len(),
        2,
        "b started twice in all"
    );
    t.shutdown(&sock);
}

#[test]
fn stop_of_a_needed_service_holds_its_dependant_and_start_brings_both() {
    let d = TempDir::new("rd-stop");
    let (mut t, sock, p) = up(&d, &a_and_b(&d), &["a", "b"]);
    let (a1, b1) = (p[0], p[1]);

    // stop a: b stops first, then a; b waits.
    let o = ctl(&sock, &["stop", "a"]);
    assert_eq!(o.code, Some(0), "stop a: {o:?}");
    assert!(!alive(a1) && !alive(b1), "both gone when stop answers");
    assert_eq!(order(&d), ["b term", "b stopped", "a term", "a stopped"]);
    let (la, lb) = (line(&sock, "a"), line(&sock, "b"));
    assert_eq!((la.state.as_str(), la.pid), ("stopped", None), "{la:?}");
    assert_eq!((lb.state.as_str(), lb.pid), ("waiting", None), "{lb:?}");
    // Much longer than the restart delay: b stays down.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(line(&sock, "b").state, "waiting");
    assert_eq!(stamps(&d.join("start.b")).len(), 1, "b did not come back");

    // start a: b comes back by itself, after a's readiness.
    let o = ctl(&sock, &["start", "a"]);
    assert_eq!(o.code, Some(0), "start a: {o:?}");
    let a2 = parse_status(&o.stdout)[0].pid.expect("a runs");
    t.group(a2);
    let b2 = wait_for(15.0, "b running again", || {
        running_pids(&sock, &["b"])
            .map(|q| q[0])
            .filter(|&q| q != b1)
    });
    t.group(b2);
    assert!(stamp(&d, "start", "b", b2) >= stamp(&d, "ready", "a", a2));

    // Both stopped by request; start b starts a first.
    assert_eq!(ctl(&sock, &["stop", "b"]).code, Some(0));
    assert_eq!(ctl(&sock, &["stop", "a"]).code, Some(0));
    assert_eq!(line(&sock, "b").state, "stopped");
    assert_eq!(line(&sock, "a").state, "stopped");
    let o = ctl(&sock, &["start", "b"]);
    assert_eq!(o.code, Some(0), "start b: {o:?}");
    let lb = parse_status(&o.stdout);
    assert_eq!(lb[0].state, "running", "{o:?}");
    let b3 = lb[0].pid.unwrap();
    t.group(b3);
    let la = line(&sock, "a");
    assert_eq!(la.state, "running", "a started for b: {la:?}");
    let a3 = la.pid.unwrap();
    t.group(a3);
    assert!(![a1, a2].contains(&a3) && ![b1, b2].contains(&b3));
    assert!(stamp(&d, "start", "b", b3) >= stamp(&d, "ready", "a", a3));
    t.shutdown(&sock);
}

#[test]
fn after_waits_for_ready_or_given_up_without_stop_coupling() {
    let d = TempDir::new("rd-after");
    let (head, _) = head(&d);
    let gone = d.script(
        "gone.sh",
        &format!("sleep 0.5\n{}\nexit 1", stamp_sh(&d.join("ran.gone"))),
    );
    let text = format!(
        "{head}{}{}{}[gone]\nexec = {} gone\ntype = oneshot\nrestart = never\n",
        sec(&d, "x", "", "after = gone"),
        sec(&d, "y", "", "after = r"),
        sec(&d, "r", "0.5 fd", "ready = fd:3"),
        s(&gone)
    );
    let (mut t, sock, p) = up(&d, &text, &["x", "y", "r"]);
    let (x, y, r) = (p[0], p[1], p[2]);
    // x started once gone had failed, y once r was ready.
    let gone_at = wait_stamps(&d.join("ran.gone"), 1, 5.0)[0].1;
    assert!(
        stamp(&d, "start", "x", x) >= gone_at,
        "x started after gone gave up"
    );
    assert!(stamp(&d, "start", "y", y) >= stamp(&d, "ready", "r", r));
    assert_eq!(line(&sock, "gone").state, "failed");
    // No stop coupling: stopping r leaves y running.
    assert_eq!(ctl(&sock, &["stop", "r"]).code, Some(0));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(running_pids(&sock, &["x", "y"]), Some(vec![x, y]));
    assert!(
        !order(&d).contains(&"y term".to_string()),
        "y got no SIGTERM"
    );
    t.shutdown(&sock);
}

// ---------------------------------------------------------------------------
// 7. One-shots.

#[test]
fn oneshot_at_boot_then_its_dependant() {
    let d = TempDir::new("rd-oneshot");
    let (head, tlog) = head(&d);
    let fw = d.script(
        "fw.sh",
        &format!("sleep 0.5\n{}\nexit 0", stamp_sh(&d.join("done.fw"))),
    );
    let once = d.script(
        "once.sh",
        &format!("{}\nexit 0", stamp_sh(&d.join("ran.once"))),
    );
    // web comes first in the file, and is held until fw is done (the
    // default restart = always does not rerun a oneshot that exited 0).
    let text = format!(
        "{head}{}[fw]\nexec = {} fw\ntype = oneshot\n\n[once]\nexec = {} once\ntype = oneshot\n",
        sec(&d, "web", "", "needs = fw"),
        s(&fw),
        s(&once)
    );
    let (mut t, sock, p) = up(&d, &text, &["web"]);
    let fw_done = wait_stamps(&d.join("done.fw"), 1, 5.0)[0];
    let web_start = stamp(&d, "start", "web", p[0]);
    assert!(
        web_start >= fw_done.1,
        "web started {} ms before fw was done",
        (fw_done.1 - web_start) / 1_000_000
    );
    wait_state(&sock, "fw", "done", 10.0);
    wait_state(&sock, "once", "done", 10.0);
    assert!(!alive(fw_done.0), "fw's process is gone");
    wait_events(&tlog, &["fw: exited with status 0".to_string()]);
    // Much longer than any restart delay: neither ran again.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stamps(&d.join("done.fw")).len(), 1, "fw ran once");
    assert_eq!(stamps(&d.join("ran.once")).len(), 1, "once ran once");
    assert_eq!(line(&sock, "fw").state, "done");
    assert_eq!(running_pids(&sock, &["web"]), Some(p.clone()));
    // ctl start runs a oneshot again, and answers once it is done.
    let o = ctl(&sock, &["start", "once"]);
    assert_eq!(o.code, Some(0), "start once: {o:?}");
    assert_eq!(parse_status(&o.stdout)[0].state, "done", "{o:?}");
    assert_eq!(stamps(&d.join("ran.once")).len(), 2, "ran again");
    t.shutdown(&sock);
}

#[test]
fn failing_oneshot_is_retried_on_failure_and_holds_its_dependants() {
    let d = TempDir::new("rd-oneshot-fail");
    let (head, tlog) = head(&d);
    let ran = d.join("ran.flaky");
    // Fails twice, then succeeds.
    let flaky = d.script(
        "flaky.sh",
        &format!(
            "{}\n[ \"$(wc -l < '{}')\" -ge 3 ] && exit 0\nexit 1",
            stamp_sh(&ran),
            s(&ran)
        ),
    );
    let broken = d.script(
        "broken.sh",
        &format!("{}\nexit 3", stamp_sh(&d.join("ran.broken"))),
    );
    let text = format!(
        "{head}{}[flaky]\nexec = {} flaky\ntype = oneshot\nrestart = on-failure\nrestart-delay = 0.2\n\n\
         {}[broken]\nexec = {} broken\ntype = oneshot\nrestart = never\n",
        sec(&d, "dep", "", "needs = flaky"),
        s(&flaky),
        sec(&d, "blocked", "", "needs = broken"),
        s(&broken)
    );
    let (mut t, sock, p) = up(&d, &text, &["dep"]);
    let runs = wait_stamps(&ran, 3, 10.0);
    wait_state(&sock, "flaky", "done", 10.0);
    assert!(
        stamp(&d, "start", "dep", p[0]) >= runs[2].1,
        "dep started after flaky's third, successful run"
    );
    let ev = wait_events(&tlog, &["flaky: exited with status 0".to_string()]);
    assert_eq!(
        ev.iter()
            .filter(|e| *e == "flaky: exited with status 1")
            .count(),
        2,
        "{ev:?}"
    );
    // broken fails and is not retried; blocked waits for it.
    wait_state(&sock, "broken", "failed", 10.0);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(stamps(&d.join("ran.broken")).len(), 1, "restart = never");
    assert_eq!(stamps(&ran).len(), 3, "flaky not run again once done");
    let l = line(&sock, "blocked");
    assert_eq!((l.state.as_str(), l.pid), ("waiting", None), "{l:?}");
    assert!(stamps(&d.join("start.blocked")).is_empty());
    // ctl start of a oneshot that fails: exit 1.
    let o = ctl(&sock, &["start", "broken"]);
    assert_eq!(o.code, Some(1), "start broken: {o:?}");
    assert_eq!(stamps(&d.join("ran.broken")).len(), 2, "it ran again");
    assert_eq!(line(&sock, "blocked").state, "waiting");
    t.shutdown(&sock);
}

// ---------------------------------------------------------------------------
// 8. The launcher.

/// A daemon's files: configuration, pidfile, control socket, log.
struct Files {
    conf: String,
    pidfile: PathBuf,
    sock: PathBuf,
    log: PathBuf,
}

/// `TAG.conf` with `[tinyd]` naming `TAG.sock` and `TAG.log`, then `body`.
fn daemon_files(d: &TempDir, tag: &str, body: &str) -> Files {
    let (sock, log) = (
        d.join(&format!("{tag}.sock")),
        d.join(&format!("{tag}.log")),
    );
    let conf = write(
        d,
        &format!("{tag}.conf"),
        &format!(
            "[tinyd]\ncontrol = {}\nlog = {}\n\n{body}",
            s(&sock),
            s(&log)
        ),
    );
    Files {
        conf,
        pidfile: d.join(&format!("{tag}.pid")),
        sock,
        log,
    }
}

/// Runs the launcher `tinyd -p PIDFILE ARGS`: what it left, how long it
/// took, and a reaper for the daemon it leaves (if any).
fn launcher(d: &TempDir, pidfile: &Path, args: &[&str]) -> (Out, Duration, Td) {
    let mut all = vec!["-p", pidfile.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut reaper = Td::reaper(d);
    let t0 = Instant::now();
    let o = launch(d, &all);
    let took = t0.elapsed();
    if let Some(p) = read_pid(pidfile) {
        reaper.pid = p;
    }
    (o, took, reaper)
}

/// The daemon of a pidfile is alive; SIGTERM stops it, and it removes
/// its pidfile.
fn stop_it(pidfile: &Path) {
    let p = read_pid(pidfile).expect("the daemon's pidfile");
    assert!(alive(p), "the daemon runs");
    stop_daemon(p);
    assert!(!pidfile.exists(), "pidfile removed");
}

#[test]
fn launcher_fails_when_a_service_is_not_ready_in_time_and_tinyd_keeps_trying() {
    let d = TempDir::new("rd-launch-late");
    let f = daemon_files(
        &d,
        "late",
        &format!(
            "{}{}",
            sec(&d, "ok", "", ""),
            sec(
                &d,
                "late",
                "",
                "ready = notify\nready-timeout = 1\nrestart = always"
            )
        ),
    );
    let (o, took, _r) = launcher(&d, &f.pidfile, &["-c", &f.conf]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stderr, "tinyd: late: not ready after 1 seconds\n",
        "one line for the service that failed"
    );
    assert!(
        took >= Duration::from_millis(900),
        "waited for the timeout: {took:?}"
    );
    // tinyd keeps running, and retrying by policy.
    let td = read_pid(&f.pidfile).expect("pidfile after the launcher gave up");
    assert!(alive(td), "the daemon runs");
    let runs = wait_stamps(&d.join("start.late"), 2, 20.0);
    assert_ne!(runs[0].0, runs[1].0, "late restarted");
    assert_eq!(line(&f.sock, "ok").state, "running");
    wait_until(10.0, "the timeout in tinyd's log", || {
        events(&f.log)
            .iter()
            .any(|e| e.starts_with("late: not ready after 1 seconds; stopping pid "))
    });
    stop_it(&f.pidfile);
}

#[test]
fn launcher_reports_a_service_that_exits_or_is_killed_before_it_is_ready() {
    let d = TempDir::new("rd-launch-exit");
    let bad = d.script("bad.sh", "exit 3");
    let killed = d.script("killed.sh", "kill -9 $$");
    for (tag, script, want) in [
        ("bad", &bad, "tinyd: bad: not ready: exited with status 3\n"),
        (
            "killed",
            &killed,
            "tinyd: killed: not ready: killed by signal 9\n",
        ),
    ] {
        let f = daemon_files(
            &d,
            tag,
            &format!(
                "[{tag}]\nexec = {} {tag}\nready = fd:3\nrestart-delay = 1\n",
                s(script)
            ),
        );
        let (o, _, _r) = launcher(&d, &f.pidfile, &["-c", &f.conf]);
        assert_eq!(o.code, Some(1), "{tag}: {o:?}");
        assert_eq!(o.stderr, want, "{tag}");
        stop_it(&f.pidfile);
    }
}

/// A oneshot that fails for good: the launcher names it, and what needs
/// it, which can no longer start.
#[test]
fn launcher_names_what_needs_a_service_that_failed_for_good() {
    let d = TempDir::new("rd-launch-needs");
    let bad = d.script("fw.sh", "exit 2");
    let f = daemon_files(
        &d,
        "needs",
        &format!(
            "[fw]\nexec = {}\ntype = oneshot\nrestart = never\n\n{}",
            s(&bad),
            sec(&d, "web", "", "needs = fw")
        ),
    );
    let (o, _, _r) = launcher(&d, &f.pidfile, &["-c", &f.conf]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stderr,
        "tinyd: fw: not ready: exited with status 2\n\
         tinyd: web: not ready: needs fw, which is not running\n"
    );
    stop_it(&f.pidfile);
}

#[test]
fn launcher_returns_once_every_service_is_ready_or_done() {
    let d = TempDir::new("rd-launch-ok");
    let fw = d.script(
        "fw.sh",
        &format!("sleep 0.3\n{}\nexit 0", stamp_sh(&d.join("done.fw"))),
    );
    let f = daemon_files(
        &d,
        "ok",
        &format!(
            "{}{}[fw]\nexec = {} fw\ntype = oneshot\n",
            sec(&d, "plain", "", ""),
            sec(&d, "slow", "1 fd", "ready = fd:3"),
            s(&fw)
        ),
    );
    let (o, took, _r) = launcher(&d, &f.pidfile, &["-c", &f.conf]);
    let back = epoch_ns();
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(o.stderr, "");
    assert!(
        took >= Duration::from_millis(900),
        "returned before slow was ready: {took:?}"
    );
    let ready = stamps(&d.join("ready.slow"));
    assert_eq!(ready.len(), 1, "slow was ready when the launcher returned");
    assert!(ready[0].1 <= back);
    assert_eq!(stamps(&d.join("done.fw")).len(), 1, "fw was done");
    assert_eq!(line(&f.sock, "slow").state, "running");
    assert_eq!(line(&f.sock, "plain").state, "running");
    assert_eq!(line(&f.sock, "fw").state, "done");
    stop_it(&f.pidfile);
}

#[test]
fn launcher_with_no_wait_returns_at_once() {
    let d = TempDir::new("rd-launch-nowait");
    // Never ready, and no timeout: only --no-wait lets the launcher return.
    let f = daemon_files(
        &d,
        "nw",
        &sec(&d, "late", "", "ready = notify\nready-timeout = 0"),
    );
    let (o, _, _r) = launcher(&d, &f.pidfile, &["--no-wait", "-c", &f.conf]);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(o.stderr, "");
    let l = wait_for(10.0, "late started", || {
        line_of(&f.sock, "late").filter(|l| l.pid.is_some())
    });
    assert_eq!(l.state, "starting", "{l:?}");
    stop_it(&f.pidfile);
}

#[test]
fn launcher_of_one_command_waits_for_its_readiness() {
    let d = TempDir::new("rd-launch-one");
    let node = node(&d);
    let log = s(&d.join("one.log"));
    let never_log = s(&d.join("never.log"));
    let pf = d.join("one.pid");
    let (o, took, _r) = launcher(
        &d,
        &pf,
        &[
            "--ready", "fd:3", "-n", "one", "-o", &log, "--", &node, "one", "1", "fd",
        ],
    );
    let back = epoch_ns();
    assert_eq!(o.code, Some(0), "{o:?}");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let ready = stamps(&d.join("ready.one"));
    assert_eq!(ready.len(), 1, "ready before the launcher returned");
    assert!(ready[0].1 <= back);
    stop_it(&pf);

    let pf = d.join("never.pid");
    let (o, took, _r) = launcher(
        &d,
        &pf,
        &[
            "--ready",
            "notify",
            "--ready-timeout",
            "1",
            "-n",
            "never",
            "-o",
            &never_log,
            "--",
            &node,
            "never",
        ],
    );
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(o.stderr, "tinyd: never: not ready after 1 seconds\n");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    stop_it(&pf);
}

// ---------------------------------------------------------------------------
// 9. A reload that changes only dependencies.

#[test]
fn a_reload_that_changes_only_needs_restarts_nothing() {
    let d = TempDir::new("rd-reload-needs");
    let (head, _) = head(&d);
    let conf = |on: &str| {
        format!(
            "{head}{}{}{}",
            sec(&d, "a", "", ""),
            sec(&d, "b", "", ""),
            sec(&d, "c", "", &format!("needs = {on}")),
        )
    };
    let (mut t, sock, p) = up(&d, &conf("a"), &["a", "b", "c"]);
    fs::write(d.join("t.conf"), conf("b")).unwrap();
    let o = ctl(&sock, &["reload"]);
    assert_eq!(o.code, Some(0), "{o:?}");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        running_pids(&sock, &["a", "b", "c"]),
        Some(p.clone()),
        "same pids after the reload"
    );
    for n in ["a", "b", "c"] {
        assert_eq!(
            stamps(&d.join(&format!("start.{n}"))).len(),
            1,
            "{n} started once"
        );
    }
    assert!(order(&d).is_empty(), "no one got SIGTERM: {:?}", order(&d));
    // The new graph holds: c follows b now, not a.
    assert_eq!(ctl(&sock, &["stop", "a"]).code, Some(0));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(running_pids(&sock, &["b", "c"]), Some(vec![p[1], p[2]]));
    assert_eq!(ctl(&sock, &["stop", "b"]).code, Some(0));
    assert!(!alive(p[2]), "c stopped before b");
    assert_eq!(line(&sock, "c").state, "waiting");
    t.shutdown(&sock);
}
