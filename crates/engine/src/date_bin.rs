//! `date_bin` with a fast path for what `GROUP BY time(...)` translates to: a fixed stride
//! (no months), a nanosecond timestamp column and a constant origin. DataFusion's own bins each
//! value through a function pointer with checked arithmetic (6% of a `mean()` over a day's
//! 8,640 points); this is one tight loop. Anything else, and any overflow, is DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{
    DataType, IntervalMonthDayNanoType, TimeUnit, TimestampNanosecondType,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// DataFusion's `date_bin`, with [`bin`] in front of it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateBin {
    inner: Arc<ScalarUDF>,
}

impl DateBin {
    /// Wraps DataFusion's `date_bin` (`inner`).
    pub fn new(inner: Arc<ScalarUDF>) -> Self {
        DateBin { inner }
    }
}

impl ScalarUDFImpl for DateBin {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(out) = bin(&args.args) {
            return Ok(out);
        }
        self.inner.invoke_with_args(args)
    }

    // Binning keeps the order of its input: sorts and streaming aggregation rely on it.
    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// `date_bin(stride, time, origin)` for a fixed stride over a nanosecond timestamp array and a
/// constant origin; `None` for any other arguments or if some value overflows.
pub fn bin(args: &[ColumnarValue]) -> Option<ColumnarValue> {
    let [
        ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(stride))),
        ColumnarValue::Array(times),
        ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(Some(origin), _)),
    ] = args
    else {
        return None;
    };
    let (months, days, nanos) = IntervalMonthDayNanoType::to_parts(*stride);
    let stride = i64::from(days)
        .checked_mul(NANOS_PER_DAY)?
        .checked_add(nanos)?;
    if months != 0 || stride <= 0 {
        return None;
    }
    let DataType::Timestamp(TimeUnit::Nanosecond, tz) = times.data_type() else {
        return None;
    };
    let times = times.as_primitive_opt::<TimestampNanosecondType>()?;
    let mut out = Vec::with_capacity(times.len());
    // The bin `[lo, hi)` of the previous value: times come mostly in order, so most values
    // fall in it and need no division.
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (i, t) in times.values().iter().enumerate() {
        if lo <= *t && *t < hi {
            out.push(lo);
            continue;
        }
        // Floor to the stride (as DataFusion's does, also before the origin).
        let binned = t
            .checked_sub(*origin)
            .and_then(|d| d.div_euclid(stride).checked_mul(stride))
            .and_then(|d| origin.checked_add(d));
        match binned {
            Some(b) => {
                (lo, hi) = (b, b.saturating_add(stride));
                out.push(b);
            }
            None if times.is_null(i) => out.push(0),
            None => return None,
        }
    }
    let array = PrimitiveArray::<TimestampNanosecondType>::new(out.into(), times.nulls().cloned())
        .with_timezone_opt(tz.clone());
    Some(ColumnarValue::Array(Arc::new(array)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, TimestampNanosecondArray};
    use datafusion::arrow::datatypes::IntervalMonthDayNano;
    use datafusion::functions::datetime::date_bin;
    use proptest::prelude::*;

    fn args(
        stride: IntervalMonthDayNano,
        times: Vec<Option<i64>>,
        origin: i64,
    ) -> Vec<ColumnarValue> {
        let times: ArrayRef = Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC"));
        vec![
            ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(stride))),
            ColumnarValue::Array(times),
            ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
                Some(origin),
                Some("UTC".into()),
            )),
        ]
    }

    /// DataFusion's answer for the same arguments.
    fn reference(a: &[ColumnarValue]) -> ArrayRef {
        let udf = date_bin();
        let fields: Vec<_> = a
            .iter()
            .map(|v| {
                Arc::new(datafusion::arrow::datatypes::Field::new(
                    "a",
                    v.data_type(),
                    true,
                ))
            })
            .collect();
        let ret = udf
            .return_type(
                &fields
                    .iter()
                    .map(|f| f.data_type().clone())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        let n = match &a[1] {
            ColumnarValue::Array(x) => x.len(),
            ColumnarValue::Scalar(_) => 1,
        };
        udf.invoke_with_args(ScalarFunctionArgs {
            args: a.to_vec(),
            arg_fields: fields,
            number_rows: n,
            return_field: Arc::new(datafusion::arrow::datatypes::Field::new("r", ret, true)),
            config_options: Arc::default(),
        })
        .unwrap()
        .into_array(n)
        .unwrap()
    }

    #[test]
    fn bins_like_datafusion_before_and_after_the_origin() {
        let minute = IntervalMonthDayNano::new(0, 0, 60_000_000_000);
        let a = args(
            minute,
            vec![
                Some(0),
                Some(59_999_999_999),
                Some(60_000_000_000),
                Some(-1),
                None,
                Some(-60_000_000_001),
            ],
            0,
        );
        let ours = match bin(&a).unwrap() {
            ColumnarValue::Array(x) => x,
            ColumnarValue::Scalar(_) => unreachable!(),
        };
        assert_eq!(ours.as_ref(), reference(&a).as_ref());
        let got: Vec<Option<i64>> = ours
            .as_primitive::<TimestampNanosecondType>()
            .iter()
            .collect();
        assert_eq!(
            got,
            vec![
                Some(0),
                Some(0),
                Some(60_000_000_000),
                Some(-60_000_000_000),
                None,
                Some(-120_000_000_000)
            ]
        );
    }

    #[test]
    fn months_and_overflow_are_left_to_datafusion() {
        let month = IntervalMonthDayNano::new(1, 0, 0);
        assert!(bin(&args(month, vec![Some(0)], 0)).is_none());
        let second = IntervalMonthDayNano::new(0, 0, 1_000_000_000);
        assert!(bin(&args(second, vec![Some(i64::MIN)], i64::MAX)).is_none());
    }

    proptest! {
        #[test]
        fn agrees_with_datafusion(
            wide in any::<bool>(),
            mut times in proptest::collection::vec(proptest::option::of(-(1i64 << 40)..(1i64 << 40)), 1..50),
            sorted in any::<bool>(),
            days in 0i32..3,
            nanos in 1i64..100_000_000_000,
            origin in -(1i64 << 60)..(1i64 << 60),
        ) {
            if wide {
                // Far apart, and near the ends of the range.
                for t in times.iter_mut().flatten() {
                    *t = t.wrapping_mul(1 << 22);
                }
            }
            if sorted {
                times.sort();
            }
            let a = args(IntervalMonthDayNano::new(0, days, nanos), times, origin);
            if let Some(ColumnarValue::Array(ours)) = bin(&a) {
                let want = reference(&a);
                prop_assert_eq!(ours.as_ref(), want.as_ref());
            }
        }
    }
}
