//! `GET /api/v1/openapi.json`: served as JSON, listing every route of the router in `api.rs`
//! with its methods; and every documented read is really routed.

use axum::body::Body;
use http::{Request, StatusCode, header};

use crate::harness::TestApp;

/// Every `.route("…", …)` in `api.rs`: its path under `/api/v1` and the methods it names.
fn router_routes() -> Vec<(String, Vec<&'static str>)> {
    let source = include_str!("../../src/api.rs");
    source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start().strip_prefix('"')?;
            let (path, handlers) = rest.split_once('"')?;
            let methods = ["get", "post", "delete", "put", "patch"]
                .into_iter()
                .filter(|m| handlers.contains(&format!("{m}(")))
                .collect();
            Some((format!("/api/v1{path}"), methods))
        })
        .collect()
}

async fn document(app: &TestApp) -> serde_json::Value {
    let request = Request::get("/api/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn the_document_lists_every_route_and_method() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let routes = router_routes();
    assert!(routes.len() >= 25, "found only {routes:?}");
    for (route, methods) in &routes {
        let entry = paths
            .get(route)
            .unwrap_or_else(|| panic!("{route} is not in the served openapi.json"));
        assert!(!methods.is_empty(), "{route}: no method found in api.rs");
        let mut documented: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.retain(|k| ["get", "post", "delete", "put", "patch"].contains(k));
        documented.sort_unstable();
        let mut expected = methods.clone();
        expected.sort_unstable();
        assert_eq!(documented, expected, "{route}");
    }
    let mut routed: Vec<&str> = routes.iter().map(|(p, _)| p.as_str()).collect();
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    routed.sort_unstable();
    documented.sort_unstable();
    assert_eq!(routed, documented);
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
