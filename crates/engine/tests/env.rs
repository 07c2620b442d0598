//! `Engine::from_env` reads DataFusion's `DATAFUSION_*` variables. A test binary of its own:
//! it changes the process environment, which no other test may observe.
#![allow(clippy::disallowed_methods)]
// `std::env::set_var` is unsafe (other threads may read the environment); nothing else runs here.
#![allow(unsafe_code)]

mod common;

use influxgate_engine::{Engine, QueryLimits};

#[tokio::test]
async fn from_env_reads_datafusion_variables_and_rejects_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let storage = common::storage_in(dir.path()).await;
    const VAR: &str = "DATAFUSION_EXECUTION_TARGET_PARTITIONS";
    unsafe { std::env::set_var(VAR, "3") };
    let engine = Engine::from_env(storage.clone(), QueryLimits::default()).unwrap();
    assert_eq!(engine.session("db").state().config().target_partitions(), 3);
    unsafe { std::env::set_var(VAR, "many") };
    let err = Engine::from_env(storage.clone(), QueryLimits::default())
        .expect_err("a malformed value is an error");
    assert!(err.to_string().contains("many"), "{err}");
    unsafe { std::env::remove_var(VAR) };
    let engine = Engine::from_env(storage, QueryLimits::default()).unwrap();
    // Unset: half the cores DataFusion would use, at least one.
    let all = datafusion::prelude::SessionConfig::new().target_partitions();
    assert_eq!(
        engine.session("db").state().config().target_partitions(),
        (all / 2).max(1)
    );
}
