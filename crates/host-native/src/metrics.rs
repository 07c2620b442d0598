//! The gateway's own counters, exposed as Prometheus text on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the request latency histogram.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    pub lines_accepted: AtomicU64,
    pub lines_rejected: AtomicU64,
    pub bytes_in: AtomicU64,
    write_latency: Mutex<Histogram>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn request(&self, endpoint: &'static str, status: u16) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((endpoint, status))
            .or_default() += 1;
    }

    pub fn write_latency(&self, secs: f64) {
        let mut h = self.write_latency.lock().expect("metrics lock");
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Prometheus text exposition; `extra` is appended (the storage's own metrics).
    pub fn render(&self, extra: &str) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP influxgate_http_requests_total HTTP requests by endpoint and status.\n",
        );
        out.push_str("# TYPE influxgate_http_requests_total counter\n");
        for ((endpoint, status), n) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "influxgate_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
            );
        }
        for (name, help, v) in [
            (
                "influxgate_lines_accepted_total",
                "Line-protocol lines written.",
                &self.lines_accepted,
            ),
            (
                "influxgate_lines_rejected_total",
                "Line-protocol lines rejected.",
                &self.lines_rejected,
            ),
            (
                "influxgate_write_bytes_total",
                "Write request body bytes received.",
                &self.bytes_in,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let h = self.write_latency.lock().expect("metrics lock");
        let name = "influxgate_write_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Write request latency until the response (durable)."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, n) in LATENCY_BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum, h.count);
        out.push_str(extra);
        out
    }
}

/// The query engine's in-memory caches in Prometheus text: bytes of whole Parquet files and
/// of decoded columns held now (bounded by `--parquet-cache-bytes` / `--decoded-cache-bytes`).
pub fn cache_text(parquet_bytes: usize, decoded_bytes: usize) -> String {
    let mut out = String::new();
    for (name, help, v) in [
        (
            "influxgate_query_parquet_cache_bytes",
            "Bytes of whole Parquet files kept in memory for queries.",
            parquet_bytes,
        ),
        (
            "influxgate_query_decoded_cache_bytes",
            "Bytes of decoded columns kept in memory for queries.",
            decoded_bytes,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    out
}

/// The storage's metrics in Prometheus text.
pub fn storage_text(m: &influxgate_storage::StorageMetrics) -> String {
    let mut out = String::new();
    for (name, help, h) in [
        (
            "influxgate_wal_fsync_duration_seconds",
            "WAL group commit latency: its write and fsync (one per group commit).",
            &m.wal_fsync_seconds,
        ),
        (
            "influxgate_wal_commit_wait_seconds",
            "How long writes waited for their WAL group commit once their rows were ready.",
            &m.wal_commit_wait_seconds,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (le, n) in &h.buckets {
            let le = if le.is_infinite() {
                "+Inf".to_string()
            } else {
                le.to_string()
            };
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {}",
            h.sum_seconds, h.count
        );
    }
    for (name, kind, help, v) in [
        (
            "influxgate_wal_entries_total",
            "counter",
            "Write requests committed to the WAL.",
            m.wal_entries,
        ),
        (
            "influxgate_buffer_bytes",
            "gauge",
            "Bytes of unpersisted rows in memory.",
            m.buffer_bytes,
        ),
        (
            "influxgate_buffer_rows",
            "gauge",
            "Unpersisted rows in memory.",
            m.buffer_rows,
        ),
        (
            "influxgate_persisted_files_total",
            "counter",
            "Parquet files written by persists.",
            m.persisted_files,
        ),
        (
            "influxgate_persisted_rows_total",
            "counter",
            "Rows written to Parquet.",
            m.persisted_rows,
        ),
        (
            "influxgate_persist_errors_total",
            "counter",
            "Failed persist attempts.",
            m.persist_errors,
        ),
        (
            "influxgate_parquet_files",
            "gauge",
            "Parquet files in the store.",
            m.files,
        ),
        (
            "influxgate_compactions_total",
            "counter",
            "Compactions done.",
            m.compactions,
        ),
        (
            "influxgate_writes_rejected_overloaded_total",
            "counter",
            "Writes refused with 429.",
            m.rejected_overloaded,
        ),
        (
            "influxgate_writes_rejected_unavailable_total",
            "counter",
            "Writes refused with 503.",
            m.rejected_unavailable,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.request("write", 204);
        m.request("write", 204);
        m.lines_accepted.fetch_add(5, Ordering::Relaxed);
        m.write_latency(0.003);
        let text = m.render("");
        assert!(
            text.contains("influxgate_http_requests_total{endpoint=\"write\",status=\"204\"} 2")
        );
        assert!(text.contains("influxgate_lines_accepted_total 5"));
        assert!(text.contains("influxgate_write_duration_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("influxgate_write_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("influxgate_write_duration_seconds_count 1"));
    }

    #[test]
    fn renders_the_cache_gauges() {
        let text = Metrics::default().render(&cache_text(1234, 5678));
        assert!(text.contains("# TYPE influxgate_query_parquet_cache_bytes gauge\n"));
        assert!(text.contains("\ninfluxgate_query_parquet_cache_bytes 1234\n"));
        assert!(text.contains("\ninfluxgate_query_decoded_cache_bytes 5678\n"));
    }
}
