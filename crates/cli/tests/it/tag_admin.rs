//! Tag management through the real binary: `GET/POST /api/v1/tags`, `PATCH` and `DELETE
//! /api/v1/tags/{key}/{value}` and `tokenwatch tag define|rename|color|list|undefine`, over
//! events imported from a CSV this test writes, with every expected number summed here from
//! that CSV's rows.

use crate::harness::{Server, ServerOptions, run_cli};
use crate::policy_support::api;

/// (hour of 2026-11-01, cost in micro-USD, tags): the events of the CSV.
const ROWS: [(u32, i64, &str); 6] = [
    (10, 100_000, "team=red"),
    (11, 200_000, "team=red;env=prod"),
    (12, 300_000, "team=blue"),
    (13, 400_000, "team=red;team=crimson"),
    (14, 500_000, "team=crimson"),
    (15, 600_000, "path=a/b"),
];

const RANGE: &str = "since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00Z&tz=UTC";

/// (events, cost) of the rows carrying any of `tags`.
fn expected(tags: &[&str]) -> (i64, i64) {
    let rows: Vec<_> = ROWS
        .iter()
        .filter(|(_, _, t)| t.split(';').any(|x| tags.contains(&x)))
        .collect();
    (rows.len() as i64, rows.iter().map(|(_, c, _)| c).sum())
}

/// A server on a database holding [`ROWS`] (the directory holds the database: keep it).
fn seeded() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db").display().to_string();
    let csv = dir.path().join("usage.csv");
    let mut text = String::from("ts,provider,model,input_tokens,output_tokens,cost_usd,tags\n");
    for (hour, cost, tags) in ROWS {
        text.push_str(&format!(
            "2026-11-01T{hour}:00:00Z,anthropic,claude-sonnet-4-5,10,5,{}.{:06},{tags}\n",
            cost / 1_000_000,
            cost % 1_000_000
        ));
    }
    std::fs::write(&csv, text).unwrap();
    run_cli(&db, &["import", "csv", csv.to_str().unwrap()]);
    let server = Server::start_with(ServerOptions {
        env: Vec::new(),
        db: Some(db),
    });
    (server, dir)
}

async fn tag_row(server: &Server, tag: &str) -> Option<serde_json::Value> {
    let (status, doc) = api(&server.addr, "GET", &format!("/api/v1/tags?{RANGE}"), None).await;
    assert_eq!(status, 200, "{doc}");
    doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == tag)
        .cloned()
}

async fn totals(server: &Server, tag: &str) -> (i64, i64) {
    let row = tag_row(server, tag).await.unwrap_or_default();
    (
        row["events"].as_i64().unwrap_or(0),
        row["cost_micros"].as_i64().unwrap_or(0),
    )
}

/// A refused call: its status and the field its error names.
async fn refused(
    server: &Server,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, String) {
    let (status, doc) = api(&server.addr, method, path, Some(body)).await;
    (
        status,
        doc["error"]["param"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn define_rename_recolour_and_forget_tags_over_the_api() {
    let (server, _dir) = seeded();
    for tag in [
        "team=red",
        "team=blue",
        "team=crimson",
        "env=prod",
        "path=a/b",
    ] {
        assert_eq!(totals(&server, tag).await, expected(&[tag]), "{tag}");
        let row = tag_row(&server, tag).await.unwrap();
        assert_eq!(row["defined"], false);
        let color = row["color"].as_str().unwrap();
        assert!(color.len() == 7 && color.starts_with('#'), "{color}");
    }

    // Define: 201, then 200 for a change; colours are normalised, omitted fields kept.
    let (status, def) = api(
        &server.addr,
        "POST",
        "/api/v1/tags",
        Some(serde_json::json!({"tag": "team=red", "color": "#FF5555", "description": "red team"})),
    )
    .await;
    assert_eq!(
        (status, def["color"].as_str()),
        (201, Some("#ff5555")),
        "{def}"
    );
    let (status, def) = api(
        &server.addr,
        "POST",
        "/api/v1/tags",
        Some(serde_json::json!({"tag": "team=red"})),
    )
    .await;
    assert_eq!(status, 200, "{def}");
    assert_eq!(
        (def["color"].as_str(), def["description"].as_str()),
        (Some("#ff5555"), Some("red team"))
    );
    let (status, def) = api(
        &server.addr,
        "POST",
        "/api/v1/tags",
        Some(serde_json::json!({"tag": "unused-yet"})),
    )
    .await;
    assert_eq!(
        (status, def["tag"].as_str()),
        (201, Some("tag=unused-yet")),
        "{def}"
    );
    let unused = tag_row(&server, "tag=unused-yet").await.unwrap();
    assert_eq!(
        (unused["defined"].as_bool(), unused["events"].as_i64()),
        (Some(true), Some(0))
    );

    // Refusals name the field and change nothing.
    let bad = [
        (
            "POST",
            "/api/v1/tags",
            serde_json::json!({"tag": "team=red", "color": "red"}),
            400,
            "color",
        ),
        (
            "POST",
            "/api/v1/tags",
            serde_json::json!({"tag": "=x"}),
            400,
            "tag",
        ),
        (
            "POST",
            "/api/v1/tags",
            serde_json::json!({"tag": "a=b", "colour": "#000000"}),
            400,
            "body",
        ),
        (
            "PATCH",
            "/api/v1/tags/team/red",
            serde_json::json!({"rename_to": " Team = red "}),
            400,
            "rename_to",
        ),
        (
            "PATCH",
            "/api/v1/tags/team/red",
            serde_json::json!({"rename_to": "team="}),
            400,
            "rename_to",
        ),
        (
            "PATCH",
            "/api/v1/tags/team/red",
            serde_json::json!({"rename_to": "team=x", "color": "#12345"}),
            400,
            "color",
        ),
        (
            "PATCH",
            "/api/v1/tags/team/red",
            serde_json::json!({}),
            400,
            "body",
        ),
        (
            "PATCH",
            "/api/v1/tags/team/nosuch",
            serde_json::json!({"color": "#000000"}),
            404,
            "",
        ),
    ];
    for (method, path, body, status, param) in bad {
        assert_eq!(
            refused(&server, method, path, body.clone()).await,
            (status, param.to_owned()),
            "{method} {path} {body}"
        );
    }
    assert_eq!(totals(&server, "team=red").await, expected(&["team=red"]));
    assert!(tag_row(&server, "team=x").await.is_none());

    // Rename onto a tag one of the same events carries: merged, each event counted once, and
    // the definition (colour) comes along.
    let (status, out) = api(
        &server.addr,
        "PATCH",
        "/api/v1/tags/team/red",
        Some(serde_json::json!({"rename_to": "team=crimson"})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (
            out["renamed"]["events"].as_i64(),
            out["renamed"]["merged"].as_i64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(out["color"], "#ff5555");
    let union = expected(&["team=red", "team=crimson"]);
    assert_eq!(union, (4, 1_200_000));
    assert_eq!(totals(&server, "team=crimson").await, union);
    assert!(tag_row(&server, "team=red").await.is_none());
    let (_, by_tag) = api(
        &server.addr,
        "GET",
        &format!("/api/v1/analytics/breakdown?by=tag&tag_key=team&{RANGE}"),
        None,
    )
    .await;
    let rows = by_tag["rows"].as_array().unwrap();
    let crimson = rows.iter().find(|r| r["key"] == "crimson").unwrap();
    assert_eq!(
        (crimson["events"].as_i64(), crimson["cost_micros"].as_i64()),
        (Some(union.0), Some(union.1))
    );
    assert!(!rows.iter().any(|r| r["key"] == "red"), "{by_tag}");
    let (_, listed) = api(
        &server.addr,
        "GET",
        &format!("/api/v1/events?tag=team%3Dcrimson&{RANGE}"),
        None,
    )
    .await;
    assert_eq!(listed["events"].as_array().unwrap().len(), 4);

    // Recolour a tag seen only on events, then forget its definition: the events keep it.
    let (status, blue) = api(
        &server.addr,
        "PATCH",
        "/api/v1/tags/team/blue",
        Some(serde_json::json!({"color": "#00C8FF"})),
    )
    .await;
    assert_eq!(
        (status, blue["color"].as_str()),
        (200, Some("#00c8ff")),
        "{blue}"
    );
    assert_eq!(
        tag_row(&server, "team=blue").await.unwrap()["color"],
        "#00c8ff"
    );
    let (status, _) = api(&server.addr, "DELETE", "/api/v1/tags/team/blue", None).await;
    assert_eq!(status, 204);
    let (status, gone) = api(&server.addr, "DELETE", "/api/v1/tags/team/blue", None).await;
    assert_eq!(
        (status, gone["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let blue = tag_row(&server, "team=blue").await.unwrap();
    assert_eq!(
        (blue["defined"].as_bool(), blue["events"].as_i64()),
        (Some(false), Some(1))
    );

    // A value holding a slash is addressed percent-encoded.
    let (status, slash) = api(
        &server.addr,
        "PATCH",
        "/api/v1/tags/path/a%2Fb",
        Some(serde_json::json!({"rename_to": "path=c/d"})),
    )
    .await;
    assert_eq!(status, 200, "{slash}");
    assert_eq!(totals(&server, "path=c/d").await, expected(&["path=a/b"]));
}

/// Runs a CLI command that must fail; returns its stderr.
fn fails(db: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(crate::harness::BIN)
        .args(args)
        .args(["--db", db])
        .output()
        .unwrap();
    assert!(!out.status.success(), "tokenwatch {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_cli_defines_renames_colours_lists_and_forgets() {
    let (server, _dir) = seeded();
    let db = server.db.clone();
    let out = run_cli(
        &db,
        &["tag", "rename", "env=prod", "environment=production"],
    );
    assert_eq!(
        out.trim(),
        "renamed env=prod to environment=production on 1 events"
    );
    assert_eq!(
        totals(&server, "environment=production").await,
        expected(&["env=prod"])
    );
    // The renamed tag keeps the colour it showed before.
    let shown = run_cli(&db, &["tag", "list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&shown).unwrap();
    let prod = rows
        .iter()
        .find(|r| r["tag"] == "environment=production")
        .unwrap();
    assert_eq!(
        prod["color"].as_str(),
        Some(tokenwatch_core::tags::default_color("env", "prod"))
    );

    let out = run_cli(&db, &["tag", "color", "team=blue", "#ABCDEF"]);
    assert_eq!(out.trim(), "tag team=blue is now #abcdef");
    assert_eq!(
        tag_row(&server, "team=blue").await.unwrap()["color"],
        "#abcdef"
    );
    let out = run_cli(
        &db,
        &["tag", "define", "client-work", "--description", "billable"],
    );
    assert!(out.starts_with("defined tag tag=client-work (#"), "{out}");
    let table = run_cli(&db, &["tag", "list"]);
    assert!(
        table.contains("team=blue") && table.contains("#abcdef"),
        "{table}"
    );
    let out = run_cli(&db, &["tag", "undefine", "team=blue"]);
    assert!(out.contains("events keep the tag"), "{out}");

    let err = fails(&db, &["tag", "color", "team=blue", "blue"]);
    assert!(err.contains("color: 'blue' is not a colour"), "{err}");
    let err = fails(&db, &["tag", "rename", "team=blue", "team=blue"]);
    assert!(err.contains("already the tag's name"), "{err}");

    let help = std::process::Command::new(crate::harness::BIN)
        .args(["tag", "rename", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("tokenwatch tag rename team=red team=crimson"),
        "{help}"
    );
}
