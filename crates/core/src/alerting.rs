//! Alert rules and notification channels as written in config files and the API.
//!
//! A rule says what to watch (a cost or token rate, a spike against the same hour on previous
//! days, error rate, p95 latency, cache hit rate, a provider that keeps failing, or a periodic
//! summary) and whom to tell. A channel says how to tell them (a webhook, Slack, email). Budget
//! thresholds are alerts too, but they belong to their budget (see [`crate::budget`]).
//!
//! Invariant: a channel's secrets (webhook HMAC secret, Slack URL, SMTP password) never leave
//! through `Debug` or [`ChannelSpec::redacted`]; only delivery code reads them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::budget::{Scope, Usd, parse_duration_ms, valid_name};

/// What an alert rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Spend within `window` above `threshold_usd`.
    CostAbove,
    /// Tokens within `window` above `threshold`.
    TokensAbove,
    /// Spend in the last `window` above `factor` × the same window's mean on the previous
    /// seven days (same hour of day), and above it by at least `min_usd`.
    Spike,
    /// Percent of failed calls within `window` above `threshold`.
    ErrorRate,
    /// p95 duration (ms) within `window` above `threshold`.
    P95Latency,
    /// Percent of prompt tokens read from cache within `window` below `threshold`.
    CacheHitRate,
    /// `threshold` consecutive upstream failures (unreachable, reset, timeout, 5xx) in scope.
    ProviderDown,
    /// Provider usage sync: the share (percent, `threshold`) of the provider-reported spend
    /// within `window` (whole UTC days) that did not pass through tokenwatch, when that part is
    /// also at least `min_usd` (default $1). Scope: global or `provider:<anthropic|openai>`.
    SyncDrift,
    /// Yesterday's totals, once a day.
    DailySummary,
    /// Last week's totals, once a week (Mondays).
    WeeklySummary,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::CostAbove => "cost_above",
            AlertKind::TokensAbove => "tokens_above",
            AlertKind::Spike => "spike",
            AlertKind::ErrorRate => "error_rate",
            AlertKind::P95Latency => "p95_latency",
            AlertKind::CacheHitRate => "cache_hit_rate",
            AlertKind::ProviderDown => "provider_down",
            AlertKind::SyncDrift => "sync_drift",
            AlertKind::DailySummary => "daily_summary",
            AlertKind::WeeklySummary => "weekly_summary",
        }
    }
}

fn global() -> Scope {
    Scope::Global
}

fn one_hour() -> String {
    "1h".to_owned()
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSpec {
    pub name: String,
    pub kind: AlertKind,
    /// Which events count (provider_down: usually `provider:<name>`).
    #[serde(default = "global")]
    pub scope: Scope,
    /// The measuring window: `1h`, `1d`, `15m`, … (not used by summaries and provider_down).
    #[serde(default = "one_hour")]
    pub window: String,
    /// cost_above: the USD bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_usd: Option<Usd>,
    /// tokens_above: tokens; error_rate and cache_hit_rate: percent; p95_latency: ms;
    /// provider_down: consecutive failures (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// spike: how many times the baseline counts as a spike (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// spike: the least excess over the baseline worth an alert (default $1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_usd: Option<Usd>,
    /// error_rate, p95_latency, cache_hit_rate: fewer calls than this in the window never fire
    /// (default 20), so one failure is not "100 % errors".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<i64>,
    /// Channels to notify (by name); empty means every channel.
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl AlertRuleSpec {
    /// The window in milliseconds (validated).
    pub fn window_ms(&self) -> i64 {
        parse_duration_ms(&self.window).unwrap_or(3_600_000)
    }

    /// Checks what serde cannot; the message names the rule and field. Every problem, joined
    /// by "; ".
    pub fn validate(&self) -> Result<(), String> {
        crate::suggest::Problem::join(self.problems())
    }

    /// Every problem serde cannot see, each with the field it is about.
    pub fn problems(&self) -> Vec<crate::suggest::Problem> {
        use crate::suggest::Problem;
        let mut out = Vec::new();
        let name = &self.name;
        if !valid_name(name) {
            out.push(Problem::new(
                "name",
                format!("alert rule name '{name}' must be 1-64 letters, digits, '-', '_' or '.'"),
            ));
        }
        if parse_duration_ms(&self.window).is_none_or(|ms| ms <= 0) {
            out.push(Problem::new(
                "window",
                format!(
                    "alert rule '{name}': window '{}' must be like 15m, 1h or 1d",
                    self.window
                ),
            ));
        }
        let needs = |what: &str| {
            format!(
                "alert rule '{name}': kind {} needs {what}",
                self.kind.as_str()
            )
        };
        match self.kind {
            AlertKind::CostAbove if self.threshold_usd.is_none() => {
                out.push(Problem::new("threshold_usd", needs("threshold_usd")));
            }
            AlertKind::TokensAbove
            | AlertKind::ErrorRate
            | AlertKind::P95Latency
            | AlertKind::CacheHitRate
            | AlertKind::SyncDrift
                if self.threshold.is_none() =>
            {
                out.push(Problem::new("threshold", needs("threshold")));
            }
            _ => {}
        }
        if self.kind == AlertKind::SyncDrift
            && !matches!(&self.scope, Scope::Global)
            && !matches!(&self.scope, Scope::Provider(p) if p == "anthropic" || p == "openai")
        {
            out.push(Problem::new(
                "scope",
                format!(
                    "alert rule '{name}': kind sync_drift watches global or provider:anthropic / provider:openai, not {}",
                    self.scope
                ),
            ));
        }
        if self.threshold.is_some_and(|t| !t.is_finite() || t < 0.0) {
            out.push(Problem::new(
                "threshold",
                format!("alert rule '{name}': threshold must be a number ≥ 0"),
            ));
        }
        if self.factor.is_some_and(|f| !f.is_finite() || f <= 1.0) {
            out.push(Problem::new(
                "factor",
                format!("alert rule '{name}': factor must be above 1"),
            ));
        }
        out
    }
}

/// How a channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// POST of the alert as JSON; signed with HMAC-SHA256 when a secret is set.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// Email over SMTP.
    Email,
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (a local relay or a test server only).
    None,
}

/// One notification channel.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    pub name: String,
    pub kind: ChannelKind,
    /// webhook and slack: where to POST. A Slack URL is a secret. Secrets (`url` of a Slack
    /// channel, `secret`, `password`) may be `env:NAME` to be read from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// webhook: HMAC-SHA256 key; the signature goes in `X-Tokenwatch-Signature: sha256=<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// email: SMTP server host and port (default 587).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub smtp_tls: SmtpTls,
    /// email: a PEM file of an extra certificate authority to trust (a private relay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_ca_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
}

const REDACTED: &str = "<redacted>";

/// A secret written as `env:NAME` is read from that environment variable when it is used, so
/// only the reference is stored in the database and the config file.
pub const ENV_PREFIX: &str = "env:";

impl ChannelSpec {
    /// A copy safe to show: secrets replaced by `<redacted>`, the Slack URL included.
    pub fn redacted(&self) -> ChannelSpec {
        let mut shown = self.clone();
        for (_, value) in shown.secret_fields_mut() {
            if value.is_some() {
                *value = Some(REDACTED.to_owned());
            }
        }
        shown
    }

    /// The fields holding secrets, by name: the webhook `secret`, the SMTP `password`, and a
    /// Slack channel's `url` (a webhook's URL is an address, not a credential).
    pub fn secret_fields_mut(&mut self) -> Vec<(&'static str, &mut Option<String>)> {
        let slack = self.kind == ChannelKind::Slack;
        let mut fields = vec![
            ("secret", &mut self.secret),
            ("password", &mut self.password),
        ];
        if slack {
            fields.push(("url", &mut self.url));
        }
        fields
    }

    /// Checks what serde cannot; messages never contain a secret. Every problem, joined by
    /// "; ".
    pub fn validate(&self) -> Result<(), String> {
        crate::suggest::Problem::join(self.problems())
    }

    /// Every problem serde cannot see, each with the field it is about; never a secret's value.
    pub fn problems(&self) -> Vec<crate::suggest::Problem> {
        use crate::suggest::Problem;
        let mut out = Vec::new();
        let name = &self.name;
        if !valid_name(name) {
            out.push(Problem::new(
                "name",
                format!("channel name '{name}' must be 1-64 letters, digits, '-', '_' or '.'"),
            ));
        }
        let http_url = |u: &Option<String>| {
            u.as_deref().is_some_and(|u| {
                u.starts_with("http://") || u.starts_with("https://") || u.starts_with(ENV_PREFIX)
            })
        };
        match self.kind {
            ChannelKind::Webhook | ChannelKind::Slack => {
                if !http_url(&self.url) {
                    out.push(Problem::new(
                        "url",
                        format!("channel '{name}': url must be an http:// or https:// URL"),
                    ));
                }
            }
            ChannelKind::Email => {
                if self.smtp_host.as_deref().is_none_or(str::is_empty) {
                    out.push(Problem::new(
                        "smtp_host",
                        format!("channel '{name}': email needs smtp_host"),
                    ));
                }
                if self.from.as_deref().is_none_or(|f| !f.contains('@')) {
                    out.push(Problem::new(
                        "from",
                        format!("channel '{name}': email needs a from address"),
                    ));
                }
                if self.to.is_empty() || self.to.iter().any(|t| !t.contains('@')) {
                    out.push(Problem::new(
                        "to",
                        format!("channel '{name}': email needs at least one to address"),
                    ));
                }
            }
        }
        out
    }
}

impl fmt::Debug for ChannelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.redacted();
        f.debug_struct("ChannelSpec")
            .field("name", &shown.name)
            .field("kind", &shown.kind)
            .field("url", &shown.url)
            .field("secret", &shown.secret)
            .field("smtp_host", &shown.smtp_host)
            .field("smtp_port", &shown.smtp_port)
            .field("smtp_tls", &shown.smtp_tls)
            .field("smtp_ca_file", &shown.smtp_ca_file)
            .field("username", &shown.username)
            .field("password", &shown.password)
            .field("from", &shown.from)
            .field("to", &shown.to)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let c = ChannelSpec {
            name: "ops".into(),
            kind: ChannelKind::Slack,
            url: Some("https://hooks.slack.test/T0/SECRET1".into()),
            secret: None,
            smtp_host: None,
            smtp_port: None,
            smtp_tls: SmtpTls::Starttls,
            smtp_ca_file: None,
            username: None,
            password: Some("SECRET2".into()),
            from: None,
            to: vec![],
        };
        let shown = format!("{c:?} {}", serde_json::to_string(&c.redacted()).unwrap());
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn rules_name_their_missing_field() {
        let r: AlertRuleSpec =
            serde_json::from_str(r#"{"name":"hot","kind":"cost_above","window":"1h"}"#).unwrap();
        assert_eq!(
            r.validate().unwrap_err(),
            "alert rule 'hot': kind cost_above needs threshold_usd"
        );
        let r: AlertRuleSpec = serde_json::from_str(
            r#"{"name":"hot","kind":"cost_above","window":"1x","threshold_usd":"5"}"#,
        )
        .unwrap();
        assert!(r.validate().unwrap_err().contains("window"));
        assert!(
            serde_json::from_str::<AlertRuleSpec>(r#"{"name":"x","kind":"cost_above","oops":1}"#)
                .is_err()
        );
    }

    #[test]
    fn sync_drift_needs_a_threshold_and_a_provider_scope() {
        let rule = |json: &str| serde_json::from_str::<AlertRuleSpec>(json).unwrap();
        assert_eq!(
            rule(r#"{"name":"d","kind":"sync_drift","window":"7d"}"#)
                .validate()
                .unwrap_err(),
            "alert rule 'd': kind sync_drift needs threshold"
        );
        let err = rule(r#"{"name":"d","kind":"sync_drift","window":"7d","threshold":5,"scope":"model:gpt-4o"}"#)
            .validate()
            .unwrap_err();
        assert!(err.contains("global or provider:anthropic"), "{err}");
        assert!(
            rule(r#"{"name":"d","kind":"sync_drift","window":"7d","threshold":5,"scope":"provider:openai"}"#)
                .validate()
                .is_ok()
        );
    }
}
