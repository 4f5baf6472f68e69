//! `/api/v1/tags`: define, list with totals, rename/recolour, forget; bad fields are named.

use http::StatusCode;
use serde_json::json;

use crate::harness::{Events, TestApp, assert_bad_param, ids, now_ms, tagged};

/// Three events in the last hour: two tagged team=red (3 000 nano-USD, 330 tokens in all), one
/// tagged team=blue.
async fn with_tagged_events() -> TestApp {
    let app = TestApp::new().await;
    let mut ev = Events::default();
    let t = now_ms() - 3_600_000;
    app.insert(&[
        tagged(
            ev.event(t, "anthropic", "claude-sonnet-4-5", 100, 10, 1_000),
            &[("team", "red")],
        ),
        tagged(
            ev.event(t + 1_000, "anthropic", "claude-sonnet-4-5", 200, 20, 2_000),
            &[("team", "red")],
        ),
        tagged(
            ev.event(t + 2_000, "openai", "gpt-4o", 400, 40, 4_000),
            &[("team", "blue")],
        ),
    ])
    .await;
    app
}

/// The row of `tag` in `GET /api/v1/tags`.
async fn row(app: &TestApp, tag: &str) -> Option<serde_json::Value> {
    let body = app.get_ok("/api/v1/tags").await;
    body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tag"] == tag)
        .cloned()
}

#[tokio::test]
async fn define_list_recolour_and_forget() {
    let app = with_tagged_events().await;
    // Used but not defined: listed with its totals and a default colour.
    let red = row(&app, "team=red").await.unwrap();
    assert_eq!(red["defined"], false);
    assert_eq!(red["events"], 2);
    assert_eq!(red["total_tokens"], 330);
    assert_eq!(red["cost_nanos"], 3_000);

    let (status, created) = app
        .post_json(
            "/api/v1/tags",
            &json!({"tag": "Team=red", "color": "#FF0000", "description": "  The red team "}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["tag"], "team=red", "keys are lower-case");
    assert_eq!(created["color"], "#ff0000");
    assert_eq!(created["description"], "The red team");

    let red = row(&app, "team=red").await.unwrap();
    assert_eq!(
        (&red["defined"], &red["color"], &red["events"]),
        (&json!(true), &json!("#ff0000"), &json!(2))
    );
    assert_eq!(red["description"], "The red team");
    // Defining again changes what is given and keeps the rest: 200, not 201.
    let (status, again) = app
        .post_json(
            "/api/v1/tags",
            &json!({"tag": "team=red", "color": "#00ff00"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["color"], "#00ff00");
    assert_eq!(again["description"], "The red team");
    // A defined tag without events is listed too.
    let (status, _) = app.post_json("/api/v1/tags", &json!({"tag": "idle"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let idle = row(&app, "tag=idle").await.unwrap();
    assert_eq!(
        (&idle["defined"], &idle["events"]),
        (&json!(true), &json!(0))
    );

    let (status, patched) = app
        .patch_json(
            "/api/v1/tags/team/red",
            &json!({"color": "#0000FF", "description": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["color"], "#0000ff");
    assert_eq!(patched["description"], serde_json::Value::Null);
    assert!(patched.get("renamed").is_none(), "{patched}");

    // The key is case-insensitive here as when defining (`Team=Red` was stored as `team=Red`).
    let (status, body) = app.delete("/api/v1/tags/TEAM/red").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let red = row(&app, "team=red").await.unwrap();
    assert_eq!(red["defined"], false, "forgotten, still on its events");
    assert_eq!(red["events"], 2);
    let (status, body) = app.delete("/api/v1/tags/team/red").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team=red"),
        "{body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_rename_moves_every_event_and_the_colour() {
    let app = with_tagged_events().await;
    app.post_json(
        "/api/v1/tags",
        &json!({"tag": "team=red", "color": "#aa0000"}),
    )
    .await;
    let (status, renamed) = app
        .patch_json(
            "/api/v1/tags/team/red",
            &json!({"rename_to": "team=crimson"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["tag"], "team=crimson");
    assert_eq!(renamed["color"], "#aa0000");
    assert_eq!(
        renamed["renamed"],
        json!({"from": "team=red", "events": 2, "merged": 0})
    );
    let crimson = ids(&app.get_ok("/api/v1/events?tag=team%3Dcrimson").await);
    assert_eq!(crimson, ["ev-0002", "ev-0001"]);
    assert!(
        ids(&app.get_ok("/api/v1/events?tag=team%3Dred").await).is_empty(),
        "the old name is gone from every event"
    );
    assert!(row(&app, "team=red").await.is_none());
    // Renaming onto a name some events already carry merges them.
    let (status, merged) = app
        .patch_json(
            "/api/v1/tags/team/crimson",
            &json!({"rename_to": "team=blue"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["renamed"]["events"], 2);
    let blue = row(&app, "team=blue").await.unwrap();
    assert_eq!(
        (&blue["events"], &blue["cost_nanos"]),
        (&json!(3), &json!(7_000))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn bad_fields_are_named_and_change_nothing() {
    let app = with_tagged_events().await;
    for (body, param) in [
        (json!({"tag": "  "}), "tag"),
        (json!({"tag": "team="}), "tag"),
        (json!({"tag": "team=red", "color": "red"}), "color"),
        (json!({"tag": "team=red", "color": "#12345"}), "color"),
        (
            json!({"tag": "team=red", "description": "x".repeat(10_000)}),
            "description",
        ),
    ] {
        let (status, err) = app.post_json("/api/v1/tags", &body).await;
        assert_bad_param(status, &err, param);
    }
    // A field the body does not have is named, with the one meant.
    let (status, err) = app
        .post_json(
            "/api/v1/tags",
            &json!({"tag": "team=red", "colour": "#000000"}),
        )
        .await;
    assert_bad_param(status, &err, "body");
    assert_eq!(err["error"]["fields"][0]["field"], "colour", "{err}");
    let (status, err) = app.post_json("/api/v1/tags", &json!({})).await;
    assert_bad_param(status, &err, "body");
    assert_eq!(err["error"]["fields"][0]["field"], "tag", "{err}");

    for (body, param) in [
        (json!({}), "body"),
        (json!({"color": "blue"}), "color"),
        (json!({"rename_to": "team="}), "rename_to"),
        (json!({"rename_to": "team=red"}), "rename_to"),
        // A bad colour is refused before the rename is made.
        (
            json!({"rename_to": "team=green", "color": "green"}),
            "color",
        ),
    ] {
        let (status, err) = app.patch_json("/api/v1/tags/team/red", &body).await;
        assert_bad_param(status, &err, param);
    }
    let (status, err) = app
        .patch_json("/api/v1/tags/team/purple", &json!({"color": "#123456"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");

    let red = row(&app, "team=red").await.unwrap();
    assert_eq!(
        (&red["defined"], &red["events"]),
        (&json!(false), &json!(2))
    );
    assert!(row(&app, "team=green").await.is_none());
    app.shutdown().await;
}
