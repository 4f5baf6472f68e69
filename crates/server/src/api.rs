//! The REST API under `/api/v1`: thin handlers that parse, call the store, and shape JSON.
//!
//! Every route here is documented in `openapi.json` (served at `/api/v1/openapi.json`); a test
//! reads this file's route list and fails when one is missing there.

pub mod advisor;
pub mod alerts;
pub mod analytics;
pub mod budgets;
pub mod catalog;
pub mod definitions;
pub mod events;
pub mod json_body;
pub mod openapi;
pub mod sync;
pub mod tag_rules;
pub mod tags;
pub mod teams;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;
use crate::live;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::get_one))
        .route("/analytics/summary", get(analytics::summary))
        .route("/analytics/timeseries", get(analytics::timeseries))
        .route("/analytics/breakdown", get(analytics::breakdown))
        .route("/analytics/heatmap", get(analytics::heatmap))
        .route("/analytics/latency", get(analytics::latency))
        .route("/analytics/cache", get(analytics::cache))
        .route("/analytics/tools", get(analytics::tools))
        .route("/sessions", get(analytics::sessions))
        .route("/sessions/{id}/timeline", get(advisor::timeline))
        .route("/prompt-costs", get(advisor::prompt_costs))
        .route("/recommendations", get(advisor::recommendations))
        .route("/recommendations/{id}/{action}", post(advisor::decide))
        .route("/guard", get(advisor::guard))
        .route(
            "/guard/{kind}/{subject}",
            axum::routing::put(advisor::put_control).delete(advisor::delete_control),
        )
        .route("/tags", get(tags::list).post(tags::create))
        .route(
            "/tags/{key}/{value}",
            axum::routing::patch(tags::update).delete(tags::delete),
        )
        .route("/prices", get(catalog::prices))
        .route("/providers", get(catalog::providers))
        .route("/stream", get(live::stream))
        .route("/openapi.json", get(openapi::document))
        .merge(budget_routes())
        .merge(team_routes())
        .route("/sync/accounts", get(sync::accounts).post(sync::add))
        .route(
            "/sync/accounts/{provider}/{name}",
            axum::routing::delete(sync::remove),
        )
        .route("/sync/accounts/{provider}/{name}/test", post(sync::test))
        .route("/sync/run", post(sync::run))
        .route("/sync/claude-code", get(sync::claude_code))
        .route("/reconciliation", get(sync::reconciliation))
        .fallback(no_such_route)
}

/// Any other path under `/api/v1`: the API's own 404, never the proxy's.
async fn no_such_route(
    method: http::Method,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> crate::error::ApiError {
    crate::error::ApiError::not_found(format!(
        "no API route {method} {} (the routes are listed at /api/v1/openapi.json)",
        uri.path()
    ))
}

/// Budgets, alerts, alert rules, channels, tag rules and bulk re-tag.
fn budget_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/budgets", get(budgets::list).post(budgets::put))
        .route(
            "/budgets/{name}",
            get(budgets::get_one).delete(budgets::delete),
        )
        .route("/alerts", get(alerts::list))
        .route("/alerts/ack", post(alerts::ack_all))
        .route("/alerts/{id}/ack", post(alerts::ack_one))
        .route(
            "/alert-rules",
            get(alerts::list_rules).post(alerts::put_rule),
        )
        .route(
            "/alert-rules/{name}",
            axum::routing::delete(alerts::delete_rule),
        )
        .route(
            "/channels",
            get(alerts::list_channels).post(alerts::put_channel),
        )
        .route(
            "/channels/{name}",
            axum::routing::delete(alerts::delete_channel),
        )
        .route("/tag-rules", get(tag_rules::list).post(tag_rules::put))
        .route(
            "/tag-rules/{name}",
            axum::routing::delete(tag_rules::delete),
        )
        .route("/retag", post(tag_rules::post_retag))
}

/// Login, tenants, projects, proxy keys, API tokens, users, credentials and the audit log.
fn team_routes() -> Router<Arc<AppState>> {
    use axum::routing::{patch, put};
    Router::new()
        .route("/auth/login", post(teams::login))
        .route("/auth/logout", post(teams::logout))
        .route("/auth/me", get(teams::me))
        .route("/auth/methods", get(teams::methods))
        .route("/auth/oidc/start", get(teams::oidc_start))
        .route("/auth/oidc/callback", get(teams::oidc_callback))
        .route("/tenants", get(teams::tenants).post(teams::create_tenant))
        .route(
            "/projects",
            get(teams::projects).post(teams::create_project),
        )
        .route("/keys", get(teams::keys).post(teams::create_key))
        .route("/keys/{id}/revoke", post(teams::revoke_key))
        .route("/keys/{id}/rotate", post(teams::rotate_key))
        .route("/tokens", get(teams::tokens).post(teams::create_token))
        .route("/tokens/{id}/revoke", post(teams::revoke_token))
        .route("/users", get(teams::users).post(teams::add_user))
        .route("/users/{email}", patch(teams::update_user))
        .route("/credentials", get(teams::credentials))
        .route(
            "/credentials/{provider}",
            put(teams::set_credential).delete(teams::delete_credential),
        )
        .route("/audit", get(teams::audit))
}
