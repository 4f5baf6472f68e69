//! `/api/v1/auth/…` (login, logout, who am I) and the teams resources: tenants, proxy keys,
//! API tokens, users, provider credentials (write-only) and the audit log. Thin: each handler
//! reads its input and calls the `teams` use-case with the request's principal, which checks
//! the role again and scopes to the principal's tenant.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use tokenwatch_app::teams::{KeyBudget, NewKey, Principal, Role, SESSION_COOKIE, csrf_token};
use tokenwatch_store::{ApiToken, AuditEntry, Project, ProxyKey, Tenant, User};

use crate::api::json_body::JsonBody;
use crate::app::AppState;
use crate::auth::cookie;
use crate::error::ApiError;

type Api<T> = Result<T, ApiError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

fn secure(app: &AppState, headers: &HeaderMap) -> bool {
    app.config.auth.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn session_cookie(value: &str, max_age_secs: i64, secure: bool) -> Result<HeaderValue, ApiError> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .map_err(|_| ApiError::App(tokenwatch_app::AppError::Internal("bad cookie".to_owned())))
}

fn me_json(p: &Principal, csrf: Option<String>) -> Value {
    json!({"actor": p.actor, "tenant": p.tenant, "role": p.role, "csrf_token": csrf})
}

pub async fn login(
    State(app): State<Arc<AppState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: JsonBody<LoginBody>,
) -> Api<Response> {
    let JsonBody(body) = body;
    let addr = peer.map_or_else(
        || "unknown".to_owned(),
        |Extension(ConnectInfo(a))| a.ip().to_string(),
    );
    let session = app.teams.login(&body.email, &body.password, &addr).await?;
    let who = app
        .teams
        .authenticate_session(&session.cookie)
        .await?
        .ok_or_else(|| {
            ApiError::App(tokenwatch_app::AppError::Unauthorized(
                "the session ended at once".to_owned(),
            ))
        })?;
    let max_age = (session.expires_ms - tokenwatch_core::time::now_ms()) / 1000;
    let mut response = Json(me_json(&who, Some(csrf_token(&session.cookie)))).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&session.cookie, max_age, secure(&app, &headers))?,
    );
    Ok(response)
}

pub async fn logout(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> Api<Response> {
    if let Some(value) = cookie(&headers, SESSION_COOKIE) {
        app.teams.logout(&who, value).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, secure(&app, &headers))?,
    );
    Ok(response)
}

/// `GET /api/v1/auth/methods`: how people can sign in here (the sign-in page asks).
pub async fn methods(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(
        json!({"password": true, "oidc": app.oidc.is_some(), "required": app.config.auth.required}),
    )
}

/// `GET /api/v1/auth/oidc/start`: to the provider's sign-in page.
pub async fn oidc_start(State(app): State<Arc<AppState>>) -> Api<Response> {
    let Some(oidc) = &app.oidc else {
        return Err(ApiError::not_found(
            "OIDC sign-in is not configured ([auth.oidc])",
        ));
    };
    let url = oidc.start(tokenwatch_core::time::now_ms()).await?;
    Ok(axum::response::Redirect::to(&url).into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /api/v1/auth/oidc/callback`: the provider's answer; a session and the dashboard, or
/// the sign-in page with the reason.
pub async fn oidc_callback(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let back = |why: &str| {
        let query = serde_urlencoded::to_string([("error", why)]).unwrap_or_default();
        axum::response::Redirect::to(&format!("/login?{query}")).into_response()
    };
    let Some(oidc) = &app.oidc else {
        return back("OIDC sign-in is not configured");
    };
    if let Some(e) = q.error {
        return back(&format!("the provider refused the sign-in: {e}"));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return back("the provider's answer has no code or state");
    };
    let now = tokenwatch_core::time::now_ms();
    let signed = async {
        let email = oidc.finish(&code, &state, now).await?;
        let cfg = &oidc.config;
        let role = Role::parse(&cfg.role)?;
        let create = cfg.create_users.then_some((cfg.tenant.as_str(), role));
        app.teams.login_verified(&email, create).await
    }
    .await;
    match signed {
        Ok(session) => {
            let max_age = (session.expires_ms - now) / 1000;
            // A page that moves on by itself rather than a redirect: the browser arrived from
            // the provider's site, and a SameSite=Strict cookie is sent only once a navigation
            // starts here.
            let mut response = (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!doctype html><meta http-equiv=\"refresh\" content=\"0;url=/ui/overview\"><title>signed in</title><a href=\"/ui/overview\">continue</a>",
            )
                .into_response();
            match session_cookie(&session.cookie, max_age, secure(&app, &headers)) {
                Ok(v) => {
                    response.headers_mut().insert(header::SET_COOKIE, v);
                    response
                }
                Err(_) => back("cannot set the session cookie"),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "an OIDC sign-in failed");
            back(&e.to_string())
        }
    }
}

pub async fn me(Extension(who): Extension<Principal>, headers: HeaderMap) -> Json<Value> {
    let csrf = cookie(&headers, SESSION_COOKIE).map(csrf_token);
    Json(me_json(&who, csrf))
}

fn tenant_json(t: &Tenant) -> Value {
    json!({"id": t.id, "name": t.name, "disabled": t.disabled_ms.is_some(), "created_ms": t.created_ms})
}

pub async fn tenants(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Api<Json<Value>> {
    let list = app.teams.tenants(&who).await?;
    Ok(Json(
        json!({"tenants": list.iter().map(tenant_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    name: String,
}

pub async fn create_tenant(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<NameBody>,
) -> Api<(StatusCode, Json<Value>)> {
    let t = app.teams.create_tenant(&who, &body.0.name).await?;
    Ok((StatusCode::CREATED, Json(tenant_json(&t))))
}

fn project_json(p: &Project) -> Value {
    json!({"tenant": p.tenant, "name": p.name, "created_ms": p.created_ms, "live_keys": p.live_keys})
}

pub async fn projects(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Api<Json<Value>> {
    let list = app.teams.projects(&who).await?;
    Ok(Json(
        json!({"projects": list.iter().map(project_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectBody {
    name: String,
    tenant: Option<String>,
}

pub async fn create_project(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<ProjectBody>,
) -> Api<(StatusCode, Json<Value>)> {
    let JsonBody(b) = body;
    let p = app
        .teams
        .create_project(&who, b.tenant.as_deref(), &b.name)
        .await?;
    Ok((StatusCode::CREATED, Json(project_json(&p))))
}

fn key_json(k: &ProxyKey) -> Value {
    json!({
        "id": k.id, "tenant": k.tenant, "name": k.name, "project": k.project, "agent": k.agent,
        "environment": k.environment, "allowed_models": k.allowed_models, "hint": k.hint,
        "created_ms": k.created_ms, "revoked_ms": k.revoked_ms, "last_used_ms": k.last_used_ms,
        "created_by": k.created_by,
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KeyBody {
    name: Option<String>,
    project: Option<String>,
    agent: Option<String>,
    environment: Option<String>,
    allowed_models: Vec<String>,
    tenant: Option<String>,
    /// The key's own budget: {"limit_usd": "10", "period": "month", "hard": true}.
    budget: Option<KeyBudget>,
}

pub async fn keys(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Api<Json<Value>> {
    let list = app.teams.keys(&who).await?;
    Ok(Json(
        json!({"keys": list.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

pub async fn create_key(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<KeyBody>,
) -> Api<(StatusCode, Json<Value>)> {
    let JsonBody(b) = body;
    let new = NewKey {
        name: b.name,
        project: b.project,
        agent: b.agent,
        environment: b.environment,
        allowed_models: b.allowed_models,
        budget: b.budget,
    };
    let has_budget = new.budget.is_some();
    let issued = app.teams.create_key(&who, b.tenant.as_deref(), new).await?;
    if has_budget {
        // The key's budget applies from its first request.
        super::definitions::refresh(&app).await?;
    }
    let mut out = key_json(&issued.row);
    out["key"] = json!(issued.secret);
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn revoke_key(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Api<StatusCode> {
    app.teams.revoke_key(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_key(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Api<Json<Value>> {
    let issued = app.teams.rotate_key(&who, &id).await?;
    let mut out = key_json(&issued.row);
    out["key"] = json!(issued.secret);
    Ok(Json(out))
}

fn token_json(t: &ApiToken) -> Value {
    json!({
        "id": t.id, "tenant": t.tenant, "role": t.role, "name": t.name, "hint": t.hint,
        "created_ms": t.created_ms, "revoked_ms": t.revoked_ms, "last_used_ms": t.last_used_ms,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    role: String,
    name: Option<String>,
    tenant: Option<String>,
}

pub async fn tokens(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Api<Json<Value>> {
    let list = app.teams.tokens(&who).await?;
    Ok(Json(
        json!({"tokens": list.iter().map(token_json).collect::<Vec<_>>()}),
    ))
}

pub async fn create_token(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<TokenBody>,
) -> Api<(StatusCode, Json<Value>)> {
    let JsonBody(b) = body;
    let role = Role::parse(&b.role)?;
    let issued = app
        .teams
        .create_token(&who, b.tenant.as_deref(), role, b.name.as_deref())
        .await?;
    let mut out = token_json(&issued.row);
    out["token"] = json!(issued.secret);
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn revoke_token(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Api<StatusCode> {
    app.teams.revoke_token(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn user_json(u: &User) -> Value {
    json!({"id": u.id, "email": u.email, "tenant": u.tenant, "role": u.role, "disabled": u.disabled_ms.is_some(), "created_ms": u.created_ms})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    email: String,
    role: String,
    password: String,
    tenant: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UserPatch {
    role: Option<String>,
    disabled: Option<bool>,
}

pub async fn users(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Api<Json<Value>> {
    let list = app.teams.users(&who).await?;
    Ok(Json(
        json!({"users": list.iter().map(user_json).collect::<Vec<_>>()}),
    ))
}

pub async fn add_user(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    body: JsonBody<UserBody>,
) -> Api<(StatusCode, Json<Value>)> {
    let JsonBody(b) = body;
    let role = Role::parse(&b.role)?;
    let user = app
        .teams
        .add_user(&who, b.tenant.as_deref(), &b.email, role, &b.password)
        .await?;
    Ok((StatusCode::CREATED, Json(user_json(&user))))
}

pub async fn update_user(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(email): Path<String>,
    body: JsonBody<UserPatch>,
) -> Api<StatusCode> {
    let JsonBody(b) = body;
    let role = b.role.as_deref().map(Role::parse).transpose()?;
    app.teams
        .update_user(&who, &email, role, b.disabled)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialBody {
    key: String,
    tenant: Option<String>,
}

pub async fn credentials(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Api<Json<Value>> {
    let list = app.teams.credentials(&who).await?;
    let out: Vec<Value> = list
        .iter()
        .map(|c| json!({"tenant": c.tenant, "provider": c.provider, "hint": c.hint, "updated_ms": c.updated_ms}))
        .collect();
    Ok(Json(json!({"credentials": out})))
}

pub async fn set_credential(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(provider): Path<String>,
    body: JsonBody<CredentialBody>,
) -> Api<Json<Value>> {
    let JsonBody(b) = body;
    if app.routes.get(&provider).is_none() {
        return Err(ApiError::bad(
            "provider",
            format!("provider: no provider named '{provider}' is configured"),
        ));
    }
    let c = app
        .teams
        .set_credential(&who, b.tenant.as_deref(), &provider, &b.key)
        .await?;
    Ok(Json(
        json!({"tenant": c.tenant, "provider": c.provider, "hint": c.hint, "updated_ms": c.updated_ms}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TenantQuery {
    tenant: Option<String>,
}

pub async fn delete_credential(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Path(provider): Path<String>,
    Query(q): Query<TenantQuery>,
) -> Api<StatusCode> {
    app.teams
        .delete_credential(&who, q.tenant.as_deref(), &provider)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuditQuery {
    before_ms: Option<i64>,
    limit: Option<u32>,
}

pub fn audit_json(e: &AuditEntry) -> Value {
    json!({
        "id": e.id, "ts_ms": e.ts_ms, "tenant": e.tenant, "actor": e.actor, "action": e.action,
        "target": e.target, "before": e.before, "after": e.after,
    })
}

pub async fn audit(
    State(app): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Query(q): Query<AuditQuery>,
) -> Api<Json<Value>> {
    let list = app
        .teams
        .audit_entries(&who, q.before_ms, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(
        json!({"entries": list.iter().map(audit_json).collect::<Vec<_>>()}),
    ))
}
