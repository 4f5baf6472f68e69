//! Who is asking, and whether they may: one middleware over tokenwatch's own routes, and the one
//! table ([`ACCESS`]) where every route declares what it needs.
//!
//! A request is authenticated once: an API token (`Authorization: Bearer twt_…`), else the
//! session cookie ([`SESSION_COOKIE`]); the [`Principal`] found (a tenant and a role) goes into
//! the request's extensions for the handler, whose use-cases scope every read and write by it.
//! Without `[auth] required` and without credentials, the principal is
//! [`Principal::local`] (the `default` tenant with every role), so local mode needs no setup;
//! credentials that are presented are always checked. A request authenticated by the cookie
//! that changes state must carry the session's CSRF token in `X-CSRF-Token`.
//!
//! A route missing from [`ACCESS`] is refused (fail closed), and a test walks every route of
//! the router to prove each one is declared and refuses anonymous and foreign requests.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, Method, header};
use tokenwatch_app::AppError;
use tokenwatch_app::teams::{Principal, Role, SESSION_COOKIE, csrf_token};

use crate::app::AppState;
use crate::error::ApiError;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health checks, the login page and form, static files without data).
    Public,
    /// Anyone signed in, whatever the role (who am I, log out).
    Signed,
    /// A dashboard page: signed in, else a redirect to the login page.
    Page,
    /// At least this role.
    Role(Role),
}

use Access::{Page, Public, Signed};
const VIEWER: Access = Access::Role(Role::Viewer);
const MEMBER: Access = Access::Role(Role::Member);
const ADMIN: Access = Access::Role(Role::Admin);
const OPERATOR: Access = Access::Role(Role::Operator);

/// Every route of tokenwatch's own router: method, path as the router matches it, access.
pub const ACCESS: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", OPERATOR),
    ("GET", "/login", Public),
    ("GET", "/", Page),
    ("GET", "/ui", Page),
    ("GET", "/ui/", Page),
    ("GET", "/ui/{*view}", Page),
    ("GET", "/assets/{*path}", Public),
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/auth/logout", Signed),
    ("GET", "/api/v1/auth/me", Signed),
    ("GET", "/api/v1/auth/methods", Public),
    ("GET", "/api/v1/auth/oidc/start", Public),
    ("GET", "/api/v1/auth/oidc/callback", Public),
    ("GET", "/api/v1/openapi.json", VIEWER),
    ("GET", "/api/v1/events", VIEWER),
    ("GET", "/api/v1/events/{id}", VIEWER),
    ("GET", "/api/v1/analytics/summary", VIEWER),
    ("GET", "/api/v1/analytics/timeseries", VIEWER),
    ("GET", "/api/v1/analytics/breakdown", VIEWER),
    ("GET", "/api/v1/analytics/heatmap", VIEWER),
    ("GET", "/api/v1/analytics/latency", VIEWER),
    ("GET", "/api/v1/analytics/cache", VIEWER),
    ("GET", "/api/v1/analytics/tools", VIEWER),
    ("GET", "/api/v1/sessions", VIEWER),
    ("GET", "/api/v1/sessions/{id}/timeline", VIEWER),
    ("GET", "/api/v1/prompt-costs", VIEWER),
    ("GET", "/api/v1/recommendations", VIEWER),
    ("POST", "/api/v1/recommendations/{id}/{action}", MEMBER),
    ("GET", "/api/v1/guard", VIEWER),
    ("PUT", "/api/v1/guard/{kind}/{subject}", MEMBER),
    ("DELETE", "/api/v1/guard/{kind}/{subject}", MEMBER),
    ("GET", "/api/v1/tags", VIEWER),
    ("POST", "/api/v1/tags", MEMBER),
    ("PATCH", "/api/v1/tags/{key}/{value}", MEMBER),
    ("DELETE", "/api/v1/tags/{key}/{value}", MEMBER),
    ("GET", "/api/v1/prices", VIEWER),
    ("GET", "/api/v1/providers", VIEWER),
    ("GET", "/api/v1/stream", VIEWER),
    ("GET", "/api/v1/budgets", VIEWER),
    ("POST", "/api/v1/budgets", MEMBER),
    ("GET", "/api/v1/budgets/{name}", VIEWER),
    ("DELETE", "/api/v1/budgets/{name}", MEMBER),
    ("GET", "/api/v1/alerts", VIEWER),
    ("POST", "/api/v1/alerts/ack", MEMBER),
    ("POST", "/api/v1/alerts/{id}/ack", MEMBER),
    ("GET", "/api/v1/alert-rules", VIEWER),
    ("POST", "/api/v1/alert-rules", ADMIN),
    ("DELETE", "/api/v1/alert-rules/{name}", ADMIN),
    ("GET", "/api/v1/channels", ADMIN),
    ("POST", "/api/v1/channels", ADMIN),
    ("DELETE", "/api/v1/channels/{name}", ADMIN),
    ("GET", "/api/v1/tag-rules", VIEWER),
    ("POST", "/api/v1/tag-rules", MEMBER),
    ("DELETE", "/api/v1/tag-rules/{name}", MEMBER),
    ("POST", "/api/v1/retag", MEMBER),
    ("GET", "/api/v1/tenants", VIEWER),
    ("POST", "/api/v1/tenants", OPERATOR),
    ("GET", "/api/v1/projects", VIEWER),
    ("POST", "/api/v1/projects", ADMIN),
    ("GET", "/api/v1/keys", VIEWER),
    ("POST", "/api/v1/keys", MEMBER),
    ("POST", "/api/v1/keys/{id}/revoke", MEMBER),
    ("POST", "/api/v1/keys/{id}/rotate", MEMBER),
    ("GET", "/api/v1/tokens", ADMIN),
    ("POST", "/api/v1/tokens", ADMIN),
    ("POST", "/api/v1/tokens/{id}/revoke", ADMIN),
    ("GET", "/api/v1/users", ADMIN),
    ("POST", "/api/v1/users", ADMIN),
    ("PATCH", "/api/v1/users/{email}", ADMIN),
    ("GET", "/api/v1/credentials", ADMIN),
    ("PUT", "/api/v1/credentials/{provider}", ADMIN),
    ("DELETE", "/api/v1/credentials/{provider}", ADMIN),
    ("GET", "/api/v1/audit", ADMIN),
    ("GET", "/api/v1/sync/accounts", VIEWER),
    ("POST", "/api/v1/sync/accounts", ADMIN),
    ("DELETE", "/api/v1/sync/accounts/{provider}/{name}", ADMIN),
    (
        "POST",
        "/api/v1/sync/accounts/{provider}/{name}/test",
        ADMIN,
    ),
    ("POST", "/api/v1/sync/run", ADMIN),
    ("GET", "/api/v1/sync/claude-code", VIEWER),
    ("GET", "/api/v1/reconciliation", VIEWER),
];

/// What `method` on the route `path` needs; `None` when the route is not declared. HEAD is
/// GET's.
pub fn access(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ACCESS
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|&(_, _, a)| a)
}

/// The value of one cookie.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    value
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("bearer "))
        .map(|_| value[7..].trim())
}

/// How a request was authenticated.
enum Found {
    Nothing,
    Token(Principal),
    Cookie(Principal, String),
}

async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<Found, AppError> {
    if let Some(token) = bearer(headers) {
        return match app.teams.authenticate_token(token).await? {
            Some(p) => Ok(Found::Token(p)),
            None => Err(AppError::Unauthorized(
                "the API token is unknown, revoked or of a disabled tenant".to_owned(),
            )),
        };
    }
    if let Some(value) = cookie(headers, SESSION_COOKIE).filter(|v| !v.is_empty()) {
        return match app.teams.authenticate_session(value).await? {
            Some(p) => Ok(Found::Cookie(p, value.to_owned())),
            None if app.config.auth.required => Err(AppError::Unauthorized(
                "the login session has ended; sign in again".to_owned(),
            )),
            // Local mode: a stale cookie is no reason to refuse what needs no login.
            None => Ok(Found::Nothing),
        };
    }
    Ok(Found::Nothing)
}

/// The sign-in page, coming back to `uri` (a dashboard page) afterwards.
fn to_login(uri: &http::Uri) -> Response {
    let back = uri
        .path_and_query()
        .map_or("/ui/overview", |pq| pq.as_str());
    let query = serde_urlencoded::to_string([("next", back)]).unwrap_or_default();
    Redirect::to(&format!("/login?{query}")).into_response()
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware: authenticate, check the route's declared access and CSRF, then pass the
/// principal on.
pub async fn guard(State(app): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    // Paths no route matched (the API's own 404) need a viewer: nothing is told to strangers.
    let needs = match path.as_deref() {
        Some(p) => match access(request.method(), p) {
            Some(a) => a,
            None => {
                tracing::error!(route = p, method = %request.method(), "a route has no declared access; refusing");
                return ApiError::from(AppError::Forbidden(
                    "this route declares no access rule".to_owned(),
                ))
                .into_response();
            }
        },
        None => VIEWER,
    };
    let found = match authenticate(&app, request.headers()).await {
        Ok(f) => f,
        Err(e) => {
            return match needs {
                Public => next.run(request).await,
                Page => to_login(request.uri()),
                _ => ApiError::from(e).into_response(),
            };
        }
    };
    let (principal, cookie_value) = match found {
        Found::Token(p) => (Some(p), None),
        Found::Cookie(p, c) => (Some(p), Some(c)),
        Found::Nothing if app.config.auth.required => (None, None),
        Found::Nothing => (Some(Principal::local()), None),
    };
    if let Some(cookie_value) = &cookie_value
        && is_write(request.method())
        && needs != Public
    {
        let sent = request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if sent != Some(csrf_token(cookie_value).as_str()) {
            return ApiError::from(AppError::Forbidden(
                "missing or wrong X-CSRF-Token (read it from GET /api/v1/auth/me)".to_owned(),
            ))
            .into_response();
        }
    }
    let allowed = match (needs, &principal) {
        (Public, _) => Ok(()),
        (Page, None) => return to_login(request.uri()),
        (Signed | Access::Role(_), None) => Err(AppError::Unauthorized(
            "sign in, or send an API token as Authorization: Bearer".to_owned(),
        )),
        (Signed | Page, Some(_)) => Ok(()),
        (Access::Role(role), Some(p)) => p.require(role),
    };
    if let Err(e) = allowed {
        return ApiError::from(e).into_response();
    }
    if let Some(p) = principal {
        request.extensions_mut().insert(p);
    }
    next.run(request).await
}
