//! Timestamp precision: parsing the `precision` parameter and scaling timestamps to ns.

/// The unit of the timestamps in a write body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

impl Precision {
    /// Nanoseconds per unit.
    pub fn multiplier(self) -> i64 {
        match self {
            Precision::Nanoseconds => 1,
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
            Precision::Minutes => 60_000_000_000,
            Precision::Hours => 3_600_000_000_000,
        }
    }

    /// A written timestamp in this unit as ns since the epoch, or `None` if it overflows i64.
    pub fn to_nanos(self, ts: i64) -> Option<i64> {
        ts.checked_mul(self.multiplier())
    }

    /// `now` (ns) truncated to this precision, as InfluxDB does for points without a timestamp.
    pub fn truncate(self, now_ns: i64) -> i64 {
        let m = self.multiplier();
        now_ns - now_ns.rem_euclid(m)
    }

    /// The v1 `/write` spelling: `ns n us u µ ms s m h` (InfluxDB 1.x accepts `n`, `u` and `µ`).
    pub fn parse_v1(s: &str) -> Option<Self> {
        Some(match s {
            "ns" | "n" => Precision::Nanoseconds,
            "us" | "u" | "µ" | "µs" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => return None,
        })
    }

    /// The v2 `/api/v2/write` spelling: `ns us ms s` (and `m`/`h`, which 2.x clients never send
    /// but 1.x-style tools do; accepting them breaks nobody).
    pub fn parse_v2(s: &str) -> Option<Self> {
        Some(match s {
            "ns" => Precision::Nanoseconds,
            "us" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "ns",
            Precision::Microseconds => "us",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
            Precision::Minutes => "m",
            Precision::Hours => "h",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_detects_overflow() {
        assert_eq!(Precision::Seconds.to_nanos(2), Some(2_000_000_000));
        assert_eq!(Precision::Hours.to_nanos(-1), Some(-3_600_000_000_000));
        assert_eq!(Precision::Seconds.to_nanos(i64::MAX / 10), None);
        assert_eq!(Precision::Nanoseconds.to_nanos(i64::MIN), Some(i64::MIN));
    }

    #[test]
    fn truncates_now_towards_the_past() {
        assert_eq!(Precision::Seconds.truncate(1_999_999_999), 1_000_000_000);
        assert_eq!(Precision::Seconds.truncate(-1), -1_000_000_000);
        assert_eq!(Precision::Nanoseconds.truncate(17), 17);
    }

    #[test]
    fn spellings() {
        assert_eq!(Precision::parse_v1("u"), Some(Precision::Microseconds));
        assert_eq!(Precision::parse_v1("µ"), Some(Precision::Microseconds));
        assert_eq!(Precision::parse_v1("n"), Some(Precision::Nanoseconds));
        assert_eq!(Precision::parse_v2("u"), None);
        assert_eq!(Precision::parse_v2("x"), None);
    }
}
