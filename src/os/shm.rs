//! Memory shared by tinyd and its log writer: one anonymous `MAP_SHARED`
//! mapping, made before the writer is forked, so that both processes see
//! the same pages (a writer that is restarted finds the rings as they were).
//!
//! Everything in it is an atomic, or bytes of a ring that only one side
//! touches at a time. Which side owns which bytes is the ring protocol's
//! (`log::ring`): the bytes from `tail` to `head` are the writer's to read,
//! the rest tinyd's to fill; `head` is only stored by tinyd, `tail` only by
//! the writer, each with release ordering after the bytes and loaded with
//! acquire ordering before them. This module only maps the memory and
//! moves bytes in and out.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering::Relaxed};
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

use crate::util::limits::{LOG_RINGS, PATH_MAX, RING_BYTES};

/// A u64 in two atomic halves (32-bit mips has no 64-bit atomics): read
/// and written only where the protocol orders them (under `seq`, or
/// before `inflight` is stored and after it is loaded).
#[repr(C)]
pub struct U64 {
    lo: AtomicU32,
    hi: AtomicU32,
}

impl U64 {
    pub fn get(&self) -> u64 {
        (self.hi.load(Relaxed) as u64) << 32 | self.lo.load(Relaxed) as u64
    }
    pub fn set(&self, v: u64) {
        self.lo.store(v as u32, Relaxed);
        self.hi.store((v >> 32) as u32, Relaxed);
    }
}

/// One ring's bookkeeping and the target its lines go to.
#[repr(C)]
pub struct Header {
    // Stored by tinyd.
    /// Bytes ever pushed (wrapping).
    pub head: AtomicU32,
    /// Odd while tinyd changes the target below; bumped by 2 per change.
    pub seq: AtomicU32,
    pub max: U64,
    pub keep: AtomicU32,
    /// 1: `log-full = block` (a failed write is retried, not dropped).
    pub block: AtomicU32,
    /// Bytes of the path (in `Area::paths`); 0: no target (the ring is
    /// unused).
    pub path_len: AtomicU32,
    // Stored by the writer.
    /// Bytes ever written out (or dropped).
    pub tail: AtomicU32,
    /// A write under way: its length (0: none), the `tail` it starts at,
    /// and the file's size it makes, so that a writer killed in the middle
    /// neither loses nor repeats it.
    pub inflight: AtomicU32,
    pub inflight_tail: AtomicU32,
    pub inflight_end: U64,
}

/// A ring's bytes.
#[repr(transparent)]
pub struct Bytes(UnsafeCell<[u8; RING_BYTES]>);

// SAFETY: the bytes are only reached through `put` and `get`, whose callers
// keep to the ring protocol (module comment): no byte is written by one
// side while the other may read it.
unsafe impl Sync for Bytes {}

impl Bytes {
    /// Copies `src` to the ring at `at` (`at + src.len()` at most
    /// `RING_BYTES`). Only tinyd calls it, only on bytes outside
    /// `tail..head`.
    pub fn put(&self, at: usize, src: &[u8]) {
        assert!(at <= RING_BYTES && src.len() <= RING_BYTES - at);
        // SAFETY: in bounds (checked above); by the protocol the writer does
        // not read these bytes until `head` is stored past them.
        unsafe {
            core::ptr::copy_nonoverlapping(
                src.as_ptr(),
                self.0.get().cast::<u8>().add(at),
                src.len(),
            )
        }
    }

    /// The ring's bytes `at..at + len`. Only the writer calls it, only on
    /// bytes inside `tail..head`, and drops the slice before it stores
    /// `tail` past them.
    pub fn get(&self, at: usize, len: usize) -> &[u8] {
        assert!(at <= RING_BYTES && len <= RING_BYTES - at);
        // SAFETY: in bounds; by the protocol tinyd does not write these
        // bytes until `tail` moves past them, which the caller does only
        // after it is done with the slice.
        unsafe { core::slice::from_raw_parts(self.0.get().cast::<u8>().add(at), len) }
    }
}

impl Bytes {
    /// Gives the pages of the ring back to the kernel, all but the one
    /// holding byte `keep`. Only tinyd calls it, only while the ring is
    /// empty (`tail == head`): the writer reads none of its bytes then, and
    /// what tinyd writes next reads back as zeros until written.
    pub fn trim(&self, keep: usize) {
        // 0 when the auxiliary vector was not given (unit tests).
        let page = match rustix::param::page_size() {
            0 => 4096,
            p => p,
        };
        let start = self.0.get() as usize;
        let end = start + RING_BYTES;
        let first = start.next_multiple_of(page);
        let last = end / page * page;
        let hold = (start + keep.min(RING_BYTES - 1)) / page * page;
        for (a, b) in [(first, hold), (hold + page, last)] {
            if a < b {
                // SAFETY: whole pages inside this ring's bytes, which no one
                // reads until tinyd writes them again (see above); the
                // mapping stays, only its contents go.
                let _ = unsafe {
                    rustix::mm::madvise(a as *mut _, b - a, rustix::mm::Advice::LinuxRemove)
                };
            }
        }
    }
}

/// The whole shared area.
#[repr(C)]
pub struct Area {
    /// 1 while the writer sleeps in poll (tinyd then wakes it).
    pub idle: AtomicU32,
    /// 1 while tinyd waits for room in a ring (the writer then wakes it).
    pub waiting: AtomicU32,
    /// Bumped by tinyd on SIGHUP: the writer reopens every file.
    pub reopen: AtomicU32,
    /// Small, and together: both sides look at every ring's header, and
    /// the pages they fill are the only ones touched for rings never used.
    pub heads: [Header; LOG_RINGS],
    /// Each ring's file, read only when its target changes.
    pub paths: [[AtomicU8; PATH_MAX]; LOG_RINGS],
    pub data: [Bytes; LOG_RINGS],
}

impl Area {
    /// A new area, all zero (no targets, empty rings). Its pages are
    /// touched only as rings are used.
    pub fn map() -> Result<&'static Area, Errno> {
        let len = core::mem::size_of::<Area>();
        // SAFETY: a new anonymous mapping aliases nothing. All-zero bytes
        // are a valid `Area` (atomics and bytes only), and the mapping is
        // never unmapped, so the reference lives for the process (and is
        // inherited by the writer at fork).
        unsafe {
            let p = rustix::mm::mmap_anonymous(
                core::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )?;
            Ok(&*p.cast::<Area>())
        }
    }
}
