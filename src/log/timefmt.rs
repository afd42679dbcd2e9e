//! Wall-clock formatting without libc: UTC only (there is no `localtime`),
//! civil dates computed from days since the epoch.

use crate::util::buf::Buf;

/// A UTC date and time.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
}

/// Converts seconds since 1970-01-01T00:00:00Z to a UTC date (Howard
/// Hinnant's `civil_from_days`).
pub fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
    }
}

/// Appends an RFC 3339 UTC timestamp with milliseconds:
/// `2026-11-25T11:23:34.123Z`.
pub fn rfc3339<const N: usize>(out: &mut Buf<N>, secs: i64, millis: u32) {
    let c = civil(secs);
    out.pad(c.year.max(0) as u64, 4)
        .s(b"-")
        .pad(c.month as u64, 2)
        .s(b"-");
    out.pad(c.day as u64, 2)
        .s(b"T")
        .pad(c.hour as u64, 2)
        .s(b":");
    out.pad(c.min as u64, 2)
        .s(b":")
        .pad(c.sec as u64, 2)
        .s(b".");
    out.pad(millis as u64, 3).s(b"Z");
}

/// Appends an RFC 3164 timestamp: `Nov 25 11:23:34` (day space-padded).
pub fn rfc3164<const N: usize>(out: &mut Buf<N>, secs: i64) {
    const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
    let c = civil(secs);
    let m = (c.month as usize - 1) * 3;
    out.s(&MONTHS[m..m + 3]).s(b" ");
    if c.day < 10 {
        out.s(b" ");
    }
    out.u(c.day as u64).s(b" ").pad(c.hour as u64, 2).s(b":");
    out.pad(c.min as u64, 2).s(b":").pad(c.sec as u64, 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(secs: i64, ms: u32) -> std::string::String {
        let mut b = Buf::<40>::new();
        rfc3339(&mut b, secs, ms);
        std::string::String::from_utf8(b.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(stamp(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(stamp(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(stamp(1_795_605_814, 123), "2026-11-25T11:23:34.123Z");
        assert_eq!(stamp(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
        assert_eq!(stamp(-1, 0), "1969-12-31T23:59:59.000Z");
    }

    #[test]
    fn every_day_of_four_centuries_is_consecutive() {
        // 1970..2370: the day after each date is the next calendar date.
        let mut prev = civil(0);
        for d in 1..146_097 {
            let c = civil(d * 86400);
            let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let mdays = [
                31,
                if leap(prev.year) { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            if prev.day < mdays[prev.month as usize - 1] {
                assert_eq!(
                    (c.year, c.month, c.day),
                    (prev.year, prev.month, prev.day + 1)
                );
            } else if prev.month < 12 {
                assert_eq!((c.year, c.month, c.day), (prev.year, prev.month + 1, 1));
            } else {
                assert_eq!((c.year, c.month, c.day), (prev.year + 1, 1, 1));
            }
            prev = c;
        }
    }

    #[test]
    fn syslog_stamp() {
        let mut b = Buf::<20>::new();
        rfc3164(&mut b, 1_795_605_814);
        assert_eq!(b.as_bytes(), b"Nov 25 11:23:34");
        b.clear();
        rfc3164(&mut b, 1_767_225_600 + 3661); // 2026-01-01T01:01:01
        assert_eq!(b.as_bytes(), b"Jan  1 01:01:01");
    }
}
