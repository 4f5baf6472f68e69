//! Header rules for forwarding: what is hop-by-hop, what is tokenwatch's own, what is a
//! credential, and which response headers are worth recording.
//!
//! Credentials are recognised here so the rest of the proxy can forward them without ever
//! copying their values anywhere else.

use http::header::{self, HeaderMap, HeaderName};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `host`,
/// which the HTTP client sets from the upstream URI.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
    )
}

/// tokenwatch's own request headers (tags, session, project, agent); never forwarded upstream.
pub fn is_tokenwatch_header(name: &HeaderName) -> bool {
    name.as_str().starts_with("x-tokenwatch-")
}

/// Whether the client sent any credential the providers accept.
pub fn has_credentials(headers: &HeaderMap, query: Option<&str>) -> bool {
    headers.contains_key(header::AUTHORIZATION)
        || headers.contains_key("x-api-key")
        || headers.contains_key("x-goog-api-key")
        || query.is_some_and(|q| q.split('&').any(|pair| pair.starts_with("key=")))
}

/// The client's credential as a stable, non-reversible id: `k_` and the first 12 hex digits
/// (48 bits) of the SHA-256 of the key. The key is the `Authorization` value without its
/// `Bearer ` scheme, else `x-api-key`, else `x-goog-api-key`, else the `key=` query parameter.
/// `None` when the client sent no key (a key tokenwatch injects is not the client's).
pub fn key_id(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    use sha2::Digest;
    use std::fmt::Write;
    let header_key = |name: &str| {
        headers
            .get(name)
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty())
    };
    let key = header_key("authorization")
        .map(|v| strip_scheme(v, b"bearer "))
        .or_else(|| header_key("x-api-key"))
        .or_else(|| header_key("x-goog-api-key"))
        .or_else(|| {
            query?
                .split('&')
                .find_map(|pair| pair.strip_prefix("key="))
                .filter(|k| !k.is_empty())
                .map(str::as_bytes)
        })?;
    let digest = sha2::Sha256::digest(key);
    let mut id = String::with_capacity(14);
    id.push_str("k_");
    for byte in &digest[..6] {
        let _ = write!(id, "{byte:02x}");
    }
    Some(id)
}

fn strip_scheme<'a>(value: &'a [u8], scheme: &[u8]) -> &'a [u8] {
    match value.get(..scheme.len()) {
        Some(head) if head.eq_ignore_ascii_case(scheme) => value[scheme.len()..].trim_ascii(),
        _ => value,
    }
}

/// Removes, in place, what does not go upstream: hop-by-hop headers and tokenwatch's own.
/// `drop_length` removes `content-length` too, when the body was rewritten.
pub fn strip_request_headers(headers: &mut HeaderMap, drop_length: bool) {
    strip_headers(headers, drop_length, true);
}

/// Removes, in place, what does not go back to the client: hop-by-hop headers.
pub fn strip_response_headers(headers: &mut HeaderMap, drop_length: bool) {
    strip_headers(headers, drop_length, false);
}

/// Edits the map the request or response arrived with instead of copying it: most messages
/// carry nothing to strip but `host`, and a copy is an allocation and a rehash per header.
/// Each pass removes one name (all its values); the map holds at most hyper's 100 headers.
fn strip_headers(headers: &mut HeaderMap, drop_length: bool, strip_own: bool) {
    let doomed = |name: &HeaderName| {
        is_hop_by_hop(name)
            || (strip_own && is_tokenwatch_header(name))
            || (drop_length && *name == header::CONTENT_LENGTH)
    };
    while let Some(name) = headers.keys().find(|name| doomed(name)).cloned() {
        headers.remove(&name);
    }
}

/// Facts worth keeping from the upstream's response headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHeaderFacts {
    pub request_id: Option<String>,
    pub ratelimit_remaining_requests: Option<i64>,
    pub ratelimit_remaining_tokens: Option<i64>,
}

impl ResponseHeaderFacts {
    pub fn read(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let number = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| text(n)?.trim().parse::<i64>().ok())
        };
        Self {
            request_id: text("request-id")
                .or_else(|| text("x-request-id"))
                .map(|s| s.chars().take(200).collect()),
            ratelimit_remaining_requests: number(&[
                "anthropic-ratelimit-requests-remaining",
                "x-ratelimit-remaining-requests",
            ]),
            ratelimit_remaining_tokens: number(&[
                "anthropic-ratelimit-tokens-remaining",
                "anthropic-ratelimit-input-tokens-remaining",
                "x-ratelimit-remaining-tokens",
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn forwards_all_but_hop_by_hop_and_own() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("k"));
        h.insert("connection", HeaderValue::from_static("keep-alive"));
        h.insert("host", HeaderValue::from_static("127.0.0.1:4100"));
        h.insert("x-tokenwatch-tags", HeaderValue::from_static("a=b"));
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        h.insert("content-length", HeaderValue::from_static("12"));
        h.append("x-tokenwatch-tag", HeaderValue::from_static("team=a"));
        h.append("x-tokenwatch-tag", HeaderValue::from_static("env=b"));
        h.insert("te", HeaderValue::from_static("trailers"));
        let mut out = h.clone();
        strip_request_headers(&mut out, false);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(out.contains_key("x-api-key") && out.contains_key("anthropic-version"));
        assert!(out.contains_key("content-length"));
        let mut rewritten = h.clone();
        strip_request_headers(&mut rewritten, true);
        assert!(!rewritten.contains_key("content-length"));
        assert!(rewritten.contains_key("x-api-key"));
        // A response keeps x-tokenwatch-* (they are tokenwatch's own answers) but not hop-by-hop.
        let mut response = h.clone();
        strip_response_headers(&mut response, false);
        assert!(!response.contains_key("connection") && !response.contains_key("te"));
        assert_eq!(response.get_all("x-tokenwatch-tag").iter().count(), 2);
    }

    #[test]
    fn credentials_seen_anywhere() {
        let mut h = HeaderMap::new();
        assert!(!has_credentials(&h, None));
        assert!(has_credentials(&h, Some("alt=sse&key=abc")));
        assert!(!has_credentials(&h, Some("monkey=1")));
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        assert!(has_credentials(&h, None));
    }

    #[test]
    fn key_id_is_the_same_for_the_same_key_wherever_it_is_sent() {
        let mut bearer = HeaderMap::new();
        bearer.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-test-1"),
        );
        let mut x_api_key = HeaderMap::new();
        x_api_key.insert("x-api-key", HeaderValue::from_static("sk-test-1"));
        let mut goog = HeaderMap::new();
        goog.insert("x-goog-api-key", HeaderValue::from_static("sk-test-1"));
        let id = key_id(&bearer, None).unwrap();
        // printf %s sk-test-1 | sha256sum | cut -c1-12
        assert_eq!(id, "k_db567a0dd8d2");
        assert_eq!(key_id(&x_api_key, None).as_deref(), Some(id.as_str()));
        assert_eq!(key_id(&goog, None).as_deref(), Some(id.as_str()));
        assert_eq!(
            key_id(&HeaderMap::new(), Some("alt=sse&key=sk-test-1")).as_deref(),
            Some(id.as_str())
        );
        assert_eq!(key_id(&HeaderMap::new(), Some("monkey=sk-test-1")), None);
        assert_eq!(key_id(&HeaderMap::new(), None), None);
        let mut other = HeaderMap::new();
        other.insert("x-api-key", HeaderValue::from_static("sk-test-2"));
        assert_ne!(key_id(&other, None).as_deref(), Some(id.as_str()));
    }

    #[test]
    fn reads_rate_limits_and_id() {
        let mut h = HeaderMap::new();
        h.insert("request-id", HeaderValue::from_static("req_1"));
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static(" 42 "),
        );
        let f = ResponseHeaderFacts::read(&h);
        assert_eq!(f.request_id.as_deref(), Some("req_1"));
        assert_eq!(f.ratelimit_remaining_requests, Some(42));
        assert_eq!(f.ratelimit_remaining_tokens, None);
    }
}
