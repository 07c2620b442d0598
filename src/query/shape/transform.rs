//! Transformations over the points of one series, in output order, skipping absent values
//! (InfluxDB feeds its transform reducers only non-null points).

use super::{Row, Value};
use crate::query::translate::plan::{PostOp, ShapePlan, Transform};

pub(super) fn apply(plan: &ShapePlan, rows: &mut [Row]) {
    for (c, col) in plan.columns.iter().enumerate() {
        if let Some(t) = col.transform {
            run(t, rows, c);
        }
        if !col.post.is_empty() {
            for r in rows.iter_mut() {
                r.vals[c] = post(&r.vals[c], &col.post);
            }
        }
    }
}

fn post(v: &Value, ops: &[PostOp]) -> Value {
    let mut cur = v.clone();
    for op in ops {
        cur = match (&cur, op.op) {
            (Value::Integer(i), '+' | '-' | '*') if op.value.fract() == 0.0 => {
                let k = op.value as i64;
                Value::Integer(match op.op {
                    '+' => i.saturating_add(k),
                    '-' => i.saturating_sub(k),
                    _ => i.saturating_mul(k),
                })
            }
            _ => match cur.as_f64() {
                Some(x) => Value::Float(match op.op {
                    '+' => x + op.value,
                    '-' => x - op.value,
                    '*' => x * op.value,
                    _ => x / op.value,
                }),
                None => Value::Null,
            },
        };
    }
    cur
}

fn sub(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Value::Integer(x.wrapping_sub(*y)),
        (Value::Unsigned(x), Value::Unsigned(y)) => Value::Unsigned(x.wrapping_sub(*y)),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Value::Float(x - y),
            _ => Value::Null,
        },
    }
}

fn add(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Value::Integer(x.wrapping_add(*y)),
        (Value::Unsigned(x), Value::Unsigned(y)) => Value::Unsigned(x.wrapping_add(*y)),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Value::Float(x + y),
            _ => Value::Null,
        },
    }
}

fn negative(v: &Value) -> bool {
    match v {
        Value::Integer(i) => *i < 0,
        Value::Float(f) => *f < 0.0,
        _ => false,
    }
}

fn run(t: Transform, rows: &mut [Row], c: usize) {
    let mut prev: Option<(i64, Value)> = None;
    let mut window: std::collections::VecDeque<f64> = std::collections::VecDeque::new();
    let mut sum: Option<Value> = None;
    for r in rows.iter_mut() {
        let v = std::mem::replace(&mut r.vals[c], Value::Null);
        if v.is_null() {
            continue;
        }
        let out = match t {
            Transform::Derivative { unit, non_negative } => {
                let o = prev.as_ref().and_then(|(pt, pv)| {
                    let dt = (r.time - pt) as f64 / unit as f64;
                    let d = sub(&v, pv).as_f64()?;
                    // InfluxDB skips points with the same timestamp.
                    (dt != 0.0).then_some(Value::Float(d / dt))
                });
                prev = Some((r.time, v));
                o.filter(|o| !(non_negative && negative(o)))
            }
            Transform::Difference { non_negative } => {
                let o = prev.as_ref().map(|(_, pv)| sub(&v, pv));
                prev = Some((r.time, v));
                o.filter(|o| !(non_negative && negative(o)))
            }
            Transform::MovingAverage { n } => {
                window.push_back(v.as_f64().unwrap_or(0.0));
                if window.len() as u64 > n {
                    window.pop_front();
                }
                (window.len() as u64 == n)
                    .then(|| Value::Float(window.iter().sum::<f64>() / n as f64))
            }
            Transform::CumulativeSum => {
                let s = match &sum {
                    None => v,
                    Some(s) => add(s, &v),
                };
                sum = Some(s.clone());
                Some(s)
            }
            Transform::Elapsed { unit } => {
                let o = prev
                    .as_ref()
                    .map(|(pt, _)| Value::Integer((r.time - pt) / unit));
                prev = Some((r.time, v));
                o
            }
        };
        r.vals[c] = out.unwrap_or(Value::Null);
    }
}
