//! Column types and the synchronous schema lookup the host provides.

use core::fmt;

/// The type of a field column, fixed by the first write that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Float,
    Integer,
    #[serde(rename = "unsigned")]
    UInteger,
    String,
    Boolean,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::UInteger => "unsigned",
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a column of a measurement's table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Tag,
    Field(FieldType),
    Time,
}

/// The schema the host already knows (its catalog). Lookups are synchronous: the host keeps the
/// catalog in memory and hands the core a view of it.
pub trait Schema {
    /// The type of `column` in `database`.`table`, if that column exists.
    fn column(&self, database: &str, table: &str, column: &str) -> Option<ColumnType>;

    /// The same catalog as the query translator sees it (measurements, tag and field keys);
    /// hosts that answer queries return it.
    fn query_schema(&self) -> Option<&dyn crate::query::translate::QuerySchema> {
        None
    }
}

/// A schema that knows nothing: every column is new.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptySchema;

impl Schema for EmptySchema {
    fn column(&self, _: &str, _: &str, _: &str) -> Option<ColumnType> {
        None
    }
}
