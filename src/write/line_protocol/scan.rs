//! Byte classes and the hot scanning loops, shared by the parser and the encoder.
//!
//! One 256-entry table gives every byte its classes as bit flags, so each inner loop is a single
//! table lookup and test per byte, with no branches on the byte value itself.

/// Ends a measurement name: `,` ` `, a backslash (maybe an escape) or a control character.
pub(super) const MEAS_STOP: u8 = 1;
/// Ends a tag key, tag value or field key: `,` `=` ` `, a backslash or a control character.
pub(super) const KEY_STOP: u8 = 2;
/// May follow a backslash in a measurement: `,` ` `.
pub(super) const MEAS_ESC: u8 = 4;
/// May follow a backslash in a tag key, tag value or field key: `,` `=` ` `.
pub(super) const KEY_ESC: u8 = 8;
/// Ends an unquoted field value or a timestamp: `,` ` ` `\n` `\r`.
pub(super) const VALUE_END: u8 = 16;
/// Interesting inside a quoted string: `"` and `\`.
pub(super) const STR_STOP: u8 = 32;
/// ASCII control characters (0..=31 and 127), never allowed in names.
pub(super) const CONTROL: u8 = 64;

const fn build() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        if b < 32 || b == 127 {
            t[b] |= MEAS_STOP | KEY_STOP | CONTROL;
        }
        b += 1;
    }
    t[b',' as usize] |= MEAS_STOP | KEY_STOP | MEAS_ESC | KEY_ESC | VALUE_END;
    t[b' ' as usize] |= MEAS_STOP | KEY_STOP | MEAS_ESC | KEY_ESC | VALUE_END;
    t[b'=' as usize] |= KEY_STOP | KEY_ESC;
    t[b'\\' as usize] |= MEAS_STOP | KEY_STOP | STR_STOP;
    t[b'"' as usize] |= STR_STOP;
    t[b'\n' as usize] |= VALUE_END;
    t[b'\r' as usize] |= VALUE_END;
    t
}

pub(super) static CLASS: [u8; 256] = build();

/// Whether `a == b`, for the short names and tag values of line protocol, without a call to
/// `memcmp`: up to 16 bytes are compared as two overlapping words. Comparing names per line (the
/// previous line's layout, the table, duplicate keys) through libc's `memcmp` was ~8% of the
/// server's CPU under write load (profiled).
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

#[inline(always)]
fn word4(s: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&s[at..at + 4]);
    u32::from_ne_bytes(w)
}

#[inline(always)]
fn word8(s: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_ne_bytes(w)
}

#[inline(always)]
pub(super) fn is(b: u8, class: u8) -> bool {
    CLASS[b as usize] & class != 0
}

/// Length of the leading run of bytes that are not in `class`.
#[inline(always)]
pub(super) fn run_until(i: &[u8], class: u8) -> usize {
    // Unrolled by 4: names and values are short, but the common case is several plain bytes.
    let mut p = 0;
    while p + 4 <= i.len() {
        if is(i[p], class) {
            return p;
        }
        if is(i[p + 1], class) {
            return p + 1;
        }
        if is(i[p + 2], class) {
            return p + 2;
        }
        if is(i[p + 3], class) {
            return p + 3;
        }
        p += 4;
    }
    while p < i.len() && !is(i[p], class) {
        p += 1;
    }
    p
}

/// Scans an escaped name (measurement: `stop = MEAS_STOP, esc = MEAS_ESC`; keys and tag values:
/// `KEY_STOP, KEY_ESC`). Returns its raw length and whether it holds an escape to undo.
///
/// A backslash before an escapable byte is an escape; any other backslash is a literal byte and
/// scanning goes on with the byte after it (so `\\ ` is a literal backslash then an escaped space,
/// as in InfluxData's reference decoder).
#[inline(always)]
pub(super) fn scan_name(i: &[u8], stop: u8, esc: u8) -> (usize, bool) {
    let mut p = 0;
    let mut escaped = false;
    loop {
        p += run_until(&i[p..], stop);
        if p < i.len() && i[p] == b'\\' {
            if p + 1 < i.len() && is(i[p + 1], esc) {
                escaped = true;
                p += 2;
            } else {
                p += 1;
            }
            continue;
        }
        return (p, escaped);
    }
}

/// Undoes the escapes of a raw name scanned by [`scan_name`] with the same `esc` class.
pub(super) fn unescape_name(raw: &str, esc: u8) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut seg = 0;
    let mut p = 0;
    while p < b.len() {
        if b[p] == b'\\' && p + 1 < b.len() && is(b[p + 1], esc) {
            out.push_str(&raw[seg..p]);
            seg = p + 1; // keep the escaped byte, drop the backslash
            p += 2;
        } else {
            p += 1;
        }
    }
    out.push_str(&raw[seg..]);
    out
}

/// Undoes `\"` and `\\` in a string field's raw content; other backslashes stay.
pub(super) fn unescape_string(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut seg = 0;
    let mut p = 0;
    while p < b.len() {
        if b[p] == b'\\' && p + 1 < b.len() && (b[p + 1] == b'"' || b[p + 1] == b'\\') {
            out.push_str(&raw[seg..p]);
            seg = p + 1;
            p += 2;
        } else {
            p += 1;
        }
    }
    out.push_str(&raw[seg..]);
    out
}

/// The value of eight ASCII digits, `None` if any byte is not a digit. SWAR: the bytes as one
/// little-endian word, combined pairwise (digits, then pairs, then quads) with three multiplies
/// instead of eight dependent multiply-adds.
#[inline(always)]
fn eight_digits(chunk: &[u8; 8]) -> Option<u64> {
    const LANES: u64 = 0x0101_0101_0101_0101;
    let w = u64::from_le_bytes(*chunk);
    let x = w.wrapping_sub(LANES * b'0' as u64);
    // A byte below '0' borrows and one above '9' carries with +0x46 (or has its top bit set
    // already): either way some byte's top bit ends up set. Digits alone neither borrow nor carry.
    if (x | w.wrapping_add(LANES * 0x46)) & (LANES * 0x80) != 0 {
        return None;
    }
    // Each byte's value times 10 plus the next's: two-digit values in the even bytes.
    let pairs = x.wrapping_mul(10).wrapping_add(x >> 8);
    const LOW: u64 = 0x0000_00FF_0000_00FF;
    let quads = (pairs & LOW)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((pairs >> 16) & LOW).wrapping_mul(1 + (10_000 << 32)));
    Some(quads >> 32)
}

/// Parses unsigned decimal digits (at least one, nothing else) with overflow detection.
#[inline(always)]
pub(super) fn parse_digits(d: &[u8]) -> Option<u64> {
    if d.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    if d.len() <= 19 {
        // 19 digits cannot overflow u64: no checked arithmetic needed. Eight at a time first
        // (a nanosecond timestamp is 19 digits: two words and three bytes).
        let mut d = d;
        while let Some((chunk, rest)) = d.split_first_chunk::<8>() {
            v = v * 100_000_000 + eight_digits(chunk)?;
            d = rest;
        }
        for &c in d {
            let x = c.wrapping_sub(b'0');
            if x > 9 {
                return None;
            }
            v = v * 10 + u64::from(x);
        }
        return Some(v);
    }
    let mut overflow = false;
    for &c in d {
        let x = c.wrapping_sub(b'0');
        if x > 9 {
            return None;
        }
        match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(x))) {
            Some(n) => v = n,
            None => overflow = true,
        }
    }
    // Syntax errors take precedence over range errors; the caller tells them apart with
    // `all_digits`.
    if overflow { None } else { Some(v) }
}

pub(super) fn all_digits(d: &[u8]) -> bool {
    !d.is_empty() && d.iter().all(u8::is_ascii_digit)
}

/// Parses `-?digits` as an i64. `Err(true)` means well-formed but out of range.
#[inline(always)]
pub(super) fn parse_i64(t: &[u8]) -> Result<i64, bool> {
    let (neg, d) = match t.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, t),
    };
    match parse_digits(d) {
        Some(v) if neg => 0i64.checked_sub_unsigned(v).ok_or(true),
        Some(v) => i64::try_from(v).map_err(|_| true),
        None => Err(all_digits(d)),
    }
}

/// `-?digits[.digits]` with at most 15 digits in all, as an f64; `None` for anything else
/// (exponents, longer mantissas, bad syntax), which the caller parses the general way. Exact:
/// the digits as an integer and the power of ten are both exact f64s, and one IEEE division
/// rounds correctly (Clinger's fast path), so the result equals `str::parse`.
#[inline(always)]
pub(super) fn parse_short_float(t: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (neg, d) = match t.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, t),
    };
    let mut m: u64 = 0;
    let mut digits = 0usize;
    let mut frac: Option<usize> = None;
    for (k, &c) in d.iter().enumerate() {
        let x = c.wrapping_sub(b'0');
        if x <= 9 {
            m = m * 10 + u64::from(x);
            digits += 1;
            if digits > 15 {
                return None;
            }
        } else if c == b'.' && frac.is_none() {
            frac = Some(k + 1);
        } else {
            return None;
        }
    }
    if digits == 0 {
        return None;
    }
    let scale = frac.map_or(0, |start| d.len() - start);
    let v = m as f64 / POW10[scale];
    Some(if neg { -v } else { v })
}

/// Whether `t` is a decimal float as InfluxDB writes and accepts it:
/// `-? (digits (. digits*)? | . digits) ([eE] [+-]? digits)?`.
#[inline(always)]
pub(super) fn is_float_syntax(t: &[u8]) -> bool {
    let mut p = usize::from(t.first() == Some(&b'-'));
    let int_start = p;
    while p < t.len() && t[p].is_ascii_digit() {
        p += 1;
    }
    let mut digits = p - int_start;
    if p < t.len() && t[p] == b'.' {
        p += 1;
        let frac_start = p;
        while p < t.len() && t[p].is_ascii_digit() {
            p += 1;
        }
        digits += p - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if p < t.len() && (t[p] | 0x20) == b'e' {
        p += 1;
        if p < t.len() && (t[p] == b'+' || t[p] == b'-') {
            p += 1;
        }
        let exp_start = p;
        while p < t.len() && t[p].is_ascii_digit() {
            p += 1;
        }
        if p == exp_start {
            return false;
        }
    }
    p == t.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classes() {
        assert!(is(b',', MEAS_STOP) && is(b' ', KEY_STOP) && is(b'=', KEY_STOP));
        assert!(
            !is(b'=', MEAS_STOP),
            "= is an ordinary byte in a measurement"
        );
        assert!(is(b'\t', CONTROL) && is(0x7f, CONTROL) && !is(0x80, CONTROL));
        assert!(is(b'\r', VALUE_END) && !is(b'i', VALUE_END));
    }

    #[test]
    fn short_floats() {
        for (t, want) in [
            ("1", 1.0f64),
            ("-0", -0.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("007.10", 7.1),
            ("123456789012345", 123456789012345.0),
            ("0.1", 0.1),
            ("-2.71875", -2.71875),
        ] {
            let got = parse_short_float(t.as_bytes()).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{t}");
        }
        for t in [
            "",
            ".",
            "-",
            "1.2.3",
            "1e5",
            "1234567890123456",
            "+1",
            "1x",
            "--1",
        ] {
            assert_eq!(parse_short_float(t.as_bytes()), None, "{t}");
        }
    }

    proptest::proptest! {
        /// The fast path agrees with the standard library bit for bit wherever it answers.
        #[test]
        fn short_floats_match_std(int in "-?[0-9]{0,9}", frac in proptest::option::of("[0-9]{0,9}")) {
            let t = match &frac { Some(f) => format!("{int}.{f}"), None => int.clone() };
            if let Some(v) = parse_short_float(t.as_bytes()) {
                let std: f64 = t.parse().unwrap();
                proptest::prop_assert_eq!(v.to_bits(), std.to_bits(), "{}", t);
            } else {
                proptest::prop_assert!(
                    !is_float_syntax(t.as_bytes()) || t.bytes().filter(u8::is_ascii_digit).count() > 15
                );
            }
        }
    }

    #[test]
    fn names() {
        assert_eq!(scan_name(b"cpu,host=a", MEAS_STOP, MEAS_ESC), (3, false));
        assert_eq!(scan_name(br"c\ pu x", MEAS_STOP, MEAS_ESC), (5, true));
        assert_eq!(scan_name(br"c\=u x", MEAS_STOP, MEAS_ESC), (4, false));
        assert_eq!(scan_name(br"a\\ b c", KEY_STOP, KEY_ESC), (5, true));
        assert_eq!(scan_name(br"ab\", KEY_STOP, KEY_ESC), (3, false));
        assert_eq!(unescape_name(r"a\\ b\x\=", KEY_ESC), r"a\ b\x=");
        assert_eq!(unescape_name(r"a\=b", MEAS_ESC), r"a\=b");
        assert_eq!(unescape_string(r#"a\"b\\c\nd\"#), "a\"b\\c\\nd\\");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), Err(true));
        assert_eq!(parse_i64(b"99999999999999999999999"), Err(true));
        assert_eq!(parse_i64(b"1x"), Err(false));
        assert_eq!(parse_i64(b"-"), Err(false));
        assert_eq!(parse_digits(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_digits(b"18446744073709551616"), None);
        for ok in ["1", "1.", ".5", "-1.5e-3", "1E5", "1e+5", "-0", "007.10"] {
            assert!(is_float_syntax(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", ".", "-", "1.2.3", "1e", "1e+", "+1", "NaN", "inf", "0x10", "1_0", "1e5.0",
        ] {
            assert!(!is_float_syntax(bad.as_bytes()), "{bad}");
        }
    }

    proptest! {
        /// Digit runs of every length up to 22 (and one stray byte anywhere) parse as
        /// `str::parse::<u64>` does.
        #[test]
        fn parse_digits_is_str_parse(v in any::<u64>(), len in 1usize..23, stray in any::<(prop::sample::Index, u8)>()) {
            let mut t = format!("{v:022}").into_bytes();
            t.drain(..22 - len);
            prop_assert_eq!(parse_digits(&t), std::str::from_utf8(&t).unwrap().parse::<u64>().ok());
            let at = stray.0.index(t.len());
            t[at] = stray.1;
            let expected = std::str::from_utf8(&t).ok().and_then(|s| s.parse::<u64>().ok()).filter(|_| t[0] != b'+');
            prop_assert_eq!(parse_digits(&t), expected);
        }

        /// `same` agrees with `==` for every length class, equal or differing in one byte.
        #[test]
        fn same_is_equality(a in proptest::collection::vec(any::<u8>(), 0..40), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
            prop_assert!(same(&a, &a.clone()));
            if !a.is_empty() {
                let mut b = a.clone();
                b[flip.index(a.len())] ^= 1 << bit;
                prop_assert!(!same(&a, &b));
            }
            let mut longer = a.clone();
            longer.push(0);
            prop_assert_eq!(same(&a, &longer), false);
        }
    }
}
