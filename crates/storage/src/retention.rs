//! Retention: whole files whose day lies entirely before `now - period` are deleted.

use std::sync::atomic::Ordering;

use crate::Inner;
use crate::error::Result;
use crate::layout::NANOS_PER_DAY;
use crate::persist::FileMeta;

/// Now, in nanoseconds since the epoch.
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, duration_ns)
}

/// `d` in nanoseconds, saturating.
pub(crate) fn duration_ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Whether a file of `day` is expired at `now_ns` under `period_ns`.
pub fn expired(day: i64, now_ns: i64, period_ns: i64) -> bool {
    (day + 1).saturating_mul(NANOS_PER_DAY) <= now_ns.saturating_sub(period_ns)
}

/// Drop expired files from the index and bury them for deletion; returns how many.
pub(crate) async fn enforce(inner: &Inner, now_ns: i64) -> Result<usize> {
    let _guard = inner.maintenance.lock().await;
    let catalog = inner.catalog.snapshot();
    let doomed: Vec<FileMeta> = {
        let mut files = inner.files.write().expect("files lock");
        let mut doomed = Vec::new();
        for ((db, _), v) in files.iter_mut() {
            let Some(period) = inner.retention_of(&catalog, db) else {
                continue;
            };
            let period_ns = duration_ns(period);
            v.retain(|f| {
                let gone = expired(f.day, now_ns, period_ns);
                if gone {
                    doomed.push(f.clone());
                }
                !gone
            });
        }
        // Only a change of the index may invalidate kept query plans.
        if !doomed.is_empty() {
            inner.files_version.fetch_add(1, Ordering::AcqRel);
        }
        doomed
    };
    inner.graveyard.bury(doomed.iter().map(|f| f.path.clone()));
    inner.sweep(false).await;
    inner
        .metrics
        .retention_deleted_files
        .fetch_add(doomed.len() as u64, Ordering::Relaxed);
    Ok(doomed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_days_only() {
        let day = NANOS_PER_DAY;
        // period 1 day, now = day 10 + 1h: day 8 ended before day 9 + 1h → expired; day 9 not.
        let now = 10 * day + 3_600_000_000_000;
        assert!(expired(8, now, day));
        assert!(!expired(9, now, day));
        assert!(!expired(10, now, day));
        assert!(!expired(0, now, i64::MAX));
    }
}
