//! tinyd from `::sysinit:` on an old board kernel: before `/proc` is
//! mounted, and where `close_range` (Linux 5.9) does not exist. The kernel
//! is made "old" with a seccomp filter that answers `close_range` with
//! ENOSYS, and `/proc` is hidden under an empty tmpfs in a private mount
//! namespace; the daemon must still close every inherited descriptor (by
//! /proc/self/fd, else one by one), start its service and stop cleanly.
//! Checked from the outside: this test's own `/proc` is the host's.

mod common;

use common::*;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

unsafe extern "C" {
    fn prctl(option: i32, arg2: usize, arg3: usize, arg4: usize, arg5: usize) -> i32;
    fn dup2(old: i32, new: i32) -> i32;
}

const PR_SET_NO_NEW_PRIVS: i32 = 38;
const PR_SET_SECCOMP: i32 = 22;
const SECCOMP_MODE_FILTER: usize = 2;
const NR_CLOSE_RANGE: u32 = 436;
const ENOSYS: u32 = 38;

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

/// In the child before exec: `close_range` fails with ENOSYS from now on
/// (for the child and everything it starts), and `file` is inherited as
/// descriptors 7 and 9, without close-on-exec.
fn old_kernel(c: &mut Command, file: &File) {
    let fd = file.as_raw_fd();
    // SAFETY: the closure calls only dup2 and prctl, async-signal-safe, on
    // memory it owns (the filter lives on its stack for the call).
    unsafe {
        c.pre_exec(move || {
            for n in [7, 9] {
                if dup2(fd, n) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            let prog = [
                // A = seccomp_data.nr
                SockFilter {
                    code: 0x20,
                    jt: 0,
                    jf: 0,
                    k: 0,
                },
                // if A == close_range: next, else skip one
                SockFilter {
                    code: 0x15,
                    jt: 0,
                    jf: 1,
                    k: NR_CLOSE_RANGE,
                },
                // return SECCOMP_RET_ERRNO | ENOSYS
                SockFilter {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0x0005_0000 | ENOSYS,
                },
                // return SECCOMP_RET_ALLOW
                SockFilter {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0x7fff_0000,
                },
            ];
            let fprog = SockFprog {
                len: prog.len() as u16,
                filter: prog.as_ptr(),
            };
            if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || prctl(
                    PR_SET_SECCOMP,
                    SECCOMP_MODE_FILTER,
                    &fprog as *const SockFprog as usize,
                    0,
                    0,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Starts tinyd in daemon mode on an "old kernel", with `/proc` hidden when
/// `no_proc`; returns the daemon's pid (from the pidfile) once the
/// launcher has exited 0.
fn launch(d: &TempDir, no_proc: bool, tag: &str) -> i32 {
    let inherited = File::create(d.join(&format!("inherited-{tag}"))).unwrap();
    let pidfile = d.join(&format!("{tag}.pid"));
    let log = d.join(&format!("{tag}.log"));
    let svc = d.script(&format!("{tag}.sh"), "echo up; exec sleep 1000");
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"]);
    let hide = if no_proc {
        "mount -t tmpfs -o size=4k tinyd-test /proc && [ ! -e /proc/self ] && "
    } else {
        ""
    };
    c.arg(format!("{hide}exec \"$0\" \"$@\""));
    c.arg(bin())
        .args(["-p", &s(&pidfile), "-o", &s(&log), "-n", tag, "--"])
        .arg(&svc)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    old_kernel(&mut c, &inherited);
    let out = run_cmd(&mut c);
    assert!(
        out.status.success(),
        "launcher failed: {:?}: {}",
        out.status,
        text(&out.stderr)
    );
    let pid = read_pid(&pidfile).expect("pidfile written");
    wait_until(10.0, "the service logged its first line", || {
        fs::read_to_string(&log).is_ok_and(|l| l.contains(&format!(" {tag}: up")))
    });
    pid
}

/// No descriptor of `pid` points at a file of the test's directory named
/// `inherited-*`.
fn assert_not_inherited(pid: i32, d: &Path, who: &str) {
    let leaked: Vec<(i32, String)> = fds(pid)
        .into_iter()
        .filter(|(_, t)| t.starts_with(d.to_str().unwrap()) && t.contains("/inherited-"))
        .collect();
    assert!(
        leaked.is_empty(),
        "{who} {pid} kept inherited fds: {leaked:?}"
    );
}

fn check(no_proc: bool, tag: &str) {
    let d = TempDir::new(tag);
    let pid = launch(&d, no_proc, tag);
    let _guard = Reap(pid);
    assert_not_inherited(pid, d.path(), "daemon");
    // The log writer closes what it inherits from tinyd the same way.
    let w = wait_for(10.0, "the log writer", || log_writer(pid));
    assert_not_inherited(w, d.path(), "log writer");
    let kids = children(pid);
    assert_eq!(kids.len(), 1, "one service: {kids:?}");
    let svc = kids[0];
    // The script logs "up", then execs sleep: until then the shell holds
    // the script open (a window qemu-user makes wide).
    wait_until(10.0, "the service execs sleep", || {
        cmdline(svc).first().is_some_and(|a| a == "sleep")
    });
    // Right after exec, sleep opens files of its own for a moment (the
    // locale archive, at setlocale): wait for 0-2 alone (a leaked
    // descriptor would stay).
    let svc_fds = || -> Vec<i32> { fds(svc).into_iter().map(|(n, _)| n).collect() };
    wait_until(10.0, "the service has only 0-2", || svc_fds() == [0, 1, 2]);
    let st = stat(pid).unwrap();
    assert_ne!(st.session, pid, "the daemon is not a session leader");
    stop_daemon(pid);
    assert!(!alive(svc), "service stopped with the daemon");
    assert!(!d.join(&format!("{tag}.pid")).exists(), "pidfile removed");
}

/// Kills the daemon's group and the daemon if a check failed.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        if alive(self.0) {
            for c in children(self.0) {
                kill_group(c);
            }
            signal(self.0, SIGKILL);
        }
    }
}

#[test]
fn no_close_range_falls_back_to_proc_self_fd() {
    check(false, "eb-noclose");
}

#[test]
fn no_proc_and_no_close_range_closes_one_by_one() {
    check(true, "eb-noproc");
}
