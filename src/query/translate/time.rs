//! Time literals without a clock or a date library: RFC3339 parsing and printing in UTC,
//! nanosecond arithmetic that saturates instead of overflowing.

/// Nanoseconds in one unit.
pub const NS_PER_US: i64 = 1_000;
pub const NS_PER_MS: i64 = 1_000_000;
pub const NS_PER_S: i64 = 1_000_000_000;
pub const NS_PER_M: i64 = 60 * NS_PER_S;
pub const NS_PER_H: i64 = 60 * NS_PER_M;
pub const NS_PER_D: i64 = 24 * NS_PER_H;
pub const NS_PER_W: i64 = 7 * NS_PER_D;

/// InfluxDB's smallest and largest valid timestamps (`models.MinNanoTime`/`MaxNanoTime`).
pub const MIN_TIME: i64 = i64::MIN + 2;
pub const MAX_TIME: i64 = i64::MAX - 1;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (Howard
/// Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s[..n].iter().fold(0, |a, c| a * 10 + u32::from(c - b'0')))
}

/// Parses the time strings InfluxQL accepts: `2006-01-02`, `2006-01-02 15:04:05[.nnn]`,
/// `2006-01-02T15:04:05[.nnn](Z|±hh:mm)`. A string without an offset is UTC (InfluxDB reads
/// it in the query's tz(), which the caller applies).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let year = digits(b, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(&b[5..], 2)?;
    let day = digits(&b[8..], 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let mut ns = 0i64;
    let mut rest = &b[10..];
    if let Some((&sep, r)) = rest.split_first() {
        if sep != b'T' && sep != b' ' {
            return None;
        }
        let h = digits(r, 2)?;
        if r.get(2) != Some(&b':') {
            return None;
        }
        let mi = digits(&r[3..], 2)?;
        if r.get(5) != Some(&b':') {
            return None;
        }
        let sec = digits(&r[6..], 2)?;
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        ns = (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec)) * NS_PER_S;
        rest = &r[8..];
        if let Some(frac) = rest.strip_prefix(b".") {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return None;
            }
            let v = i64::from(digits(frac, n)?);
            ns += v * 10i64.pow(9 - n as u32);
            rest = &frac[n..];
        }
        match rest {
            [] | [b'Z'] | [b'z'] => {}
            [sign @ (b'+' | b'-'), r @ ..] => {
                let oh = digits(r, 2)?;
                let om = match r.get(2) {
                    Some(b':') => digits(&r[3..], 2)?,
                    None => 0,
                    _ => digits(&r[2..], 2)?,
                };
                let off = (i64::from(oh) * 3600 + i64::from(om) * 60) * NS_PER_S;
                ns -= if *sign == b'+' { off } else { -off };
            }
            _ => return None,
        }
    }
    days.checked_mul(NS_PER_D)?.checked_add(ns)
}

/// `2006-01-02T15:04:05.999999999Z` with trailing zeros of the fraction removed, as InfluxDB
/// prints times (Go's `time.RFC3339Nano`).
pub fn format_rfc3339(ns: i64) -> String {
    let days = ns.div_euclid(NS_PER_D);
    let rem = ns.rem_euclid(NS_PER_D);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / NS_PER_S;
    let frac = rem % NS_PER_S;
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// A duration the way InfluxQL prints it: the largest unit that divides it (`10m`, `1h`, `90s`).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    for (unit, n) in [
        ("w", NS_PER_W),
        ("d", NS_PER_D),
        ("h", NS_PER_H),
        ("m", NS_PER_M),
        ("s", NS_PER_S),
        ("ms", NS_PER_MS),
        ("u", NS_PER_US),
    ] {
        if ns % n == 0 {
            return format!("{}{unit}", ns / n);
        }
    }
    format!("{ns}ns")
}

/// A Go-style duration (`168h0m0s`), as SHOW RETENTION POLICIES prints them.
pub fn format_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let s = ns / NS_PER_S;
    format!("{}h{}m{}s", s / 3600, s / 60 % 60, s % 60)
}

/// The SQL interval text for a bucket width, in the largest whole unit.
pub fn sql_interval(ns: i64) -> String {
    for (unit, n) in [
        ("days", NS_PER_D),
        ("hours", NS_PER_H),
        ("minutes", NS_PER_M),
        ("seconds", NS_PER_S),
        ("milliseconds", NS_PER_MS),
        ("microseconds", NS_PER_US),
    ] {
        if ns % n == 0 {
            return format!("{} {unit}", ns / n);
        }
    }
    format!("{ns} nanoseconds")
}

/// Start of the bucket holding `t` for buckets of width `every` shifted by `offset`, aligned to
/// the Unix epoch like InfluxDB's `GROUP BY time(every, offset)`.
pub fn bucket_start(t: i64, every: i64, offset: i64) -> i64 {
    let o = offset.rem_euclid(every);
    t.saturating_sub((t.saturating_sub(o)).rem_euclid(every))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2020-02-29T23:59:59.123456789Z",
            "1969-12-31T23:59:59.5Z",
            "2262-04-11T23:47:16.854775807Z",
        ] {
            let ns = parse_rfc3339(s).unwrap();
            assert_eq!(format_rfc3339(ns), s);
        }
        assert_eq!(parse_rfc3339("2020-01-01"), Some(1_577_836_800 * NS_PER_S));
        assert_eq!(
            parse_rfc3339("2020-01-01T01:00:00+01:00"),
            Some(1_577_836_800 * NS_PER_S)
        );
        assert_eq!(parse_rfc3339("2020-13-01"), None);
        assert_eq!(parse_rfc3339("nope"), None);
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket_start(65, 10, 0), 60);
        assert_eq!(bucket_start(-5, 10, 0), -10);
        assert_eq!(bucket_start(65, 10, 3), 63);
        assert_eq!(bucket_start(62, 10, -7), 53);
    }
}
