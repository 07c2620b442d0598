//! `influxgate`: the native server, the line-protocol importer and the InfluxQL translator.
#![allow(clippy::disallowed_methods)] // the host is where clocks, files and threads live

mod export;
mod import;
mod metrics;
mod playground;
mod server;
mod tokens;
mod translate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// mimalloc instead of glibc's malloc: a profile of the mean() query had a fifth of the server's
// CPU in malloc/free (DataFusion and Arrow allocate per batch, the write path per request).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "influxgate",
    version,
    about = "InfluxDB-compatible edge gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server (InfluxDB v1/v2 write API, /ping, /health, /metrics).
    Serve(server::ServeArgs),
    /// Import line-protocol files (plain or .gz) into a running server.
    Write(import::WriteArgs),
    /// Print every stored point (WAL + Parquet) as JSON lines or line protocol.
    Export(export::ExportArgs),
    /// Translate InfluxQL to the SQL influxgate runs, with its shaping plan.
    Translate(translate::TranslateArgs),
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    keep_freed_memory_longer();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => server::run(args),
        Command::Write(args) => import::run(args),
        Command::Export(args) => export::run(args),
        Command::Translate(args) => translate::run(args),
    }
}

/// mimalloc asks for transparent huge pages; memory it returned to the OS and faults in again
/// then costs the kernel zeroing a whole 2 MiB page (4% of a mean() query's server CPU, in
/// `clear_page_erms`, for answers of a few KiB). 4 KiB pages fault in only what is touched.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and only sets a process flag.
    let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if r != 0 {
        eprintln!("note: could not disable transparent huge pages (prctl returned {r})");
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() {}

/// mimalloc's `purge_delay` option (its position in mimalloc 3's `mi_option_t`, which the
/// bindings do not name).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed longer than this ago goes back to the OS. mimalloc's default (1 s) is about one
/// persist cycle under sustained ingest: the buffer's memory was returned after each persist and
/// faulted in again by the next requests (12-17 page faults per 1,000-line request, against 8
/// when kept; 2-3% of the server's CPU). `MIMALLOC_PURGE_DELAY` in the environment still wins.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

#[allow(unsafe_code)]
fn keep_freed_memory_longer() {
    // mimalloc read its options from the environment when the process loaded.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one integer option (in range: the bindings' `_mi_option_last` is larger);
    // mimalloc takes the value at its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}

/// Default data directory, relative to where the server starts.
pub(crate) fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

#[cfg(test)]
mod tests {
    #[test]
    #[allow(unsafe_code)]
    fn purge_delay_is_the_option_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads an option in range.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        // Only purge_delay defaults to 1,000 in mimalloc 3: the index names the right option.
        assert_eq!(get(), 1000);
        super::keep_freed_memory_longer();
        assert_eq!(get(), super::PURGE_DELAY_MS);
    }
}
