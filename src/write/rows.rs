//! Arrow rows back into points: for export, and for forwarding accepted batches upstream as
//! normalised line protocol (ns precision).

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use crate::write::batch::TableBatch;
use crate::write::line_protocol::{FieldValue, Line};

/// Row `row` of a measurement's batch as a point (null columns omitted).
pub fn point<'a>(measurement: &'a str, batch: &'a RecordBatch, row: usize) -> Line<'a> {
    let schema = batch.schema_ref();
    let mut line = Line {
        measurement: measurement.into(),
        tags: Vec::new(),
        fields: Vec::new(),
        timestamp: None,
    };
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        if col.is_null(row) {
            continue;
        }
        let name = field.name().as_str();
        let value = match field.data_type() {
            DataType::Dictionary(_, _) => {
                let dict = col.as_dictionary::<Int32Type>();
                let values = dict.values().as_string::<i32>();
                let key = dict.keys().value(row) as usize;
                line.tags.push((name.into(), values.value(key).into()));
                continue;
            }
            DataType::Timestamp(_, _) => {
                line.timestamp = Some(col.as_primitive::<TimestampNanosecondType>().value(row));
                continue;
            }
            DataType::Float64 => FieldValue::Float(col.as_primitive::<Float64Type>().value(row)),
            DataType::Int64 => FieldValue::Integer(col.as_primitive::<Int64Type>().value(row)),
            DataType::UInt64 => FieldValue::UInteger(col.as_primitive::<UInt64Type>().value(row)),
            DataType::Utf8 => FieldValue::String(col.as_string::<i32>().value(row).into()),
            DataType::Boolean => FieldValue::Boolean(col.as_boolean().value(row)),
            _ => continue,
        };
        line.fields.push((name.into(), value));
    }
    line
}

/// Every row of `batches` as line protocol with ns timestamps, one point per line.
pub fn to_line_protocol(batches: &[TableBatch]) -> String {
    let mut out = String::new();
    for tb in batches {
        for row in 0..tb.batch.num_rows() {
            point(&tb.measurement, &tb.batch, row).write_to(&mut out);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EmptySchema;
    use crate::write::batch::build;
    use crate::write::precision::Precision;

    #[test]
    fn batches_round_trip_through_line_protocol() {
        let body = "cpu,host=a\\ b,region=eu usage=1.5,n=-3i,u=4u,ok=true,msg=\"say \\\"hi\\\"\" 1000\n\
                    cpu,host=c usage=2 2000\nmem free=1i 5\n";
        let first = build(body, "db", Precision::Nanoseconds, 0, &EmptySchema, 10);
        assert_eq!(first.accepted, 3);
        let text = to_line_protocol(&first.batches);
        let second = build(&text, "db", Precision::Nanoseconds, 0, &EmptySchema, 10);
        assert_eq!(second.rejected_count, 0, "{text}");
        assert_eq!(to_line_protocol(&second.batches), text);
        assert!(text.contains("host=a\\ b"), "{text}");
        assert!(text.contains("n=-3i"), "{text}");
        let p = point(&first.batches[0].measurement, &first.batches[0].batch, 1);
        assert_eq!(p.timestamp, Some(2000));
        assert_eq!(p.tags.len(), 1, "null region is omitted");
    }
}
