//! Operator actions (collections, tokens) and node metadata (health, OpenAPI).

use super::endpoints;
use super::problem::Problem;
use super::{AppState, CollectionInfo, P, json_body, load_collections};
use crate::identity::{new_token, token_hash};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use treaty_store::{SchemaRow, TokenRow};
use treaty_types::limits::{COLLECTIONS_MAX, TOKENS_MAX};
use treaty_types::{CollectionName, CollectionSchema};

/// Longest description or token name, in bytes.
const LABEL_BYTES_MAX: usize = 1024;

/// Runs `f` on the operator-action connection.
pub(super) fn admin<T>(
    s: &AppState,
    f: impl FnOnce(&treaty_store::Writer) -> Result<T, treaty_store::StoreError>,
) -> Result<T, Problem> {
    let w = s.writer()?;
    Ok(f(&w)?)
}

/// `GET /v1/collections`.
pub(super) async fn list_collections(State(s): State<AppState>) -> Response {
    let list: Vec<Value> = s
        .collections
        .read()
        .map(|c| {
            c.iter()
                .map(|(name, info)| {
                    json!({
                        "name": name,
                        "description": info.description,
                        "builtin": treaty_types::BUILTIN_COLLECTIONS.contains(&name.as_str()),
                        "schema_version": info.schema.as_ref().map(|s| s.version()),
                        "schema_hash": info.schema.as_ref().map(|s| s.hash()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Json(json!({ "collections": list })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectionBody {
    #[serde(default)]
    description: String,
}

/// `PUT /v1/collections/{collection}`.
pub(super) async fn put_collection(
    State(s): State<AppState>,
    P(name): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let name = CollectionName::parse(&name)?;
    let body: CollectionBody = serde_json::from_value(json_body(req).await?).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e.to_string(),
        )
    })?;
    if body.description.len() > LABEL_BYTES_MAX {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "description is too long",
        ));
    }
    let count = s.collections.read().map(|c| c.len()).unwrap_or(0);
    if s.collections
        .read()
        .map(|c| c.contains_key(name.as_str()))
        .unwrap_or(false)
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "collection_exists",
            format!("collection {name} already exists"),
        ));
    }
    if count >= COLLECTIONS_MAX {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "too_many_collections",
            format!("a node holds at most {COLLECTIONS_MAX} collections"),
        ));
    }
    let now = s.clock.now_ms();
    let created = admin(&s, |w| {
        w.create_collection(name.as_str(), &body.description, now)
    })?;
    if !created {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "collection_exists",
            format!("collection {name} already exists"),
        ));
    }
    if let Ok(mut c) = s.collections.write() {
        c.insert(
            name.to_string(),
            CollectionInfo {
                description: body.description.clone(),
                schema: None,
                builtin_schema: false,
            },
        );
    }
    s.card_changed();
    tracing::info!(collection = %name, "collection created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": name.as_str(), "description": body.description})),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaBody {
    version: String,
    schema: Value,
}

/// Replaces the in-memory collection table from the database after a schema change.
fn reload_collections(s: &AppState) -> Result<(), Problem> {
    let fresh = admin(s, load_collections)?;
    if let Ok(mut c) = s.collections.write() {
        *c = fresh;
    }
    s.card_changed();
    Ok(())
}

fn schema_json(collection: &str, info: &CollectionInfo) -> Option<Value> {
    info.schema.as_ref().map(|sc| {
        json!({
            "collection": collection,
            "version": sc.version(),
            "hash": sc.hash(),
            "builtin": info.builtin_schema,
            "schema": sc.schema(),
        })
    })
}

/// `PUT /v1/collections/{collection}/schema`.
pub(super) async fn put_schema(
    State(s): State<AppState>,
    P(name): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let (collection, _) = s.collection_info(&name)?;
    let body: SchemaBody = serde_json::from_value(json_body(req).await?).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e.to_string(),
        )
    })?;
    // Compile first: a schema that does not compile is never stored.
    let compiled = CollectionSchema::new(&body.version, body.schema.clone()).map_err(|e| {
        let status = match e {
            treaty_types::SchemaError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Problem::new(status, e.code(), e.to_string())
    })?;
    let row = SchemaRow {
        collection: collection.to_string(),
        version: body.version,
        schema: body.schema,
        set_ms: s.clock.now_ms(),
    };
    admin(&s, |w| w.put_schema(&row))?;
    reload_collections(&s)?;
    tracing::info!(collection = %collection, version = compiled.version(), hash = compiled.hash(), "schema set");
    Ok(Json(json!({"collection": collection.as_str(), "version": compiled.version(), "hash": compiled.hash()})).into_response())
}

/// `GET /v1/collections/{collection}/schema`.
pub(super) async fn get_schema(
    State(s): State<AppState>,
    P(name): P<String>,
) -> Result<Response, Problem> {
    let (collection, info) = s.collection_info(&name)?;
    schema_json(collection.as_str(), &info)
        .map(|v| Json(v).into_response())
        .ok_or_else(|| {
            Problem::not_found(
                "no_schema",
                format!("collection {collection} has no schema"),
            )
        })
}

/// `DELETE /v1/collections/{collection}/schema`.
pub(super) async fn delete_schema(
    State(s): State<AppState>,
    P(name): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let (collection, _) = s.collection_info(&name)?;
    let removed = admin(&s, |w| w.delete_schema(collection.as_str()))?;
    if !removed {
        return Err(Problem::not_found(
            "no_schema",
            format!("collection {collection} has no operator schema"),
        ));
    }
    reload_collections(&s)?;
    tracing::info!(collection = %collection, "schema removed");
    Ok(Json(json!({"collection": collection.as_str(), "removed": true})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
    collections: Vec<String>,
}

/// `POST /v1/tokens`.
pub(super) async fn issue_token(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let body: TokenBody = serde_json::from_value(json_body(req).await?).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e.to_string(),
        )
    })?;
    if body.name.is_empty() || body.name.len() > LABEL_BYTES_MAX {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "name must be 1-1024 bytes",
        ));
    }
    if body.collections.is_empty() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "a token needs at least one collection",
        ));
    }
    for c in &body.collections {
        s.collection(c)?;
    }
    let existing = admin(&s, treaty_store::Writer::tokens)?;
    if existing.len() >= TOKENS_MAX {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "too_many_tokens",
            format!("at most {TOKENS_MAX} tokens"),
        ));
    }
    let secret = new_token().map_err(Problem::internal)?;
    let id = format!("tok_{}", &hex::encode(token_hash(&secret))[..16]);
    let row = TokenRow {
        id: id.clone(),
        hash: token_hash(&secret),
        name: body.name.clone(),
        collections: Some(body.collections.clone()),
        created_ms: s.clock.now_ms(),
        revoked_ms: None,
    };
    let rows = admin(&s, |w| {
        w.put_token(&row)?;
        w.tokens()
    })?;
    s.reload_tokens(&rows);
    tracing::info!(token = %id, "token issued");
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": id, "token": secret, "name": body.name, "collections": body.collections}),
        ),
    )
        .into_response())
}

/// `GET /v1/tokens`.
pub(super) async fn list_tokens(
    State(s): State<AppState>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    let rows = admin(&s, treaty_store::Writer::tokens)?;
    let list: Vec<Value> = rows
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "collections": t.collections,
                "created_ms": t.created_ms,
                "revoked_ms": t.revoked_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "tokens": list })).into_response())
}

/// `DELETE /v1/tokens/{id}`.
pub(super) async fn revoke_token(
    State(s): State<AppState>,
    P(id): P<String>,
    req: Request,
) -> Result<Response, Problem> {
    s.authorize(req.headers(), None)?;
    if id == crate::identity::OPERATOR_TOKEN_ID {
        return Err(Problem::bad_request(
            "cannot_revoke_operator",
            "the operator token is replaced with TREATY_ADMIN_TOKEN, not revoked",
        ));
    }
    let now = s.clock.now_ms();
    let (revoked, rows) = admin(&s, |w| Ok((w.revoke_token(&id, now)?, w.tokens()?)))?;
    if !revoked {
        return Err(Problem::not_found(
            "token_not_found",
            format!("no live token {id:?}"),
        ));
    }
    s.reload_tokens(&rows);
    tracing::info!(token = %id, "token revoked");
    Ok(Json(json!({"id": id, "revoked_ms": now})).into_response())
}

/// `GET /healthz`.
pub(super) async fn health(State(s): State<AppState>) -> Response {
    let head = s.head();
    Json(json!({
        "status": "ok",
        "node_id": &*s.node_id,
        "origin": &*s.origin,
        "tree_size": head.size,
    }))
    .into_response()
}

/// `GET /openapi.json`.
pub(super) async fn openapi(State(s): State<AppState>) -> Response {
    Json(endpoints::openapi(endpoints::ALL, &s.public_url)).into_response()
}

/// `GET /metrics`.
pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    metrics::gauge!(crate::telemetry::LEDGER_SIZE).set(s.head().size as f64);
    let text = crate::telemetry::handle()
        .map(|h| h.render())
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
