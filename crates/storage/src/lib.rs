pub use influxgate;
