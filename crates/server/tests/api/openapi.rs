//! `GET /api/v1/openapi.json`: the checked-in document, served as JSON; and every documented
//! read is really routed.

use axum::body::Body;
use http::{Request, StatusCode, header};

use crate::harness::TestApp;

async fn document(app: &TestApp) -> serde_json::Value {
    let request = Request::get("/api/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    serde_json::from_slice(&body).unwrap()
}

/// The served document is the checked-in one (whose routes the unit test in `api/openapi.rs`
/// compares with the router), as OpenAPI 3.1 JSON.
#[tokio::test]
async fn the_served_document_is_the_checked_in_one() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../src/api/openapi.json")).unwrap();
    assert_eq!(doc, file);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn every_documented_read_is_routed() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let mut read = 0;
    for (path, entry) in doc["paths"].as_object().unwrap() {
        if entry.get("get").is_none() {
            continue;
        }
        read += 1;
        if path.starts_with("/api/v1/auth/oidc/") {
            // Sign-in steps, not reads: without [auth.oidc] the start is the API's 404 and the
            // callback sends the browser back to the sign-in page with the reason.
            let request = Request::get(path.as_str()).body(Body::empty()).unwrap();
            let (status, headers, _) = app.send(request).await;
            assert!(
                status == StatusCode::NOT_FOUND
                    || headers[header::LOCATION]
                        .to_str()
                        .unwrap()
                        .starts_with("/login?error="),
                "{path}: {status}"
            );
            continue;
        }
        if path == "/api/v1/stream" {
            // Server-sent events: the answer starts and does not end.
            let request = Request::get(path.as_str()).body(Body::empty()).unwrap();
            let response = app.respond(request).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "text/event-stream",
                "{path}"
            );
            continue;
        }
        if path.contains('{') {
            // A name nothing has: the API's own 404, not the proxy's.
            let concrete: String = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "nothing-here"
                    } else {
                        s
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let (status, body) = app.get(&concrete).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{concrete}: {body}");
            assert_eq!(body["error"]["code"], "not_found", "{concrete}: {body}");
            continue;
        }
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.is_object(), "{path}: {body}");
    }
    assert!(read >= 20, "only {read} documented reads");
    app.shutdown().await;
}

#[tokio::test]
async fn an_unknown_api_path_gets_the_apis_own_404() {
    let app = TestApp::new().await;
    for path in ["/api/v1/nothing", "/api/v1/events/", "/api/v1/budgets/x/y"] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(path), "{path}: {message}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_row_limit_out_of_range_is_refused_everywhere_alike() {
    let app = TestApp::new().await;
    for path in [
        "/api/v1/events?limit=0",
        "/api/v1/analytics/breakdown?limit=0",
        "/api/v1/sessions?limit=0",
        "/api/v1/analytics/breakdown?limit=10001",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("limit"),
            "{path}: {body}"
        );
    }
    let (status, body) = app.get("/api/v1/analytics/breakdown?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_tag_list_refuses_parameters_it_would_ignore() {
    let app = TestApp::new().await;
    for param in ["bucket=day", "by=model", "tag_key=team", "limit=5"] {
        let path = format!("/api/v1/tags?{param}");
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let name = param.split('=').next().unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().starts_with(name),
            "{path}: {body}"
        );
    }
    let (status, body) = app.get("/api/v1/tags?since=7d").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.shutdown().await;
}
