//! `influxgate write`: import line-protocol files into a running server, like `influx write`.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args, Debug)]
pub struct WriteArgs {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:8086")]
    pub host: String,
    /// Token with write permission on the database.
    #[arg(long, env = "INFLUXGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Database (v1 `db`; `db/rp` for a retention policy).
    #[arg(long)]
    pub db: String,
    /// Timestamp precision of the files: ns, us, ms, s, m, h.
    #[arg(long, default_value = "ns")]
    pub precision: String,
    /// Lines per request.
    #[arg(long, default_value_t = 5000)]
    pub batch_lines: usize,
    /// Line-protocol files, plain or gzip (.gz).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Default)]
struct Totals {
    accepted: u64,
    rejected: u64,
    requests: u64,
    errors: Vec<String>,
}

pub fn run(args: WriteArgs) -> ExitCode {
    match import(&args) {
        Ok(t) => {
            println!(
                "done: {} lines accepted, {} rejected, in {} requests",
                t.accepted, t.rejected, t.requests
            );
            for e in t.errors.iter().take(10) {
                println!("  {e}");
            }
            if t.rejected > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("influxgate write: {e}");
            ExitCode::FAILURE
        }
    }
}

fn open(path: &PathBuf) -> Result<(Box<dyn BufRead>, u64), String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok((Box::new(BufReader::with_capacity(1 << 20, reader)), len))
}

fn import(args: &WriteArgs) -> Result<Totals, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let (db, rp) = match args.db.split_once('/') {
        Some((d, r)) => (d, r),
        None => (args.db.as_str(), ""),
    };
    let url = format!("{}/write", args.host.trim_end_matches('/'));
    let total_bytes: u64 = args
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template("{bytes}/{total_bytes} {wide_bar} {msg}")
            .expect("valid template"),
    );
    let started = Instant::now();
    let mut totals = Totals::default();
    for path in &args.files {
        let (mut reader, _) = open(path)?;
        let mut batch = String::new();
        let mut lines = 0usize;
        let mut in_string = false;
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if n == 0 {
                break;
            }
            bar.inc(n as u64);
            in_string = ends_inside_string(&line, in_string);
            batch.push_str(&line);
            if !in_string {
                lines += 1;
                if lines >= args.batch_lines {
                    send(
                        &client,
                        &url,
                        db,
                        rp,
                        args,
                        &std::mem::take(&mut batch),
                        &mut totals,
                    )?;
                    lines = 0;
                    let secs = started.elapsed().as_secs_f64().max(1e-3);
                    bar.set_message(format!("{:.0} lines/s", totals.accepted as f64 / secs));
                }
            }
        }
        if !batch.trim().is_empty() {
            send(&client, &url, db, rp, args, &batch, &mut totals)?;
        }
    }
    bar.finish_and_clear();
    Ok(totals)
}

/// Whether a physical line leaves a quoted string field open (string fields may hold raw
/// newlines). Quotes count only in the field section, after the first unescaped space.
fn ends_inside_string(line: &str, mut in_string: bool) -> bool {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut in_fields = in_string;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b' ' if !in_fields => in_fields = true,
            b'"' if in_fields => in_string = !in_string,
            _ => {}
        }
        i += 1;
    }
    in_string
}

fn send(
    client: &reqwest::blocking::Client,
    url: &str,
    db: &str,
    rp: &str,
    args: &WriteArgs,
    body: &str,
    totals: &mut Totals,
) -> Result<(), String> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).map_err(|e| e.to_string())?;
    let gz = gz.finish().map_err(|e| e.to_string())?;
    let lines = body
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count() as u64;
    for attempt in 0..5u32 {
        let mut req = client
            .post(url)
            .query(&[
                ("db", db),
                ("rp", rp),
                ("precision", args.precision.as_str()),
            ])
            .header("Content-Encoding", "gzip")
            .body(gz.clone());
        if let Some(t) = &args.token {
            req = req.header("Authorization", format!("Token {t}"));
        }
        let resp = req
            .send()
            .map_err(|e| format!("request to {url} failed: {e}"))?;
        totals.requests += 1;
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let text = resp.text().unwrap_or_default();
        match status {
            204 => {
                totals.accepted += lines;
                return Ok(());
            }
            201 | 400 => {
                let rejected = rejected_count(&text).unwrap_or(lines);
                totals.rejected += rejected;
                totals.accepted += lines.saturating_sub(rejected);
                totals.errors.push(text.chars().take(300).collect());
                return Ok(());
            }
            429 | 503 => {
                std::thread::sleep(Duration::from_secs(retry.unwrap_or(1) << attempt.min(3)));
            }
            _ => return Err(format!("server answered {status}: {text}")),
        }
    }
    Err("server kept answering 429/503; giving up".to_string())
}

/// `N of M lines rejected` from the server's message.
fn rejected_count(body: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let msg = v["message"].as_str()?;
    let (before, _) = msg.split_once(" lines rejected")?;
    let (n, _) = before.rsplit_once(" of ")?;
    n.rsplit(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_spanning_lines() {
        assert!(!ends_inside_string("m v=1\n", false));
        assert!(ends_inside_string("m s=\"abc\n", false));
        assert!(!ends_inside_string("def\" 1\n", true));
        assert!(!ends_inside_string("m\\\"x,t=\"a v=\"q\\\"\" 1\n", false));
    }

    #[test]
    fn reads_rejected_counts() {
        let body = r#"{"code":"invalid","message":"partial write of line protocol occurred: 3 of 10 lines rejected, errors ..."}"#;
        assert_eq!(rejected_count(body), Some(3));
    }
}
