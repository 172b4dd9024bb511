//! Covered components (RFC 9421 section 2): what a signature covers and how each value is
//! read from a request.
//!
//! Supported: the request-derived components `@method`, `@target-uri`, `@authority`,
//! `@scheme`, `@path` and `@query` (RFC 9421 sections 2.2.1 to 2.2.7), and HTTP fields by
//! their lowercase name (section 2.1), without component parameters. Not supported, and
//! refused with [`HttpSigError::UnsupportedComponent`] rather than guessed at:
//! `@request-target` (its value differs between HTTP versions, section 2.2.5),
//! `@query-param` (it needs WHATWG form decoding), `@status` (responses only), and the
//! field parameters `sf`, `key`, `bs`, `req` and `tr`.

use std::fmt;

use crate::error::{HttpSigError, clip};
use crate::request::RequestView;
use crate::sf::is_tchar;

/// A lowercase HTTP field name (RFC 9110 section 5.1 `token`, lowercased as RFC 9421
/// section 2.1 requires for component names).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldName(String);

impl FieldName {
    /// Checks that `name` is a lowercase token.
    ///
    /// # Errors
    /// [`HttpSigError::InvalidComponentName`] otherwise.
    pub fn new(name: &str) -> Result<Self, HttpSigError> {
        let invalid = |reason| HttpSigError::InvalidComponentName {
            name: clip(name),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("a field name is not empty"));
        }
        if !name.bytes().all(is_tchar) {
            return Err(invalid("a field name is a token (RFC 9110 section 5.6.2)"));
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid(
                "component names of fields are lowercase (RFC 9421 section 2.1)",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One covered component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Component {
    /// `@method`: the request method, as sent (section 2.2.1).
    Method,
    /// `@target-uri`: the full target URI (section 2.2.2).
    TargetUri,
    /// `@authority`: host and non-default port, normalized (section 2.2.3).
    Authority,
    /// `@scheme`: the lowercase scheme (section 2.2.4).
    Scheme,
    /// `@path`: the absolute path (section 2.2.6).
    Path,
    /// `@query`: `?` and the query, or `?` alone when there is none (section 2.2.7).
    Query,
    /// An HTTP field by its lowercase name (section 2.1).
    Field(FieldName),
}

impl Component {
    /// The component for `name`: a derived component name (`@...`) or a field name.
    ///
    /// # Errors
    /// [`HttpSigError::UnsupportedComponent`] for derived components this crate does not
    /// implement and for `@signature-params`; [`HttpSigError::InvalidComponentName`] for a
    /// field name that is not a lowercase token.
    pub fn parse(name: &str) -> Result<Self, HttpSigError> {
        Ok(match name {
            "@method" => Self::Method,
            "@target-uri" => Self::TargetUri,
            "@authority" => Self::Authority,
            "@scheme" => Self::Scheme,
            "@path" => Self::Path,
            "@query" => Self::Query,
            _ if name.starts_with('@') => {
                return Err(HttpSigError::UnsupportedComponent {
                    component: clip(name),
                });
            }
            _ => Self::Field(FieldName::new(name)?),
        })
    }

    /// The `content-digest` field (RFC 9530 section 2).
    #[must_use]
    pub fn content_digest() -> Self {
        Self::Field(FieldName("content-digest".to_owned()))
    }

    /// The component name as it appears, quoted, in a signature base.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Method => "@method",
            Self::TargetUri => "@target-uri",
            Self::Authority => "@authority",
            Self::Scheme => "@scheme",
            Self::Path => "@path",
            Self::Query => "@query",
            Self::Field(name) => name.as_str(),
        }
    }

    /// The component value for `req` (RFC 9421 section 2.5 step 2.4).
    pub(crate) fn value(&self, req: &RequestView<'_>) -> Result<String, HttpSigError> {
        let target = req.target;
        let value = match self {
            Self::Method => {
                if req.method.is_empty() || !req.method.bytes().all(is_tchar) {
                    return Err(self.invalid("a method is a token (RFC 9110 section 9.1)"));
                }
                req.method.to_owned()
            }
            // TargetUri checked every part on construction: all visible ASCII.
            Self::TargetUri => target.to_string(),
            Self::Authority => target.authority().to_owned(),
            Self::Scheme => target.scheme().to_owned(),
            Self::Path => target.path().to_owned(),
            Self::Query => format!("?{}", target.query().unwrap_or_default()),
            Self::Field(name) => {
                let value = req.field_value(name.as_str()).ok_or_else(|| {
                    HttpSigError::ComponentUnavailable {
                        component: name.as_str().to_owned(),
                    }
                })?;
                // field-content without obs-fold (RFC 9421 section 2.5): visible ASCII,
                // spaces and tabs. A line break would let a value forge the next line of
                // the signature base; non-ASCII would make the base depend on encodings.
                if !value
                    .bytes()
                    .all(|b| (0x20..=0x7e).contains(&b) || b == b'\t')
                {
                    return Err(self.invalid(
                        "a field value is visible ASCII, spaces and tabs (no line breaks)",
                    ));
                }
                value
            }
        };
        Ok(value)
    }

    fn invalid(&self, reason: &'static str) -> HttpSigError {
        HttpSigError::InvalidComponentValue {
            component: self.name().to_owned(),
            reason,
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::TargetUri;

    #[test]
    fn parses_names() {
        assert_eq!(Component::parse("@method"), Ok(Component::Method));
        assert_eq!(
            Component::parse("content-digest"),
            Ok(Component::content_digest())
        );
        for unsupported in [
            "@request-target",
            "@query-param",
            "@status",
            "@signature-params",
            "@",
        ] {
            assert_eq!(
                Component::parse(unsupported)
                    .expect_err("must be refused")
                    .code(),
                "unsupported_component"
            );
        }
        for invalid in ["Content-Type", "", "a b", "x\"y", "caf\u{e9}"] {
            assert_eq!(
                Component::parse(invalid)
                    .expect_err("must be refused")
                    .code(),
                "invalid_component_name"
            );
        }
    }

    #[test]
    fn derives_values() {
        let target = TargetUri::parse("https://Example.com:443/foo?param=Value&Pet=dog")
            .expect("valid test input");
        let headers = [("x-a", " one "), ("X-A", "two"), ("x-bad", "a\rb")];
        let req = RequestView {
            method: "POST",
            target: &target,
            headers: &headers,
            body: b"",
        };
        let value = |name: &str| {
            Component::parse(name)
                .expect("valid test input")
                .value(&req)
        };
        assert_eq!(value("@method").expect("valid test input"), "POST");
        assert_eq!(
            value("@target-uri").expect("valid test input"),
            "https://example.com/foo?param=Value&Pet=dog"
        );
        assert_eq!(
            value("@authority").expect("valid test input"),
            "example.com"
        );
        assert_eq!(value("@scheme").expect("valid test input"), "https");
        assert_eq!(value("@path").expect("valid test input"), "/foo");
        assert_eq!(
            value("@query").expect("valid test input"),
            "?param=Value&Pet=dog"
        );
        assert_eq!(value("x-a").expect("valid test input"), "one, two");
        assert_eq!(
            value("x-missing").expect_err("must be refused").code(),
            "component_unavailable"
        );
        assert_eq!(
            value("x-bad").expect_err("must be refused").code(),
            "invalid_component_value"
        );

        let no_query = TargetUri::parse("https://example.com").expect("valid test input");
        let req = RequestView {
            method: "GET /x",
            target: &no_query,
            headers: &[],
            body: b"",
        };
        assert_eq!(Component::Query.value(&req).expect("valid test input"), "?");
        assert_eq!(Component::Path.value(&req).expect("valid test input"), "/");
        assert_eq!(
            Component::Method
                .value(&req)
                .expect_err("must be refused")
                .code(),
            "invalid_component_value"
        );
    }
}
