//! The catalog: databases, tables, columns with their types, and retention.
//!
//! Readers get a cheap `Arc<Catalog>` snapshot; writers take the `CatalogStore`'s lock, copy the
//! snapshot, change it, write it to `<wal-dir>/catalog.json` (atomically, fsynced) and publish the
//! new snapshot, all before the WAL entry that needs the new columns is written.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, RwLock};

use arrow::datatypes::{DataType, Schema as ArrowSchema, TimeUnit};
use influxgate::{ColumnType, FieldType, Schema};
use serde::{Deserialize, Serialize};

use crate::error::{ColumnTypeName, Result, StorageError};

/// The name of the time column.
pub const TIME_COLUMN: &str = "time";

/// All databases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub databases: BTreeMap<String, DatabaseSchema>,
}

/// One database (bucket).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseSchema {
    pub tables: BTreeMap<String, TableSchema>,
    /// Retention period in seconds; `None` keeps data forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_secs: Option<u64>,
}

/// One table (measurement).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    pub columns: BTreeMap<String, ColumnType>,
}

impl Catalog {
    pub fn database(&self, name: &str) -> Option<&DatabaseSchema> {
        self.databases.get(name)
    }

    pub fn table(&self, database: &str, table: &str) -> Option<&TableSchema> {
        self.databases.get(database)?.tables.get(table)
    }
}

impl Schema for Catalog {
    fn column(&self, database: &str, table: &str, column: &str) -> Option<ColumnType> {
        self.table(database, table)?.columns.get(column).copied()
    }
}

impl TableSchema {
    /// The Arrow schema of the table: tags (sorted), fields (sorted), then `time`.
    pub fn arrow_schema(&self) -> ArrowSchema {
        let mut tags = Vec::new();
        let mut fields = Vec::new();
        for (name, t) in &self.columns {
            match t {
                ColumnType::Tag => {
                    tags.push(arrow::datatypes::Field::new(name, data_type_of(*t), true))
                }
                ColumnType::Field(_) => {
                    fields.push(arrow::datatypes::Field::new(name, data_type_of(*t), true))
                }
                ColumnType::Time => {}
            }
        }
        tags.extend(fields);
        tags.push(arrow::datatypes::Field::new(
            TIME_COLUMN,
            data_type_of(ColumnType::Time),
            false,
        ));
        ArrowSchema::new(tags)
    }
}

/// The Arrow type a column of the given kind has.
pub fn data_type_of(t: ColumnType) -> DataType {
    match t {
        ColumnType::Tag => {
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        }
        ColumnType::Time => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        ColumnType::Field(FieldType::Float) => DataType::Float64,
        ColumnType::Field(FieldType::Integer) => DataType::Int64,
        ColumnType::Field(FieldType::UInteger) => DataType::UInt64,
        ColumnType::Field(FieldType::String) => DataType::Utf8,
        ColumnType::Field(FieldType::Boolean) => DataType::Boolean,
    }
}

/// The column kind of an Arrow column, if it is one the write path produces.
pub fn column_type_of(name: &str, dt: &DataType) -> Option<ColumnType> {
    Some(match dt {
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            ColumnType::Tag
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) if name == TIME_COLUMN => ColumnType::Time,
        DataType::Float64 => ColumnType::Field(FieldType::Float),
        DataType::Int64 => ColumnType::Field(FieldType::Integer),
        DataType::UInt64 => ColumnType::Field(FieldType::UInteger),
        DataType::Utf8 => ColumnType::Field(FieldType::String),
        DataType::Boolean => ColumnType::Field(FieldType::Boolean),
        _ => return None,
    })
}

/// A column a write wants to exist: `(table, column, type)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewColumn {
    pub table: String,
    pub column: String,
    pub column_type: ColumnType,
}

impl NewColumn {
    pub fn new(
        table: impl Into<String>,
        column: impl Into<String>,
        column_type: ColumnType,
    ) -> Self {
        Self {
            table: table.into(),
            column: column.into(),
            column_type,
        }
    }
}

impl From<&influxgate::write::batch::NewColumn> for NewColumn {
    /// A column the core's parse found new.
    fn from(c: &influxgate::write::batch::NewColumn) -> Self {
        Self::new(&c.table, &c.column, c.column_type)
    }
}

/// Check `columns` against `catalog`: `Err` on a type conflict, otherwise whether anything is new.
pub(crate) fn check(catalog: &Catalog, database: &str, columns: &[NewColumn]) -> Result<bool> {
    let Some(db) = catalog.database(database) else {
        return Ok(true);
    };
    let mut new = false;
    for c in columns {
        match db
            .tables
            .get(&c.table)
            .and_then(|t| t.columns.get(&c.column))
        {
            None => new = true,
            Some(existing) if *existing == c.column_type => {}
            Some(existing) => {
                return Err(StorageError::SchemaConflict {
                    database: database.to_string(),
                    table: c.table.clone(),
                    column: c.column.clone(),
                    existing: ColumnTypeName(*existing),
                    requested: ColumnTypeName(c.column_type),
                });
            }
        }
    }
    Ok(new)
}

/// Add `columns` (already checked) to `catalog`, creating the database and tables.
pub(crate) fn apply(catalog: &mut Catalog, database: &str, columns: &[NewColumn]) {
    let db = catalog.databases.entry(database.to_string()).or_default();
    for c in columns {
        db.tables
            .entry(c.table.clone())
            .or_default()
            .columns
            .entry(c.column.clone())
            .or_insert(c.column_type);
    }
}

/// The in-memory catalog and its local file.
#[derive(Debug)]
pub(crate) struct CatalogStore {
    path: PathBuf,
    current: RwLock<Arc<Catalog>>,
    write_lock: tokio::sync::Mutex<()>,
}

impl CatalogStore {
    /// Load `<dir>/catalog.json`, or start from `fallback` (e.g. the object store mirror).
    pub(crate) fn open(dir: &FsPath, fallback: Option<Catalog>) -> Result<Self> {
        let path = dir.join("catalog.json");
        let catalog = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StorageError::Catalog(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fallback.unwrap_or_default(),
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            path,
            current: RwLock::new(Arc::new(catalog)),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn snapshot(&self) -> Arc<Catalog> {
        self.current.read().expect("catalog lock").clone()
    }

    /// Validate and add columns; the catalog file is rewritten only when something is new.
    pub(crate) async fn ensure(&self, database: &str, columns: &[NewColumn]) -> Result<()> {
        if !check(&self.snapshot(), database, columns)? {
            return Ok(());
        }
        let _guard = self.write_lock.lock().await;
        let current = self.snapshot();
        if !check(&current, database, columns)? {
            return Ok(());
        }
        let mut next = (*current).clone();
        apply(&mut next, database, columns);
        self.publish(next).await
    }

    /// Change the catalog with `f` and persist it.
    pub(crate) async fn update(&self, f: impl FnOnce(&mut Catalog)) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut next = (*self.snapshot()).clone();
        f(&mut next);
        self.publish(next).await
    }

    async fn publish(&self, next: Catalog) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(&next).map_err(|e| StorageError::Catalog(e.to_string()))?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
            .await
            .map_err(|e| StorageError::Catalog(format!("catalog writer panicked: {e}")))??;
        *self.current.write().expect("catalog lock") = Arc::new(next);
        Ok(())
    }

    /// Merge columns found while replaying the WAL (never fails: conflicts are logged and the
    /// catalog's type kept). Returns whether something changed.
    pub(crate) fn merge_replayed(&self, database: &str, columns: &[NewColumn]) -> bool {
        let current = self.snapshot();
        let fresh: Vec<NewColumn> = columns
            .iter()
            .filter(
                |c| match check(&current, database, std::slice::from_ref(c)) {
                    Ok(new) => new,
                    Err(e) => {
                        tracing::warn!("WAL replay: {e}");
                        false
                    }
                },
            )
            .cloned()
            .collect();
        if fresh.is_empty() && current.databases.contains_key(database) {
            return false;
        }
        let mut next = (*current).clone();
        apply(&mut next, database, &fresh);
        *self.current.write().expect("catalog lock") = Arc::new(next);
        true
    }

    /// Persist the current snapshot to the local file (after a replay changed it).
    pub(crate) fn save_blocking(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&*self.snapshot())
            .map_err(|e| StorageError::Catalog(e.to_string()))?;
        write_atomic(&self.path, &bytes)
    }
}

/// Write `bytes` to `path` via a fsynced temporary file and a rename, then fsync the directory.
pub(crate) fn write_atomic(path: &FsPath, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conflicts_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let store = CatalogStore::open(dir.path(), None).unwrap();
        let f = ColumnType::Field(FieldType::Float);
        let i = ColumnType::Field(FieldType::Integer);
        store
            .ensure(
                "db",
                &[
                    NewColumn::new("m", "v", f),
                    NewColumn::new("m", "host", ColumnType::Tag),
                ],
            )
            .await
            .unwrap();
        let err = store
            .ensure("db", &[NewColumn::new("m", "v", i)])
            .await
            .unwrap_err();
        assert_eq!(err.code(), "schema_conflict");
        assert!(err.to_string().contains("already float"), "{err}");
        // other database, same name: independent
        store
            .ensure("db2", &[NewColumn::new("m", "v", i)])
            .await
            .unwrap();

        let reopened = CatalogStore::open(dir.path(), None).unwrap();
        let snap = reopened.snapshot();
        assert_eq!(snap.column("db", "m", "v"), Some(f));
        assert_eq!(snap.column("db", "m", "host"), Some(ColumnType::Tag));
        assert_eq!(snap.column("db2", "m", "v"), Some(i));
        assert_eq!(snap.column("db", "m", "nope"), None);
        let schema = snap.table("db", "m").unwrap().arrow_schema();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["host", "v", "time"]);
    }
}
