//! Local doors: which requests tokenwatch answers at all, and which may change its state.
//!
//! DNS rebinding: a web page can point its own domain at 127.0.0.1 and then read tokenwatch
//! through the visitor's browser, which still sends the page's domain as `Host`. So a request is
//! answered only when its `Host` (or HTTP/2 `:authority`) names an allowed host: the loopback
//! names, the listen address's host, and `server.allowed_hosts`. This holds for every route: the
//! API, the dashboard and the proxy. A request without any host (HTTP/1.0) cannot come from a
//! browser and is answered.
//!
//! Cross-site requests: a page on another origin can make the browser send a form-encoded POST
//! without asking first. So a state-changing API request (POST, PUT, PATCH or DELETE under
//! `/api/v1`) is refused when it carries an `Origin` that is not an allowed host (403), and when
//! it has a body that is not `application/json` (415). The proxy refuses the same foreign
//! origins on every method but GET, HEAD and OPTIONS, so a page cannot spend the owner's
//! provider key through a local tokenwatch.
//!
//! Both checks compare header text with a short list: no I/O, no allocation on success, cheap
//! enough for the proxy's hot path.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri, header};

/// Host names every installation answers to (besides the listen address's own host).
pub const LOOPBACK_HOSTS: &[&str] = &["localhost", "127.0.0.1", "[::1]"];

/// The host names tokenwatch answers to, lower-case, without port, IPv6 in brackets.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    names: Vec<String>,
}

/// Why a request was turned away, with the message its client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AllowedHosts {
    /// The loopback names, `listen_host` (the listen address's host as written) and `extra`
    /// (`server.allowed_hosts`).
    pub fn new(listen_host: &str, extra: &[String]) -> Self {
        let mut names: Vec<String> = Vec::new();
        let candidates = LOOPBACK_HOSTS
            .iter()
            .copied()
            .chain(std::iter::once(listen_host))
            .chain(extra.iter().map(String::as_str));
        for name in candidates {
            let name = normalise(name);
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        Self { names }
    }

    /// The names, in the order they were given (loopback first).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether `authority` (`host`, `host:port`, `[v6]:port`) names an allowed host.
    pub fn allows(&self, authority: &str) -> bool {
        let host = host_of(authority);
        let host = host.strip_suffix('.').unwrap_or(host);
        self.names.iter().any(|n| n.eq_ignore_ascii_case(host))
    }

    /// The `Host` check, for every request.
    pub fn check_host(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), Refusal> {
        let host = match headers.get(header::HOST) {
            Some(value) => value.to_str().ok(),
            None => match uri.authority() {
                Some(authority) => Some(authority.as_str()),
                None => return Ok(()),
            },
        };
        match host {
            Some(h) if self.allows(h) => Ok(()),
            other => {
                let shown = printable(other);
                Err(Refusal {
                    status: StatusCode::FORBIDDEN,
                    code: "host_not_allowed",
                    message: format!(
                        "tokenwatch: the host name '{shown}' is not one this server answers to ({}). If you reach tokenwatch by that name on purpose, add it to server.allowed_hosts (TOKENWATCH_SERVER__ALLOWED_HOSTS).",
                        self.names.join(", ")
                    ),
                })
            }
        }
    }

    /// The cross-site check for tokenwatch's own routes: state-changing `/api/v1` requests need
    /// a same-site (or absent) `Origin` and, when they have a body, JSON.
    pub fn check_api_write(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(), Refusal> {
        let writes = matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if !writes || !(path == "/api/v1" || path.starts_with("/api/v1/")) {
            return Ok(());
        }
        self.check_origin(headers, || {
            format!(
                "tokenwatch: {method} {path} from the web page at '{{origin}}' is refused: only pages served by tokenwatch itself (or a host in server.allowed_hosts) may change its data"
            )
        })?;
        if has_body(headers) && !is_json(headers) {
            return Err(Refusal {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "json_required",
                message: format!(
                    "tokenwatch: {method} {path} needs a JSON body sent with Content-Type: application/json"
                ),
            });
        }
        Ok(())
    }
}

impl AllowedHosts {
    /// The cross-site check for the proxy: a web page on another origin may not send requests
    /// upstream through tokenwatch, where they would spend the configured provider key (a
    /// browser sends a plain-text POST to any address without asking first). Reads pass: the
    /// page cannot see their answers.
    pub fn check_proxy_origin(&self, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        self.check_origin(headers, || {
            "tokenwatch: a request from the web page at '{origin}' is refused: web pages on other sites may not call providers through tokenwatch. If that page is yours, add its host to server.allowed_hosts (TOKENWATCH_SERVER__ALLOWED_HOSTS).".to_owned()
        })
    }

    /// Refuses (403) a request whose `Origin` is present and not an allowed host; `message`
    /// gives the text, where `{origin}` stands for the origin as sent (printable, cut short).
    fn check_origin(
        &self,
        headers: &HeaderMap,
        message: impl FnOnce() -> String,
    ) -> Result<(), Refusal> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let allowed = origin
            .to_str()
            .ok()
            .and_then(origin_authority)
            .is_some_and(|a| self.allows(a));
        if allowed {
            return Ok(());
        }
        let shown = printable(origin.to_str().ok());
        Err(Refusal {
            status: StatusCode::FORBIDDEN,
            code: "foreign_origin",
            message: message().replace("{origin}", &shown),
        })
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message, "param": null }
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// Middleware for tokenwatch's own routes (API, dashboard, health): both checks.
pub async fn guard(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let checked = hosts
        .check_host(request.headers(), request.uri())
        .and_then(|()| {
            hosts.check_api_write(request.method(), request.uri().path(), request.headers())
        });
    match checked {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// A header's text as a message may quote it: no control characters, at most 100 of them.
fn printable(value: Option<&str>) -> String {
    value
        .unwrap_or("(not text)")
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect()
}

/// Lower-case, no trailing dot, a bare IPv6 address put in brackets as `Host` carries it.
fn normalise(name: &str) -> String {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.contains(':') && !name.starts_with('[') {
        format!("[{name}]")
    } else {
        name
    }
}

/// The host of an authority: `[::1]:4100` → `[::1]`, `example.com:4100` → `example.com`.
fn host_of(authority: &str) -> &str {
    let authority = authority.trim();
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// `http://host:port` → `host:port`; `null` and anything without a scheme → `None`.
fn origin_authority(origin: &str) -> Option<&str> {
    let (_, rest) = origin.trim().split_once("://")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..end];
    (!authority.is_empty()).then_some(authority)
}

fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => {
            headers.contains_key(header::TRANSFER_ENCODING)
                || headers.contains_key(header::CONTENT_TYPE)
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn hosts() -> AllowedHosts {
        AllowedHosts::new(
            "0.0.0.0",
            &["Tokenwatch.Lan".to_owned(), "fe80::1".to_owned()],
        )
    }

    #[test]
    fn loopback_listen_and_configured_names_are_allowed_with_any_port() {
        let h = hosts();
        for ok in [
            "localhost",
            "localhost:4100",
            "127.0.0.1:4100",
            "[::1]:4100",
            "[::1]",
            "0.0.0.0:4100",
            "tokenwatch.lan:80",
            "TOKENWATCH.LAN.",
            "[fe80::1]:4100",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:4100",
            "127.0.0.1.evil.example",
            "localhost.evil.example:4100",
            "[::2]:4100",
            "",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
    }

    #[test]
    fn a_rebound_host_is_refused_naming_the_setting() {
        let uri: Uri = "/api/v1/events".parse().unwrap();
        let err = hosts()
            .check_host(&headers(&[("host", "attacker.example:4100")]), &uri)
            .unwrap_err();
        assert_eq!(err.status, StatusCode::FORBIDDEN);
        assert!(
            err.message.contains("'attacker.example:4100'"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("server.allowed_hosts"),
            "{}",
            err.message
        );
        assert!(hosts().check_host(&HeaderMap::new(), &uri).is_ok());
        let absolute: Uri = "http://evil.example/x".parse().unwrap();
        assert!(hosts().check_host(&HeaderMap::new(), &absolute).is_err());
    }

    #[test]
    fn api_writes_need_a_same_site_origin_and_json() {
        let h = hosts();
        let post = |pairs: &[(&'static str, &'static str)]| {
            h.check_api_write(&Method::POST, "/api/v1/alerts/ack", &headers(pairs))
                .map_err(|r| r.status)
        };
        assert_eq!(
            post(&[
                ("origin", "http://evil.example"),
                ("content-type", "application/x-www-form-urlencoded"),
                ("content-length", "3"),
            ]),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(post(&[("origin", "null")]), Err(StatusCode::FORBIDDEN));
        assert_eq!(
            post(&[("content-type", "text/plain"), ("content-length", "2")]),
            Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(
            post(&[("content-type", "application/x-www-form-urlencoded")]),
            Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert_eq!(post(&[("origin", "http://127.0.0.1:4100")]), Ok(()));
        assert_eq!(post(&[("content-length", "0")]), Ok(()));
        assert_eq!(
            post(&[
                ("origin", "http://localhost:4100"),
                ("content-type", "application/json; charset=utf-8"),
                ("content-length", "2"),
            ]),
            Ok(())
        );
        // Reads and the proxy are not API writes.
        let foreign = headers(&[("origin", "http://evil.example")]);
        assert!(
            h.check_api_write(&Method::GET, "/api/v1/events", &foreign)
                .is_ok()
        );
        assert!(
            h.check_api_write(&Method::POST, "/v1/messages", &foreign)
                .is_ok()
        );
        assert!(
            h.check_api_write(&Method::DELETE, "/api/v1/budgets/x", &foreign)
                .is_err()
        );
    }

    #[test]
    fn the_proxy_refuses_calls_from_foreign_pages() {
        let h = hosts();
        let foreign = headers(&[("origin", "http://evil.example")]);
        let refused = h.check_proxy_origin(&Method::POST, &foreign).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(
            refused.message.contains("'http://evil.example'"),
            "{}",
            refused.message
        );
        assert!(h.check_proxy_origin(&Method::GET, &foreign).is_ok());
        assert!(
            h.check_proxy_origin(&Method::POST, &HeaderMap::new())
                .is_ok()
        );
        let local = headers(&[("origin", "http://localhost:3000")]);
        assert!(h.check_proxy_origin(&Method::POST, &local).is_ok());
    }
}
