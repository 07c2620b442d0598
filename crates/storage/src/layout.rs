//! Where things live on the object store.
//!
//! ```text
//! <prefix>/<db>/<table>/<YYYY-MM-DD>/<seq:020>-<uuid>.parquet   data files
//! <prefix>/_catalog.json                                         catalog mirror
//! ```
//!
//! `<db>` and `<table>` are single path segments, percent-encoded the way `object_store` encodes a
//! path part (`/` → `%2F`, `%` → `%25`, …), so `mydb/rp` is stored as `mydb%2Frp`. `<seq>` orders
//! files by the age of the writes they hold: a higher sequence holds later writes. Compaction
//! outputs take the highest sequence of their inputs.

use influxgate::query::translate::time::{civil_from_days, days_from_civil};
use object_store::path::{Path, PathPart};

/// Nanoseconds per day.
pub const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// The catalog mirror's name under the prefix.
pub const CATALOG_OBJECT: &str = "_catalog.json";

/// Day number (days since 1970-01-01, UTC) of a nanosecond timestamp.
pub fn day_of(time_ns: i64) -> i64 {
    time_ns.div_euclid(NANOS_PER_DAY)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Day number of a `YYYY-MM-DD` string.
pub fn parse_day(s: &str) -> Option<i64> {
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || s.len() != 10 {
        return None;
    }
    let day = days_from_civil(y, m, d);
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

/// The directory of a table's files.
pub fn table_dir(prefix: &Path, database: &str, table: &str) -> Path {
    prefix.clone().join(database).join(table)
}

/// The path of a data file.
pub fn file_path(prefix: &Path, database: &str, table: &str, day: i64, seq: u64, id: &str) -> Path {
    table_dir(prefix, database, table)
        .join(format_day(day).as_str())
        .join(format!("{seq:020}-{id}.parquet"))
}

/// The catalog mirror's path.
pub fn catalog_path(prefix: &Path) -> Path {
    prefix.clone().join(CATALOG_OBJECT)
}

/// A data file's identity, parsed back from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPath {
    pub database: String,
    pub table: String,
    pub day: i64,
    pub seq: u64,
}

/// Parse `<prefix>/<db>/<table>/<day>/<seq>-<id>.parquet`; `None` for anything else.
pub fn parse_file_path(prefix: &Path, path: &Path) -> Option<ParsedPath> {
    let parts: Vec<PathPart<'_>> = path.prefix_match(prefix)?.collect();
    let [db, table, day, file] = parts.as_slice() else {
        return None;
    };
    let file = file.as_ref();
    let stem = file.strip_suffix(".parquet")?;
    let (seq, _id) = stem.split_once('-')?;
    Some(ParsedPath {
        database: decode_part(db.as_ref())?,
        table: decode_part(table.as_ref())?,
        day: parse_day(day.as_ref())?,
        seq: seq.parse().ok()?,
    })
}

/// Undo `PathPart`'s percent-encoding.
pub fn decode_part(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(format_day(-1), "1969-12-31");
        assert_eq!(format_day(19_723), "2024-01-01");
        assert_eq!(format_day(day_of(1_709_164_800_000_000_000)), "2024-02-29");
        for d in [-106_751, -1, 0, 59, 60, 11_016, 19_782, 2_932_896] {
            assert_eq!(parse_day(&format_day(d)), Some(d));
        }
        assert_eq!(day_of(-1), -1);
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("2023-2-2"), None);
    }

    #[test]
    fn paths_round_trip() {
        let prefix = Path::from("base/dir");
        let p = file_path(&prefix, "db/rp", "cpu load%", 19_723, 42, "abc");
        assert_eq!(
            p.as_ref(),
            "base/dir/db%2Frp/cpu load%25/2024-01-01/00000000000000000042-abc.parquet"
        );
        assert_eq!(
            parse_file_path(&prefix, &p),
            Some(ParsedPath {
                database: "db/rp".into(),
                table: "cpu load%".into(),
                day: 19_723,
                seq: 42
            })
        );
        assert_eq!(parse_file_path(&prefix, &catalog_path(&prefix)), None);
        let root = Path::default();
        let p = file_path(&root, "db", "t", 0, 1, "x");
        assert_eq!(p.as_ref(), "db/t/1970-01-01/00000000000000000001-x.parquet");
        assert!(parse_file_path(&root, &p).is_some());
    }
}
