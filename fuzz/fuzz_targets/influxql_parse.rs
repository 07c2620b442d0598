//! Parses arbitrary UTF-8 as InfluxQL; whatever parses must print and re-parse to the same AST.
#![no_main]

use influxgate::query::influxql::parse_statements;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(statements) = parse_statements(text) else {
        return;
    };
    for statement in &statements {
        let printed = statement.to_string();
        let again = parse_statements(&printed)
            .unwrap_or_else(|e| panic!("re-parse of {printed:?} (from {text:?}) failed: {e}"));
        assert_eq!(again.len(), 1, "{printed:?}");
        assert_eq!(
            &again[0], statement,
            "round trip of {text:?} via {printed:?}"
        );
        assert_eq!(
            again[0].to_string(),
            printed,
            "printing is not stable for {text:?}"
        );
    }
});
