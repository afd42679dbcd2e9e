//! argv and envp as the kernel laid them out on the initial stack: read in
//! place, never copied (COMMAND's words go to execve as argv's tail).

use core::ffi::CStr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// argv as the kernel laid it out: `len` pointers to NUL-terminated strings,
/// followed by a null pointer.
#[derive(Clone, Copy)]
pub struct Argv<'a> {
    ptrs: &'a [*const u8],
}

impl<'a> Argv<'a> {
    /// # Safety
    /// `argv` must point to `argc` valid pointers to NUL-terminated strings
    /// followed by a null pointer, all living and unchanged for `'a`.
    pub unsafe fn from_raw(argc: usize, argv: *const *const u8) -> Argv<'a> {
        // SAFETY: the caller guarantees argc readable pointers at argv.
        Argv {
            ptrs: unsafe { core::slice::from_raw_parts(argv, argc) },
        }
    }
    pub fn len(&self) -> usize {
        self.ptrs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ptrs.is_empty()
    }
    pub fn get(&self, i: usize) -> &'a CStr {
        // SAFETY: from_raw's contract: every pointer is a valid C string.
        unsafe { CStr::from_ptr(self.ptrs[i].cast()) }
    }
    /// The null-terminated pointer array from index `i` on, for execve.
    pub fn tail(&self, i: usize) -> *const *const u8 {
        self.ptrs[i..].as_ptr()
    }
}

/// Where argv's strings lie (start, length), for [`retitle`]; 0 until
/// [`Argv::keep_title_area`].
static TITLE_AT: AtomicUsize = AtomicUsize::new(0);
static TITLE_LEN: AtomicUsize = AtomicUsize::new(0);

impl Argv<'_> {
    /// Remembers where argv's strings lie (the kernel puts them one after
    /// the other), so that a child of tinyd can show another name in `ps`.
    pub fn keep_title_area(&self) {
        if self.is_empty() {
            return;
        }
        let first = self.ptrs[0] as usize;
        let last = self.get(self.len() - 1);
        let end = last.as_ptr() as usize + last.to_bytes_with_nul().len();
        TITLE_AT.store(first, Ordering::Relaxed);
        TITLE_LEN.store(end.saturating_sub(first), Ordering::Relaxed);
    }
}

/// Writes `name` over argv's strings and zeroes the rest, so that
/// /proc/PID/cmdline (what `ps` shows) is `name`. For a forked child of
/// tinyd that never execs and never reads argv again (the log writer).
pub fn retitle(name: &[u8]) {
    let (at, len) = (
        TITLE_AT.load(Ordering::Relaxed),
        TITLE_LEN.load(Ordering::Relaxed),
    );
    if at == 0 || len == 0 {
        return;
    }
    let n = name.len().min(len - 1);
    // SAFETY: `at..at + len` are argv's strings on the initial stack,
    // writable and alive for the whole process (`keep_title_area`). The
    // caller is a child that never reads argv again, so nothing sees the
    // strings change under a reference it uses.
    unsafe {
        let p = at as *mut u8;
        core::ptr::copy_nonoverlapping(name.as_ptr(), p, n);
        core::ptr::write_bytes(p.add(n), 0, len - n);
    }
}
