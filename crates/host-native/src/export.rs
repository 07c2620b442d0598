//! `influxgate export`: every stored point of a data directory (WAL + Parquet, deduplicated) as
//! JSON lines or line protocol, read through the storage crate. Run it with the server stopped.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use arrow::array::RecordBatch;
use influxgate::query::translate::QuerySchema;
use influxgate::write::line_protocol::FieldValue;
use influxgate::write::rows;
use influxgate_storage::Storage;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The server's data directory.
    #[arg(long, default_value_os_t = crate::default_data_dir())]
    pub data_dir: PathBuf,
    /// The object store the server used, if not the data directory.
    #[arg(long)]
    pub object_store: Option<String>,
    /// Only this database.
    #[arg(long)]
    pub db: Option<String>,
    /// `json` (one object per point) or `lp` (line protocol, ns timestamps).
    #[arg(long, default_value = "json")]
    pub format: String,
}

pub fn run(args: ExportArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("influxgate export: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(export(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("influxgate export: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn export(args: ExportArgs) -> Result<(), String> {
    let config = crate::server::storage_config(&args.data_dir, args.object_store.as_deref(), None)?;
    let storage = Storage::open(config).await.map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let catalog = storage.catalog();
    for (database, schema) in &catalog.databases {
        if args.db.as_ref().is_some_and(|d| d != database) {
            continue;
        }
        for table in schema.tables.keys() {
            let batches = storage
                .scan(database, table)
                .await
                .map_err(|e| e.to_string())?;
            for batch in &batches {
                for row in 0..batch.num_rows() {
                    let line = point(database, table, batch, row, &args.format);
                    writeln!(out, "{line}").map_err(|e| e.to_string())?;
                }
            }
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    storage.shutdown().await.map_err(|e| e.to_string())
}

fn point(database: &str, table: &str, batch: &RecordBatch, row: usize, format: &str) -> String {
    let line = rows::point(table, batch, row);
    if format == "lp" {
        let mut s = String::new();
        line.write_to(&mut s);
        return s.trim_end().to_string();
    }
    let value = |v: &FieldValue<'_>| match v {
        FieldValue::Float(x) => serde_json::Value::from(*x),
        FieldValue::Integer(x) => (*x).into(),
        FieldValue::UInteger(x) => (*x).into(),
        FieldValue::String(s) => s.as_ref().into(),
        FieldValue::Boolean(b) => (*b).into(),
    };
    let fields: serde_json::Map<String, serde_json::Value> = line
        .fields
        .iter()
        .map(|(k, v)| (k.to_string(), value(v)))
        .collect();
    let tags: serde_json::Map<String, serde_json::Value> = line
        .tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_ref().into()))
        .collect();
    serde_json::json!({
        "db": database, "measurement": table, "tags": tags, "fields": fields,
        "time": line.timestamp.unwrap_or_default(),
    })
    .to_string()
}

/// The query schema of a data directory's catalog (for `influxgate translate --data-dir`).
pub fn catalog_schema(data_dir: &std::path::Path) -> Result<Box<dyn QuerySchema>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let config = crate::server::storage_config(data_dir, None, None)?;
        let storage = Storage::open(config).await.map_err(|e| e.to_string())?;
        let catalog = storage.catalog();
        storage.shutdown().await.map_err(|e| e.to_string())?;
        Ok(Box::new(crate::server::CatalogView(catalog)) as Box<dyn QuerySchema>)
    })
}
