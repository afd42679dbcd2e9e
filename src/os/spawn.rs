//! Starting COMMAND: fork, set up the child, exec.
//!
//! Between fork and exec the child runs a short, allocation-free path: own
//! session, stdin on /dev/null, stdout and stderr on the output pipe, the
//! user's groups, gid and uid, a parent-death signal, default signals and an
//! empty mask, then execve with a PATH search. A failure is written to a
//! close-on-exec pipe as (step, errno), so EOF on it means exec succeeded.

use core::convert::Infallible;
use core::ffi::CStr;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{Pid, Signal};

use crate::os::sig;
use crate::os::sys::{self, Forked, SigMask};
use crate::pure::passwd::Creds;
use crate::util::argv::Argv;
use crate::util::buf::Buf;
use crate::util::limits::{MAX_ENV, MAX_GROUPS, MAX_INHERITED_ENV, MAX_WORDS, PATH_MAX};
use crate::util::store::ArrayVec;
use crate::util::words::Words;

/// The default search path when PATH is unset (busybox's).
pub const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run and how.
pub struct Spec<'a> {
    /// COMMAND and its arguments.
    pub exec: Words<'a>,
    /// tinyd's own environment.
    pub envp: Argv<'a>,
    /// NAME=VALUE overrides.
    pub env: Words<'a>,
    pub creds: Option<&'a Creds>,
    /// The working directory; a relative one is resolved against `base`
    /// (the directory tinyd was started in), not tinyd's own directory.
    pub chdir: &'a CStr,
    pub base: BorrowedFd<'a>,
    pub umask: u32,
    /// Where stdout and stderr go; inherited when `None`.
    pub out: Option<BorrowedFd<'a>>,
    /// `NOTIFY_SOCKET=...` for `ready = notify` (an inherited one is never
    /// passed on: it is not the service's).
    pub notify: Option<&'a CStr>,
    /// `ready = fd:N`: this pipe's write end goes to descriptor N.
    pub ready_fd: Option<(BorrowedFd<'a>, u8)>,
}

/// The child's step that failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Setsid = 1,
    Stdio,
    Chdir,
    Groups,
    Gid,
    Uid,
    Signals,
    Environment,
    Exec,
}

impl Step {
    /// Every step, in the order of their numbers (a test holds them to it).
    const ALL: [Step; 9] = [
        Step::Setsid,
        Step::Stdio,
        Step::Chdir,
        Step::Groups,
        Step::Gid,
        Step::Uid,
        Step::Signals,
        Step::Environment,
        Step::Exec,
    ];

    /// The step a child's report names; anything unknown is `Exec`.
    fn from(b: u8) -> Step {
        Step::ALL
            .into_iter()
            .find(|s| *s as u8 == b)
            .unwrap_or(Step::Exec)
    }
    pub fn name(self) -> &'static [u8] {
        match self {
            Step::Setsid => b"setsid",
            Step::Stdio => b"/dev/null",
            Step::Chdir => b"chdir",
            Step::Groups => b"setgroups",
            Step::Gid => b"setgid",
            Step::Uid => b"setuid",
            Step::Signals => b"signals",
            Step::Environment => b"environment",
            Step::Exec => b"exec",
        }
    }
}

pub enum Spawned {
    /// COMMAND was exec'd.
    Running(Pid),
    /// The child failed before or at exec and exits 127.
    Failed(Pid, Step, Errno),
}

/// Forks and execs COMMAND; `Err` when no child could be made.
pub fn spawn(spec: &Spec<'_>) -> Result<Spawned, Errno> {
    let parent = rustix::process::getpid();
    let (r, w) = pipe_with(PipeFlags::CLOEXEC)?;
    // No signal may run tinyd's handler in the child.
    let mask = sig::block_all()?;
    let forked = sys::fork();
    if let Ok(Forked::Child) = forked {
        sig::forked_child();
        let Err((step, e)) = child(spec, parent);
        let mut report = [step as u8, 0, 0, 0, 0];
        report[1..].copy_from_slice(&e.raw_os_error().to_le_bytes());
        let _ = rustix::io::write(&w, &report);
        sys::exit(127);
    }
    let _ = sig::restore(mask);
    let pid = match forked? {
        Forked::Parent(pid) => pid,
        Forked::Child => unreachable!(),
    };
    drop(w);
    let mut report = [0u8; 5];
    let mut got = 0;
    while got < report.len() {
        match rustix::io::read(&r, &mut report[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::INTR) => {}
            Err(_) => break,
        }
    }
    Ok(if got == 5 {
        let e = i32::from_le_bytes([report[1], report[2], report[3], report[4]]);
        Spawned::Failed(pid, Step::from(report[0]), Errno::from_raw_os_error(e))
    } else {
        Spawned::Running(pid)
    })
}

/// The child's side; returns only with what failed. Never inlined: its
/// arrays (about 5 KiB) must not grow the parent's stack.
#[inline(never)]
fn child(spec: &Spec<'_>, parent: Pid) -> Result<Infallible, (Step, Errno)> {
    let at = |step| move |e| (step, e);
    rustix::process::setsid().map_err(at(Step::Setsid))?;
    let null: OwnedFd =
        rustix::fs::open(c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
            .map_err(at(Step::Stdio))?;
    rustix::stdio::dup2_stdin(&null).map_err(at(Step::Stdio))?;
    if let Some(out) = spec.out {
        rustix::stdio::dup2_stdout(out).map_err(at(Step::Stdio))?;
        rustix::stdio::dup2_stderr(out).map_err(at(Step::Stdio))?;
    }
    if let Some((w, n)) = spec.ready_fd {
        ready_fd(w, n).map_err(at(Step::Stdio))?;
    }
    if spec.chdir.to_bytes().starts_with(b"/") {
        rustix::process::chdir(spec.chdir).map_err(at(Step::Chdir))?;
    } else {
        let dir = rustix::fs::openat(
            spec.base,
            spec.chdir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(at(Step::Chdir))?;
        rustix::process::fchdir(&dir).map_err(at(Step::Chdir))?;
    }
    rustix::process::umask(Mode::from_raw_mode(spec.umask));
    if let Some(c) = spec.creds {
        let mut gids = [rustix::process::Gid::ROOT; MAX_GROUPS];
        for (g, &raw) in gids.iter_mut().zip(c.groups()) {
            *g = rustix::process::Gid::from_raw(raw);
        }
        rustix::thread::set_thread_groups(&gids[..c.ngroups]).map_err(at(Step::Groups))?;
        rustix::thread::set_thread_gid(rustix::process::Gid::from_raw(c.gid))
            .map_err(at(Step::Gid))?;
        rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(c.uid))
            .map_err(at(Step::Uid))?;
    }
    // After the change of user, which clears it. If tinyd died before this,
    // the signal will never come: go now.
    rustix::process::set_parent_process_death_signal(Some(Signal::TERM))
        .map_err(at(Step::Signals))?;
    if rustix::process::getppid() != Some(parent) {
        sys::exit(0);
    }
    sig::reset_for_exec().map_err(at(Step::Signals))?;

    // argv: the words, then a null.
    let mut argv = [core::ptr::null::<u8>(); MAX_WORDS + 1];
    for (slot, w) in argv.iter_mut().zip(spec.exec.iter().take(MAX_WORDS)) {
        *slot = w.as_ptr().cast();
    }
    // The environment: tinyd's, less the names overridden, plus overrides.
    let mut envv = [core::ptr::null::<u8>(); MAX_INHERITED_ENV + MAX_ENV + 2];
    let mut n = 0;
    let name = |v: &[u8]| -> usize { v.iter().position(|&c| c == b'=').unwrap_or(v.len()) };
    let overridden = |v: &[u8]| {
        spec.env.iter().any(|o| {
            let o = o.to_bytes();
            o[..name(o)] == v[..name(v)]
        })
    };
    let mut path = DEFAULT_PATH;
    for i in 0..spec.envp.len() {
        let v = spec.envp.get(i);
        if overridden(v.to_bytes()) || v.to_bytes().starts_with(b"NOTIFY_SOCKET=") {
            continue;
        }
        if n == MAX_INHERITED_ENV {
            // Named in the message (sup.rs `failure_parts`): keep both.
            const _: () = assert!(MAX_INHERITED_ENV == 256);
            return Err((Step::Environment, Errno::TOOBIG));
        }
        if let Some(p) = v.to_bytes().strip_prefix(b"PATH=") {
            path = p;
        }
        envv[n] = v.as_ptr().cast();
        n += 1;
    }
    for o in spec.env.iter().take(MAX_ENV) {
        if let Some(p) = o.to_bytes().strip_prefix(b"PATH=") {
            path = p;
        }
        envv[n] = o.as_ptr().cast();
        n += 1;
    }
    if let Some(v) = spec.notify {
        envv[n] = v.as_ptr().cast();
    }
    Err((Step::Exec, exec(spec, &argv, path, envv.as_ptr())))
}

/// Puts `w` at descriptor `n`, open across exec.
fn ready_fd(w: BorrowedFd<'_>, n: u8) -> Result<(), Errno> {
    use rustix::fd::{AsRawFd, FromRawFd};
    if w.as_raw_fd() == n as i32 {
        // dup2 onto itself would leave close-on-exec set.
        return rustix::io::fcntl_setfd(w, rustix::io::FdFlags::empty());
    }
    // SAFETY: descriptor `n` is the service's to have; whatever tinyd had
    // there is close-on-exec, replacing it here (in the child) is what
    // dup2 does. The OwnedFd is forgotten, never closed.
    let mut target = unsafe { OwnedFd::from_raw_fd(n as i32) };
    let r = rustix::io::dup2(w, &mut target);
    core::mem::forget(target);
    r
}

/// execvp: a name without '/' is looked up in `path`; ENOENT and ENOTDIR
/// go on to the next directory, EACCES is remembered, anything else stops.
fn exec(spec: &Spec<'_>, argv: &[*const u8], path: &[u8], envp: *const *const u8) -> Errno {
    let file = spec.exec.first();
    if file.to_bytes().contains(&b'/') {
        return exec_file(file, argv, envp);
    }
    let mut denied = false;
    for dir in path.split(|&c| c == b':') {
        let mut full = Buf::<PATH_MAX>::new();
        full.s(if dir.is_empty() { b"." } else { dir })
            .s(b"/")
            .s(file.to_bytes());
        if full.room() == 0 {
            continue;
        }
        let Some(full) = full.cstr() else { continue };
        match exec_file(full, argv, envp) {
            Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG => {}
            Errno::ACCESS => denied = true,
            e => return e,
        }
    }
    if denied { Errno::ACCESS } else { Errno::NOENT }
}

/// execve, and a file without a `#!` line (ENOEXEC) through /bin/sh.
/// `argv` ends with a null.
fn exec_file(file: &CStr, argv: &[*const u8], envp: *const *const u8) -> Errno {
    // SAFETY: argv holds pointers to C strings in the service's arena and
    // ends with a null; envp was built from C strings and ends in a null.
    let e = unsafe { sys::execve(file, argv.as_ptr(), envp) };
    if e != Errno::NOEXEC {
        return e;
    }
    // sh FILE ARG...: argv[0] is replaced by sh and FILE.
    let mut shv = [core::ptr::null::<u8>(); MAX_WORDS + 2];
    shv[0] = c"/bin/sh".as_ptr().cast();
    shv[1] = file.as_ptr().cast();
    for (slot, &arg) in shv[2..].iter_mut().zip(argv.iter().skip(1)) {
        *slot = arg;
    }
    // SAFETY: shv holds C strings from argv and literals, then nulls.
    unsafe { sys::execve(c"/bin/sh", shv.as_ptr(), envp) }
}

/// The exit code for a COMMAND that cannot be executed: 127 when it does
/// not exist, 126 otherwise, as a shell says.
pub fn exec_code(step: Step, e: Errno) -> u8 {
    match (step, e) {
        (Step::Exec, Errno::NOENT | Errno::NOTDIR) => crate::code::NOT_FOUND,
        (Step::Exec, _) => crate::code::CANNOT_EXEC,
        _ => crate::code::FAIL,
    }
}

/// Which side of [`fork_helper`] this is.
pub enum Helper {
    /// The helper, with its descriptors at 3, 4, ...
    Child(ArrayVec<OwnedFd, 4>),
    Parent(Pid),
}

/// Forks a helper: a child that runs tinyd's own code and never execs (the
/// log writer). In the child, `fds` are moved to 3, 4, ... and every other
/// descriptor above 2 is closed (no control socket, client or pipe of
/// tinyd's stays open in it); the signals tinyd catches are ignored (tinyd
/// says when the helper ends: a terminal's ^C goes to the whole group),
/// SIGPIPE too; it dies with tinyd (SIGKILL); `name` is its name in `ps`.
pub fn fork_helper(name: &CStr, fds: &[BorrowedFd<'_>]) -> Result<Helper, Errno> {
    let parent = rustix::process::getpid();
    let mask = sig::block_all()?;
    let forked = sys::fork();
    if let Ok(Forked::Child) = forked {
        match helper(name, fds, parent) {
            Ok(fds) => return Ok(Helper::Child(fds)),
            Err(_) => sys::exit(71),
        }
    }
    let _ = sig::restore(mask);
    match forked? {
        Forked::Parent(pid) => Ok(Helper::Parent(pid)),
        Forked::Child => unreachable!(),
    }
}

/// The helper's side of [`fork_helper`].
fn helper(name: &CStr, fds: &[BorrowedFd<'_>], parent: Pid) -> Result<ArrayVec<OwnedFd, 4>, Errno> {
    let n = fds.len().min(4);
    // Out of the way of 3..3+n first, then into place.
    let mut high: ArrayVec<OwnedFd, 4> = ArrayVec::new();
    for fd in &fds[..n] {
        let _ = high.push(rustix::io::fcntl_dupfd_cloexec(fd, 3 + n as i32)?);
    }
    let mut placed: ArrayVec<OwnedFd, 4> = ArrayVec::new();
    for (k, fd) in high.iter().enumerate() {
        // SAFETY: descriptor 3 + k is no Rust object's in this new process
        // (its owners' copies are never dropped: the helper never returns
        // to them); dup2 makes it a copy of `fd` before anything uses it.
        let mut at = unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(3 + k as i32) };
        rustix::io::dup2(fd, &mut at)?;
        let _ = placed.push(at);
    }
    drop(high);
    crate::os::daemon::close_above(3 + n as i32);
    for s in sig::CAUGHT {
        let d = if s == sig::SIGCHLD {
            sys::Disposition::Default
        } else {
            sys::Disposition::Ignore
        };
        sys::sigaction(s, d, 0)?;
    }
    sys::sigaction(sig::SIGPIPE, sys::Disposition::Ignore, 0)?;
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    if rustix::process::getppid() != Some(parent) {
        sys::exit(0);
    }
    let _ = rustix::thread::set_name(name);
    crate::util::argv::retitle(name.to_bytes());
    sig::restore(SigMask::EMPTY)?;
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_comes_back_from_its_report() {
        // A step missing from the table came back as `Exec`: a failed
        // chdir read "cannot execute COMMAND", exit 127 (issue 8, defect 7).
        for (i, s) in Step::ALL.into_iter().enumerate() {
            assert_eq!(s as usize, i + 1, "ALL is in the order of the numbers");
            assert_eq!(Step::from(s as u8), s);
        }
        assert_eq!(Step::ALL[8], Step::Exec, "Exec is the last step");
        assert_eq!(Step::from(Step::Exec as u8 + 1), Step::Exec);
        assert_eq!(
            exec_code(Step::Chdir, Errno::NOENT),
            crate::code::FAIL,
            "a missing directory is not a missing COMMAND"
        );
    }
}
