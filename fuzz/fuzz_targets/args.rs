//! The command line: `args::parse` on argv built from the input (words
//! separated by NUL bytes; "tinyd" is put in front as argv[0]).
//!
//! Invariants:
//! - a usage error names the empty string or one whole argument (argv[1..]);
//! - a successful parse is self-consistent: COMMAND is an argument and not
//!   empty, --env values are NAME=VALUE (at most 32, packed at the front),
//!   sizes, counts, delays and the umask are in range, the name (explicit or
//!   COMMAND's basename) is 1-64 printable ASCII bytes without '/',
//!   `--config` refuses service options;
//! - it round-trips: the options written back in canonical long form
//!   (`--opt VALUE`, then `--`, then COMMAND and its arguments) parse to the
//!   same key fields and the same COMMAND words.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::{CStr, CString};
use tinyd::pure::args::{self, Argv, Opts, Output, Parsed, Restart};
use tinyd::util::limits::MAX_ENV;

/// Runs `parse` on words, keeping the strings alive for the call.
fn with_argv<R>(words: &[Vec<u8>], f: impl FnOnce(&Argv<'_>) -> R) -> R {
    let owned: Vec<CString> = words
        .iter()
        .map(|w| CString::new(w.clone()).expect("no NUL in a word"))
        .collect();
    let mut ptrs: Vec<*const u8> = owned.iter().map(|c| c.as_ptr().cast()).collect();
    let argc = ptrs.len();
    ptrs.push(core::ptr::null());
    // SAFETY: ptrs holds argc C strings from `owned`, then a null; both
    // outlive the call.
    let argv = unsafe { Argv::from_raw(argc, ptrs.as_ptr()) };
    f(&argv)
}

/// The fields that matter, owned, to compare two parses.
#[derive(Debug, PartialEq, Eq)]
struct Key {
    foreground: bool,
    pidfile: Option<Vec<u8>>,
    chdir: Vec<u8>,
    umask: u32,
    user: Option<Vec<u8>>,
    env: Vec<Vec<u8>>,
    output: (u8, Vec<u8>),
    log_size: u64,
    log_keep: u32,
    restart: Restart,
    delay: (u64, u64),
    stop_timeout: u64,
    name: Vec<u8>,
    command: Vec<Vec<u8>>,
    config: Option<Vec<u8>>,
    control: Option<Vec<u8>>,
}

fn own(c: &CStr) -> Vec<u8> {
    c.to_bytes().to_vec()
}

fn key(o: &Opts<'_>, argv: &Argv<'_>) -> Key {
    let command = if o.config.is_some() {
        Vec::new()
    } else {
        (o.cmd..argv.len()).map(|i| own(argv.get(i))).collect()
    };
    Key {
        foreground: o.foreground,
        pidfile: o.pidfile.map(own),
        chdir: own(o.set.chdir),
        umask: o.set.umask,
        user: o.set.user.map(own),
        env: o.set.env.iter().flatten().map(|e| own(e)).collect(),
        output: match o.set.output {
            Output::Inherit => (0, Vec::new()),
            Output::File(f) => (1, own(f)),
            Output::Syslog(t) => (2, t.to_vec()),
        },
        log_size: o.set.log_size,
        log_keep: o.set.log_keep,
        restart: o.set.policy.restart,
        delay: (o.set.policy.delay_min.0, o.set.policy.delay_max.0),
        stop_timeout: o.set.policy.stop_timeout.0,
        name: o.set.name.to_vec(),
        command,
        config: o.config.map(own),
        control: o.control.map(own),
    }
}

/// Milliseconds as "S.mmm", which `num::millis` reads back exactly.
fn secs(ms: u64) -> Vec<u8> {
    format!("{}.{:03}", ms / 1000, ms % 1000).into_bytes()
}

/// The canonical command line for `k`.
fn write_back(k: &Key) -> Vec<Vec<u8>> {
    let mut w: Vec<Vec<u8>> = vec![b"tinyd".to_vec()];
    let mut opt = |name: &str, value: Option<Vec<u8>>| {
        w.push(format!("--{name}").into_bytes());
        w.extend(value);
    };
    if k.foreground {
        opt("foreground", None);
    }
    if let Some(p) = &k.pidfile {
        opt("pidfile", Some(p.clone()));
    }
    if let Some(c) = &k.config {
        opt("config", Some(c.clone()));
    }
    if let Some(c) = &k.control {
        opt("control", Some(c.clone()));
    }
    if k.config.is_some() {
        return w;
    }
    opt("chdir", Some(k.chdir.clone()));
    opt("umask", Some(format!("{:o}", k.umask).into_bytes()));
    if let Some(u) = &k.user {
        opt("user", Some(u.clone()));
    }
    for e in &k.env {
        opt("env", Some(e.clone()));
    }
    match &k.output {
        (1, f) => opt("log", Some(f.clone())),
        (2, t) => {
            let mut a = b"--syslog=".to_vec();
            a.extend_from_slice(t);
            w.push(a);
        }
        _ => {}
    }
    let mut opt = |name: &str, value: Vec<u8>| {
        w.push(format!("--{name}").into_bytes());
        w.push(value);
    };
    opt("log-size", k.log_size.to_string().into_bytes());
    opt("log-keep", k.log_keep.to_string().into_bytes());
    let restart: &[u8] = match k.restart {
        Restart::Always => b"always",
        Restart::OnFailure => b"on-failure",
        Restart::Never => b"never",
    };
    opt("restart", restart.to_vec());
    let mut delay = secs(k.delay.0);
    delay.push(b':');
    delay.extend(secs(k.delay.1));
    opt("restart-delay", delay);
    opt("stop-timeout", secs(k.stop_timeout));
    // Only when it differs from the default (COMMAND's basename).
    if k.name != args::basename(&k.command[0]) {
        opt("name", k.name.clone());
    }
    w.push(b"--".to_vec());
    w.extend(k.command.iter().cloned());
    w
}

fn check_opts(o: &Opts<'_>, argv: &Argv<'_>) {
    // --env: NAME=VALUE with a name, packed at the front.
    let n = o.set.env.iter().take_while(|e| e.is_some()).count();
    assert!(o.set.env[n..].iter().all(Option::is_none), "env not packed");
    assert!(n <= MAX_ENV);
    for e in o.set.env.iter().flatten() {
        let e = e.to_bytes();
        assert!(matches!(e.iter().position(|&c| c == b'='), Some(p) if p > 0));
    }
    assert!(o.set.umask <= 0o777);
    assert!(o.set.log_size >= 1024);
    assert!(o.set.log_keep <= 99);
    assert!(o.set.policy.delay_min <= o.set.policy.delay_max);
    assert!(o.set.policy.delay_max.0 <= 365 * 24 * 3600 * 1000);
    assert!(o.set.policy.stop_timeout.0 <= 365 * 24 * 3600 * 1000);
    assert!(o.set.name.len() <= 64);
    for p in [o.pidfile, o.set.user, o.config, o.control]
        .into_iter()
        .flatten()
    {
        assert!(!p.is_empty());
    }
    assert!(!o.set.chdir.is_empty());
    if let Output::File(f) = o.set.output {
        assert!(!f.is_empty());
    }
    if o.config.is_some() {
        assert_eq!(o.cmd, 0);
        // Only tinyd's own options: everything else has its default.
        assert_eq!(
            (
                o.set.chdir,
                o.set.umask,
                o.set.user,
                o.set.output,
                o.set.log_size,
                o.set.log_keep
            ),
            (c"/", 0o022, None, Output::Inherit, 1 << 20, 2)
        );
        assert_eq!(
            (
                o.set.policy.restart,
                o.set.policy.delay_min.0,
                o.set.policy.delay_max.0,
                o.set.policy.stop_timeout.0,
                o.set.name
            ),
            (Restart::Always, 1000, 60_000, 5000, &b""[..])
        );
        assert_eq!(n, 0);
    } else {
        assert!(o.cmd >= 1 && o.cmd < argv.len(), "COMMAND out of argv");
        assert!(!argv.get(o.cmd).is_empty(), "empty COMMAND accepted");
        // An explicit --name or the default (COMMAND's basename): both
        // validated, never cut.
        assert!(!o.set.name.is_empty());
        assert!(
            o.set
                .name
                .iter()
                .all(|&c| c > b' ' && c < 0x7f && c != b'/')
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 4096 {
        return;
    }
    let mut words: Vec<Vec<u8>> = vec![b"tinyd".to_vec()];
    if !data.is_empty() {
        words.extend(data.split(|&c| c == 0).map(<[u8]>::to_vec));
    }
    let first = with_argv(&words, |argv| match args::parse(argv) {
        Ok(Parsed::Run(o)) => {
            check_opts(&o, argv);
            Some(key(&o, argv))
        }
        Ok(Parsed::Help | Parsed::Version) => None,
        Err(e) => {
            assert!(!e.msg.is_empty());
            assert!(
                e.arg.is_empty() || words[1..].iter().any(|w| w.as_slice() == e.arg),
                "usage error names {:?}, not an argument",
                String::from_utf8_lossy(e.arg)
            );
            None
        }
    });
    let Some(first) = first else { return };
    let canonical = write_back(&first);
    with_argv(&canonical, |argv| match args::parse(argv) {
        Ok(Parsed::Run(o)) => {
            check_opts(&o, argv);
            assert_eq!(key(&o, argv), first, "round trip through {canonical:?}");
        }
        Ok(_) => panic!("round trip: help or version from {canonical:?}"),
        Err(e) => panic!(
            "round trip refused: {} {:?} in {canonical:?}",
            e.msg,
            String::from_utf8_lossy(e.arg)
        ),
    });
});
