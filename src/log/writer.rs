//! The log writer, `tinyd-log`: a child of tinyd that writes the log rings
//! (`ring.rs`) to their files, so that a disk that stalls stalls it and
//! never tinyd.
//!
//! It owns the open log files: rotation, reopening on SIGHUP (tinyd bumps
//! `reopen`) and when a file is deleted or replaced, counting what a full
//! disk loses (`log-full = drop`) or retrying once a second (`block`).
//! It sleeps in poll on the kick pipe when every ring is written out; tinyd
//! writes a byte when it pushes into a ring while the writer is idle, and
//! closes the pipe when it exits: the writer then writes what is left and
//! exits too. A write under way is recorded in the ring (`inflight`), so
//! that a writer killed in the middle of it is followed by one that neither
//! loses nor repeats it.

use core::ffi::CStr;
use core::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::time::Timespec;

use crate::log::ring::{self, fits};
use crate::log::sink::{Sink, Target};
use crate::os::shm::Area;
use crate::os::sys;
use crate::pure::time::{Instant, Ms};
use crate::util::buf::Buf;
use crate::util::limits::{LOG_RINGS, PATH_MAX};
use crate::util::store::ArrayVec;

/// How long a failed write waits before it is tried again (`block`).
const RETRY: Ms = Ms(1000);

/// What the writer knows of one ring's file.
struct File {
    sink: Sink,
    path: Buf<{ PATH_MAX + 1 }>,
    /// The target's sequence number plus one (0: none read yet).
    seen: u32,
    max: u64,
    keep: u32,
    block: bool,
    /// The last write failed (`block`): retried at `retry`.
    failed: bool,
}

impl File {
    const fn new() -> File {
        File {
            sink: Sink::new(),
            path: Buf::new(),
            seen: 0,
            max: 0,
            keep: 0,
            block: false,
            failed: false,
        }
    }

    /// Its sink, and the target it writes to.
    fn parts(&mut self) -> (&mut Sink, Option<Target<'_>>) {
        let t = CStr::from_bytes_until_nul(self.path.as_bytes())
            .ok()
            .map(|path| Target::File {
                path,
                max: self.max,
                keep: self.keep,
            });
        (&mut self.sink, t)
    }

    /// Reads ring `r`'s target if it changed; false while tinyd changes it.
    fn update(&mut self, area: &Area, r: usize) -> bool {
        let seq = area.heads[r].seq.load(SeqCst);
        if self.seen == seq.wrapping_add(1) {
            return true;
        }
        let Some((seq, max, keep, block)) = ring::target(area, r, &mut self.path) else {
            return false;
        };
        self.sink = Sink::new();
        (self.seen, self.max, self.keep, self.block) = (seq.wrapping_add(1), max, keep, block);
        self.failed = false;
        true
    }
}

/// The files of the rings used so far, by ring: entries are made as rings
/// are first used, so that memory is touched only for them (and the table
/// is in .bss).
type Files = ArrayVec<(usize, File), LOG_RINGS>;

crate::static_once!(fn files() -> Files = ArrayVec::new(); bit 5; section ".bss.tinyd.cold");

/// Ring `r`'s file (made on first use).
fn file(files: &mut Files, r: usize) -> &mut File {
    let at = match files.iter().position(|(k, _)| *k == r) {
        Some(at) => at,
        None => {
            // There are LOG_RINGS entries at most: one per ring.
            let _ = files.push((r, File::new()));
            files.len() - 1
        }
    };
    &mut files.as_mut_slice()[at].1
}

/// Whether ring `r`'s last write failed (it waits for a retry).
fn has_failed(files: &Files, r: usize) -> bool {
    files.iter().any(|(k, f)| *k == r && f.failed)
}

/// The writer's life: never returns. `kick` is the read end of the pipe
/// tinyd wakes it with, `room` the write end of the one it wakes tinyd
/// with when a ring tinyd waits on has room again.
pub fn run(area: &'static Area, base: BorrowedFd<'_>, kick: OwnedFd, room: OwnedFd) -> ! {
    let Some(files) = files() else { sys::exit(70) };
    recover(area, base, files);
    let mut reopen = area.reopen.load(SeqCst);
    let mut eof = false;
    let mut retry_at: Option<Instant> = None;
    loop {
        eof |= drain(&kick);
        let r = area.reopen.load(SeqCst);
        if r != reopen {
            reopen = r;
            for (_, f) in files.iter_mut() {
                if let (sink, Some(t)) = f.parts()
                    && sink.is_open()
                {
                    let _ = sink.open(base, &t);
                }
            }
        }
        let now = sys::now();
        let retry = eof || retry_at.is_some_and(|t| now >= t);
        if retry {
            retry_at = None;
        }
        let (progress, failed) = pass(area, base, files, retry, eof);
        if failed && retry_at.is_none() {
            retry_at = Some(now + RETRY);
        }
        if progress && area.waiting.swap(0, SeqCst) == 1 {
            let _ = rustix::io::write(&room, &[0]);
        }
        if eof {
            if !progress {
                sys::exit(0);
            }
            continue;
        }
        if progress {
            continue;
        }
        area.idle.store(1, SeqCst);
        if (0..LOG_RINGS).any(|r| !ring::waiting(area, r).0.is_empty() && !has_failed(files, r)) {
            area.idle.store(0, SeqCst);
            continue;
        }
        let timeout = retry_at.map(|t| {
            let ms = now.until(t).0;
            Timespec {
                tv_sec: (ms / 1000) as _,
                tv_nsec: (ms % 1000 * 1_000_000) as _,
            }
        });
        let mut fds = [PollFd::new(&kick, PollFlags::IN)];
        let _ = poll(&mut fds, timeout.as_ref());
        area.idle.store(0, SeqCst);
    }
}

/// Reads the kick pipe empty; true at its end (tinyd is gone).
fn drain(kick: &OwnedFd) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match rustix::io::read(kick, &mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(_) => return false, // EAGAIN: empty
        }
    }
}

/// Writes what every ring holds, as far as the files take it; (anything
/// written or dropped, a `block` write failed). Rings whose last write
/// failed are tried only with `retry`; at `eof` nothing is kept for later.
fn pass(
    area: &Area,
    base: BorrowedFd<'_>,
    files: &mut Files,
    retry: bool,
    eof: bool,
) -> (bool, bool) {
    let (mut progress, mut failed) = (false, false);
    for r in 0..LOG_RINGS {
        // One write per ring per pass: the others get their turn.
        let (a, b) = ring::waiting(area, r);
        if a.is_empty() {
            continue;
        }
        let f = file(files, r);
        if f.failed && !retry {
            failed = true;
            continue;
        }
        if !f.update(area, r) {
            continue;
        }
        let (max, block) = (f.max, f.block);
        let (sink, Some(t)) = f.parts() else { continue };
        if !sink.is_open() {
            let _ = sink.open(base, &t);
        }
        let mut n = fits(a, b, sink.size(), max);
        if n == 0 {
            n = fits(a, b, 0, max);
        }
        let (pa, pb) = if n <= a.len() {
            (&a[..n], &b[..0])
        } else {
            (a, &b[..n - a.len()])
        };
        let h = &area.heads[r];
        let tail = h.tail.load(Relaxed);
        let res = sink.append(base, &t, &[pa, pb], |size| {
            h.inflight_tail.store(tail, Relaxed);
            h.inflight_end.set(size + n as u64);
            h.inflight.store(n as u32, SeqCst);
        });
        match res {
            Ok(()) => {}
            // Kept for the next try, unless tinyd is gone.
            Err(_) if block && !eof => {
                h.inflight.store(0, SeqCst);
                f.failed = true;
                failed = true;
                continue;
            }
            Err(e) => {
                let lines = pa.iter().chain(pb).filter(|&&c| c == b'\n').count();
                sink.count_lost(lines as u64, e);
            }
        }
        f.failed = false;
        ring::consume(area, r, n);
        h.inflight.store(0, SeqCst);
        progress = true;
    }
    (progress, failed)
}

/// A writer before this one may have been killed in the middle of a write:
/// if the file has all of it, it is done; if part, the part is taken off
/// and it is written again; if none, it is written again.
fn recover(area: &Area, base: BorrowedFd<'_>, files: &mut Files) {
    for r in 0..LOG_RINGS {
        let h = &area.heads[r];
        let n = h.inflight.load(Acquire) as u64;
        if n == 0 {
            continue;
        }
        let f = file(files, r);
        if h.tail.load(Relaxed) == h.inflight_tail.load(Relaxed)
            && f.update(area, r)
            && let (sink, Some(t)) = f.parts()
            && sink.open(base, &t).is_ok()
        {
            let end = h.inflight_end.get();
            let size = sink.size();
            if size >= end {
                ring::consume(area, r, n as usize);
            } else if size > end.saturating_sub(n) {
                sink.truncate(end - n);
            }
        }
        h.inflight.store(0, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::ring::Rings;
    use std::fs;

    /// A writer killed with its write recorded and `written` of its bytes
    /// in the file (all, part, none), or after it moved the tail: the next
    /// writer leaves every line in the file once, in order.
    #[test]
    fn a_killed_writers_last_write_is_neither_lost_nor_repeated() {
        let dir = std::env::temp_dir().join(format!("tinyd-writer-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for (case, written) in [(0, 1.0), (1, 0.5), (2, 0.0), (3, 1.0)] {
            let log = dir.join(format!("{case}.log"));
            let path = std::ffi::CString::new(log.to_str().unwrap()).unwrap();
            let mut rings = Rings::new();
            let r = rings.take(&path, 1 << 20, 0, false).unwrap() as usize;
            let area = rings.mapped().unwrap();
            for k in 0..50 {
                assert!(rings.line(r as RingIdT, b"svc", &[format!("line {k}").as_bytes()]));
            }
            // The killed writer: its record, then part of its write.
            let (a, _) = ring::waiting(area, r);
            let n = a.len() / 2;
            let h = &area.heads[r];
            h.inflight_tail.store(h.tail.load(Relaxed), Relaxed);
            h.inflight_end.set(n as u64);
            h.inflight.store(n as u32, SeqCst);
            let cut = (n as f64 * written) as usize;
            fs::write(&log, &a[..cut]).unwrap();
            if case == 3 {
                // Killed after it moved the tail, before it cleared the record.
                ring::consume(area, r, n);
            }
            // The next writer.
            let mut files = Files::new();
            recover(area, rustix::fs::CWD, &mut files);
            assert_eq!(h.inflight.load(SeqCst), 0);
            while pass(area, rustix::fs::CWD, &mut files, false, false).0 {}
            let text = fs::read_to_string(&log).unwrap();
            let got: Vec<&str> = text.lines().map(|l| l.split_once(' ').unwrap().1).collect();
            let want: Vec<String> = (0..50).map(|k| format!("svc: line {k}")).collect();
            assert_eq!(got, want, "case {case}");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    type RingIdT = crate::log::ring::RingId;
}
