//! The embedded dashboard: `web/` compiled into the binary, served at `/` (the app), `/ui/…`
//! (the app's own views, so a bookmarked or reloaded view loads the app: the SPA fallback) and
//! `/assets/…` (its files), and the sign-in page at `/login`.
//!
//! Only these prefixes belong to the dashboard, so every other path still reaches the proxy
//! fallback (`/anthropic/…`, `/v1/…`), and `/api/v1/…` routes are matched before any of these.
//! The files are a fixed list included with `include_bytes!`: no build step, no directory walk
//! at run time, and a test that fails when a file in `web/` is missing from the list.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

use crate::app::AppState;

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// The page every dashboard URL loads.
pub const INDEX: &[u8] = include_bytes!("../../../web/index.html");

/// The sign-in page (when `[auth] required`).
pub const LOGIN: &[u8] = include_bytes!("../../../web/login.html");

/// Every file under `web/` except `index.html`, served at `/assets/<path>`.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/app.js"),
    },
    Asset {
        path: "charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/charts.js"),
    },
    Asset {
        path: "view-overview.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-overview.js"),
    },
    Asset {
        path: "view-analytics.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-analytics.js"),
    },
    Asset {
        path: "view-requests.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-requests.js"),
    },
    Asset {
        path: "view-sessions.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-sessions.js"),
    },
    Asset {
        path: "view-session.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-session.js"),
    },
    Asset {
        path: "view-advice.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-advice.js"),
    },
    Asset {
        path: "view-accounts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-accounts.js"),
    },
    Asset {
        path: "view-alert-rules.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-alert-rules.js"),
    },
    Asset {
        path: "view-tags.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-tags.js"),
    },
    Asset {
        path: "view-team.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-team.js"),
    },
    Asset {
        path: "view-team-admin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-team-admin.js"),
    },
    Asset {
        path: "view-team-audit.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/view-team-audit.js"),
    },
    Asset {
        path: "login.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/login.js"),
    },
    Asset {
        path: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../web/app.css"),
    },
    Asset {
        path: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../../web/favicon.svg"),
    },
];

/// Scripts and styles only from this origin; data only from this origin's API.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*view}", get(index))
        .route("/assets/{*path}", get(asset))
        .route("/login", get(login))
}

fn with_headers(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Not content-hashed, so never cached stale across an upgrade.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

async fn index() -> Response {
    with_headers("text/html; charset=utf-8", INDEX)
}

async fn login() -> Response {
    with_headers("text/html; charset=utf-8", LOGIN)
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => with_headers(a.content_type, a.body),
        None => (StatusCode::NOT_FOUND, "no such dashboard file\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_web_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "index.html" && n != "login.html")
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        let index = std::str::from_utf8(INDEX).unwrap();
        let login = std::str::from_utf8(LOGIN).unwrap();
        for a in ASSETS
            .iter()
            .filter(|a| a.path.ends_with(".js") || a.path.ends_with(".css"))
        {
            let page = if a.path == "login.js" { login } else { index };
            assert!(
                page.contains(&format!("/assets/{}", a.path)),
                "the page does not load {}",
                a.path
            );
        }
    }
}
