//! Prometheus metrics: what an operator graphs and alerts on.
//!
//! One recorder per process (the `metrics` facade is global), installed by the first node
//! prepared in the process and shared by any later one (tests and benchmarks run several
//! nodes in one process). `GET /metrics` renders it in the Prometheus text format.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

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

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder on first use; answers the handle to render from.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is already global (an embedding program's);
            // then this node's metrics go there and `/metrics` reports that.
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .as_ref()
}

/// Records every request's endpoint, status and latency.
pub async fn track(req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "endpoint" => endpoint.clone(), "status" => status).increment(1);
    metrics::histogram!(HTTP_SECONDS, "method" => method, "endpoint" => endpoint)
        .record(start.elapsed().as_secs_f64());
    resp
}
