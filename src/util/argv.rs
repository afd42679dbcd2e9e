//! argv and envp as the kernel laid them out on the initial stack: read in
//! place, never copied (COMMAND's words go to execve as argv's tail).

use core::ffi::CStr;

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
