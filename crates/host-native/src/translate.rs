//! `influxgate translate`: print the SQL and shaping plan of each InfluxQL statement.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use influxgate::query::translate::{EmptyQuerySchema, JsonSchema, QuerySchema, translate_text};

#[derive(clap::Args, Debug)]
pub struct TranslateArgs {
    /// The request's database (`db`).
    #[arg(long, default_value = "")]
    pub db: String,
    /// The request's retention policy (`rp`).
    #[arg(long)]
    pub rp: Option<String>,
    /// Schema as JSON: {"cpu": {"tags": ["host"], "fields": {"usage": "float"}}}.
    #[arg(long, conflicts_with = "data_dir")]
    pub schema: Option<PathBuf>,
    /// Read the schema of an existing store (its catalog) instead.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The query's now(), ns since the epoch (default: the current time).
    #[arg(long)]
    pub now: Option<i64>,
    /// One or more InfluxQL statements separated by `;`.
    pub query: String,
}

pub fn run(args: TranslateArgs) -> ExitCode {
    let schema: Box<dyn QuerySchema> = match (&args.schema, &args.data_dir) {
        (Some(path), _) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("cannot read schema {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            };
            match JsonSchema::from_json(&text) {
                Ok(s) => Box::new(s),
                Err(e) => {
                    eprintln!("invalid schema {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
        (None, Some(dir)) => match crate::export::catalog_schema(dir) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot read the catalog in {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        },
        (None, None) => Box::new(EmptyQuerySchema),
    };
    let now = args.now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    });
    match translate_text(&args.query, &args.db, args.rp.as_deref(), &*schema, now) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
