//! Collection schemas: JSON Schema (draft 2020-12 by default, or the draft named by `$schema`)
//! that every write to a collection must satisfy.
//!
//! The validator is the `jsonschema` crate built without its HTTP and file resolvers, so a
//! schema can never make the node fetch anything: a `$ref` to an outside document is refused
//! when the schema is set. A schema's identity is its version string (operator-chosen) and
//! its hash, `sha256:<hex>` over the JCS form of the schema, both published in the registry
//! card so peers can tell when schemas drift.

use crate::jcs::{JsonError, canonicalize};
use crate::limits::{SCHEMA_BYTES_MAX, SCHEMA_VERSION_BYTES_MAX};
use crate::record::RecordError;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;

/// The version of the built-in `agent-card` schema.
pub const AGENT_CARD_SCHEMA_VERSION: &str = "1.0.0";

/// The built-in `agent-card` schema: the A2A AgentCard shape (name, description, url,
/// version, and skills with id, name, description and tags). Extra members are allowed, as
/// A2A cards carry more (capabilities, provider, security schemes...).
#[must_use]
pub fn agent_card_schema() -> Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "A2A AgentCard (Treaty built-in)",
        "type": "object",
        "required": ["name", "description", "url", "version", "skills"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string", "minLength": 1},
            "url": {"type": "string", "minLength": 1},
            "version": {"type": "string", "minLength": 1},
            "skills": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "description", "tags"],
                    "properties": {
                        "id": {"type": "string", "minLength": 1},
                        "name": {"type": "string", "minLength": 1},
                        "description": {"type": "string", "minLength": 1},
                        "tags": {"type": "array", "items": {"type": "string"}}
                    }
                }
            }
        }
    })
}

/// Why a schema cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The version string is empty, too long or not printable ASCII.
    #[error("schema version must be 1-{SCHEMA_VERSION_BYTES_MAX} printable ASCII characters")]
    InvalidVersion,
    /// The schema is larger than [`SCHEMA_BYTES_MAX`] in canonical form.
    #[error("schema is {size} bytes; the limit is {max}")]
    TooLarge {
        /// Canonical size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The schema is not canonicalizable JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The schema is not a valid JSON Schema (or refers to an outside document).
    #[error("invalid JSON Schema: {0}")]
    Invalid(String),
}

impl SchemaError {
    /// The stable machine-readable code for problem+json answers.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            SchemaError::InvalidVersion => "invalid_schema_version",
            SchemaError::TooLarge { .. } => "schema_too_large",
            SchemaError::Json(e) => e.code(),
            SchemaError::Invalid(_) => "invalid_schema",
        }
    }
}

/// A compiled collection schema.
pub struct CollectionSchema {
    version: String,
    schema: Value,
    hash: String,
    validator: jsonschema::Validator,
}

impl fmt::Debug for CollectionSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectionSchema")
            .field("version", &self.version)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl CollectionSchema {
    /// Compiles a schema.
    ///
    /// # Errors
    /// [`SchemaError`].
    pub fn new(version: &str, schema: Value) -> Result<Self, SchemaError> {
        if version.is_empty()
            || version.len() > SCHEMA_VERSION_BYTES_MAX
            || !version.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(SchemaError::InvalidVersion);
        }
        let canonical = canonicalize(&schema)?;
        if canonical.len() > SCHEMA_BYTES_MAX {
            return Err(SchemaError::TooLarge {
                size: canonical.len(),
                max: SCHEMA_BYTES_MAX,
            });
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema)
            .map_err(|e| SchemaError::Invalid(e.to_string()))?;
        Ok(Self {
            version: version.to_owned(),
            hash: format!("sha256:{}", hex::encode(Sha256::digest(&canonical))),
            schema,
            validator,
        })
    }

    /// The built-in `agent-card` schema.
    ///
    /// # Errors
    /// Never in practice; the built-in schema is tested.
    pub fn agent_card() -> Result<Self, SchemaError> {
        Self::new(AGENT_CARD_SCHEMA_VERSION, agent_card_schema())
    }

    /// The operator's version string.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `sha256:<hex>` over the JCS form of the schema.
    #[must_use]
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The schema document.
    #[must_use]
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Validates a record body; the error names the first failing path.
    ///
    /// # Errors
    /// [`RecordError::Shape`] with the JSON pointer of the failing member.
    pub fn validate(&self, body: &Value) -> Result<(), RecordError> {
        match self.validator.iter_errors(body).next() {
            None => Ok(()),
            Some(e) => {
                let path = e.instance_path().to_string();
                Err(RecordError::Shape {
                    path: if path.is_empty() {
                        "/".to_owned()
                    } else {
                        path
                    },
                    reason: e.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn card() -> Value {
        json!({
            "name": "Translator", "description": "EN-FR", "url": "https://a.example/agent",
            "version": "1.0.0",
            "skills": [{"id": "tr", "name": "Translate", "description": "text", "tags": ["fr"]}]
        })
    }

    #[test]
    fn builtin_agent_card_schema_accepts_cards_and_names_failing_paths() {
        let s = CollectionSchema::agent_card().expect("builtin compiles");
        assert!(s.validate(&card()).is_ok());
        let mut missing = card();
        missing["skills"][0]
            .as_object_mut()
            .expect("obj")
            .remove("tags");
        assert!(
            matches!(s.validate(&missing), Err(RecordError::Shape { path, .. }) if path == "/skills/0")
        );
        let mut wrong = card();
        wrong["skills"][0]["tags"][0] = json!(5);
        assert!(
            matches!(s.validate(&wrong), Err(RecordError::Shape { path, .. }) if path == "/skills/0/tags/0")
        );
        let mut empty = card();
        empty["name"] = json!("");
        assert!(
            matches!(s.validate(&empty), Err(RecordError::Shape { path, .. }) if path == "/name")
        );
        let mut no_name = card();
        no_name.as_object_mut().expect("obj").remove("name");
        let err = s.validate(&no_name).expect_err("invalid");
        assert!(err.to_string().contains("name"), "{err}");
    }

    #[test]
    fn hash_is_over_the_canonical_form() {
        let a =
            CollectionSchema::new("1", json!({"type": "object", "required": ["a"]})).expect("ok");
        let b: Value =
            serde_json::from_str(r#"{ "required": ["a"],  "type": "object" }"#).expect("json");
        let b = CollectionSchema::new("2", b).expect("ok");
        assert_eq!(a.hash(), b.hash());
        assert!(a.hash().starts_with("sha256:") && a.hash().len() == 71);
        let c = CollectionSchema::new("1", json!({"type": "object"})).expect("ok");
        assert_ne!(a.hash(), c.hash());
    }

    #[test]
    fn bad_schemas_are_refused() {
        assert_eq!(
            CollectionSchema::new("", json!({})).map(|_| ()),
            Err(SchemaError::InvalidVersion)
        );
        assert!(matches!(
            CollectionSchema::new("1", json!({"type": "no-such-type"})),
            Err(SchemaError::Invalid(_))
        ));
        // Outside references are never fetched.
        assert!(matches!(
            CollectionSchema::new("1", json!({"$ref": "https://example.com/s.json"})),
            Err(SchemaError::Invalid(_))
        ));
        let big = json!({"description": "x".repeat(SCHEMA_BYTES_MAX)});
        assert!(matches!(
            CollectionSchema::new("1", big),
            Err(SchemaError::TooLarge { .. })
        ));
    }
}
