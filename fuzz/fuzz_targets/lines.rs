//! Log line assembly: COMMAND's output through a `LineBuf` of LINE_MAX
//! bytes, read in chunks of fuzzer-chosen sizes as `sup.rs` reads it, and
//! each piece made into a log line as `sink.rs` does (RFC 3339 timestamp,
//! tag, text, newline; or the RFC 3164 syslog header).
//!
//! Input: 8 bytes of seconds, 2 of milliseconds, 1 tag length, the tag,
//! 1 byte of chunk-size seed, then the stream.
//!
//! Invariants:
//! - every piece is at most LINE_MAX bytes and holds no newline;
//! - nothing is lost or added: the pieces, each followed by a newline
//!   unless it filled the buffer (or was the final flush), are exactly the
//!   input stream, where a newline right after a full piece ends that
//!   line and makes no (empty) piece of its own: it is seen as the next
//!   piece's `starts`;
//! - `starts` is true exactly for a piece that starts a line, `whole` for
//!   one that also ends it (a newline or the end of the stream);
//! - a log line is the timestamp (24 bytes, `YYYY-MM-DDTHH:MM:SS.mmmZ`, the
//!   civil date of the seconds, checked against a reference conversion),
//!   " ", the tag, ": ", the piece, "\n": never longer than the prefix plus
//!   LINE_MAX + 1, and the prefix is never cut off; the syslog header is
//!   `<PRI>Mmm dd hh:mm:ss TAG[PID]: `.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyd::util::buf::Buf;
use tinyd::util::limits::LINE_MAX;
use tinyd::util::lines::LineBuf;
use tinyd::log::timefmt;

/// Days since the epoch of a civil date (Hinnant's days_from_civil), to
/// check `civil` against its inverse.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn check_time(secs: i64, ms: u32) {
    let c = timefmt::civil(secs);
    assert!((1..=12).contains(&c.month) && (1..=31).contains(&c.day));
    assert!(c.hour < 24 && c.min < 60 && c.sec < 60);
    let back = days_from_civil(c.year, c.month, c.day) as i128 * 86400
        + (c.hour * 3600 + c.min * 60 + c.sec) as i128;
    assert_eq!(back, secs as i128, "civil({secs}) = {c:?}");
    let mut b = Buf::<40>::new();
    timefmt::rfc3339(&mut b, secs, ms);
    let s = b.as_bytes();
    if (0..=9999).contains(&c.year) {
        let want = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year, c.month, c.day, c.hour, c.min, c.sec, ms
        );
        assert_eq!(s, want.as_bytes());
    }
    let mut b = Buf::<40>::new();
    timefmt::rfc3164(&mut b, secs);
    let s = b.as_bytes();
    assert_eq!(s.len(), 15);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let want = format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[c.month as usize - 1],
        c.day,
        c.hour,
        c.min,
        c.sec
    );
    assert_eq!(s, want.as_bytes());
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let secs = i64::from_le_bytes(data[..8].try_into().unwrap());
    let ms = u16::from_le_bytes([data[8], data[9]]) as u32 % 1000;
    let tlen = (data[10] as usize % 65).min(data.len() - 11);
    let tag = &data[11..11 + tlen];
    let rest = &data[11 + tlen..];
    let (seed, stream) = match rest.split_first() {
        Some((&s, st)) => (s, st),
        None => (0, &b""[..]),
    };
    check_time(secs, ms);
    // Wall-clock times of the next few thousand years: the whole format.
    let now = secs.rem_euclid(253_402_300_800); // up to 9999-12-31
    check_time(now, ms);

    // Split the stream as sup.rs does: read into spare(), commit.
    let mut storage = [0u8; LINE_MAX];
    let mut lb = LineBuf::new(&mut storage);
    let mut pieces: Vec<(Vec<u8>, bool, bool, bool)> = Vec::new(); // text, whole, starts, flushed
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed as u64);
    let mut pos = 0;
    // Now and then a piece is refused (its log has no room): it and what
    // follows wait in the buffer and come out again, unchanged, on resume.
    let mut refuse = Rng(0x2545_f491_4f6c_dd1d ^ seed as u64);
    while pos < stream.len() {
        while !lb.resume(|p| {
            let ok = refuse.next() % 5 != 0;
            if ok {
                pieces.push((p.text.to_vec(), p.whole, p.starts, false));
            }
            ok
        }) {}
        let spare = lb.spare();
        assert!(!spare.is_empty(), "no room to read into");
        // Mostly big reads, sometimes tiny ones, sometimes 0 bytes.
        let want = match rng.next() % 4 {
            0 => (rng.next() % 4) as usize,
            1 => (rng.next() % 64) as usize,
            _ => spare.len(),
        };
        let n = want.min(spare.len()).min(stream.len() - pos);
        spare[..n].copy_from_slice(&stream[pos..pos + n]);
        pos += n;
        lb.commit(n, |p| {
            let ok = refuse.next() % 5 != 0;
            if ok {
                pieces.push((p.text.to_vec(), p.whole, p.starts, false));
            }
            ok
        });
    }
    while !lb.resume(|p| {
        pieces.push((p.text.to_vec(), p.whole, p.starts, false));
        true
    }) {}
    lb.flush(|p| {
        pieces.push((p.text.to_vec(), p.whole, p.starts, true));
        true
    });
    // A flush leaves it empty: a second one gives nothing.
    lb.flush(|_| panic!("second flush gave a piece"));

    let mut back = Vec::with_capacity(stream.len());
    for (text, whole, starts, flushed) in &pieces {
        assert!(text.len() <= LINE_MAX, "piece of {} bytes", text.len());
        assert!(!text.contains(&b'\n'));
        if *starts && !(back.is_empty() || back.last() == Some(&b'\n')) {
            back.push(b'\n'); // it ended the full piece before
        }
        let starts_line = back.is_empty() || back.last() == Some(&b'\n');
        assert_eq!(*starts, starts_line, "starts flag");
        back.extend_from_slice(text);
        let full = text.len() == LINE_MAX;
        if *flushed {
            assert!(!full);
        } else if !full {
            back.push(b'\n');
        }
        assert_eq!(
            *whole,
            starts_line && !full,
            "whole flag of a {}-byte piece",
            text.len()
        );
    }
    if stream.ends_with(b"\n") && !back.ends_with(b"\n") {
        back.push(b'\n'); // it ended the last piece, a full one
    }
    assert_eq!(back, stream, "bytes in != bytes out");

    // The log line of each piece, as sink.rs builds it.
    let (lsecs, lms) = (now, ms);
    for (text, _, _, _) in pieces.iter().take(8) {
        let mut pre = Buf::<192>::new();
        timefmt::rfc3339(&mut pre, lsecs, lms);
        pre.s(b" ").s(tag).s(b": ");
        assert_eq!(pre.len(), 24 + 1 + tag.len() + 2, "prefix cut off");
        let line = [pre.as_bytes(), text, b"\n"].concat();
        assert!(line.len() <= 24 + 3 + tag.len() + LINE_MAX + 1);
        assert_eq!(
            line.iter().filter(|&&c| c == b'\n').count(),
            1 + tag.iter().filter(|&&c| c == b'\n').count()
        );
        assert!(line.ends_with(b"\n"));
        let mut sys = Buf::<192>::new();
        sys.s(b"<").u(30).s(b">");
        timefmt::rfc3164(&mut sys, lsecs);
        let pid = i32::from_le_bytes(data[..4].try_into().unwrap());
        sys.s(b" ").s(tag).s(b"[").u(pid as u64).s(b"]: ");
        let want = format!("[{}]: ", pid as u64);
        assert!(
            sys.as_bytes().ends_with(want.as_bytes()),
            "syslog header cut off"
        );
    }
});
