//! sd_notify datagrams (`pure::notify::parse`): any bytes a process may
//! send to the notify socket.
//!
//! Invariants:
//! - never a panic;
//! - `ready`, `stopping` and `reloading` only when the datagram holds the
//!   line `READY=1`, `STOPPING=1` or `RELOADING=1`;
//! - `STATUS=` text comes from the datagram, holds no newline, and is the
//!   last such line's;
//! - `malformed` exactly when a non-empty line has no `=`, an empty key,
//!   or a NUL byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyd::pure::notify::parse;

fuzz_target!(|data: &[u8]| {
    let m = parse(data);
    let lines = || data.split(|&c| c == b'\n').filter(|l| !l.is_empty());
    let has = |l: &[u8]| lines().any(|x| x == l);
    assert_eq!(m.ready, has(b"READY=1"));
    assert_eq!(m.stopping, has(b"STOPPING=1"));
    assert_eq!(m.reloading, has(b"RELOADING=1"));
    let bad = |l: &[u8]| l.contains(&0) || matches!(l.iter().position(|&c| c == b'='), None | Some(0));
    assert_eq!(m.malformed, lines().any(bad));
    let status = lines()
        .filter(|l| !bad(l))
        .filter_map(|l| l.strip_prefix(b"STATUS="))
        .last();
    assert_eq!(m.status, status);
});
