//! `GET /api/v1/openapi.json`: the hand-written OpenAPI 3.1 document of this API.
//!
//! Kept beside the router; a test reads `api.rs`'s route list and fails when a route is missing
//! from the document or the document lists a route the router does not have.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

/// The document, verbatim.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> Response {
    let mut response = DOCUMENT.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths of every `.route("…", …)` in `api.rs`, as mounted under `/api/v1`.
    fn router_paths() -> Vec<String> {
        let source = include_str!("../api.rs");
        source
            .split(".route(\"")
            .skip(1)
            .filter_map(|rest| {
                rest.split_once('"')
                    .map(|(path, _)| format!("/api/v1{path}"))
            })
            .collect()
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut routes = router_paths();
        assert!(routes.len() >= 15, "found only {routes:?}");
        for route in &routes {
            let entry = paths
                .get(route)
                .unwrap_or_else(|| panic!("{route} is not in openapi.json"));
            assert!(
                entry.get("get").is_some(),
                "{route} has no GET in openapi.json"
            );
        }
        let mut documented: Vec<String> = paths.keys().cloned().collect();
        routes.sort();
        documented.sort();
        assert_eq!(routes, documented);
    }
}
