//! The shaping plan: what the SQL result still needs to become InfluxQL series. The SQL does
//! filtering, bucketing and aggregation; [`crate::query::shape::apply`] follows this plan to
//! group rows into series, fill empty windows, run transformations and apply per-series limits.

use core::fmt;

use super::time::{format_duration, format_rfc3339};

/// How one SQL result becomes series.
///
/// Layout of the SQL result the plan describes: column 0 is `time` (a nanosecond timestamp),
/// columns `1..=tags.len()` are the GROUP BY tags in [`ShapePlan::tags`] order, and the rest
/// are referenced by [`OutputColumn::source`]. Rows arrive ordered by tags, then time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShapePlan {
    /// What the rows are.
    pub kind: PlanKind,
    /// The series name (the measurement).
    pub name: String,
    /// GROUP BY tag keys; each distinct tag set is one series.
    pub tags: Vec<String>,
    /// The output columns after `time`.
    pub columns: Vec<OutputColumn>,
    /// `GROUP BY time(every, offset)`.
    pub window: Option<Window>,
    /// The query's time range `[start, end)`; `None` is unbounded on that side.
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Gap filling for `window` (InfluxDB's default is `null`).
    pub fill: FillPlan,
    /// `ORDER BY time DESC`.
    pub descending: bool,
    /// Per-series `LIMIT`/`OFFSET` still to apply (`None` when the SQL already did it).
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    /// `SLIMIT`/`SOFFSET`.
    pub slimit: Option<u64>,
    pub soffset: Option<u64>,
    /// `tz()`: the zone output times are shown in.
    pub tz: Option<String>,
    /// Drop rows whose every output column is null: an aggregate over no points, which
    /// InfluxDB omits instead of returning a row of nulls.
    pub drop_null_rows: bool,
}

/// What a SQL result holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// Rows of a SELECT.
    Select,
    /// `SHOW TAG VALUES`: columns `key`, `value`; one series per measurement, no time.
    TagValues,
    /// `SHOW SERIES`: tag columns of distinct tag sets, turned into `key` strings.
    Series,
    /// `SHOW MEASUREMENTS ... WHERE`: any row means the measurement matches.
    Measurements,
}

/// One output column.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputColumn {
    /// The InfluxQL column name (`mean`, `mean_1`, an alias, a field name).
    pub name: String,
    /// Index of the SQL result column holding its values.
    pub source: usize,
    /// A transformation computed over each series in the shaping step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<Transform>,
    /// Arithmetic with constants applied after the transformation, in order
    /// (`non_negative_derivative(max(bytes), 1s) * 8`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post: Vec<PostOp>,
    /// The value empty windows get under `fill(null)`: InfluxDB fills `count()` with 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_fill: Option<FillValue>,
}

/// `value <op> constant` after a transformation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PostOp {
    /// One of `+ - * /`.
    pub op: char,
    pub value: f64,
}

/// Transformations over consecutive points of a series. Done here rather than with SQL window
/// functions because InfluxDB applies them after gap filling and skips absent values.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "fn")]
pub enum Transform {
    /// `(v - prev) / ((t - prev_t) / unit)`; `non_negative` drops negative results.
    Derivative { unit: i64, non_negative: bool },
    /// `v - prev`; `non_negative` drops negative results.
    Difference { non_negative: bool },
    /// Mean of the last `n` values.
    MovingAverage { n: u64 },
    /// Running sum.
    CumulativeSum,
    /// `(t - prev_t) / unit`.
    Elapsed { unit: i64 },
}

/// `GROUP BY time(every, offset)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    pub every: i64,
    pub offset: i64,
}

/// Gap filling for empty windows.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillPlan {
    /// Empty windows get nulls (InfluxDB's default).
    Null,
    /// Empty windows are omitted.
    None,
    /// The previous window's value.
    Previous,
    /// Linear interpolation between the neighbouring windows.
    Linear,
    /// A constant.
    Value(FillValue),
}

/// A constant fill value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillValue {
    Integer(i64),
    Float(f64),
}

impl fmt::Display for FillValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FillValue::Integer(i) => write!(f, "{i}"),
            FillValue::Float(v) => write!(f, "{v:?}"),
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transform::Derivative { unit, non_negative } => write!(
                f,
                "{}derivative({})",
                if *non_negative { "non_negative_" } else { "" },
                format_duration(*unit)
            ),
            Transform::Difference { non_negative } => write!(
                f,
                "{}difference",
                if *non_negative { "non_negative_" } else { "" }
            ),
            Transform::MovingAverage { n } => write!(f, "moving_average({n})"),
            Transform::CumulativeSum => f.write_str("cumulative_sum"),
            Transform::Elapsed { unit } => write!(f, "elapsed({})", format_duration(*unit)),
        }
    }
}

impl fmt::Display for FillPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FillPlan::Null => f.write_str("null"),
            FillPlan::None => f.write_str("none"),
            FillPlan::Previous => f.write_str("previous"),
            FillPlan::Linear => f.write_str("linear"),
            FillPlan::Value(v) => write!(f, "{v}"),
        }
    }
}

/// One line, stable, for case files and the CLI:
/// `series=cpu tags=[host] columns=[mean=$2] window=10m fill=null range=[..) limit=..`.
impl fmt::Display for ShapePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PlanKind::Select => {}
            PlanKind::TagValues => f.write_str("tag_values ")?,
            PlanKind::Series => f.write_str("show_series ")?,
            PlanKind::Measurements => f.write_str("show_measurements ")?,
        }
        write!(f, "series={}", self.name)?;
        if !self.tags.is_empty() {
            write!(f, " tags=[{}]", self.tags.join(","))?;
        }
        f.write_str(" columns=[")?;
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}=${}", c.name, c.source)?;
            if let Some(t) = &c.transform {
                write!(f, ":{t}")?;
            }
            for p in &c.post {
                write!(f, "{}{:?}", p.op, p.value)?;
            }
            if let Some(v) = &c.null_fill {
                write!(f, ":null_fill({v})")?;
            }
        }
        f.write_str("]")?;
        if let Some(w) = &self.window {
            write!(f, " window={}", format_duration(w.every))?;
            if w.offset != 0 {
                write!(f, "+{}", format_duration(w.offset))?;
            }
            write!(f, " fill={}", self.fill)?;
        }
        if self.start.is_some() || self.end.is_some() {
            f.write_str(" range=[")?;
            match self.start {
                Some(s) => f.write_str(&format_rfc3339(s))?,
                None => f.write_str("-inf")?,
            }
            f.write_str(", ")?;
            match self.end {
                Some(e) => f.write_str(&format_rfc3339(e))?,
                None => f.write_str("+inf")?,
            }
            f.write_str(")")?;
        }
        if self.descending {
            f.write_str(" desc")?;
        }
        for (k, v) in [
            ("limit", self.limit),
            ("offset", self.offset),
            ("slimit", self.slimit),
            ("soffset", self.soffset),
        ] {
            if let Some(v) = v {
                write!(f, " {k}={v}")?;
            }
        }
        if let Some(tz) = &self.tz {
            write!(f, " tz={tz}")?;
        }
        if self.drop_null_rows {
            f.write_str(" drop_null_rows")?;
        }
        Ok(())
    }
}
