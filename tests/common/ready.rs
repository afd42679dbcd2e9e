//! Helpers for the readiness tests (tests/ready.rs, tests/busybox.rs):
//! time stamps that services write, the notify socket tinyd names in a
//! service's environment, and the third-party clients the tests run
//! (Debian's systemd-notify, python3 with and without libsystemd, s6's
//! s6-notifyoncheck).
use super::*;
use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const HINT: &str =
    "run tests/install-deps.sh as root (installs s6, python3, libsystemd0, systemd-notify)";

/// The interpreter the python clients run with: Debian's, never a shim.
pub const PYTHON: &str = "/usr/bin/python3";
/// Debian's systemd-notify (package systemd).
pub const SYSTEMD_NOTIFY: &str = "/usr/bin/systemd-notify";

/// `path` if it is an executable file; panics with the installer's hint.
pub fn need(path: &str) -> String {
    let ok = fs::metadata(path).is_ok_and(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    });
    assert!(ok, "{path} is missing: {HINT}");
    path.to_string()
}

/// The first of /usr/bin, /bin holding `name`, executable; panics with the
/// hint when none does.
pub fn need_tool(name: &str) -> String {
    for d in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let p = format!("{d}/{name}");
        if fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            return need(&p);
        }
    }
    panic!("{name} not found: {HINT}");
}

/// Checks that python3 can load libsystemd.so.0 (package libsystemd0).
pub fn need_libsystemd() {
    let o = Command::new(need(PYTHON))
        .args([
            "-c",
            "import ctypes; ctypes.CDLL('libsystemd.so.0').sd_notify",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON}: {e}: {HINT}"));
    assert!(
        o.status.success(),
        "python3 cannot load libsystemd.so.0 ({}): {HINT}",
        text(&o.stderr)
    );
}

/// (The stamps run GNU date by its path: under cross/test.sh the scripts'
/// shell is busybox, which prefers its own `date`, and that has no %N.)
///
/// Nanoseconds since the epoch (CLOCK_REALTIME, as `date +%s%N` and
/// python's `time.time_ns()` see it).
pub fn epoch_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// A shell command that appends `PID NS` (the shell's pid, the time in
/// ns since the epoch) to `file`.
pub fn stamp_sh(file: &Path) -> String {
    format!("echo \"$$ $(/usr/bin/date +%s%N)\" >> '{}'", s(file))
}

/// The `PID NS` lines of a stamp file, in order (a partial last line is
/// left out).
pub fn stamps(path: &Path) -> Vec<(i32, i64)> {
    let t = fs::read_to_string(path).unwrap_or_default();
    let complete = match t.rfind('\n') {
        Some(i) => &t[..i + 1],
        None => "",
    };
    complete
        .lines()
        .filter_map(|l| {
            let (p, ns) = l.trim().split_once(' ')?;
            Some((p.parse().ok()?, ns.parse().ok()?))
        })
        .collect()
}

/// Waits until a stamp file holds at least `n` stamps; returns them.
pub fn wait_stamps(path: &Path, n: usize, secs: f64) -> Vec<(i32, i64)> {
    wait_for(secs, &format!("{n} stamps in {}", path.display()), || {
        let v = stamps(path);
        (v.len() >= n).then_some(v)
    })
}

/// The stamp that process `pid` wrote in a stamp file.
pub fn stamp_of(path: &Path, pid: i32) -> Option<i64> {
    stamps(path)
        .into_iter()
        .find(|&(p, _)| p == pid)
        .map(|(_, ns)| ns)
}

/// The `NOTIFY_SOCKET` of a process's environment.
pub fn notify_socket(pid: i32) -> Option<String> {
    environ(pid)
        .into_iter()
        .find_map(|e| e.strip_prefix("NOTIFY_SOCKET=").map(str::to_string))
}

/// What tinyd (pid `tinyd`) puts in NOTIFY_SOCKET.
pub fn notify_address(tinyd: i32) -> String {
    format!("@tinyd/notify/{tinyd}")
}

/// Sends one sd_notify datagram from this process to `addr` (`@NAME`: an
/// abstract address, else a path).
pub fn notify_from_here(addr: &str, msg: &str) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let a = match addr.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(addr)?,
    };
    let sock = UnixDatagram::unbound()?;
    sock.send_to_addr(msg.as_bytes(), &a).map(|_| ())
}

/// A pure-python sd_notify client (no library): sends each of `first`
/// (messages, before it waits), waits until `go` exists, writes its stamp
/// (`PID NS`) to `ready`, sends `then`, and stays up. `NOTIFY_SOCKET`'s
/// leading `@` is an abstract address: a NUL in python.
pub fn python_client(first: &[&str], go: &Path, ready: &Path, then: &str) -> String {
    let first: Vec<String> = first.iter().map(|m| format!("{m:?}")).collect();
    format!(
        "import os, socket, time\n\
         addr = os.environ['NOTIFY_SOCKET']\n\
         if addr.startswith('@'):\n    addr = '\\0' + addr[1:]\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         def send(m):\n    s.sendto(m.encode(), addr)\n\
         for m in [{}]:\n    send(m)\n\
         while not os.path.exists({:?}):\n    time.sleep(0.02)\n\
         with open({:?}, 'a') as f:\n    f.write('%d %d\\n' % (os.getpid(), time.time_ns()))\n\
         send({then:?})\n\
         while True:\n    time.sleep(1)\n",
        first.join(", "),
        s(go),
        s(ready),
    )
}

/// A python client that calls libsystemd's `sd_notify(0, "READY=1")`
/// through ctypes once `go` exists (after writing its stamp to `ready`),
/// then stays up; says on stderr if sd_notify failed.
pub fn libsystemd_client(go: &Path, ready: &Path) -> String {
    format!(
        "import ctypes, os, sys, time\n\
         lib = ctypes.CDLL('libsystemd.so.0')\n\
         while not os.path.exists({:?}):\n    time.sleep(0.02)\n\
         with open({:?}, 'a') as f:\n    f.write('%d %d\\n' % (os.getpid(), time.time_ns()))\n\
         r = lib.sd_notify(0, b'READY=1')\n\
         if r <= 0:\n    print('sd_notify returned %d' % r, file=sys.stderr, flush=True)\n\
         while True:\n    time.sleep(1)\n",
        s(go),
        s(ready),
    )
}

/// Makes `dir` a directory s6-notifyoncheck accepts as its service
/// directory: `data/check` (runs `check`, a shell body), `event/` (a
/// fifodir, from s6-mkfifodir) and `supervise/lock`, which s6-notifyoncheck
/// requires to be locked by a running s6-supervise: the returned guard
/// (s6-setlock holding the lock, its command line naming `dir`) stands in
/// for it; waits until `s6-svok` agrees.
pub fn s6_service_dir(d: &TempDir, dir: &Path, check: &str) -> Guard {
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::create_dir_all(dir.join("supervise")).unwrap();
    fs::write(dir.join("supervise/lock"), "").unwrap();
    let check_path = dir.join("data/check");
    fs::write(&check_path, format!("#!/bin/sh\n{check}\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&check_path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let st = Command::new(need_tool("s6-mkfifodir"))
        .arg(dir.join("event"))
        .status()
        .unwrap();
    assert!(st.success(), "s6-mkfifodir {}", dir.display());
    let lock = Guard(
        Command::new(need_tool("s6-setlock"))
            .arg("-n")
            .arg(dir.join("supervise/lock"))
            .args(["sleep", "100000"])
            .stdin(std::process::Stdio::null())
            .stdout(fs::File::create(d.join("s6-setlock.out")).unwrap())
            .stderr(fs::File::create(d.join("s6-setlock.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let svok = need_tool("s6-svok");
    wait_until(
        10.0,
        "s6-svok: the service directory's lock is held",
        || {
            Command::new(&svok)
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success())
        },
    );
    lock
}
