//! Prometheus metrics: what an operator graphs and alerts on.
//!
//! One recorder per process (the `metrics` facade is global), installed by the first node
//! prepared in the process and shared by any later one (tests and benchmarks run several
//! nodes in one process). `GET /metrics` renders it in the Prometheus text format.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// HTTP requests answered, by endpoint template and status.
pub const HTTP_REQUESTS: &str = "treaty_http_requests_total";
/// HTTP request latency, by endpoint template.
pub const HTTP_SECONDS: &str = "treaty_http_request_duration_seconds";
/// Entries in the ledger (the newest checkpoint's size).
pub const LEDGER_SIZE: &str = "treaty_ledger_size";
/// Entries per committed batch.
pub const BATCH_ENTRIES: &str = "treaty_sequencer_batch_entries";
/// Time to sign, prove and commit one batch.
pub const BATCH_SECONDS: &str = "treaty_sequencer_commit_seconds";
/// Batches that failed to commit (their writes were refused, nothing was acknowledged).
pub const BATCH_FAILURES: &str = "treaty_sequencer_commit_failures_total";

/// How often recorded samples are folded into the exported histograms. The exporter buffers
/// every sample until upkeep runs, so without it memory grows with traffic.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Histogram buckets, in seconds, for request latency and batch commit time.
pub const LATENCY_BUCKETS_S: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Histogram buckets for entries per batch (up to the largest configurable batch).
pub const BATCH_BUCKETS: &[f64] = &[1.0, 4.0, 16.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder on first use; answers the handle to render from.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            // Histograms with fixed buckets (not summaries) so they aggregate across nodes.
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_SECONDS.into()), LATENCY_BUCKETS_S)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_SECONDS.into()), LATENCY_BUCKETS_S))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_ENTRIES.into()), BATCH_BUCKETS))
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is already global (an embedding program's);
            // then this node's metrics go there and `/metrics` reports that.
            metrics::set_global_recorder(recorder).ok()?;
            let upkeep = handle.clone();
            // One process-wide thread, for the life of the process, like the recorder itself.
            let spawned = std::thread::Builder::new()
                .name("treaty-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread not started; /metrics still folds samples on render");
            }
            Some(handle)
        })
        .as_ref()
}

/// Records every request's endpoint, status and latency.
///
/// Labels are `&'static str` (the endpoint's id from the endpoint table, the method, a status
/// class table) so that recording allocates nothing: this runs on every request.
pub async fn track(req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| {
            crate::api::endpoints::ALL
                .iter()
                .find(|e| {
                    e.path == p.as_str()
                        && e.method.lower().eq_ignore_ascii_case(req.method().as_str())
                })
                .map(|e| e.id)
        })
        .unwrap_or("unmatched");
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = status_label(resp.status().as_u16());
    metrics::counter!(HTTP_REQUESTS, "endpoint" => endpoint, "status" => status).increment(1);
    metrics::histogram!(HTTP_SECONDS, "endpoint" => endpoint).record(start.elapsed().as_secs_f64());
    resp
}

/// The status codes the node answers, as static labels.
fn status_label(code: u16) -> &'static str {
    match code {
        200 => "200",
        201 => "201",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        410 => "410",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}
