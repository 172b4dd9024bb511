//! `treaty-bench card`: the registry card's conditional-GET path (matching `If-None-Match`,
//! answered 304 from a precomputed ETag: no signing, no ledger read) against full 200 answers
//! measured in the same run.

use anyhow::{Context as _, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CARD_PATH: &str = "/.well-known/registry-card.json";

struct Run {
    per_s: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs the benchmark and prints medians.
pub(crate) fn run(requests: usize, clients: usize, runs: usize) -> Result<()> {
    println!(
        "card: {requests} requests per measurement, {clients} concurrent HTTP/1.1 clients, {runs} runs"
    );
    // The benchmark measures the card path, not the limiter: all clients share one IP.
    let node = crate::InProcessNode::start(treaty_node::config::RateLimitSettings::disabled())?;
    let addr = node.addr;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let url = format!("http://{addr}{CARD_PATH}");
    let (etag, card) = client_rt.block_on(async {
        let r = reqwest::get(&url).await?;
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let card: serde_json::Value = r.json().await?;
        Ok::<_, anyhow::Error>((etag.context("no ETag")?, card))
    })?;
    let mut cond = Vec::new();
    let mut full = Vec::new();
    for run in 0..runs {
        let c = client_rt.block_on(measure(&url, Some(&etag), requests, clients))?;
        let f = client_rt.block_on(measure(&url, None, requests, clients))?;
        println!(
            "  run {run}: 304 path {:.0}/s p50 {:?} p99 {:?}; full 200 {:.0}/s p50 {:?} p99 {:?}",
            c.per_s, c.p50, c.p99, f.per_s, f.p50, f.p99
        );
        cond.push(c);
        full.push(f);
    }
    node.stop();
    // What the cache saves: signing and serializing the card, as a node that built the card
    // per request would (measured on the same core data).
    let mut signed_part = card.clone();
    if let Some(o) = signed_part.as_object_mut() {
        o.remove("signatures");
        o.remove("volatile");
    }
    let core = treaty_card::CardCore::from_value(&signed_part)?;
    let key = treaty_card::SigningKey::from_bytes(&[7; 32]);
    let kid = treaty_card::jwk_thumbprint(&key.verifying_key().to_bytes());
    let n = 20_000u32;
    let t = Instant::now();
    for i in 0..n {
        let signed = treaty_card::sign_card(&core, &key, &kid, 1_800_000_000 + u64::from(i))?;
        std::hint::black_box(signed.to_bytes(None)?);
    }
    let sign_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(treaty_card::etag(&core, &kid)?);
    }
    let etag_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!(
        "per-request work avoided by the cache: sign + serialize {sign_us:.1} us, recompute ETag {etag_us:.1} us; the 304 path compares a stored string"
    );
    let med = |v: &[Run], f: fn(&Run) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    let (c_rate, f_rate) = (med(&cond, |r| r.per_s), med(&full, |r| r.per_s));
    println!(
        "median: 304 path {c_rate:.0}/s (p50 {:.3} ms, p99 {:.3} ms); full 200 {f_rate:.0}/s (p50 {:.3} ms, p99 {:.3} ms); 304/200 throughput = {:.2}",
        med(&cond, |r| r.p50.as_secs_f64() * 1e3),
        med(&cond, |r| r.p99.as_secs_f64() * 1e3),
        med(&full, |r| r.p50.as_secs_f64() * 1e3),
        med(&full, |r| r.p99.as_secs_f64() * 1e3),
        c_rate / f_rate
    );
    Ok(())
}

async fn measure(url: &str, etag: Option<&str>, requests: usize, clients: usize) -> Result<Run> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .http1_only()
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, next, etag) = (
            http.clone(),
            url.to_owned(),
            next.clone(),
            etag.map(str::to_owned),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let t = Instant::now();
                let mut req = http.get(&url);
                if let Some(e) = &etag {
                    req = req.header("if-none-match", e);
                }
                let resp = req.send().await?;
                let want = if etag.is_some() { 304 } else { 200 };
                anyhow::ensure!(resp.status().as_u16() == want, "got {}", resp.status());
                let _ = resp.bytes().await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    let pick = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize];
    Ok(Run {
        per_s: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pick(0.5),
        p99: pick(0.99),
    })
}
