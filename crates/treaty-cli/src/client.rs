//! HTTP client for the node's API, built on the shared endpoint definitions.

use crate::ClientArgs;
use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};
use std::time::Duration;
use treaty_node::api::endpoints::{self as ep, Endpoint};

/// Longest the CLI waits for one answer.
const REQUEST_TIMEOUT_S: u64 = 30;

/// A client bound to one node.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub(crate) fn new(args: &ClientArgs) -> Result<Self> {
        let http = args
            .tls
            .http_builder()?
            .timeout(Duration::from_secs(REQUEST_TIMEOUT_S))
            .build()
            .context("building HTTP client")?;
        Ok(Self {
            http,
            base: args.url.trim_end_matches('/').to_owned(),
            token: args.token.clone(),
        })
    }

    async fn send(
        &self,
        endpoint: &Endpoint,
        params: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<reqwest::Response> {
        let url = endpoint.url(&self.base, params);
        let method = match endpoint.method {
            ep::Method::Get => reqwest::Method::GET,
            ep::Method::Put => reqwest::Method::PUT,
            ep::Method::Post => reqwest::Method::POST,
            ep::Method::Delete => reqwest::Method::DELETE,
        };
        let mut req = self.http.request(method, &url).query(query);
        if endpoint.auth != ep::Auth::Public {
            let Some(token) = &self.token else {
                bail!(
                    "{} needs a token: pass --token or set TREATY_TOKEN",
                    endpoint.id
                );
            };
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.with_context(|| format!("calling {url}"))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<Value>(&text) {
            Ok(p) if p.get("code").is_some() => bail!(
                "node answered {} {}: {}",
                status.as_u16(),
                p["code"].as_str().unwrap_or("?"),
                p["detail"].as_str().unwrap_or("")
            ),
            _ => bail!("node answered {status}: {text}"),
        }
    }

    async fn json(
        &self,
        endpoint: &Endpoint,
        params: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let resp = self.send(endpoint, params, query, body).await?;
        resp.json().await.context("reading JSON answer")
    }

    async fn text(&self, endpoint: &Endpoint, params: &[&str]) -> Result<String> {
        let resp = self.send(endpoint, params, &[], None).await?;
        resp.text().await.context("reading answer")
    }

    pub(crate) async fn put(&self, collection: &str, key: &str, body: &Value) -> Result<Value> {
        self.json(&ep::RECORD_PUT, &[collection, key], &[], Some(body))
            .await
    }

    pub(crate) async fn get(&self, collection: &str, key: &str) -> Result<Value> {
        self.json(&ep::RECORD_GET, &[collection, key], &[], None)
            .await
    }

    pub(crate) async fn delete(&self, collection: &str, key: &str) -> Result<Value> {
        self.json(&ep::RECORD_DELETE, &[collection, key], &[], None)
            .await
    }

    pub(crate) async fn list(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: u32,
        updated_since: Option<u64>,
    ) -> Result<Value> {
        let mut q = vec![("limit", limit.to_string())];
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        if let Some(u) = updated_since {
            q.push(("updated_since", u.to_string()));
        }
        self.json(&ep::RECORD_LIST, &[collection], &q, None).await
    }

    pub(crate) async fn receipt(&self, collection: &str, key: &str) -> Result<String> {
        self.text(&ep::RECORD_RECEIPT, &[collection, key]).await
    }

    pub(crate) async fn discover(
        &self,
        query: &str,
        collection: Option<&str>,
        skill: Option<&str>,
        tag: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Value> {
        let mut q = vec![("query", query.to_owned())];
        for (name, v) in [
            ("collection", collection),
            ("skill", skill),
            ("tag", tag),
            ("cursor", cursor),
        ] {
            if let Some(v) = v {
                q.push((name, v.to_owned()));
            }
        }
        self.json(&ep::DISCOVER, &[], &q, None).await
    }

    pub(crate) async fn resolve(&self, collection: &str, key: &str) -> Result<Value> {
        self.json(&ep::RESOLVE, &[collection, key], &[], None).await
    }

    pub(crate) async fn card(&self) -> Result<Value> {
        self.json(&ep::CARD, &[], &[], None).await
    }

    pub(crate) async fn jwks(&self) -> Result<Value> {
        self.json(&ep::JWKS, &[], &[], None).await
    }

    pub(crate) async fn rotate_keys(&self) -> Result<Value> {
        self.json(&ep::KEY_ROTATE, &[], &[], None).await
    }

    pub(crate) async fn checkpoint(&self) -> Result<String> {
        self.text(&ep::CHECKPOINT, &[]).await
    }

    pub(crate) async fn create_collection(&self, name: &str, description: &str) -> Result<Value> {
        self.json(
            &ep::COLLECTION_PUT,
            &[name],
            &[],
            Some(&json!({"description": description})),
        )
        .await
    }

    pub(crate) async fn set_schema(
        &self,
        name: &str,
        version: &str,
        schema: &Value,
    ) -> Result<Value> {
        self.json(
            &ep::SCHEMA_PUT,
            &[name],
            &[],
            Some(&json!({"version": version, "schema": schema})),
        )
        .await
    }

    pub(crate) async fn get_schema(&self, name: &str) -> Result<Value> {
        self.json(&ep::SCHEMA_GET, &[name], &[], None).await
    }

    pub(crate) async fn delete_schema(&self, name: &str) -> Result<Value> {
        self.json(&ep::SCHEMA_DELETE, &[name], &[], None).await
    }

    pub(crate) async fn collections(&self) -> Result<Value> {
        self.json(&ep::COLLECTION_LIST, &[], &[], None).await
    }

    pub(crate) async fn issue_token(&self, name: &str, collections: &[String]) -> Result<Value> {
        self.json(
            &ep::TOKEN_ISSUE,
            &[],
            &[],
            Some(&json!({"name": name, "collections": collections})),
        )
        .await
    }

    pub(crate) async fn tokens(&self) -> Result<Value> {
        self.json(&ep::TOKEN_LIST, &[], &[], None).await
    }

    pub(crate) async fn revoke_token(&self, id: &str) -> Result<Value> {
        self.json(&ep::TOKEN_REVOKE, &[id], &[], None).await
    }

    // Federation (operator): peers, trust proposals, agreements, licenses.

    pub(crate) async fn peers(&self) -> Result<Value> {
        self.json(&ep::PEER_LIST, &[], &[], None).await
    }

    pub(crate) async fn add_peer(&self, body: &Value) -> Result<Value> {
        self.json(&ep::PEER_ADD, &[], &[], Some(body)).await
    }

    pub(crate) async fn peer(&self, id: &str) -> Result<Value> {
        self.json(&ep::PEER_GET, &[id], &[], None).await
    }

    pub(crate) async fn suspend_peer(&self, id: &str, body: &Value) -> Result<Value> {
        self.json(&ep::PEER_SUSPEND, &[id], &[], Some(body)).await
    }

    pub(crate) async fn resume_peer(&self, id: &str) -> Result<Value> {
        self.json(&ep::PEER_RESUME, &[id], &[], None).await
    }

    pub(crate) async fn remove_peer(&self, id: &str) -> Result<Value> {
        self.json(&ep::PEER_REMOVE, &[id], &[], None).await
    }

    pub(crate) async fn sync_peer(&self, id: &str) -> Result<Value> {
        self.json(&ep::PEER_SYNC, &[id], &[], None).await
    }

    pub(crate) async fn reset_peer_sync(&self, id: &str) -> Result<Value> {
        self.json(&ep::PEER_RESET_SYNC, &[id], &[], None).await
    }

    pub(crate) async fn drift_scan(&self) -> Result<Value> {
        self.json(&ep::DRIFT_SCAN, &[], &[], None).await
    }

    pub(crate) async fn discrepancies(&self, peer: Option<&str>) -> Result<Value> {
        let query: Vec<(&str, String)> = peer.map(|p| ("peer", p.to_owned())).into_iter().collect();
        self.json(&ep::DISCREPANCY_LIST, &[], &query, None).await
    }

    pub(crate) async fn witness_history(
        &self,
        peer: Option<&str>,
        since: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Value> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(p) = peer {
            query.push(("peer", p.to_owned()));
        }
        if let Some(s) = since {
            query.push(("since", s.to_string()));
        }
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        self.json(&ep::WITNESS_HISTORY, &[], &query, None).await
    }

    pub(crate) async fn views(&self) -> Result<Value> {
        self.json(&ep::VIEWS, &[], &[], None).await
    }

    pub(crate) async fn compare_views(&self) -> Result<Value> {
        self.json(&ep::COMPARE_VIEWS, &[], &[], None).await
    }

    pub(crate) async fn cross_anchor_now(&self) -> Result<Value> {
        self.json(&ep::CROSS_ANCHOR_NOW, &[], &[], None).await
    }

    pub(crate) async fn cross_anchor(&self, peer: &str, size: Option<u64>) -> Result<Value> {
        let query: Vec<(&str, String)> =
            size.map(|s| ("size", s.to_string())).into_iter().collect();
        self.json(&ep::CROSS_ANCHOR_GET, &[peer], &query, None)
            .await
    }

    pub(crate) async fn propose(&self, body: &Value) -> Result<Value> {
        self.json(&ep::PROPOSAL_CREATE, &[], &[], Some(body)).await
    }

    pub(crate) async fn proposals(&self) -> Result<Value> {
        self.json(&ep::PROPOSAL_LIST, &[], &[], None).await
    }

    pub(crate) async fn proposal(&self, id: &str) -> Result<Value> {
        self.json(&ep::PROPOSAL_GET, &[id], &[], None).await
    }

    pub(crate) async fn respond(&self, id: &str, body: &Value) -> Result<Value> {
        self.json(&ep::PROPOSAL_RESPOND, &[id], &[], Some(body))
            .await
    }

    pub(crate) async fn agreements(&self) -> Result<Value> {
        self.json(&ep::AGREEMENT_LIST, &[], &[], None).await
    }

    pub(crate) async fn agreement(&self, id: &str) -> Result<Value> {
        self.json(&ep::AGREEMENT_GET, &[id], &[], None).await
    }

    pub(crate) async fn revoke_agreement(
        &self,
        id: &str,
        notice_seconds: Option<u64>,
        reason: Option<&str>,
    ) -> Result<Value> {
        let mut q = Vec::new();
        if let Some(n) = notice_seconds {
            q.push(("notice_seconds", n.to_string()));
        }
        if let Some(r) = reason {
            q.push(("reason", r.to_owned()));
        }
        self.json(&ep::AGREEMENT_REVOKE, &[id], &q, None).await
    }

    pub(crate) async fn issue_license(&self, body: &Value) -> Result<Value> {
        self.json(&ep::LICENSE_ISSUE, &[], &[], Some(body)).await
    }

    pub(crate) async fn licenses(&self) -> Result<Value> {
        self.json(&ep::LICENSE_LIST, &[], &[], None).await
    }

    pub(crate) async fn set_license_status(&self, id: &str, status: &str) -> Result<Value> {
        self.json(
            &ep::LICENSE_UPDATE,
            &[id],
            &[],
            Some(&json!({ "status": status })),
        )
        .await
    }
}
