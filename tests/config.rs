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
use std::path::Path;
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
    let (mut t, sock, p) = Td::up(&d, &text, &["a", "b"]);
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
fn relative_chdir_is_resolved_against_the_start_directory() {
    // Like a relative log path: against where tinyd was started, not
    // against / where tinyd itself goes (issue 8, defect 6).
    let d = TempDir::new("cfg-rel-chdir");
    fs::create_dir(d.join("work")).unwrap();
    let conf = write(&d, "t.conf", &service(&d, "a", "chdir = work\n"));
    let sock = d.join("ctl.sock");
    let mut c = tinyd();
    c.current_dir(d.path());
    let mut t = Td::spawn_cmd(&d, c, &["-f", "--control", &s(&sock), "-c", &conf], &[]);
    let p = t.running(&sock, &["a"]);
    assert_eq!(
        fs::read_link(format!("/proc/{}/cwd", p[0])).unwrap(),
        d.join("work")
    );
    t.shutdown(&sock);
}

#[test]
fn failed_chdir_is_reported_as_such() {
    // It read "cannot execute COMMAND" (issue 8, defect 7).
    let d = TempDir::new("cfg-bad-chdir");
    let (log, missing) = (d.join("tinyd.log"), d.join("missing"));
    let text = format!(
        "[tinyd]\nlog = {}\n{}{}",
        s(&log),
        service(&d, "up", ""),
        service(&d, "nodir", &format!("chdir = {}\n", s(&missing))),
    );
    let (mut t, sock, _) = Td::up(&d, &text, &["up"]);
    let want = format!(
        "nodir: cannot start {}: chdir {}: no such file or directory",
        svc_script(&d),
        s(&missing)
    );
    wait_until(10.0, &format!("{want:?} in the log"), || {
        events(&log).contains(&want)
    });
    assert!(
        !events(&log).iter().any(|e| e.contains("cannot execute")),
        "{:?}",
        events(&log)
    );
    t.shutdown(&sock);
}

#[test]
fn errors_and_events_name_a_long_path_whole() {
    // Cut in the middle, losing the reason (issue 8, defect 12).
    let d = TempDir::new("cfg-long");
    let deep = format!("{}/{}", s(d.path()), vec!["z".repeat(99); 8].join("/"));
    let enoent = "no such file or directory";
    let conf = format!("{deep}/t.conf");
    let o = launch(&d, &["-f", "-c", &conf]);
    assert_eq!(o.code, Some(78), "{o:?}");
    assert_eq!(o.stderr, format!("tinyd: {conf}: cannot read: {enoent}\n"));
    let sock = format!("{deep}/ctl.sock");
    let o = ctl(Path::new(&sock), &["status"]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stderr,
        format!("tinyd: cannot connect to {sock}: file name too long\n")
    );
    // An event at a restart: the command whole.
    let log = d.join("tinyd.log");
    let cmd = format!("{deep}/cmd");
    let text = format!(
        "[tinyd]\nlog = {}\n{}[gone]\nexec = {cmd}\n",
        s(&log),
        service(&d, "up", "")
    );
    let (mut t, sock, _) = Td::up(&d, &text, &["up"]);
    let want = format!("gone: cannot execute {cmd}: {enoent}");
    wait_until(10.0, "the event, whole", || events(&log).contains(&want));
    t.shutdown(&sock);
}

#[test]
fn syslog_lines_lost_note_names_tinyd_pid_and_service() {
    // It read `tinyd: N lines lost`, without [PID] or the name (issue 8,
    // defect 18).
    let d = TempDir::new("cfg-lost");
    let (log, sock_path, flag) = (d.join("tinyd.log"), d.join("log.sock"), d.join("flag"));
    let cmd = d.script(
        "cmd.sh",
        &format!(
            "while [ ! -e '{}' ]; do sleep 0.05; done\necho three\nexec sleep 100",
            s(&flag)
        ),
    );
    let text = format!(
        "[tinyd]\nlog = {}\n[svc]\nexec = {}\nsyslog = tag\n",
        s(&log),
        s(&cmd)
    );
    let conf = write(&d, "t.conf", &text);
    let ctl_sock = d.join("ctl.sock");
    let mut t = Td::spawn_env(
        &d,
        &["-f", "--control", &s(&ctl_sock), "-c", &conf],
        &[("TINYD_SYSLOG", &s(&sock_path))],
    );
    // The event went to the (missing) syslog socket before tinyd's log.
    wait_until(10.0, "started in tinyd's log", || {
        events(&log)
            .iter()
            .any(|e| e.starts_with("svc: started pid "))
    });
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    fs::write(&flag, "").unwrap();
    let mut buf = vec![0u8; 4096];
    let mut msgs = Vec::new();
    while !msgs.iter().any(|m: &String| m.ends_with("]: three")) {
        let n = sock.recv(&mut buf).expect("datagrams within 10 s");
        msgs.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let note = &msgs[0];
    assert!(note.starts_with("<27>"), "{msgs:?}");
    assert_eq!(
        note.get(20..),
        Some(
            format!(
                "tinyd[{}]: svc: 1 lines lost: no such file or directory",
                t.pid
            )
            .as_str()
        ),
        "{msgs:?}"
    );
    t.shutdown(&ctl_sock);
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
    let (mut t, sock, p) = Td::up(&d, &text, &["a", "b"]);
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
