//! tinyd on a real busybox system (issue 4), with Debian's busybox-static:
//!
//! - busybox `init` as PID 1 of new PID and mount namespaces, reading an
//!   inittab of the test's own: tinyd in daemon mode from `::sysinit:`
//!   with a configuration file, a second tinyd from `::respawn:` in the
//!   foreground, `tinyd ctl shutdown` from `::shutdown:`; SIGKILL to the
//!   respawned tinyd never leaves two copies of its service; init's
//!   poweroff stops every service through tinyd before init's SIGKILL.
//! - a dependency chain (a oneshot, a service ready at `echo >&3`, its
//!   dependant) from `::sysinit:`: the launcher returns once all are
//!   ready, before init runs the next `::sysinit:` line.
//! - `start-stop-daemon -S` / `-K` with tinyd's pidfile, and the exit codes
//!   an rcS script sees.
//! - busybox `syslogd` on a private `/dev/log` receiving `--syslog` lines
//!   and tinyd's own events.
//!
//! Needs root, busybox (`busybox-static`) and util-linux (`unshare`,
//! `nsenter`, `mount`): `tests/install-deps.sh` installs them. A missing
//! tool fails the test with that hint; nothing is skipped.
//!
//! Every process a test starts runs inside namespaces whose init a guard
//! SIGKILLs on drop (the kernel then kills the whole PID namespace), or
//! carries the test's directory in its command line (the `Td` guard kills
//! those), so nothing is left behind even when an assertion fails.

mod common;

use common::*;
use multi::*;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

const HINT: &str = "run tests/install-deps.sh as root (installs busybox-static and util-linux)";

/// The directories of $PATH (none when it is unset).
fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

/// `name` in the first of `dirs` that holds it as a file; panics with the
/// hint when none does.
fn find_in(dirs: impl IntoIterator<Item = PathBuf>, name: &str) -> String {
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| s(&p))
        .unwrap_or_else(|| panic!("{name} not found: {HINT}"))
}

/// The busybox binary, with the applets the tests use; panics with the
/// installer's name when it is missing.
fn busybox() -> String {
    let fixed = ["/usr/bin", "/bin", "/usr/sbin"].map(PathBuf::from);
    let bb = find_in(fixed.into_iter().chain(path_dirs()), "busybox");
    let list = Command::new(&bb)
        .arg("--list")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bb}: {e}: {HINT}"));
    let list = text(&list.stdout);
    for applet in ["init", "start-stop-daemon", "syslogd", "sh"] {
        assert!(
            list.lines().any(|l| l == applet),
            "{bb} has no `{applet}` applet: {HINT}"
        );
    }
    bb
}

/// A util-linux tool (`unshare`, `nsenter`); panics with the hint when it
/// is missing. Also checks that the tests run as root.
fn tool(name: &str) -> String {
    assert_eq!(
        status_field(std::process::id() as i32, "Uid")
            .and_then(|u| u.split_whitespace().next().map(str::to_string))
            .as_deref(),
        Some("0"),
        "the busybox tests need root (namespaces, mounts)"
    );
    let fixed = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    find_in(path_dirs().into_iter().chain(fixed), name)
}

/// The last pid of /proc/PID/status's `NSpid`: the pid inside the
/// innermost PID namespace.
fn ns_pid(host: i32) -> Option<i32> {
    status_field(host, "NSpid")?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// `init` and every process below it (host pids): the whole PID
/// namespace, since orphans there are reparented to its init.
fn descendants(init: i32) -> Vec<i32> {
    let mut v = vec![init];
    let mut i = 0;
    while i < v.len() {
        let c = children(v[i]);
        v.extend(c);
        i += 1;
    }
    v
}

/// The host pid of the live process with pid `ns` in `init`'s namespace.
fn host_pid(init: i32, ns: i32) -> Option<i32> {
    descendants(init)
        .into_iter()
        .find(|&p| ns_pid(p) == Some(ns) && alive(p))
}

/// The pids (one per line) in a file.
fn pids(path: &Path) -> Vec<i32> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// `unshare ARGS` with `--fork`: a process tree in new namespaces. On
/// drop, the namespace's init gets SIGKILL (which kills every process of
/// the PID namespace), then unshare is killed and reaped (`--kill-child`
/// covers an init forked after the first SIGKILL).
struct Ns {
    child: Child,
    status: Option<ExitStatus>,
    out: PathBuf,
}

impl Ns {
    /// Runs `unshare --kill-child ARGS` (the namespace's init gets SIGKILL
    /// if unshare dies), stdout and stderr to `out`, stdin on /dev/null.
    fn spawn(args: &[&str], out: PathBuf) -> Ns {
        let f = fs::File::create(&out).unwrap();
        let child = Command::new(tool("unshare"))
            .arg("--kill-child")
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .env_remove("TINYD_SYSLOG")
            .env_remove("CONSOLE")
            .env_remove("console")
            .spawn()
            .expect("spawn unshare");
        Ns {
            child,
            status: None,
            out,
        }
    }

    /// The namespace's init (unshare's child), once it has exec'd
    /// something whose command line contains `what`.
    fn init(&self, what: &str) -> i32 {
        let u = self.child.id() as i32;
        wait_for(15.0, &format!("unshare's child runs {what}"), || {
            children(u)
                .into_iter()
                .find(|&c| cmdline(c).join(" ").contains(what))
        })
    }

    /// What unshare and the namespace wrote.
    fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits (with a deadline) until unshare exits.
    fn wait_exit(&mut self, secs: f64) -> ExitStatus {
        let c = &mut self.child;
        let st = wait_for(secs, "unshare exits", || c.try_wait().unwrap());
        self.status = Some(st);
        st
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        if self.status.is_none() {
            for c in children(self.child.id() as i32) {
                signal(c, SIGKILL);
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `tinyd ctl -s SOCK ARGS` run inside `init`'s PID and mount namespaces
/// (see `ctl_from_another_pid_namespace` for why not from outside).
fn ctl_in(init: i32, sock: &Path, args: &[&str]) -> Out {
    let mut c = Command::new(tool("nsenter"));
    c.args(["-t", &init.to_string(), "-p", "-m", "--"])
        .arg(bin())
        .args(["ctl", "-s", &s(sock)])
        .args(args)
        .stdin(Stdio::null());
    out(run_cmd(&mut c))
}

/// A service script for init's tinyds: records its pid (inside the
/// namespace) in `ran.NAME` when it starts and in `term.NAME` when SIGTERM
/// makes it exit; with `tick`, appends its pid to `tick.NAME` every 50 ms
/// while it runs (its main loop, not its exit path).
fn recording_script(d: &TempDir, file: &str, tick: bool) -> String {
    let dir = s(d.path());
    let body = if tick {
        format!("echo $$ >> '{dir}/tick.'\"$1\"\n    ")
    } else {
        String::new()
    };
    let sleep = if tick { "0.05" } else { "1" };
    s(&d.script(
        file,
        &format!(
            "echo $$ >> '{dir}/ran.'\"$1\"\n\
             trap 'echo $$ >> \"{dir}/term.$1\"; exit 0' TERM\n\
             while :; do\n    {body}sleep {sleep} & wait $!\ndone"
        ),
    ))
}

/// Checks that no copy of the service ticked after the next copy's first
/// tick: once copy N+1 runs, copy N never runs its main loop again.
fn check_ticks(ticks: &[i32]) {
    let mut seen: Vec<i32> = Vec::new();
    for (k, &p) in ticks.iter().enumerate() {
        if let Some(pos) = seen.iter().position(|&q| q == p) {
            assert_eq!(
                pos,
                seen.len() - 1,
                "copy {p} ticked (line {k}) after a newer copy ({:?}) had started: \
                 two copies ran at once; ticks: {ticks:?}",
                &seen[pos + 1..]
            );
        } else {
            seen.push(p);
        }
    }
}

/// busybox init as PID 1 in new PID and mount namespaces, reading the
/// test's `etc/inittab`: bound over /etc/inittab, or, when the host has
/// none to bind over, a read-only overlay on /etc with the test's etc/ on
/// top. The namespace and init's host pid.
fn boot_init(d: &TempDir, bb: &str) -> (Ns, i32) {
    let dir = s(d.path());
    let boot = d.script(
        "boot.sh",
        &format!(
            "set -e\n\
             if [ -e /etc/inittab ]; then\n\
             \x20   mount --bind '{dir}/etc/inittab' /etc/inittab\n\
             else\n\
             \x20   mount -t overlay tinyd-test-etc -o 'lowerdir={dir}/etc:/etc' /etc\n\
             fi\n\
             exec {bb} init"
        ),
    );
    let ns = Ns::spawn(
        &[
            "--pid",
            "--mount",
            "--fork",
            "--mount-proc",
            "/bin/sh",
            &s(&boot),
        ],
        d.join("init.out"),
    );
    let init = ns.init(&format!("{bb} init"));
    (ns, init)
}

/// busybox init as PID 1: tinyd from `::sysinit:` (daemon, config file),
/// from `::respawn:` (foreground, one command), stopped by `::shutdown:`
/// and init's own SIGTERM at poweroff.
#[test]
fn busybox_init_sysinit_respawn_shutdown() {
    let bb = busybox();
    let d = TempDir::new("bb-init");
    let mut reaper = Td::reaper(&d);
    let dir = s(d.path());
    let tinyd_bin = s(&bin());
    let svc = recording_script(&d, "svc.sh", false);
    let resp = recording_script(&d, "resp.sh", true);
    let (pidfile, sock, log) = (d.join("tinyd.pid"), d.join("ctl.sock"), d.join("tinyd.log"));
    let conf = write(
        &d,
        "tinyd.conf",
        &format!(
            "[tinyd]\npidfile = {}\ncontrol = {}\nlog = {}\n\n\
             [a]\nexec = {svc} a\nstop-timeout = 3\n\n\
             [b]\nexec = {svc} b\nstop-timeout = 3\n",
            s(&pidfile),
            s(&sock),
            s(&log)
        ),
    );
    let resp_log = d.join("resp.log");
    fs::create_dir(d.join("etc")).unwrap();
    // The sysinit line has shell metacharacters: busybox runs it with
    // `/bin/sh -c`, which records the launcher's exit status as rcS would.
    write(
        &d,
        "etc/inittab",
        &format!(
            "::sysinit:/bin/sh -c '{tinyd_bin} -c {conf}; echo $? > {dir}/sysinit.rc'\n\
             ::respawn:{tinyd_bin} --foreground -n resp -t 3 -o {} -- {resp} resp\n\
             ::shutdown:{tinyd_bin} ctl -s {} shutdown\n",
            s(&resp_log),
            s(&sock)
        ),
    );
    let (mut ns, init) = boot_init(&d, &bb);
    assert_eq!(
        ns_pid(init),
        Some(1),
        "busybox init is PID 1 of its namespace"
    );

    // Both services of the daemon come up; ctl status says so.
    let st = wait_for(15.0, "ctl status: a and b running", || {
        let o = ctl_in(init, &sock, &["status"]);
        (o.code == Some(0)).then_some(o)
    });
    let lines = parse_status(&st.stdout);
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.name.as_str(), l.state.as_str()))
            .collect::<Vec<_>>(),
        [("a", "running"), ("b", "running")],
        "{st:?}; init: {}",
        ns.output()
    );
    assert_eq!(
        fs::read_to_string(d.join("sysinit.rc")).unwrap().trim(),
        "0",
        "the launcher from ::sysinit: exits 0"
    );
    // /proc: the daemon (pidfile) is init's child (reparented after its
    // double fork), in a session of its own that it does not lead; each service is its child and the
    // pid that ctl shows and the service recorded.
    let td_ns = read_pid(&pidfile).expect("pidfile");
    let td = host_pid(init, td_ns).expect("the daemon runs");
    reaper.pid = td;
    let tds = stat(td).unwrap();
    assert_eq!(tds.ppid, init, "the daemon's parent is init");
    assert_ne!(
        tds.session,
        stat(init).unwrap().session,
        "the daemon has its own session"
    );
    assert_ne!(tds.session, td, "not as its leader (second fork)");
    assert_eq!(tds.tty_nr, 0, "no controlling terminal");
    for l in &lines {
        let p = l.pid.unwrap();
        assert_eq!(pids(&d.join(&format!("ran.{}", l.name))), [p], "{l:?}");
        let h = host_pid(init, p).unwrap_or_else(|| panic!("{l:?} runs"));
        assert_eq!(stat(h).unwrap().ppid, td, "{l:?} is the daemon's child");
        reaper.group(h);
    }

    // The respawned tinyd: SIGKILL it three times. Each time init starts
    // it again; the old service got SIGTERM (parent-death signal) and is
    // gone, the new one is the only copy, and no two ever ran at once.
    let resp_tinyd = |not: i32| {
        children(init)
            .into_iter()
            .find(|&c| c != not && alive(c) && cmdline(c).iter().any(|a| a == "--foreground"))
    };
    let mut tinyd_r = wait_for(15.0, "init runs the respawn tinyd", || resp_tinyd(0));
    for round in 0..3 {
        let copies = wait_for(15.0, "the resp service runs and ticks", || {
            let ran = pids(&d.join("ran.resp"));
            let cur = *ran.last()?;
            (ran.len() == round + 1 && pids(&d.join("tick.resp")).contains(&cur)).then_some(ran)
        });
        let cur = *copies.last().unwrap();
        let cur_h = host_pid(init, cur).expect("resp service runs");
        assert_eq!(
            stat(cur_h).unwrap().ppid,
            tinyd_r,
            "resp is the tinyd's child"
        );
        reaper.group(cur_h);
        assert!(signal(tinyd_r, SIGKILL));
        let new_tinyd = wait_for(15.0, "init respawns tinyd", || resp_tinyd(tinyd_r));
        wait_until(10.0, "the old copy dies", || !alive(cur_h));
        let next = wait_for(15.0, "the new tinyd starts the service", || {
            let ran = pids(&d.join("ran.resp"));
            (ran.len() == round + 2).then(|| *ran.last().unwrap())
        });
        let next_h = wait_for(10.0, "new copy runs", || host_pid(init, next));
        assert_eq!(stat(next_h).unwrap().ppid, new_tinyd, "round {round}");
        reaper.group(next_h);
        assert!(
            pids(&d.join("term.resp")).contains(&cur),
            "the old copy {cur} got SIGTERM when its tinyd died"
        );
        // Exactly one copy of all those started is alive.
        let all = pids(&d.join("ran.resp"));
        let live: Vec<i32> = all
            .iter()
            .copied()
            .filter(|&p| host_pid(init, p).is_some())
            .collect();
        assert_eq!(
            live,
            [next],
            "one copy runs after respawn {round}; started: {all:?}"
        );
        tinyd_r = new_tinyd;
    }
    wait_until(10.0, "the last copy ticks", || {
        pids(&d.join("tick.resp")).contains(pids(&d.join("ran.resp")).last().unwrap())
    });
    check_ticks(&pids(&d.join("tick.resp")));
    // The daemon's services were not disturbed.
    let o = ctl_in(init, &sock, &["status"]);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(
        parse_status(&o.stdout)
            .iter()
            .map(|l| l.pid)
            .collect::<Vec<_>>(),
        lines.iter().map(|l| l.pid).collect::<Vec<_>>()
    );

    // Poweroff (SIGUSR2 to init): ::shutdown: runs `tinyd ctl shutdown`
    // (the daemon stops a and b), then init sends SIGTERM to everything
    // (the respawned tinyd stops resp), waits 1 s, sends SIGKILL, and
    // calls reboot(2), which in a PID namespace ends the namespace: its
    // parent sees init killed by SIGINT (SIGHUP for a reboot).
    let last = *pids(&d.join("ran.resp")).last().unwrap();
    assert!(signal(init, SIGUSR2));
    let st = ns.wait_exit(30.0);
    let out = ns.output();
    assert!(
        st.signal() == Some(SIGINT) || st.code() == Some(128 + SIGINT),
        "unshare reports init's poweroff (SIGINT): {st:?}; init: {out}"
    );
    // init.out is init's stderr, which the respawned tinyd and the
    // ::shutdown: ctl share: their lines come before init's SIGKILL.
    let pos = |what: &str| {
        out.find(what)
            .unwrap_or_else(|| panic!("init's output has {what:?}:\n{out}"))
    };
    assert!(
        pos("\nstopped\n") < pos("The system is going down NOW!"),
        "ctl shutdown answered first:\n{out}"
    );
    // init's SIGTERM reaches tinyd and resp at once: tinyd sees either its
    // own SIGTERM first (`stopping pid N`, then the exit) or resp's exit
    // first (then `stopping`); either way resp exits 0 from its trap and
    // tinyd has exited before init's SIGKILL.
    let kill = pos("Sent SIGKILL to all processes");
    let going = pos("The system is going down NOW!");
    for want in [
        "tinyd: resp: exited with status 0\n",
        "tinyd: stopping\n",
        "tinyd: stopped\n",
    ] {
        let at = out[going..]
            .find(want)
            .unwrap_or_else(|| panic!("{want:?} after the shutdown began:\n{out}"));
        assert!(going + at < kill, "{want:?} before init's SIGKILL:\n{out}");
    }
    assert!(pos("Requesting system poweroff") > kill, "{out}");
    // The daemon's log: each service stopped by SIGTERM within its stop
    // timeout, then tinyd; nothing needed SIGKILL.
    let ev = events(&log);
    for n in ["a", "b"] {
        let p = lines.iter().find(|l| l.name == n).unwrap().pid.unwrap();
        for want in [
            format!("{n}: stopping pid {p}"),
            format!("{n}: exited with status 0"),
            format!("{n}: stopped"),
        ] {
            assert!(ev.contains(&want), "tinyd.log has {want:?}: {ev:?}");
        }
        assert_eq!(
            pids(&d.join(&format!("term.{n}"))),
            [p],
            "{n} exited through its TERM trap"
        );
    }
    assert_eq!(ev.last().map(String::as_str), Some("stopped"), "{ev:?}");
    let rev = events(&resp_log);
    let from = rev
        .iter()
        .position(|e| *e == format!("resp: started pid {last}"))
        .unwrap_or_else(|| panic!("resp.log has the last start: {rev:?}"));
    assert!(
        rev[from..].contains(&"resp: exited with status 0".to_string()),
        "the last copy exited 0: {rev:?}"
    );
    assert!(
        !rev[from + 1..]
            .iter()
            .any(|e| e.starts_with("resp: started")),
        "not started again: {rev:?}"
    );
    for e in ev.iter().chain(&rev) {
        assert!(!e.contains("SIGKILL"), "nothing needed SIGKILL: {e:?}");
    }
    // Every copy of resp exited through its TERM trap (parent-death
    // signal, then init's SIGTERM for the last): none was SIGKILLed.
    let mut started = pids(&d.join("ran.resp"));
    let mut termed = pids(&d.join("term.resp"));
    started.sort();
    termed.sort();
    termed.dedup();
    assert_eq!(started, termed, "every resp copy exited on SIGTERM");
    assert!(!pidfile.exists(), "the daemon removed its pidfile");
    assert!(!sock.exists(), "the daemon removed its socket");
    assert!(procs_with(&marker(&d)).is_empty(), "nothing left");
}

/// busybox init runs its `::sysinit:` lines one after the other, each to
/// its end. The first starts tinyd (daemon mode) on a dependency chain:
/// a oneshot `prep`, `db` (needs prep) that is ready once it writes a
/// newline to fd 3, a second after its start, and `web` (needs db). The
/// launcher returns only once all are ready or done, so the next
/// `::sysinit:` line finds db ready: its readiness stamp written, and
/// `tinyd ctl status` saying so.
#[test]
fn busybox_sysinit_waits_for_a_dependency_chain() {
    let bb = busybox();
    let d = TempDir::new("bb-ready");
    let mut reaper = Td::reaper(&d);
    let dir = s(d.path());
    let tinyd_bin = s(&bin());
    let (pidfile, sock, log) = (d.join("tinyd.pid"), d.join("ctl.sock"), d.join("tinyd.log"));
    let prep = d.script(
        "prep.sh",
        &format!(
            "sleep 0.3\n{}\nexit 0",
            ready::stamp_sh(&d.join("done.prep"))
        ),
    );
    let db = d.script(
        "db.sh",
        &format!(
            "trap 'exit 0' TERM\n\
             if [ -e '{dir}/done.prep' ]; then echo yes; else echo no; fi > '{dir}/db.saw-prep'\n\
             sleep 1 & wait $!\n\
             {}\n\
             echo >&3\n\
             while :; do sleep 1 & wait $!; done",
            ready::stamp_sh(&d.join("ready.db"))
        ),
    );
    let web = d.script(
        "web.sh",
        &format!(
            "trap 'exit 0' TERM\n{}\nwhile :; do sleep 1 & wait $!; done",
            ready::stamp_sh(&d.join("start.web"))
        ),
    );
    // In the file, the dependants come first.
    let conf = write(
        &d,
        "tinyd.conf",
        &format!(
            "[tinyd]\npidfile = {}\ncontrol = {}\nlog = {}\n\n\
             [web]\nexec = {}\nneeds = db\nstop-timeout = 3\n\n\
             [db]\nexec = {}\nneeds = prep\nready = fd:3\nstop-timeout = 3\n\n\
             [prep]\nexec = {}\ntype = oneshot\n",
            s(&pidfile),
            s(&sock),
            s(&log),
            s(&web),
            s(&db),
            s(&prep)
        ),
    );
    // What the next ::sysinit: line finds.
    let next = d.script(
        "next.sh",
        &format!(
            "if [ -e '{dir}/ready.db' ]; then echo yes; else echo no; fi > '{dir}/next.ready'\n\
             {tinyd_bin} ctl -s '{}' status > '{dir}/next.status'\n\
             echo $? > '{dir}/next.rc'",
            s(&sock)
        ),
    );
    fs::create_dir(d.join("etc")).unwrap();
    write(
        &d,
        "etc/inittab",
        &format!(
            "::sysinit:/bin/sh -c '{tinyd_bin} -c {conf}; echo $? > {dir}/sysinit.rc'\n\
             ::sysinit:{}\n\
             ::shutdown:{tinyd_bin} ctl -s {} shutdown\n",
            s(&next),
            s(&sock)
        ),
    );
    let (mut ns, init) = boot_init(&d, &bb);
    let rc = wait_for(30.0, "the second ::sysinit: line ran", || {
        fs::read_to_string(d.join("next.rc"))
            .ok()
            .filter(|t| t.ends_with('\n'))
    });
    if let Some(td) = read_pid(&pidfile).and_then(|p| host_pid(init, p)) {
        reaper.pid = td;
    }
    let out = ns.output();
    assert_eq!(
        fs::read_to_string(d.join("sysinit.rc"))
            .unwrap_or_default()
            .trim(),
        "0",
        "the launcher from ::sysinit: exits 0; init: {out}"
    );
    assert_eq!(
        fs::read_to_string(d.join("next.ready")).unwrap().trim(),
        "yes",
        "db was ready when the next ::sysinit: line ran"
    );
    let st = fs::read_to_string(d.join("next.status")).unwrap();
    let lines = parse_status(&st);
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.name.as_str(), l.state.as_str()))
            .collect::<Vec<_>>(),
        [("web", "running"), ("db", "running"), ("prep", "done")],
        "ctl status from the next ::sysinit: line (exit {}): {st}",
        rc.trim()
    );
    assert_eq!(
        fs::read_to_string(d.join("db.saw-prep")).unwrap().trim(),
        "yes",
        "db started after prep was done"
    );
    // The pids ctl showed are those that recorded their readiness and
    // start; web started after db was ready, db after prep was done.
    let ready_db = ready::stamps(&d.join("ready.db"));
    // web is running (ready) at its exec: its script's stamp may follow.
    let start_web = ready::wait_stamps(&d.join("start.web"), 1, 10.0);
    let done_prep = ready::stamps(&d.join("done.prep"));
    assert_eq!(ready_db.len(), 1, "db started once");
    assert_eq!(start_web.len(), 1, "web started once");
    assert_eq!(done_prep.len(), 1, "prep ran once");
    assert_eq!(lines[1].pid, Some(ready_db[0].0));
    assert_eq!(lines[0].pid, Some(start_web[0].0));
    assert!(
        start_web[0].1 >= ready_db[0].1,
        "web started after db's readiness"
    );
    assert!(
        ready_db[0].1 >= done_prep[0].1 + 900_000_000,
        "db was ready 1 s after prep"
    );
    for l in &lines[..2] {
        if let Some(h) = l.pid.and_then(|p| host_pid(init, p)) {
            reaper.group(h);
        }
    }

    // Poweroff: ::shutdown: runs `tinyd ctl shutdown`; web stops first.
    assert!(signal(init, SIGUSR2));
    ns.wait_exit(30.0);
    let ev = events(&log);
    let at = |what: String| {
        ev.iter()
            .position(|e| *e == what)
            .unwrap_or_else(|| panic!("{what:?} in tinyd.log: {ev:?}"))
    };
    let (w, b) = (start_web[0].0, ready_db[0].0);
    assert!(
        at("web: exited with status 0".to_string()) < at(format!("db: stopping pid {b}")),
        "web stopped before db got SIGTERM: {ev:?}"
    );
    assert!(at(format!("web: stopping pid {w}")) < at(format!("db: stopping pid {b}")));
    assert!(!pidfile.exists(), "the daemon removed its pidfile");
}

/// `start-stop-daemon` as an rcS script uses it: `-S` starts tinyd in
/// daemon mode and returns tinyd's own exit status, `-K -p` stops it.
#[test]
fn start_stop_daemon_starts_and_stops_tinyd() {
    let bb = busybox();
    let d = TempDir::new("bb-ssd");
    let mut reaper = Td::reaper(&d);
    // A copy of tinyd of our own: `-x` matches by inode, and other tinyds
    // may run on this machine.
    let exe = d.join("tinyd");
    fs::copy(bin(), &exe).unwrap();
    let exe = s(&exe);
    let pidfile = s(&d.join("tinyd.pid"));
    let log = d.join("svc.log");
    let svc = recording_script(&d, "svc.sh", false);
    let ssd = |args: &[&str]| -> Out {
        let mut c = Command::new(&bb);
        c.arg("start-stop-daemon").args(args).stdin(Stdio::null());
        launch_cmd(&d, &mut c)
    };
    let start = |extra: &[&str]| -> Out {
        let mut a = vec!["-S", "-p", &pidfile, "-x", &exe, "--", "-p", &pidfile];
        a.extend_from_slice(extra);
        ssd(&a)
    };
    let svc_args = [
        "-n",
        "svc",
        "-t",
        "3",
        "-o",
        log.to_str().unwrap(),
        "--",
        &svc,
        "svc",
    ];

    // -S: 0 once tinyd runs, with its pidfile and its service.
    let o = start(&svc_args);
    assert_eq!(o.code, Some(0), "-S starts tinyd: {o:?}");
    let td = read_pid(Path::new(&pidfile)).expect("pidfile after -S");
    reaper.pid = td;
    assert!(alive(td));
    assert_eq!(
        fs::read_link(format!("/proc/{td}/exe")).unwrap(),
        Path::new(&exe)
    );
    let p = wait_for(10.0, "the service records its start", || {
        pids(&d.join("ran.svc")).first().copied()
    });
    reaper.group(p);
    assert_eq!(stat(p).unwrap().ppid, td, "the service is tinyd's child");
    wait_until(10.0, "tinyd logs the start", || {
        events(&log).contains(&format!("svc: started pid {p}"))
    });

    // -S again: already running (found through the pidfile), 1, and
    // nothing else started.
    let o = start(&svc_args);
    assert_eq!(o.code, Some(1), "-S while running: {o:?}");
    assert!(
        (o.stdout.clone() + &o.stderr).contains("already running"),
        "{o:?}"
    );
    assert_eq!(read_pid(Path::new(&pidfile)), Some(td));
    assert_eq!(pids(&d.join("ran.svc")), [p], "no second service");

    // -K -p: 0; tinyd stops its service (SIGTERM, no SIGKILL), removes
    // its pidfile and exits; nothing is left.
    let o = ssd(&["-K", "-p", &pidfile]);
    assert_eq!(o.code, Some(0), "-K stops tinyd: {o:?}");
    wait_until(15.0, "tinyd exits after -K", || !alive(td));
    assert!(!Path::new(&pidfile).exists(), "pidfile removed");
    assert_eq!(pids(&d.join("term.svc")), [p], "the service got SIGTERM");
    let ev = events(&log);
    assert_eq!(
        ev,
        [
            format!("svc: started pid {p}"),
            "stopping".to_string(),
            format!("svc: stopping pid {p}"),
            "svc: exited with status 0".to_string(),
            "svc: stopped".to_string(),
            "stopped".to_string(),
        ],
        "tinyd's events"
    );
    assert!(live_members(p).is_empty(), "the service's group is empty");
    assert!(procs_with(&marker(&d)).is_empty(), "nothing left");

    // -K with nothing running: 1 (0 with -o).
    let o = ssd(&["-K", "-p", &pidfile]);
    assert_eq!(o.code, Some(1), "-K with nothing running: {o:?}");
    let o = ssd(&["-K", "-o", "-p", &pidfile]);
    assert_eq!(o.code, Some(0), "-K -o with nothing running: {o:?}");

    // -S execs tinyd, so a failing start returns tinyd's status: 78 for
    // a bad configuration, 127 for a missing command, with tinyd's
    // message on stderr; nothing started, no pidfile.
    let bad = write(&d, "bad.conf", "[x]\nexec = /bin/true\nbogus = 1\n");
    let o = start(&["-c", &bad]);
    assert_eq!(o.code, Some(78), "-S with a bad config: {o:?}");
    assert_eq!(o.stderr, format!("tinyd: {bad}:3: unknown key: bogus\n"));
    let missing = s(&d.join("no-such-command"));
    let o = start(&["--", &missing]);
    assert_eq!(o.code, Some(127), "-S with a missing command: {o:?}");
    assert!(
        o.stderr.contains(&format!("cannot execute {missing}")),
        "{o:?}"
    );
    assert!(!Path::new(&pidfile).exists(), "no pidfile after failures");
    assert!(
        procs_with(&marker(&d)).is_empty(),
        "nothing left after failures"
    );
}

/// busybox syslogd on the real /dev/log path, private to a mount
/// namespace: tinyd's `--syslog=TAG` lines and its own events.
#[test]
fn busybox_syslogd_receives_tinyd_lines() {
    let bb = busybox();
    let d = TempDir::new("bb-syslog");
    let _reaper = Td::reaper(&d);
    let dir = s(d.path());
    let messages = d.join("messages");
    let say = d.script(
        "say.sh",
        "echo \"marker-$$ on stdout\"\necho \"marker-$$ on stderr\" >&2",
    );
    // A tmpfs on /dev (with /dev/null bound back in) makes /dev/log ours.
    let script = d.script(
        "ns.sh",
        &format!(
            "set -e\n\
             touch '{dir}/null'\n\
             mount --bind /dev/null '{dir}/null'\n\
             mount -t tmpfs -o mode=755,size=64k tinyd-test-dev /dev\n\
             touch /dev/null\n\
             mount --bind '{dir}/null' /dev/null\n\
             {bb} syslogd -n -O '{}' &\n\
             while [ ! -S /dev/log ]; do sleep 0.02; done\n\
             {} -f -r never -n svc --syslog=bbtag -- '{}' &\n\
             echo $! > '{dir}/tinyd.pid'\n\
             rc=0; wait $! || rc=$?\n\
             echo $rc > '{dir}/tinyd.rc'\n\
             wait",
            s(&messages),
            s(&bin()),
            s(&say)
        ),
    );
    let ns = Ns::spawn(
        &[
            "--pid",
            "--mount",
            "--fork",
            "--mount-proc",
            "/bin/sh",
            &s(&script),
        ],
        d.join("ns.out"),
    );
    let rc = wait_for(15.0, "tinyd exits", || {
        fs::read_to_string(d.join("tinyd.rc"))
            .ok()
            .filter(|t| t.ends_with('\n'))
    });
    assert_eq!(rc.trim(), "0", "tinyd exits 0; output: {}", ns.output());
    let td: i32 = read_pid(&d.join("tinyd.pid")).unwrap();
    // busybox syslogd's file format: `Mmm dd hh:mm:ss HOST FACILITY.LEVEL
    // MSG` (the day padded with a space); keeps `FACILITY.LEVEL MSG`.
    let msgs = |what: &str| -> Vec<String> {
        fs::read_to_string(&messages)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.get(16..)?.splitn(3, ' ').collect();
                (f.len() == 3 && f[2].contains(what)).then(|| format!("{} {}", f[1], f[2]))
            })
            .collect()
    };
    let exited = format!("tinyd[{td}]: svc: exited with status 0");
    wait_until(10.0, "syslogd wrote tinyd's last event", || {
        !msgs(&exited).is_empty()
    });
    let started = format!("tinyd[{td}]: svc: started pid ");
    let p: i32 = msgs(&started)
        .first()
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {started:?}: {}", fs::read_to_string(&messages).unwrap()));
    let mine: Vec<String> = msgs("")
        .into_iter()
        .filter(|l| l.contains(&format!("tinyd[{td}]:")) || l.contains("bbtag["))
        .collect();
    assert_eq!(
        mine,
        [
            format!("daemon.notice {started}{p}"),
            format!("daemon.info bbtag[{p}]: marker-{p} on stdout"),
            format!("daemon.info bbtag[{p}]: marker-{p} on stderr"),
            format!("daemon.notice {exited}"),
        ],
        "syslogd's file: {}",
        fs::read_to_string(&messages).unwrap()
    );
    drop(ns);
}

/// `tinyd ctl` from outside tinyd's PID namespace (root on the host
/// asking a tinyd in a container) is answered: SO_PEERCRED reports pid 0
/// for a peer the namespace cannot see, which once made tinyd refuse it
/// (77) because rustix's `UCred` cannot hold a pid of 0.
#[test]
fn ctl_from_another_pid_namespace() {
    let d = TempDir::new("bb-ctl-ns");
    let mut reaper = Td::reaper(&d);
    let sock = d.join("ctl.sock");
    let conf = write(&d, "t.conf", &service(&d, "a", ""));
    let ns = Ns::spawn(
        &[
            "--pid",
            "--fork",
            "--mount-proc",
            "--mount",
            &s(&bin()),
            "-f",
            "--control",
            &s(&sock),
            "-c",
            &conf,
        ],
        d.join("ns.out"),
    );
    let init = ns.init(&conf);
    reaper.pid = init;
    wait_for(15.0, "a runs (ctl from inside)", || {
        (ctl_in(init, &sock, &["status", "a"]).code == Some(0)).then_some(())
    });
    let o = ctl(&sock, &["status", "a"]);
    assert_eq!(
        o.code,
        Some(0),
        "root outside the PID namespace is answered: {o:?}"
    );
    drop(ns);
}
