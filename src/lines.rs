//! Splitting a byte stream into lines in a fixed buffer.
//!
//! Bytes are read straight into [`LineBuf::spare`]; [`LineBuf::commit`]
//! hands out each complete line, and a line longer than the buffer is handed
//! out in pieces of the buffer's size. Used for COMMAND's output and for
//! reading /etc/passwd and /etc/group.

/// One piece of the stream: a line without its newline, and whether it is a
/// whole line (started at a line start and ended by a newline or the end).
pub struct Piece<'a> {
    pub text: &'a [u8],
    pub whole: bool,
}

/// A line splitter over a buffer it borrows (a service's buffer comes from
/// a static pool; passwd reading uses one on the stack).
pub struct LineBuf<'b> {
    buf: &'b mut [u8],
    len: usize,
    /// The bytes in `buf` continue a line already partly handed out.
    continued: bool,
}

impl<'b> LineBuf<'b> {
    /// `buf` must not be empty.
    pub fn new(buf: &'b mut [u8]) -> Self {
        LineBuf {
            buf,
            len: 0,
            continued: false,
        }
    }

    /// Gives the buffer back.
    pub fn into_buf(self) -> &'b mut [u8] {
        self.buf
    }

    /// Where to read the next bytes into (never empty).
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// Takes `n` bytes just read into `spare()` and hands out every complete
    /// line, and the whole buffer if it is full without a newline.
    pub fn commit(&mut self, n: usize, mut emit: impl FnMut(Piece<'_>)) {
        let cap = self.buf.len();
        let scan_from = self.len;
        self.len += n.min(cap - self.len);
        let mut start = 0;
        let mut i = scan_from;
        while i < self.len {
            if self.buf[i] == b'\n' {
                emit(Piece {
                    text: &self.buf[start..i],
                    whole: !self.continued,
                });
                self.continued = false;
                start = i + 1;
            }
            i += 1;
        }
        if start == 0 && self.len == cap {
            emit(Piece {
                text: &self.buf[..cap],
                whole: false,
            });
            self.continued = true;
            self.len = 0;
            return;
        }
        self.buf.copy_within(start..self.len, 0);
        self.len -= start;
    }

    /// Hands out the partial line left at the end of the stream, if any.
    pub fn flush(&mut self, mut emit: impl FnMut(Piece<'_>)) {
        if self.len > 0 {
            emit(Piece {
                text: &self.buf[..self.len],
                whole: !self.continued,
            });
        }
        self.len = 0;
        self.continued = false;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Feeds `chunks` through a LineBuf<N>, collecting (text, whole).
    fn feed<const N: usize>(chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut storage = [0u8; N];
        let mut lb = LineBuf::new(&mut storage);
        let mut out = Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            while !rest.is_empty() {
                let spare = lb.spare();
                let n = spare.len().min(rest.len());
                spare[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
                lb.commit(n, |p| out.push((p.text.to_vec(), p.whole)));
            }
        }
        lb.flush(|p| out.push((p.text.to_vec(), p.whole)));
        out
    }

    #[test]
    fn lines_across_chunks() {
        let out = feed::<16>(&[b"ab", b"c\nde", b"\n\nf"]);
        let want: Vec<(Vec<u8>, bool)> = std::vec![
            (b"abc".to_vec(), true),
            (b"de".to_vec(), true),
            (b"".to_vec(), true),
            (b"f".to_vec(), true),
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn long_lines_are_split_and_nothing_is_lost() {
        let out = feed::<4>(&[b"0123456789\nxy\n"]);
        let texts: Vec<&[u8]> = out.iter().map(|(t, _)| t.as_slice()).collect();
        assert_eq!(texts, [&b"0123"[..], b"4567", b"89", b"xy"]);
        assert_eq!(
            out.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
            [false, false, false, true]
        );
    }

    #[test]
    fn exact_fit_line() {
        let out = feed::<4>(&[b"abcd", b"\n", b"e\n"]);
        let texts: Vec<&[u8]> = out.iter().map(|(t, _)| t.as_slice()).collect();
        // "abcd" fills the buffer and goes out as a piece; the newline then
        // ends that line with an empty remainder.
        assert_eq!(texts, [&b"abcd"[..], b"", b"e"]);
        assert!(out[2].1);
    }

    #[test]
    fn every_byte_comes_out_once() {
        // Random-ish stream, split at every chunk size: the concatenation
        // of pieces plus newlines for whole-line ends equals the input.
        let input: Vec<u8> = (0..500u32)
            .map(|i| {
                if i % 37 == 0 {
                    b'\n'
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect();
        for size in 1..40 {
            let chunks: Vec<&[u8]> = input.chunks(size).collect();
            let out = feed::<8>(&chunks);
            let total: usize = out.iter().map(|(t, _)| t.len()).sum();
            let newlines = input.iter().filter(|&&c| c == b'\n').count();
            assert_eq!(total + newlines, input.len(), "chunk size {size}");
        }
    }
}
