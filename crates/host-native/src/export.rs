//! `influxgate export`: every stored point of a data directory (WAL + Parquet, deduplicated) as
//! JSON lines or line protocol, read through the storage crate. Run it with the server stopped.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimestampNanosecondType, UInt64Type};
use influxgate::write::line_protocol::{FieldValue, Line};
use influxgate_storage::{Storage, StorageConfig};

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
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
    let config = crate::server::storage_config(&args.data_dir, args.object_store.as_deref(), None);
    let storage = Storage::open(config).await.map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (database, tables) in storage.catalog().tables() {
        if args.db.as_ref().is_some_and(|d| d != &database) {
            continue;
        }
        for table in tables {
            let batches = storage.scan(&database, &table).await.map_err(|e| e.to_string())?;
            for batch in &batches {
                for row in 0..batch.num_rows() {
                    let line = point(&database, &table, batch, row, &args.format);
                    writeln!(out, "{line}").map_err(|e| e.to_string())?;
                }
            }
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    storage.shutdown().await.map_err(|e| e.to_string())
}

fn point(database: &str, table: &str, batch: &RecordBatch, row: usize, format: &str) -> String {
    let mut tags = Vec::new();
    let mut fields = Vec::new();
    let mut time = 0i64;
    for (i, f) in batch.schema().fields().iter().enumerate() {
        let col = batch.column(i);
        if col.is_null(row) {
            continue;
        }
        let name = f.name().as_str();
        match f.data_type() {
            DataType::Dictionary(_, _) => {
                let dict = col.as_dictionary::<Int32Type>();
                let values = dict.values().as_string::<i32>();
                tags.push((name, values.value(dict.keys().value(row) as usize).to_string()));
            }
            DataType::Timestamp(_, _) => time = col.as_primitive::<TimestampNanosecondType>().value(row),
            DataType::Float64 => fields.push((name, FieldValue::Float(col.as_primitive::<Float64Type>().value(row)))),
            DataType::Int64 => fields.push((name, FieldValue::Integer(col.as_primitive::<Int64Type>().value(row)))),
            DataType::UInt64 => fields.push((name, FieldValue::UInteger(col.as_primitive::<UInt64Type>().value(row)))),
            DataType::Utf8 => fields.push((name, FieldValue::String(col.as_string::<i32>().value(row).into()))),
            DataType::Boolean => fields.push((name, FieldValue::Boolean(col.as_boolean().value(row)))),
            _ => {}
        }
    }
    if format == "lp" {
        let line = Line {
            measurement: table.into(),
            tags: tags.iter().map(|(k, v)| ((*k).into(), v.as_str().into())).collect(),
            fields: fields.iter().map(|(k, v)| ((*k).into(), v.clone())).collect(),
            timestamp: Some(time),
        };
        let mut s = String::new();
        line.write_to(&mut s);
        return s.trim_end().to_string();
    }
    let fields: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                FieldValue::Float(x) => serde_json::Value::from(x),
                FieldValue::Integer(x) => x.into(),
                FieldValue::UInteger(x) => x.into(),
                FieldValue::String(s) => s.into_owned().into(),
                FieldValue::Boolean(b) => b.into(),
            };
            (k.to_string(), v)
        })
        .collect();
    let tags: serde_json::Map<String, serde_json::Value> =
        tags.into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
    serde_json::json!({"db": database, "measurement": table, "tags": tags, "fields": fields, "time": time})
        .to_string()
}
