//! A fixed-capacity byte buffer for building messages and paths without an
//! allocator. Appends that do not fit are cut off, never a panic.

use rustix::io::Errno;

#[derive(Clone, Copy)]
pub struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Buf<N> {
    pub const fn new() -> Self {
        Buf {
            bytes: [0; N],
            len: 0,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// Whether everything appended so far fitted.
    pub fn room(&self) -> usize {
        N - self.len
    }
    /// Appends bytes, cutting off what does not fit.
    pub fn s(&mut self, s: &[u8]) -> &mut Self {
        push(&mut self.bytes, &mut self.len, s);
        self
    }
    /// Appends an unsigned decimal number.
    pub fn u(&mut self, v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let n = decimal(v, &mut tmp);
        self.s(&tmp[20 - n..])
    }
    /// Appends a signed decimal number.
    pub fn i(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.s(b"-");
        }
        self.u(v.unsigned_abs())
    }
    /// Appends `v` as exactly `width` digits (at most 20), zero-padded.
    pub fn pad(&mut self, v: u64, width: usize) -> &mut Self {
        let mut tmp = [0u8; 20];
        let w = padded(v, width, &mut tmp);
        self.s(&tmp[..w])
    }
    /// Appends milliseconds as seconds with up to three decimals ("1.5").
    pub fn secs(&mut self, ms: u64) -> &mut Self {
        let mut tmp = [0u8; 24];
        let n = seconds(ms, &mut tmp);
        self.s(&tmp[..n])
    }
    /// Appends the text of an error number ("no such file or directory").
    pub fn err(&mut self, e: Errno) -> &mut Self {
        let mut tmp = [0u8; 40];
        let n = errno_text(e, &mut tmp);
        self.s(&tmp[..n])
    }
}

// The work is done by these non-generic functions, so that each size of
// Buf does not get a copy of them.

#[inline(never)]
fn push(bytes: &mut [u8], len: &mut usize, s: &[u8]) {
    let n = s.len().min(bytes.len() - *len);
    bytes[*len..*len + n].copy_from_slice(&s[..n]);
    *len += n;
}

/// Writes `v` at the end of `tmp`; returns how many digits.
#[inline(never)]
fn decimal(mut v: u64, tmp: &mut [u8; 20]) -> usize {
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return tmp.len() - i;
        }
    }
}

#[inline(never)]
fn padded(mut v: u64, width: usize, tmp: &mut [u8; 20]) -> usize {
    let w = width.min(20);
    for i in (0..w).rev() {
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    w
}

#[inline(never)]
fn seconds(ms: u64, out: &mut [u8; 24]) -> usize {
    let mut tmp = [0u8; 20];
    let n = decimal(ms / 1000, &mut tmp);
    out[..n].copy_from_slice(&tmp[20 - n..]);
    let frac = ms % 1000;
    if frac == 0 {
        return n;
    }
    out[n] = b'.';
    padded(frac, 3, &mut tmp);
    let keep = tmp[..3]
        .iter()
        .rposition(|&c| c != b'0')
        .map_or(0, |p| p + 1);
    out[n + 1..n + 1 + keep].copy_from_slice(&tmp[..keep]);
    n + 1 + keep
}

#[inline(never)]
fn errno_text(e: Errno, out: &mut [u8; 40]) -> usize {
    let text = match reason(e) {
        Some(t) => t.as_bytes(),
        None => {
            out[..6].copy_from_slice(b"error ");
            let mut tmp = [0u8; 20];
            let n = decimal(e.raw_os_error().unsigned_abs() as u64, &mut tmp);
            out[6..6 + n].copy_from_slice(&tmp[20 - n..]);
            return 6 + n;
        }
    };
    let n = text.len().min(out.len());
    out[..n].copy_from_slice(&text[..n]);
    n
}

/// The usual text for the errors tinyd meets; `None` for the rest.
pub fn reason(e: Errno) -> Option<&'static str> {
    Some(match e {
        Errno::PERM => "operation not permitted",
        Errno::NOENT => "no such file or directory",
        Errno::SRCH => "no such process",
        Errno::INTR => "interrupted",
        Errno::IO => "input/output error",
        Errno::NOEXEC => "exec format error",
        Errno::BADF => "bad file descriptor",
        Errno::AGAIN => "resource temporarily unavailable",
        Errno::NOMEM => "out of memory",
        Errno::ACCESS => "permission denied",
        Errno::EXIST => "file exists",
        Errno::NOTDIR => "not a directory",
        Errno::ISDIR => "is a directory",
        Errno::INVAL => "invalid argument",
        Errno::NFILE | Errno::MFILE => "too many open files",
        Errno::TXTBSY => "text file busy",
        Errno::FBIG => "file too large",
        Errno::NOSPC => "no space left on device",
        Errno::ROFS => "read-only file system",
        Errno::PIPE => "broken pipe",
        Errno::NAMETOOLONG => "file name too long",
        Errno::NOSYS => "function not implemented",
        Errno::LOOP => "too many levels of symbolic links",
        Errno::CONNREFUSED => "connection refused",
        Errno::NOTSOCK => "not a socket",
        Errno::DQUOT => "disk quota exceeded",
        Errno::TOOBIG => "argument list too long",
        _ => return None,
    })
}

impl<const N: usize> Buf<N> {
    /// The contents as a C string (a NUL is appended); `None` if it does
    /// not fit or the contents hold a NUL.
    pub fn cstr(&mut self) -> Option<&core::ffi::CStr> {
        if self.len == N {
            return None;
        }
        self.bytes[self.len] = 0;
        core::ffi::CStr::from_bytes_with_nul(&self.bytes[..=self.len]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_truncation() {
        let mut b = Buf::<8>::new();
        b.u(0).s(b" ").i(-42).s(b"xyzzy");
        assert_eq!(b.as_bytes(), b"0 -42xyz");
        assert_eq!(b.room(), 0);
        let mut b = Buf::<32>::new();
        b.u(u64::MAX);
        assert_eq!(b.as_bytes(), b"18446744073709551615");
    }

    #[test]
    fn padding_and_seconds() {
        let mut b = Buf::<32>::new();
        b.pad(7, 3)
            .s(b" ")
            .secs(1500)
            .s(b" ")
            .secs(2000)
            .s(b" ")
            .secs(125)
            .s(b" ")
            .secs(0);
        assert_eq!(b.as_bytes(), b"007 1.5 2 0.125 0");
    }

    #[test]
    fn errno_text() {
        let mut b = Buf::<64>::new();
        b.err(Errno::NOENT)
            .s(b"; ")
            .err(Errno::from_raw_os_error(4000));
        assert_eq!(b.as_bytes(), b"no such file or directory; error 4000");
    }
}
