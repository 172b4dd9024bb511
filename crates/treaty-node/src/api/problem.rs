//! RFC 9457 problem details: the one shape of every error answer.
//!
//! Every error leaves the node as `application/problem+json` with `type`, `title`, `status`,
//! `detail` and a stable `code`. Internal details (SQL errors, paths) are logged, not sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Base of every problem `type` URI; the stable code follows.
pub const PROBLEM_TYPE_BASE: &str = "urn:treaty:problem:";

/// An error answer. Boxed: handlers return it on every error path, so keep `Result` small.
#[derive(Debug, Clone)]
pub struct Problem(Box<ProblemParts>);

/// The members of a [`Problem`].
#[derive(Debug, Clone)]
pub struct ProblemParts {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `unknown_collection`.
    pub code: &'static str,
    /// Human explanation of this occurrence.
    pub detail: String,
    /// Extension members.
    pub extra: Map<String, Value>,
    /// Extra headers (e.g. `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem with a status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemParts {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
            headers: Vec::new(),
        }))
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 404 with a code.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 500; the cause is logged here and not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the node failed to answer; the operator's log has details",
        )
    }

    /// Adds an extension member.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.0.headers.push((name, HeaderValue::from_static(value)));
        self
    }
}

impl Problem {
    /// Adds a header with a computed value.
    #[must_use]
    pub fn with_header_value(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.0.status
    }
}

impl std::fmt::Display for Problem {
    /// `code: detail`, for logs and background work that reports problems as text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let p = *self.0;
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_BASE}{}", p.code),
            "title": p.status.canonical_reason().unwrap_or("Error"),
            "status": p.status.as_u16(),
            "detail": p.detail,
            "code": p.code,
        });
        if let Value::Object(map) = &mut body {
            for (k, v) in p.extra {
                map.entry(k).or_insert(v);
            }
        }
        let mut resp = (p.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (k, v) in p.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

impl From<treaty_store::StoreError> for Problem {
    fn from(e: treaty_store::StoreError) -> Self {
        Problem::internal(e)
    }
}

impl From<treaty_types::RecordError> for Problem {
    fn from(e: treaty_types::RecordError) -> Self {
        use treaty_types::RecordError as E;
        let status = match &e {
            E::InvalidCollection(_) | E::InvalidKey { .. } => StatusCode::BAD_REQUEST,
            E::EntryTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            E::Shape { .. } | E::BodyNotObject | E::Json(_) | E::NotCanonical(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let mut p = Problem::new(status, e.code(), e.to_string());
        match &e {
            E::Shape { path, .. }
            | E::Json(
                treaty_types::JsonError::IntegerOutOfRange { path }
                | treaty_types::JsonError::NotAnInteger { path }
                | treaty_types::JsonError::TooDeep { path, .. },
            ) => p = p.with("path", path.clone()),
            _ => {}
        }
        p
    }
}
