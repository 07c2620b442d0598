//! Go's `time.RFC3339Nano` (trailing zeros of the fraction trimmed), without a date library.

use core::fmt::Write;

use crate::query::translate::time::{NS_PER_D, NS_PER_S, civil_from_days};

/// `YYYY-MM-DDTHH:MM:SS` of a wall-clock nanosecond count, and its sub-second nanoseconds.
pub(crate) fn civil(ns: i64) -> (String, i64) {
    let days = ns.div_euclid(NS_PER_D);
    let rem = ns.rem_euclid(NS_PER_D);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / NS_PER_S;
    let mut s = String::with_capacity(35);
    let _ = write!(
        s,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    (s, rem % NS_PER_S)
}

/// `.123456789` with trailing zeros removed, nothing for a whole second.
fn push_trimmed_fraction(s: &mut String, frac: i64) {
    if frac == 0 {
        return;
    }
    let digits = format!("{frac:09}");
    s.push('.');
    s.push_str(digits.trim_end_matches('0'));
}

/// `2006-01-02T15:04:05.999999999Z` as Go prints `time.Time` in JSON.
pub fn format_rfc3339_nano(ns: i64) -> String {
    let (mut s, frac) = civil(ns);
    push_trimmed_fraction(&mut s, frac);
    s.push('Z');
    s
}

/// The same in a fixed offset (seconds east of UTC): `2006-01-02T10:04:05-05:00`, `Z` for 0.
pub fn format_rfc3339_offset(ns: i64, offset_secs: i32) -> String {
    if offset_secs == 0 {
        return format_rfc3339_nano(ns);
    }
    let local = ns.saturating_add(i64::from(offset_secs) * NS_PER_S);
    let (mut s, frac) = civil(local);
    push_trimmed_fraction(&mut s, frac);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let off = offset_secs.unsigned_abs();
    let _ = write!(s, "{sign}{:02}:{:02}", off / 3600, off / 60 % 60);
    s
}

/// Arrow's display of a timestamp: `2006-01-02T15:04:05` plus `.fff`, `.ffffff` or
/// `.fffffffff` when there is a fraction (chrono's `%.f`), `Z` when `utc`.
pub(crate) fn format_arrow_timestamp(ns: i64, utc: bool) -> String {
    let (mut s, frac) = civil(ns);
    if frac != 0 {
        if frac % 1_000_000 == 0 {
            let _ = write!(s, ".{:03}", frac / 1_000_000);
        } else if frac % 1_000 == 0 {
            let _ = write!(s, ".{:06}", frac / 1_000);
        } else {
            let _ = write!(s, ".{frac:09}");
        }
    }
    if utc {
        s.push('Z');
    }
    s
}
