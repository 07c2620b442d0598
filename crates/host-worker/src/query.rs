//! Queries in mode `upstream` (influxgate kind): the core parses and translates InfluxQL at the
//! edge; each SQL job runs on the upstream influxgate (`POST /api/v3/internal/query_arrow?db=DB`,
//! SQL as the body, Arrow IPC stream back); the core shapes and renders the answer.

use influxgate::Error;
use influxgate::query::run::{JobResult, QueryPlan};
use influxgate::response::Response as CoreResponse;
use influxgate::upstream::decode_ipc;

use crate::settings::{Upstream, UpstreamKind};
use crate::upstream::{enc, send, upstream_message};

pub async fn run(up: &Upstream, plan: &QueryPlan, retry_after_secs: u32) -> CoreResponse {
    if up.kind != UpstreamKind::Influxgate {
        return CoreResponse::error(&Error::UnprocessableEntity(
            "queries at the edge need an influxgate upstream (UPSTREAM_KIND=influxgate)".into(),
        ));
    }
    let mut results: Vec<JobResult> = Vec::new();
    for job in plan.jobs() {
        let url = format!(
            "{}{}?db={}",
            up.url,
            influxgate::routes::QUERY_ARROW,
            enc(job.database)
        );
        let answer = send(
            up,
            &url,
            job.sql.as_bytes().to_vec(),
            "application/sql",
            false,
        )
        .await;
        let result = match answer {
            Ok((status, body)) if (200..300).contains(&status) => decode_ipc(&body),
            Ok((status, body)) if (400..500).contains(&status) && status != 429 => {
                Err(upstream_message(&String::from_utf8_lossy(&body)))
            }
            Ok((status, body)) => {
                return CoreResponse::error(&Error::Unavailable {
                    message: format!(
                        "upstream answered {status}: {}",
                        upstream_message(&String::from_utf8_lossy(&body))
                    ),
                    retry_after_secs,
                });
            }
            Err(message) => {
                return CoreResponse::error(&Error::Unavailable {
                    message,
                    retry_after_secs,
                });
            }
        };
        results.push(result);
    }
    plan.respond(results)
}
