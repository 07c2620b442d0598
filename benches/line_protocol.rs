//! Line-protocol parsing throughput on realistic Telegraf-style input.
//!
//! `cargo bench -p influxgate --bench line_protocol -- --warm-up-time 1 --measurement-time 3`
//!
//! The input is generated deterministically (a fixed-seed LCG): the cpu, mem, disk, net and
//! diskio plugins' lines with their usual tags and 7-12 fields, 19-digit ns timestamps.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use influxgate::write::line_protocol::{FieldValue, parse_lines};

/// Number of lines in the benchmark body.
pub const LINES: usize = 20_000;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A float as Telegraf prints it (shortest round-trip form, often 15-17 digits).
    fn pct(&mut self) -> f64 {
        (self.next() as f64) / f64::from(u32::MAX) * 100.0
    }
}

/// A deterministic Telegraf-style body of `lines` lines.
pub fn telegraf_body(lines: usize) -> String {
    use std::fmt::Write as _;
    let mut r = Lcg(0x5eed);
    let hosts = [
        "web-01.prod.example.com",
        "web-02.prod.example.com",
        "db-01.prod.example.com",
        "cache-7",
    ];
    let mut out = String::with_capacity(lines * 260);
    let mut ts: i64 = 1_700_000_000_000_000_000;
    for n in 0..lines {
        let host = hosts[n / 5 % hosts.len()];
        ts += 1_000_000_000 * i64::from(n % 5 == 0);
        match n % 5 {
            0 => {
                let cpu = r.below(8);
                let _ = write!(out, "cpu,cpu=cpu{cpu},host={host} ");
                for (k, f) in [
                    "usage_guest",
                    "usage_guest_nice",
                    "usage_idle",
                    "usage_iowait",
                    "usage_irq",
                    "usage_nice",
                    "usage_softirq",
                    "usage_steal",
                    "usage_system",
                    "usage_user",
                ]
                .iter()
                .enumerate()
                {
                    let sep = if k == 0 { "" } else { "," };
                    let _ = write!(out, "{sep}{f}={}", r.pct());
                }
            }
            1 => {
                let total = 16_000_000_000u64;
                let used = r.below(total);
                let _ = write!(
                    out,
                    "mem,host={host} active={}i,available={}i,available_percent={},buffered={}i,cached={}i,free={}i,inactive={}i,slab={}i,total={total}i,used={used}i,used_percent={}",
                    r.below(total),
                    total - used,
                    r.pct(),
                    r.below(1 << 30),
                    r.below(1 << 33),
                    r.below(1 << 32),
                    r.below(1 << 32),
                    r.below(1 << 28),
                    used as f64 / total as f64 * 100.0
                );
            }
            2 => {
                let dev = ["nvme0n1p1", "nvme0n1p2", "sda1"][r.below(3) as usize];
                let path = ["/", "/var/lib/docker", "/boot"][r.below(3) as usize];
                let _ = write!(
                    out,
                    "disk,device={dev},fstype=ext4,host={host},mode=rw,path={path} free={}i,inodes_free={}i,inodes_total=6553600i,inodes_used={}i,total=105089261568i,used={}i,used_percent={}",
                    r.below(1 << 36),
                    r.below(6_553_600),
                    r.below(6_553_600),
                    r.below(1 << 36),
                    r.pct()
                );
            }
            3 => {
                let iface = ["eth0", "eth1", "lo", "docker0"][r.below(4) as usize];
                let _ = write!(
                    out,
                    "net,host={host},interface={iface} bytes_recv={}i,bytes_sent={}i,drop_in={}i,drop_out=0i,err_in=0i,err_out=0i,packets_recv={}i,packets_sent={}i",
                    r.next() * 1000,
                    r.next() * 1000,
                    r.below(100),
                    r.next(),
                    r.next()
                );
            }
            _ => {
                let name = ["nvme0n1", "sda", "sdb"][r.below(3) as usize];
                let _ = write!(
                    out,
                    "diskio,host={host},name={name} io_time={}i,iops_in_progress={}i,merged_reads={}i,merged_writes={}i,read_bytes={}i,read_time={}i,reads={}i,weighted_io_time={}i,write_bytes={}i,write_time={}i,writes={}i",
                    r.next(),
                    r.below(4),
                    r.below(1 << 20),
                    r.below(1 << 24),
                    r.next() * 512,
                    r.next(),
                    r.next(),
                    r.next(),
                    r.next() * 512,
                    r.next(),
                    r.next()
                );
            }
        }
        let _ = writeln!(out, " {ts}");
    }
    out
}

/// Iterates all points and touches every value, so nothing can be optimised away.
fn ours(body: &str) -> usize {
    let mut acc = 0usize;
    for line in parse_lines(body) {
        let line = line.expect("benchmark input is valid");
        acc += line.measurement.len() + line.tags.len();
        for (k, v) in &line.fields {
            acc += k.len();
            if let FieldValue::Integer(i) = v {
                acc = acc.wrapping_add(*i as usize);
            }
        }
    }
    acc
}

fn theirs(body: &str) -> usize {
    let mut acc = 0usize;
    for line in influxdb_line_protocol::parse_lines(body) {
        let line = line.expect("benchmark input is valid");
        acc += line.series.measurement.len() + line.series.tag_set.as_ref().map_or(0, |t| t.len());
        for (k, v) in &line.field_set {
            acc += k.len();
            if let influxdb_line_protocol::FieldValue::I64(i) = v {
                acc = acc.wrapping_add(*i as usize);
            }
        }
    }
    acc
}

fn parse_only(c: &mut Criterion) {
    let body = telegraf_body(LINES);
    assert_eq!(parse_lines(&body).count(), LINES);
    let mut g = c.benchmark_group("line_protocol");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("influxgate_parse_only", |b| {
        b.iter(|| ours(black_box(&body)))
    });
    g.bench_function("influxdb_line_protocol_crate", |b| {
        b.iter(|| theirs(black_box(&body)))
    });
    g.finish();
}

/// Parse + build the Arrow batches, as a write request does (empty host schema).
fn parse_and_batch(c: &mut Criterion) {
    let body = telegraf_body(LINES);
    let mut g = c.benchmark_group("line_protocol");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("influxgate_parse_and_batch", |b| {
        b.iter(|| {
            let parsed = influxgate::write::batch::build(
                black_box(&body),
                "bench",
                influxgate::write::precision::Precision::Nanoseconds,
                0,
                &influxgate::schema::EmptySchema,
                100,
            );
            assert_eq!(parsed.accepted, LINES);
            parsed.batches.len()
        })
    });
    // The same lines as 1,000-line requests: what per-request setup (builders, dictionaries,
    // finishing the batches) adds.
    let chunks: Vec<String> = body
        .lines()
        .collect::<Vec<_>>()
        .chunks(1000)
        .map(|c| c.join("\n"))
        .collect();
    g.bench_function("influxgate_parse_and_batch_1000_line_requests", |b| {
        b.iter(|| {
            let mut n = 0;
            for chunk in &chunks {
                let parsed = influxgate::write::batch::build(
                    black_box(chunk),
                    "bench",
                    influxgate::write::precision::Precision::Nanoseconds,
                    0,
                    &influxgate::schema::EmptySchema,
                    100,
                );
                n += parsed.accepted;
            }
            assert_eq!(n, LINES);
            n
        })
    });
    g.finish();
}

criterion_group!(benches, parse_only, parse_and_batch);
criterion_main!(benches);
