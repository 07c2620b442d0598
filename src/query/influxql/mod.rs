//! InfluxQL (InfluxDB 1.x dialect) parser. (Parser in progress; the AST is stable.)

pub mod ast;

pub use ast::*;
