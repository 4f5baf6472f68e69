//! Delivering an alert to a channel: a generic webhook (JSON, optionally signed with
//! HMAC-SHA256), a Slack incoming webhook, or email over SMTP.
//!
//! Each delivery runs on its own task, retried with exponential backoff; every attempt's outcome
//! is written to the alert's delivery row (`pending` with the attempt count and last error,
//! then `delivered` or `failed`), so a channel that is down is visible in the alert history.
//! Nothing here runs on the proxy's path. Errors recorded or logged never contain a secret:
//! they name the channel and the failure, not the URL (a Slack URL is a credential). Stored
//! secrets are sealed ([`crate::secrets`]); they are opened here, just before a send, and the
//! clear text lives only as long as that attempt.

mod email;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use sha2::Sha256;
use tokenwatch_core::alerting::{ChannelKind, ChannelSpec};
use tokenwatch_store::{NewAlert, Store};

use crate::client::HttpsClient;
use crate::secrets::Secrets;
use tokenwatch_core::time::now_ms;
use tokenwatch_core::time::rfc3339;

/// The client notifications are sent with: the outbound client's TLS settings, whole bodies.
pub type NotifyClient = HttpsClient<Full<Bytes>>;

/// The header carrying a webhook body's signature: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-tokenwatch-signature";

/// What a channel receives (the webhook's JSON body).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertMessage {
    pub id: String,
    pub rule: String,
    pub kind: String,
    pub severity: String,
    pub message: String,
    pub value: i64,
    pub threshold: i64,
    pub unit: String,
    pub fired_at: String,
    pub period_start: Option<String>,
    pub detail: serde_json::Value,
}

impl From<&NewAlert> for AlertMessage {
    fn from(a: &NewAlert) -> Self {
        AlertMessage {
            id: a.id.clone(),
            rule: a.rule.clone(),
            kind: a.kind.clone(),
            severity: a.severity.clone(),
            message: a.message.clone(),
            value: a.value,
            threshold: a.threshold,
            unit: a.unit.clone(),
            fired_at: rfc3339(a.fired_ms),
            period_start: a.period_start_ms.map(rfc3339),
            detail: serde_json::from_str(&a.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Sends alerts; shared by every delivery task.
pub struct Notifier {
    pub client: NotifyClient,
    /// Attempts per delivery (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub backoff: Duration,
    /// Longest one attempt may take.
    pub timeout: Duration,
    /// Opens the channels' sealed secrets.
    pub secrets: Arc<Secrets>,
}

impl Notifier {
    /// Delivers with retries, recording every attempt.
    pub async fn deliver(&self, store: &Store, alert: &AlertMessage, channel: &ChannelSpec) {
        let attempts = self.attempts.max(1);
        let mut wait = self.backoff;
        for attempt in 1..=attempts {
            let result = match tokio::time::timeout(self.timeout, self.send(alert, channel)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {:?}", self.timeout)),
            };
            let (status, error) = match &result {
                Ok(()) => ("delivered", None),
                Err(e) if attempt == attempts => ("failed", Some(e.as_str())),
                Err(e) => ("pending", Some(e.as_str())),
            };
            if let Err(e) = store
                .set_delivery(
                    &alert.id,
                    &channel.name,
                    status,
                    i64::from(attempt),
                    error,
                    now_ms(),
                )
                .await
            {
                tracing::error!(channel = %channel.name, error = %e, "cannot record a delivery attempt");
            }
            match result {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(channel = %channel.name, alert = %alert.id, attempt, attempts, error = %e, "alert delivery failed");
                    if attempt < attempts {
                        tokio::time::sleep(wait).await;
                        wait = wait.saturating_mul(2);
                    }
                }
            }
        }
    }

    async fn send(&self, alert: &AlertMessage, channel: &ChannelSpec) -> Result<(), String> {
        match channel.kind {
            ChannelKind::Webhook => {
                let body = serde_json::to_vec(alert).map_err(|e| e.to_string())?;
                let signature =
                    reveal(&self.secrets, channel, "secret", channel.secret.as_deref())?
                        .map(|s| sign(s.as_bytes(), &body));
                self.post(channel, body, signature).await
            }
            ChannelKind::Slack => {
                let text = format!(
                    ":rotating_light: *tokenwatch {}* `{}`: {}",
                    alert.severity, alert.rule, alert.message
                );
                let body = serde_json::to_vec(&serde_json::json!({ "text": text }))
                    .map_err(|e| e.to_string())?;
                self.post(channel, body, None).await
            }
            ChannelKind::Email => email::send(alert, channel, &self.secrets).await,
        }
    }

    async fn post(
        &self,
        channel: &ChannelSpec,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> Result<(), String> {
        let url = reveal(&self.secrets, channel, "url", channel.url.as_deref())?
            .ok_or("the channel has no url")?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "tokenwatch-alerts");
        if let Some(sig) = signature {
            request = request.header(SIGNATURE_HEADER, sig);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| "the channel url is not a valid URL".to_owned())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {}", crate::client::error_chain(&e)))?;
        let status = response.status();
        // Read (and drop) the body so the connection can be reused.
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered HTTP {}", status.as_u16()))
        }
    }
}

/// A stored channel secret in clear, for one send: a sealed value decrypted, then an `env:NAME`
/// reference read from the environment. Errors name the channel, field or variable, never a value.
pub fn reveal(
    secrets: &Secrets,
    channel: &ChannelSpec,
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<String>, String> {
    let opened = secrets
        .open(&channel.name, field, value)
        .map_err(|e| e.to_string())?;
    resolve(opened.as_deref())
}

/// A channel secret: the value itself, or the environment variable `env:NAME` names. The error
/// names the variable, never a value.
pub fn resolve(value: Option<&str>) -> Result<Option<String>, String> {
    match value {
        Some(v) => match v.strip_prefix(tokenwatch_core::alerting::ENV_PREFIX) {
            Some(name) => std::env::var(name.trim())
                .map(Some)
                .map_err(|_| format!("environment variable {} is not set", name.trim())),
            None => Ok(Some(v.to_owned())),
        },
        None => Ok(None),
    }
}

/// `sha256=<hex>` of HMAC-SHA256 over `body`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length, so this never fails.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_can_come_from_the_environment() {
        assert_eq!(resolve(Some("plain")).unwrap().as_deref(), Some("plain"));
        assert_eq!(resolve(None).unwrap(), None);
        let err = resolve(Some("env:TOKENWATCH_TEST_SURELY_UNSET_VAR")).unwrap_err();
        assert_eq!(
            err,
            "environment variable TOKENWATCH_TEST_SURELY_UNSET_VAR is not set"
        );
        let path = resolve(Some("env:PATH")).unwrap();
        assert_eq!(path, std::env::var("PATH").ok());
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
