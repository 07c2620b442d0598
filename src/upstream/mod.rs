//! Forwarding accepted writes to an upstream, defined once for every edge host.
//!
//! Two upstream kinds:
//! - an influxgate native server: `POST /api/v3/internal/write_arrow?db=DB` with an
//!   [`encode_batches`] envelope (Arrow IPC, no re-parsing, types kept exactly);
//! - any InfluxDB v2/v3-compatible endpoint: `POST /api/v2/write?bucket=DB&precision=ns` with
//!   normalised line protocol ([`crate::write::rows::to_line_protocol`]), gzip-compressed.
//!
//! Envelope: the magic `IGW1`, then per measurement a little-endian u32 name length, the UTF-8
//! name, a u32 IPC length and one Arrow IPC stream (schema + one batch).

pub mod exchange;
pub mod forward;
pub mod settings;

use std::io::Cursor;

use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::DataType;

use crate::error::{Error, quote};
use crate::schema::{ColumnType, FieldType, Schema};
use crate::write::batch::{NewColumn, TIME_COLUMN, TableBatch};

const MAGIC: &[u8; 4] = b"IGW1";
/// The content type of the envelope.
pub const ARROW_ENVELOPE_CONTENT_TYPE: &str = "application/vnd.influxgate.arrow-envelope";

/// Encode a write's batches for the native upstream.
pub fn encode_batches(batches: &[TableBatch]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(MAGIC);
    for tb in batches {
        let mut ipc = Vec::new();
        {
            let mut w = StreamWriter::try_new(&mut ipc, tb.batch.schema_ref())
                .map_err(|e| Error::Internal(format!("arrow ipc: {e}")))?;
            w.write(&tb.batch)
                .map_err(|e| Error::Internal(format!("arrow ipc: {e}")))?;
            w.finish()
                .map_err(|e| Error::Internal(format!("arrow ipc: {e}")))?;
        }
        out.extend_from_slice(&(tb.measurement.len() as u32).to_le_bytes());
        out.extend_from_slice(tb.measurement.as_bytes());
        out.extend_from_slice(&(ipc.len() as u32).to_le_bytes());
        out.extend_from_slice(&ipc);
    }
    Ok(out)
}

fn bad(why: impl Into<String>) -> Error {
    Error::InvalidParameter(format!("invalid arrow write envelope: {}", why.into()))
}

/// Decode an envelope, checking every batch has the write path's schema.
pub fn decode_batches(body: &[u8]) -> Result<Vec<TableBatch>, Error> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing the IGW1 magic"))?;
    let mut pos = 0usize;
    let mut out = Vec::new();
    let mut take = |n: usize, what: &str| -> Result<&[u8], Error> {
        let s = rest
            .get(pos..pos + n)
            .ok_or_else(|| bad(format!("truncated {what} at byte {}", pos + 4)))?;
        pos += n;
        Ok(s)
    };
    while let Ok(len) = take(4, "name length") {
        let name_len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let name = std::str::from_utf8(take(name_len, "name")?)
            .map_err(|_| bad("measurement name is not UTF-8"))?
            .to_string();
        let ipc_len =
            u32::from_le_bytes(take(4, "IPC length")?.try_into().expect("4 bytes")) as usize;
        let ipc = take(ipc_len, "IPC stream")?;
        let reader = StreamReader::try_new(Cursor::new(ipc), None)
            .map_err(|e| bad(format!("{}: {e}", quote(&name))))?;
        for batch in reader {
            let batch = batch.map_err(|e| bad(format!("{}: {e}", quote(&name))))?;
            out.push(TableBatch {
                measurement: name.clone(),
                batch,
            });
        }
    }
    Ok(out)
}

/// The column types of forwarded batches, checked against `schema`: conflicts are errors (the
/// edge's view was stale), unknown columns are returned as new.
pub fn check_columns(
    database: &str,
    batches: &[TableBatch],
    schema: &dyn Schema,
) -> Result<Vec<NewColumn>, Error> {
    let mut new = Vec::new();
    for tb in batches {
        for field in tb.batch.schema().fields() {
            let name = field.name();
            let ty = match field.data_type() {
                DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                    ColumnType::Tag
                }
                DataType::Timestamp(_, _) if name == TIME_COLUMN => continue,
                DataType::Float64 => ColumnType::Field(FieldType::Float),
                DataType::Int64 => ColumnType::Field(FieldType::Integer),
                DataType::UInt64 => ColumnType::Field(FieldType::UInteger),
                DataType::Utf8 => ColumnType::Field(FieldType::String),
                DataType::Boolean => ColumnType::Field(FieldType::Boolean),
                other => {
                    return Err(bad(format!(
                        "column {} of {} has unsupported type {other}",
                        quote(name),
                        quote(&tb.measurement)
                    )));
                }
            };
            match schema.column(database, &tb.measurement, name) {
                None => {
                    if !new
                        .iter()
                        .any(|c: &NewColumn| c.table == tb.measurement && &c.column == name)
                    {
                        new.push(NewColumn {
                            table: tb.measurement.clone(),
                            column: name.clone(),
                            column_type: ty,
                        });
                    }
                }
                Some(existing) if existing == ty => {}
                Some(existing) => {
                    return Err(Error::InvalidParameter(format!(
                        "column conflict: {} on measurement {} is {ty:?} upstream of influxgate, already exists as {existing:?}",
                        quote(name),
                        quote(&tb.measurement)
                    )));
                }
            }
        }
        if tb.batch.schema().field_with_name(TIME_COLUMN).is_err() {
            return Err(bad(format!(
                "{} has no time column",
                quote(&tb.measurement)
            )));
        }
    }
    Ok(new)
}

/// Query results as one Arrow IPC stream (the `query_arrow` answer). An empty result is a
/// stream with an empty schema and no batches.
pub fn encode_ipc(batches: &[arrow_array::RecordBatch]) -> Result<Vec<u8>, Error> {
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => std::sync::Arc::new(arrow_schema::Schema::empty()),
    };
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, &schema)
        .map_err(|e| Error::Internal(format!("arrow ipc: {e}")))?;
    for b in batches {
        w.write(b)
            .map_err(|e| Error::Internal(format!("arrow ipc: {e}")))?;
    }
    w.finish()
        .map_err(|e| Error::Internal(format!("arrow ipc: {e}")))?;
    drop(w);
    Ok(out)
}

/// Decode a `query_arrow` answer.
pub fn decode_ipc(bytes: &[u8]) -> Result<Vec<arrow_array::RecordBatch>, String> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(|e| e.to_string())?;
    reader.map(|b| b.map_err(|e| e.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EmptySchema;
    use crate::write::batch::build;
    use crate::write::precision::Precision;

    #[test]
    fn envelope_round_trip() {
        let parsed = build(
            "cpu,host=a u=1.5,n=2i 10\nmem free=3u 20\n",
            "db",
            Precision::Nanoseconds,
            0,
            &EmptySchema,
            10,
        );
        let bytes = encode_batches(&parsed.batches).unwrap();
        let back = decode_batches(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].measurement, "cpu");
        assert_eq!(back[0].batch, parsed.batches[0].batch);
        let new = check_columns("db", &back, &EmptySchema).unwrap();
        assert_eq!(new.len(), 4);
        assert!(decode_batches(b"nope").is_err());
        let ipc = encode_ipc(&[parsed.batches[0].batch.clone()]).unwrap();
        assert_eq!(
            decode_ipc(&ipc).unwrap(),
            vec![parsed.batches[0].batch.clone()]
        );
        assert!(decode_ipc(&encode_ipc(&[]).unwrap()).unwrap().is_empty());
        assert!(decode_batches(&bytes[..bytes.len() - 3]).is_err());
    }
}
