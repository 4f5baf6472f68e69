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

    /// Every `.route("…", …)` in `api.rs`: its path under `/api/v1` and the HTTP methods its
    /// method router names (`get(`, `post(`, `delete(`, `put(`, `patch(`).
    fn router_routes() -> Vec<(String, Vec<&'static str>)> {
        let source = include_str!("../api.rs");
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

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let routes = router_routes();
        assert!(routes.len() >= 25, "found only {routes:?}");
        for (route, methods) in &routes {
            let entry = paths
                .get(route)
                .unwrap_or_else(|| panic!("{route} is not in openapi.json"));
            assert!(!methods.is_empty(), "{route}: no method found in api.rs");
            for m in methods {
                assert!(
                    entry.get(*m).is_some(),
                    "{route} has no {m} in openapi.json"
                );
            }
            let documented = entry.as_object().unwrap().len();
            assert_eq!(
                documented,
                methods.len(),
                "{route}: openapi.json documents other methods than {methods:?}"
            );
        }
        let mut routed: Vec<&String> = routes.iter().map(|(p, _)| p).collect();
        let mut documented: Vec<&String> = paths.keys().collect();
        routed.sort();
        documented.sort();
        assert_eq!(routed, documented);
    }
}
