//! tokenwatch keys on the proxy: which tenant a request belongs to, and whose provider key
//! goes upstream.
//!
//! A client presents a tokenwatch key (`twk_…`) either *instead of* its provider key (as its
//! SDK's `api_key`: `x-api-key`, `Authorization: Bearer` or `x-goog-api-key`), and then the
//! key is removed and the tenant's provider credential (else the provider's configured
//! `api_key`) is sent upstream; or *beside* it, in `X-Tokenwatch-Key`, and then the client's own
//! provider key passes through untouched. With `[auth] required`, a request without a live key
//! is refused before its body is read. Without it, a request without a key is the `default`
//! tenant's, exactly as before; a key that is presented is always checked.

use http::{HeaderMap, HeaderValue, StatusCode};
use tokenwatch_app::teams::KEY_PREFIX;
use tokenwatch_store::ProxyKey;

use super::Upstream;
use super::errors::provider_error;
use crate::app::AppState;
use axum::response::Response;

/// The headers a provider key travels in.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "x-api-key", "x-goog-api-key"];

/// The tokenwatch key of a request, once checked.
pub(crate) enum KeyUse {
    /// No key (local mode only).
    None,
    /// The key came in `X-Tokenwatch-Key`: the client's provider key goes upstream.
    Beside(ProxyKey),
    /// The key came as the provider key: the tenant's credential goes upstream instead.
    Instead(ProxyKey),
}

impl KeyUse {
    pub(crate) fn key(&self) -> Option<&ProxyKey> {
        match self {
            KeyUse::None => None,
            KeyUse::Beside(k) | KeyUse::Instead(k) => Some(k),
        }
    }
}

/// The `twk_…` value in a provider credential header, if the client sent its tokenwatch key there.
fn key_as_credential(headers: &HeaderMap) -> Option<&str> {
    CREDENTIAL_HEADERS.iter().find_map(|name| {
        let value = headers.get(*name)?.to_str().ok()?.trim();
        let value = if *name == "authorization" {
            value
                .get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| value[7..].trim())?
        } else {
            value
        };
        value.starts_with(KEY_PREFIX).then_some(value)
    })
}

/// Finds and checks the request's tokenwatch key; the refusal is in the provider's error shape.
pub(crate) async fn check(
    app: &AppState,
    upstream: &Upstream,
    headers: &HeaderMap,
) -> Result<KeyUse, Response> {
    let beside = headers
        .get("x-tokenwatch-key")
        .map(|v| v.to_str().map(str::trim).unwrap_or(""));
    let (secret, beside) = match (beside, key_as_credential(headers)) {
        (Some(k), _) => (k, true),
        (None, Some(k)) => (k, false),
        (None, None) if app.config.auth.required => {
            return Err(provider_error(
                upstream.kind,
                StatusCode::UNAUTHORIZED,
                "tokenwatch: this tokenwatch requires a tokenwatch key: send it as your SDK's api_key, or in X-Tokenwatch-Key beside your provider key (create one with `tokenwatch key create`)",
            ));
        }
        (None, None) => return Ok(KeyUse::None),
    };
    match app.teams.authenticate_key(secret).await {
        Ok(Some(key)) if beside => Ok(KeyUse::Beside(key)),
        Ok(Some(key)) => Ok(KeyUse::Instead(key)),
        Ok(None) => Err(provider_error(
            upstream.kind,
            StatusCode::UNAUTHORIZED,
            "tokenwatch: the tokenwatch key is unknown or revoked",
        )),
        Err(e) => {
            tracing::error!(error = %e, "cannot check a tokenwatch key");
            Err(provider_error(
                upstream.kind,
                StatusCode::SERVICE_UNAVAILABLE,
                "tokenwatch: the key store is unavailable; try again",
            ))
        }
    }
}

/// Refuses a model the key may not call (before anything is sent upstream): the message for
/// the provider-shaped 403.
pub(crate) fn check_model(key: &ProxyKey, model: Option<&str>) -> Result<(), String> {
    if key.allowed_models.is_empty()
        || model.is_some_and(|m| key.allowed_models.iter().any(|a| a == m))
    {
        return Ok(());
    }
    Err(format!(
        "tokenwatch: this key may call only {}; the request asks for {}",
        key.allowed_models.join(", "),
        model.unwrap_or("no model")
    ))
}

/// Replaces the tokenwatch key in `out` (the headers going upstream) with the tenant's
/// credential for this provider, else the provider's configured key.
pub(crate) async fn inject_credential(
    app: &AppState,
    upstream: &Upstream,
    key: &ProxyKey,
    out: &mut HeaderMap,
) -> Result<(), Response> {
    for name in CREDENTIAL_HEADERS {
        out.remove(*name);
    }
    let stored = app
        .teams
        .credential_for(&key.tenant, &upstream.name)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, provider = %upstream.name, "cannot open a provider credential");
            provider_error(
                upstream.kind,
                StatusCode::SERVICE_UNAVAILABLE,
                "tokenwatch: the tenant's provider credential cannot be read",
            )
        })?;
    let value = match stored {
        Some(secret) => upstream
            .credential_value(&secret)
            .ok_or_else(|| provider_error(
                upstream.kind,
                StatusCode::INTERNAL_SERVER_ERROR,
                "tokenwatch: the tenant's provider credential is not a valid header value",
            ))?,
        None => upstream.configured_key().cloned().ok_or_else(|| {
            provider_error(
                upstream.kind,
                StatusCode::UNAUTHORIZED,
                &format!(
                    "tokenwatch: no provider credential for '{}' in this key's tenant: set one with `tokenwatch credential set --provider {}`, or send your own provider key and this key in X-Tokenwatch-Key",
                    upstream.name, upstream.name
                ),
            )
        })?,
    };
    out.insert(upstream.auth_header(), value);
    Ok(())
}

/// A sensitive header value (never printed by `Debug`).
pub(crate) fn sensitive(text: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(text).ok()?;
    v.set_sensitive(true);
    Some(v)
}
