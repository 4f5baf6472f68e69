//! Teams on the proxy, through the real binary with `[auth] required`: a tokenwatch key is
//! needed, the tenant's provider credential is injected in its place, another tenant's key
//! never spends it, a revoked key is refused at once, each tenant's token reads only its own
//! events, and no planted secret appears in clear in the database, its WAL, the spill file or
//! the log.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::harness::{BIN, Server, ServerOptions, all_bytes, parse_response, post, raw, run_cli};
use crate::proxy::{MESSAGE_JSON, REQUEST_JSON};
use crate::upstream::{Script, Upstream, headers_of};

const PROVIDER_KEY: &str = "sk-ant-ALPHA-PROVIDER-SECRET-4242";
const BRAVO_OWN_KEY: &str = "sk-ant-BRAVO-OWN-KEY-7777";

/// Runs a CLI command with `input` on standard input; returns stdout (asserting success).
fn cli_with_input(db: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--db", db])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "tokenwatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn send(addr: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let resp = raw(
        addr,
        &post("/anthropic/v1/messages", &all, REQUEST_JSON.as_bytes()),
    )
    .await;
    parse_response(&resp)
}

async fn events_as(addr: &str, token: &str) -> Vec<serde_json::Value> {
    let request = format!(
        "GET /api/v1/events?limit=100 HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nauthorization: Bearer {token}\r\n\r\n"
    );
    let (status, _, body) = parse_response(&raw(addr, request.as_bytes()).await);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    json(std::str::from_utf8(&body).unwrap())["events"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn keys_credentials_and_tenants_on_the_proxy() {
    let upstream = Upstream::start(Script::json(200, &[], MESSAGE_JSON.as_bytes())).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db").display().to_string();
    let alpha = json(&run_cli(&db, &["tenant", "create", "alpha", "--json"]));
    json(&run_cli(&db, &["tenant", "create", "bravo", "--json"]));
    let alpha_key = json(&run_cli(
        &db,
        &[
            "key",
            "create",
            "--tenant",
            "alpha",
            "--project",
            "web",
            "--json",
        ],
    ));
    let alpha_key = alpha_key["key"].as_str().unwrap().to_owned();
    let bravo = json(&run_cli(
        &db,
        &[
            "key",
            "create",
            "--tenant",
            "bravo",
            "--model",
            "claude-sonnet-4-5",
            "--json",
        ],
    ));
    let bravo_key = bravo["key"].as_str().unwrap().to_owned();
    cli_with_input(
        &db,
        &[
            "credential",
            "set",
            "--tenant",
            "alpha",
            "--provider",
            "anthropic",
        ],
        &format!("{PROVIDER_KEY}\n"),
    );
    let alpha_token = json(&run_cli(
        &db,
        &[
            "token", "create", "--tenant", "alpha", "--role", "viewer", "--json",
        ],
    ));
    let alpha_token = alpha_token["token"].as_str().unwrap().to_owned();
    let bravo_token = json(&run_cli(
        &db,
        &[
            "token", "create", "--tenant", "bravo", "--role", "viewer", "--json",
        ],
    ));
    let bravo_token = bravo_token["token"].as_str().unwrap().to_owned();

    // A key with its own hard budget, smaller than one request costs.
    run_cli(&db, &["tenant", "create", "charlie", "--json"]);
    let capped = json(&run_cli(
        &db,
        &[
            "key",
            "create",
            "--tenant",
            "charlie",
            "--budget-usd",
            "0.000001",
            "--hard",
            "--json",
        ],
    ));
    let capped_key = capped["key"].as_str().unwrap().to_owned();
    let capped_id = capped["id"].as_str().unwrap().to_owned();

    let server = Server::start_with(ServerOptions {
        env: vec![
            (
                "TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL",
                upstream.url.clone(),
            ),
            ("TOKENWATCH_AUTH__REQUIRED", "true".to_owned()),
        ],
        db: Some(db.clone()),
    });
    let addr = server.addr.clone();

    // No key: refused before anything goes upstream, in Anthropic's error shape.
    let (status, _, body) = send(&addr, &[("x-api-key", "sk-ant-someone")]).await;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("\"type\":\"error\""));
    assert_eq!(upstream.request_count(), 0);

    // Alpha's key as the API key: alpha's credential goes upstream instead of it.
    let (status, _, body) = send(&addr, &[("x-api-key", &alpha_key)]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let sent = headers_of(&upstream.requests()[0]);
    let sent_key = sent
        .iter()
        .find(|(k, _)| k == "x-api-key")
        .map(|(_, v)| v.as_str());
    assert_eq!(sent_key, Some(PROVIDER_KEY));
    assert!(!String::from_utf8_lossy(&upstream.requests()[0]).contains(&alpha_key));

    // Bravo's key as the API key: bravo has no credential, and never gets alpha's.
    let (status, _, body) = send(&addr, &[("x-api-key", &bravo_key)]).await;
    assert_eq!(
        status,
        401,
        "{}\nsent upstream: {}",
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(upstream.requests().last().unwrap())
    );
    assert!(String::from_utf8_lossy(&body).contains("credential set"));
    assert_eq!(upstream.request_count(), 1, "bravo's request went upstream");

    // Bravo's key beside its own provider key: its own key passes through untouched.
    let (status, _, _) = send(
        &addr,
        &[
            ("x-api-key", BRAVO_OWN_KEY),
            ("x-tokenwatch-key", &bravo_key),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let raw_sent = String::from_utf8_lossy(&upstream.requests()[1]).into_owned();
    assert!(
        raw_sent.contains(BRAVO_OWN_KEY) && !raw_sent.contains(&bravo_key),
        "{raw_sent}"
    );
    assert!(!raw_sent.to_ascii_lowercase().contains("x-tokenwatch-key"));

    // A model the key may not call is refused.
    let other_model = REQUEST_JSON.replace("claude-sonnet-4-5", "claude-opus-4-1");
    let resp = raw(
        &addr,
        &post(
            "/anthropic/v1/messages",
            &[
                ("content-type", "application/json"),
                ("x-tokenwatch-key", &bravo_key),
                ("x-api-key", BRAVO_OWN_KEY),
            ],
            other_model.as_bytes(),
        ),
    )
    .await;
    let (status, _, body) = parse_response(&resp);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert_eq!(upstream.request_count(), 2);

    // Each tenant's token reads its own events only, attributed to the key.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (alpha_events, bravo_events) = loop {
        let a = events_as(&addr, &alpha_token).await;
        let b = events_as(&addr, &bravo_token).await;
        if (!a.is_empty() && !b.is_empty()) || std::time::Instant::now() > deadline {
            break (a, b);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(alpha_events.len(), 1, "{alpha_events:#?}");
    assert_eq!(alpha_events[0]["project"], "web");
    assert_eq!(bravo_events.len(), 1, "{bravo_events:#?}");
    assert_ne!(alpha_events[0]["id"], bravo_events[0]["id"]);

    // A hard budget of bravo's, made by bravo's member: it counts bravo's spend only and
    // refuses bravo's next request, while alpha's still pass; alpha does not see it.
    let member = json(&run_cli(
        &db,
        &[
            "token", "create", "--tenant", "bravo", "--role", "member", "--json",
        ],
    ));
    let member = member["token"].as_str().unwrap().to_owned();
    let budget =
        r#"{"name": "bravo-cap", "period": "month", "limit_usd": "0.000001", "hard": true}"#;
    let request = format!(
        "POST /api/v1/budgets HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nauthorization: Bearer {member}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{budget}",
        budget.len()
    );
    let (status, _, body) = parse_response(&raw(&addr, request.as_bytes()).await);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = send(
        &addr,
        &[
            ("x-api-key", BRAVO_OWN_KEY),
            ("x-tokenwatch-key", &bravo_key),
        ],
    )
    .await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("bravo-cap"));
    let (status, _, _) = send(&addr, &[("x-api-key", &alpha_key)]).await;
    assert_eq!(status, 200, "bravo's budget refused alpha");
    let listing = |token: String| {
        let addr = addr.clone();
        async move {
            let request = format!(
                "GET /api/v1/budgets HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nauthorization: Bearer {token}\r\n\r\n"
            );
            let (_, _, body) = parse_response(&raw(&addr, request.as_bytes()).await);
            String::from_utf8_lossy(&body).into_owned()
        }
    };
    assert!(listing(bravo_token.clone()).await.contains("bravo-cap"));
    assert!(!listing(alpha_token.clone()).await.contains("bravo-cap"));

    // Revoked: refused on the very next request.
    run_cli(&db, &["key", "revoke", alpha_key_id(&db, "alpha").as_str()]);
    let (status, _, _) = send(&addr, &[("x-api-key", &alpha_key)]).await;
    assert_eq!(status, 401);
    assert_eq!(upstream.request_count(), 3);

    // The key's own budget: its first request passes and spends more than the limit; the next
    // is refused, naming the key's budget.
    let beside = [
        ("x-api-key", BRAVO_OWN_KEY),
        ("x-tokenwatch-key", capped_key.as_str()),
    ];
    let (status, _, _) = send(&addr, &beside).await;
    assert_eq!(status, 200);
    let (status, _, body) = send(&addr, &beside).await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains(&format!("key-{capped_id}")));
    assert_eq!(upstream.request_count(), 4);

    // No planted secret in clear anywhere tokenwatch writes: the database and its WAL while
    // running, then everything after a clean exit (spill file and log included).
    let mut written = all_bytes(dir.path());
    let mut server = server;
    server.terminate();
    written.extend(all_bytes(dir.path()));
    written.extend(all_bytes(server.dir.path()));
    let written = String::from_utf8_lossy(&written);
    for secret in [
        PROVIDER_KEY,
        &alpha_key,
        &bravo_key,
        &alpha_token,
        &bravo_token,
        BRAVO_OWN_KEY,
    ] {
        assert!(
            !written.contains(secret),
            "a secret is stored or logged in clear"
        );
    }
    assert!(
        written.contains(alpha["id"].as_str().unwrap()),
        "the files read are not the database"
    );
}

/// The id of `tenant`'s first key, from `key list --json`.
fn alpha_key_id(db: &str, tenant: &str) -> String {
    let list = json(&run_cli(db, &["key", "list", "--tenant", tenant, "--json"]));
    list["keys"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn serve_refuses_an_open_address_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0", "--db"])
        .arg(dir.path().join("tw.db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without auth")
            && err.contains("TOKENWATCH_AUTH__REQUIRED")
            && err.contains("--insecure-no-auth"),
        "{err}"
    );
}
