//! COMMAND's process environment (session, signals, descriptors, cwd,
//! umask, environment, user and groups, PATH search, parent-death signal),
//! checked from the outside in /proc.
//!
//! Every COMMAND carries a marker (a number from `uniq()`, or a path inside
//! the test's TempDir) that no other test uses; a `Reaper` kills whatever
//! carries it when the test ends, even when an assertion failed.

mod common;

use common::launch::*;
use common::*;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

// ---------------------------------------------------------------------------
// Local helpers (kept in this file so that common/mod.rs stays shared).

unsafe extern "C" {
    fn umask(mask: u32) -> u32;
    #[link_name = "signal"]
    fn c_signal(sig: i32, handler: usize) -> usize;
    fn sigprocmask(how: i32, set: *const u64, old: *mut u64) -> i32;
}

/// A number used by no other test in any test binary: 11 digits, the
/// first four a per-binary prefix and a counter, the last seven our pid.
fn uniq() -> String {
    uniq_in(8)
}

/// Writes an executable shell script.
fn write_script(p: &Path, body: &str) {
    fs::write(p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Starts tinyd in the foreground (stdout, stderr to files in `t`).
fn spawn_fg(t: &TempDir, c: &mut Command) -> Guard {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    Guard(
        c.stdout(File::create(t.join(&format!("fg{n}.out"))).unwrap())
            .stderr(File::create(t.join(&format!("fg{n}.err"))).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Stops a foreground tinyd with SIGTERM and waits for it.
fn stop_fg(g: &mut Guard) -> ExitStatus {
    signal(g.pid(), SIGTERM);
    wait_for(15.0, "foreground tinyd exits after SIGTERM", || {
        g.0.try_wait().unwrap()
    })
}

fn cwd(pid: i32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/cwd"))
        .ok()
        .map(|p| s(&p))
}

/// A hex mask field of /proc/PID/status ("SigBlk", ...).
fn mask(pid: i32, key: &str) -> u64 {
    u64::from_str_radix(&status_field(pid, key).expect(key), 16).unwrap()
}

/// The four ids of the "Uid" or "Gid" line, or the "Groups" line.
fn ids(pid: i32, key: &str) -> Vec<u32> {
    status_field(pid, key)
        .expect(key)
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect()
}

/// (uid, primary gid) of a user in /etc/passwd.
fn passwd(user: &str) -> (u32, u32) {
    let p = fs::read_to_string("/etc/passwd").unwrap();
    p.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == user)
        .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| panic!("no user {user} in /etc/passwd"))
}

/// The gid of a group in /etc/group.
fn group_gid(name: &str) -> u32 {
    let g = fs::read_to_string("/etc/group").unwrap();
    g.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == name)
        .map(|f| f[2].parse().unwrap())
        .unwrap_or_else(|| panic!("no group {name} in /etc/group"))
}

/// The gids of the /etc/group entries whose member list names `user`.
fn member_gids(user: &str) -> BTreeSet<u32> {
    let g = fs::read_to_string("/etc/group").unwrap();
    g.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m.trim() == user))
        .map(|f| f[2].parse().unwrap())
        .collect()
}

const SIG_IGN: usize = 1;
const SIG_BLOCK: i32 = 0;
/// Ignored in the launcher: SIGHUP, SIGQUIT, SIGUSR2, SIGPIPE.
const IGNORED: u64 = 1 | 1 << (3 - 1) | 1 << (12 - 1) | 1 << (13 - 1);
/// Blocked in the launcher: SIGUSR1, SIGALRM.
const BLOCKED: u64 = 1 << (10 - 1) | 1 << (14 - 1);

/// Makes the process start with some signals ignored and some blocked,
/// and with umask 077.
fn hostile_signals(c: &mut Command) -> &mut Command {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            umask(0o077);
            for sig in [1, 3, 12, 13] {
                c_signal(sig, SIG_IGN);
            }
            let set: [u64; 16] = [BLOCKED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            if sigprocmask(SIG_BLOCK, set.as_ptr(), std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Checks that `hostile_signals` really does what the tests rely on.
fn check_hostile_setup(t: &TempDir) {
    let mut c = Command::new("/bin/cat");
    c.arg("/proc/self/status").stdin(Stdio::null());
    let o = launch(t, hostile_signals(&mut c));
    assert!(o.status.success());
    let field = |k: &str| {
        let v = o.stdout.lines().find_map(|l| l.strip_prefix(k)).unwrap();
        u64::from_str_radix(v.trim_start_matches(':').trim(), 16).unwrap()
    };
    assert_eq!(
        field("SigIgn") & IGNORED,
        IGNORED,
        "test setup: ignored signals"
    );
    assert_eq!(
        field("SigBlk") & BLOCKED,
        BLOCKED,
        "test setup: blocked signals"
    );
}

// ---------------------------------------------------------------------------
// Session, process group, signal state.

#[test]
fn command_leads_its_own_session_and_group() {
    let t = TempDir::new("c-sess");
    let (m1, m2) = (uniq(), uniq());
    let _r = Reaper::new(&[&m1, &m2, &dir_marker(&t)]);
    let d = start(&t, &["/bin/sleep", &m1]);
    let c = find_child(d, &["/bin/sleep", &m1]);
    let st = stat(c).unwrap();
    assert_eq!(
        (st.pgrp, st.session),
        (c, c),
        "daemon mode: COMMAND's pgrp and sid are its pid"
    );
    stop_daemon(d);

    let mut g = spawn_fg(&t, &mut td(&["-f", "/bin/sleep", &m2]));
    let c = find_child(g.pid(), &["/bin/sleep", &m2]);
    let st = stat(c).unwrap();
    assert_eq!(
        (st.pgrp, st.session),
        (c, c),
        "foreground: COMMAND's pgrp and sid are its pid"
    );
    assert_ne!(stat(g.pid()).unwrap().session, c);
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

fn check_signal_state(c: i32, mode: &str) {
    assert_eq!(mask(c, "SigBlk"), 0, "{mode}: COMMAND's SigBlk");
    assert_eq!(mask(c, "SigIgn"), 0, "{mode}: COMMAND's SigIgn");
    assert_eq!(mask(c, "SigCgt"), 0, "{mode}: COMMAND's SigCgt");
}

#[test]
fn command_signal_state_is_default_in_daemon_mode() {
    let t = TempDir::new("c-sig-d");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    check_hostile_setup(&t);
    let pf = t.join("pid");
    let o = launch(
        &t,
        hostile_signals(&mut td(&["-p", &s(&pf), "/bin/sleep", &m])),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "launcher: {:?} {}",
        o.status,
        o.stderr
    );
    let d = read_pid(&pf).expect("pidfile");
    let c = find_child(d, &["/bin/sleep", &m]);
    check_signal_state(c, "daemon mode");
    stop_daemon(d);
}

#[test]
fn command_signal_state_is_default_in_foreground() {
    let t = TempDir::new("c-sig-f");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    check_hostile_setup(&t);
    let mut g = spawn_fg(&t, hostile_signals(&mut td(&["-f", "/bin/sleep", &m])));
    let c = find_child(g.pid(), &["/bin/sleep", &m]);
    check_signal_state(c, "foreground");
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

// ---------------------------------------------------------------------------
// Descriptors.

#[test]
fn command_fds_in_daemon_mode_without_log_are_devnull() {
    let t = TempDir::new("c-fd-d");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let d = start(&t, &["/bin/sleep", &m]);
    let c = find_child(d, &["/bin/sleep", &m]);
    let null = "/dev/null".to_string();
    let want = [(0, null.clone()), (1, null.clone()), (2, null)];
    // Right after exec the program's loader (qemu-user's, or libc's
    // locale files) may hold a descriptor for a moment: a leaked one stays.
    wait_until(10.0, "COMMAND's fds are 0-2 on /dev/null", || {
        fds(c) == want
    });
    stop_daemon(d);
}

fn check_log_fds(c: i32, mode: &str) {
    // As above: a loader's descriptor goes away, a leaked one does not.
    wait_for(10.0, "COMMAND's fds are 0-2", || {
        let f = fds(c);
        (f.len() == 3).then_some(())
    });
    let f = fds(c);
    assert_eq!(
        f.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [0, 1, 2],
        "{mode}: fds {f:?}"
    );
    assert_eq!(f[0].1, "/dev/null", "{mode}: fd 0 {f:?}");
    assert!(
        f[1].1.starts_with("pipe:["),
        "{mode}: fd 1 is a pipe: {f:?}"
    );
    assert!(
        f[2].1.starts_with("pipe:["),
        "{mode}: fd 2 is a pipe: {f:?}"
    );
}

#[test]
fn command_fds_with_log_are_devnull_and_pipes() {
    let t = TempDir::new("c-fd-log");
    let (m1, m2) = (uniq(), uniq());
    let _r = Reaper::new(&[&m1, &m2, &dir_marker(&t)]);
    let log = s(&t.join("out.log"));
    let d = start(&t, &["-o", &log, "/bin/sleep", &m1]);
    let c = find_child(d, &["/bin/sleep", &m1]);
    check_log_fds(c, "daemon mode --log");
    stop_daemon(d);

    let log2 = s(&t.join("fg.log"));
    let mut g = spawn_fg(&t, &mut td(&["-f", "--log", &log2, "/bin/sleep", &m2]));
    let c = find_child(g.pid(), &["/bin/sleep", &m2]);
    check_log_fds(c, "foreground --log");
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

#[test]
fn command_fds_in_foreground_are_tinyds_stdout_stderr_and_no_stray() {
    let t = TempDir::new("c-fd-fg");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let (stray, input, out, err) = (
        t.join("stray"),
        t.join("stdin"),
        t.join("stdout"),
        t.join("stderr"),
    );
    for f in [&stray, &input] {
        fs::write(f, "x\n").unwrap();
    }
    // tinyd starts with fd 7 open without close-on-exec, and a regular
    // file as stdin.
    let wrapper = r#"exec 7<"$1"; shift; exec "$@""#;
    let o = launch(
        &t,
        Command::new("/bin/sh")
            .args(["-c", wrapper, "sh"])
            .arg(&stray)
            .args(["/bin/readlink", "/proc/self/fd/7"])
            .stdin(Stdio::null()),
    );
    assert_eq!(
        o.stdout.trim(),
        canon(&stray),
        "test setup: the wrapper opens fd 7"
    );
    let mut c = Command::new("/bin/sh");
    c.args(["-c", wrapper, "sh"])
        .arg(&stray)
        .arg(bin())
        .args(["-f", "/bin/sleep", &m])
        .stdin(File::open(&input).unwrap())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap());
    let mut g = Guard(c.spawn().unwrap());
    let c = find_child(g.pid(), &["/bin/sleep", &m]);
    assert!(
        fds(g.pid()).contains(&(7, canon(&stray)))
            || fds(g.pid()).iter().all(|(_, x)| *x != canon(&stray)),
        "tinyd's fds: {:?}",
        fds(g.pid())
    );
    assert_eq!(
        fds(c),
        [
            (0, "/dev/null".to_string()),
            (1, canon(&out)),
            (2, canon(&err))
        ],
        "foreground without --log: COMMAND has /dev/null, then tinyd's stdout and stderr"
    );
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

// ---------------------------------------------------------------------------
// cwd and umask.

#[test]
fn command_cwd_and_umask_as_asked() {
    let t = TempDir::new("c-cwd");
    let (m1, m2) = (uniq(), uniq());
    let _r = Reaper::new(&[&m1, &m2, &dir_marker(&t)]);
    let (work, elsewhere) = (t.join("work"), t.join("elsewhere"));
    fs::create_dir(&work).unwrap();
    fs::create_dir(&elsewhere).unwrap();
    let pf = s(&t.join("pid"));
    let mut cmd = td(&["-p", &pf, "-d", &s(&work), "-m", "027", "/bin/sleep", &m1]);
    let o = launch(&t, hostile_signals(cmd.current_dir(&elsewhere)));
    assert_eq!(
        o.status.code(),
        Some(0),
        "launcher: {:?} {}",
        o.status,
        o.stderr
    );
    let d = read_pid(&t.join("pid")).expect("pidfile");
    let c = find_child(d, &["/bin/sleep", &m1]);
    assert_eq!(cwd(c), Some(canon(&work)), "daemon mode: COMMAND's cwd");
    assert_eq!(
        status_field(c, "Umask").as_deref(),
        Some("0027"),
        "daemon mode: COMMAND's umask"
    );
    stop_daemon(d);

    let mut cmd = td(&[
        "-f",
        "--chdir",
        &s(&work),
        "--umask",
        "0",
        "/bin/sleep",
        &m2,
    ]);
    let mut g = spawn_fg(&t, hostile_signals(cmd.current_dir(&elsewhere)));
    let c = find_child(g.pid(), &["/bin/sleep", &m2]);
    assert_eq!(cwd(c), Some(canon(&work)), "foreground: COMMAND's cwd");
    assert_eq!(
        status_field(c, "Umask").as_deref(),
        Some("0000"),
        "foreground: COMMAND's umask"
    );
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

#[test]
fn relative_chdir_is_resolved_once_against_the_start_directory() {
    // Issue 8, defect 6: tinyd went into `sub`, then COMMAND tried `sub`
    // again from there, and never started (exit 127).
    let t = TempDir::new("c-cwd-rel");
    let (m1, m2) = (uniq(), uniq());
    let _r = Reaper::new(&[&m1, &m2, &dir_marker(&t)]);
    let sub = t.join("sub");
    fs::create_dir_all(sub.join("sub")).unwrap();
    let mut cmd = td(&["-p", "pid", "-d", "sub", "/bin/sleep", &m1]);
    let o = launch(&t, cmd.current_dir(t.path()));
    assert_eq!(o.status.code(), Some(0), "daemon mode: {}", o.stderr);
    let d = read_pid(&t.join("pid")).expect("pidfile");
    let c = find_child(d, &["/bin/sleep", &m1]);
    assert_eq!(cwd(c), Some(canon(&sub)), "daemon mode: COMMAND's cwd");
    assert_eq!(cwd(d), Some(canon(&sub)), "daemon mode: tinyd's cwd");
    stop_daemon(d);

    let mut cmd = td(&["-f", "--chdir=sub", "/bin/sleep", &m2]);
    let mut g = spawn_fg(&t, cmd.current_dir(t.path()));
    let c = find_child(g.pid(), &["/bin/sleep", &m2]);
    assert_eq!(cwd(c), Some(canon(&sub)), "foreground: COMMAND's cwd");
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

#[test]
fn command_default_cwd_and_umask_in_foreground() {
    // The CLI says: -d DIR (default /), -m OCTAL (022), in both modes.
    let t = TempDir::new("c-cwd-def");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let elsewhere = t.join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let mut cmd = td(&["-f", "/bin/sleep", &m]);
    let mut g = spawn_fg(&t, hostile_signals(cmd.current_dir(&elsewhere)));
    let c = find_child(g.pid(), &["/bin/sleep", &m]);
    assert_eq!(
        cwd(c).as_deref(),
        Some("/"),
        "foreground: COMMAND's default cwd"
    );
    assert_eq!(
        status_field(c, "Umask").as_deref(),
        Some("0022"),
        "foreground: default umask"
    );
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

// ---------------------------------------------------------------------------
// Environment.

fn check_env(c: i32, mode: &str) {
    let env = environ(c);
    let with = |k: &str| {
        env.iter()
            .filter(|e| e.starts_with(k))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        with("TINYD_T_OVER="),
        ["TINYD_T_OVER=override"],
        "{mode}: --env replaces"
    );
    assert_eq!(
        with("TINYD_T_KEEP="),
        ["TINYD_T_KEEP=kept"],
        "{mode}: inherited passes"
    );
    assert_eq!(
        with("TINYD_T_NEW="),
        ["TINYD_T_NEW=new value"],
        "{mode}: --env adds"
    );
    assert_eq!(
        with("TINYD_T_EQ="),
        ["TINYD_T_EQ=a=b"],
        "{mode}: value with '='"
    );
    assert_eq!(
        with("TINYD_T_EMPTY="),
        ["TINYD_T_EMPTY="],
        "{mode}: empty value"
    );
    let path = std::env::var("PATH").unwrap();
    assert_eq!(
        with("PATH="),
        [format!("PATH={path}")],
        "{mode}: inherited PATH"
    );
}

fn env_cmd(args: &[&str]) -> Command {
    let mut c = td(args);
    c.env("TINYD_T_OVER", "inherited")
        .env("TINYD_T_KEEP", "kept");
    c
}

#[test]
fn command_environment_in_daemon_mode() {
    let t = TempDir::new("c-env-d");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let pf = s(&t.join("pid"));
    let o = launch(
        &t,
        &mut env_cmd(&[
            "-p",
            &pf,
            "-e",
            "TINYD_T_OVER=override",
            "--env",
            "TINYD_T_NEW=new value",
            "-e",
            "TINYD_T_EQ=a=b",
            "-e",
            "TINYD_T_EMPTY=",
            "/bin/sleep",
            &m,
        ]),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "launcher: {:?} {}",
        o.status,
        o.stderr
    );
    let d = read_pid(&t.join("pid")).expect("pidfile");
    let c = find_child(d, &["/bin/sleep", &m]);
    check_env(c, "daemon mode");
    stop_daemon(d);
}

#[test]
fn command_environment_in_foreground() {
    let t = TempDir::new("c-env-f");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let mut g = spawn_fg(
        &t,
        &mut env_cmd(&[
            "-f",
            "-e",
            "TINYD_T_OVER=override",
            "-e",
            "TINYD_T_NEW=new value",
            "-e",
            "TINYD_T_EQ=a=b",
            "-e",
            "TINYD_T_EMPTY=",
            "/bin/sleep",
            &m,
        ]),
    );
    let c = find_child(g.pid(), &["/bin/sleep", &m]);
    check_env(c, "foreground");
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

#[test]
fn too_many_inherited_variables_names_the_limit() {
    // It said `environment: argument list too long` (issue 8, defect 18).
    let t = TempDir::new("c-env-inh");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let mut c = td(&["-f", "/bin/sleep", &m]);
    c.env_clear();
    for i in 0..257 {
        c.env(format!("TINYD_T_I{i}"), "v");
    }
    let o = launch(&t, &mut c);
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    assert_eq!(
        o.stderr,
        "tinyd: cannot start /bin/sleep: environment: more than 256 variables \
         inherited from tinyd (the limit)\n"
    );
    // 256 are fine.
    let mut c = td(&["-f", "/bin/sleep", &m]);
    c.env_clear();
    for i in 0..256 {
        c.env(format!("TINYD_T_I{i}"), "v");
    }
    let mut g = spawn_fg(&t, &mut c);
    let pid = find_child(g.pid(), &["/bin/sleep", &m]);
    assert_eq!(environ(pid).len(), 256);
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

#[test]
fn env_option_at_most_32_and_needs_name_and_equals() {
    let t = TempDir::new("c-env-lim");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let vars: Vec<String> = (0..33).map(|i| format!("TINYD_T_V{i}=v{i}")).collect();
    let mut args: Vec<&str> = vec!["-f"];
    for v in &vars[..32] {
        args.extend_from_slice(&["-e", v]);
    }
    args.extend_from_slice(&["/bin/sleep", &m]);
    let mut g = spawn_fg(&t, &mut td(&args));
    let c = find_child(g.pid(), &["/bin/sleep", &m]);
    let env = environ(c);
    for v in &vars[..32] {
        assert!(
            env.contains(v),
            "32 --env options: {v} is in COMMAND's environment"
        );
    }
    assert_eq!(stop_fg(&mut g).code(), Some(0));

    let mut args: Vec<&str> = vec!["-f"];
    for v in &vars {
        args.extend_from_slice(&["-e", v]);
    }
    args.extend_from_slice(&["/bin/sleep", &m]);
    let bad: [&[&str]; 3] = [
        &args,
        &["-f", "-e", "NOEQUALS", "/bin/sleep", &m],
        &["-f", "-e", "=value", "/bin/sleep", &m],
    ];
    for a in bad {
        let o = run_t(&t, a);
        assert_eq!(
            o.status.code(),
            Some(64),
            "{:?}...: {:?} {}",
            &a[..3],
            o.status,
            o.stderr
        );
        assert_one_error_line(&o, "bad --env");
    }
    assert_no_process(&m);
}

// ---------------------------------------------------------------------------
// User and groups.

fn check_ids(c: i32, uid: u32, gid: u32, what: &str) {
    assert_eq!(
        ids(c, "Uid"),
        [uid; 4],
        "{what}: real, effective, saved, fs uid"
    );
    assert_eq!(
        ids(c, "Gid"),
        [gid; 4],
        "{what}: real, effective, saved, fs gid"
    );
}

#[test]
fn user_nobody_sets_uid_gid_and_groups_in_daemon_mode() {
    let t = TempDir::new("c-user-d");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let (uid, gid) = passwd("nobody");
    let d = start(&t, &["-u", "nobody", "/bin/sleep", &m]);
    let c = find_child(d, &["/bin/sleep", &m]);
    check_ids(c, uid, gid, "-u nobody");
    let mut want = member_gids("nobody");
    want.insert(gid);
    let got: BTreeSet<u32> = ids(c, "Groups").into_iter().collect();
    assert_eq!(
        got, want,
        "-u nobody: supplementary groups = /etc/group lists + primary gid"
    );
    stop_daemon(d);
}

#[test]
fn user_daemon_sets_uid_gid_and_groups_in_foreground() {
    let t = TempDir::new("c-user-f");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let (uid, gid) = passwd("daemon");
    let mut g = spawn_fg(&t, &mut td(&["-f", "--user", "daemon", "/bin/sleep", &m]));
    let c = find_child(g.pid(), &["/bin/sleep", &m]);
    check_ids(c, uid, gid, "--user daemon");
    let mut want = member_gids("daemon");
    want.insert(gid);
    let got: BTreeSet<u32> = ids(c, "Groups").into_iter().collect();
    assert_eq!(got, want, "--user daemon: supplementary groups");
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

#[test]
fn user_with_group_sets_that_gid() {
    let t = TempDir::new("c-user-g");
    let (m1, m2) = (uniq(), uniq());
    let _r = Reaper::new(&[&m1, &m2, &dir_marker(&t)]);
    for (spec, user, group, m) in [
        ("nobody:bin", "nobody", "bin", &m1),
        ("daemon:nogroup", "daemon", "nogroup", &m2),
    ] {
        let (uid, pgid) = passwd(user);
        let gid = group_gid(group);
        assert_ne!(
            gid, pgid,
            "test setup: the group differs from {user}'s primary group"
        );
        let mut g = spawn_fg(&t, &mut td(&["-f", "-u", spec, "/bin/sleep", m]));
        let c = find_child(g.pid(), &["/bin/sleep", m]);
        check_ids(c, uid, gid, &format!("-u {spec}"));
        let mut allowed = member_gids(user);
        allowed.insert(pgid);
        allowed.insert(gid);
        let got: BTreeSet<u32> = ids(c, "Groups").into_iter().collect();
        assert!(
            got.is_subset(&allowed),
            "-u {spec}: groups {got:?} not within {allowed:?}"
        );
        assert!(
            !got.contains(&0),
            "-u {spec}: root's group 0 was not dropped: {got:?}"
        );
        assert_eq!(stop_fg(&mut g).code(), Some(0));
    }
}

// ---------------------------------------------------------------------------
// PATH search.

#[test]
fn command_without_slash_is_found_in_path() {
    let t = TempDir::new("c-path");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let mut g = spawn_fg(&t, &mut td(&["-f", "sleep", &m]));
    let c = find_child(g.pid(), &["sleep", &m]);
    let exe = exe(c);
    assert_eq!(
        exe.file_name().unwrap(),
        "sleep",
        "COMMAND runs the sleep found in PATH"
    );
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

#[test]
fn path_search_uses_env_option_path() {
    let t = TempDir::new("c-path-env");
    let (m1, m2) = (uniq(), uniq());
    let _r = Reaper::new(&[&m1, &m2, &dir_marker(&t)]);
    let pf = t.join("pid");
    let pfs = s(&pf);
    for fg in [false, true] {
        let mut args = vec!["-p", &pfs, "-e", "PATH=/nonexistent"];
        if fg {
            args.push("-f");
        }
        args.extend_from_slice(&["sleep", &m1]);
        let o = run_t(&t, &args);
        assert_eq!(
            o.status.code(),
            Some(127),
            "tinyd {args:?}: {:?} {}",
            o.status,
            o.stderr
        );
        assert_one_error_line(&o, "-e PATH=/nonexistent sleep");
        assert!(!pf.exists());
    }
    assert_no_process(&m1);

    let bindir = t.join("bin");
    fs::create_dir(&bindir).unwrap();
    let name = format!("mycmd-{m2}");
    write_script(&bindir.join(&name), r#"exec /bin/sleep "$1""#);
    let path = format!("PATH={}:/nonexistent", s(&bindir));
    let mut g = spawn_fg(&t, &mut td(&["-f", "-e", &path, &name, &m2]));
    find_child(g.pid(), &["/bin/sleep", &m2]);
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

#[test]
fn path_search_uses_tinyds_path() {
    let t = TempDir::new("c-path-own");
    let (m1, m2) = (uniq(), uniq());
    let _r = Reaper::new(&[&m1, &m2, &dir_marker(&t)]);
    let o = launch(&t, td(&["-f", "sleep", &m1]).env("PATH", "/nonexistent"));
    assert_eq!(
        o.status.code(),
        Some(127),
        "PATH=/nonexistent: {:?} {}",
        o.status,
        o.stderr
    );
    assert_one_error_line(&o, "PATH=/nonexistent sleep");
    assert_no_process(&m1);

    let bindir = t.join("bin");
    fs::create_dir(&bindir).unwrap();
    let name = format!("mycmd-{m2}");
    write_script(&bindir.join(&name), r#"exec /bin/sleep "$1""#);
    let mut cmd = td(&["-f", &name, &m2]);
    cmd.env("PATH", format!("/nonexistent:{}", s(&bindir)));
    let mut g = spawn_fg(&t, &mut cmd);
    find_child(g.pid(), &["/bin/sleep", &m2]);
    assert_eq!(stop_fg(&mut g).code(), Some(0));
}

// ---------------------------------------------------------------------------
// Parent-death signal.

#[test]
fn command_dies_when_foreground_tinyd_is_sigkilled() {
    let t = TempDir::new("c-pdeath");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let g = spawn_fg(&t, &mut td(&["-f", "/bin/sleep", &m]));
    let c = find_child(g.pid(), &["/bin/sleep", &m]);
    signal(g.pid(), SIGKILL);
    wait_until(10.0, "COMMAND is gone after tinyd was SIGKILLed", || {
        !alive(c)
    });
}

#[test]
fn command_gets_sigterm_when_tinyd_is_sigkilled() {
    let t = TempDir::new("c-pdeath-term");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let got = t.join("got");
    let script = t.script(
        "cmd.sh",
        r#"trap 'echo term > "$1"; kill $!; exit 0' TERM
/bin/sleep "$2" &
wait"#,
    );
    let g = spawn_fg(&t, &mut td(&["-f", &s(&script), &s(&got), &m]));
    let c = find_child(g.pid(), &["/bin/sh", &s(&script), &s(&got), &m]);
    // The trap is set once the script has started its sleep.
    find_child(c, &["/bin/sleep", &m]);
    signal(g.pid(), SIGKILL);
    // The shell creates the file before `echo` writes its one line: wait
    // for the line, not for the file.
    let what = wait_for(10.0, "COMMAND's TERM trap ran", || {
        fs::read_to_string(&got).ok().filter(|t| !t.is_empty())
    });
    assert_eq!(what, "term\n");
    wait_until(10.0, "COMMAND is gone", || !alive(c));
}

#[test]
fn command_running_as_other_user_dies_when_tinyd_is_sigkilled() {
    // The parent-death signal is cleared when the credentials change, so it
    // must be set after setuid/setgid.
    let t = TempDir::new("c-pdeath-user");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let g = spawn_fg(&t, &mut td(&["-f", "-u", "nobody", "/bin/sleep", &m]));
    let c = find_child(g.pid(), &["/bin/sleep", &m]);
    assert_eq!(ids(c, "Uid")[0], passwd("nobody").0);
    signal(g.pid(), SIGKILL);
    wait_until(
        10.0,
        "COMMAND (as nobody) is gone after tinyd was SIGKILLed",
        || !alive(c),
    );
}

#[test]
fn command_dies_when_daemon_is_sigkilled() {
    let t = TempDir::new("c-pdeath-d");
    let m = uniq();
    let _r = Reaper::new(&[&m, &dir_marker(&t)]);
    let d = start(&t, &["/bin/sleep", &m]);
    let c = find_child(d, &["/bin/sleep", &m]);
    signal(d, SIGKILL);
    wait_until(
        10.0,
        "COMMAND is gone after the daemon was SIGKILLed",
        || !alive(c),
    );
}
