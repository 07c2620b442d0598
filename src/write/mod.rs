//! The write path: parameters, body decoding, line protocol, batches and responses.

pub mod batch;
pub mod gzip;
pub mod line_protocol;
pub mod params;
pub mod precision;
pub mod record;
pub mod rows;
