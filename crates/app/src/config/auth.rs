//! `[auth]`: who may use a tokenwatch that others can reach.

use serde::{Deserialize, Serialize};

/// `[auth]`. Off by default: on loopback with no auth configured, everything works with zero
/// setup as the `default` tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Every proxy request needs a tokenwatch key; every API and dashboard request a logged-in
    /// user or an API token (`TOKENWATCH_AUTH__REQUIRED=true`).
    pub required: bool,
    /// Hours a dashboard login lasts.
    pub session_hours: u64,
    /// Mark the session cookie `Secure` even when no `X-Forwarded-Proto: https` says the
    /// request came over TLS (set it when a TLS proxy in front does not send that header).
    pub secure_cookies: bool,
    /// `serve --insecure-no-auth`: listen beyond loopback without auth (never from the file).
    #[serde(skip)]
    pub insecure_no_auth: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            required: false,
            session_hours: 12,
            secure_cookies: false,
            insecure_no_auth: false,
        }
    }
}
