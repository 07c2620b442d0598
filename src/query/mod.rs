//! The query path: InfluxQL parsing and translation to SQL.
pub mod influxql;
pub mod params;
