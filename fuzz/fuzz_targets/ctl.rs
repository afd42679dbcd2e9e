//! Control requests and replies: `ctl::parse` and `ctl::split_reply`. The
//! input is split at its first NUL byte: a request line before it, a reply
//! after it.
//!
//! Invariants:
//! - a parsed request has a verb that takes its name (start, stop, restart
//!   need one; reload, shutdown none); the name is a piece of the line, 1-64
//!   bytes, printable ASCII without '/' or blanks;
//! - it round-trips: "VERB NAME" (as `tinyd ctl` sends it, joined by one
//!   space) parses to the same request, with or without a trailing "\r";
//! - a refused line stays refused with extra spaces around its words;
//! - split_reply: Some((code, text)) exactly when the reply has a newline
//!   and the first line is 1-19 digits with a value below 256; text is all
//!   that follows that newline; "CODE\nTEXT" built back splits the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyd::pure::protocol::{self as ctl, Request};

fn canonical(r: &Request<'_>) -> Vec<u8> {
    let (verb, name): (&[u8], Option<&[u8]>) = match *r {
        Request::Status(n) => (b"status", n),
        Request::Start(n) => (b"start", Some(n)),
        Request::Stop(n) => (b"stop", Some(n)),
        Request::Restart(n) => (b"restart", Some(n)),
        Request::Reload => (b"reload", None),
        Request::Shutdown => (b"shutdown", None),
    };
    let mut v = verb.to_vec();
    if let Some(n) = name {
        v.push(b' ');
        v.extend_from_slice(n);
    }
    v
}

fn is_within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

fn check_request(line: &[u8]) {
    match ctl::parse(line) {
        Ok(r) => {
            let name = match r {
                Request::Status(n) => n,
                Request::Start(n) | Request::Stop(n) | Request::Restart(n) => Some(n),
                Request::Reload | Request::Shutdown => None,
            };
            if let Some(n) = name {
                assert!(is_within(line, n), "name not from the line");
                assert!(!n.is_empty() && n.len() <= 64);
                assert!(n.iter().all(|&c| c > b' ' && c < 0x7f && c != b'/'));
            }
            let c = canonical(&r);
            assert_eq!(
                ctl::parse(&c),
                Ok(r),
                "round trip {:?}",
                String::from_utf8_lossy(&c)
            );
            let mut cr = c.clone();
            cr.push(b'\r');
            assert_eq!(ctl::parse(&cr), Ok(r));
            assert!(c.len() < ctl::REQUEST_MAX);
        }
        Err(msg) => {
            assert!(!msg.is_empty());
            // Refused with more spaces around the words too.
            let spaced: Vec<u8> = line
                .strip_suffix(b"\r")
                .unwrap_or(line)
                .iter()
                .flat_map(|&c| if c == b' ' { vec![b' ', b' '] } else { vec![c] })
                .collect();
            let mut spaced = [b"  ".as_slice(), &spaced, b" "].concat();
            if line.ends_with(b"\r") {
                spaced.push(b'\r');
            }
            assert_eq!(ctl::parse(&spaced), Err(msg));
        }
    }
}

fn check_reply(reply: &[u8]) {
    let nl = reply.iter().position(|&c| c == b'\n');
    let expect = nl.and_then(|nl| {
        let head = &reply[..nl];
        let ok = !head.is_empty() && head.len() <= 19 && head.iter().all(u8::is_ascii_digit);
        let v = ok.then(|| std::str::from_utf8(head).unwrap().parse::<u64>().unwrap())?;
        (v < 256).then(|| (v as u8, &reply[nl + 1..]))
    });
    let got = ctl::split_reply(reply);
    assert_eq!(got, expect);
    if let Some((code, text)) = got {
        assert!(is_within(reply, text));
        let mut back = format!("{code}\n").into_bytes();
        back.extend_from_slice(text);
        assert_eq!(ctl::split_reply(&back), Some((code, text)));
    }
}

fuzz_target!(|data: &[u8]| {
    let (req, reply) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    check_request(req);
    // Requests arrive as lines: also each line of the request part.
    for line in req.split(|&c| c == b'\n') {
        check_request(line);
    }
    check_reply(reply);
    check_reply(data);
});
