//! tinyd's main: which mode, what to run, detach, then supervise.
//!
//! `tinyd [OPTIONS] COMMAND...` becomes a one-service configuration;
//! `tinyd -c FILE` reads every service from FILE; `tinyd ctl ...` (or a
//! binary called `tinyctl`) is the control client. Everything that can be
//! wrong is found before tinyd detaches, so that its error reaches the
//! terminal.

use core::ffi::CStr;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

#[cfg(feature = "ctl")]
use crate::app::ctl;
use crate::code;
use crate::log::sink::{self, Sink};
use crate::os::daemon::{self, Ready};
use crate::os::pidfile::{Pidfile, Refused};
use crate::os::sig::{self, SelfPipe};
use crate::os::sys;
use crate::pure::args::{self, Argv, Opts, Output, Parsed};
#[cfg(feature = "ctl")]
use crate::pure::config::Global;
use crate::pure::passwd::Unknown;
#[cfg(feature = "ctl")]
use crate::pure::spec::Arena;
use crate::pure::spec::Spec;
use crate::sup::{Mode as SupMode, Sup, Tables};
use crate::util::buf::Buf;

/// Prints `tinyd: ...` and exits with `exit`.
#[cold]
#[inline(never)]
fn die(exit: u8, parts: &[&[u8]]) -> ! {
    sink::stderr_line(parts);
    sys::exit(exit as i32)
}

#[cold]
#[inline(never)]
fn usage_error(u: args::Usage<'_>) -> ! {
    let sep: &[u8] = if u.arg.is_empty() { b"" } else { b" " };
    die(
        code::USAGE,
        &[u.msg.as_bytes(), sep, u.arg, b" (see tinyd --help)"],
    )
}

#[cold]
#[inline(never)]
fn unknown_user(u: &[u8], e: Unknown<'_>) -> ! {
    let mut why = Buf::<64>::new();
    match e {
        Unknown::User(n) => die(code::NOUSER, &[b"unknown user: ", n]),
        Unknown::Group(n) => die(code::NOUSER, &[b"unknown group: ", n]),
        Unknown::TooManyGroups => die(
            code::NOUSER,
            &[b"user ", u, b" is in too many groups (at most 64)"],
        ),
        Unknown::Io(file, e) => {
            why.err(e);
            die(
                code::FAIL,
                &[b"cannot read ", file.as_bytes(), b": ", why.as_bytes()],
            )
        }
    }
}

#[cold]
#[inline(never)]
fn refused(p: &CStr, r: Refused) -> ! {
    let mut m = Buf::<96>::new();
    match r {
        Refused::Locked(Some(pid)) => m.s(b": already running (pid ").u(pid).s(b")"),
        Refused::Locked(None) => m.s(b": already running"),
        Refused::NotPidfile => m.s(b": not a pidfile (neither empty nor a PID); left alone"),
        Refused::Io(e) => m.s(b": cannot create pidfile: ").err(e),
    };
    die(code::FAIL, &[p.to_bytes(), m.as_bytes()])
}

use crate::os::users::resolve;
#[cfg(feature = "ctl")]
use crate::sup::reload::load_config;

/// The syslog socket: $TINYD_SYSLOG (for tests), else /dev/log.
fn syslog_path<'b>(envp: &Argv<'b>) -> &'b CStr {
    for i in 0..envp.len() {
        let v = envp.get(i).to_bytes_with_nul();
        if let Some(rest) = v.strip_prefix(b"TINYD_SYSLOG=")
            && let Ok(p) = CStr::from_bytes_with_nul(rest)
            && !p.is_empty()
        {
            return p;
        }
    }
    c"/dev/log"
}

fn relative(p: Option<&CStr>) -> bool {
    p.is_some_and(|p| !p.to_bytes().starts_with(b"/"))
}

/// tinyd's own settings, copied out of the configuration text (which a
/// reload reuses) into an arena.
#[allow(dead_code)] // fields unused without the ctl feature
struct Own {
    pidfile: Option<&'static CStr>,
    control: Option<&'static CStr>,
    log: Option<&'static CStr>,
    foreground: bool,
}

#[cfg(feature = "ctl")]
fn own(g: &Global<'_>, arena: Arena) -> Own {
    let mut rest: &'static mut [u8] = arena.into_bytes();
    let mut copy = |p: Option<&CStr>| -> Option<&'static CStr> {
        let bytes = p?.to_bytes_with_nul();
        if bytes.len() > rest.len() {
            return None;
        }
        let (head, tail) = core::mem::take(&mut rest).split_at_mut(bytes.len());
        head.copy_from_slice(bytes);
        rest = tail;
        CStr::from_bytes_with_nul(head).ok()
    };
    Own {
        pidfile: copy(g.pidfile),
        control: copy(g.control),
        log: copy(g.log),
        foreground: g.foreground,
    }
}

pub fn main(argv: Argv<'static>, envp: Argv<'static>) -> ! {
    // Everything up to the loop happens in `start`, whose frame (options,
    // parsing) is gone by the time the loop runs; its pages go back to the
    // kernel once the loop has started the services (Sup::run).
    start(argv, envp).run()
}

crate::static_once!(fn base_cell() -> Option<OwnedFd> = None; bit 3);

/// Parses, checks, detaches and sets up: returns the supervisor ready to
/// run, or exits with the error.
#[inline(never)]
fn start(argv: Argv<'static>, envp: Argv<'static>) -> Sup<'static> {
    let _ = sys::ensure_std_fds();
    // For the log writer's name in `ps` (util::argv::retitle).
    argv.keep_title_area();
    #[cfg(feature = "ctl")]
    {
        if !argv.is_empty() && args::basename(argv.get(0).to_bytes()) == b"tinyctl" {
            ctl::client(&argv, 1);
        }
        if argv.len() > 1 && argv.get(1).to_bytes() == b"ctl" {
            ctl::client(&argv, 2);
        }
    }
    // Not a COMMAND called `ctl`: `tinyd -- ctl` runs one.
    #[cfg(not(feature = "ctl"))]
    if (!argv.is_empty() && args::basename(argv.get(0).to_bytes()) == b"tinyctl")
        || (argv.len() > 1 && argv.get(1).to_bytes() == b"ctl")
    {
        die(
            code::USAGE,
            &[b"ctl: this tinyd was built without the ctl feature, so without the control client (tinyd -- ctl runs a COMMAND called ctl)"],
        );
    }
    let o: Opts<'static> = match args::parse(&argv) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            let _ = rustix::io::write(sys::stdout(), args::HELP.as_bytes());
            sys::exit(0)
        }
        Ok(Parsed::Version) => {
            let _ = rustix::io::write(
                sys::stdout(),
                concat!("tinyd ", env!("CARGO_PKG_VERSION"), "\n").as_bytes(),
            );
            sys::exit(0)
        }
        Err(u) => usage_error(u),
    };
    let Some((t, rings, scratch)) = Tables::take() else {
        die(code::SOFTWARE, &[b"tables taken twice"])
    };

    // What to run, checked before anything else happens.
    let mut settings = Own {
        pidfile: None,
        control: None,
        log: None,
        foreground: false,
    };
    #[allow(unused_mut)]
    let mut mode = SupMode::Single;
    // The command line's service (a file's go through `t.staged`).
    #[allow(unused_assignments)]
    let mut single: Option<Spec> = None;
    match o.config {
        #[cfg(not(feature = "ctl"))]
        Some(_) => die(
            code::USAGE,
            &[b"--config: this tinyd was built without the ctl feature"],
        ),
        #[cfg(feature = "ctl")]
        Some(path) => {
            mode = SupMode::Config(path);
            let mut errors = 0;
            let loaded = load_config(
                rustix::fs::CWD,
                path,
                t,
                &mut |line| {
                    errors += 1;
                    sink::stderr_line(line);
                },
                &mut |g, t| {
                    if let Some(arena) = t.arenas.take() {
                        settings = own(g, arena);
                    }
                },
            );
            if loaded.is_err() {
                sys::exit(code::CONFIG as i32);
            }
        }
        None => {
            let creds = o
                .set
                .user
                .map(|u| resolve(u.to_bytes()).unwrap_or_else(|e| unknown_user(u.to_bytes(), e)));
            let Some(arena) = t.arenas.take() else {
                die(code::SOFTWARE, &[b"no arena"])
            };
            let words = (o.cmd..argv.len()).map(|i| argv.get(i));
            match Spec::new(arena, &o.set, words, creds) {
                Ok(spec) => single = Some(spec),
                Err((_, e)) => die(code::USAGE, &[e.message().as_bytes()]),
            }
            settings.control = o.control;
        }
    }
    #[cfg(not(feature = "ctl"))]
    if o.control.is_some() {
        die(
            code::USAGE,
            &[b"--control: this tinyd was built without the ctl feature"],
        );
    }
    let foreground = o.foreground || settings.foreground;
    let pidfile_path = o.pidfile.or(settings.pidfile);
    let control_path = o.control.or(settings.control);
    #[cfg(feature = "ctl")]
    let control_path = control_path.or(match mode {
        SupMode::Config(_) => Some(crate::pure::protocol::DEFAULT_SOCKET),
        SupMode::Single => None,
    });

    daemon::close_above(3);
    let _ = sig::reset_all();
    // Relative paths (a service's chdir among them) stay relative to where
    // tinyd was started, even after it changes directory: keep that
    // directory open only if needed.
    let services_relative = matches!(o.set.output, Output::File(p) if relative(Some(p)))
        || single
            .as_ref()
            .is_some_and(|s| relative(s.log_file()) || relative(Some(s.chdir())));
    #[cfg(feature = "ctl")]
    let services_relative = services_relative
        || t.staged
            .iter()
            .any(|s| relative(s.log_file()) || relative(Some(s.chdir())));
    let base_fd = if relative(pidfile_path)
        || relative(control_path)
        || relative(o.config)
        || relative(settings.log)
        || services_relative
    {
        rustix::fs::open(
            c".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    } else {
        None
    };
    // Kept for the life of the process, in a static of its own.
    let Some(cell) = base_cell() else {
        die(code::SOFTWARE, &[b"base taken twice"])
    };
    *cell = base_fd;
    let cell: &'static Option<OwnedFd> = cell;
    let base = cell.as_ref().map_or(rustix::fs::CWD, |f| f.as_fd());

    let pidfile = pidfile_path.map(|p| Pidfile::acquire(base, p).unwrap_or_else(|r| refused(p, r)));
    #[cfg(feature = "ctl")]
    let control = control_path.map(|p| match crate::sup::control::listen(base, p) {
        Ok(fd) => (p, fd),
        Err(e) => {
            let mut why = Buf::<64>::new();
            if e == Errno::ADDRINUSE {
                why.s(b"in use by another tinyd");
            } else if e == Errno::NOTSOCK {
                why.s(b"exists and is not a socket; left alone");
            } else {
                why.err(e);
            }
            if let Some(pf) = pidfile.as_ref() {
                let _ = rustix::fs::unlinkat(base, pf.path(), rustix::fs::AtFlags::empty());
            }
            die(
                code::FAIL,
                &[b"control socket ", p.to_bytes(), b": ", why.as_bytes()],
            )
        }
    });

    let ready = if foreground {
        Ready::foreground()
    } else {
        match daemon::daemonize(pidfile.as_ref(), base) {
            Ok(r) => r,
            Err(e) => {
                let mut why = Buf::<64>::new();
                why.err(e);
                if let Some(p) = pidfile {
                    p.remove(base);
                }
                die(code::FAIL, &[b"cannot detach: ", why.as_bytes()])
            }
        }
    };
    let mut s = Sup {
        t,
        mode,
        foreground,
        base,
        envp,
        pidfile,
        ready,
        log: settings.log,
        own_ring: None,
        rings,
        writer: crate::sup::logs::Writer::new(),
        scratch,
        devlog: syslog_path(&envp),
        #[cfg(feature = "ctl")]
        control,
        #[cfg(feature = "ctl")]
        accept_after: None,
        #[cfg(feature = "ctl")]
        went_deep: false,
        pipe: None,
        me: rustix::process::getpid(),
        notify: None,
        no_wait: o.no_wait,
    };
    setup(&mut s, &o, single);
    s
}

/// daemon(7) steps 4-6: directory, umask, /dev/null, pidfile, signals,
/// logs; the services start in the loop.
#[inline(never)] // a frame of its own, gone before the loop runs
fn setup(s: &mut Sup<'_>, o: &Opts<'_>, single: Option<Spec>) {
    let mut why = Buf::<64>::new();
    let mut fail = |s: &mut Sup<'_>, what: &[u8], thing: &[u8], e: Errno| -> ! {
        why.s(b": ").err(e);
        s.fatal(code::FAIL, &[what, thing, why.as_bytes()])
    };
    // The command line's service says where; with a file, tinyd itself
    // goes to / (each service has its own chdir and umask).
    #[cfg(feature = "ctl")]
    let config_mode = matches!(s.mode, SupMode::Config(_));
    #[cfg(not(feature = "ctl"))]
    let config_mode = false;
    let (dir, mask) = if config_mode {
        (c"/", 0o022)
    } else {
        (o.set.chdir, o.set.umask)
    };
    rustix::process::umask(Mode::from_raw_mode(mask));
    if let Err(e) = rustix::process::chdir(dir) {
        fail(s, b"cannot change directory to ", dir.to_bytes(), e);
    }
    if !s.foreground
        && let Err(e) = daemon::null_stdio()
    {
        fail(s, b"cannot open ", b"/dev/null", e);
    }
    if let Some(p) = &s.pidfile
        && let Err(e) = p.write(s.me.as_raw_nonzero().get())
    {
        let path = p.path().to_bytes();
        fail(s, b"cannot write pidfile ", path, e);
    }
    let _ = rustix::process::set_child_subreaper(Some(s.me));
    match SelfPipe::install() {
        Ok(p) => s.pipe = Some(p),
        Err(e) => fail(s, b"cannot install ", b"signal handlers", e),
    }
    if let Some(path) = s.log {
        let target = sink::Target::File {
            path,
            max: 1024 * 1024,
            keep: 2,
        };
        // Opened here to say now that it cannot be; the writer opens it.
        let opened = Sink::new()
            .open(s.base, &target)
            .and_then(|()| s.rings.take(path, 1024 * 1024, 2, false));
        match opened {
            Ok(r) => s.own_ring = Some(r),
            Err(e) => fail(s, b"cannot open log file ", path.to_bytes(), e),
        }
    }
    // Each spec becomes a service, in file order.
    #[cfg(feature = "ctl")]
    s.t.staged.as_mut_slice().reverse();
    let mut single = single;
    loop {
        #[cfg(feature = "ctl")]
        let next = single.take().or_else(|| s.t.staged.pop());
        #[cfg(not(feature = "ctl"))]
        let next = single.take();
        let Some(spec) = next else { break };
        if let Err((spec, e)) = s.add(spec) {
            let name = spec.log_file().unwrap_or(c"output pipe").to_bytes();
            let mut why = Buf::<64>::new();
            why.s(b": ").err(e);
            s.fatal(
                code::FAIL,
                &[b"cannot open log file ", name, why.as_bytes()],
            );
        }
    }
    #[cfg(feature = "ctl")]
    s.apply_deps();
}
