//! [`Engine`]: runs SQL over the stored data of a [`Storage`].
//!
//! The session's default catalog is a [`StorageCatalog`]: every storage database is a schema
//! (`"telegraf"`, `"telegraf/short"`) whose tables are its measurements, resolved from the
//! storage catalog when a query is planned, so new databases and measurements are visible
//! without registering anything. The storage's object store is registered under
//! [`STORE_URL`]. Unqualified table names resolve in the `database` passed to [`Engine::sql`].
//! The InfluxQL functions of [`crate::udf`] are registered.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionStateBuilder, TaskContext};
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::{ExecutionPlan, displayable, execute_stream};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use influxgate_storage::{Storage, StorageError};

use crate::plan_cache::PlanCache;
use crate::provider::{STORE_URL, ScanStats, Shared, StorageCatalog};

/// The catalog name tables live in.
pub const CATALOG: &str = "influxgate";

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Planning or execution failed (including unknown tables and columns, and the memory
    /// pool refusing an operator or a result: "Resources exhausted").
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    /// The storage failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// One statement's result grew past [`QueryLimits::result_bytes`].
    #[error(
        "query result exceeds the limit of {limit} bytes (--query-result-bytes): narrow the time range, aggregate, or add LIMIT"
    )]
    ResultTooLarge {
        /// The limit in bytes of Arrow data.
        limit: usize,
    },
}

impl EngineError {
    /// A stable name for the kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            // Operators wrap the pool's error (context, shared between partitions).
            EngineError::DataFusion(e) => match e.find_root() {
                DataFusionError::ResourcesExhausted(_) => "resources_exhausted",
                _ => "query",
            },
            EngineError::Storage(_) => "storage",
            EngineError::ResultTooLarge { .. } => "result_too_large",
        }
    }
}

/// What queries may hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Bytes that all running queries together may hold in operators that track memory
    /// (sorts, grouping, joins) and in collected results. Past it a sort spills to the
    /// system's temp directory and other operators fail with "Resources exhausted".
    pub memory_bytes: usize,
    /// Bytes of Arrow data one statement's result may have (like InfluxDB 1.x's
    /// `max-row-limit`, but an error rather than a silently cut result).
    pub result_bytes: usize,
    /// Bytes of whole Parquet files kept in memory for scans (see `data_cache`); 0 turns the
    /// cache off.
    pub parquet_cache_bytes: usize,
    /// Bytes of decoded columns of files kept in memory for scans (see `decoded`); 0 turns
    /// the cache off.
    pub decoded_cache_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            memory_bytes: 1024 * 1024 * 1024,
            result_bytes: 256 * 1024 * 1024,
            parquet_cache_bytes: 256 * 1024 * 1024,
            decoded_cache_bytes: 512 * 1024 * 1024,
        }
    }
}

type Setup = Arc<dyn Fn(&SessionContext) + Send + Sync>;

/// DataFusion's variable for the number of partitions a query is split into.
const TARGET_PARTITIONS_VAR: &str = "DATAFUSION_EXECUTION_TARGET_PARTITIONS";

/// Statements a query may be: no DDL, no `INSERT`/`COPY ... TO` (which would write files on the
/// server's disk), no `SET`. Every reader can send SQL through `/api/v3/query_sql`.
fn queries_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// The query engine: DataFusion over a [`Storage`]. Cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct Engine {
    storage: Arc<Storage>,
    state: SessionState,
    shared: Arc<Shared>,
    setup: Vec<Setup>,
    plans: Arc<PlanCache>,
    limits: QueryLimits,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `storage`, with DataFusion's defaults (one partition per core).
    pub fn new(storage: Arc<Storage>) -> Self {
        Self::with_config(storage, SessionConfig::new(), QueryLimits::default())
    }

    /// An engine configured by DataFusion's `DATAFUSION_*` environment variables (for example
    /// `DATAFUSION_EXECUTION_TARGET_PARTITIONS=4`), defaults for the others, except that
    /// queries use half the cores unless the variable says otherwise: the HTTP server, the
    /// persister and compaction share them, and dashboard queries are small. On the 2-core
    /// benchmark box one partition made them 15-40% faster and a full scan no slower
    /// (BENCHMARKS.md). A malformed value is an error rather than silently ignored.
    pub fn from_env(storage: Arc<Storage>, limits: QueryLimits) -> Result<Self, EngineError> {
        let mut config = SessionConfig::from_env()?;
        if std::env::var_os(TARGET_PARTITIONS_VAR).is_none() {
            let half = (config.target_partitions() / 2).max(1);
            config = config.with_target_partitions(half);
        }
        Ok(Self::with_config(storage, config, limits))
    }

    /// An engine with a DataFusion session configuration of your own.
    pub fn with_config(storage: Arc<Storage>, config: SessionConfig, limits: QueryLimits) -> Self {
        let (store, _prefix) = storage.object_store();
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            .build_arc()
            .expect("default runtime environment");
        let url = ObjectStoreUrl::parse(STORE_URL).expect("store URL");
        runtime.register_object_store(url.as_ref(), store);
        let config = config
            .with_default_catalog_and_schema(CATALOG, "public")
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::scan_predicates::DedupScanPredicates))
            .build();
        let catalog = StorageCatalog::new(storage.clone());
        let shared = catalog.shared();
        shared.data_cache.set_budget(limits.parquet_cache_bytes);
        shared.decoded.set_budget(limits.decoded_cache_bytes);
        let ctx = SessionContext::new_with_state(state);
        ctx.register_catalog(CATALOG, Arc::new(catalog));
        crate::udf::register_udfs(&ctx);
        if let Ok(inner) = datafusion::execution::FunctionRegistry::udf(&ctx, "date_bin") {
            ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
                crate::date_bin::DateBin::new(inner),
            ));
        }
        ctx.add_analyzer_rule(Arc::new(crate::selector::SelectorRule));
        ctx.add_analyzer_rule(Arc::new(crate::group_keys::TagGroupRule));
        ctx.register_udtf(
            crate::last_rows::LAST_ROWS,
            Arc::new(crate::last_rows::LastRowsFunction {
                storage: storage.clone(),
                shared: shared.clone(),
            }),
        );
        Engine {
            storage,
            state: ctx.state(),
            shared,
            setup: Vec::new(),
            plans: Arc::default(),
            limits,
        }
    }

    /// Run `f` on every session before its query (e.g. to register UDFs).
    pub fn with_session_setup(
        mut self,
        f: impl Fn(&SessionContext) + Send + Sync + 'static,
    ) -> Self {
        self.setup.push(Arc::new(f));
        self
    }

    /// The storage queried.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// A session whose unqualified table names are the measurements of `database`.
    pub fn session(&self, database: &str) -> SessionContext {
        let mut state = self.state.clone();
        state.config_mut().options_mut().catalog.default_schema = database.to_string();
        let ctx = SessionContext::new_with_state(state);
        for f in &self.setup {
            f(&ctx);
        }
        ctx
    }

    /// Plan and run one SQL statement; all result batches. The result is counted against
    /// [`QueryLimits`] while it is collected, so a statement that would return more than
    /// `result_bytes` (or more than the memory pool has left) fails instead of growing.
    pub async fn sql(&self, database: &str, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
        let state = self.state_for(database);
        let plan = self.plan_in(&state, database, sql).await?;
        let task = Arc::new(TaskContext::from(&state));
        let reservation = MemoryConsumer::new("query result").register(task.memory_pool());
        let mut stream = execute_stream(plan, task)?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let size = batch.get_array_memory_size();
            if reservation.size().saturating_add(size) > self.limits.result_bytes {
                return Err(EngineError::ResultTooLarge {
                    limit: self.limits.result_bytes,
                });
            }
            reservation.try_grow(size)?;
            batches.push(batch);
        }
        Ok(batches)
    }

    /// The physical plan of `sql` (what [`Engine::sql`] runs).
    pub async fn physical_plan(
        &self,
        database: &str,
        sql: &str,
    ) -> Result<Arc<dyn ExecutionPlan>, EngineError> {
        self.plan_in(&self.state_for(database), database, sql).await
    }

    /// How many times a kept physical plan ran again (nothing changed in the storage since it
    /// was planned).
    pub fn physical_plan_reuses(&self) -> u64 {
        self.plans.reuses()
    }

    /// How many optimized plans are kept for repeated statements.
    pub fn cached_plans(&self) -> usize {
        self.plans.len()
    }

    /// The state a statement on `database` plans and runs in: one clone of the engine's state
    /// (a session, with its clones, only when setup functions must run on it).
    fn state_for(&self, database: &str) -> SessionState {
        if !self.setup.is_empty() {
            return self.session(database).state();
        }
        let mut state = self.state.clone();
        state.config_mut().options_mut().catalog.default_schema = database.to_string();
        state
    }

    async fn plan_in(
        &self,
        state: &SessionState,
        database: &str,
        sql: &str,
    ) -> Result<Arc<dyn ExecutionPlan>, EngineError> {
        let catalog = self.storage.catalog();
        // Read before anything the plan reads: a change meanwhile makes the plan never match.
        let version = self.storage.data_version();
        if let Some(plan) = self.plans.get_physical(database, sql, &catalog, version) {
            return Ok(reset_plan_states(plan)?);
        }
        let mut cached = true;
        let optimized = match self.plans.get(database, sql, &catalog) {
            Some(plan) => plan,
            None => {
                // What `SessionContext::sql_with_options` does for a query.
                let plan = state.create_logical_plan(sql).await?;
                queries_only().verify_plan(&plan)?;
                let optimized = state.optimize(&plan)?;
                self.plans
                    .put(database, sql, catalog.clone(), &plan, &optimized);
                cached = false;
                optimized
            }
        };
        let physical = state
            .query_planner()
            .create_physical_plan(&optimized, state)
            .await?;
        // Planned twice: a statement that repeats (kept plans of one-off statements would only
        // add up metrics).
        if cached {
            self.plans
                .put_physical(database, sql, &catalog, version, &physical);
        }
        Ok(physical)
    }

    /// Bytes of Parquet files held in memory for scans now (see `data_cache`).
    pub fn parquet_cache_used(&self) -> usize {
        self.shared.data_cache.used_bytes()
    }

    /// Bytes of decoded columns held in memory for scans now (see `decoded`).
    pub fn decoded_cache_used(&self) -> usize {
        self.shared.decoded.used_bytes()
    }

    /// The physical plan of `sql`, indented, for people and tests.
    pub async fn explain(&self, database: &str, sql: &str) -> Result<String, EngineError> {
        let plan = self.physical_plan(database, sql).await?;
        Ok(displayable(plan.as_ref()).indent(true).to_string())
    }

    /// What the last planned scan of `database`.`table` read (files pruned, scanned, merged); a
    /// reused physical plan (see `plan_cache`) plans no scan and leaves it as it was.
    pub fn last_scan(&self, database: &str, table: &str) -> Option<ScanStats> {
        self.shared
            .stats
            .lock()
            .ok()?
            .get(&(database.to_string(), table.to_string()))
            .cloned()
    }
}
