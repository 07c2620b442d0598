//! `influxgate serve`: the HTTP adapter around the core and the storage.
//!
//! Thin by design: collect the body with a cap, call `influxgate::handle` with the receive time,
//! make the returned batches durable, send the response the core prepared.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request as HttpRequest, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response as HttpResponse;
use bytes::Bytes;
use influxgate::query::params::V3Format;
use influxgate::query::run::Output;
use influxgate::query::translate::QuerySchema;
use influxgate::routes::{self, Api, Route};
use influxgate::{
    Action, ColumnType, Config, Error, FieldType, PendingWrite, Response, Schema, Staged,
    WritePlan, stage,
};
use influxgate_engine::{Engine, QueryLimits};
use influxgate_storage::{
    Catalog, DEFAULT_WAL_THREAD_NICE, ExpectedWrite, NewColumn, ParquetCodec, Storage,
    StorageConfig, StorageError,
};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};

use crate::metrics::Metrics;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8086", env = "INFLUXGATE_HTTP_BIND")]
    pub http_bind: SocketAddr,
    /// Local directory for the WAL, the catalog and (without --object-store) the Parquet files.
    #[arg(long, default_value_os_t = crate::default_data_dir(), env = "INFLUXGATE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Object store for Parquet files: file:///path, s3://bucket/prefix, gs://bucket, az://container.
    /// S3 reads the usual AWS_* variables; AWS_ENDPOINT (+ AWS_ALLOW_HTTP=true) for MinIO/R2.
    #[arg(long, env = "INFLUXGATE_OBJECT_STORE")]
    pub object_store: Option<String>,
    /// An admin token (read and write on every database).
    #[arg(long, env = "INFLUXGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// JSON file of tokens with per-database permissions (see README).
    #[arg(long, env = "INFLUXGATE_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Accept requests without any token. For local experiments only.
    #[arg(long)]
    pub without_auth: bool,
    /// Largest accepted request body, raw and after gzip inflation, in bytes.
    #[arg(long, default_value_t = influxgate::config::DEFAULT_MAX_BODY_BYTES, env = "INFLUXGATE_MAX_BODY_BYTES")]
    pub max_body_bytes: usize,
    /// Most bytes of unpersisted rows held in memory before writes get 429.
    #[arg(long, default_value_t = 512 * 1024 * 1024, env = "INFLUXGATE_BUFFER_LIMIT_BYTES")]
    pub buffer_limit_bytes: usize,
    /// Persist the buffer to Parquet when it holds this many bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024, env = "INFLUXGATE_PERSIST_BYTES")]
    pub persist_bytes: usize,
    /// Longest a WAL group commit waits for writes whose bodies are still arriving, so one
    /// fsync covers them (microseconds; like InfluxDB's `wal-fsync-delay`, but it never delays
    /// a write whose rows are ready). 0 writes each group at once.
    #[arg(long, default_value_t = 2000, env = "INFLUXGATE_WAL_GROUP_WAIT_MICROS")]
    pub wal_group_wait_micros: u64,
    /// Nice value of the WAL writer thread (-20..19). It sleeps on the disk between short bursts
    /// of work and every write waits for it: above the parse and persist threads it runs as soon
    /// as the disk answers. Raising it needs CAP_SYS_NICE (or RLIMIT_NICE); without, it keeps
    /// the normal priority (logged). 0 leaves the thread at the nice value it starts with.
    #[arg(long, default_value_t = DEFAULT_WAL_THREAD_NICE, allow_hyphen_values = true, value_parser = clap::value_parser!(i32).range(-20..=19), env = "INFLUXGATE_WAL_NICE")]
    pub wal_nice: i32,
    /// Persist the buffer to Parquet at least this often (seconds).
    #[arg(long, default_value_t = 60, env = "INFLUXGATE_PERSIST_INTERVAL_SECS")]
    pub persist_interval_secs: u64,
    /// Codec of written Parquet files: lz4 (fastest to write and read), zstd (smallest),
    /// snappy. On the query benchmark's data lz4 files were as small as zstd's and a full
    /// scan 20% faster (BENCHMARKS.md).
    #[arg(long, default_value = "lz4", value_parser = ["lz4", "zstd", "snappy"], env = "INFLUXGATE_PARQUET_CODEC")]
    pub parquet_codec: String,
    /// Merge a day's small Parquet files this often (seconds); 0 turns compaction off.
    #[arg(
        long,
        default_value_t = 60,
        env = "INFLUXGATE_COMPACTION_INTERVAL_SECS"
    )]
    pub compaction_interval_secs: u64,
    /// A past day with no new file for this many seconds is merged into one file; 0 disables.
    #[arg(
        long,
        default_value_t = 900,
        env = "INFLUXGATE_COMPACTION_COLD_AFTER_SECS"
    )]
    pub compaction_cold_after_secs: u64,
    /// Bytes all running queries may hold together in sorts, grouping, joins and results; past
    /// it sorts spill to the temp directory and other queries fail with "Resources exhausted".
    #[arg(long, default_value_t = QueryLimits::default().memory_bytes, env = "INFLUXGATE_QUERY_MEMORY_BYTES")]
    pub query_memory_bytes: usize,
    /// Bytes of Arrow data one statement's result may have; larger results are an error.
    #[arg(long, default_value_t = QueryLimits::default().result_bytes, env = "INFLUXGATE_QUERY_RESULT_BYTES")]
    pub query_result_bytes: usize,
    /// Bytes of whole Parquet files kept in memory for queries (least recently used out first);
    /// 0 turns the cache off.
    #[arg(long, default_value_t = QueryLimits::default().parquet_cache_bytes, env = "INFLUXGATE_PARQUET_CACHE_BYTES")]
    pub parquet_cache_bytes: usize,
    /// Bytes of decoded columns of Parquet files kept in memory for queries (least recently
    /// used out first; a file needing more than a quarter is read from Parquet each time);
    /// 0 turns the cache off.
    #[arg(long, default_value_t = QueryLimits::default().decoded_cache_bytes, env = "INFLUXGATE_DECODED_CACHE_BYTES")]
    pub decoded_cache_bytes: usize,
    /// Stop a statement that runs longer than this (seconds); 0 lets it run.
    #[arg(long, default_value_t = 60, env = "INFLUXGATE_QUERY_TIMEOUT_SECS")]
    pub query_timeout_secs: u64,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, default_value = "info", env = "INFLUXGATE_LOG")]
    pub log: String,
}

struct AppState {
    config: Config,
    storage: Arc<Storage>,
    engine: Engine,
    query_timeout: Option<Duration>,
    metrics: Metrics,
}

/// The storage catalog as both the write path's and the translator's schema.
pub(crate) struct CatalogView(pub(crate) Arc<Catalog>);

impl Schema for CatalogView {
    fn column(&self, database: &str, table: &str, column: &str) -> Option<ColumnType> {
        self.0.column(database, table, column)
    }

    fn query_schema(&self) -> Option<&dyn QuerySchema> {
        Some(self)
    }
}

impl QuerySchema for CatalogView {
    fn measurements(&self, db: &str) -> Vec<String> {
        self.0
            .database(db)
            .map(|d| d.tables.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn tag_keys(&self, db: &str, measurement: &str) -> Vec<String> {
        self.columns(db, measurement)
            .filter(|(_, t)| **t == ColumnType::Tag)
            .map(|(c, _)| c.clone())
            .collect()
    }

    fn field_keys(&self, db: &str, measurement: &str) -> Vec<(String, FieldType)> {
        self.columns(db, measurement)
            .filter_map(|(c, t)| match t {
                ColumnType::Field(f) => Some((c.clone(), *f)),
                _ => None,
            })
            .collect()
    }

    fn databases(&self) -> Vec<String> {
        self.0.databases.keys().cloned().collect()
    }

    fn last_rows_function(&self) -> Option<&str> {
        Some(influxgate_engine::LAST_ROWS)
    }
}

impl CatalogView {
    fn columns(&self, db: &str, table: &str) -> impl Iterator<Item = (&String, &ColumnType)> {
        self.0
            .table(db, table)
            .into_iter()
            .flat_map(|t| t.columns.iter())
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("influxgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("influxgate: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            args.data_dir.display()
        )
    })?;
    let mut config = Config {
        max_body_bytes: args.max_body_bytes,
        build: format!("influxgate-{}", env!("CARGO_PKG_VERSION")),
        ..Config::default()
    };
    if args.without_auth {
        tracing::warn!(
            "!!! --without-auth: every request is accepted WITHOUT A TOKEN. Never expose this server. !!!"
        );
        config.auth_disabled = true;
    } else {
        config.tokens = crate::tokens::configure(
            args.token.as_deref(),
            args.tokens_file.as_deref(),
            &args.data_dir,
        )?;
    }
    let storage_config = storage_config(&args.data_dir, args.object_store.as_deref(), Some(&args))?;
    let object_store = args
        .object_store
        .clone()
        .unwrap_or_else(|| "local data directory".into());
    let storage = Storage::open(storage_config)
        .await
        .map_err(|e| format!("cannot open storage at {object_store}: {e}"))?;
    let storage = Arc::new(storage);
    let limits = QueryLimits {
        memory_bytes: args.query_memory_bytes,
        result_bytes: args.query_result_bytes,
        parquet_cache_bytes: args.parquet_cache_bytes,
        decoded_cache_bytes: args.decoded_cache_bytes,
    };
    let engine = Engine::from_env(storage.clone(), limits)
        .map_err(|e| format!("bad DATAFUSION_* setting in the environment: {e}"))?;
    let state = Arc::new(AppState {
        config,
        engine,
        storage,
        query_timeout: (args.query_timeout_secs > 0)
            .then(|| Duration::from_secs(args.query_timeout_secs)),
        metrics: Metrics::default(),
    });
    let app = Router::new()
        .fallback(dispatch)
        .with_state(state.clone())
        .layer(CompressionLayer::new().gzip(true))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::POST, Method::HEAD, Method::OPTIONS])
                .allow_headers(Any)
                .expose_headers(Any)
                .max_age(Duration::from_secs(3600)),
        );
    let listener = tokio::net::TcpListener::bind(args.http_bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.http_bind))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %local, object_store = %object_store, "influxgate listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("stopped accepting; flushing storage");
    state
        .storage
        .shutdown()
        .await
        .map_err(|e| format!("flush on shutdown failed (the WAL keeps the data): {e}"))?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// One statement under the server's query timeout. Dropping the engine's future on timeout
/// cancels the query's work.
async fn run_sql(
    state: &AppState,
    database: &str,
    sql: &str,
) -> Result<Vec<arrow::array::RecordBatch>, String> {
    let query = state.engine.sql(database, sql);
    let result = match state.query_timeout {
        // InfluxDB 1.x's message for its `query-timeout`.
        Some(limit) => tokio::time::timeout(limit, query)
            .await
            .map_err(|_| "query-timeout limit exceeded".to_string())?,
        None => query.await,
    };
    result.map_err(|e| e.to_string())
}

/// Storage settings from the command line; `serve` passes its tuning, `export` the defaults.
pub fn storage_config(
    data_dir: &std::path::Path,
    object_store: Option<&str>,
    serve: Option<&ServeArgs>,
) -> Result<StorageConfig, String> {
    let url = match object_store {
        Some(url) => url.to_string(),
        None => {
            let dir = data_dir.join("parquet");
            let dir = std::path::absolute(&dir).unwrap_or(dir);
            format!("file://{}", dir.display())
        }
    };
    let no_options: [(&str, String); 0] = [];
    let mut config = StorageConfig::from_url(&url, no_options, data_dir.join("wal"))
        .map_err(|e| format!("invalid object store {url}: {e}"))?;
    if let Some(a) = serve {
        config.max_buffer_bytes = a.buffer_limit_bytes;
        config.persist_threshold_bytes = a.persist_bytes;
        config.persist_max_age = Duration::from_secs(a.persist_interval_secs);
        config.group_commit_wait = Duration::from_micros(a.wal_group_wait_micros);
        // 0 asks for nothing: a process started at another nice value keeps it.
        config.wal_thread_nice = (a.wal_nice != 0).then_some(a.wal_nice);
        config.codec = match a.parquet_codec.as_str() {
            "snappy" => ParquetCodec::Snappy,
            "zstd" => ParquetCodec::Zstd,
            _ => ParquetCodec::Lz4,
        };
        config.compaction_interval = (a.compaction_interval_secs > 0)
            .then(|| Duration::from_secs(a.compaction_interval_secs));
        config.compaction_cold_after = (a.compaction_cold_after_secs > 0)
            .then(|| Duration::from_secs(a.compaction_cold_after_secs));
    }
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// A label for metrics, from the path's route.
fn endpoint(method: &str, path: &str) -> &'static str {
    match routes::route(method, path) {
        Ok(Route::Write(Api::V1)) => "write_v1",
        Ok(Route::Write(_)) => "write_v2",
        Ok(Route::WriteArrow) => "write_arrow",
        Ok(Route::QueryV1) => "query_v1",
        Ok(Route::QueryArrow) => "query_arrow",
        Ok(Route::Schema) => "schema",
        Ok(Route::QuerySqlV3 | Route::QueryInfluxqlV3) => "query_v3",
        Ok(Route::Ping) => "ping",
        Ok(Route::Health) => "health",
        Ok(Route::Metrics) => "metrics",
        Ok(Route::Playground) => "playground",
        Ok(Route::Preflight) => "preflight",
        Err(_) => "other",
    }
}

async fn dispatch(State(state): State<Arc<AppState>>, req: HttpRequest) -> HttpResponse {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let label = endpoint(&method, &path);
    let limit = state.config.max_body_bytes;
    // A line-protocol write logs its body as soon as it is read: announce it, so a group commit
    // running meanwhile can wait for its entry.
    let expected = matches!(label, "write_v1" | "write_v2").then(|| state.storage.expect_write());
    let response = match to_bytes(body, limit + 1).await {
        // The core turns an over-limit body into 413; read at most limit+1 bytes of it.
        Err(_) => Response::error(&Error::TooLarge {
            limit,
            inflated: false,
        }),
        Ok(body) => {
            state
                .metrics
                .bytes_in
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            let headers: Vec<(String, String)> = parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let query = parts.uri.query().unwrap_or("").to_string();
            let expected = expected.map(|e| (e, body.clone()));
            respond(&state, &method, &path, &query, &headers, &body, expected).await
        }
    };
    state.metrics.request(label, response.status);
    if label.starts_with("write") {
        state.metrics.write_latency(started.elapsed().as_secs_f64());
    }
    to_http(response, method == "HEAD")
}

async fn respond(
    state: &Arc<AppState>,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
    expected: Option<(ExpectedWrite, Bytes)>,
) -> Response {
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let request = influxgate::Request {
        method,
        path,
        query,
        headers: &header_refs,
        body,
    };
    let catalog = CatalogView(state.storage.catalog());
    // Parsing is CPU work on borrowed data; it is fast (GB/s) so it runs inline.
    let action = match stage(&request, now_ns(), &state.config, &catalog) {
        Staged::Write(pending) => return write(state, pending, expected).await,
        Staged::Done(action) => action,
    };
    match action {
        Action::Respond(r) => r,
        Action::Metrics => Response {
            status: 200,
            headers: vec![("Content-Type", "text/plain; version=0.0.4".to_string())],
            body: {
                let mut extra = crate::metrics::storage_text(&state.storage.metrics());
                extra.push_str(&crate::metrics::cache_text(
                    state.engine.parquet_cache_used(),
                    state.engine.decoded_cache_used(),
                ));
                state.metrics.render(&extra).into_bytes()
            },
        },
        Action::Playground => {
            crate::playground::response(path).unwrap_or_else(|| Response::error(&Error::NotFound))
        }
        Action::Query(plan) => {
            let mut results = Vec::new();
            for job in plan.jobs() {
                results.push(run_sql(state, job.database, job.sql).await);
            }
            if plan.output == Output::V3Rows(V3Format::Parquet) {
                return match results.pop() {
                    Some(Ok(batches)) => parquet_response(&batches),
                    Some(Err(e)) => Response::error(&Error::InvalidParameter(e)),
                    None => Response::error(&Error::Internal("no result".into())),
                };
            }
            plan.respond(results)
        }
        Action::QueryArrow { database, sql } => match run_sql(state, &database, &sql).await {
            Ok(batches) => match influxgate::upstream::encode_ipc(&batches) {
                Ok(body) => Response {
                    status: 200,
                    headers: vec![("Content-Type", "application/vnd.apache.arrow.stream".into())],
                    body,
                },
                Err(e) => Response::error(&e),
            },
            Err(e) => Response::error(&Error::InvalidParameter(e)),
        },
        Action::Write(plan) => {
            count_lines(state, &plan);
            if plan.batches.is_empty() {
                return plan.response;
            }
            match state
                .storage
                .write(&plan.database, table_batches(&plan), &new_columns(&plan))
                .await
            {
                Ok(()) => plan.response,
                Err(e) => {
                    tracing::warn!(database = %plan.database, error = %e, "write not stored");
                    plan.failed(&storage_error(e))
                }
            }
        }
        _ => Response::error(&Error::Internal("unknown action".into())),
    }
}

/// A line-protocol write: its record goes to the WAL first, and the body is parsed while the WAL
/// syncs; the rows are stored (and the response sent) once both are done.
async fn write(
    state: &Arc<AppState>,
    pending: PendingWrite<'_>,
    expected: Option<(ExpectedWrite, Bytes)>,
) -> Response {
    let config = &state.config;
    let database = pending.record.database.clone();
    let logged = match expected {
        Some((e, body)) => e.log(&pending.record, body),
        None => state.storage.log_write(&pending.record),
    };
    let mut logged = match logged {
        Ok(l) => l,
        Err(e) => return pending.failed(&storage_error(e), config),
    };
    let mut catalog = state.storage.catalog();
    let mut retries = 0;
    loop {
        let plan = match pending.parse(config, &CatalogView(catalog)) {
            Action::Write(plan) => plan,
            Action::Respond(r) => return r,
            _ => return Response::error(&Error::Internal("unexpected write action".into())),
        };
        if retries == 0 {
            count_lines(state, &plan);
        }
        if plan.batches.is_empty() {
            return plan.response;
        }
        match logged
            .commit(&database, table_batches(&plan), &new_columns(&plan))
            .await
        {
            Ok(()) => return plan.response,
            // A concurrent writer added one of our new columns with another type: parse against
            // the catalog that has it, as replay will (each retry knows more columns).
            Err(StorageError::SchemaConflict { .. }) if retries < 64 => {
                retries += 1;
                catalog = state.storage.catalog();
            }
            Err(e) => {
                tracing::warn!(database = %database, error = %e, "write not stored");
                return plan.failed(&storage_error(e));
            }
        }
    }
}

fn count_lines(state: &AppState, plan: &WritePlan) {
    let m = &state.metrics;
    m.lines_accepted
        .fetch_add(plan.accepted as u64, Ordering::Relaxed);
    m.lines_rejected
        .fetch_add(plan.rejected as u64, Ordering::Relaxed);
}

fn table_batches(plan: &WritePlan) -> Vec<(String, arrow::array::RecordBatch)> {
    plan.batches
        .iter()
        .map(|b| (b.measurement.clone(), b.batch.clone()))
        .collect()
}

fn new_columns(plan: &WritePlan) -> Vec<NewColumn> {
    plan.new_columns.iter().map(NewColumn::from).collect()
}

/// `format=parquet` of the v3 query API: the rows as one Parquet file.
fn parquet_response(batches: &[arrow::array::RecordBatch]) -> Response {
    let Some(first) = batches.first() else {
        return Response {
            status: 200,
            headers: vec![("Content-Type", "application/vnd.apache.parquet".into())],
            body: Vec::new(),
        };
    };
    let mut out = Vec::new();
    let written = (|| {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, first.schema(), None)?;
        for b in batches {
            w.write(b)?;
        }
        w.close().map(|_| ())
    })();
    match written {
        Ok(()) => Response {
            status: 200,
            headers: vec![("Content-Type", "application/vnd.apache.parquet".into())],
            body: out,
        },
        Err(e) => Response::error(&Error::Internal(format!("parquet: {e}"))),
    }
}

/// Storage failures as the core's errors: overload 429, failing storage 503, conflicts 400.
fn storage_error(e: StorageError) -> Error {
    match e {
        StorageError::Overloaded { retry_after_secs } => Error::Overloaded {
            retry_after_secs: retry_after_secs as u32,
        },
        StorageError::SchemaConflict { .. } => Error::InvalidParameter(e.to_string()),
        other => Error::Unavailable {
            retry_after_secs: other.retry_after_secs().unwrap_or(1) as u32,
            message: other.to_string(),
        },
    }
}

fn to_http(resp: Response, head: bool) -> HttpResponse {
    let mut out = HttpResponse::new(if head {
        Body::empty()
    } else {
        Body::from(resp.body)
    });
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in resp.headers {
        // from_bytes normalises the core's `Retry-After` style names to lowercase.
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            out.headers_mut().insert(k, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    /// `--wal-nice` reaches the storage; 0 asks for no change of priority at all.
    #[test]
    fn wal_nice_option_reaches_the_storage() {
        let nice = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["influxgate"], args].concat()).unwrap();
            let dir = tempfile::tempdir().unwrap();
            storage_config(dir.path(), None, Some(&cli.serve))
                .unwrap()
                .wal_thread_nice
        };
        assert_eq!(nice(&[]), Some(DEFAULT_WAL_THREAD_NICE));
        assert_eq!(nice(&["--wal-nice", "-5"]), Some(-5));
        assert_eq!(nice(&["--wal-nice", "0"]), None);
        assert!(Cli::try_parse_from(["influxgate", "--wal-nice", "-21"]).is_err());
    }
}
