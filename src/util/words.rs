//! A command's words (or a list of NAME=VALUE strings), stored back to
//! back as NUL-terminated strings, as execve wants them.

use core::ffi::CStr;

/// A command and its arguments: `count` NUL-terminated words stored one
/// after the other in `bytes` (`w1\0w2\0...wn\0`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Words<'a> {
    pub bytes: &'a [u8],
    pub count: usize,
}

impl<'a> Words<'a> {
    pub const EMPTY: Words<'static> = Words {
        bytes: b"",
        count: 0,
    };
    pub fn iter(&self) -> WordIter<'a> {
        WordIter {
            rest: self.bytes,
            left: self.count,
        }
    }
    /// The command itself (the first word), `c""` if there is none.
    pub fn first(&self) -> &'a CStr {
        self.iter().next().unwrap_or(c"")
    }
}

/// The words of a `Words`, in order.
pub struct WordIter<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for WordIter<'a> {
    type Item = &'a CStr;
    fn next(&mut self) -> Option<&'a CStr> {
        if self.left == 0 {
            return None;
        }
        let word = CStr::from_bytes_until_nul(self.rest).ok()?;
        self.rest = self.rest.get(word.to_bytes().len() + 1..).unwrap_or(b"");
        self.left -= 1;
        Some(word)
    }
}
