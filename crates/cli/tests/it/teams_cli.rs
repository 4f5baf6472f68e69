//! `tokenwatch tenant|key|token|user|credential|audit` through the real binary on a SQLite
//! database of the test's own: a key or token is printed once and stored nowhere in clear,
//! passwords and provider keys come from standard input and leave no clear bytes in the
//! database files, refusals exit non-zero naming what was wrong, every change is audited as
//! `cli`, and a key and credential made here work on a running `serve` (same secret key).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{BIN, all_bytes, parse_response, post, raw};
use crate::policy_support::{message_upstream, start_on};

/// The outcome of one CLI run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A database in a directory of its own (its files are what the secret checks read).
struct Db {
    dir: tempfile::TempDir,
    url: String,
}

impl Db {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("tw.db").display().to_string();
        Db { dir, url }
    }

    /// Runs `tokenwatch args --db …` with `stdin` as standard input (none: empty).
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut child = Command::new(BIN)
            .args(args)
            .args(["--db", &self.url])
            .current_dir(self.dir.path())
            .env_remove("COLUMNS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// [`Db::run`], asserting success; its stdout.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let r = self.run(args, stdin);
        assert_eq!(r.code, 0, "tokenwatch {args:?} failed: {}", r.stderr);
        r.stdout
    }

    /// [`Db::ok`] with `--json`, parsed.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let text = self.ok(&args, None);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// Whether `text` appears in any file of the database's directory (database, WAL, …).
    fn holds(&self, text: &str) -> bool {
        contains(&all_bytes(self.dir.path()), text)
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn keys_of(doc: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// The entry of `list` (an array under `field`) whose `by` is `value`.
fn find<'a>(doc: &'a Value, field: &str, by: &str, value: &str) -> &'a Value {
    doc[field]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e[by] == value)
        .unwrap_or_else(|| panic!("no {by}={value} in {doc}"))
}

#[test]
fn a_key_is_printed_once_and_stored_nowhere_in_clear() {
    let db = Db::new();
    db.ok(&["tenant", "create", "acme"], None);
    let made = db.json(&[
        "key",
        "create",
        "--tenant",
        "acme",
        "--project",
        "billing",
        "--name",
        "ci",
        "--model",
        "claude-sonnet-4-5",
    ]);
    assert_eq!(keys_of(&made), ["id", "key"], "{made}");
    let id = made["id"].as_str().unwrap();
    let key = made["key"].as_str().unwrap();
    assert!(key.starts_with("twk_") && key.len() > 40, "{key}");

    let table = db.ok(&["key", "list"], None);
    let listed = db.json(&["key", "list"]);
    assert!(
        table.contains(id) && table.contains("project=billing"),
        "{table}"
    );
    assert!(!table.contains(key) && !listed.to_string().contains(key));
    let row = find(&listed, "keys", "id", id);
    assert_eq!(row["name"], "ci");
    assert_eq!(
        row["allowed_models"],
        serde_json::json!(["claude-sonnet-4-5"])
    );
    assert!(row["revoked_ms"].is_null(), "{row}");
    let hint = row["hint"].as_str().unwrap();
    assert!(hint.starts_with(&key[..8]) && hint.ends_with(&key[key.len() - 4..]));
    assert!(!db.holds(key), "the key's value is in the database files");

    // Another tenant's list leaves this key out; --tenant takes a name or an id.
    let default_only = db.json(&["key", "list", "--tenant", "default"]);
    assert_eq!(default_only["keys"], serde_json::json!([]));
    let tenant_id = row["tenant"].as_str().unwrap();
    assert_eq!(
        db.json(&["key", "list", "--tenant", tenant_id])["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Rotation: a new value, printed once in the same shape; neither value is stored.
    let rotated = db.json(&["key", "rotate", id]);
    assert_eq!(keys_of(&rotated), ["id", "key"], "{rotated}");
    assert_eq!(rotated["id"], id);
    let new_key = rotated["key"].as_str().unwrap();
    assert_ne!(new_key, key);
    let human = db.ok(&["key", "rotate", id], None);
    assert!(
        human.contains("only time the key is shown") && human.contains("X-Tokenwatch-Key"),
        "{human}"
    );
    assert!(!db.holds(key) && !db.holds(new_key));

    let out = db.ok(&["key", "revoke", id], None);
    assert!(out.contains(id), "{out}");
    let row = find(&db.json(&["key", "list"]), "keys", "id", id).clone();
    assert!(row["revoked_ms"].as_i64().is_some(), "{row}");
    assert!(db.ok(&["key", "list"], None).contains("revoked"));
    let again = db.run(&["key", "revoke", id], None);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains(id), "{}", again.stderr);
}

#[test]
fn the_human_key_text_says_it_is_shown_once_and_how_to_use_it() {
    let db = Db::new();
    let out = db.ok(&["key", "create", "--tenant", "default"], None);
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("twk_"))
        .unwrap_or_else(|| panic!("no key in {out}"));
    assert!(out.contains("only time the key is shown"), "{out}");
    assert!(out.contains("http://127.0.0.1:4100/anthropic"), "{out}");
    assert!(out.contains("X-Tokenwatch-Key"), "{out}");
    assert!(!db.holds(key));
}

#[test]
fn tokens_are_printed_once_and_a_tenant_token_needs_its_tenant() {
    let db = Db::new();
    let missing = db.run(&["token", "create", "--role", "viewer"], None);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("--tenant"), "{}", missing.stderr);

    let viewer = db.json(&[
        "token", "create", "--tenant", "default", "--role", "viewer", "--name", "grafana",
    ]);
    assert_eq!(keys_of(&viewer), ["id", "token"], "{viewer}");
    let operator = db.json(&["token", "create", "--role", "operator"]);
    let token = viewer["token"].as_str().unwrap();
    assert!(token.starts_with("twt_"), "{token}");

    let list = db.json(&["token", "list"]);
    let v = find(&list, "tokens", "id", viewer["id"].as_str().unwrap());
    assert_eq!(
        (v["role"].as_str(), v["tenant"].as_str()),
        (Some("viewer"), Some("default"))
    );
    let o = find(&list, "tokens", "id", operator["id"].as_str().unwrap());
    assert_eq!(o["role"], "operator");
    assert!(o["tenant"].is_null(), "{o}");
    let table = db.ok(&["token", "list"], None);
    assert!(
        table.contains("grafana") && table.contains("(every tenant)"),
        "{table}"
    );
    for secret in [token, operator["token"].as_str().unwrap()] {
        assert!(!list.to_string().contains(secret) && !table.contains(secret));
        assert!(!db.holds(secret));
    }

    db.ok(&["token", "revoke", viewer["id"].as_str().unwrap()], None);
    let list = db.json(&["token", "list"]);
    assert!(find(&list, "tokens", "id", viewer["id"].as_str().unwrap())["revoked_ms"].is_i64());
    let unknown = db.run(&["token", "revoke", "no-such-token"], None);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("no-such-token"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn user_add_reads_the_password_from_standard_input() {
    let db = Db::new();
    db.ok(&["tenant", "create", "acme"], None);
    let password = "correct horse battery staple";
    let out = db.ok(
        &[
            "user",
            "add",
            "alice@example.com",
            "--tenant",
            "acme",
            "--role",
            "admin",
        ],
        Some(&format!("{password}\nthis second line is ignored\n")),
    );
    assert!(out.contains("alice@example.com"), "{out}");
    assert!(!out.contains(password));
    assert!(!db.holds(password), "the password is in the database files");

    let users = db.json(&["user", "list"]);
    let alice = find(&users, "users", "email", "alice@example.com");
    assert_eq!(alice["role"], "admin");
    assert_eq!(alice["disabled"], false);

    let twice = db.run(
        &[
            "user",
            "add",
            "alice@example.com",
            "--tenant",
            "acme",
            "--role",
            "viewer",
        ],
        Some("another long password\n"),
    );
    assert_eq!(twice.code, 1, "{}", twice.stderr);
    assert!(
        twice.stderr.contains("alice@example.com") && twice.stderr.contains("already exists"),
        "{}",
        twice.stderr
    );

    let empty = db.run(
        &[
            "user",
            "add",
            "bob@example.com",
            "--tenant",
            "acme",
            "--role",
            "viewer",
        ],
        Some("\n"),
    );
    assert_eq!(empty.code, 2, "{}", empty.stderr);
    assert!(
        empty.stderr.contains("no password on standard input"),
        "{}",
        empty.stderr
    );
    let short = db.run(
        &[
            "user",
            "add",
            "bob@example.com",
            "--tenant",
            "acme",
            "--role",
            "viewer",
        ],
        Some("short\n"),
    );
    assert_eq!(short.code, 2, "{}", short.stderr);
    let unknown = db.run(
        &[
            "user",
            "add",
            "bob@example.com",
            "--tenant",
            "nope",
            "--role",
            "viewer",
        ],
        Some("a long enough password\n"),
    );
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("'nope'"), "{}", unknown.stderr);
    let users = db.json(&["user", "list"]);
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "{users}");

    db.ok(&["user", "set-role", "alice@example.com", "member"], None);
    db.ok(&["user", "disable", "alice@example.com"], None);
    let alice = find(
        &db.json(&["user", "list"]),
        "users",
        "email",
        "alice@example.com",
    )
    .clone();
    assert_eq!(
        (alice["role"].as_str(), alice["disabled"].as_bool()),
        (Some("member"), Some(true))
    );
    db.ok(&["user", "enable", "alice@example.com"], None);
    let alice = find(
        &db.json(&["user", "list"]),
        "users",
        "email",
        "alice@example.com",
    )
    .clone();
    assert_eq!(alice["disabled"], false);
    let nobody = db.run(&["user", "disable", "nobody@example.com"], None);
    assert_eq!(nobody.code, 1);
    assert!(
        nobody.stderr.contains("nobody@example.com"),
        "{}",
        nobody.stderr
    );
}

#[test]
fn credential_set_reads_standard_input_and_stores_it_sealed() {
    let db = Db::new();
    let secret = "sk-ant-api03-CREDENTIAL-FROM-STDIN-0123456789";
    let out = db.ok(
        &[
            "credential",
            "set",
            "--tenant",
            "default",
            "--provider",
            "anthropic",
        ],
        Some(&format!("{secret}\r\n")),
    );
    assert!(!out.contains(secret), "{out}");
    assert!(
        !db.holds(secret),
        "the provider key is in the database files"
    );
    assert!(db.dir.path().join("tokenwatch-secret.key").exists());

    let table = db.ok(&["credential", "list"], None);
    let listed = db.json(&["credential", "list"]);
    assert!(!table.contains(secret) && !listed.to_string().contains(secret));
    let row = find(&listed, "credentials", "provider", "anthropic");
    assert_eq!(
        row["hint"],
        format!("{}…{}", &secret[..8], &secret[secret.len() - 4..])
    );
    assert!(
        table.contains("anthropic") && table.contains(row["hint"].as_str().unwrap()),
        "{table}"
    );

    let empty = db.run(
        &[
            "credential",
            "set",
            "--tenant",
            "default",
            "--provider",
            "openai",
        ],
        None,
    );
    assert_eq!(empty.code, 2, "{}", empty.stderr);
    assert!(
        empty.stderr.contains("no provider key on standard input"),
        "{}",
        empty.stderr
    );

    db.ok(
        &[
            "credential",
            "delete",
            "--tenant",
            "default",
            "--provider",
            "anthropic",
        ],
        None,
    );
    assert_eq!(
        db.json(&["credential", "list"])["credentials"],
        serde_json::json!([])
    );
    let gone = db.run(
        &[
            "credential",
            "delete",
            "--tenant",
            "default",
            "--provider",
            "anthropic",
        ],
        None,
    );
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("anthropic"), "{}", gone.stderr);
}

#[test]
fn tenants_round_trip_and_an_unknown_tenant_is_named() {
    let db = Db::new();
    let made = db.json(&["tenant", "create", "acme"]);
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (made["name"].as_str(), made["disabled"].as_bool()),
        (Some("acme"), Some(false))
    );
    let taken = db.run(&["tenant", "create", "acme"], None);
    assert_eq!(taken.code, 1);
    assert!(taken.stderr.contains("already exists"), "{}", taken.stderr);

    db.ok(&["tenant", "rename", "acme", "acme-corp"], None);
    db.ok(&["tenant", "disable", "acme-corp"], None);
    let list = db.json(&["tenant", "list"]);
    let t = find(&list, "tenants", "id", &id);
    assert_eq!(
        (t["name"].as_str(), t["disabled"].as_bool()),
        (Some("acme-corp"), Some(true))
    );
    assert!(find(&list, "tenants", "name", "default")["disabled"] == false);
    let table = db.ok(&["tenant", "list"], None);
    assert!(
        table.contains("acme-corp") && table.contains("disabled"),
        "{table}"
    );
    db.ok(&["tenant", "enable", &id], None);
    let list = db.json(&["tenant", "list"]);
    assert_eq!(find(&list, "tenants", "id", &id)["disabled"], false);

    let old_name = db.run(&["tenant", "disable", "acme"], None);
    assert_eq!(old_name.code, 1);
    let nope = db.run(&["key", "create", "--tenant", "nope"], None);
    assert_eq!(nope.code, 1, "{}", nope.stderr);
    assert!(nope.stderr.contains("tenant 'nope'"), "{}", nope.stderr);
    assert!(nope.stdout.is_empty(), "{}", nope.stdout);
}

#[test]
fn audit_lists_every_change_with_actor_cli() {
    let db = Db::new();
    db.ok(&["tenant", "create", "acme"], None);
    db.ok(&["tenant", "create", "other"], None);
    db.ok(&["tenant", "rename", "acme", "acme-corp"], None);
    db.ok(&["tenant", "disable", "other"], None);
    let key = db.json(&["key", "create", "--tenant", "acme-corp", "--name", "ci"]);
    let key_id = key["id"].as_str().unwrap();
    db.ok(&["key", "rotate", key_id], None);
    db.ok(&["key", "revoke", key_id], None);
    db.json(&[
        "token",
        "create",
        "--tenant",
        "acme-corp",
        "--role",
        "admin",
    ]);
    db.ok(
        &[
            "user",
            "add",
            "ann@example.com",
            "--tenant",
            "acme-corp",
            "--role",
            "member",
        ],
        Some("a long enough password\n"),
    );
    db.ok(&["user", "disable", "ann@example.com"], None);
    db.ok(
        &[
            "credential",
            "set",
            "--tenant",
            "acme-corp",
            "--provider",
            "openai",
        ],
        Some("sk-proj-AUDITED-CREDENTIAL-0123456789\n"),
    );
    db.ok(
        &[
            "credential",
            "delete",
            "--tenant",
            "acme-corp",
            "--provider",
            "openai",
        ],
        None,
    );
    db.ok(&["key", "create", "--tenant", "other"], None);

    let all = db.json(&["audit"]);
    let entries = all["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // Newest first: the reverse of the order above.
    assert_eq!(
        actions,
        [
            "key.create",
            "credential.delete",
            "credential.set",
            "user.update",
            "user.add",
            "token.create",
            "key.revoke",
            "key.rotate",
            "key.create",
            "tenant.disable",
            "tenant.rename",
            "tenant.create",
            "tenant.create",
        ]
    );
    assert!(entries.iter().all(|e| e["actor"] == "cli"), "{all}");
    assert!(!all.to_string().contains("AUDITED-CREDENTIAL"));
    let ts: Vec<i64> = entries
        .iter()
        .map(|e| e["ts_ms"].as_i64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]), "{ts:?}");

    // --tenant: what happened in it and to it, not the other tenant's; --limit keeps the newest.
    let acme = db.json(&["audit", "--tenant", "acme-corp"]);
    let acme_actions: Vec<&str> = acme["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        acme_actions,
        [
            "credential.delete",
            "credential.set",
            "user.update",
            "user.add",
            "token.create",
            "key.revoke",
            "key.rotate",
            "key.create",
            "tenant.rename",
            "tenant.create",
        ]
    );
    let two = db.json(&["audit", "--tenant", "acme-corp", "--limit", "2"]);
    assert_eq!(two["entries"].as_array().unwrap().len(), 2);
    assert_eq!(two["entries"][1]["action"], "credential.set");

    let table = db.ok(&["audit", "--limit", "20"], None);
    assert!(table.contains("name: acme → acme-corp"), "{table}");
    assert!(table.contains("disabled: false → true"), "{table}");
    assert_eq!(
        table.lines().filter(|l| l.contains(" cli ")).count(),
        13,
        "{table}"
    );
    assert_eq!(db.run(&["audit", "--limit", "0"], None).code, 2);
}

#[tokio::test]
async fn a_key_and_credential_made_by_the_cli_work_on_a_running_serve() {
    let upstream = message_upstream(std::time::Duration::ZERO).await;
    let db = Db::new();
    let secret = "sk-ant-TENANT-CREDENTIAL-abcdef0123456789";
    db.ok(&["tenant", "create", "acme"], None);
    db.ok(
        &[
            "credential",
            "set",
            "--tenant",
            "acme",
            "--provider",
            "anthropic",
        ],
        Some(&format!("{secret}\n")),
    );
    let key = db.json(&["key", "create", "--tenant", "acme"]);
    let key_value = key["key"].as_str().unwrap();
    let server = start_on(&upstream.url, Vec::new(), Some(db.url.clone()));

    assert_eq!(
        send_with_key(&server.addr, key_value).await,
        200,
        "{}",
        server.stderr()
    );
    let sent = upstream.requests();
    assert_eq!(sent.len(), 1);
    let head = String::from_utf8_lossy(&sent[0]).to_lowercase();
    assert!(
        head.contains(&format!("x-api-key: {}", secret.to_lowercase())),
        "{head}"
    );
    assert!(!head.contains("twk_"), "{head}");

    // A revocation by the CLI is refused by the running server on the next request.
    db.ok(&["key", "revoke", key["id"].as_str().unwrap()], None);
    assert_eq!(send_with_key(&server.addr, key_value).await, 401);
    assert_eq!(upstream.requests().len(), 1);
    assert!(!db.holds(secret));
}

/// Sends the test's Anthropic request through the proxy with `key` as the SDK's api_key.
async fn send_with_key(addr: &str, key: &str) -> u16 {
    let request = post(
        "/anthropic/v1/messages",
        &[
            ("x-api-key", key),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        crate::proxy::REQUEST_JSON.as_bytes(),
    );
    parse_response(&raw(addr, &request).await).0
}

#[test]
fn projects_are_made_explicitly_or_by_a_key_and_list_per_tenant() {
    let db = Db::new();
    db.ok(&["tenant", "create", "acme"], None);
    db.ok(&["tenant", "create", "beta"], None);
    let made = db.json(&["project", "create", "web", "--tenant", "acme"]);
    assert_eq!(made["name"], "web");
    assert_eq!(made["live_keys"], 0);
    let again = db.run(&["project", "create", "web", "--tenant", "acme"], None);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again.stderr.contains("already has a project named 'web'"),
        "{}",
        again.stderr
    );
    db.ok(
        &["key", "create", "--tenant", "beta", "--project", "batch"],
        None,
    );
    let acme = db.json(&["project", "list", "--tenant", "acme"]);
    let names: Vec<&str> = acme["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web"], "{acme}");
    let beta = db.json(&["project", "list", "--tenant", "beta"]);
    assert_eq!(beta["projects"][0]["name"], "batch", "{beta}");
    assert_eq!(beta["projects"][0]["live_keys"], 1, "{beta}");
    let table = db.ok(&["project", "list"], None);
    assert!(
        table.contains("acme") && table.contains("web") && table.contains("batch"),
        "{table}"
    );
}
