//! Write load generator for `bench/load.py`: N concurrent clients POST Telegraf-style batches of
//! line protocol to one URL for a bounded time and count, and report durable points/s and ack
//! latency percentiles as one JSON line. Every request carries fresh timestamps, so no server
//! can shortcut by deduplicating.
#![allow(clippy::disallowed_methods)]

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    /// Full write URL, e.g. http://127.0.0.1:8086/write?db=bench
    #[arg(long)]
    url: String,
    #[arg(long)]
    token: Option<String>,
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    #[arg(long)]
    gzip: bool,
    /// Stop after this many seconds...
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// ...or this many requests, whichever comes first.
    #[arg(long, default_value_t = 5000)]
    max_requests: u64,
}

const HOSTS: usize = 100;

/// One batch of Telegraf-like lines (cpu, mem, disk, net, diskio) at time `t0` + i.
fn body(batch: usize, t0: i64) -> String {
    let mut s = String::with_capacity(batch * 200);
    for i in 0..batch {
        let h = i % HOSTS;
        let t = t0 + i as i64;
        let v = (i * 7 % 100) as f64 + 0.25;
        use std::fmt::Write as _;
        let _ = match i % 5 {
            0 => writeln!(
                s,
                "cpu,cpu=cpu{},host=host{h},region=eu-west usage_user={v},usage_system={},usage_idle={},usage_iowait=0.5 {t}",
                i % 4,
                v / 2.0,
                100.0 - v
            ),
            1 => writeln!(
                s,
                "mem,host=host{h},region=eu-west used={}i,free={}i,used_percent={v},available_percent={} {t}",
                i * 1024,
                1 << 30,
                100.0 - v
            ),
            2 => writeln!(
                s,
                "disk,device=sda{},fstype=ext4,host=host{h},mode=rw,path=/data{} used={}i,free={}i,used_percent={v},inodes_used={}i {t}",
                i % 3,
                i % 3,
                i * 4096,
                1u64 << 34,
                i
            ),
            3 => writeln!(
                s,
                "net,host=host{h},interface=eth{} bytes_sent={}i,bytes_recv={}i,packets_sent={}i,packets_recv={}i,err_in=0i,err_out=0i {t}",
                i % 2,
                i * 1500,
                i * 3000,
                i,
                i * 2
            ),
            _ => writeln!(
                s,
                "diskio,host=host{h},name=sda{} reads={}i,writes={}i,read_bytes={}i,write_bytes={}i,io_time={}i {t}",
                i % 3,
                i,
                i * 2,
                i * 512,
                i * 1024,
                i % 1000
            ),
        };
    }
    s
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let base: i64 = 1_700_000_000_000_000_000;
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let client = client.clone();
        let sent = sent.clone();
        let url = args.url.clone();
        let token = args.token.clone();
        let (batch, gzip, max) = (args.batch, args.gzip, args.max_requests);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut n = 0i64;
            while Instant::now() < deadline {
                let seq = sent.fetch_add(1, Ordering::Relaxed);
                if seq >= max {
                    break;
                }
                // Distinct timestamps per request and worker.
                let t0 = base + (seq as i64) * 1_000_000 + worker as i64;
                let text = body(batch, t0);
                n += 1;
                let mut req = client.post(&url);
                let payload = if gzip {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(text.as_bytes()).expect("gzip");
                    req = req.header("Content-Encoding", "gzip");
                    e.finish().expect("gzip")
                } else {
                    text.into_bytes()
                };
                if let Some(t) = &token {
                    req = req.header("Authorization", format!("Token {t}"));
                }
                let t = Instant::now();
                match req.body(payload).send().await {
                    Ok(r) if r.status().as_u16() == 204 => latencies.push(t.elapsed()),
                    Ok(r) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!(
                                "status {}: {}",
                                r.status(),
                                r.text().await.unwrap_or_default()
                            );
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("error: {e}");
                        }
                    }
                }
            }
            let _ = n;
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("task");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    let ok = latencies.len() as f64;
    println!(
        "{}",
        serde_json::json!({
            "requests": latencies.len(),
            "errors": errors,
            "seconds": elapsed,
            "points_per_sec": ok * args.batch as f64 / elapsed,
            "p50_ms": pct(0.5),
            "p90_ms": pct(0.9),
            "p99_ms": pct(0.99),
            "mean_ms": latencies.iter().map(|d| d.as_secs_f64()).sum::<f64>() * 1000.0 / ok.max(1.0),
        })
    );
}
