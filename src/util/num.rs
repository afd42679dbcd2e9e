//! Parsing of the numbers users type: decimal counts, octal modes, sizes with
//! k/M suffixes, and durations in seconds with fractions. Pure functions,
//! `None` for anything malformed or out of range.

/// A plain decimal number, no sign, no spaces.
pub fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u64)
    })
}

/// An octal file mode mask, 0 to 0777 ("022", "0027").
pub fn octal_mask(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    let v = s.iter().try_fold(0u32, |acc, &c| {
        (b'0'..=b'7')
            .contains(&c)
            .then(|| acc * 8 + (c - b'0') as u32)
    })?;
    (v <= 0o777).then_some(v)
}

/// A size in bytes: "4096", "256k", "1M" (k = 1024, M = 1024²).
pub fn size(s: &[u8]) -> Option<u64> {
    let (digits, mult) = match s.last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1024),
        b'm' | b'M' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    decimal(digits)?.checked_mul(mult)
}

/// Seconds with an optional fraction ("5", "0.25", "1.5") as milliseconds.
/// Digits past the third decimal are ignored. At most a year.
pub fn millis(s: &[u8]) -> Option<u64> {
    let (whole, frac) = match s.iter().position(|&c| c == b'.') {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, &b""[..]),
    };
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let whole = if whole.is_empty() { 0 } else { decimal(whole)? };
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut ms = 0;
    for i in 0..3 {
        ms = ms * 10 + frac.get(i).map_or(0, |&c| (c - b'0') as u64);
    }
    let total = whole.checked_mul(1000)?.checked_add(ms)?;
    (total <= 365 * 24 * 3600 * 1000).then_some(total)
}

/// A restart delay, "MIN[:MAX]" in seconds, as milliseconds; MAX must not
/// be below MIN. MIN alone is a fixed delay: MAX is MIN, but at least the
/// state machine's floor (0.1 s), so that only an explicit `0:0` restarts
/// a crash loop at once every time.
pub fn millis_range(s: &[u8]) -> Option<(u64, u64)> {
    match s.iter().position(|&c| c == b':') {
        Some(colon) => {
            let (min, max) = (millis(&s[..colon])?, millis(&s[colon + 1..])?);
            (min <= max).then_some((min, max))
        }
        None => millis(s).map(|v| (v, v.max(crate::util::limits::DELAY_FLOOR))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(decimal(b"0"), Some(0));
        assert_eq!(decimal(b"123"), Some(123));
        assert_eq!(decimal(b""), None);
        assert_eq!(decimal(b"-1"), None);
        assert_eq!(decimal(b"1x"), None);
        assert_eq!(decimal(b"99999999999999999999"), None);
    }

    #[test]
    fn masks() {
        assert_eq!(octal_mask(b"022"), Some(0o22));
        assert_eq!(octal_mask(b"0777"), Some(0o777));
        assert_eq!(octal_mask(b"0"), Some(0));
        assert_eq!(octal_mask(b"8"), None);
        assert_eq!(octal_mask(b"1000"), None);
        assert_eq!(octal_mask(b""), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(size(b"1M"), Some(1 << 20));
        assert_eq!(size(b"256k"), Some(256 << 10));
        assert_eq!(size(b"100"), Some(100));
        assert_eq!(size(b"k"), None);
        assert_eq!(size(b"1G"), None);
        assert_eq!(size(b"9999999999999999999M"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(millis(b"5"), Some(5000));
        assert_eq!(millis(b"0.25"), Some(250));
        assert_eq!(millis(b".5"), Some(500));
        assert_eq!(millis(b"1."), Some(1000));
        assert_eq!(millis(b"1.23456"), Some(1234));
        assert_eq!(millis(b"."), None);
        assert_eq!(millis(b"1.x"), None);
        assert_eq!(millis(b"-1"), None);
        assert_eq!(millis(b"99999999"), None);
        assert_eq!(millis_range(b"1:60"), Some((1000, 60000)));
        assert_eq!(millis_range(b"0.1"), Some((100, 100)));
        assert_eq!(millis_range(b"5"), Some((5000, 5000)));
        // MIN alone below the floor: never a spinning crash loop; only an
        // explicit 0:0 is (issue 8, defect 8).
        assert_eq!(millis_range(b"0"), Some((0, 100)));
        assert_eq!(millis_range(b"0.05"), Some((50, 100)));
        assert_eq!(millis_range(b"0:0"), Some((0, 0)));
        assert_eq!(millis_range(b"5:1"), None);
        assert_eq!(millis_range(b"1:"), None);
    }
}
