//! The doors (`tokenwatch_server::doors`) in front of the real router: an unknown `Host` is
//! refused on every route, and an API write from a foreign page or without JSON is refused
//! before it changes anything.

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::harness::{DEFAULT_CONFIG, TestApp};

/// `method path` with the given headers and body; the answer's status and JSON body.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(header::HeaderName, &str)],
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let request = request.body(Body::from(body.to_owned())).unwrap();
    let (status, _, bytes) = app.send(request).await;
    let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, value)
}

/// The number of defined tags.
async fn defined_tags(app: &TestApp) -> usize {
    app.get_ok("/api/v1/tags").await["tags"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_unknown_host_is_refused_on_every_route() {
    let config = format!("{DEFAULT_CONFIG}\n[server]\nallowed_hosts = [\"tw.lan\"]\n");
    let app = TestApp::start(&config).await;
    for path in ["/api/v1/events", "/api/v1/openapi.json", "/healthz", "/"] {
        let (status, body) = raw(
            &app,
            Method::GET,
            path,
            &[(header::HOST, "attacker.example:4100")],
            "",
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "host_not_allowed", "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("'attacker.example:4100'"), "{message}");
        assert!(message.contains("server.allowed_hosts"), "{message}");
    }
    // The proxy refuses it too, in the provider's own error shape.
    let (status, body) = raw(
        &app,
        Method::GET,
        "/anthropic/v1/models",
        &[(header::HOST, "attacker.example:4100")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["type"], "error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'attacker.example:4100'"),
        "{body}"
    );
    // A name that only starts like an allowed one is still foreign.
    let (status, _) = raw(
        &app,
        Method::GET,
        "/api/v1/events",
        &[(header::HOST, "localhost.attacker.example")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for host in [
        "localhost",
        "localhost:4100",
        "127.0.0.1:4100",
        "[::1]:4100",
        "TW.LAN:4100",
        "127.0.0.1",
    ] {
        let (status, body) = raw(
            &app,
            Method::GET,
            "/api/v1/events",
            &[(header::HOST, host)],
            "",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_write_from_a_foreign_page_is_refused() {
    let config = format!("{DEFAULT_CONFIG}\n[server]\nallowed_hosts = [\"tw.lan\"]\n");
    let app = TestApp::start(&config).await;
    let json_type = (header::CONTENT_TYPE, "application/json");
    let tag = r#"{"tag": "team=red"}"#;
    for origin in [
        "http://attacker.example",
        "null",
        "http://localhost.attacker.example",
    ] {
        let (status, body) = raw(
            &app,
            Method::POST,
            "/api/v1/tags",
            &[(header::ORIGIN, origin), json_type.clone()],
            tag,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}: {body}");
        assert_eq!(body["error"]["code"], "foreign_origin", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("POST /api/v1/tags"),
            "{body}"
        );
    }
    assert_eq!(defined_tags(&app).await, 0, "nothing was written");
    // Deletes and patches are writes too: refused before the handler could answer 404.
    for method in [Method::DELETE, Method::PATCH] {
        let (status, body) = raw(
            &app,
            method.clone(),
            "/api/v1/tags/team/red",
            &[(header::ORIGIN, "http://attacker.example")],
            "",
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}: {body}");
    }
    // Reads from any page are answered (the page cannot see them across origins).
    let (status, _) = raw(
        &app,
        Method::GET,
        "/api/v1/tags",
        &[(header::ORIGIN, "http://attacker.example")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The dashboard's own origin, and an allowed host's, may write.
    for (origin, name) in [("http://localhost:4100", "a"), ("https://tw.lan", "b")] {
        let (status, body) = raw(
            &app,
            Method::POST,
            "/api/v1/tags",
            &[(header::ORIGIN, origin), json_type.clone()],
            &json!({ "tag": name }).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{origin}: {body}");
    }
    assert_eq!(defined_tags(&app).await, 2);
    app.shutdown().await;
}

#[tokio::test]
async fn a_write_without_json_is_refused() {
    let app = TestApp::new().await;
    let tag = r#"{"tag": "team=red"}"#;
    let length = tag.len().to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut headers = vec![(header::CONTENT_LENGTH, length.as_str())];
        if let Some(t) = content_type {
            headers.push((header::CONTENT_TYPE, t));
        }
        let (status, body) = raw(&app, Method::POST, "/api/v1/tags", &headers, tag).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {body}"
        );
        assert_eq!(body["error"]["code"], "json_required", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Content-Type: application/json"),
            "{body}"
        );
    }
    assert_eq!(defined_tags(&app).await, 0, "nothing was written");
    let (status, body) = raw(
        &app,
        Method::POST,
        "/api/v1/tags",
        &[
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CONTENT_LENGTH, length.as_str()),
        ],
        tag,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A write without a body needs no type.
    let (status, body) = raw(
        &app,
        Method::POST,
        "/api/v1/alerts/ack",
        &[(header::CONTENT_LENGTH, "0")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.shutdown().await;
}
