//! Email over SMTP: STARTTLS (the default, required once chosen), implicit TLS, or plain for
//! a local relay; optional username/password authentication.
//!
//! The message is plain text: the alert's message, value and threshold, and its id. Errors are
//! reduced to lettre's message, which names the failure, never the password.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokenwatch_core::alerting::{ChannelSpec, SmtpTls};

use super::AlertMessage;

pub async fn send(alert: &AlertMessage, channel: &ChannelSpec) -> Result<(), String> {
    let host = channel.smtp_host.as_deref().ok_or("no smtp_host")?;
    let from: Mailbox = channel
        .from
        .as_deref()
        .ok_or("no from address")?
        .parse()
        .map_err(|e| format!("from address: {e}"))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(format!(
            "[tokenwatch] {}: {} ({})",
            alert.severity, alert.rule, alert.kind
        ))
        .header(ContentType::TEXT_PLAIN);
    for to in &channel.to {
        builder = builder.to(to.parse().map_err(|e| format!("to address {to}: {e}"))?);
    }
    let body = format!(
        "{}\n\nrule: {}\nkind: {}\nseverity: {}\nvalue: {} {}\nthreshold: {} {}\nfired at: {}\nalert id: {}\n",
        alert.message,
        alert.rule,
        alert.kind,
        alert.severity,
        alert.value,
        alert.unit,
        alert.threshold,
        alert.unit,
        alert.fired_at,
        alert.id
    );
    let message = builder
        .body(body)
        .map_err(|e| format!("building the email: {e}"))?;
    let builder = match channel.smtp_tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| format!("smtp: {e}"))?;
    let default_port = match channel.smtp_tls {
        SmtpTls::Tls => 465,
        SmtpTls::Starttls | SmtpTls::None => 587,
    };
    let mut builder = builder
        .port(channel.smtp_port.unwrap_or(default_port))
        .timeout(Some(Duration::from_secs(20)));
    if let (Some(user), Some(password)) = (
        &channel.username,
        super::resolve(channel.password.as_deref())?,
    ) {
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("smtp: {e}"))
}
