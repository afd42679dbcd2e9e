//! Splitting a byte stream into lines in a fixed buffer.
//!
//! Bytes are read straight into [`LineBuf::spare`]; [`LineBuf::commit`]
//! hands out each complete line, and a line longer than the buffer is handed
//! out in pieces of the buffer's size (a newline right after a full piece
//! ends that line: it is not an empty line of its own). Used for COMMAND's
//! output and for reading /etc/passwd and /etc/group.

/// One piece of the stream: a line without its newline, and whether it is a
/// whole line (started at a line start and ended by a newline or the end).
pub struct Piece<'a> {
    pub text: &'a [u8],
    pub whole: bool,
    /// It starts a line (a full piece may too, without being whole).
    pub starts: bool,
}

/// A line splitter over a buffer it borrows (a service's buffer comes from
/// a static pool; passwd reading uses one on the stack).
///
/// The caller may refuse a piece (its `emit` returns false: no room for
/// it yet): the piece and everything after it stay in the buffer, `held`
/// says so, and [`LineBuf::resume`] hands them out again later. Nothing
/// more should be read in meanwhile (`spare` may be empty).
pub struct LineBuf<'b> {
    buf: &'b mut [u8],
    len: usize,
    /// The bytes in `buf` continue a line already partly handed out.
    continued: bool,
    /// A full buffer was just handed out: a newline as the next byte ends
    /// that line, and makes no empty piece.
    split: bool,
    /// A piece was refused: what is in the buffer waits for `resume`.
    held: bool,
}

impl<'b> LineBuf<'b> {
    /// `buf` must not be empty.
    pub fn new(buf: &'b mut [u8]) -> Self {
        LineBuf {
            buf,
            len: 0,
            continued: false,
            split: false,
            held: false,
        }
    }

    /// Gives the buffer back.
    pub fn into_buf(self) -> &'b mut [u8] {
        self.buf
    }

    /// Where to read the next bytes into (never empty unless `held`).
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// Whether a refused piece waits in the buffer.
    pub fn held(&self) -> bool {
        self.held
    }

    /// Takes `n` bytes just read into `spare()` and hands out every complete
    /// line, and the whole buffer if it is full without a newline. False
    /// when a piece was refused (see `held`).
    pub fn commit(&mut self, n: usize, emit: impl FnMut(Piece<'_>) -> bool) -> bool {
        let scan_from = self.len;
        self.len += n.min(self.buf.len() - self.len);
        self.scan(scan_from, emit)
    }

    /// Hands out again what a refused piece left in the buffer, from that
    /// piece on. False when a piece is refused again.
    pub fn resume(&mut self, emit: impl FnMut(Piece<'_>) -> bool) -> bool {
        !self.held || self.scan(0, emit)
    }

    /// Hands out the pieces of `buf[..len]`, newlines searched from `from`.
    fn scan(&mut self, from: usize, mut emit: impl FnMut(Piece<'_>) -> bool) -> bool {
        let cap = self.buf.len();
        let mut start = 0;
        let mut i = from;
        if self.split && self.len > 0 {
            // `split` leaves the buffer empty: this is the first new byte.
            self.split = false;
            if self.buf[0] == b'\n' {
                self.continued = false;
                start = 1;
                i = i.max(1);
            }
        }
        while i < self.len {
            if self.buf[i] == b'\n' {
                let piece = Piece {
                    text: &self.buf[start..i],
                    whole: !self.continued,
                    starts: !self.continued,
                };
                if !emit(piece) {
                    return self.keep(start, true);
                }
                self.continued = false;
                start = i + 1;
            }
            i += 1;
        }
        if start == 0 && self.len == cap {
            let piece = Piece {
                text: &self.buf[..cap],
                whole: false,
                starts: !self.continued,
            };
            if !emit(piece) {
                return self.keep(0, true);
            }
            self.continued = true;
            self.split = true;
            self.len = 0;
            self.held = false;
            return true;
        }
        self.keep(start, false)
    }

    /// Keeps `buf[start..len]` for later; returns `!held`.
    fn keep(&mut self, start: usize, held: bool) -> bool {
        self.buf.copy_within(start..self.len, 0);
        self.len -= start;
        self.held = held;
        !held
    }

    /// Hands out the partial line left at the end of the stream, if any.
    /// Nothing while a piece is held (false): the rest stays for `resume`.
    pub fn flush(&mut self, mut emit: impl FnMut(Piece<'_>) -> bool) -> bool {
        if self.held {
            return false;
        }
        if self.len > 0 {
            let piece = Piece {
                text: &self.buf[..self.len],
                whole: !self.continued,
                starts: !self.continued,
            };
            if !emit(piece) {
                self.held = true;
                return false;
            }
        }
        self.len = 0;
        self.continued = false;
        self.split = false;
        true
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
                lb.commit(n, |p| {
                    out.push((p.text.to_vec(), p.whole));
                    true
                });
            }
        }
        lb.flush(|p| {
            out.push((p.text.to_vec(), p.whole));
            true
        });
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
        // "abcd" fills the buffer and goes out as a piece; the newline then
        // ends that line, with no empty line after it (issue 8, defect 10),
        // whether it comes in the same read or later.
        for chunks in [&[&b"abcd"[..], b"\n", b"e\n"][..], &[b"abcd\ne\n"]] {
            let out = feed::<4>(chunks);
            let texts: Vec<&[u8]> = out.iter().map(|(t, _)| t.as_slice()).collect();
            assert_eq!(texts, [&b"abcd"[..], b"e"]);
            assert_eq!((out[0].1, out[1].1), (false, true));
        }
        // Twice the buffer, then a newline: two pieces. An empty line after
        // it is still one.
        let out = feed::<4>(&[b"abcdefgh\n\nx"]);
        let texts: Vec<&[u8]> = out.iter().map(|(t, _)| t.as_slice()).collect();
        assert_eq!(texts, [&b"abcd"[..], b"efgh", b"", b"x"]);
        assert!(out[2].1 && out[3].1);
    }

    #[test]
    fn every_byte_comes_out_once() {
        // A stream with lines of every length around the buffer's (8): at
        // every chunk size, the pieces give back the input, a newline after
        // each piece but a full one, and before a piece that starts a line
        // after a full one (the newline that ended it made no piece), as in
        // fuzz_targets/lines.rs.
        let mut input: Vec<u8> = Vec::new();
        for len in (0..20).chain([16, 24, 8, 8, 0, 7, 9]) {
            input.extend((0..len).map(|i| b'a' + (i % 26) as u8));
            input.push(b'\n');
        }
        for end in [&b""[..], b"12345678", b"123"] {
            let mut input = input.clone();
            input.extend_from_slice(end);
            for size in 1..40 {
                let mut storage = [0u8; 8];
                let mut lb = LineBuf::new(&mut storage);
                let mut back = Vec::new();
                let mut check = |p: Piece<'_>, flushed: bool| {
                    let full = p.text.len() == 8;
                    let starts_line = back.is_empty() || back.last() == Some(&b'\n');
                    if p.starts && !starts_line {
                        back.push(b'\n');
                    }
                    assert_eq!(p.starts, back.is_empty() || back.last() == Some(&b'\n'));
                    assert_eq!(p.whole, p.starts && !full, "chunk size {size}");
                    back.extend_from_slice(p.text);
                    if !full && !flushed {
                        back.push(b'\n');
                    }
                };
                for chunk in input.chunks(size) {
                    let mut rest = chunk;
                    while !rest.is_empty() {
                        let spare = lb.spare();
                        let n = spare.len().min(rest.len());
                        spare[..n].copy_from_slice(&rest[..n]);
                        rest = &rest[n..];
                        lb.commit(n, |p| {
                            check(p, false);
                            true
                        });
                    }
                }
                lb.flush(|p| {
                    check(p, true);
                    true
                });
                if input.ends_with(b"\n") && !back.ends_with(b"\n") {
                    back.push(b'\n'); // the newline after a last, full piece
                }
                assert_eq!(back, input, "chunk size {size}");
            }
        }
    }

    #[test]
    fn refused_pieces_come_back_unchanged() {
        // The same stream with pieces refused at random (and resumed before
        // anything more is read) gives the same pieces as without.
        let mut input: Vec<u8> = Vec::new();
        for len in (0..20).chain([16, 24, 8, 8, 0, 7, 9]) {
            input.extend((0..len).map(|i| b'a' + (i % 26) as u8));
            input.push(b'\n');
        }
        input.extend_from_slice(b"tail");
        let want = feed::<8>(&[&input]);
        for seed in 1..200u32 {
            let mut x = seed;
            let mut refuse = || {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x % 3 == 0
            };
            let mut storage = [0u8; 8];
            let mut lb = LineBuf::new(&mut storage);
            let mut got = Vec::new();
            for chunk in input.chunks(1 + seed as usize % 11) {
                let mut rest = chunk;
                while !rest.is_empty() {
                    while !lb.resume(|p| {
                        let ok = !refuse();
                        if ok {
                            got.push((p.text.to_vec(), p.whole));
                        }
                        ok
                    }) {}
                    let spare = lb.spare();
                    let n = spare.len().min(rest.len());
                    spare[..n].copy_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    lb.commit(n, |p| {
                        let ok = !refuse();
                        if ok {
                            got.push((p.text.to_vec(), p.whole));
                        }
                        ok
                    });
                }
            }
            while !lb.resume(|p| {
                got.push((p.text.to_vec(), p.whole));
                true
            }) {}
            lb.flush(|p| {
                got.push((p.text.to_vec(), p.whole));
                true
            });
            assert_eq!(got, want, "seed {seed}");
        }
    }
}
