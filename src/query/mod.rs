//! The query path: InfluxQL parsing and translation to SQL.
pub mod influxql;
pub mod params;
pub mod response;
pub mod run;
pub mod shape;
pub mod translate;
