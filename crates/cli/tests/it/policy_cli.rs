//! `tokenwatch budget|alert` against a database: definitions round-trip, errors name the bad
//! value, secrets never print.

use std::process::Command;

use crate::harness::{BIN, run_cli};

fn fails(db: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(["--db", db])
        .output()
        .unwrap();
    assert!(!out.status.success(), "tokenwatch {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn budgets_rules_and_channels_round_trip_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tw.db").display().to_string();
    let out = run_cli(
        &db,
        &[
            "budget",
            "set",
            "opus-day",
            "--scope",
            "model:claude-opus-4-1",
            "--limit",
            "10.5",
            "--period",
            "day",
            "--hard",
            "--alert-at",
            "75,100",
            "--tokens",
            "1000000",
        ],
    );
    assert_eq!(
        out.trim(),
        "created budget 'opus-day': $10.50 per day for model:claude-opus-4-1 (hard: over-limit requests are refused)"
    );
    let out = run_cli(&db, &["budget", "list", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let b = &doc["budgets"][0]["budget"];
    assert_eq!(
        (
            b["limit_usd"].as_str(),
            b["alert_at"].clone(),
            b["token_limit"].as_i64()
        ),
        (
            Some("10.500000"),
            serde_json::json!([75, 100]),
            Some(1_000_000)
        )
    );
    assert_eq!(doc["budgets"][0]["spent_usd"], "0.000000");
    assert!(
        fails(
            &db,
            &[
                "budget",
                "set",
                "x",
                "--limit",
                "1",
                "--period",
                "fortnight"
            ]
        )
        .contains("--period 'fortnight' must be day, week, month or rolling:<duration>")
    );
    assert!(fails(&db, &["budget", "set", "x", "--limit", "lots"]).contains("--limit"));
    assert_eq!(
        run_cli(&db, &["budget", "rm", "opus-day"]).trim(),
        "deleted budget 'opus-day'"
    );
    assert!(fails(&db, &["budget", "rm", "opus-day"]).contains("no budget named 'opus-day'"));

    run_cli(
        &db,
        &[
            "alert",
            "set-rule",
            r#"{"name":"hot","kind":"cost_above","window":"1h","threshold_usd":"5"}"#,
        ],
    );
    let rules: serde_json::Value =
        serde_json::from_str(&run_cli(&db, &["alert", "rules"])).unwrap();
    assert_eq!(rules[0]["threshold_usd"], "5.000000");
    assert!(
        fails(
            &db,
            &["alert", "set-rule", r#"{"name":"t","kind":"tokens_above"}"#]
        )
        .contains("kind tokens_above needs threshold")
    );
    run_cli(
        &db,
        &[
            "alert",
            "set-channel",
            r#"{"name":"mail","kind":"email","smtp_host":"smtp.test","password":"PW-SECRET","from":"a@x.test","to":["b@x.test"]}"#,
        ],
    );
    let shown = run_cli(&db, &["alert", "channels"]);
    assert!(
        shown.contains("<redacted>") && !shown.contains("PW-SECRET"),
        "{shown}"
    );
    let err = fails(
        &db,
        &[
            "alert",
            "set-channel",
            r#"{"name":"m","kind":"email","password":"PW-SECRET","oops":1}"#,
        ],
    );
    assert!(!err.contains("PW-SECRET"), "{err}");
    assert_eq!(run_cli(&db, &["alert", "list"]).trim(), "no alerts");
    assert!(fails(&db, &["alert", "ack"]).contains("give an alert id, or --all"));
    assert_eq!(
        run_cli(&db, &["alert", "rm-rule", "hot"]).trim(),
        "deleted alert rule 'hot'"
    );
}
