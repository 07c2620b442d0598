//! Query memory bounds: a statement's result and the shared memory pool are limited, and a
//! statement over the limit fails with a clear error instead of growing the process.
#![allow(clippy::disallowed_methods)]

mod common;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::prelude::SessionConfig;
use influxgate_engine::{Engine, EngineError, QueryLimits};

async fn engine(limits: QueryLimits) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let storage = common::storage_in(dir.path()).await;
    let config = SessionConfig::new().with_target_partitions(1);
    (dir, Engine::with_config(storage, config, limits))
}

fn single_i64(batches: &[datafusion::arrow::array::RecordBatch]) -> i64 {
    let column = batches[0].column(0);
    let values = column.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(values.len(), 1);
    values.value(0)
}

#[tokio::test]
async fn a_result_over_its_byte_limit_fails_and_streaming_work_does_not() {
    let (_dir, engine) = engine(QueryLimits {
        memory_bytes: 256 * 1024 * 1024,
        result_bytes: 1024 * 1024,
        ..QueryLimits::default()
    })
    .await;
    // 10 million rows (80 MB of Int64) as a result: refused once the first MiB is collected.
    let err = engine
        .sql("db", "SELECT value FROM generate_series(1, 10000000)")
        .await
        .expect_err("a result over result_bytes is an error");
    assert!(
        matches!(err, EngineError::ResultTooLarge { limit: 1048576 }),
        "{err}"
    );
    assert_eq!(err.code(), "result_too_large");
    assert!(err.to_string().contains("1048576 bytes"), "{err}");
    // The same rows aggregated stream through in constant memory.
    let batches = engine
        .sql(
            "db",
            "SELECT count(*) FROM generate_series(1, 10000000) WHERE value % 7 = 3",
        )
        .await
        .unwrap();
    assert_eq!(single_i64(&batches), 1428572);
    // A result under the limit comes back whole.
    let batches = engine
        .sql("db", "SELECT value FROM generate_series(1, 20000)")
        .await
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 20000);
}

#[tokio::test]
async fn the_memory_pool_bounds_operators_and_results_and_is_given_back() {
    let (_dir, engine) = engine(QueryLimits {
        memory_bytes: 4 * 1024 * 1024,
        result_bytes: 512 * 1024 * 1024,
        ..QueryLimits::default()
    })
    .await;
    // The build side of a hash join over 5 million rows needs far more than 4 MiB (and
    // DataFusion's hash join does not spill).
    let err = engine
        .sql(
            "db",
            "SELECT count(*) FROM generate_series(1, 5000000) a \
             JOIN generate_series(1, 5000000) b ON a.value = b.value",
        )
        .await
        .expect_err("the pool refuses the join's hash table");
    assert_eq!(err.code(), "resources_exhausted", "{err}");
    assert!(err.to_string().contains("Resources exhausted"), "{err}");
    // Results count against the pool too: 2 million Int64 values are 16 MB.
    let err = engine
        .sql("db", "SELECT value FROM generate_series(1, 2000000)")
        .await
        .expect_err("the pool refuses the result");
    assert_eq!(err.code(), "resources_exhausted", "{err}");
    // Failed statements gave their memory back: small ones still run, repeatedly.
    for _ in 0..3 {
        let batches = engine
            .sql(
                "db",
                "SELECT count(DISTINCT value) FROM generate_series(1, 1000)",
            )
            .await
            .unwrap();
        assert_eq!(single_i64(&batches), 1000);
        let batches = engine
            .sql("db", "SELECT value FROM generate_series(1, 100000)")
            .await
            .unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 100000);
    }
}
