//! One sd_notify(3) datagram, parsed: newline-separated `KEY=VALUE`
//! assignments, as a service sends them to `$NOTIFY_SOCKET`.
//!
//! Only what tinyd acts on is kept: `READY=1`, `STOPPING=1`,
//! `RELOADING=1` (other values of these are ignored, as systemd does) and
//! `STATUS=` (the last one wins). Every other key (MAINPID, WATCHDOG,
//! BARRIER, ERRNO, ...) is ignored. Never fails and never panics: a bad
//! line only sets `malformed`, and the rest is still read.

/// What one datagram said.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Msg<'a> {
    /// `READY=1`: the service has started.
    pub ready: bool,
    /// `STOPPING=1`: the service is shutting down.
    pub stopping: bool,
    /// `RELOADING=1`: the service is reloading its configuration.
    pub reloading: bool,
    /// The last `STATUS=` text, without its newline (may be empty).
    pub status: Option<&'a [u8]>,
    /// A line had no `=`, an empty key, or a NUL byte; such a line is
    /// skipped. The caller also counts a truncated datagram as malformed.
    pub malformed: bool,
}

/// Parses one datagram. Empty lines (and so a trailing newline) are
/// ignored.
pub fn parse(d: &[u8]) -> Msg<'_> {
    let mut m = Msg::default();
    for line in d.split(|&c| c == b'\n') {
        if line.is_empty() {
            continue;
        }
        if line.contains(&0) {
            m.malformed = true;
            continue;
        }
        let mut kv = line.splitn(2, |&c| c == b'=');
        let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
            m.malformed = true;
            continue;
        };
        let yes = value == b"1";
        match key {
            b"" => m.malformed = true,
            b"READY" => m.ready |= yes,
            b"STOPPING" => m.stopping |= yes,
            b"RELOADING" => m.reloading |= yes,
            b"STATUS" => m.status = Some(value),
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready() {
        let m = parse(b"READY=1");
        assert!(m.ready && !m.stopping && !m.reloading && !m.malformed);
        assert_eq!(m.status, None);
        assert_eq!(parse(b"READY=1\n"), m);
        assert_eq!(parse(b"\n\nREADY=1\n\n"), m);
    }

    #[test]
    fn flags_need_exactly_1() {
        for d in [
            &b"READY=0"[..],
            b"READY=",
            b"READY=11",
            b"READY= 1",
            b"ready=1",
        ] {
            let m = parse(d);
            assert!(!m.ready && !m.malformed, "{d:?}");
        }
        let m = parse(b"STOPPING=1\nRELOADING=1\n");
        assert!(!m.ready && m.stopping && m.reloading && !m.malformed);
        // A later other value does not clear it.
        assert!(parse(b"READY=1\nREADY=0").ready);
    }

    #[test]
    fn status_last_wins() {
        let m = parse(b"STATUS=starting\nREADY=1\nSTATUS=up: 3 workers\n");
        assert!(m.ready);
        assert_eq!(m.status, Some(&b"up: 3 workers"[..]));
        assert_eq!(parse(b"STATUS=").status, Some(&b""[..]));
        assert_eq!(parse(b"STATUS=a=b").status, Some(&b"a=b"[..]));
    }

    #[test]
    fn unknown_keys_ignored() {
        let m = parse(b"MAINPID=42\nWATCHDOG=1\nBARRIER=1\nERRNO=2\nX_FOO=bar\n");
        assert_eq!(m, Msg::default());
    }

    #[test]
    fn malformed_lines_are_skipped() {
        for d in [&b"READY"[..], b"=1", b"=", b"READY=1\0", b"\0"] {
            let m = parse(d);
            assert!(m.malformed && !m.ready, "{d:?}");
        }
        let m = parse(b"garbage\nREADY=1\n=x\nSTATUS=ok\nST\0TUS=no\n");
        assert!(m.malformed && m.ready);
        assert_eq!(m.status, Some(&b"ok"[..]));
    }

    #[test]
    fn empty() {
        assert_eq!(parse(b""), Msg::default());
        assert_eq!(parse(b"\n\n\n"), Msg::default());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Bytes drawn mostly from the datagram's own alphabet, so that keys,
        // `=`, newlines and NULs meet in every order.
        const ALPHA: &[u8] = b"READY=1\nSTATUS=\0STOPPING=RELOADING\n=\xff x";
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let d: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        (r >> 8) as u8
                    } else {
                        ALPHA[(r >> 8) as usize % ALPHA.len()]
                    }
                })
                .collect();
            let m = parse(&d);
            if let Some(s) = m.status {
                assert!(!s.contains(&b'\n') && !s.contains(&0));
            }
            if m.ready {
                assert!(d.windows(7).any(|w| w == b"READY=1"));
            }
        }
    }
}
