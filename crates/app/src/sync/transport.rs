//! One admin-API request over HTTP, with retries: a 429 or 5xx answer, or no answer at all, is
//! asked again after the provider's `retry-after` (when it sends one) or a doubling backoff,
//! each wait capped, up to the configured attempts. Other answers are returned as they are.
//!
//! Invariant: the admin key travels only in its request header; no error or log line here
//! contains it (transport errors carry no headers, and URLs hold no credential).

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use tokenwatch_import::usage_api::{Provider, Reply};

use crate::client::{HttpsClient, error_chain};
use crate::config::SyncConfig;

/// The version header Anthropic's API requires.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The longest a request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// The retry policy of [`get`].
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub backoff: Duration,
    pub max_wait: Duration,
}

impl Retry {
    pub fn of(config: &SyncConfig) -> Self {
        Retry {
            attempts: config.attempts.max(1),
            backoff: Duration::from_millis(config.backoff_ms),
            max_wait: Duration::from_millis(config.max_wait_ms),
        }
    }

    /// The wait before attempt `n + 1` (after `n` failures).
    fn wait(&self, n: u32, retry_after_s: Option<u64>) -> Duration {
        let wait = match retry_after_s {
            Some(s) => Duration::from_secs(s),
            None => self.backoff.saturating_mul(1u32 << n.min(16)),
        };
        wait.min(self.max_wait)
    }
}

/// Whether an answer is worth asking again.
fn retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// GETs `path_and_query` below `base_url` with `key` in `provider`'s admin header.
pub async fn get(
    client: &HttpsClient<Full<Bytes>>,
    provider: Provider,
    base_url: &str,
    key: &str,
    path_and_query: &str,
    retry: Retry,
) -> Result<Reply, Unreachable> {
    let url = format!("{}{path_and_query}", base_url.trim_end_matches('/'));
    let mut failures = 0;
    loop {
        let outcome = once(client, provider, &url, key).await;
        let retry_after = match &outcome {
            Ok(reply) if !retryable(reply.status) => return outcome,
            Ok(reply) => reply.retry_after_s,
            Err(_) => None,
        };
        failures += 1;
        if failures >= retry.attempts {
            return outcome;
        }
        let wait = retry.wait(failures - 1, retry_after);
        tracing::info!(
            provider = provider.as_str(),
            attempt = failures,
            wait_ms = wait.as_millis() as u64,
            status = outcome.as_ref().map(|r| r.status).ok(),
            "admin API did not answer; asking again"
        );
        tokio::time::sleep(wait).await;
    }
}

async fn once(
    client: &HttpsClient<Full<Bytes>>,
    provider: Provider,
    url: &str,
    key: &str,
) -> Result<Reply, Unreachable> {
    let builder = Request::builder()
        .method(Method::GET)
        .uri(url)
        .header(header::ACCEPT, "application/json")
        .header(
            header::USER_AGENT,
            concat!("tokenwatch/", env!("CARGO_PKG_VERSION")),
        );
    let builder = match provider {
        Provider::Anthropic => builder
            .header("x-api-key", key)
            .header("anthropic-version", ANTHROPIC_VERSION),
        Provider::OpenAi => builder.header(header::AUTHORIZATION, format!("Bearer {key}")),
    };
    let request = builder
        .body(Full::new(Bytes::new()))
        .map_err(|_| Unreachable(format!("'{url}' is not a usable URL")))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| Unreachable(error_chain(&e)))?;
        let status = response.status().as_u16();
        let retry_after_s = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Unreachable(format!("the answer broke off: {}", error_chain(&e))))?
            .to_bytes();
        Ok(Reply {
            status,
            retry_after_s,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Unreachable(format!(
            "no answer within {} s",
            REQUEST_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_follow_retry_after_then_double_and_are_capped() {
        let r = Retry {
            attempts: 5,
            backoff: Duration::from_millis(100),
            max_wait: Duration::from_secs(2),
        };
        assert_eq!(r.wait(0, None), Duration::from_millis(100));
        assert_eq!(r.wait(3, None), Duration::from_millis(800));
        assert_eq!(r.wait(9, None), Duration::from_secs(2));
        assert_eq!(r.wait(0, Some(1)), Duration::from_secs(1));
        assert_eq!(r.wait(0, Some(600)), Duration::from_secs(2));
        assert!(retryable(429) && retryable(503) && !retryable(401) && !retryable(400));
    }
}
