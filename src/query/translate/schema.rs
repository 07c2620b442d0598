//! The schema the translator consults: which measurements, tags and fields exist. The host
//! answers from its in-memory catalog, synchronously.

use std::collections::BTreeMap;

use crate::schema::{ColumnType, FieldType};

/// What the translator needs to know about stored data. `db` is the storage database name
/// (`db` or `db/rp`, see [`super::storage_database`]).
pub trait QuerySchema {
    /// Measurements of `db`, in any order.
    fn measurements(&self, db: &str) -> Vec<String>;
    /// Tag keys of `db`.`measurement`, in any order.
    fn tag_keys(&self, db: &str, measurement: &str) -> Vec<String>;
    /// Field keys and types of `db`.`measurement`, in any order.
    fn field_keys(&self, db: &str, measurement: &str) -> Vec<(String, FieldType)>;
    /// Every storage database name.
    fn databases(&self) -> Vec<String>;
    /// The name of the backend's table function `f('db', 'measurement')` returning the rows
    /// that hold each series' latest value of each field (same columns as the table), if it
    /// has one: `last()` without a time range and SHOW TAG VALUES/SERIES without one then
    /// read it instead of every row. influxgate's engine has `last_rows`.
    fn last_rows_function(&self) -> Option<&str> {
        None
    }
}

/// One measurement's columns in a [`JsonSchema`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeasurementSchema {
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, FieldType>,
}

/// A schema read from JSON, for tests, the CLI and the browser playground:
/// `{"cpu": {"tags": ["host"], "fields": {"usage": "float"}}}` describes one database, and
/// `{"db": {...}, "db/rp": {...}}` under a top-level `"databases"` key describes several.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonSchema {
    /// database → measurement → columns. A single-database document is stored under `""`,
    /// which then answers for every database name.
    databases: BTreeMap<String, BTreeMap<String, MeasurementSchema>>,
    /// See [`QuerySchema::last_rows_function`] (`"last_rows"` key of the multi-database form).
    last_rows: Option<String>,
}

#[derive(serde::Deserialize)]
struct MultiDoc {
    databases: BTreeMap<String, BTreeMap<String, MeasurementSchema>>,
    #[serde(default)]
    last_rows: Option<String>,
}

impl JsonSchema {
    /// Parses either form described on [`JsonSchema`].
    pub fn from_json(json: &str) -> Result<Self, String> {
        if let Ok(multi) = serde_json::from_str::<MultiDoc>(json) {
            return Ok(JsonSchema {
                databases: multi.databases,
                last_rows: multi.last_rows,
            });
        }
        let single: BTreeMap<String, MeasurementSchema> =
            serde_json::from_str(json).map_err(|e| format!("invalid schema JSON: {e}"))?;
        let mut databases = BTreeMap::new();
        databases.insert(String::new(), single);
        Ok(JsonSchema {
            databases,
            last_rows: None,
        })
    }

    /// This schema, its backend having the last-rows table function `name`.
    pub fn with_last_rows(mut self, name: &str) -> Self {
        self.last_rows = Some(name.to_owned());
        self
    }

    /// A schema with these databases, for building one in code.
    pub fn from_databases(
        databases: BTreeMap<String, BTreeMap<String, MeasurementSchema>>,
    ) -> Self {
        JsonSchema {
            databases,
            last_rows: None,
        }
    }

    fn db(&self, db: &str) -> Option<&BTreeMap<String, MeasurementSchema>> {
        self.databases.get(db).or_else(|| self.databases.get(""))
    }

    fn measurement(&self, db: &str, m: &str) -> Option<&MeasurementSchema> {
        self.db(db).and_then(|d| d.get(m))
    }
}

impl QuerySchema for JsonSchema {
    fn measurements(&self, db: &str) -> Vec<String> {
        self.db(db)
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn tag_keys(&self, db: &str, measurement: &str) -> Vec<String> {
        self.measurement(db, measurement)
            .map(|m| m.tags.clone())
            .unwrap_or_default()
    }

    fn field_keys(&self, db: &str, measurement: &str) -> Vec<(String, FieldType)> {
        self.measurement(db, measurement)
            .map(|m| m.fields.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    fn databases(&self) -> Vec<String> {
        self.databases
            .keys()
            .filter(|k| !k.is_empty())
            .cloned()
            .collect()
    }

    fn last_rows_function(&self) -> Option<&str> {
        self.last_rows.as_deref()
    }
}

impl JsonSchema {
    /// A copy of `databases` of `qs` (all of them when `only` is `None`): what the native
    /// server's schema endpoint sends to edge hosts.
    pub fn snapshot(qs: &dyn QuerySchema, only: Option<&str>) -> Self {
        let mut databases = BTreeMap::new();
        let names = match only {
            Some(db) => vec![db.to_string()],
            None => qs.databases(),
        };
        for db in names {
            let mut tables = BTreeMap::new();
            for m in qs.measurements(&db) {
                let mut tags = qs.tag_keys(&db, &m);
                tags.sort();
                let fields = qs.field_keys(&db, &m).into_iter().collect();
                tables.insert(m, MeasurementSchema { tags, fields });
            }
            databases.insert(db, tables);
        }
        JsonSchema {
            databases,
            last_rows: qs.last_rows_function().map(str::to_owned),
        }
    }

    /// The multi-database JSON form, which [`JsonSchema::from_json`] reads back.
    pub fn to_json(&self) -> String {
        let mut doc = serde_json::json!({ "databases": self.databases });
        if let Some(f) = &self.last_rows {
            doc["last_rows"] = f.clone().into();
        }
        doc.to_string()
    }
}

/// Edge hosts hand the core a schema fetched from the native server: the same answers for
/// write-type checks and for the translator.
impl crate::schema::Schema for JsonSchema {
    fn column(&self, database: &str, table: &str, column: &str) -> Option<ColumnType> {
        if column == crate::write::batch::TIME_COLUMN {
            return self.measurement(database, table).map(|_| ColumnType::Time);
        }
        let m = self.measurement(database, table)?;
        if m.tags.iter().any(|t| t == column) {
            return Some(ColumnType::Tag);
        }
        m.fields.get(column).map(|f| ColumnType::Field(*f))
    }

    fn query_schema(&self) -> Option<&dyn QuerySchema> {
        Some(self)
    }
}

/// Answers nothing: no measurement exists.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyQuerySchema;

impl QuerySchema for EmptyQuerySchema {
    fn measurements(&self, _: &str) -> Vec<String> {
        vec![]
    }
    fn tag_keys(&self, _: &str, _: &str) -> Vec<String> {
        vec![]
    }
    fn field_keys(&self, _: &str, _: &str) -> Vec<(String, FieldType)> {
        vec![]
    }
    fn databases(&self) -> Vec<String> {
        vec![]
    }
}
