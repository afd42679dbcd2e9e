//! tinyd's main: parse, resolve, detach, then supervise in one poll loop.
//!
//! The loop sleeps in poll(2) on the self-pipe and COMMAND's output pipe,
//! with a timeout only when the state machine has a deadline: when nothing
//! is due, it blocks with no timeout and tinyd makes no wake-ups at all.

use core::ffi::CStr;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::time::{ClockId, Timespec, clock_gettime};

use crate::args::{self, Argv, Opts, Output, Parsed};
use crate::buf::Buf;
use crate::code;
use crate::daemon::{self, Ready};
use crate::limits::LINE_MAX;
use crate::lines::LineBuf;
use crate::passwd::{self, Creds, Unknown};
use crate::pidfile::{Pidfile, Refused};
use crate::sig::{self, Pending, SelfPipe};
use crate::sink::{self, PRI_INFO, PRI_NOTICE, Sink};
use crate::spawn::{self, Spawned, Spec};
use crate::svc::{Do, Policy, State, Status, Svc};
use crate::sys;

/// A message line, `tinyd: ...`.
type Msg = Buf<256>;

/// Milliseconds of CLOCK_MONOTONIC.
fn now() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// Prints a usage error and exits 64.
#[cold]
#[inline(never)]
fn usage_error(u: args::Usage<'_>) -> ! {
    let mut m = Msg::new();
    m.s(b"tinyd: ").s(u.msg.as_bytes());
    if !u.arg.is_empty() {
        m.s(b" ").s(u.arg);
    }
    m.s(b" (see tinyd --help)\n");
    sink::stderr(m.as_bytes());
    sys::exit(code::USAGE as i32)
}

fn stdout(bytes: &[u8]) {
    let _ = rustix::io::write(sys::stdout(), bytes);
}

/// Closes every descriptor above 2: close_range, else /proc/self/fd, else
/// one by one up to a bound (before /proc is mounted on an old kernel).
#[inline(never)]
fn close_inherited() {
    if sys::close_from(3).is_ok() {
        return;
    }
    if let Ok(dir) = rustix::fs::open(
        c"/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        let own = rustix::fd::AsRawFd::as_raw_fd(&dir);
        let mut buf = [core::mem::MaybeUninit::<u8>::uninit(); 1024];
        let mut high = [0i32; 128];
        let mut n = 0;
        let mut raw = rustix::fs::RawDir::new(&dir, &mut buf);
        while let Some(Ok(entry)) = raw.next() {
            if let Some(fd) = crate::num::decimal(entry.file_name().to_bytes()) {
                let fd = fd as i32;
                if fd > 2 && fd != own && n < high.len() {
                    high[n] = fd;
                    n += 1;
                }
            }
        }
        drop(dir);
        high[..n].iter().for_each(|&fd| sys::close_unowned(fd));
        if n < high.len() {
            return;
        }
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1024);
    for fd in 3..limit.min(65536) as i32 {
        sys::close_unowned(fd);
    }
}

/// The directory relative paths are resolved against: the one tinyd was
/// started in, kept open only when some path needs it (daemon mode changes
/// directory).
fn base_dir(o: &Opts<'_>) -> Option<OwnedFd> {
    let relative = |p: Option<&CStr>| p.is_some_and(|p| !p.to_bytes().starts_with(b"/"));
    let log = match o.output {
        Output::File(p) => Some(p),
        _ => None,
    };
    if relative(o.pidfile) || relative(log) {
        rustix::fs::open(
            c".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    } else {
        None
    }
}

#[cold]
#[inline(never)]
fn unknown_user(u: &CStr, e: Unknown<'_>) -> ! {
    let mut m = Msg::new();
    let exit = match e {
        Unknown::User(n) => {
            m.s(b"tinyd: unknown user: ").s(n);
            code::NOUSER
        }
        Unknown::Group(n) => {
            m.s(b"tinyd: unknown group: ").s(n);
            code::NOUSER
        }
        Unknown::TooManyGroups => {
            m.s(b"tinyd: user ")
                .s(u.to_bytes())
                .s(b" is in too many groups (at most 64)");
            code::NOUSER
        }
        Unknown::Io(file, e) => {
            m.s(b"tinyd: cannot read ")
                .s(file.as_bytes())
                .s(b": ")
                .err(e);
            code::FAIL
        }
    };
    m.s(b"\n");
    sink::stderr(m.as_bytes());
    sys::exit(exit as i32)
}

#[cold]
#[inline(never)]
fn refused(p: &CStr, r: Refused) -> ! {
    let mut m = Msg::new();
    m.s(b"tinyd: ").s(p.to_bytes());
    match r {
        Refused::Locked(Some(pid)) => m.s(b": already running (pid ").u(pid).s(b")"),
        Refused::Locked(None) => m.s(b": already running"),
        Refused::Io(e) => m.s(b": cannot create pidfile: ").err(e),
    };
    m.s(b"\n");
    sink::stderr(m.as_bytes());
    sys::exit(code::FAIL as i32)
}

pub fn main(argv: Argv<'static>, envp: Argv<'static>) -> ! {
    let _ = sys::ensure_std_fds();
    let o = match args::parse(&argv) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            stdout(args::HELP.as_bytes());
            sys::exit(0)
        }
        Ok(Parsed::Version) => {
            stdout(concat!("tinyd ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
            sys::exit(0)
        }
        Err(u) => usage_error(u),
    };
    let creds = o.user.map(|u| {
        passwd::resolve(u.to_bytes(), c"/etc/passwd", c"/etc/group")
            .unwrap_or_else(|e| unknown_user(u, e))
    });
    close_inherited();
    let _ = sig::reset_all();
    let base_fd = base_dir(&o);
    let base = base_fd.as_ref().map_or(rustix::fs::CWD, |f| f.as_fd());

    let pidfile = o
        .pidfile
        .map(|p| Pidfile::acquire(base, p).unwrap_or_else(|r| refused(p, r)));

    let ready = if o.foreground {
        Ready::foreground()
    } else {
        match daemon::daemonize(pidfile.as_ref(), base) {
            Ok(r) => r,
            Err(e) => {
                let mut m = Msg::new();
                m.s(b"tinyd: cannot detach: ").err(e).s(b"\n");
                sink::stderr(m.as_bytes());
                if let Some(p) = pidfile {
                    p.remove(base);
                }
                sys::exit(code::FAIL as i32)
            }
        }
    };
    let policy = Policy {
        restart: o.restart,
        delay_min: o.delay_min,
        delay_max: o.delay_max,
        stop_timeout: o.stop_timeout,
    };
    let mut d = Daemon {
        o,
        argv,
        envp,
        creds,
        base,
        pidfile,
        ready,
        policy,
        svc: Svc::new(&policy),
        sink: Sink::none(),
        out: None,
        line: LineBuf::new(),
        stopping: false,
        me: rustix::process::getpid(),
        pipe: None,
    };
    d.setup();
    d.run()
}

struct Daemon<'a> {
    o: Opts<'a>,
    argv: Argv<'a>,
    envp: Argv<'a>,
    creds: Option<Creds>,
    base: BorrowedFd<'a>,
    pidfile: Option<Pidfile<'a>>,
    ready: Ready,
    policy: Policy,
    svc: Svc,
    sink: Sink<'a>,
    /// COMMAND's output pipe: read end (non-blocking), write end.
    out: Option<(OwnedFd, OwnedFd)>,
    line: LineBuf<LINE_MAX>,
    /// SIGTERM or SIGINT received.
    stopping: bool,
    me: Pid,
    /// The self-pipe, installed before COMMAND is first started.
    pipe: Option<SelfPipe>,
}

impl<'a> Daemon<'a> {
    /// Ends tinyd before COMMAND runs: the error goes to the launcher (or
    /// stderr), nothing is left behind.
    #[cold]
    #[inline(never)]
    fn fatal(&mut self, exit: u8, m: &Msg) -> ! {
        if let Some(p) = self.pidfile.take() {
            p.remove(self.base);
        }
        self.ready.fail(exit, m.as_bytes());
        sys::exit(exit as i32)
    }

    #[cold]
    #[inline(never)]
    fn fatal_errno(&mut self, what: &[u8], thing: &[u8], e: Errno) -> ! {
        let mut m = Msg::new();
        m.s(b"tinyd: ").s(what).s(thing).s(b": ").err(e);
        self.fatal(code::FAIL, &m)
    }

    /// daemon(7) steps 4-6 and the first start of COMMAND.
    fn setup(&mut self) {
        rustix::process::umask(Mode::from_raw_mode(self.o.umask));
        if let Err(e) = rustix::process::chdir(self.o.chdir) {
            self.fatal_errno(b"cannot change directory to ", self.o.chdir.to_bytes(), e);
        }
        if !self.o.foreground
            && let Err(e) = daemon::null_stdio()
        {
            self.fatal_errno(b"cannot open ", b"/dev/null", e);
        }
        if let Some(p) = &self.pidfile
            && let Err(e) = p.write(self.me.as_raw_nonzero().get())
        {
            let path = p.path().to_bytes();
            self.fatal_errno(b"cannot write pidfile ", path, e);
        }
        let _ = rustix::process::set_child_subreaper(Some(self.me));
        match SelfPipe::install() {
            Ok(p) => self.pipe = Some(p),
            Err(e) => self.fatal_errno(b"cannot install ", b"signal handlers", e),
        }
        self.sink = match self.o.output {
            Output::Inherit => Sink::none(),
            Output::File(path) => Sink::file(path, self.o.log_size, self.o.log_keep),
            Output::Syslog(_) => Sink::syslog(syslog_path(&self.envp)),
        };
        match self.sink.open(self.base) {
            Ok(()) => {}
            // syslogd may start later: lines are counted as lost till then.
            Err(_) if matches!(self.o.output, Output::Syslog(_)) => {}
            Err(e) => {
                let path = match self.o.output {
                    Output::File(p) => p.to_bytes(),
                    _ => b"",
                };
                self.fatal_errno(b"cannot open log file ", path, e)
            }
        }
        if !self.sink.is_none() {
            match make_pipe() {
                Ok(p) => self.out = Some(p),
                Err(e) => self.fatal_errno(b"cannot create ", b"output pipe", e),
            }
        }
        self.spawn(now());
    }

    /// Starts COMMAND. Before the launcher has been told, a failure is
    /// fatal; later it is logged and retried after the restart delay.
    fn spawn(&mut self, now: u64) {
        let spec = Spec {
            argv: self.argv,
            cmd: self.o.cmd,
            envp: self.envp,
            env: &self.o.env,
            creds: self.creds.as_ref(),
            out: self.out.as_ref().map(|(_, w)| w.as_fd()),
        };
        let first = !self.svc_started();
        let result = spawn::spawn(&spec);
        let mut m = Msg::new();
        match result {
            Ok(Spawned::Running(pid)) => {
                self.svc.spawned(pid.as_raw_nonzero().get(), now);
                m.s(b"started pid ").u(pid.as_raw_nonzero().get() as u64);
                self.event(PRI_NOTICE, &m);
                self.ready.ok();
            }
            Ok(Spawned::Failed(pid, step, e)) => {
                let cmd = self.argv.get(self.o.cmd).to_bytes();
                if step == spawn::Step::Exec {
                    m.s(b"cannot execute ").s(cmd).s(b": ").err(e);
                } else {
                    m.s(b"cannot start ")
                        .s(cmd)
                        .s(b": ")
                        .s(step.name())
                        .s(b": ")
                        .err(e);
                }
                if first {
                    // Reap the child (it exits at once), then report.
                    while let Err(Errno::INTR) =
                        rustix::process::waitpid(Some(pid), WaitOptions::empty())
                    {
                    }
                    let mut line = Msg::new();
                    line.s(b"tinyd: ").s(m.as_bytes());
                    self.fatal(spawn::exec_code(step, e), &line);
                }
                self.event(sink::PRI_ERR, &m);
                // Its exit (127) arrives as SIGCHLD and leads to a restart.
                self.svc.spawned(pid.as_raw_nonzero().get(), now);
            }
            Err(e) => {
                if first {
                    self.fatal_errno(b"cannot start ", self.argv.get(self.o.cmd).to_bytes(), e);
                }
                m.s(b"cannot fork: ").err(e);
                self.event(sink::PRI_ERR, &m);
                self.svc.spawn_failed(now, &self.policy);
                self.note_backoff(now);
            }
        }
    }

    fn svc_started(&self) -> bool {
        self.svc.pgid != 0
    }

    /// One of tinyd's own events: to the log or syslog, and to stderr in
    /// the foreground.
    fn event(&mut self, pri: u8, m: &Msg) {
        let mut text = Msg::new();
        text.s(self.o.name).s(b": ").s(m.as_bytes());
        if self.o.foreground {
            let mut line = Msg::new();
            line.s(b"tinyd: ").s(text.as_bytes()).s(b"\n");
            sink::stderr(line.as_bytes());
        }
        let me = self.me.as_raw_nonzero().get();
        self.sink
            .line(self.base, b"tinyd", me, pri, text.as_bytes());
    }

    fn note_backoff(&mut self, now: u64) {
        if self.svc.state == State::Backoff {
            let mut m = Msg::new();
            m.s(b"restarting in ")
                .secs(self.svc.wait(now))
                .s(b" seconds");
            self.event(PRI_NOTICE, &m);
        }
    }

    /// The tag of COMMAND's output lines.
    fn tag(&self) -> &'a [u8] {
        match self.o.output {
            Output::Syslog(t) if !t.is_empty() => t,
            _ => self.o.name,
        }
    }

    /// Reads what COMMAND wrote, up to `rounds` reads, and logs each line.
    fn read_output(&mut self, rounds: usize) {
        let Some((r, _)) = &self.out else { return };
        let tag = self.tag();
        let pid = self.svc.pid.unwrap_or(self.svc.pgid);
        for _ in 0..rounds {
            let n = match rustix::io::read(r, self.line.spare()) {
                Ok(0) => return,
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(_) => return,
            };
            let (sink, base) = (&mut self.sink, self.base);
            self.line
                .commit(n, |p| sink.line(base, tag, pid, PRI_INFO, p.text));
        }
    }

    fn flush_output(&mut self) {
        self.read_output(usize::MAX);
        let tag = self.tag();
        let pid = self.svc.pgid;
        let (sink, base) = (&mut self.sink, self.base);
        self.line
            .flush(|p| sink.line(base, tag, pid, PRI_INFO, p.text));
    }

    fn group_alive(&self) -> bool {
        match Pid::from_raw(self.svc.pgid) {
            Some(g) => !matches!(
                rustix::process::test_kill_process_group(g),
                Err(Errno::SRCH)
            ),
            None => false,
        }
    }

    fn signal_group(&self, sig: Signal) {
        if let Some(g) = Pid::from_raw(self.svc.pgid) {
            let _ = rustix::process::kill_process_group(g, sig);
        }
    }

    /// Carries out what the state machine said.
    fn act(&mut self, what: Do, now: u64) {
        let mut m = Msg::new();
        match what {
            Do::Nothing => self.note_backoff(now),
            Do::Spawn if self.stopping => {}
            Do::Spawn => self.spawn(now),
            Do::Term => {
                if !self.stopping {
                    m.s(b"stopping leftover processes of group ")
                        .u(self.svc.pgid as u64);
                    self.event(PRI_NOTICE, &m);
                }
                self.signal_group(Signal::TERM);
                self.signal_group(Signal::CONT);
            }
            Do::Kill => {
                m.s(b"sending SIGKILL to process group ")
                    .u(self.svc.pgid as u64);
                self.event(PRI_NOTICE, &m);
                self.signal_group(Signal::KILL);
            }
            Do::GiveUp | Do::Done => {
                if what == Do::GiveUp {
                    m.s(b"process group ")
                        .u(self.svc.pgid as u64)
                        .s(b" survived SIGKILL; giving up");
                    self.event(sink::PRI_ERR, &m);
                    m.clear();
                }
                let exit = if self.stopping {
                    0
                } else {
                    self.svc.last.map_or(0, Status::code)
                };
                if self.stopping {
                    m.s(b"stopped");
                    self.event(PRI_NOTICE, &m);
                }
                self.exit(exit)
            }
        }
    }

    fn exit(&mut self, exit: u8) -> ! {
        if let Some(p) = self.pidfile.take() {
            p.remove(self.base);
        }
        sys::exit(exit as i32)
    }

    /// Reaps every child; COMMAND's end goes to the state machine once all
    /// zombies (its leftovers among them) are gone.
    fn reap(&mut self, now: u64) {
        let mut ours = None;
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, st))) => {
                    if Some(pid.as_raw_nonzero().get()) == self.svc.pid {
                        let status = match (st.exit_status(), st.terminating_signal()) {
                            (Some(c), _) => Status::Exited(c as u8),
                            (None, Some(s)) => Status::Signaled(s as u8),
                            _ => continue,
                        };
                        ours = Some(status);
                    }
                }
                Ok(None) => break,
                Err(Errno::INTR) => {}
                Err(_) => break, // ECHILD: no children
            }
        }
        if let Some(status) = ours {
            self.flush_output();
            let mut m = Msg::new();
            match status {
                Status::Exited(c) => m.s(b"exited with status ").u(c as u64),
                Status::Signaled(s) => m.s(b"killed by signal ").u(s as u64),
            };
            self.event(PRI_NOTICE, &m);
            let alive = self.group_alive();
            let d = self.svc.exited(status, now, alive, &self.policy);
            self.act(d, now);
        }
    }

    fn run(&mut self) -> ! {
        let Some(pipe) = self.pipe.take() else {
            self.exit(code::SOFTWARE)
        };
        let mut pending = Pending::default();
        loop {
            let now = now();
            if self.svc.deadline.is_some_and(|d| d <= now) {
                let alive = self.group_alive();
                let d = self.svc.tick(now, alive, &self.policy);
                self.act(d, now);
                continue;
            }
            let timeout = self.svc.deadline.map(|d| {
                let ms = d - now;
                Timespec {
                    tv_sec: (ms / 1000) as i64,
                    tv_nsec: (ms % 1000 * 1_000_000) as i64,
                }
            });
            let mut fds = [
                PollFd::new(&pipe, PollFlags::IN),
                match &self.out {
                    Some((r, _)) => PollFd::new(r, PollFlags::IN),
                    None => PollFd::from_borrowed_fd(pipe.fd(), PollFlags::empty()),
                },
            ];
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => self.fatal_errno(b"poll", b"", e),
            }
            let (sig_ready, out_ready) =
                (!fds[0].revents().is_empty(), !fds[1].revents().is_empty());
            if out_ready && self.out.is_some() {
                // At most 64 reads (one full pipe) before signals get a turn.
                self.read_output(64);
            }
            if sig_ready {
                pipe.drain(&mut pending);
            }
            let now = crate::run::now();
            if pending.take(sig::SIGCHLD) {
                self.reap(now);
            }
            if pending.take(sig::SIGTERM) | pending.take(sig::SIGINT) && !self.stopping {
                self.stopping = true;
                let mut m = Msg::new();
                match self.svc.pid {
                    Some(pid) => m.s(b"stopping pid ").u(pid as u64),
                    None => m.s(b"stopping"),
                };
                self.event(PRI_NOTICE, &m);
                let d = self.svc.stop(now, &self.policy);
                self.act(d, now);
            }
            if pending.take(sig::SIGHUP) {
                let _ = self.sink.open(self.base);
            }
            for s in [sig::SIGUSR1, sig::SIGUSR2] {
                if pending.take(s)
                    && let Some(pid) = self.svc.pid.and_then(Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(
                        pid,
                        Signal::from_named_raw(s).unwrap_or(Signal::USR1),
                    );
                }
            }
        }
    }
}

/// The syslog socket: $TINYD_SYSLOG (for tests), else /dev/log.
fn syslog_path<'b>(envp: &Argv<'b>) -> &'b CStr {
    for i in 0..envp.len() {
        let v = envp.get(i);
        if let Some(rest) = v.to_bytes_with_nul().strip_prefix(b"TINYD_SYSLOG=")
            && let Ok(p) = CStr::from_bytes_with_nul(rest)
            && !p.is_empty()
        {
            return p;
        }
    }
    c"/dev/log"
}

/// COMMAND's output pipe: the read end non-blocking for tinyd, the write
/// end blocking for COMMAND (O_NONBLOCK belongs to the open file, so it is
/// set on the read end only).
fn make_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    rustix::fs::fcntl_setfl(&r, OFlags::NONBLOCK)?;
    Ok((r, w))
}
