//! The small subset of RFC 3986 URLs a card uses, and web origins (RFC 6454).
//!
//! A general URL parser is deliberately not used: a card's URLs come from operator
//! configuration, so the card requires one plain form (`http` or `https`, a DNS name or IP
//! literal, an optional port, a path of unreserved characters) and refuses everything that
//! lets two texts mean one URL or one text mean two: user information, percent-encoding,
//! dot segments, empty segments, upper-case hosts, explicit default ports, queries and
//! fragments. Then "is this URL under `base_url`" is a plain prefix test that cannot be
//! fooled, and origin comparison is string equality.

use std::fmt;

use crate::CardError;
use crate::error::clip;
use crate::limits::URL_BYTES_MAX;

/// A web origin: scheme, host and port, normalized (lower case, default port omitted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// `http` or `https`.
    scheme: &'static str,
    /// The host in lower case; IPv6 literals keep their brackets.
    host: String,
    /// The port, `None` when it is the scheme's default.
    port: Option<u16>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// Splits an absolute http(s) URL into its normalized origin and the rest (path, query and
/// fragment, as written).
pub(crate) fn split_origin(url: &str) -> Result<(Origin, &str), &'static str> {
    if url.len() > URL_BYTES_MAX {
        return Err("URL is longer than the limit");
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("URL contains white space, control or non-ASCII characters");
    }
    let (scheme_text, rest) = url
        .split_once("://")
        .ok_or("URL is not absolute (no \"://\")")?;
    let scheme = if scheme_text.eq_ignore_ascii_case("https") {
        "https"
    } else if scheme_text.eq_ignore_ascii_case("http") {
        "http"
    } else {
        return Err("URL scheme is not http or https");
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err("URL has user information");
    }
    let (host, port_text) = split_host_port(authority)?;
    let port = match port_text {
        None => None,
        Some(text) => Some(parse_port(text)?),
    };
    let default_port = if scheme == "https" { 443 } else { 80 };
    Ok((
        Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port: port.filter(|p| *p != default_port),
        },
        tail,
    ))
}

/// Splits `host[:port]` and checks the host's characters.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if let Some(inner) = authority.strip_prefix('[') {
        // IPv6 (or IPvFuture) literal, RFC 3986 section 3.2.2.
        let close = inner
            .find(']')
            .ok_or("URL has an unterminated IP literal")?;
        let literal = &inner[..close];
        if literal.is_empty()
            || !literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("URL has a malformed IP literal");
        }
        let host = &authority[..close + 2];
        let after = &inner[close + 1..];
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
            None => Err("URL has text after its IP literal"),
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("URL has no host");
    }
    // DNS names and IPv4 addresses: letters, digits, '-' and non-empty dot-separated labels.
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || host.split('.').any(str::is_empty)
    {
        return Err("URL host is not a DNS name or IP address");
    }
    Ok((host, port))
}

/// A port: 1-5 ASCII digits, 1-65535.
fn parse_port(text: &str) -> Result<u16, &'static str> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("URL port is not a number");
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err("URL port is out of range"),
    }
}

/// Whether `b` may appear in a card URL's path: RFC 3986 `pchar` without percent-encoding,
/// plus `/`.
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)
}

/// Checks a URL written in a card (JSON pointer `path`) and returns its origin.
///
/// # Errors
/// [`CardError::InvalidUrl`] naming the broken rule.
pub(crate) fn check_card_url(url: &str, path: &str) -> Result<Origin, CardError> {
    let invalid = |reason| CardError::InvalidUrl {
        path: path.to_owned(),
        reason,
    };
    let (origin, rest) = split_origin(url).map_err(invalid)?;
    // The origin must be written exactly in its normalized form.
    if format!("{origin}{rest}") != url {
        return Err(invalid(
            "URL is not in canonical form (lower-case scheme and host, no default port)",
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(invalid("URL has a query or fragment"));
    }
    if !rest.bytes().all(is_path_byte) {
        return Err(invalid(
            "URL path has characters outside RFC 3986 pchar (percent-encoding is not accepted)",
        ));
    }
    if let Some(segments) = rest.strip_prefix('/') {
        if segments
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(invalid(
                "URL path has an empty or dot segment (or a trailing slash)",
            ));
        }
    }
    Ok(origin)
}

/// Whether `url` is `base` or below it. Both must have passed [`check_card_url`], so `base`
/// has no trailing slash and the test cannot match `https://a.example.evil` against
/// `https://a.example` or `/treaty2` against `/treaty`.
pub(crate) fn is_under(url: &str, base: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The origin of the URL a card was fetched from. Any path, query or fragment is allowed
/// there; only the origin matters.
///
/// # Errors
/// [`CardError::InvalidFetchedFrom`].
pub(crate) fn fetched_origin(url: &str) -> Result<Origin, CardError> {
    split_origin(url)
        .map(|(origin, _)| origin)
        .map_err(|reason| CardError::InvalidFetchedFrom {
            url: clip(url),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> String {
        split_origin(url).expect(url).0.to_string()
    }

    #[test]
    fn origins_are_normalized() {
        assert_eq!(origin("https://A.Example:443/x?y#z"), "https://a.example");
        assert_eq!(origin("HTTP://a.example:80"), "http://a.example");
        assert_eq!(origin("http://a.example:8080/"), "http://a.example:8080");
        assert_eq!(origin("https://[::1]:8443/p"), "https://[::1]:8443");
        assert_eq!(origin("https://127.0.0.1"), "https://127.0.0.1");
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "",
            "a.example",
            "ftp://a.example",
            "https://",
            "https://user@a.example",
            "https://a.example:0",
            "https://a.example:65536",
            "https://a.example:x",
            "https://a..example",
            "https://a.example./",
            "https://a_b.example",
            "https://[::1",
            "https://[zz]",
            "https://[::1]x",
            "https://a.example/ space",
            "https://a.example/\u{e9}",
        ] {
            assert!(split_origin(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn card_urls_are_canonical() {
        for good in [
            "https://a.example",
            "https://a.example/treaty",
            "http://127.0.0.1:8080/v1/log",
            "https://[::1]:8443/a:b@c",
        ] {
            assert!(check_card_url(good, "/u").is_ok(), "{good}");
        }
        for bad in [
            "https://A.example",
            "HTTPS://a.example",
            "https://a.example:443",
            "https://a.example/",
            "https://a.example//x",
            "https://a.example/a/../b",
            "https://a.example/./b",
            "https://a.example/x?y=1",
            "https://a.example/x#f",
            "https://a.example/%2e%2e",
            "https://a.example/{x}",
        ] {
            assert!(
                matches!(check_card_url(bad, "/u"), Err(CardError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn under_is_segment_aware() {
        assert!(is_under("https://a.example", "https://a.example"));
        assert!(is_under("https://a.example/x", "https://a.example"));
        assert!(is_under("https://a.example/t/x", "https://a.example/t"));
        assert!(!is_under("https://a.example.evil/x", "https://a.example"));
        assert!(!is_under("https://a.example:8443/x", "https://a.example"));
        assert!(!is_under("https://a.example/t2/x", "https://a.example/t"));
        assert!(!is_under("https://b.example/x", "https://a.example"));
    }
}
