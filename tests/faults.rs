//! tinyd under faults: a crash loop, tinyd itself SIGKILLed, commands that
//! ignore SIGTERM, daemonize or close their output, a full disk, a flood of
//! output, low resource limits, and storms of signals and control requests.
//! Each checks that tinyd keeps supervising, costs little CPU (no busy
//! loop), keeps a flat Rss, and leaves nothing behind.
//!
//! The guard (`Tinyd`) and the log parsing are tests/common/support.rs's;
//! the /proc readers and resource limits are tests/common/mod.rs's.

mod common;

use common::support::*;
use common::*;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

// ---- 1. crash loop -------------------------------------------------------------

#[test]
fn crash_loop_costs_no_cpu_and_no_memory() {
    let d = TempDir::new("flt-crash");
    let (l1, l2) = (d.join("default.log"), d.join("fast.log"));
    let mut slow = Tinyd::spawn_tag(
        &d,
        "default",
        &["-f", "-n", "crash", "-o", &s(&l1), "--", "/bin/false"],
    );
    let mut fast = Tinyd::spawn_tag(
        &d,
        "fast",
        &[
            "-f",
            "--restart-delay",
            "0.1:1",
            "-n",
            "crash",
            "-o",
            &s(&l2),
            "--",
            "/bin/false",
        ],
    );
    let t0 = Instant::now();
    wait_starts(&l1, "crash", 1, 10.0);
    wait_starts(&l2, "crash", 1, 10.0);
    sleep_until(t0 + Duration::from_secs(2));
    let m2 = [mem(slow.pid), mem(fast.pid)];
    sleep_until(t0 + Duration::from_secs(10));
    let m10 = [mem(slow.pid), mem(fast.pid)];
    let ticks = [cpu(slow.pid), cpu(fast.pid)];
    let secs = t0.elapsed().as_secs_f64();
    for (k, (t, log)) in [(&slow, &l1), (&fast, &l2)].iter().enumerate() {
        let pct = ticks[k] as f64 / secs; // ticks are 1/100 s
        eprintln!(
            "crash loop {}: {} starts, CPU {} ticks in {secs:.1} s = {pct:.2}%",
            ["1:60", "0.1:1"][k],
            starts(log, "crash").len(),
            ticks[k]
        );
        assert!(
            pct < 2.0,
            "tinyd used {pct:.2}% of a core in a crash loop ({} ticks)",
            ticks[k]
        );
        assert_flat(
            &format!("crash loop {}", ["1:60", "0.1:1"][k]),
            m2[k],
            m10[k],
        );
        assert!(zombies_of(t.pid).len() <= 1, "zombies pile up");
        let ev = events(log, "crash");
        assert!(
            ev.iter().any(|(_, e)| e == "exited with status 1"),
            "{ev:?}"
        );
    }
    // 1:60 restarts at about 0, 1, 3, 7 s; 0.1:1 about every second.
    let n = [starts(&l1, "crash").len(), starts(&l2, "crash").len()];
    assert!((3..=6).contains(&n[0]), "starts with 1:60: {}", n[0]);
    assert!((8..=16).contains(&n[1]), "starts with 0.1:1: {}", n[1]);
    slow.stop(10.0);
    fast.stop(10.0);
}

// ---- 2. tinyd SIGKILLed ------------------------------------------------------

/// A service that records its start and the SIGTERM it gets in `w/`.
fn term_recorder(d: &TempDir, w: &Path) -> PathBuf {
    d.script(
        "rec.sh",
        &format!(
            "trap 'echo \"$$ TERM\" >> {w}/term; exit 0' TERM\necho $$ >> {w}/started\nwhile :; do sleep 0.05; done",
            w = s(w)
        ),
    )
}

#[test]
fn sigkilled_tinyd_terms_its_commands_and_pidfile_is_taken_over() {
    let d = TempDir::new("flt-kill");
    for user in ["", "nobody"] {
        let w = d.join(&format!("w{user}"));
        fs::create_dir(&w).unwrap();
        fs::set_permissions(&w, fs::Permissions::from_mode(0o777)).unwrap();
        let rec = term_recorder(&d, &w);
        let mut args = vec!["-f", "-n", "rec"];
        if !user.is_empty() {
            args.extend(["-u", user]);
        }
        let rec = s(&rec);
        args.push(&rec);
        let mut t = Tinyd::spawn_tag(&d, &format!("kill{user}"), &args);
        let pid: i32 = wait_for(10.0, "service started", || {
            fs::read_to_string(w.join("started"))
                .ok()?
                .trim()
                .parse()
                .ok()
        });
        if !user.is_empty() {
            let uid = status_field(pid, "Uid").unwrap();
            assert!(uid.starts_with("65534"), "runs as nobody: {uid}");
        }
        let t0 = Instant::now();
        assert!(signal(t.pid, SIGKILL));
        let st = t.wait_exit(10.0);
        assert_eq!(st.signal(), Some(SIGKILL));
        wait_until(5.0, "the service records SIGTERM", || {
            fs::read_to_string(w.join("term")).is_ok_and(|s| s.trim() == format!("{pid} TERM"))
        });
        let took = t0.elapsed();
        wait_until(5.0, "the service exits", || !alive(pid));
        eprintln!("tinyd SIGKILLed (user {user:?}): service got SIGTERM after {took:?}");
        assert!(took < Duration::from_secs(2), "SIGTERM after {took:?}");
    }

    // The pidfile: a second tinyd is refused while the first lives; once
    // it is SIGKILLed, a new one takes the stale file over; one copy of
    // the service at any time.
    let pf = d.join("tinyd.pid");
    let svc = d.script("one.sh", "while :; do sleep 0.05; done");
    let one = s(&svc);
    let args = ["-p", &s(&pf), "-n", "one", &one];
    let mut r = Tinyd::reaper(&d);
    // The launcher only: a Tinyd of its own would clean the daemon up
    // when dropped; `r` kills it on drop.
    let launch = |r: &mut Tinyd| {
        let o = multi::launch(&d, &args);
        if let Some(pid) = read_pid(&pf) {
            r.process(pid);
        }
        (o.code, o.stderr)
    };
    let (code, err) = launch(&mut r);
    assert!(code == Some(0), "first start: {err}");
    let pid1 = read_pid(&pf).unwrap();
    r.pid = pid1;
    // Copies of the service: `/bin/sh .../one.sh` leading its group (not
    // tinyd, whose command line names the script too, nor a fork of the
    // script before it execs).
    let copies = |one: &str| -> Vec<i32> {
        procs_with(one)
            .into_iter()
            .filter(|&q| {
                cmdline(q).join(" ").starts_with("/bin/sh ") && stat(q).is_some_and(|s| s.pgrp == q)
            })
            .collect()
    };
    let copy1 = wait_for(10.0, "one copy", || copies(&one).first().copied());
    let (code, err) = launch(&mut r);
    assert_eq!(code, Some(1), "second start refused: {err}");
    assert_eq!(
        err.trim(),
        format!("tinyd: {}: already running (pid {pid1})", s(&pf))
    );
    assert_eq!(copies(&one), vec![copy1], "still one copy");

    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, most, one) = (stop.clone(), most.clone(), one.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                most.fetch_max(copies(&one).len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    assert!(signal(pid1, SIGKILL));
    wait_until(10.0, "the first tinyd is gone", || !alive(pid1));
    assert_eq!(read_pid(&pf), Some(pid1), "the stale pidfile is left");
    let (code, err) = launch(&mut r);
    assert!(code == Some(0), "start over a stale pidfile: {err}");
    let pid2 = read_pid(&pf).unwrap();
    assert_ne!(pid2, pid1);
    r.pid = pid2;
    let copy2 = wait_for(10.0, "the new copy", || {
        copies(&one).into_iter().find(|&c| c != copy1)
    });
    wait_until(10.0, "the old copy is gone", || !alive(copy1));
    // A while with the new tinyd running.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(copies(&one), vec![copy2]);
    assert!(
        most.load(Ordering::Relaxed) <= 1,
        "two copies of the service ran at once"
    );
    assert!(signal(pid2, SIGTERM));
    wait_until(15.0, "the second tinyd exits", || !alive(pid2));
    assert!(!pf.exists(), "pidfile removed");
    assert!(copies(&one).is_empty());
}

// ---- 3. awkward commands -------------------------------------------------------

#[test]
fn stop_and_reaping_hold_for_stubborn_forking_and_closed_output_commands() {
    let d = TempDir::new("flt-awk");
    let dp = s(d.path());
    let ign = d.script(
        "ign.sh",
        "trap '' TERM\nsleep 100 &\necho ready\nwhile :; do sleep 0.1; done",
    );
    let bg = d.script("bg.sh", "while :; do sleep 0.1; done");
    let esc = d.script("esc.sh", "sleep 0.5");
    let fork = d.script(
        "fork.sh",
        &format!(
            "sh -c '{dp}/bg.sh & exit 0'\nsetsid {dp}/esc.sh &\necho ready\nwhile :; do sleep 0.1; done"
        ),
    );
    let _ = (bg, esc);
    let closed = d.script(
        "closed.sh",
        "echo ready\nexec >&- 2>&-\nwhile :; do sleep 0.1; done",
    );
    let mut runs = Vec::new();
    for (name, cmd) in [("ign", &ign), ("fork", &fork), ("closed", &closed)] {
        let log = d.join(&format!("{name}.log"));
        let t = Tinyd::spawn_tag(
            &d,
            name,
            &["-f", "-t", "1", "-n", name, "-o", &s(&log), &s(cmd)],
        );
        runs.push((name, t, log));
    }
    let mut pids = Vec::new();
    for (name, t, log) in &runs {
        let pid = wait_starts(log, name, 1, 10.0)[0].1;
        wait_until(10.0, "ready", || {
            log.exists()
                && fs::read_to_string(log)
                    .unwrap()
                    .contains(&format!("{name}: ready\n"))
        });
        pids.push((t.pid, pid));
    }
    // The double fork: bg.sh stays in the group, adopted by tinyd (a
    // subreaper); esc.sh leaves the group (setsid) and ends by itself,
    // and is reaped by tinyd, no zombie.
    let tf = pids[1].0;
    let bgp = wait_for(10.0, "bg.sh adopted by tinyd", || {
        procs_with(&format!("{dp}/bg.sh"))
            .into_iter()
            .find(|&q| stat(q).is_some_and(|s| s.ppid == tf))
    });
    assert_eq!(stat(bgp).unwrap().pgrp, pids[1].1, "bg.sh in the group");
    wait_until(10.0, "esc.sh ended and reaped", || {
        procs_with(&format!("{dp}/esc.sh")).is_empty()
    });
    assert!(zombies_of(tf).is_empty(), "zombies: {:?}", zombies_of(tf));
    // Stop all three at once: the stubborn one needs the 1 s stop timeout.
    let t0 = Instant::now();
    for (_, t, _) in &runs {
        assert!(signal(t.pid, SIGTERM));
    }
    for (k, (name, t, log)) in runs.iter_mut().enumerate() {
        let st = t.wait_exit(1.0 + 9.0);
        let took = t0.elapsed();
        eprintln!("stop {name}: exited {st:?} after {took:?}");
        assert_eq!(st.code(), Some(0), "{name}: {}", t.stderr());
        assert!(took < Duration::from_secs(6), "{name} stop took {took:?}");
        let g = pids[k].1;
        assert!(
            group_members(g).is_empty(),
            "{name}: group {g} left (zombies included): {:?}",
            group_members(g)
        );
        let ev = events(log, name);
        assert!(ev.iter().any(|(_, e)| e == "stopped"), "{ev:?}");
        if *name == "ign" {
            assert!(
                ev.iter().any(|(_, e)| e.starts_with("sending SIGKILL")),
                "{ev:?}"
            );
        }
    }
    assert!(!alive(bgp), "bg.sh left running");
    let left: Vec<i32> = procs_with(&format!("{dp}/"))
        .into_iter()
        .filter(|&q| !cmdline(q).join(" ").contains("tinyd"))
        .collect();
    assert!(left.is_empty(), "left running: {left:?}");
    let sleeps: Vec<i32> = pids.iter().flat_map(|&(_, g)| group_members(g)).collect();
    assert!(sleeps.is_empty(), "{sleeps:?}");
}

// ---- 4. disk full --------------------------------------------------------------

#[test]
fn full_disk_counts_lost_lines_and_resumes() {
    let d = TempDir::new("flt-full");
    let count = d.join("count");
    let svc = d.script(
        "lines.sh",
        &format!(
            "i=0\npad={pad}\nwhile :; do i=$((i+1)); echo \"line $i $pad\"; echo $i > {c}.new; mv {c}.new {c}; sleep 0.01; done",
            c = s(&count),
            pad = "x".repeat(180)
        ),
    );
    // A 64 KiB tmpfs in a mount namespace of tinyd's own.
    let (mut t, root) = on_small_tmpfs(&d, "64k", "", &svc);
    let log = root.join("out.log");
    let n = || -> u64 {
        fs::read_to_string(&count)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    let pid = wait_for(10.0, "the service runs", || {
        cmdline(t.pid).join(" ").contains("tinyd").then_some(())?;
        starts(&log, "full").first().map(|s| s.1)
    });
    wait_until(10.0, "20 lines", || n() >= 20);
    fill_disk(&root);
    let (n0, c0, t0) = (n(), cpu(t.pid), Instant::now());
    wait_until(20.0, "100 lines written while full", || n() >= n0 + 100);
    std::thread::sleep(Duration::from_millis(500));
    let (dn, dc, dt) = (n() - n0, cpu(t.pid) - c0, t0.elapsed().as_secs_f64());
    let pct = dc as f64 / dt;
    eprintln!("disk full: {dn} lines in {dt:.1} s, tinyd CPU {dc} ticks = {pct:.2}%");
    assert!(pct < 5.0, "tinyd busy while the disk is full: {pct:.2}%");
    assert!(alive(pid) && alive(t.pid), "still supervising");
    let size_full = fs::metadata(&log).unwrap().len();
    // Space is back.
    fs::remove_file(root.join("filler")).unwrap();
    let n1 = n();
    wait_until(10.0, "lines logged again", || {
        log_text(&log).contains(&format!("full: line {} ", n1 + 20))
    });
    let ev = events(&log, "full");
    assert_eq!(starts(&log, "full").len(), 1, "no restart: {ev:?}");
    // The log goes with tinyd's mount namespace: keep a copy.
    let copy = d.join("out.log.copy");
    fs::copy(&log, &copy).unwrap();
    assert!(t.stop(10.0) < Duration::from_secs(5));
    let all: Vec<(i64, String)> = log_lines(&copy)
        .into_iter()
        .map(|l| (l.ms, l.rest))
        .collect();
    let lost: Vec<(usize, u64)> = all
        .iter()
        .enumerate()
        .filter_map(|(k, (_, r))| {
            let r = r.strip_prefix("tinyd: ")?;
            let (n, why) = r.split_once(" lines lost: ")?;
            assert_eq!(why, "no space left on device", "{r}");
            Some((k, n.parse().ok()?))
        })
        .collect();
    assert_eq!(lost.len(), 1, "one `lines lost` report: {lost:?}");
    for (_, r) in &all {
        assert!(
            line_no(r).is_some() || r.starts_with("tinyd: "),
            "a malformed line (cut short, or two glued): {r:?}"
        );
    }
    let seen: Vec<u64> = all.iter().filter_map(|(_, r)| line_no(r)).collect();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "lines in order");
    let last = *seen.last().unwrap();
    let missing = last - seen.len() as u64;
    eprintln!(
        "disk full: log {size_full} bytes when full, {} lines lost reported, {missing} missing of {last}",
        lost[0].1
    );
    // What the log's last page could still hold is written; the rest lost.
    assert!(lost[0].1 + 30 >= dn, "lines were lost while full: {lost:?}");
    assert_eq!(lost[0].1, missing, "every missing line is counted");
    // The report comes where the gap is.
    let before = all[..lost[0].0]
        .iter()
        .filter(|(_, r)| r.starts_with("full: line "))
        .count() as u64;
    assert_eq!(
        seen[before as usize] - seen[before as usize - 1] - 1,
        missing
    );
}

/// N of a whole `full: line N xxx...` (180 x).
fn line_no(r: &str) -> Option<u64> {
    let (n, pad) = r.strip_prefix("full: line ")?.split_once(' ')?;
    (pad.len() == 180 && pad.bytes().all(|b| b == b'x')).then_some(())?;
    n.parse().ok()
}

fn log_text(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

// ---- 5. a flood of output -------------------------------------------------------

/// Lines of the flood: 100 bytes each with the newline.
const FLOOD_LINES: u64 = 1_000_000;

#[test]
fn flood_of_output_loses_no_line_and_memory_stays_flat() {
    let d = TempDir::new("flt-flood");
    let log = d.join("flood.log");
    let cmd = d.script(
        "flood.sh",
        &format!(
            "awk 'BEGIN {{ s = sprintf(\"%90s\", \"\"); gsub(/ /, \"x\", s); for (i = 1; i <= {FLOOD_LINES}; i++) printf \"%09d %s\\n\", i, s }}'"
        ),
    );
    let mut t = Tinyd::spawn_tag(
        &d,
        "flood",
        &[
            "-f",
            "-r",
            "never",
            "--log-size",
            "1000M",
            "--log-keep",
            "1",
            "-n",
            "fl",
            "-o",
            &s(&log),
            &s(&cmd),
        ],
    );
    let t0 = Instant::now();
    wait_starts(&log, "fl", 1, 10.0);
    wait_until(20.0, "10 MB logged", || {
        fs::metadata(&log).is_ok_and(|m| m.len() > 10_000_000)
    });
    let m0 = mem(t.pid);
    let mut m1 = m0;
    wait_until(60.0, "the flood ends", || {
        if let Some(m) = try_mem(t.pid) {
            m1 = (m1.0.max(m.0), m1.1.max(m.1));
        }
        t.exited()
    });
    let st = t.wait_exit(0.0);
    let took = t0.elapsed();
    assert_eq!(st.code(), Some(0), "{}", t.stderr());
    assert_flat("flood", m0, m1);
    let text = fs::read(&log).unwrap();
    let mut next = 1u64;
    let mut lost = 0u64;
    for l in text.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let r = &l[25..];
        if let Some(x) = r.strip_prefix(b"fl: ") {
            assert_eq!(x.len(), 100, "{}", String::from_utf8_lossy(l));
            let k: u64 = std::str::from_utf8(&x[..9]).unwrap().parse().unwrap();
            assert!(k >= next, "line {k} after {}", next - 1);
            next = k + 1;
        } else if let Some(x) = r.strip_prefix(b"tinyd: ")
            && let Some(i) = x.windows(12).position(|w| w == b" lines lost:")
        {
            lost += std::str::from_utf8(&x[..i])
                .unwrap()
                .parse::<u64>()
                .unwrap();
        }
    }
    let logged = text
        .split(|&c| c == b'\n')
        .filter(|l| l.get(25..29) == Some(b"fl: "))
        .count() as u64;
    eprintln!(
        "flood: {} MB, {logged} lines logged, {lost} lost, {took:?}",
        text.len() / 1_000_000
    );
    assert_eq!(next - 1, FLOOD_LINES, "the last line arrived");
    assert_eq!(logged + lost, FLOOD_LINES, "every line logged or counted");
}

#[test]
fn sigterm_during_a_flood_is_obeyed_within_the_stop_timeout() {
    let d = TempDir::new("flt-flood-term");
    let log = d.join("flood.log");
    // Ignores SIGTERM (inherited by yes): needs the SIGKILL.
    let cmd = d.script(
        "yes.sh",
        "trap '' TERM\nexec yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    );
    let mut t = Tinyd::spawn_tag(
        &d,
        "yes",
        &[
            "-f",
            "-t",
            "1",
            "--log-size",
            "4M",
            "--log-keep",
            "1",
            "-n",
            "yes",
            "-o",
            &s(&log),
            &s(&cmd),
        ],
    );
    // Its `started pid` line may be rotated away before a look at the log
    // finds it (4 MB go by in a few tens of milliseconds): ask the kernel.
    let pid = wait_for(10.0, "yes runs", || {
        children(t.pid)
            .into_iter()
            .find(|&c| cmdline(c).first().is_some_and(|a| a == "yes"))
    });
    wait_until(20.0, "the log rotated once", || {
        d.join("flood.log.1").exists()
    });
    let m0 = mem(t.pid);
    std::thread::sleep(Duration::from_millis(500));
    let m1 = mem(t.pid);
    let took = t.stop(1.0 + 9.0);
    eprintln!("flood + SIGTERM: exited after {took:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "stop took {took:?} (stop timeout 1 s)"
    );
    assert_flat("flood with rotation", m0, m1);
    assert!(group_members(pid).is_empty());
    // The flood goes on until the SIGKILL: the log may rotate between the
    // events, so read the rotated file too.
    let mut ev = events(&d.join("flood.log.1"), "yes");
    ev.extend(events(&log, "yes"));
    assert!(
        ev.iter()
            .any(|(_, e)| e == &format!("sending SIGKILL to process group {pid}")),
        "{ev:?}"
    );
    assert!(ev.iter().any(|(_, e)| e == "stopped"), "{ev:?}");
}

// ---- 6. low limits ---------------------------------------------------------------

#[test]
fn low_nofile_limit_gives_a_clear_message_and_no_busy_loop() {
    let d = TempDir::new("flt-nofile");
    let log = d.join("out.log");
    // Single-command mode, foreground and daemon: one line, exit 1,
    // nothing left.
    for fg in [true, false] {
        let pf = d.join("nf.pid");
        let mut c = tinyd();
        if fg {
            c.arg("-f");
        }
        c.args(["-p", &s(&pf), "-o", &s(&log), "--", "/bin/sleep", "100917"]);
        limit(&mut c, RLIMIT_NOFILE, 8);
        let mut t = Tinyd::spawn_cmd(&d, "nf", c);
        let st = t.wait_exit(10.0);
        let err = t.stderr();
        eprintln!("NOFILE 8 (foreground {fg}): {st:?} {err:?}");
        assert_eq!(st.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(
            err.starts_with("tinyd: ") && err.contains("too many open files"),
            "{err}"
        );
        assert!(!pf.exists(), "no pidfile left");
        assert!(
            procs_matching("sleep 100917")
                .into_iter()
                .all(|q| !alive(q)),
            "nothing started"
        );
    }

    // Config mode: the service cannot be started (no descriptors for the
    // exec pipe): logged, retried after its delay; a control client cannot
    // be accepted: logged, no spinning on the listener.
    // (A relative path: tinyd keeps the directory open, and the eighth
    // descriptor is its last: nothing left for a client either.)
    let conf = d.join("nf.conf");
    fs::write(&conf, "[a]\nexec = /bin/sleep 100\nrestart-delay = 0.3\n").unwrap();
    let sock = d.join("ctl.sock");
    let mut c = tinyd();
    c.args([
        "-f",
        "-p",
        &s(&d.join("tinyd.pid")),
        "--control",
        &s(&sock),
        "-c",
        "nf.conf",
    ])
    .current_dir(d.path());
    limit(&mut c, RLIMIT_NOFILE, 8);
    let mut t = Tinyd::spawn_cmd(&d, "conf", c);
    wait_until(10.0, "a first failure", || {
        t.stderr().contains("a: cannot fork: too many open files")
    });
    let (c0, t0) = (cpu(t.pid), Instant::now());
    let mut st = UnixStream::connect(&sock).unwrap();
    st.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    st.write_all(b"status\n").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let mut b = [0u8; 64];
    match st.read(&mut b) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        r => panic!("no reply expected without a descriptor: {r:?}"),
    }
    drop(st);
    let (dc, dt) = (cpu(t.pid) - c0, t0.elapsed().as_secs_f64());
    let err = t.stderr();
    let fails = err
        .lines()
        .filter(|l| *l == "tinyd: a: cannot fork: too many open files")
        .count();
    let rests = err
        .lines()
        .filter(|l| *l == "tinyd: a: restarting in 0.3 seconds")
        .count();
    let accepts = err
        .lines()
        .filter(|l| *l == "tinyd: control socket: cannot accept: too many open files")
        .count();
    eprintln!(
        "NOFILE 8, config: {fails} failed starts, {accepts} refused accepts, CPU {dc} ticks in {dt:.1} s"
    );
    assert!(dc as f64 / dt < 3.0, "busy: {dc} ticks in {dt:.1} s");
    assert!((5..=20).contains(&fails), "retried at its delay: {err}");
    assert!(rests + 1 >= fails, "{err}");
    assert!(
        (1..=4).contains(&accepts),
        "accept retried at most once a second: {err}"
    );
    assert!(alive(t.pid));
    t.stop(10.0);

    // With an absolute path, one descriptor is left: too few to start
    // the service (two for the exec pipe), enough to answer `status`.
    let mut c = tinyd();
    c.args([
        "-f",
        "-p",
        &s(&d.join("tinyd.pid")),
        "--control",
        &s(&sock),
        "-c",
        &s(&conf),
    ]);
    limit(&mut c, RLIMIT_NOFILE, 8);
    let mut t = Tinyd::spawn_cmd(&d, "conf2", c);
    wait_until(10.0, "a first failure", || {
        t.stderr().contains("a: cannot fork: too many open files")
    });
    let (code, text) = raw_status(&sock);
    assert_eq!(code, 3, "{text:?}");
    check_status(&text, &["a"]);
    // Never started, but an attempt failed: waiting for the next one.
    assert!(text.starts_with("a backoff - - 0 "), "{text:?}");
    t.stop(10.0);
}

#[test]
fn nproc_limit_reached_is_retried_at_the_restart_delay() {
    const UID: u32 = 64_999; // no processes of its own elsewhere
    let d = TempDir::new("flt-nproc");
    let w = d.join("w");
    fs::create_dir(&w).unwrap();
    std::os::unix::fs::chown(&w, Some(UID), Some(UID)).unwrap();
    let log = w.join("out.log");
    let mut c = tinyd();
    c.args([
        "-f",
        "--restart-delay",
        "0.3",
        "-n",
        "np",
        "-o",
        &s(&log),
        "--",
        "/bin/sleep",
        "0.1",
    ])
    .uid(UID)
    .gid(UID);
    // tinyd, its log writer and its service: three processes of UID at
    // most.
    limit(&mut c, RLIMIT_NPROC, 3);
    let mut t = Tinyd::spawn_cmd(&d, "np", c);
    wait_starts(&log, "np", 2, 10.0);
    // Another process of UID takes the service's place.
    let hog = Guard(
        Command::new("/bin/sleep")
            .arg("1000")
            .uid(UID)
            .gid(UID)
            .spawn()
            .unwrap(),
    );
    t.process(hog.pid());
    let fails = |ev: &[(i64, String)]| -> Vec<i64> {
        ev.iter()
            .filter(|(_, e)| e == "cannot fork: resource temporarily unavailable")
            .map(|x| x.0)
            .collect()
    };
    wait_until(10.0, "a failed fork", || {
        !fails(&events(&log, "np")).is_empty()
    });
    let (c0, t0) = (cpu(t.pid), Instant::now());
    wait_until(10.0, "5 failed forks", || {
        fails(&events(&log, "np")).len() >= 5
    });
    let (dc, dt) = (cpu(t.pid) - c0, t0.elapsed().as_secs_f64());
    let ev = events(&log, "np");
    let f = fails(&ev);
    let gaps: Vec<i64> = f.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("NPROC: failed forks every {gaps:?} ms, CPU {dc} ticks in {dt:.1} s");
    assert!(
        gaps.iter().all(|&g| g >= 290),
        "retried at the delay: {gaps:?}"
    );
    assert!(dc as f64 / dt < 3.0, "busy: {dc} ticks in {dt:.1} s");
    assert!(
        ev.iter().any(|(_, e)| e == "restarting in 0.3 seconds"),
        "{ev:?}"
    );
    // The place is free again: the service starts at the next retry.
    let n = starts(&log, "np").len();
    drop(hog);
    wait_starts(&log, "np", n + 1, 10.0);
    assert!(alive(t.pid));
    t.stop(10.0);
}

// ---- 7. storms -----------------------------------------------------------------

#[test]
fn signal_storm_of_100000_loses_nothing() {
    let d = TempDir::new("flt-storm");
    let log = d.join("out.log");
    let cmd = d.script("cmd.sh", "trap '' USR1 USR2\necho ready\nexec sleep 100999");
    let mut t = Tinyd::spawn_tag(&d, "storm", &["-f", "-n", "st", "-o", &s(&log), &s(&cmd)]);
    let pid = wait_starts(&log, "st", 1, 10.0)[0].1;
    wait_until(10.0, "the service execs sleep", || {
        cmdline(pid).join(" ").starts_with("sleep 100999")
    });
    let sigs = [SIGUSR1, SIGUSR2, SIGHUP, SIGCHLD, SIGPIPE];
    for &s in &sigs {
        assert!(signal(t.pid, s));
        wait_quiet(t.pid, 20.0);
    }
    let m0 = mem(t.pid);
    let c0 = cpu(t.pid);
    let t0 = Instant::now();
    let tp = t.pid;
    let senders: Vec<_> = (0..4)
        .map(|k| {
            std::thread::spawn(move || {
                for i in 0..25_000 {
                    assert!(signal(tp, sigs[(i + k) % sigs.len()]), "kill #{i}");
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let sent = t0.elapsed();
    wait_quiet(t.pid, 30.0);
    let m1 = mem(t.pid);
    eprintln!(
        "100,000 signals sent in {sent:?}, tinyd CPU {} ticks",
        cpu(t.pid) - c0
    );
    assert_flat("signal storm", m0, m1);
    assert!(
        cmdline(pid).join(" ").starts_with("sleep 100999"),
        "the service survived"
    );
    assert_eq!(starts(&log, "st").len(), 1, "no restart");
    let took = t.stop(10.0);
    eprintln!("signal storm: SIGTERM obeyed in {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(!alive(pid));
}

const STATES: [&str; 6] = [
    "starting", "running", "backoff", "stopping", "stopped", "failed",
];

/// Checks a `status` reply's text: one well-formed line per service.
fn check_status(text: &str, names: &[&str]) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), names.len(), "{text:?}");
    for (l, n) in lines.iter().zip(names) {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 6, "{l:?}");
        assert_eq!(f[0], *n, "{l:?}");
        assert!(STATES.contains(&f[1]), "{l:?}");
        let num_or_dash = |x: &str| x == "-" || x.parse::<u64>().is_ok();
        assert!(
            num_or_dash(f[2]) && num_or_dash(f[3]) && num_or_dash(f[4]),
            "{l:?}"
        );
        assert!(
            f[5] == "-" || f[5].parse::<u8>().is_ok() || f[5].starts_with("sig"),
            "{l:?}"
        );
    }
}

/// `status` over the raw protocol: (code, text).
fn raw_status(sock: &Path) -> (i32, String) {
    multi::ask_verbose(sock, "status").unwrap_or_else(|e| panic!("status: {e}"))
}

#[test]
fn control_storm_during_restart_loops_is_answered() {
    let d = TempDir::new("flt-ctl");
    let conf = d.join("t.conf");
    let svc = d.script("up.sh", "exec sleep 100998");
    fs::write(
        &conf,
        format!(
            "[l1]\nexec = /bin/sleep 0.05\nrestart-delay = 0.05\n[l2]\nexec = /bin/sleep 0.05\nrestart-delay = 0.05\n[up]\nexec = {}\n",
            s(&svc)
        ),
    )
    .unwrap();
    let sock = d.join("ctl.sock");
    let mut t = Tinyd::spawn_tag(
        &d,
        "ctl",
        &[
            "-f",
            "-p",
            &s(&d.join("tinyd.pid")),
            "--control",
            &s(&sock),
            "-c",
            &s(&conf),
        ],
    );
    let names = ["l1", "l2", "up"];
    let up = wait_for(10.0, "up runs", || {
        // The socket file exists from bind(), a moment before listen():
        // a refused connection then means "not yet".
        let (_, text) = multi::ask_verbose(&sock, "status").ok()?;
        let l = text.lines().nth(2)?.to_string();
        let f: Vec<&str> = l.split(' ').collect();
        (f[1] == "running").then(|| f[2].parse::<i32>().ok())?
    });
    let restarts = |text: &str| -> u64 {
        text.lines()
            .take(2)
            .map(|l| l.split(' ').nth(4).unwrap().parse::<u64>().unwrap_or(0))
            .sum()
    };
    // Warm-up: 16 clients at once and more, so every client slot is used.
    // n requests at least, for `secs` at least (over several restarts).
    let storm = |n: usize, threads: usize, secs: f64| {
        let done = Arc::new(AtomicUsize::new(0));
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let (sock, done) = (sock.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut i = 0;
                    while i < n / threads || Instant::now() < end {
                        i += 1;
                        if (i + k) % 2 == 0 {
                            let (code, text) = raw_status(&sock);
                            assert!(code == 0 || code == 3, "{code} {text:?}");
                            check_status(&text, &names);
                        } else {
                            let mut c = tinyd();
                            c.arg("ctl").arg("-s").arg(&sock).arg("status");
                            let o = c.stderr(Stdio::piped()).output().unwrap();
                            let code = o.status.code();
                            assert!(code == Some(0) || code == Some(3), "{o:?}");
                            check_status(&String::from_utf8(o.stdout).unwrap(), &names);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        done.load(Ordering::Relaxed)
    };
    storm(64, 32, 0.0);
    let m0 = mem(t.pid);
    let r0 = restarts(&raw_status(&sock).1);
    let t0 = Instant::now();
    // At least a second of storm, and on until the services restarted ten
    // times under it (a loaded machine restarts them more slowly).
    let mut answered = storm(1000, 8, 1.0);
    while restarts(&raw_status(&sock).1) < r0 + 10 && t0.elapsed() < Duration::from_secs(20) {
        answered += storm(100, 8, 0.5);
    }
    let took = t0.elapsed();
    assert!(answered >= 1000);
    let t1 = Instant::now();
    let (code, text) = raw_status(&sock);
    let last = t1.elapsed();
    check_status(&text, &names);
    assert!(code == 0 || code == 3);
    assert!(last < Duration::from_secs(2), "final status took {last:?}");
    let o = multi::ctl(&sock, &["status", "up"]);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert!(o.stdout.starts_with(&format!("up running {up} ")));
    let r1 = restarts(&text);
    let m1 = mem(t.pid);
    eprintln!(
        "{answered} status requests in {took:?} during {} restarts; final status in {last:?}",
        r1 - r0
    );
    assert!(r1 >= r0 + 10, "the services kept restarting: {r0} -> {r1}");
    assert_flat("control storm", m0, m1);
    t.stop(10.0);
}
