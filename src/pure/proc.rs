//! What the kernel says in `/proc/self/status`, parsed: the signals a new
//! process starts with ignored (`SigIgn:`), so that tinyd resets those and
//! not every signal one by one. Pure: the caller reads the file.

/// The `SigIgn:` mask of a `/proc/PID/status` text: bit `n - 1` for signal
/// `n` (64 signals, 128 on MIPS: up to 32 hex digits). `None` when the line
/// is missing or not what the kernel writes (the caller then resets every
/// signal).
pub fn sig_ignored(status: &[u8]) -> Option<u128> {
    // Whole lines only: a read may have cut the last one.
    let whole = &status[..status.iter().rposition(|&c| c == b'\n')?];
    let line = whole
        .split(|&c| c == b'\n')
        .find_map(|l| l.strip_prefix(b"SigIgn:"))?;
    let hex = line.strip_prefix(b"\t")?;
    if hex.is_empty() || hex.len() > 32 {
        return None;
    }
    hex.iter().try_fold(0u128, |m, &c| {
        let d = (c as char).to_digit(16)?;
        Some(m << 4 | d as u128)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernel_s_line() {
        let text = b"Name:\tsh\nState:\tS (sleeping)\nSigQ:\t0/63344\n\
                     SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
                     SigBlk:\t0000000000010000\nSigIgn:\t0000000000380004\n\
                     SigCgt:\t000000004b817efb\nCapInh:\t0000000000000000\n";
        // SIGQUIT (3), SIGTSTP (20), SIGTTIN (21), SIGTTOU (22).
        assert_eq!(
            sig_ignored(text),
            Some(1 << 2 | 1 << 19 | 1 << 20 | 1 << 21)
        );
        assert_eq!(sig_ignored(b"SigIgn:\t0000000000000000\n"), Some(0));
        // MIPS: 128 signals, 32 digits.
        let mips = b"SigIgn:\t80000000000000000000000000000001\n";
        assert_eq!(sig_ignored(mips), Some(1 << 127 | 1));
    }

    #[test]
    fn anything_else_is_none() {
        for bad in [
            &b""[..],
            b"Name:\tsh\n",
            b"SigIgn:\n",
            b"SigIgn:\t\n",
            b"SigIgn: 0000000000000001\n",
            b"SigIgn:\t00000000000000g1\n",
            b"SigIgn:\t000000000000000000000000000000001\n",
            b"XSigIgn:\t0000000000000001\n",
            // Cut by the read before its newline: maybe not all digits.
            b"Name:\tsh\nSigIgn:\t00000000000",
        ] {
            assert_eq!(sig_ignored(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
