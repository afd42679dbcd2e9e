//! The configuration file: `config::parse_into` and `config::parse_each` on
//! the input as a file.
//!
//! Invariants:
//! - errors: 1 to CONFIG_MAX_ERRORS of them, sorted by line, every line
//!   number <= the number of lines of the file (0 only for "file too
//!   large"), and every error's text is a piece of that line as it was in
//!   the file (or a key or value name), at most CONFIG_LINE_MAX bytes;
//! - a valid file: at most MAX_SERVICES services with distinct valid names
//!   (1-64 printable bytes, no '/', and addressable by a control request),
//!   each `line` is its `[NAME]` header, exec has 1 to MAX_WORDS words, the
//!   first not empty, env is NAME=VALUE packed at the front, every value is
//!   in range; `parse_each` sees the same services as `parse_into`;
//! - round trip: the services and [tinyd] written back in canonical form
//!   (exec words single-quoted) parse to the same settings (`config::same`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::CStr;
use tinyd::pure::args::{Output, Restart};
use tinyd::pure::config::{self, Config, Global, Service};
use tinyd::pure::protocol as ctl;
use tinyd::util::limits::{
    CONFIG_LINE_MAX, CONFIG_MAX, CONFIG_MAX_ERRORS, MAX_ENV, MAX_SERVICES, MAX_WORDS,
};

/// The lines as the parser numbers them: split at '\n', no line after a
/// final newline.
fn lines(text: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = text.split(|&c| c == b'\n').collect();
    if text.ends_with(b"\n") || text.is_empty() {
        v.pop();
    }
    v
}

/// Trimmed of the parser's blanks (which include '\x0b', unlike
/// `trim_ascii`).
fn trim(mut s: &[u8]) -> &[u8] {
    let blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c');
    while s.first().is_some_and(blank) {
        s = &s[1..];
    }
    while s.last().is_some_and(blank) {
        s = &s[..s.len() - 1];
    }
    s
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn check_service(s: &Service<'_>, orig: &[Vec<u8>]) {
    assert!(!s.set.name.is_empty() && s.set.name.len() <= 64);
    assert!(s.set.name.iter().all(|&c| c > b' ' && c != b'/'));
    assert_ne!(s.set.name, b"tinyd");
    // Every service can be named in a control request.
    let mut req = b"status ".to_vec();
    req.extend_from_slice(s.set.name);
    assert_eq!(
        ctl::parse(&req),
        Ok(ctl::Request::Status(Some(s.set.name))),
        "service {:?} cannot be named in a control request",
        String::from_utf8_lossy(s.set.name)
    );
    // `line` is the header.
    let header = trim(&orig[s.line as usize - 1]);
    assert_eq!(&header[1..header.len() - 1], s.set.name);
    assert!(s.exec.count >= 1 && s.exec.count <= MAX_WORDS);
    assert_eq!(s.exec.iter().count(), s.exec.count);
    assert!(!s.exec.first().is_empty());
    assert_eq!(
        s.exec.bytes.iter().filter(|&&c| c == 0).count(),
        s.exec.count
    );
    if let Some((u, line)) = s.user() {
        assert!(!u.is_empty());
        assert!(line as usize >= 1 && line as usize <= orig.len());
        assert!(contains(&orig[line as usize - 1], u.to_bytes()));
    }
    assert!(!s.set.chdir.is_empty());
    assert!(s.set.umask <= 0o777);
    let n = s.set.env.iter().take_while(|e| e.is_some()).count();
    assert!(s.set.env[n..].iter().all(Option::is_none));
    assert!(n <= MAX_ENV);
    for e in s.set.env.iter().flatten() {
        assert!(matches!(e.to_bytes().iter().position(|&c| c == b'='), Some(p) if p > 0));
    }
    if let Output::File(f) = s.set.output {
        assert!(!f.is_empty());
    }
    assert!(s.set.log_size >= 1024 && s.set.log_keep <= 99);
    assert!(
        s.set.policy.delay_min.0 <= s.set.policy.delay_max.0
            && s.set.policy.delay_max.0 <= 365 * 24 * 3600 * 1000
    );
    assert!(s.set.policy.stop_timeout.0 <= 365 * 24 * 3600 * 1000);
}

/// A word in single quotes, sh style: `'` becomes `'\''`.
fn quote(w: &[u8], out: &mut Vec<u8>) {
    out.push(b'\'');
    for &c in w {
        if c == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(c);
        }
    }
    out.push(b'\'');
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// The canonical file for a parsed one; None if it would not fit the
/// limits (quoting makes exec longer).
fn write_back(g: &Global<'_>, services: &[Service<'_>]) -> Option<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let kv = |k: &str, v: &[u8]| {
        let mut l = format!("{k} = ").into_bytes();
        l.extend_from_slice(v);
        l
    };
    let c = |c: &CStr| c.to_bytes().to_vec();
    out.push(b"[tinyd]".to_vec());
    for (k, v) in [
        ("pidfile", g.pidfile),
        ("control", g.control),
        ("log", g.log),
    ] {
        if let Some(v) = v {
            out.push(kv(k, &c(v)));
        }
    }
    out.push(kv("foreground", if g.foreground { b"yes" } else { b"no" }));
    for s in services {
        out.push(b"".to_vec());
        let mut h = b"[".to_vec();
        h.extend_from_slice(s.set.name);
        h.push(b']');
        out.push(h);
        let mut e = b"exec =".to_vec();
        for w in s.exec.iter() {
            e.push(b' ');
            quote(w.to_bytes(), &mut e);
        }
        out.push(e);
        if let Some((u, _)) = s.user() {
            out.push(kv("user", &c(u)));
        }
        out.push(kv("chdir", &c(s.set.chdir)));
        out.push(kv("umask", format!("{:o}", s.set.umask).as_bytes()));
        for e in s.set.env.iter().flatten() {
            out.push(kv("env", &c(e)));
        }
        match s.set.output {
            Output::Inherit => {}
            Output::File(f) => out.push(kv("log", &c(f))),
            Output::Syslog(t) => out.push(kv("syslog", t)),
        }
        out.push(kv("log-size", s.set.log_size.to_string().as_bytes()));
        out.push(kv("log-keep", s.set.log_keep.to_string().as_bytes()));
        let r: &[u8] = match s.set.policy.restart {
            Restart::Always => b"always",
            Restart::OnFailure => b"on-failure",
            Restart::Never => b"never",
        };
        out.push(kv("restart", r));
        let d = format!(
            "{}:{}",
            secs(s.set.policy.delay_min.0),
            secs(s.set.policy.delay_max.0)
        );
        out.push(kv("restart-delay", d.as_bytes()));
        out.push(kv(
            "stop-timeout",
            secs(s.set.policy.stop_timeout.0).as_bytes(),
        ));
    }
    if out.iter().any(|l| l.len() > CONFIG_LINE_MAX) {
        return None;
    }
    let text = out.join(&b'\n');
    (text.len() <= CONFIG_MAX).then_some(text)
}

fuzz_target!(|data: &[u8]| {
    if data.len() > CONFIG_MAX + 16 {
        return;
    }
    // The file's lines as tinyd reads them: a UTF-8 byte order mark at the
    // start is not part of the first line.
    let text = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let orig: Vec<Vec<u8>> = lines(text).into_iter().map(<[u8]>::to_vec).collect();
    let mut buf = data.to_vec();
    let mut cfg = Box::new(Config::new());
    let result = config::parse_into(&mut buf, &mut cfg);
    // parse_each sees the same services, in the same order.
    let mut buf2 = data.to_vec();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let result2 = config::parse_each(&mut buf2, &mut |s| {
        seen.push(s.set.name.to_vec());
        None
    });
    if let Err(e) = result {
        assert!(
            result2.is_err(),
            "parse_each accepted what parse_into refused"
        );
        let list = e.as_slice();
        assert!(!list.is_empty() && e.len <= CONFIG_MAX_ERRORS);
        assert!(
            list.windows(2).all(|w| w[0].line <= w[1].line),
            "not sorted"
        );
        for err in list {
            assert!(!err.msg.is_empty());
            assert!(err.text.len() <= CONFIG_LINE_MAX);
            if err.line == 0 {
                assert_eq!(err.msg, "file too large (at most 32 KiB)");
                assert!(data.len() > CONFIG_MAX);
                continue;
            }
            assert!(
                err.line as usize <= orig.len(),
                "error at line {} of {}: {}",
                err.line,
                orig.len(),
                err.msg
            );
            let line = &orig[err.line as usize - 1];
            assert!(
                contains(line, err.text),
                "error text {:?} not in line {} {:?} ({})",
                String::from_utf8_lossy(err.text),
                err.line,
                String::from_utf8_lossy(line),
                err.msg
            );
        }
        return;
    }
    let global = match result2 {
        Ok(g) => g,
        Err(e) => panic!(
            "parse_each refused what parse_into accepted: {:?}",
            e.as_slice()
        ),
    };
    assert_eq!(global, cfg.global);
    let services = cfg.services();
    assert!(cfg.count <= MAX_SERVICES);
    let names: Vec<Vec<u8>> = services.iter().map(|s| s.set.name.to_vec()).collect();
    assert_eq!(names, seen);
    for (i, s) in services.iter().enumerate() {
        check_service(s, &orig);
        assert!(
            services[..i].iter().all(|t| t.set.name != s.set.name),
            "duplicate"
        );
        assert!(services[..i].iter().all(|t| t.line < s.line), "order");
    }
    for v in [global.pidfile, global.control, global.log]
        .into_iter()
        .flatten()
    {
        assert!(!v.is_empty());
    }
    // Round trip.
    let Some(mut text) = write_back(&global, services) else {
        return;
    };
    let mut cfg2 = Box::new(Config::new());
    if let Err(e) = config::parse_into(&mut text, &mut cfg2) {
        panic!(
            "canonical form refused: {:?}\n{}",
            e.as_slice(),
            String::from_utf8_lossy(&write_back(&global, services).unwrap())
        );
    }
    assert_eq!(cfg2.global, global);
    assert_eq!(cfg2.services().len(), services.len());
    for (a, b) in services.iter().zip(cfg2.services()) {
        assert!(
            config::same(a, b),
            "round trip changed {:?}: {a:?} vs {b:?}",
            String::from_utf8_lossy(a.set.name)
        );
    }
});
