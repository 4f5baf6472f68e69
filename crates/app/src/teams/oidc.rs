//! Sign-in with an OpenID Connect provider: the authorization code flow with PKCE (S256), a
//! `state` that ties the answer to the request, a `nonce` that ties the ID token to it, and the
//! ID token verified against the issuer's published keys (signature, issuer, audience, expiry).
//!
//! Invariants: a `state` is used once and expires after ten minutes; only a verified email
//! (`email_verified` not false) signs anyone in; nothing from the provider is trusted before
//! the ID token's signature is checked. Errors say which step failed, never a token or secret.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Digest;

use super::secret::new_secret;
use crate::client::{HttpsClient, UpstreamTls, error_chain, http_client};
use crate::config::OidcConfig;
use crate::error::AppError;

/// How long a sign-in may take between leaving and coming back.
const PENDING_MS: i64 = 10 * 60_000;
/// Most sign-ins in progress at once (older ones are dropped first).
const MAX_PENDING: usize = 10_000;

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Pending {
    verifier: String,
    nonce: String,
    created_ms: i64,
}

#[derive(Debug, Deserialize)]
struct Claims {
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
}

/// An OIDC sign-in client for one configured provider.
pub struct Oidc {
    pub config: OidcConfig,
    client: HttpsClient<Full<Bytes>>,
    pending: Mutex<HashMap<String, Pending>>,
}

fn failed(step: &str, why: impl std::fmt::Display) -> AppError {
    AppError::Unauthorized(format!("OIDC sign-in failed at {step}: {why}"))
}

impl Oidc {
    pub fn new(config: OidcConfig, tls: &UpstreamTls) -> Self {
        Oidc {
            config,
            client: http_client(tls),
            pending: Mutex::default(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch(
        &self,
        step: &str,
        request: Request<Full<Bytes>>,
    ) -> Result<serde_json::Value, AppError> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| failed(step, error_chain(&e)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(step, e))?
            .to_bytes();
        if !status.is_success() {
            return Err(failed(
                step,
                format!("the provider answered HTTP {}", status.as_u16()),
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|e| failed(step, format!("the answer is not JSON: {e}")))
    }

    async fn get(&self, step: &str, url: &str) -> Result<serde_json::Value, AppError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(url)
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| failed(step, e))?;
        self.fetch(step, request).await
    }

    async fn discovery(&self) -> Result<Discovery, AppError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let doc: Discovery = serde_json::from_value(self.get("discovery", &url).await?)
            .map_err(|e| failed("discovery", e))?;
        if doc.issuer.trim_end_matches('/') != self.config.issuer.trim_end_matches('/') {
            return Err(failed("discovery", "the document names another issuer"));
        }
        Ok(doc)
    }

    /// Where to send the browser: the provider's authorization endpoint with a fresh state,
    /// nonce and PKCE challenge.
    pub async fn start(&self, now_ms: i64) -> Result<String, AppError> {
        let doc = self.discovery().await?;
        let state = new_secret("")?;
        let nonce = new_secret("")?;
        let verifier = new_secret("")?;
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        {
            let mut pending = self.pending();
            pending.retain(|_, p| now_ms - p.created_ms < PENDING_MS);
            if pending.len() >= MAX_PENDING {
                let oldest = pending
                    .iter()
                    .min_by_key(|(_, p)| p.created_ms)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    pending.remove(&k);
                }
            }
            pending.insert(
                state.clone(),
                Pending {
                    verifier,
                    nonce: nonce.clone(),
                    created_ms: now_ms,
                },
            );
        }
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("scope", "openid email"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|e| failed("start", e))?;
        let sep = if doc.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{sep}{query}", doc.authorization_endpoint))
    }

    /// Exchanges the provider's answer for the signed-in person's verified email.
    pub async fn finish(&self, code: &str, state: &str, now_ms: i64) -> Result<String, AppError> {
        let pending = self
            .pending()
            .remove(state)
            .filter(|p| now_ms - p.created_ms < PENDING_MS)
            .ok_or_else(|| failed("callback", "unknown or expired state; start again"))?;
        let doc = self.discovery().await?;
        let secret = crate::notify::resolve(self.config.client_secret.as_deref())
            .map_err(|e| failed("token request", e))?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        if let Some(s) = secret.as_deref() {
            form.push(("client_secret", s));
        }
        let body = serde_urlencoded::to_string(&form).map_err(|e| failed("token request", e))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(doc.token_endpoint.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| failed("token request", e))?;
        let tokens = self.fetch("token request", request).await?;
        let id_token = tokens["id_token"]
            .as_str()
            .ok_or_else(|| failed("token request", "no id_token in the answer"))?;
        let claims = self.verify(&doc, id_token).await?;
        if claims.nonce.as_deref() != Some(pending.nonce.as_str()) {
            return Err(failed("ID token", "the nonce does not match this sign-in"));
        }
        if claims.email_verified == Some(false) {
            return Err(failed(
                "ID token",
                "the provider has not verified this email",
            ));
        }
        claims
            .email
            .filter(|e| e.contains('@'))
            .ok_or_else(|| failed("ID token", "no email claim (ask for the email scope)"))
    }

    async fn verify(&self, doc: &Discovery, id_token: &str) -> Result<Claims, AppError> {
        let head = jsonwebtoken::decode_header(id_token).map_err(|e| failed("ID token", e))?;
        if !matches!(
            head.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::PS256
        ) {
            return Err(failed(
                "ID token",
                format!("unsupported signature algorithm {:?}", head.alg),
            ));
        }
        let keys: JwkSet = serde_json::from_value(self.get("keys", &doc.jwks_uri).await?)
            .map_err(|e| failed("keys", e))?;
        let jwk = match head.kid.as_deref() {
            Some(kid) => keys.find(kid),
            None => keys.keys.first(),
        }
        .ok_or_else(|| failed("ID token", "signed with a key the issuer does not publish"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| failed("keys", e))?;
        let mut validation = Validation::new(head.alg);
        validation.set_issuer(&[doc.issuer.as_str()]);
        validation.set_audience(&[self.config.client_id.as_str()]);
        jsonwebtoken::decode::<Claims>(id_token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| failed("ID token", e))
    }
}
