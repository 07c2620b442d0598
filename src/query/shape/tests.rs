use std::sync::Arc;

use arrow_array::types::{Int8Type, Int32Type, UInt16Type};
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};

use super::{Value, apply, apply_all, cell};
use crate::query::translate::plan::{
    FillPlan, FillValue, OutputColumn, PlanKind, PostOp, ShapePlan, Transform, Window,
};

const M: i64 = 60_000_000_000;

fn plan(tags: &[&str], cols: &[(&str, usize)]) -> ShapePlan {
    ShapePlan {
        kind: PlanKind::Select,
        name: "cpu".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        columns: cols
            .iter()
            .map(|(n, s)| OutputColumn {
                name: n.to_string(),
                source: *s,
                transform: None,
                post: vec![],
                null_fill: None,
            })
            .collect(),
        window: None,
        start: None,
        end: None,
        fill: FillPlan::Null,
        descending: false,
        limit: None,
        offset: None,
        slimit: None,
        soffset: None,
        tz: None,
        drop_null_rows: false,
    }
}

fn times(t: &[i64]) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(t.to_vec()).with_timezone("UTC"))
}

fn tags(v: &[&str]) -> ArrayRef {
    Arc::new(v.iter().copied().collect::<DictionaryArray<Int32Type>>())
}

fn floats(v: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

fn f(v: f64) -> Value {
    Value::Float(v)
}

#[test]
fn groups_series_by_tags_and_fills_windows() {
    let mut p = plan(&["host"], &[("mean", 2), ("count", 3)]);
    p.window = Some(Window {
        every: 10 * M,
        offset: 0,
    });
    p.start = Some(3 * M);
    p.end = Some(40 * M);
    p.columns[1].null_fill = Some(FillValue::Integer(0));
    let b = batch(vec![
        ("time", times(&[0, 20 * M, 10 * M])),
        ("host", tags(&["a", "a", "b"])),
        ("mean", floats(&[Some(1.0), Some(3.0), Some(5.0)])),
        ("count", Arc::new(Int64Array::from(vec![2, 4, 1]))),
    ]);
    let s = apply(&p, &[b]).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].tags, vec![("host".into(), "a".into())]);
    assert_eq!(s[0].columns, vec!["time", "mean", "count"]);
    // Windows 0, 10, 20, 30 minutes: the first window holds the range start.
    let rows: Vec<_> = s[0]
        .values
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (Value::Time(0), f(1.0), Value::Integer(2)),
            (Value::Time(10 * M), Value::Null, Value::Integer(0)),
            (Value::Time(20 * M), f(3.0), Value::Integer(4)),
            (Value::Time(30 * M), Value::Null, Value::Integer(0)),
        ]
    );
    assert_eq!(s[1].values.len(), 4);
}

#[test]
fn fill_previous_linear_value_none() {
    let b = batch(vec![
        ("time", times(&[0, 30 * M])),
        ("v", floats(&[Some(1.0), Some(4.0)])),
    ]);
    let mut p = plan(&[], &[("v", 1)]);
    p.window = Some(Window {
        every: 10 * M,
        offset: 0,
    });
    p.start = Some(0);
    p.end = Some(40 * M);
    let col = |p: &ShapePlan| -> Vec<Value> {
        apply(p, std::slice::from_ref(&b)).unwrap()[0]
            .values
            .iter()
            .map(|r| r[1].clone())
            .collect()
    };
    p.fill = FillPlan::Previous;
    assert_eq!(col(&p), vec![f(1.0), f(1.0), f(1.0), f(4.0)]);
    p.fill = FillPlan::Linear;
    assert_eq!(col(&p), vec![f(1.0), f(2.0), f(3.0), f(4.0)]);
    p.fill = FillPlan::Value(FillValue::Integer(0));
    assert_eq!(
        col(&p),
        vec![f(1.0), Value::Integer(0), Value::Integer(0), f(4.0)]
    );
    p.fill = FillPlan::None;
    assert_eq!(col(&p), vec![f(1.0), f(4.0)]);
    p.fill = FillPlan::Null;
    p.descending = true;
    assert_eq!(col(&p), vec![f(4.0), Value::Null, Value::Null, f(1.0)]);
}

#[test]
fn transformations_and_post_arithmetic() {
    let b = batch(vec![
        ("time", times(&[0, M, 2 * M, 3 * M])),
        (
            "v",
            floats(&[Some(10.0), Some(70.0), Some(40.0), Some(100.0)]),
        ),
    ]);
    let mut p = plan(&[], &[("d", 1)]);
    p.columns[0].transform = Some(Transform::Derivative {
        unit: 1_000_000_000,
        non_negative: true,
    });
    p.columns[0].post = vec![PostOp {
        op: '*',
        value: 8.0,
    }];
    let s = apply(&p, std::slice::from_ref(&b)).unwrap();
    // The first point has no predecessor and the negative rate is dropped.
    assert_eq!(
        s[0].values,
        vec![
            vec![Value::Time(M), f(8.0)],
            vec![Value::Time(3 * M), f(8.0)]
        ]
    );
    p.columns[0].post.clear();
    p.columns[0].transform = Some(Transform::MovingAverage { n: 2 });
    let s = apply(&p, std::slice::from_ref(&b)).unwrap();
    assert_eq!(s[0].values.len(), 3);
    assert_eq!(s[0].values[0], vec![Value::Time(M), f(40.0)]);
    p.columns[0].transform = Some(Transform::CumulativeSum);
    let s = apply(&p, std::slice::from_ref(&b)).unwrap();
    assert_eq!(s[0].values[3][1], f(220.0));
    p.columns[0].transform = Some(Transform::Elapsed { unit: M });
    let s = apply(&p, std::slice::from_ref(&b)).unwrap();
    assert_eq!(s[0].values[0], vec![Value::Time(M), Value::Integer(1)]);
}

#[test]
fn limits_and_series_limits() {
    let b = batch(vec![
        ("time", times(&[1, 2, 3, 1, 2])),
        ("host", tags(&["a", "a", "a", "b", "b"])),
        (
            "v",
            floats(&[Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)]),
        ),
    ]);
    let mut p = plan(&["host"], &[("v", 2)]);
    p.limit = Some(1);
    p.offset = Some(1);
    p.slimit = Some(1);
    p.soffset = Some(1);
    let s = apply(&p, &[b]).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].tags[0].1, "b");
    assert_eq!(s[0].values, vec![vec![Value::Time(2), f(5.0)]]);
}

#[test]
fn aggregate_rows_without_values_are_dropped() {
    let b = batch(vec![("time", times(&[0])), ("v", floats(&[None]))]);
    let mut p = plan(&[], &[("mean", 1)]);
    p.drop_null_rows = true;
    assert!(apply(&p, &[b]).unwrap().is_empty());
}

#[test]
fn show_series_keys_are_merged_and_escaped() {
    let mut p = plan(&["host", "region"], &[("host", 0), ("region", 1)]);
    p.kind = PlanKind::Series;
    let b = batch(vec![
        (
            "host",
            Arc::new(StringArray::from(vec![Some("a b"), Some("c")])) as ArrayRef,
        ),
        (
            "region",
            Arc::new(StringArray::from(vec![Some("x=1"), None])) as ArrayRef,
        ),
    ]);
    let mut q = plan(&[], &[]);
    q.kind = PlanKind::Series;
    q.name = "events".into();
    let present = batch(vec![(
        "present",
        Arc::new(Int64Array::from(vec![1])) as ArrayRef,
    )]);
    let s = apply_all(&[(&p, &[b]), (&q, &[present])]).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].columns, vec!["key"]);
    assert_eq!(
        s[0].values,
        vec![
            vec![Value::String("cpu,host=a\\ b,region=x\\=1".into())],
            vec![Value::String("cpu,host=c".into())],
            vec![Value::String("events".into())],
        ]
    );
}

#[test]
fn dictionary_cells_of_any_key_type_and_null_keys() {
    let s = |v: &str| Value::String(v.to_string());
    let a: DictionaryArray<UInt16Type> = vec![Some("x"), None, Some("y"), Some("x")]
        .into_iter()
        .collect();
    let got: Vec<Value> = (0..a.len()).map(|r| cell(&a, r).unwrap()).collect();
    assert_eq!(got, vec![s("x"), Value::Null, s("y"), s("x")]);
    let b: DictionaryArray<Int8Type> = vec!["p", "q", "p"].into_iter().collect();
    // A slice: keys are read at the slice's offset.
    let b = b.slice(1, 2);
    assert_eq!(cell(&b, 0).unwrap(), s("q"));
    assert_eq!(cell(&b, 1).unwrap(), s("p"));
    // Many rows: each cell reads one key (converting every key per cell took minutes here).
    let hosts: DictionaryArray<Int32Type> = (0..200_000).map(|i| ["a", "b"][i % 2]).collect();
    let n = (0..hosts.len())
        .filter(|r| cell(&hosts, *r).unwrap() == s("b"))
        .count();
    assert_eq!(n, 100_000);
}
