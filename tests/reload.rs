//! Reload and requests decided by one model (issue 8, defects 1-5), seen
//! from outside: which processes run, from /proc, and what `tinyd ctl`
//! answers. Each test would fail against the supervisor before the model.
//!
//! A service's processes are the direct children of tinyd whose command
//! line ends with `SCRIPT NAME`; "never two at once" is checked on every
//! look, not only at the end.

mod common;

use common::*;
use multi::*;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// tinyd's direct children that run `script` for service `name`.
fn instances(tinyd: i32, script: &str, name: &str) -> Vec<i32> {
    let tail = format!("{script} {name}");
    children(tinyd)
        .into_iter()
        .filter(|&p| cmdline(p).join(" ").ends_with(&tail))
        .collect()
}

/// A script that, on SIGTERM, takes `secs` to exit (`0`: ignores it).
fn slow_stop_script(d: &TempDir, secs: &str) -> String {
    let on_term = if secs == "0" {
        "''".to_string()
    } else {
        format!("'sleep {secs}; exit 0'")
    };
    s(&d.script(
        &format!("slow{}.sh", secs.replace('.', "_")),
        &format!("trap {on_term} TERM\nwhile :; do sleep 0.1; done"),
    ))
}

fn section(name: &str, script: &str, extra: &str) -> String {
    format!("[{name}]\nexec = {script} {name}\nrestart-delay = 0.1\n{extra}\n")
}

/// Polls until `cond` holds, asserting `never` is false at every look.
fn until_never(
    secs: f64,
    what: &str,
    mut cond: impl FnMut() -> bool,
    mut never: impl FnMut() -> Option<String>,
) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if let Some(bad) = never() {
            panic!("while waiting for {what}: {bad}");
        }
        if cond() {
            return;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reload_that_removes_one_and_changes_another_starts_the_new_one() {
    // Defect 1: the new `a` was held until an unrelated wake-up.
    let d = TempDir::new("rl-hang");
    let slow = slow_stop_script(&d, "0.5");
    let svc = svc_script(&d);
    let v1 = format!(
        "{}{}",
        section("x", &svc, ""),
        section("a", &slow, "env = V=1")
    );
    let (mut t, sock, p) = Td::up(&d, &v1, &["x", "a"]);
    let tinyd = t.pid;
    fs::write(d.join("t.conf"), section("a", &slow, "env = V=2")).unwrap();
    let o = ctl(&sock, &["reload"]);
    assert_eq!(o.code, Some(0), "{o:?}");
    // No request from now on: only the old `a`'s exit may wake tinyd.
    until_never(
        10.0,
        "the new a to start by itself",
        || instances(tinyd, &slow, "a").iter().any(|&q| q != p[1]),
        || {
            let n = instances(tinyd, &slow, "a").len();
            (n > 1).then(|| format!("{n} instances of a"))
        },
    );
    let q = instances(tinyd, &slow, "a");
    t.group(q[0]);
    assert!(environ(q[0]).contains(&"V=2".to_string()));
    assert!(instances(tinyd, &svc, "x").is_empty(), "x is stopped");
    t.shutdown(&sock);
}

#[test]
fn restart_while_the_old_instance_stops_never_runs_two() {
    // Defect 2: `restart` (or stop, start) beside the old instance, then
    // a shutdown that never ended.
    let d = TempDir::new("rl-two");
    let stubborn = slow_stop_script(&d, "0");
    let conf = |v: u32| section("a", &stubborn, &format!("env = V={v}\nstop-timeout = 2"));
    let (mut t, sock, p) = Td::up(&d, &conf(1), &["a"]);
    let tinyd = t.pid;
    fs::write(d.join("t.conf"), conf(2)).unwrap();
    assert_eq!(ctl(&sock, &["reload"]).code, Some(0));
    // The old one ignores SIGTERM: it stays 2 s, until SIGKILL.
    let mut restart = Command::new(bin())
        .args(["ctl", "-s", &s(&sock), "restart", "a"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    for req in ["stop", "start"] {
        let _ = Command::new(bin())
            .args(["ctl", "-s", &s(&sock), "-w", "1", req, "a"])
            .output();
    }
    let one = || {
        let n = instances(tinyd, &stubborn, "a");
        (n.len() > 1).then(|| format!("two instances of a: {n:?}"))
    };
    until_never(
        15.0,
        "the new a",
        || instances(tinyd, &stubborn, "a").iter().any(|&q| q != p[0]),
        one,
    );
    assert!(
        restart.wait().unwrap().success(),
        "restart answered once a ran"
    );
    // Another changing reload, then stop: stopped means nothing runs.
    fs::write(d.join("t.conf"), conf(3)).unwrap();
    assert_eq!(ctl(&sock, &["reload"]).code, Some(0));
    let o = ctl(&sock, &["stop", "a"]);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert!(
        instances(tinyd, &stubborn, "a").is_empty(),
        "stopped, yet a runs"
    );
    let started = Instant::now();
    t.shutdown(&sock);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn two_reloads_changing_sixty_four_services_while_they_stop() {
    // Defect 3: the second reload lost most services (out of memory) or
    // refused the file (too many services).
    let d = TempDir::new("rl-64");
    let stubborn = slow_stop_script(&d, "0");
    let conf = |v: u32| {
        (0..64)
            .map(|k| {
                section(
                    &format!("s{k}"),
                    &stubborn,
                    &format!("env = V={v}\nstop-timeout = 1"),
                )
            })
            .collect::<String>()
    };
    let names: Vec<String> = (0..64).map(|k| format!("s{k}")).collect();
    let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let (mut t, sock, _) = Td::up(&d, &conf(1), &refs);
    let tinyd = t.pid;
    for v in [2, 3] {
        fs::write(d.join("t.conf"), conf(v)).unwrap();
        let o = ctl(&sock, &["reload"]);
        assert_eq!(o.code, Some(0), "reload {v}: {o:?}");
        assert_eq!(
            o.stdout,
            "reloaded: 0 added, 0 removed, 64 changed, 0 unchanged\n"
        );
    }
    let q = wait_for(30.0, "all 64 running again", || running_pids(&sock, &refs));
    for &g in &q {
        t.group(g);
    }
    for (k, &pid) in q.iter().enumerate() {
        assert!(environ(pid).contains(&"V=3".to_string()), "s{k} runs V=3");
        assert_eq!(instances(tinyd, &stubborn, &format!("s{k}")), [pid]);
    }
    let (_, lines) = status(&sock).unwrap();
    assert_eq!(lines.len(), 64);
    t.shutdown(&sock);
}

#[test]
fn a_reload_whose_new_log_cannot_be_opened_changes_nothing() {
    // Defect 4: the service was stopped and dropped, and the reload
    // answered success.
    let d = TempDir::new("rl-log");
    let svc = svc_script(&d);
    let v1 = section("a", &svc, "");
    let (mut t, sock, p) = Td::up(&d, &v1, &["a"]);
    let bad = d.join("no-such-dir/a.log");
    let v2 = format!(
        "{}{}",
        section("a", &svc, &format!("log = {}", s(&bad))),
        section("b", &svc, "")
    );
    fs::write(d.join("t.conf"), v2).unwrap();
    let o = ctl(&sock, &["reload"]);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(
        o.stderr.trim_end(),
        format!(
            "tinyd: a: cannot open log {}: no such file or directory",
            s(&bad)
        )
    );
    assert_eq!(running_pids(&sock, &["a"]), Some(vec![p[0]]), "a untouched");
    assert_eq!(ctl(&sock, &["status", "b"]).code, Some(4), "b not added");
    assert!(alive(p[0]));
    // Nothing of the refused reload is left over: the next one applies.
    let good = d.join("a.log");
    let v3 = format!(
        "{}{}",
        section("a", &svc, &format!("log = {}", s(&good))),
        section("b", &svc, "")
    );
    fs::write(d.join("t.conf"), v3).unwrap();
    let o = ctl(&sock, &["reload"]);
    assert_eq!(
        o.stdout, "reloaded: 1 added, 0 removed, 1 changed, 0 unchanged\n",
        "{o:?}"
    );
    let q = t.running(&sock, &["a", "b"]);
    assert_ne!(q[0], p[0], "a restarted with its log");
    t.shutdown(&sock);
}

#[test]
fn a_service_stopped_by_request_stays_down_when_a_reload_changes_it() {
    // Defect 5: any reload that changed it started it again.
    let d = TempDir::new("rl-down");
    let svc = svc_script(&d);
    let conf = |v: u32| {
        format!(
            "{}{}",
            section("a", &svc, &format!("env = V={v}")),
            section("b", &svc, &format!("env = V={v}"))
        )
    };
    let (mut t, sock, p) = Td::up(&d, &conf(1), &["a", "b"]);
    let tinyd = t.pid;
    assert_eq!(ctl(&sock, &["stop", "a"]).code, Some(0));
    fs::write(d.join("t.conf"), conf(2)).unwrap();
    assert_eq!(
        ctl(&sock, &["reload"]).stdout,
        "reloaded: 0 added, 0 removed, 2 changed, 0 unchanged\n"
    );
    // b restarting with V=2 shows the reload was carried out.
    let q = wait_for(10.0, "b restarted", || {
        running_pids(&sock, &["b"]).filter(|q| q[0] != p[1])
    });
    t.group(q[0]);
    let (_, a) = status(&sock).unwrap();
    assert_eq!(a[0].state, "stopped", "{a:?}");
    assert!(instances(tinyd, &svc, "a").is_empty());
    // Started by request, it runs with the new settings.
    assert_eq!(ctl(&sock, &["start", "a"]).code, Some(0));
    let r = t.running(&sock, &["a"]);
    assert!(environ(r[0]).contains(&"V=2".to_string()));
    t.shutdown(&sock);
}

/// Private_Dirty of the process's `[stack]` mapping, in kB.
fn stack_dirty_kb(pid: i32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    let mut in_stack = false;
    for l in s.lines() {
        let first = l.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()) {
            in_stack = l.ends_with("[stack]");
        }
        if let (true, Some(v)) = (in_stack, l.strip_prefix("Private_Dirty:")) {
            return v.trim().trim_end_matches("kB").trim().parse().expect("kB");
        }
    }
    panic!("no [stack] in /proc/{pid}/smaps");
}

#[test]
fn reloads_and_requests_give_their_stack_pages_back() {
    // The configuration parser's frames go about 20 KiB below the loop's:
    // without release_stack after the turn, a reload would leave those
    // pages dirty for the daemon's whole life (and each request its own).
    let d = TempDir::new("rl-stack");
    let svc = svc_script(&d);
    let (mut t, sock, _) = Td::up(&d, &section("x", &svc, ""), &["x"]);
    // Once the last client's end is read, as after the reloads below.
    support::wait_quiet(t.pid, 10.0);
    let before = stack_dirty_kb(t.pid);
    for _ in 0..3 {
        let o = ctl(&sock, &["reload"]);
        assert_eq!(o.code, Some(0), "{o:?}");
        let o = ctl(&sock, &["status"]);
        assert_eq!(o.code, Some(0), "{o:?}");
    }
    // The pages go back at the end of the turn that answered.
    wait_until(
        10.0,
        "the stack back to its size before the reloads",
        || stack_dirty_kb(t.pid) <= before + 4,
    );
    eprintln!(
        "stack Private_Dirty: {before} kB, after 3 reloads {} kB",
        stack_dirty_kb(t.pid)
    );
    t.shutdown(&sock);
}
