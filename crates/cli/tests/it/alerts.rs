//! Alerts end to end: soft budget thresholds fire exactly once each and reach a webhook (HMAC
//! verified here), Slack, and a channel that is down (retried, then recorded as failed); email
//! reaches a real SMTP server and is parsed; a provider that keeps failing raises one alert;
//! acknowledgement through the API.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::harness::{parse_response, post, raw, run_cli};
use crate::policy_support::send_message;
use crate::policy_support::{
    MESSAGE_COST_MICROS, anthropic_headers, api, message_upstream, start, wait_alerts,
};
use crate::proxy::REQUEST_JSON;
use crate::smtp_sink::{SmtpSink, make_certs};
use crate::upstream::{Script, Upstream, body_of, headers_of};

fn delivered(a: &serde_json::Value, channel: &str, status: &str) -> bool {
    a["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["channel"] == channel && d["status"] == status)
}

#[tokio::test]
async fn soft_thresholds_fire_once_each_to_signed_webhook_slack_and_a_failing_channel() {
    let upstream = message_upstream(Duration::ZERO).await;
    let receiver = Upstream::start(Script::json(200, &[], b"{}")).await;
    let down = Upstream::start(Script::json(500, &[], b"{\"error\":\"down\"}")).await;
    // The webhook's secret and the Slack URL are given in clear: they are stored sealed and
    // opened only to sign and send.
    let server = start(&upstream.url, vec![]);
    for channel in [
        serde_json::json!({"name": "hook", "kind": "webhook", "url": format!("{}/hook", receiver.url), "secret": "s3cret-HMAC"}),
        serde_json::json!({"name": "slack", "kind": "slack", "url": format!("{}/slack/T0/SLACK-SECRET", receiver.url)}),
        serde_json::json!({"name": "down", "kind": "webhook", "url": format!("{}/x", down.url)}),
    ] {
        let (status, body) = api(&server.addr, "POST", "/api/v1/channels", Some(channel)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, channels) = api(&server.addr, "GET", "/api/v1/channels", None).await;
    let shown = channels.to_string();
    assert!(
        !shown.contains("s3cret") && !shown.contains("SLACK-SECRET"),
        "{shown}"
    );
    assert!(shown.contains("<redacted>"), "{shown}");

    let (status, body) = api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(serde_json::json!({
            "name": "soft", "period": "month", "limit_usd": "0.05"
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // 14_625 µ$ each against $0.05: 29 %, 58.5 % (50), 87.75 % (80), 117 % (90, 100), 146 %, 175.5 %.
    for _ in 0..6 {
        let resp = raw(
            &server.addr,
            &post(
                "/anthropic/v1/messages",
                &anthropic_headers(&[]),
                REQUEST_JSON.as_bytes(),
            ),
        )
        .await;
        assert_eq!(parse_response(&resp).0, 200, "a soft budget never refuses");
    }
    let alerts = wait_alerts(
        &server,
        "4 thresholds delivered, and failed on the down channel",
        |list| {
            list.len() == 4
                && list.iter().all(|a| {
                    delivered(a, "hook", "delivered")
                        && delivered(a, "slack", "delivered")
                        && delivered(a, "down", "failed")
                })
        },
    )
    .await;
    let mut percents: Vec<i64> = alerts
        .iter()
        .map(|a| a["detail"]["percent"].as_i64().unwrap())
        .collect();
    percents.sort_unstable();
    assert_eq!(percents, [50, 80, 90, 100]);
    for a in &alerts {
        assert_eq!(a["kind"], "budget_threshold");
        assert_eq!(a["rule"], "soft");
        let down = a["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["channel"] == "down")
            .unwrap();
        assert_eq!(down["attempts"], 3);
        assert_eq!(down["last_error"], "the receiver answered HTTP 500");
    }
    let hundred = alerts
        .iter()
        .find(|a| a["detail"]["percent"] == 100)
        .unwrap();
    assert_eq!(hundred["severity"], "critical");
    assert_eq!(hundred["value"].as_i64(), Some(4 * MESSAGE_COST_MICROS));
    assert_eq!(hundred["threshold"].as_i64(), Some(50_000));

    // Nothing fires twice, even after more spend and a few refresh cycles.
    raw(
        &server.addr,
        &post(
            "/anthropic/v1/messages",
            &anthropic_headers(&[]),
            REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, doc) = api(&server.addr, "GET", "/api/v1/alerts", None).await;
    assert_eq!(doc["alerts"].as_array().unwrap().len(), 4);
    assert_eq!(doc["unread"], 4);

    // The webhook got 4 signed bodies; the signature verifies with the secret.
    let got = receiver.requests();
    let hooks: Vec<_> = got
        .iter()
        .filter(|r| r.starts_with(b"POST /hook "))
        .collect();
    assert_eq!(hooks.len(), 4);
    for r in &hooks {
        let body = body_of(r);
        let sig = headers_of(r)
            .into_iter()
            .find(|(k, _)| k == "x-tokenwatch-signature")
            .unwrap()
            .1;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret-HMAC").unwrap();
        mac.update(body);
        assert_eq!(
            sig,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(doc["rule"], "soft");
        assert!(
            doc["message"].as_str().unwrap().contains("budget 'soft'"),
            "{doc}"
        );
    }
    let slack: Vec<_> = got
        .iter()
        .filter(|r| r.starts_with(b"POST /slack/T0/SLACK-SECRET "))
        .collect();
    assert_eq!(slack.len(), 4);
    let text: serde_json::Value = serde_json::from_slice(body_of(slack[0])).unwrap();
    assert!(text["text"].as_str().unwrap().contains("`soft`"), "{text}");
    // 4 alerts × 3 attempts on the channel that is down, then recorded as failed.
    assert_eq!(down.requests().len(), 12);
    assert!(!server.stderr().contains("SLACK-SECRET") && !server.stderr().contains("s3cret"));
    let stored = crate::harness::all_bytes(server.dir.path());
    for secret in ["s3cret-HMAC", "SLACK-SECRET"] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} reached the database in clear"
        );
    }
    assert!(
        stored.windows(7).any(|w| w == b"enc:v1:"),
        "the sealed form is what is stored"
    );

    // Budget status: 7 × 14_625 spent, 204.75 %, resets on the 1st of next month (UTC).
    let (_, b) = api(&server.addr, "GET", "/api/v1/budgets/soft", None).await;
    let st = &b["status"];
    assert_eq!(st["spent_micros"].as_i64(), Some(7 * MESSAGE_COST_MICROS));
    assert_eq!(st["percent"].as_f64(), Some(204.75));
    let first = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .first_of_month()
        .checked_add(jiff::Span::new().months(1))
        .unwrap();
    assert_eq!(st["resets_at"], format!("{first}T00:00:00Z"));
    assert_eq!(st["exhausted"], false, "a soft budget never refuses");
    assert!(
        st["forecast"]["projected_micros"].as_i64().unwrap() >= 7 * MESSAGE_COST_MICROS,
        "{st}"
    );
    assert_eq!(st["forecast"]["summary"], "the $0.05 limit is reached");
    // A budget not yet reached projects the burn rate of the last 7 days (the one forecast
    // method, shared with the month-end projection) to the period's end:
    // spent + spent × remaining / 7 days.
    let (_, fc) = api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(serde_json::json!({
            "name": "fc", "period": "month", "limit_usd": 1000
        })),
    )
    .await;
    let now = jiff::Timestamp::now().as_millisecond();
    let month_start = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .first_of_month();
    let end = month_start
        .checked_add(jiff::Span::new().months(1))
        .unwrap();
    let end_ms = end
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_millisecond();
    let recent_ms = 7 * 86_400_000;
    let spent = 7 * MESSAGE_COST_MICROS;
    let expected = spent as f64 + spent as f64 * (end_ms - now) as f64 / recent_ms as f64;
    let projected = fc["status"]["forecast"]["projected_micros"]
        .as_i64()
        .unwrap() as f64;
    assert!(
        (projected - expected).abs() / expected < 0.01,
        "{projected} vs {expected}: {fc}"
    );
    let summary = fc["status"]["forecast"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("at this rate you end the period at $")
            && summary.ends_with("within the $1000.00 limit"),
        "{summary}"
    );

    // Acknowledge one, then the rest.
    let id = alerts[0]["id"].as_str().unwrap();
    let (status, ack) = api(
        &server.addr,
        "POST",
        &format!("/api/v1/alerts/{id}/ack"),
        None,
    )
    .await;
    assert_eq!((status, ack["acknowledged"].as_i64()), (200, Some(1)));
    let (_, doc) = api(
        &server.addr,
        "GET",
        "/api/v1/alerts?unacknowledged=true",
        None,
    )
    .await;
    assert_eq!(
        (
            doc["alerts"].as_array().unwrap().len(),
            doc["unread"].as_i64()
        ),
        (3, Some(3))
    );
    let out = run_cli(&server.db, &["alert", "ack", "--all"]);
    assert_eq!(out.trim(), "acknowledged 3 alert(s)");
    let (_, doc) = api(&server.addr, "GET", "/api/v1/alerts", None).await;
    assert_eq!(doc["unread"], 0);
    let (status, _) = api(&server.addr, "POST", "/api/v1/alerts/nope/ack", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn cost_rule_emails_real_smtp_servers_over_plain_and_starttls_and_tls_is_never_skipped() {
    let upstream = message_upstream(Duration::ZERO).await;
    let smtp = SmtpSink::start().await;
    let certs_dir = tempfile::tempdir().unwrap();
    let certs = make_certs(certs_dir.path());
    let secure = SmtpSink::start_with(Some(&certs)).await;
    let server = start(
        &upstream.url,
        vec![("TW_TEST_SMTP_PASSWORD", "SMTP-PASSWORD".to_owned())],
    );
    for channel in [
        serde_json::json!({"name": "mail", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none",
            "from": "tokenwatch <alerts@example.test>", "to": ["ops@example.test", "cfo@example.test"]}),
        // STARTTLS to a relay whose certificate a test CA signed, authenticating inside TLS with
        // a password stored sealed.
        serde_json::json!({"name": "mail-secure", "kind": "email", "smtp_host": "localhost", "smtp_port": secure.port,
            "smtp_ca_file": certs.ca.display().to_string(), "username": "u", "password": "SMTP-PASSWORD",
            "from": "alerts@example.test", "to": ["sec@example.test"]}),
        // The sink offers no STARTTLS: a starttls channel must fail, never send in clear. Its
        // password is a reference to the environment: only "env:…" is stored.
        serde_json::json!({"name": "mail-tls", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
            "username": "u", "password": "env:TW_TEST_SMTP_PASSWORD", "from": "alerts@example.test", "to": ["ops@example.test"]}),
    ] {
        let (status, body) = api(&server.addr, "POST", "/api/v1/channels", Some(channel)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = api(&server.addr, "POST", "/api/v1/alert-rules", Some(serde_json::json!({
        "name": "hot", "kind": "cost_above", "window": "1h", "threshold_usd": "0.01", "channels": ["mail", "mail-tls", "mail-secure"]
    }))).await;
    assert_eq!(status, 201, "{body}");
    raw(
        &server.addr,
        &post(
            "/anthropic/v1/messages",
            &anthropic_headers(&[]),
            REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    let alerts = wait_alerts(&server, "the cost alert delivered by email", |list| {
        list.len() == 1
            && delivered(&list[0], "mail", "delivered")
            && delivered(&list[0], "mail-tls", "failed")
    })
    .await;
    assert_eq!(alerts[0]["kind"], "cost_above");
    assert_eq!(alerts[0]["value"].as_i64(), Some(MESSAGE_COST_MICROS));
    let mails = smtp.mails.lock().unwrap().clone();
    assert_eq!(
        mails.len(),
        1,
        "only the plain channel's message arrives: {mails:?}"
    );
    let m = &mails[0];
    assert_eq!(m.from, "<alerts@example.test>");
    assert_eq!(m.to, ["<ops@example.test>", "<cfo@example.test>"]);
    assert_eq!(
        m.header("Subject").as_deref(),
        Some("[tokenwatch] warning: hot (cost_above)")
    );
    assert_eq!(
        m.header("From").as_deref(),
        Some("tokenwatch <alerts@example.test>")
    );
    assert_eq!(
        m.header("To").as_deref(),
        Some("ops@example.test, cfo@example.test")
    );
    let body = m.body();
    assert!(
        body.contains("global: $0.014625 spent in the last 1h, above $0.01"),
        "{body}"
    );
    assert!(
        body.contains(&format!("alert id: {}", alerts[0]["id"].as_str().unwrap())),
        "{body}"
    );
    assert!(!m.tls && m.auth.is_none());
    let secure_mails = secure.mails.lock().unwrap().clone();
    assert_eq!(secure_mails.len(), 1);
    let sm = &secure_mails[0];
    assert!(sm.tls, "the message must travel inside STARTTLS");
    // base64("\0u\0SMTP-PASSWORD"): the sealed password, opened to authenticate, only over TLS.
    assert_eq!(sm.auth.as_deref(), Some("AHUAU01UUC1QQVNTV09SRA=="));
    assert_eq!(sm.to, ["<sec@example.test>"]);
    assert!(
        sm.body()
            .contains("global: $0.014625 spent in the last 1h, above $0.01")
    );
    let tls = alerts[0]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "mail-tls")
        .unwrap()
        .clone();
    assert_eq!(tls["attempts"], 3);
    eprintln!("starttls channel error: {}", tls["last_error"]);
    assert!(
        tls["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("smtp:")),
        "{tls}"
    );
    assert!(
        !tls.to_string().contains("SMTP-PASSWORD") && !server.stderr().contains("SMTP-PASSWORD")
    );
    let stored = crate::harness::all_bytes(server.dir.path());
    assert!(
        !stored.windows(13).any(|w| w == b"SMTP-PASSWORD"),
        "the SMTP password reached the database in clear"
    );
}

#[tokio::test]
async fn a_provider_that_keeps_failing_raises_one_alert() {
    // An address nothing listens on: every call is "upstream unreachable".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let server = start(&url, vec![]);
    let (status, body) = api(&server.addr, "POST", "/api/v1/alert-rules", Some(serde_json::json!({
        "name": "anthropic-down", "kind": "provider_down", "scope": "provider:anthropic", "threshold": 3
    }))).await;
    assert_eq!(status, 201, "{body}");
    for _ in 0..5 {
        assert_eq!(send_message(&server).await, 502);
    }
    server.wait_events(5).await;
    let alerts = wait_alerts(&server, "provider_down", |l| !l.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, doc) = api(&server.addr, "GET", "/api/v1/alerts", None).await;
    assert_eq!(doc["alerts"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(alerts[0]["kind"], "provider_down");
    assert_eq!(alerts[0]["value"], 3);
    let message = alerts[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("provider 'anthropic' failed 3 times in a row"),
        "{message}"
    );
}
