//! The persist path's CPU: deduplicate + sort a table's buffered write batches, then encode them
//! as Parquet, as `persist_snapshot` does.
//!
//! `cargo bench -p influxgate-storage --bench persist -- --warm-up-time 1 --measurement-time 5`
//!
//! The buffer is what a load run leaves: `REQUESTS` write requests of `LINES` lines, each parsed
//! by the core into one batch per measurement (the rows of one request share a timestamp range;
//! 100 hosts, so series repeat across requests). `dedup_sort_4_writers` interleaves four writers
//! over the same time range, as concurrent clients do.

use std::hint::black_box;

use arrow::array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use influxgate::schema::EmptySchema;
use influxgate::write::batch::build;
use influxgate::write::precision::Precision;
use influxgate_storage::ParquetCodec;
use influxgate_storage::merge::dedup_sort;
use influxgate_storage::persist::encode_parquet;

const REQUESTS: usize = 100;
const LINES: usize = 1000;

/// One request's body: cpu lines (3 tags, 4 floats) and disk lines (5 tags, ints and a float).
/// Request `n` comes from writer `n % writers`; the requests of concurrent writers cover the
/// same time range, so with several a series' times do not ascend in write order.
fn request(n: usize, writers: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for i in 0..LINES {
        let step = ((n / writers) * LINES + i) * writers + n % writers;
        let t = 1_700_000_000_000_000_000 + step as i64 * 1_000_000;
        let host = (n * 7 + i) % 100;
        let x = ((n * 31 + i * 17) % 1000) as f64 / 8.0;
        if i % 2 == 0 {
            let _ = writeln!(
                s,
                "cpu,cpu=cpu{},host=h{host:03},dc=eu-1 user={x},system={},idle={},steal=0 {t}",
                i % 8,
                x / 3.0,
                100.0 - x
            );
        } else {
            let _ = writeln!(
                s,
                "disk,device=sd{},fstype=xfs,host=h{host:03},mode=rw,path=/v{} used={}i,free={}i,pct={x} {t}",
                i % 3,
                i % 3,
                i * 4096,
                (n * i) as u64 + (1 << 33),
            );
        }
    }
    s
}

/// The buffered batches of each table, oldest first.
fn buffer(writers: usize) -> Vec<(String, Vec<RecordBatch>)> {
    let mut tables: Vec<(String, Vec<RecordBatch>)> = Vec::new();
    for n in 0..REQUESTS {
        let parsed = build(
            &request(n, writers),
            "db",
            Precision::Nanoseconds,
            0,
            &EmptySchema,
            10,
        );
        assert_eq!(parsed.accepted, LINES, "{:?}", parsed.rejected);
        for tb in parsed.batches {
            match tables.iter_mut().find(|(m, _)| *m == tb.measurement) {
                Some((_, b)) => b.push(tb.batch),
                None => tables.push((tb.measurement, vec![tb.batch])),
            }
        }
    }
    tables
}

fn persist(c: &mut Criterion) {
    let tables = buffer(1);
    let interleaved = buffer(4);
    let sorted: Vec<RecordBatch> = tables
        .iter()
        .map(|(_, b)| dedup_sort(b, None).unwrap().unwrap())
        .collect();
    let mut g = c.benchmark_group("persist");
    g.throughput(Throughput::Elements((REQUESTS * LINES) as u64));
    g.bench_function("dedup_sort", |b| {
        b.iter(|| {
            for (_, batches) in &tables {
                black_box(dedup_sort(black_box(batches), None).unwrap());
            }
        })
    });
    g.bench_function("dedup_sort_4_writers", |b| {
        b.iter(|| {
            for (_, batches) in &interleaved {
                black_box(dedup_sort(black_box(batches), None).unwrap());
            }
        })
    });
    g.bench_function("encode_parquet_lz4", |b| {
        b.iter(|| {
            for batch in &sorted {
                black_box(encode_parquet(black_box(batch), ParquetCodec::Lz4).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, persist);
criterion_main!(benches);
