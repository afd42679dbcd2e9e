//! Log rings: how lines go from tinyd to its log writer without tinyd ever
//! waiting for a disk.
//!
//! Each log file has a ring of `RING_BYTES` in memory shared with the
//! writer (`os::shm`). tinyd formats whole lines into it (timestamp, tag,
//! text, newline) and moves `head`; the writer writes what lies between
//! `tail` and `head` to the file and then moves `tail`. A ring's target
//! (path, size limit, files kept, policy) is set by tinyd while the ring is
//! empty and unused, under a sequence number the writer checks.
//!
//! When a line does not fit, the caller decides (`log-full`): tinyd's own
//! events are counted as lost (and the count written first once there is
//! room again); a service's output waits in its line buffer and pipe.

use core::ffi::CStr;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use rustix::io::Errno;

use crate::log::timefmt;
use crate::os::shm::{Area, Header};
use crate::util::buf::Buf;
use crate::util::limits::{LOG_RINGS, PATH_MAX, RING_BYTES};

/// A ring's index in the shared area.
pub type RingId = u16;

/// Bytes of each ring that services' output leaves free, for tinyd's own
/// events: a flood fills a ring up to here, and "exited" or "stopped"
/// still get in.
pub const RESERVE: usize = 1024;

const MASK: u32 = (RING_BYTES - 1) as u32;

/// Bytes of `h`'s ring between `tail` and `head` (`RING_BYTES` at most:
/// more would be a broken writer, and counts as full).
fn used(h: &Header) -> u32 {
    let head = h.head.load(Relaxed);
    let tail = h.tail.load(Acquire);
    head.wrapping_sub(tail).min(RING_BYTES as u32)
}

/// Whether `h`'s ring is empty, with no write under way.
fn drained(h: &Header) -> bool {
    used(h) == 0 && h.inflight.load(Acquire) == 0
}

/// The timestamp of the current millisecond, made once per millisecond.
struct Stamp {
    text: Buf<32>,
    of: Option<(i64, u32)>,
}

/// tinyd's side of the rings: which are in use, and what could not be
/// pushed.
pub struct Rings {
    area: Option<&'static Area>,
    /// Rings given to an instance or to tinyd's own log.
    taken: [u64; LOG_RINGS.div_ceil(64)],
    /// Lines that did not fit, per ring, not yet reported.
    lost: [u32; LOG_RINGS],
    /// `head` when the ring's pages were last given back, and the second
    /// of the last push (see `push`).
    trimmed: [u32; LOG_RINGS],
    pushed_at: [u32; LOG_RINGS],
    stamp: Stamp,
    /// Something was pushed since the last [`Rings::take_pushed`].
    pushed: bool,
}

impl Default for Rings {
    fn default() -> Self {
        Self::new()
    }
}

impl Rings {
    pub const fn new() -> Rings {
        Rings {
            area: None,
            taken: [0; LOG_RINGS.div_ceil(64)],
            lost: [0; LOG_RINGS],
            trimmed: [0; LOG_RINGS],
            pushed_at: [0; LOG_RINGS],
            stamp: Stamp {
                text: Buf::new(),
                of: None,
            },
            pushed: false,
        }
    }

    /// The shared area, mapped on first use.
    pub fn area(&mut self) -> Result<&'static Area, Errno> {
        match self.area {
            Some(a) => Ok(a),
            None => {
                let a = Area::map()?;
                self.area = Some(a);
                Ok(a)
            }
        }
    }

    /// The area, once a ring was ever taken.
    pub fn mapped(&self) -> Option<&'static Area> {
        self.area
    }

    fn is_taken(&self, r: usize) -> bool {
        self.taken[r / 64] & (1 << (r % 64)) != 0
    }

    /// Whether a ring can be taken now (unused and written out).
    fn free(&self, area: &Area, r: usize) -> bool {
        !self.is_taken(r) && drained(&area.heads[r])
    }

    /// Rings that [`Rings::take`] could give now.
    pub fn free_count(&self) -> usize {
        match self.area {
            Some(a) => (0..LOG_RINGS).filter(|&r| self.free(a, r)).count(),
            None => LOG_RINGS,
        }
    }

    /// A ring for the file at `path` (relative paths: to tinyd's base
    /// directory, as the writer sees it); ENOBUFS when every ring is in use
    /// or still being written out.
    pub fn take(&mut self, path: &CStr, max: u64, keep: u32, block: bool) -> Result<RingId, Errno> {
        let p = path.to_bytes();
        if p.len() > PATH_MAX {
            return Err(Errno::NAMETOOLONG);
        }
        let area = self.area()?;
        let r = (0..LOG_RINGS)
            .find(|&r| self.free(area, r))
            .ok_or(Errno::NOBUFS)?;
        let h = &area.heads[r];
        // Odd while the target changes: the writer waits for even.
        let seq = h.seq.load(Relaxed);
        h.seq.store(seq | 1, SeqCst);
        h.max.set(max);
        h.keep.store(keep, Relaxed);
        h.block.store(block as u32, Relaxed);
        for (d, &b) in area.paths[r].iter().zip(p) {
            d.store(b, Relaxed);
        }
        h.path_len.store(p.len() as u32, Relaxed);
        h.seq.store((seq | 1).wrapping_add(1), SeqCst);
        self.taken[r / 64] |= 1 << (r % 64);
        self.lost[r] = 0;
        Ok(r as RingId)
    }

    /// Gives ring `r` back; what is in it is still written out.
    pub fn give(&mut self, r: RingId) {
        let r = r as usize;
        self.taken[r / 64] &= !(1 << (r % 64));
    }

    /// Whether any ring is in use or still has lines: the writer must run.
    pub fn busy(&self) -> bool {
        let Some(a) = self.area else { return false };
        (0..LOG_RINGS).any(|r| self.is_taken(r) || !drained(&a.heads[r]))
    }

    /// Bytes written out of ring `r` so far (moves while the writer works).
    pub fn tail(&self, r: RingId) -> u32 {
        self.area
            .map_or(0, |a| a.heads[r as usize].tail.load(Acquire))
    }

    /// Copies `parts` into ring `r` as one record, all or nothing, if
    /// `spare` bytes stay free after it.
    fn push(&mut self, r: RingId, parts: &[&[u8]], spare: usize) -> bool {
        let Some(area) = self.area else { return false };
        let h = &area.heads[r as usize];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total + spare > RING_BYTES - used(h) as usize {
            return false;
        }
        let data = &area.data[r as usize];
        let mut head = h.head.load(Relaxed);
        // A ring found empty after a pause (the last push more than a
        // second ago, a quarter of it written since the last time) gives
        // its pages back: a service that logs a line now and then keeps a
        // page or two, not the whole ring; a flood keeps its pages.
        let now = self.stamp.of.map_or(0, |(secs, _)| secs as u32);
        let at = core::mem::replace(&mut self.pushed_at[r as usize], now);
        let since = head.wrapping_sub(self.trimmed[r as usize]);
        if used(h) == 0 && since as usize >= RING_BYTES / 4 && now.wrapping_sub(at) > 1 {
            data.trim((head & MASK) as usize);
            self.trimmed[r as usize] = head;
        }
        for p in parts {
            let mut p: &[u8] = p;
            while !p.is_empty() {
                let at = (head & MASK) as usize;
                let n = p.len().min(RING_BYTES - at);
                data.put(at, &p[..n]);
                p = &p[n..];
                head = head.wrapping_add(n as u32);
            }
        }
        h.head.store(head, Release);
        self.pushed = true;
        true
    }

    /// One of tinyd's events, `STAMP TAG: TEXT\n` (the text in parts),
    /// into ring `r`; false when it does not fit (nothing pushed). A count
    /// of lines lost before goes first.
    pub fn line(&mut self, r: RingId, tag: &[u8], text: &[&[u8]]) -> bool {
        self.now();
        self.line_leaving(r, tag, text, 0)
    }

    /// The timestamp of the lines pushed next: now (made again only when
    /// the millisecond changed). Called once per read of a service's pipe:
    /// the lines of one read arrived together.
    pub fn now(&mut self) {
        let (secs, ms) = crate::log::sink::wall();
        if self.stamp.of != Some((secs, ms)) {
            self.stamp.text.clear();
            timefmt::rfc3339(&mut self.stamp.text, secs, ms);
            self.stamp.of = Some((secs, ms));
        }
    }

    /// One line of a service's output, as [`Rings::line`] but with the
    /// time of the last [`Rings::now`], leaving `RESERVE` bytes free for
    /// events.
    pub fn output(&mut self, r: RingId, tag: &[u8], text: &[u8]) -> bool {
        self.line_leaving(r, tag, &[text], RESERVE)
    }

    fn line_leaving(&mut self, r: RingId, tag: &[u8], text: &[&[u8]], spare: usize) -> bool {
        if self.lost[r as usize] > 0 && !self.report_lost(r, spare) {
            return false;
        }
        // `parts` must not borrow `self`: the stamp is copied out.
        let stamp = self.stamp.text;
        let mut parts: [&[u8]; 12] = [b""; 12];
        let n = text.len().min(parts.len() - 5);
        parts[0] = stamp.as_bytes();
        parts[1] = b" ";
        parts[2] = tag;
        parts[3] = b": ";
        parts[4..4 + n].copy_from_slice(&text[..n]);
        parts[4 + n] = b"\n";
        self.push(r, &parts[..5 + n], spare)
    }

    /// Counts a line of ring `r` as lost.
    pub fn lose(&mut self, r: RingId) {
        let l = &mut self.lost[r as usize];
        *l = l.saturating_add(1);
    }

    #[cold]
    fn report_lost(&mut self, r: RingId, spare: usize) -> bool {
        let mut m = Buf::<48>::new();
        m.u(self.lost[r as usize] as u64)
            .s(b" lines lost: log writer behind");
        let stamp = self.stamp.text;
        let ok = self.push(
            r,
            &[stamp.as_bytes(), b" tinyd: ", m.as_bytes(), b"\n"],
            spare,
        );
        if ok {
            self.lost[r as usize] = 0;
        }
        ok
    }

    /// Whether anything was pushed since the last call.
    pub fn take_pushed(&mut self) -> bool {
        // Written only when set: a store on every turn would dirty the
        // page even when nothing is ever logged.
        let was = self.pushed;
        if was {
            self.pushed = false;
        }
        was
    }

    /// Whether ring `r` has room for `bytes` more.
    pub fn has_room(&self, r: RingId, bytes: usize) -> bool {
        self.area
            .is_some_and(|a| RING_BYTES - used(&a.heads[r as usize]) as usize >= bytes)
    }
}

/// How many bytes of the stream `a` then `b` (whole lines) go into a file
/// of `size` bytes that rotates before it grows past `max`: as many whole
/// lines as fit; 0 when not even the first fits (rotate, then ask again).
/// Into an empty file at least the first line goes, however long.
pub fn fits(a: &[u8], b: &[u8], size: u64, max: u64) -> usize {
    let total = a.len() + b.len();
    let room = max.saturating_sub(size).min(total as u64) as usize;
    if room == total {
        return total;
    }
    let at = |i: usize| if i < a.len() { a[i] } else { b[i - a.len()] };
    if let Some(k) = (0..room).rev().find(|&i| at(i) == b'\n') {
        return k + 1;
    }
    if size > 0 {
        return 0;
    }
    (0..total)
        .find(|&i| at(i) == b'\n')
        .map_or(total, |k| k + 1)
}

/// The writer's view of ring `r`'s waiting bytes: up to two slices (the
/// second when they wrap around the end).
pub fn waiting(area: &Area, r: usize) -> (&[u8], &[u8]) {
    let h = &area.heads[r];
    let head = h.head.load(Acquire);
    let tail = h.tail.load(Relaxed);
    let n = head.wrapping_sub(tail).min(RING_BYTES as u32) as usize;
    let at = (tail & MASK) as usize;
    let first = n.min(RING_BYTES - at);
    let data = &area.data[r];
    (data.get(at, first), data.get(0, n - first))
}

/// The writer is done with `n` bytes of ring `r`.
pub fn consume(area: &Area, r: usize, n: usize) {
    let h = &area.heads[r];
    let tail = h.tail.load(Relaxed);
    h.tail.store(tail.wrapping_add(n as u32), SeqCst);
}

/// Ring `r`'s target as the writer reads it: its sequence number (to know
/// when it changed), the path into `path`, the size limit, the files kept
/// and whether it blocks. `None` while tinyd is changing it.
pub fn target(
    area: &Area,
    r: usize,
    path: &mut Buf<{ PATH_MAX + 1 }>,
) -> Option<(u32, u64, u32, bool)> {
    let h = &area.heads[r];
    let seq = h.seq.load(SeqCst);
    if seq & 1 == 1 {
        return None;
    }
    let len = (h.path_len.load(Relaxed) as usize).min(PATH_MAX);
    path.clear();
    for b in &area.paths[r][..len] {
        path.s(&[b.load(Relaxed)]);
    }
    path.s(b"\0");
    let t = (
        seq,
        h.max.get(),
        h.keep.load(Relaxed),
        h.block.load(Relaxed) == 1,
    );
    (h.seq.load(SeqCst) == seq).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_up_to_the_limit() {
        // Everything fits.
        assert_eq!(fits(b"a\nb\n", b"", 0, 100), 4);
        assert_eq!(fits(b"a\n", b"b\n", 96, 100), 4);
        // The last whole line within the room, across the wrap.
        assert_eq!(fits(b"aa\nb", b"b\ncc\n", 93, 100), 6);
        assert_eq!(fits(b"aa\nbb\n", b"", 96, 100), 3);
        // Not even the first line: rotate first.
        assert_eq!(fits(b"aaaa\n", b"", 98, 100), 0);
        // Into an empty file the first line goes whole, however long.
        assert_eq!(fits(b"aaaaaaaa\nb\n", b"", 0, 4), 9);
        assert_eq!(fits(b"aaa", b"aaaaa\nb\n", 0, 4), 9);
    }

    #[test]
    fn lines_go_round_the_ring_in_order() {
        let mut rings = Rings::new();
        let r = rings.take(c"/nonexistent/x", 1 << 20, 2, false).unwrap();
        let area = rings.mapped().unwrap();
        let mut got = std::vec::Vec::new();
        let mut n = 0u32;
        // Far more than a ring's worth, drained in uneven bites.
        while n < 5000 {
            let text = std::format!("line {n}");
            if rings.line(r, b"svc", &[text.as_bytes()]) {
                n += 1;
                continue;
            }
            let (a, b) = waiting(area, r as usize);
            let k = fits(a, b, 0, 700);
            got.extend_from_slice(a);
            got.extend_from_slice(b);
            got.truncate(got.len() - (a.len() + b.len() - k));
            consume(area, r as usize, k);
        }
        loop {
            let (a, b) = waiting(area, r as usize);
            if a.is_empty() {
                break;
            }
            got.extend_from_slice(a);
            got.extend_from_slice(b);
            consume(area, r as usize, a.len() + b.len());
        }
        let text = std::string::String::from_utf8(got).unwrap();
        let lines: std::vec::Vec<&str> =
            text.lines().map(|l| l.split_once(' ').unwrap().1).collect();
        assert_eq!(lines.len(), 5000);
        for (k, l) in lines.iter().enumerate() {
            assert_eq!(*l, std::format!("svc: line {k}"));
        }
    }

    #[test]
    fn a_full_ring_refuses_and_reports_what_it_lost() {
        let mut rings = Rings::new();
        let r = rings.take(c"x", 1 << 20, 2, false).unwrap();
        let area = rings.mapped().unwrap();
        let big = [b'x'; 1000];
        let mut pushed = 0;
        while rings.line(r, b"svc", &[&big]) {
            pushed += 1;
        }
        assert_eq!(pushed, RING_BYTES / 1030);
        rings.lose(r);
        rings.lose(r);
        // Room again: the count goes first.
        let (a, b) = waiting(area, r as usize);
        consume(area, r as usize, a.len() + b.len());
        assert!(rings.line(r, b"svc", &[b"after"]));
        let (a, _) = waiting(area, r as usize);
        let text = core::str::from_utf8(a).unwrap();
        let lines: std::vec::Vec<&str> =
            text.lines().map(|l| l.split_once(' ').unwrap().1).collect();
        assert_eq!(
            lines,
            ["tinyd: 2 lines lost: log writer behind", "svc: after"]
        );
        // A ring in use, or not written out, is not given again.
        assert_eq!(rings.free_count(), LOG_RINGS - 1);
        rings.give(r);
        assert_eq!(rings.free_count(), LOG_RINGS - 1, "still has lines");
        let (a, b) = waiting(area, r as usize);
        consume(area, r as usize, a.len() + b.len());
        assert_eq!(rings.free_count(), LOG_RINGS);
        let mut p = Buf::new();
        let (_, max, keep, block) = target(area, r as usize, &mut p).unwrap();
        assert_eq!(
            (p.as_bytes(), max, keep, block),
            (&b"x\0"[..], 1 << 20, 2, false)
        );
    }

    #[test]
    fn a_trickle_through_trimmed_pages_loses_nothing() {
        // One line at a time, after a pause, written out at once: the ring
        // is empty at every push, and gives its pages back every quarter
        // turn, for several turns round it.
        let mut rings = Rings::new();
        let r = rings.take(c"x", 1 << 20, 2, false).unwrap();
        let area = rings.mapped().unwrap();
        let pad = [b'p'; 300];
        for k in 0..2000u32 {
            let n = std::format!("{k} ");
            // As if the last push was long ago.
            rings.pushed_at[r as usize] = 0;
            assert!(rings.line(r, b"svc", &[n.as_bytes(), &pad]));
            let (a, b) = waiting(area, r as usize);
            let mut got = a.to_vec();
            got.extend_from_slice(b);
            let text = core::str::from_utf8(&got).unwrap();
            let want = std::format!("svc: {k} {}\n", "p".repeat(300));
            assert!(text.ends_with(&want), "line {k}: {text:?}");
            assert_eq!(text.lines().count(), 1);
            consume(area, r as usize, got.len());
        }
        assert!(rings.trimmed[r as usize] != 0, "pages were given back");
    }
}
