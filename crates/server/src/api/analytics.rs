//! `GET /api/v1/analytics/…` and `GET /api/v1/sessions`: parse the shared query, call the
//! analytics use-case ([`tokenwatch_app::analytics`]), answer its view as JSON.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use tokenwatch_app::analytics::{self, AnalyticsQuery};
use tokenwatch_app::teams::Principal;
use tokenwatch_core::time::now_ms;

use crate::app::AppState;
use crate::error::ApiError;

/// The query, or the API's 400 naming what is wrong with it.
fn parsed(
    query: Result<Query<AnalyticsQuery>, QueryRejection>,
) -> Result<AnalyticsQuery, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad("query", e.body_text()))
}

/// A handler that parses the query and answers what `$call` (a use-case over the store,
/// limited to the principal's tenant) makes.
macro_rules! handler {
    ($(#[$doc:meta])* $name:ident -> $view:ty, |$app:ident, $q:ident, $now:ident, $tenant:ident| $call:expr) => {
        $(#[$doc])*
        pub async fn $name(
            State($app): State<Arc<AppState>>,
            Extension(who): Extension<Principal>,
            query: Result<Query<AnalyticsQuery>, QueryRejection>,
        ) -> Result<Json<$view>, ApiError> {
            let $q = parsed(query)?;
            let $now = now_ms();
            let $tenant = &who.scope();
            Ok(Json($call.await?))
        }
    };
}

handler!(
    /// `GET /api/v1/analytics/summary`.
    summary -> analytics::summary::Summary,
    |app, q, now, tenant| analytics::summary::summary(&app.store, &q, now, tenant)
);
handler!(
    /// `GET /api/v1/analytics/breakdown`.
    breakdown -> analytics::summary::Breakdown,
    |app, q, now, tenant| analytics::summary::breakdown(&app.store, &q, now, tenant)
);
handler!(
    /// `GET /api/v1/analytics/timeseries`.
    timeseries -> analytics::series::Timeseries,
    |app, q, now, tenant| analytics::series::timeseries(&app.store, &q, now, tenant)
);
handler!(
    /// `GET /api/v1/analytics/heatmap`.
    heatmap -> analytics::series::Heatmap,
    |app, q, now, tenant| analytics::series::heatmap(&app.store, &q, now, tenant)
);
handler!(
    /// `GET /api/v1/analytics/latency`.
    latency -> analytics::models::Latency,
    |app, q, now, tenant| analytics::models::latency(&app.store, &q, now, tenant)
);
handler!(
    /// `GET /api/v1/analytics/cache`.
    cache -> analytics::models::Cache,
    |app, q, now, tenant| analytics::models::cache(&app.store, &app.prices, &q, now, tenant)
);
handler!(
    /// `GET /api/v1/analytics/tools`.
    tools -> analytics::models::Tools,
    |app, q, now, tenant| analytics::models::tools(&app.store, &q, now, tenant)
);
handler!(
    /// `GET /api/v1/sessions`.
    sessions -> analytics::sessions::Sessions,
    |app, q, now, tenant| analytics::sessions::sessions(&app.store, &q, now, tenant)
);
