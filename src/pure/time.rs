//! Time as the supervisor sees it. A point on CLOCK_MONOTONIC ([`Instant`])
//! and a length of time ([`Ms`]) are different types, so that one can never
//! be passed for the other; "no deadline" is `Option::None` and nothing
//! else (no `0` meaning "now", no `u64::MAX` meaning "never").
//!
//! Pure: it never reads the clock (`sys::now` does).

use core::ops::Add;

/// A point in time: milliseconds of CLOCK_MONOTONIC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub struct Instant(u64);

/// A length of time in milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub struct Ms(pub u64);

impl Instant {
    /// The clock's origin (boot): the first thing that can be due.
    pub const ZERO: Instant = Instant(0);

    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    pub const fn millis(self) -> u64 {
        self.0
    }

    /// How long after `earlier` this is (zero if it is not after it).
    pub const fn since(self, earlier: Instant) -> Ms {
        Ms(self.0.saturating_sub(earlier.0))
    }

    /// How long until `later` (zero once it has passed).
    pub const fn until(self, later: Instant) -> Ms {
        later.since(self)
    }
}

impl Add<Ms> for Instant {
    type Output = Instant;
    fn add(self, d: Ms) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl Add for Ms {
    type Output = Ms;
    fn add(self, d: Ms) -> Ms {
        Ms(self.0.saturating_add(d.0))
    }
}

impl Ms {
    pub const ZERO: Ms = Ms(0);

    pub const fn secs(s: u64) -> Ms {
        Ms(s.saturating_mul(1000))
    }

    /// Twice as long (saturating).
    pub const fn double(self) -> Ms {
        Ms(self.0.saturating_mul(2))
    }
}

/// The earlier of two optional deadlines (`None`: no deadline).
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_never_goes_negative() {
        let t = Instant::from_millis(1000);
        assert_eq!(t + Ms(500), Instant::from_millis(1500));
        assert_eq!(
            Instant::from_millis(u64::MAX) + Ms(1),
            Instant::from_millis(u64::MAX)
        );
        assert_eq!(t.since(Instant::from_millis(2000)), Ms::ZERO);
        assert_eq!(t.until(Instant::from_millis(2500)), Ms(1500));
        assert_eq!(Ms::secs(3), Ms(3000));
    }

    #[test]
    fn none_is_no_deadline() {
        let a = Some(Instant::from_millis(5));
        assert_eq!(earliest(a, None), a);
        assert_eq!(earliest(None, a), a);
        assert_eq!(earliest(None, None), None);
        assert_eq!(earliest(a, Some(Instant::ZERO)), Some(Instant::ZERO));
    }
}
