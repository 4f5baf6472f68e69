//! Channel secrets at rest through the real binary: the PostgreSQL row holds only the sealed
//! form, a wrong key is named per channel at start-up and in the delivery error (never the
//! secret), and rows an older version stored in clear are sealed when the CLI or `serve` loads
//! them, leaving no clear bytes in the SQLite files.

use std::time::Duration;

use tokenwatch_store::{DEFAULT_TENANT, DefKind, Store};

use crate::harness::{all_bytes, post, raw, run_cli};
use crate::policy_support::{anthropic_headers, api, message_upstream, start_on, wait_alerts};
use crate::proxy::REQUEST_JSON;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "HxAREhMUFRYXGBkaGxwdHh8AAQIDBAUGBwgJCgsMDQ4=";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn postgres_rows_hold_only_sealed_secrets_and_a_wrong_key_is_named() {
    let Some(admin_url) = crate::cli::postgres_admin_url().await else {
        return;
    };
    let name = format!("tw_secrets_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(&sql).execute(&admin).await.unwrap();
    }
    let db_url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let upstream = message_upstream(Duration::ZERO).await;
    let receiver =
        crate::upstream::Upstream::start(crate::upstream::Script::json(200, &[], b"{}")).await;

    let mut server = start_on(
        &upstream.url,
        vec![("TOKENWATCH_SECRET_KEY", KEY.to_owned())],
        Some(db_url.clone()),
    );
    for channel in [
        serde_json::json!({"name": "hook", "kind": "webhook", "url": format!("{}/hook", receiver.url), "secret": "PG-HOOK-SECRET"}),
        serde_json::json!({"name": "slack", "kind": "slack", "url": format!("{}/slack/PG-SLACK-SECRET", receiver.url)}),
    ] {
        let (status, body) = api(&server.addr, "POST", "/api/v1/channels", Some(channel)).await;
        assert_eq!(status, 201, "{body}");
    }
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let specs: Vec<String> =
        sqlx::query_scalar("SELECT spec FROM notification_channels ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(specs.len(), 2);
    for spec in &specs {
        assert!(
            !spec.contains("PG-HOOK-SECRET") && !spec.contains("PG-SLACK-SECRET"),
            "{spec}"
        );
        assert!(spec.contains("\"enc:v1:"), "{spec}");
    }
    assert!(server.terminate().success());

    // The same database with another key: serve starts, names each channel it cannot open,
    // and the delivery error says why; the secret shows nowhere.
    let wrong = start_on(
        &upstream.url,
        vec![("TOKENWATCH_SECRET_KEY", OTHER_KEY.to_owned())],
        Some(db_url.clone()),
    );
    let stderr = wrong.stderr();
    for channel in ["hook", "slack"] {
        let field = if channel == "hook" { "secret" } else { "url" };
        assert!(
            stderr.contains(&format!(
                "channel '{channel}': its {field} cannot be decrypted with the key from TOKENWATCH_SECRET_KEY"
            )),
            "{stderr}"
        );
    }
    let (status, body) = api(&wrong.addr, "POST", "/api/v1/alert-rules", Some(serde_json::json!({
        "name": "hot", "kind": "cost_above", "window": "1h", "threshold_usd": "0.000001", "channels": ["hook"]
    }))).await;
    assert_eq!(status, 201, "{body}");
    raw(
        &wrong.addr,
        &post(
            "/anthropic/v1/messages",
            &anthropic_headers(&[]),
            REQUEST_JSON.as_bytes(),
        ),
    )
    .await;
    let alerts = wait_alerts(&wrong, "a failed delivery to the channel", |list| {
        list.iter()
            .any(|a| a["deliveries"][0]["status"] == "failed")
    })
    .await;
    let delivery = &alerts[0]["deliveries"][0];
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .starts_with("channel 'hook': its secret cannot be decrypted"),
        "{delivery}"
    );
    assert!(receiver.requests().is_empty(), "nothing is sent unsigned");
    let logs = wrong.stderr();
    assert!(
        !logs.contains("PG-HOOK-SECRET")
            && !logs.contains("PG-SLACK-SECRET")
            && !logs.contains(KEY),
        "a secret or key reached the log"
    );
    drop(wrong);
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn clear_rows_of_older_versions_are_sealed_by_the_cli_and_by_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db").display().to_string();
    let clear = |name: &str, secret: &str| {
        serde_json::json!({"name": name, "kind": "webhook", "url": "http://127.0.0.1:9/x", "secret": secret})
            .to_string()
    };
    // What a version without encryption left behind.
    let store = Store::open(&db).await.unwrap();
    store
        .put_definition(
            DEFAULT_TENANT,
            DefKind::Channel,
            "old",
            &clear("old", "OLD-CLEAR-SECRET"),
            "api",
        )
        .await
        .unwrap();
    store.close().await;
    assert!(contains(&all_bytes(dir.path()), "OLD-CLEAR-SECRET"));

    let shown = run_cli(&db, &["alert", "channels"]);
    assert!(
        shown.contains("<redacted>") && !shown.contains("OLD-CLEAR"),
        "{shown}"
    );
    let bytes = all_bytes(dir.path());
    assert!(
        !contains(&bytes, "OLD-CLEAR-SECRET"),
        "the clear secret is still in the files"
    );
    assert!(contains(&bytes, "enc:v1:"));
    assert!(
        dir.path().join("tokenwatch-secret.key").is_file(),
        "the key file is made beside the database"
    );

    // serve seals what it finds at start-up, with the same key file.
    let store = Store::open(&db).await.unwrap();
    store
        .put_definition(
            DEFAULT_TENANT,
            DefKind::Channel,
            "older",
            &clear("older", "OLDER-CLEAR-SECRET"),
            "api",
        )
        .await
        .unwrap();
    store.close().await;
    let upstream = message_upstream(Duration::ZERO).await;
    let server = start_on(&upstream.url, vec![], Some(db.clone()));
    let (_, channels) = api(&server.addr, "GET", "/api/v1/channels", None).await;
    assert_eq!(
        channels["channels"].as_array().unwrap().len(),
        2,
        "{channels}"
    );
    let store = Store::open(&db).await.unwrap();
    for name in ["old", "older"] {
        let row = store
            .get_definition(DEFAULT_TENANT, DefKind::Channel, name)
            .await
            .unwrap()
            .unwrap();
        assert!(
            row.spec.contains("\"secret\":\"enc:v1:") && !row.spec.contains("CLEAR"),
            "{}",
            row.spec
        );
    }
    assert!(
        !server.stderr().contains("cannot be decrypted"),
        "serve and the CLI share the key file"
    );
}
