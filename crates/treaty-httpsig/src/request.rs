//! The minimal view of an HTTP request that signing and verification read.
//!
//! This crate never sees an `http::Request`: the node (server side) and the peer client
//! (client side) each build a [`RequestView`] from what they hold, which keeps this crate free
//! of any HTTP stack. Both sides must describe the same request the same way; the rules are
//! written down here once.
//!
//! - The target URI is given in parts (scheme, authority, path, query) and normalized on
//!   construction the way RFC 9421 section 2.2 derives components from it: scheme and host
//!   lowercased, the scheme's default port dropped (RFC 9110 section 4.2.3), an empty path
//!   written `/`. Percent-encodings are kept as they are (RFC 3986 section 6.2.1 simple
//!   string comparison).
//! - A server must take the scheme and authority from its configuration (its public base
//!   URL), not from the `Host` header alone: `@authority` and `@target-uri` then bind the
//!   signature to the node the signer meant to call, and a request signed for another node
//!   fails verification.

use std::fmt;

use crate::error::HttpSigError;

/// Longest target URI accepted, in bytes (the same order as common server limits).
pub const TARGET_URI_BYTES_MAX: usize = 8 * 1024;

/// The target URI of a request (RFC 9110 section 7.1), split and normalized.
///
/// Userinfo and fragments are refused: neither is part of a request's target, and userinfo
/// would put credentials into every signature base.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetUri {
    /// Lowercase scheme, e.g. `https`.
    scheme: String,
    /// Host (lowercase) and port when it is not the scheme's default.
    authority: String,
    /// Absolute path, at least `/`, never containing `?` or `#`.
    path: String,
    /// Query without the leading `?`; `None` when absent or empty.
    query: Option<String>,
}

fn uri_error(reason: &'static str) -> HttpSigError {
    HttpSigError::InvalidTargetUri { reason }
}

/// Visible ASCII (VCHAR): the only bytes a path, query or authority may contain here.
fn is_vchar(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

impl TargetUri {
    /// A target URI from its parts, normalized.
    ///
    /// `path` is the absolute path as it appears in the request line (`""` is read as
    /// `/`); `query` is what follows `?`, without it.
    ///
    /// # Errors
    /// [`HttpSigError::InvalidTargetUri`] when a part breaks its syntax.
    pub fn new(
        scheme: &str,
        authority: &str,
        path: &str,
        query: Option<&str>,
    ) -> Result<Self, HttpSigError> {
        let total = scheme.len() + authority.len() + path.len() + query.map_or(0, str::len);
        if total > TARGET_URI_BYTES_MAX {
            return Err(uri_error("longer than TARGET_URI_BYTES_MAX"));
        }
        let scheme = normalize_scheme(scheme)?;
        let authority = normalize_authority(&scheme, authority)?;
        let path = normalize_path(path)?;
        let query = match query {
            // "/p?" and "/p" name the same resource for every Treaty endpoint, and HTTP
            // libraries disagree on whether they keep an empty query, so both sides treat
            // an empty query as absent.
            None | Some("") => None,
            Some(q) => {
                if !q.bytes().all(|b| is_vchar(b) && b != b'#') {
                    return Err(uri_error("query has a character that is not visible ASCII"));
                }
                Some(q.to_owned())
            }
        };
        Ok(Self {
            scheme,
            authority,
            path,
            query,
        })
    }

    /// Parses an absolute URI `scheme://authority[/path][?query]`.
    ///
    /// # Errors
    /// [`HttpSigError::InvalidTargetUri`] when it is not of that form, has a fragment or
    /// userinfo, or a part breaks its syntax.
    pub fn parse(uri: &str) -> Result<Self, HttpSigError> {
        if uri.len() > TARGET_URI_BYTES_MAX {
            return Err(uri_error("longer than TARGET_URI_BYTES_MAX"));
        }
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| uri_error("not an absolute URI (scheme://authority...)"))?;
        if rest.contains('#') {
            return Err(uri_error("a target URI has no fragment"));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(authority_end);
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        Self::new(scheme, authority, path, query)
    }

    /// The lowercase scheme (the `@scheme` component value).
    #[must_use]
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The normalized authority (the `@authority` component value).
    #[must_use]
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The absolute path (the `@path` component value).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query without `?`, if any.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

/// The full target URI, the `@target-uri` component value (RFC 9421 section 2.2.2).
impl fmt::Display for TargetUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 section 3.1), lowercased.
fn normalize_scheme(scheme: &str) -> Result<String, HttpSigError> {
    let mut bytes = scheme.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
        return Err(uri_error(
            "scheme is not a letter followed by letters, digits, + - .",
        ));
    }
    Ok(scheme.to_ascii_lowercase())
}

/// The scheme's default port, which RFC 9110 section 4.2.3 drops from the authority.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `host [ ":" port ]`, host lowercased, default or empty port removed, port written
/// without leading zeros.
fn normalize_authority(scheme: &str, authority: &str) -> Result<String, HttpSigError> {
    if authority.is_empty() {
        return Err(uri_error("authority is empty"));
    }
    if !authority.bytes().all(is_vchar) {
        return Err(uri_error(
            "authority has a character that is not visible ASCII",
        ));
    }
    if authority.contains('@') {
        return Err(uri_error("userinfo is not allowed in a target URI"));
    }
    if authority.contains(['/', '?', '#', '"', '<', '>', '\\', '^', '`', '{', '|', '}']) {
        return Err(uri_error("authority has a character not allowed in a host"));
    }
    // The port separator is the last ':' outside an IPv6 literal's brackets.
    let (host, port) = if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or_else(|| uri_error("IPv6 literal is not closed"))?;
        let (host, rest) = authority.split_at(close + 1);
        match rest {
            "" => (host, None),
            _ => match rest.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(uri_error("unexpected text after an IPv6 literal")),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(uri_error("host is empty"));
    }
    if !host.starts_with('[') && host.contains(['[', ']', ':']) {
        return Err(uri_error(
            "host has '[', ']' or ':' outside an IPv6 literal",
        ));
    }
    let host = host.to_ascii_lowercase();
    let port = match port {
        None | Some("") => None,
        Some(p) => {
            if p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(uri_error("port is not a number of at most 5 digits"));
            }
            let n: u16 = p
                .parse()
                .map_err(|_| uri_error("port is larger than 65535"))?;
            (Some(n) != default_port(scheme)).then_some(n)
        }
    };
    Ok(match port {
        Some(n) => format!("{host}:{n}"),
        None => host,
    })
}

fn normalize_path(path: &str) -> Result<String, HttpSigError> {
    if path.is_empty() {
        return Ok("/".to_owned());
    }
    if !path.starts_with('/') {
        return Err(uri_error("path does not start with '/'"));
    }
    if !path.bytes().all(|b| is_vchar(b) && b != b'?' && b != b'#') {
        return Err(uri_error(
            "path has a character that is not visible ASCII, or ? or #",
        ));
    }
    Ok(path.to_owned())
}

/// What signing and verification read from a request.
///
/// `headers` holds every header line as `(name, value)`; names are matched without regard
/// to case, and several lines of one name are combined in order (RFC 9421 section 2.1).
/// `body` is the content exactly as it travels (after any content coding).
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The method, case-sensitive (`POST`).
    pub method: &'a str,
    /// The target URI.
    pub target: &'a TargetUri,
    /// The header lines, in the order they appear.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

impl<'a> RequestView<'a> {
    /// The values of every header line named `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &str) -> impl Iterator<Item = &'a str> {
        let headers: &'a [(&'a str, &'a str)] = self.headers;
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The field value of `name` as RFC 9421 section 2.1 defines it: each line's value
    /// without leading and trailing white space, lines joined with `", "`. `None` when no
    /// line has that name.
    #[must_use]
    pub fn field_value(&self, name: &str) -> Option<String> {
        let mut values = self
            .header_values(name)
            .map(|v| v.trim_matches([' ', '\t']));
        let first = values.next()?;
        let mut out = first.to_owned();
        for v in values {
            out.push_str(", ");
            out.push_str(v);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Result<String, &'static str> {
        TargetUri::parse(uri)
            .map(|t| t.to_string())
            .map_err(|e| match e {
                HttpSigError::InvalidTargetUri { reason } => reason,
                _ => "other error",
            })
    }

    #[test]
    fn normalizes_like_rfc_9110() {
        assert_eq!(
            parse("HTTPS://Example.COM:443").expect("valid test input"),
            "https://example.com/"
        );
        assert_eq!(
            parse("http://example.com:80/a").expect("valid test input"),
            "http://example.com/a"
        );
        assert_eq!(
            parse("http://example.com:443/a").expect("valid test input"),
            "http://example.com:443/a"
        );
        assert_eq!(
            parse("https://example.com:/a?").expect("valid test input"),
            "https://example.com/a"
        );
        assert_eq!(
            parse("https://example.com:08443/").expect("valid test input"),
            "https://example.com:8443/"
        );
        assert_eq!(
            parse("https://[::1]:8443/v1/x?a=%2F&b").expect("valid test input"),
            "https://[::1]:8443/v1/x?a=%2F&b"
        );
        assert_eq!(
            parse("https://[::1]/").expect("valid test input"),
            "https://[::1]/"
        );
        assert_eq!(
            parse("https://example.com?q=1").expect("valid test input"),
            "https://example.com/?q=1"
        );
        // Percent-encodings are not decoded or recased (RFC 3986 section 6.2.1).
        assert_eq!(
            parse("https://h/%7e%7E").expect("valid test input"),
            "https://h/%7e%7E"
        );
    }

    #[test]
    fn refuses_what_is_not_a_target_uri() {
        for bad in [
            "example.com/a",
            "https://",
            "https://user@example.com/",
            "https://example.com/a#frag",
            "https://example.com/a b",
            "https://exa mple.com/",
            "https://example.com:99999/",
            "https://example.com:12a/",
            "https://[::1/",
            "https://[::1]x/",
            "https://a:b:c/",
            "1https://example.com/",
            "https://example.com/caf\u{e9}",
            "https://example.com/\n",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
        assert!(TargetUri::new("https", "h", "relative", None).is_err());
        assert!(TargetUri::new("https", "h", "/", Some("a#b")).is_err());
        assert!(TargetUri::new("https", "h", &"/a".repeat(TARGET_URI_BYTES_MAX), None).is_err());
    }

    #[test]
    fn combines_field_lines() {
        let target = TargetUri::parse("https://h/").expect("valid test input");
        let headers = [
            ("Cache-Control", "  max-age=60 "),
            ("x", ""),
            ("cache-control", "\tmust-revalidate"),
        ];
        let req = RequestView {
            method: "GET",
            target: &target,
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            req.field_value("cache-control").as_deref(),
            Some("max-age=60, must-revalidate")
        );
        assert_eq!(req.field_value("x").as_deref(), Some(""));
        assert_eq!(req.field_value("absent"), None);
    }
}
