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
    /// `[auth.oidc]`: sign-in with an OpenID Connect provider (authorization code with PKCE).
    pub oidc: Option<OidcConfig>,
}

/// `[auth.oidc]`. A signed-in person is the user with the ID token's (verified) email; with
/// `create_users`, one not known yet is added to `tenant` with `role`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL; `<issuer>/.well-known/openid-configuration` must describe it.
    pub issuer: String,
    pub client_id: String,
    /// For confidential clients; `env:NAME` reads it from the environment.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Where the provider sends people back: `https://<this host>/api/v1/auth/oidc/callback`.
    pub redirect_url: String,
    /// The tenant new users join (id or name).
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The role new users get: viewer, member or admin.
    #[serde(default = "default_role")]
    pub role: String,
    /// Add people the provider vouches for who are not users yet.
    #[serde(default)]
    pub create_users: bool,
}

fn default_tenant() -> String {
    "default".to_owned()
}

fn default_role() -> String {
    "viewer".to_owned()
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            required: false,
            session_hours: 12,
            secure_cookies: false,
            insecure_no_auth: false,
            oidc: None,
        }
    }
}
