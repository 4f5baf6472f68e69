//! Email over SMTP: STARTTLS (the default, required once chosen), implicit TLS, or plain for
//! a local relay; optional username/password authentication.
//!
//! The message is plain text: the alert's message, value and threshold, and its id. Errors are
//! reduced to lettre's message, which names the failure, never the password.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokenwatch_core::alerting::{ChannelSpec, SmtpTls};

use super::AlertMessage;
use crate::secrets::Secrets;

pub async fn send(
    alert: &AlertMessage,
    channel: &ChannelSpec,
    secrets: &Secrets,
) -> Result<(), String> {
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
    let builder = match (&channel.smtp_ca_file, channel.smtp_tls) {
        (_, SmtpTls::None) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        (Some(ca), mode) => {
            let pem = std::fs::read(ca).map_err(|e| format!("smtp_ca_file {ca}: {e}"))?;
            let cert =
                Certificate::from_pem(&pem).map_err(|e| format!("smtp_ca_file {ca}: {e}"))?;
            let params = TlsParameters::builder(host.to_owned())
                .add_root_certificate(cert)
                .build()
                .map_err(|e| format!("smtp: {e}"))?;
            let tls = if mode == SmtpTls::Tls {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            };
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).tls(tls)
        }
        (None, SmtpTls::Starttls) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| format!("smtp: {e}"))?,
        (None, SmtpTls::Tls) => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| format!("smtp: {e}"))?
        }
    };
    let default_port = match channel.smtp_tls {
        SmtpTls::Tls => 465,
        SmtpTls::Starttls | SmtpTls::None => 587,
    };
    let mut builder = builder
        .port(channel.smtp_port.unwrap_or(default_port))
        .timeout(Some(Duration::from_secs(20)));
    if let (Some(user), Some(password)) = (
        &channel.username,
        super::reveal(secrets, channel, "password", channel.password.as_deref())?,
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
