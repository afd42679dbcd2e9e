//! The command line: what the user typed, checked without any I/O.
//! tinyd's own options are here; a service's are the rows of
//! `settings::SETTINGS`, read into `Opts::set`.
//!
//! Values borrow from argv, which lives on the initial stack for the life of
//! the process; COMMAND and its arguments stay where they are and are handed
//! to execve as the tail of argv.

use core::ffi::CStr;

use crate::pure::settings::{self, Bad, Setting, Settings};

pub use crate::pure::settings::{Output, Restart, valid_name};
pub use crate::util::argv::Argv;

/// Everything the command line says, validated.
#[derive(Clone, Copy)]
pub struct Opts<'a> {
    pub foreground: bool,
    /// `--no-wait`: the launcher returns once tinyd runs, without waiting
    /// for the services to be ready.
    pub no_wait: bool,
    pub pidfile: Option<&'a CStr>,
    /// Index in argv of COMMAND (0 with `--config`).
    pub cmd: usize,
    /// `-c FILE`: services from a configuration file instead of COMMAND.
    pub config: Option<&'a CStr>,
    /// `--control SOCKET`: the control socket.
    pub control: Option<&'a CStr>,
    /// The service's settings (their defaults with `--config`).
    pub set: Settings<'a>,
}

// One value, once, on the stack: the size difference does not matter here
// (and there is no heap to box it in).
#[allow(clippy::large_enum_variant)]
pub enum Parsed<'a> {
    Run(Opts<'a>),
    Help,
    Version,
}

/// A usage error: a message and the argument it is about.
#[derive(Debug, PartialEq, Eq)]
pub struct Usage<'a> {
    pub msg: &'static str,
    pub arg: &'a [u8],
}

fn usage<'a, T>(msg: &'static str, arg: &'a [u8]) -> Result<T, Usage<'a>> {
    Err(Usage { msg, arg })
}

/// tinyd's own options: long name, short letter, whether it takes a value.
/// The service's are the rows of `settings::SETTINGS`.
const OPTIONS: &[(&str, u8, bool)] = &[
    ("foreground", b'f', false),
    ("no-wait", 0, false),
    ("pidfile", b'p', true),
    ("config", b'c', true),
    ("control", 0, true),
    ("help", b'h', false),
    ("version", b'V', false),
];

/// An option: one of tinyd's own (long name, whether it takes a value) or
/// a service's setting.
#[derive(Clone, Copy)]
enum Opt {
    Own(&'static str, bool),
    Set(&'static Setting),
}

/// The option `--LONG` (with `short` 0) or `-X`.
fn find(long: &[u8], short: u8) -> Option<Opt> {
    let own = OPTIONS.iter().find(|(l, s, _)| {
        if short == 0 {
            l.as_bytes() == long
        } else {
            *s == short
        }
    });
    match own {
        Some(&(l, _, takes_value)) => Some(Opt::Own(l, takes_value)),
        None => settings::by_option(long, short).map(Opt::Set),
    }
}

/// The last path component of COMMAND, its default name.
pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Parses argv (argv[0] is the program's name and is skipped).
pub fn parse<'a>(argv: &Argv<'a>) -> Result<Parsed<'a>, Usage<'a>> {
    let mut o = Opts {
        foreground: false,
        no_wait: false,
        pidfile: None,
        cmd: 0,
        config: None,
        control: None,
        set: Settings::new(b""),
    };
    // Options that describe a single service, refused with --config.
    let mut service_opt: Option<&'a [u8]> = None;
    let mut i = 1;
    while i < argv.len() {
        let arg = argv.get(i).to_bytes();
        if arg == b"--" {
            i += 1;
            break;
        }
        if arg.len() < 2 || arg[0] != b'-' {
            break;
        }
        // Find the option and its attached value, if any.
        let (opt, attached): (Option<Opt>, Option<&'a [u8]>) = if arg[1] == b'-' {
            let body = &arg[2..];
            let (key, val) = match body.iter().position(|&c| c == b'=') {
                Some(eq) => (&body[..eq], Some(&body[eq + 1..])),
                None => (body, None),
            };
            (find(key, 0), val)
        } else {
            (find(b"", arg[1]), (arg.len() > 2).then(|| &arg[2..]))
        };
        let Some(opt) = opt else {
            return usage("unknown option", arg);
        };
        let (takes_value, attaches) = match opt {
            Opt::Own(_, t) => (t, false),
            Opt::Set(row) => (!row.attached, row.attached),
        };
        // The value as a C string: attached ones are a suffix of argv[i],
        // so they are still NUL-terminated.
        let value: Option<&'a CStr> = match attached {
            Some(v) if takes_value || attaches => Some(suffix(argv.get(i), v.len())),
            Some(_) => return usage("option takes no value", arg),
            None if takes_value => {
                i += 1;
                if i >= argv.len() {
                    return usage("missing value for", arg);
                }
                Some(argv.get(i))
            }
            None => None,
        };
        match opt {
            Opt::Set(row) => {
                service_opt = Some(arg);
                if let Err(bad) = (row.parse)(&mut o.set, value.unwrap_or(c"")) {
                    let msg = match bad {
                        Bad::Empty => "empty value for",
                        Bad::Value => "bad value",
                        Bad::Said(msg, _) => msg,
                    };
                    return usage(msg, arg);
                }
            }
            Opt::Own("foreground", _) => o.foreground = true,
            Opt::Own("no-wait", _) => o.no_wait = true,
            Opt::Own("pidfile", _) => o.pidfile = Some(nonempty(value, arg)?),
            Opt::Own("config", _) => o.config = Some(nonempty(value, arg)?),
            Opt::Own("control", _) => o.control = Some(nonempty(value, arg)?),
            Opt::Own("help", _) => return Ok(Parsed::Help),
            Opt::Own(_, _) => return Ok(Parsed::Version), // "version"
        }
        i += 1;
    }
    if o.config.is_some() {
        if let Some(opt) = service_opt {
            return usage("cannot be used with --config (set it in the file)", opt);
        }
        if i < argv.len() {
            return usage(
                "COMMAND cannot be used with --config",
                argv.get(i).to_bytes(),
            );
        }
        return Ok(Parsed::Run(o));
    }
    if i >= argv.len() {
        return usage("missing COMMAND", b"");
    }
    o.cmd = i;
    let cmd = argv.get(i).to_bytes();
    if cmd.is_empty() {
        return usage("empty COMMAND", b"");
    }
    if o.set.name.is_empty() {
        // The name is what `status` prints and `tinyd ctl` addresses: a
        // basename that cannot be one needs --name, never a silent change.
        o.set.name = basename(cmd);
        if !valid_name(o.set.name) {
            return usage(
                "COMMAND's basename is not a valid name (1-64 printable characters, no '/'); give one with --name:",
                cmd,
            );
        }
    }
    Ok(Parsed::Run(o))
}

fn nonempty<'a>(value: Option<&'a CStr>, arg: &'a [u8]) -> Result<&'a CStr, Usage<'a>> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => usage("empty value for", arg),
    }
}

/// The last `len` bytes of `s`, still NUL-terminated.
fn suffix(s: &CStr, len: usize) -> &CStr {
    let all = s.to_bytes_with_nul();
    match CStr::from_bytes_with_nul(&all[all.len() - 1 - len..]) {
        Ok(c) => c,
        Err(_) => c"",
    }
}

pub const HELP: &str = "\
Usage: tinyd [OPTIONS] [--] COMMAND [ARG...]
       tinyd [-f] [-p FILE] [--control SOCKET] -c CONFIG
       tinyd ctl [-s SOCKET] [-w SECONDS] REQUEST [NAME]  (also: tinyctl ...)
Run COMMAND, or every service of CONFIG, as a supervised daemon: detach,
restart it when it dies, stop it cleanly on SIGTERM, keep its output.

  -f, --foreground            do not detach; tinyd's own messages go to stderr
  -p, --pidfile FILE          write tinyd's PID to FILE, locked while it runs
  -d, --chdir DIR             working directory (default /)
  -m, --umask OCTAL           file mode creation mask (default 022)
  -u, --user USER[:GROUP]     run COMMAND as USER (name or number) with its groups
  -e, --env NAME=VALUE        set a variable for COMMAND (repeatable, up to 32)
  -o, --log FILE              append COMMAND's stdout and stderr to FILE, one
                              timestamped line per line of output
      --log-size BYTES        rotate FILE before it grows past BYTES
                              (default 1M; suffixes k and M; at least 1k)
      --log-keep N            keep FILE.1 .. FILE.N (default 2; 0 to 99)
      --log-full WHAT         drop | block (default drop): when the log cannot
                              take more, drop lines and count them, or make
                              COMMAND wait
  -S, --syslog[=TAG]          send COMMAND's output lines to /dev/log instead
  -r, --restart WHEN          always | on-failure | never (default always)
      --restart-delay MIN[:MAX]  seconds, fractions allowed (default 1:60);
                              MIN alone: a fixed delay, at least 0.1 s after
                              the first restart (only 0:0 never waits)
  -t, --stop-timeout SECONDS  SIGTERM, then SIGKILL after this long (default 5)
      --type TYPE             simple | oneshot (default simple): a oneshot runs
                              to completion, and exit 0 is done
      --ready HOW             exec | notify | fd:N (default exec): ready once
                              exec'd, at sd_notify's READY=1, or at a newline
                              written to descriptor N
      --ready-timeout SECONDS  not ready after this long: a failed start
                              (default 60; 0: no limit)
      --no-wait               in daemon mode, return once tinyd runs instead
                              of once every service is ready
  -n, --name NAME             name in log lines and status: 1-64 printable
                              characters, no '/' (default: COMMAND's basename)
  -c, --config FILE           the services of FILE instead of COMMAND
      --control SOCKET        answer `tinyd ctl` requests on SOCKET (default
                              with --config: /var/run/tinyd.sock)
  -h, --help    -V, --version

Signals: TERM, INT stop COMMAND and exit 0; HUP reopens the log file
(and reloads CONFIG); USR1, USR2 are passed on to COMMAND.

Exit status: 0 started (daemon mode) or stopped by a signal; COMMAND's own
status (128+N for signal N) when it is not restarted; 1 failed to start
(pidfile locked or unwritable, chdir failed, ...); 64 usage error; 67 unknown
user or group; 70 internal error; 78 configuration error; 126 COMMAND not
executable; 127 COMMAND not found.
";

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::pure::settings::SETTINGS;
    use crate::util::limits::MAX_ENV;
    use std::ffi::CString;
    use std::vec::Vec;

    /// Runs `parse` on words, keeping the strings alive.
    fn with_args<R>(words: &[&str], f: impl FnOnce(Result<Parsed<'_>, Usage<'_>>) -> R) -> R {
        let owned: Vec<CString> = words.iter().map(|w| CString::new(*w).unwrap()).collect();
        let mut ptrs: Vec<*const u8> = owned.iter().map(|c| c.as_ptr().cast()).collect();
        let argc = ptrs.len();
        ptrs.push(core::ptr::null());
        // SAFETY: ptrs holds argc C strings from `owned`, then a null.
        #[allow(unsafe_code)]
        let argv = unsafe { Argv::from_raw(argc, ptrs.as_ptr()) };
        f(parse(&argv))
    }

    fn opts(words: &[&str], check: impl FnOnce(&Opts<'_>)) {
        with_args(words, |r| match r {
            Ok(Parsed::Run(o)) => check(&o),
            Ok(_) => panic!("not a run"),
            Err(e) => panic!("usage error {} {:?}", e.msg, std::str::from_utf8(e.arg)),
        })
    }

    fn error(words: &[&str]) -> (&'static str, std::string::String) {
        with_args(words, |r| match r {
            Err(e) => (
                e.msg,
                std::string::String::from_utf8(e.arg.to_vec()).unwrap(),
            ),
            Ok(_) => panic!("accepted {words:?}"),
        })
    }

    #[test]
    fn defaults() {
        opts(&["tinyd", "/bin/sleep", "10"], |o| {
            assert!(!o.foreground);
            assert_eq!(o.set.chdir, c"/");
            assert_eq!(o.set.umask, 0o022);
            assert_eq!(o.set.policy.restart, Restart::Always);
            assert_eq!(
                (
                    o.set.policy.delay_min,
                    o.set.policy.delay_max,
                    o.set.policy.stop_timeout
                ),
                (
                    crate::pure::time::Ms(1000),
                    crate::pure::time::Ms(60000),
                    crate::pure::time::Ms(5000)
                )
            );
            assert_eq!((o.set.log_size, o.set.log_keep), (1 << 20, 2));
            assert_eq!(o.set.name, b"sleep");
            assert_eq!(o.cmd, 1);
            assert_eq!(o.set.output, Output::Inherit);
        });
    }

    #[test]
    fn every_option_long_short_and_attached() {
        let words = [
            "tinyd",
            "-f",
            "-p",
            "/run/x.pid",
            "--chdir=/tmp",
            "-m027",
            "-u",
            "nobody:nogroup",
            "-e",
            "A=1",
            "--env",
            "B=",
            "--log",
            "/tmp/l",
            "--log-size",
            "64k",
            "--log-keep=5",
            "-r",
            "on-failure",
            "--restart-delay",
            "0.5:30",
            "-t",
            "2.5",
            "-n",
            "web",
            "--",
            "-cmd",
            "-f",
        ];
        opts(&words, |o| {
            assert!(o.foreground);
            assert_eq!(o.pidfile, Some(c"/run/x.pid"));
            assert_eq!(o.set.chdir, c"/tmp");
            assert_eq!(o.set.umask, 0o027);
            assert_eq!(o.set.user, Some(c"nobody:nogroup"));
            assert_eq!(o.set.env[0], Some(c"A=1"));
            assert_eq!(o.set.env[1], Some(c"B="));
            assert_eq!(o.set.env[2], None);
            assert_eq!(o.set.output, Output::File(c"/tmp/l"));
            assert_eq!((o.set.log_size, o.set.log_keep), (65536, 5));
            assert_eq!(o.set.policy.restart, Restart::OnFailure);
            assert_eq!(
                (
                    o.set.policy.delay_min,
                    o.set.policy.delay_max,
                    o.set.policy.stop_timeout
                ),
                (
                    crate::pure::time::Ms(500),
                    crate::pure::time::Ms(30000),
                    crate::pure::time::Ms(2500)
                )
            );
            assert_eq!(o.set.name, b"web");
            assert_eq!(o.cmd, 26);
        });
    }

    #[test]
    fn syslog_tag_forms() {
        opts(&["tinyd", "-S", "x"], |o| {
            assert_eq!(o.set.output, Output::Syslog(b""))
        });
        opts(&["tinyd", "--syslog=ntp", "x"], |o| {
            assert_eq!(o.set.output, Output::Syslog(b"ntp"))
        });
        opts(&["tinyd", "-Sntp", "x"], |o| {
            assert_eq!(o.set.output, Output::Syslog(b"ntp"))
        });
        // A tag that would not fit the line's prefix, or breaks its format,
        // is refused rather than cut (found by fuzzing).
        let long = std::format!("--syslog={}", "t".repeat(65));
        for bad in [long.as_str(), "--syslog=a b", "-Sx\u{e9}"] {
            assert_eq!(
                error(&["tinyd", bad, "x"]).0,
                "bad syslog tag (1-64 printable characters, no '/')"
            );
        }
    }

    #[test]
    fn options_stop_at_command() {
        opts(&["tinyd", "ls", "-f", "--log", "x"], |o| {
            assert!(!o.foreground);
            assert_eq!(o.cmd, 1);
            assert_eq!(o.set.output, Output::Inherit);
        });
    }

    #[test]
    fn config_mode() {
        with_args(
            &["tinyd", "-f", "-c", "/etc/t.conf", "--control", "/run/s"],
            |r| match r {
                Ok(Parsed::Run(o)) => {
                    assert_eq!(o.config, Some(c"/etc/t.conf"));
                    assert_eq!(o.control, Some(c"/run/s"));
                    assert!(o.foreground);
                }
                _ => panic!("refused"),
            },
        );
        assert_eq!(
            error(&["tinyd", "-c", "x", "--log", "y"]),
            (
                "cannot be used with --config (set it in the file)",
                "--log".into()
            )
        );
        assert_eq!(
            error(&["tinyd", "-c", "x", "sleep"]),
            ("COMMAND cannot be used with --config", "sleep".into())
        );
    }

    #[test]
    fn help_and_version() {
        with_args(&["tinyd", "-h"], |r| assert!(matches!(r, Ok(Parsed::Help))));
        with_args(&["tinyd", "--version", "x"], |r| {
            assert!(matches!(r, Ok(Parsed::Version)))
        });
    }

    #[test]
    fn usage_errors_name_the_argument() {
        assert_eq!(error(&["tinyd"]), ("missing COMMAND", "".into()));
        assert_eq!(error(&["tinyd", "-f"]), ("missing COMMAND", "".into()));
        assert_eq!(
            error(&["tinyd", "--bogus", "x"]),
            ("unknown option", "--bogus".into())
        );
        assert_eq!(
            error(&["tinyd", "-x", "x"]),
            ("unknown option", "-x".into())
        );
        assert_eq!(
            error(&["tinyd", "--umask", "999", "x"]),
            ("bad value", "--umask".into())
        );
        assert_eq!(
            error(&["tinyd", "-r", "sometimes", "x"]),
            ("bad value", "-r".into())
        );
        assert_eq!(
            error(&["tinyd", "--restart-delay", "5:1", "x"]),
            ("bad value", "--restart-delay".into())
        );
        assert_eq!(
            error(&["tinyd", "-t", "abc", "x"]),
            ("bad value", "-t".into())
        );
        assert_eq!(
            error(&["tinyd", "--log-size", "10", "x"]),
            ("bad value", "--log-size".into())
        );
        assert_eq!(
            error(&["tinyd", "-e", "NOEQUALS", "x"]),
            ("expected NAME=VALUE", "-e".into())
        );
        assert_eq!(
            error(&["tinyd", "-e", "=v", "x"]),
            ("expected NAME=VALUE", "-e".into())
        );
        assert_eq!(error(&["tinyd", "-p"]), ("missing value for", "-p".into()));
        assert_eq!(
            error(&["tinyd", "-p", "", "x"]),
            ("empty value for", "-p".into())
        );
        assert_eq!(
            error(&["tinyd", "--foreground=1", "x"]),
            ("option takes no value", "--foreground=1".into())
        );
        assert_eq!(
            error(&["tinyd", "-n", "a/b", "x"]).0,
            "bad name (1-64 printable characters, no '/')"
        );
        assert_eq!(error(&["tinyd", "--", ""]), ("empty COMMAND", "".into()));
    }

    #[test]
    fn name_is_printable_ascii() {
        // Found by fuzz/fuzz_targets/config.rs: a name `tinyd ctl` refuses
        // (not printable ASCII) could not be controlled.
        for name in ["w\u{e9}b", "a\x7fb"] {
            assert_eq!(
                error(&["tinyd", "-n", name, "x"]),
                ("bad name (1-64 printable characters, no '/')", "-n".into())
            );
        }
        opts(&["tinyd", "-n", "~web!", "x"], |o| {
            assert_eq!(o.set.name, b"~web!")
        });
    }

    #[test]
    fn env_limit() {
        let mut words = std::vec!["tinyd"];
        for _ in 0..=MAX_ENV {
            words.extend(["-e", "A=1"]);
        }
        words.push("x");
        assert_eq!(error(&words).0, "too many --env options (at most 32)");
    }

    #[test]
    fn default_name_is_basename() {
        opts(&["tinyd", "/usr/sbin/httpd"], |o| {
            assert_eq!(o.set.name, b"httpd")
        });
        opts(&["tinyd", "httpd"], |o| assert_eq!(o.set.name, b"httpd"));
    }

    #[test]
    fn default_name_is_checked_like_a_name() {
        // "my prog" broke the `status` columns and could not be addressed
        // (issue 8, defect 16).
        let long = std::format!("/bin/{}", "x".repeat(65));
        for cmd in ["/opt/my prog", "/opt/w\u{e9}b", long.as_str(), "/usr/bin/"] {
            let (msg, arg) = error(&["tinyd", cmd]);
            assert!(
                msg.starts_with("COMMAND's basename is not a valid name"),
                "{cmd}"
            );
            assert_eq!(arg, cmd);
        }
        opts(&["tinyd", "-n", "prog", "/opt/my prog"], |o| {
            assert_eq!(o.set.name, b"prog")
        });
        opts(&["tinyd", &long[..69]], |o| {
            assert_eq!(o.set.name.len(), 64)
        });
    }

    #[test]
    fn every_setting_is_an_option_and_in_help() {
        for row in SETTINGS.iter().filter(|r| r.on != settings::On::File) {
            let long = std::format!("--{}", row.key);
            assert!(
                !OPTIONS
                    .iter()
                    .any(|(l, s, _)| *l == row.key || (*s != 0 && *s == row.short)),
                "{long} is also one of tinyd's own"
            );
            // Its paragraph of --help: from the option to the next one.
            let at = HELP
                .match_indices(&long)
                .map(|(at, _)| at)
                .find(|&at| {
                    !HELP[at + long.len()..].starts_with(|c: char| c == '-' || c.is_alphanumeric())
                })
                .unwrap_or_else(|| panic!("{long} is not in --help"));
            let line_start = HELP[..at].rfind('\n').unwrap() + 1;
            let end = HELP[at..]
                .find("\n  -")
                .or(HELP[at..].find("\n      --"))
                .unwrap();
            let text = &HELP[line_start..at + end];
            if row.short != 0 {
                assert!(
                    text.starts_with(&std::format!("  -{}, {long}", row.short as char)),
                    "{text}"
                );
            }
            if let Some(d) = row.default {
                let d = std::format!("(default {}", d.to_str().unwrap());
                assert!(text.contains(&d), "{text:?} does not say {d:?}");
            }
        }
    }

    #[test]
    fn every_setting_reads_as_in_the_table() {
        for row in SETTINGS.iter().filter(|r| r.on != settings::On::File) {
            let v = settings::example(row.key);
            let mut want = Settings::new(b"x");
            assert_eq!((row.parse)(&mut want, v), Ok(()));
            let v = v.to_str().unwrap();
            let attached = std::format!("--{}={v}", row.key);
            let mut forms = std::vec![std::vec![attached.as_str()]];
            let short = std::format!("-{}", row.short as char);
            let short_attached = std::format!("{short}{v}");
            if row.attached {
                if row.short != 0 {
                    forms.push(std::vec![short_attached.as_str()]);
                }
            } else {
                forms.push(std::vec![&attached[..row.key.len() + 2], v]);
                if row.short != 0 {
                    forms.push(std::vec![short.as_str(), v]);
                    forms.push(std::vec![short_attached.as_str()]);
                }
            }
            for form in forms {
                let mut words = std::vec!["tinyd"];
                words.extend(&form);
                words.push("x");
                opts(&words, |o| assert_eq!(o.set, want, "{form:?}"));
                // And it describes the service, not tinyd.
                let mut words = std::vec!["tinyd", "-c", "f"];
                words.extend(&form);
                assert_eq!(
                    error(&words),
                    (
                        "cannot be used with --config (set it in the file)",
                        form[0].into()
                    )
                );
            }
        }
    }

    #[cfg(feature = "ctl")]
    #[test]
    fn the_command_line_and_the_file_say_the_same() {
        let words = [
            "tinyd",
            "-n",
            "web",
            "-u",
            "www",
            "-d",
            "/srv/www",
            "-m",
            "027",
            "-e",
            "LANG=C",
            "-e",
            "A=",
            "-o",
            "/var/log/web.log",
            "--log-size",
            "256k",
            "--log-keep",
            "3",
            "-r",
            "on-failure",
            "--restart-delay",
            "0.5:30",
            "-t",
            "2.5",
            "httpd",
        ];
        let mut text = b"[web]\nexec = httpd\nuser = www\nchdir = /srv/www\numask = 027\n\
            env = LANG=C\nenv = A=\nlog = /var/log/web.log\nlog-size = 256k\n\
            log-keep = 3\nrestart = on-failure\nrestart-delay = 0.5:30\nstop-timeout = 2.5\n"
            .to_vec();
        let cfg = crate::pure::config::parse(&mut text).ok().unwrap();
        opts(&words, |o| assert_eq!(o.set, cfg.services()[0].set));
    }
}
