//! Teams with `[auth] required`: every route declares its access and refuses strangers; one
//! tenant's token never sees another tenant's data; sessions, CSRF, throttling and revocation.

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use tokenwatch_app::teams::{Principal, Role};
use tokenwatch_server::auth::{ACCESS, Access, access};
use tokenwatch_store::Tenant;

use crate::harness::{Events, TestApp, now_ms, tagged};

const AUTH_CONFIG: &str = "[alerting]\ntz = \"UTC\"\n[auth]\nrequired = true\n";

/// Every route the router serves, as (method, path pattern): the API's from the checked-in
/// OpenAPI document (which a unit test keeps equal to `api.rs`), the others from the sources
/// of the modules that route them.
fn every_route() -> Vec<(String, String)> {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../src/api/openapi.json")).unwrap();
    let mut routes = Vec::new();
    for (path, entry) in doc["paths"].as_object().unwrap() {
        for method in entry.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    for source in [
        include_str!("../../src/web.rs"),
        include_str!("../../src/app.rs"),
    ] {
        for rest in source.split(".route(\"").skip(1) {
            let path = rest.split('"').next().unwrap();
            routes.push(("GET".to_owned(), path.to_owned()));
        }
    }
    routes
}

/// A concrete path for a pattern: parameters filled with values that exist nowhere.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{*view}", "overview")
        .replace("{*path}", "app.js")
        .replace("{key}/{value}", "team/alpha")
        .replace("{id}", "0190aaaa-0000-7000-8000-000000000000")
        .replace("{name}", "alpha-budget")
        .replace("{email}", "alpha@example.com")
        .replace("{provider}", "anthropic")
}

fn request(method: &str, path: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if method == "GET" || method == "DELETE" {
        b.body(Body::empty()).unwrap()
    } else {
        b.header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap()
    }
}

#[tokio::test]
async fn every_route_declares_its_access() {
    let routes = every_route();
    assert!(routes.len() > 60, "found only {}", routes.len());
    for (method, path) in &routes {
        assert!(
            access(&Method::from_bytes(method.as_bytes()).unwrap(), path).is_some(),
            "{method} {path} has no entry in auth::ACCESS"
        );
    }
    for (method, path, _) in ACCESS {
        assert!(
            routes.iter().any(|(m, p)| m == method && p == path),
            "auth::ACCESS names {method} {path}, which is not routed"
        );
    }
}

#[tokio::test]
async fn with_auth_required_nothing_answers_a_stranger() {
    let app = TestApp::start(AUTH_CONFIG).await;
    for (method, pattern) in every_route() {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let path = concrete(&pattern);
        let (status, headers, body) = app.send(request(&method, &path, None)).await;
        match access(&m, &pattern).unwrap() {
            Access::Public => assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}"),
            Access::Page => {
                assert_eq!(status, StatusCode::SEE_OTHER, "{method} {path}");
                let to = headers[header::LOCATION].to_str().unwrap();
                assert!(to.starts_with("/login?next=%2F"), "{method} {path}: {to}");
            }
            Access::Signed | Access::Role(_) => assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
        // A made-up token is refused the same way.
        let (status, _, _) = app
            .send(request(&method, &path, Some("twt_not-a-real-token")))
            .await;
        if !matches!(access(&m, &pattern).unwrap(), Access::Public | Access::Page) {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with a bad token"
            );
        }
    }
    // An API path no route matches is no hint either.
    let (status, _, _) = app.send(request("GET", "/api/v1/nothing-here", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.shutdown().await;
}

/// Two tenants, each with an admin token; alpha's rows carry markers that bravo must never see.
struct Two {
    app: TestApp,
    alpha: Tenant,
    alpha_admin: String,
    bravo_admin: String,
    bravo_viewer: String,
}

const MARKERS: &[&str] = &[
    "alpha-model",
    "alpha-project",
    "alpha-session",
    "alpha-tagvalue",
    "alpha-key-name",
    "alpha@example.com",
    "alpha-budget",
];

async fn two_tenants() -> Two {
    let app = TestApp::start(AUTH_CONFIG).await;
    let teams = app.teams();
    let op = Principal::cli();
    let alpha = teams.create_tenant(&op, "alpha").await.unwrap();
    let bravo = teams.create_tenant(&op, "bravo").await.unwrap();
    let alpha_admin = teams
        .create_token(&op, Some(&alpha.id), Role::Admin, None)
        .await
        .unwrap()
        .secret;
    let bravo_admin = teams
        .create_token(&op, Some(&bravo.id), Role::Admin, None)
        .await
        .unwrap()
        .secret;
    let bravo_viewer = teams
        .create_token(&op, Some(&bravo.id), Role::Viewer, None)
        .await
        .unwrap()
        .secret;
    let mut ev = Events::default();
    let mut e = tagged(
        ev.event(now_ms() - 60_000, "anthropic", "alpha-model", 10, 5, 1_000),
        &[("team", "alpha-tagvalue")],
    );
    e.tenant = Some(alpha.id.clone());
    e.project = Some("alpha-project".to_owned());
    e.session_id = Some("alpha-session".to_owned());
    let mut b = ev.event(now_ms() - 30_000, "anthropic", "bravo-model", 3, 2, 500);
    b.tenant = Some(bravo.id.clone());
    app.insert(&[e, b]).await;
    let a = Principal {
        actor: "test".to_owned(),
        tenant: Some(alpha.id.clone()),
        role: Role::Admin,
    };
    teams
        .create_key(
            &a,
            None,
            tokenwatch_app::teams::NewKey {
                name: Some("alpha-key-name".to_owned()),
                project: Some("alpha-project".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    teams
        .add_user(
            &a,
            None,
            "alpha@example.com",
            Role::Viewer,
            "a long password 1",
        )
        .await
        .unwrap();
    Two {
        app,
        alpha,
        alpha_admin,
        bravo_admin,
        bravo_viewer,
    }
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_rows_on_any_read() {
    let two = two_tenants().await;
    let app = &two.app;
    // Alpha's own token sees its markers where they belong (the markers are real).
    let (_, _, body) = app
        .send(request("GET", "/api/v1/events", Some(&two.alpha_admin)))
        .await;
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("alpha-model") && !text.contains("bravo-model"),
        "{text}"
    );
    let (_, _, body) = app
        .send(request("GET", "/api/v1/projects", Some(&two.alpha_admin)))
        .await;
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("alpha-project") && text.contains(r#""live_keys":1"#),
        "the key's project lists: {text}"
    );
    let mut checked = 0;
    for (method, pattern) in every_route() {
        if method != "GET" || pattern == "/api/v1/stream" {
            continue;
        }
        for token in [&two.bravo_admin, &two.bravo_viewer] {
            for suffix in [
                "",
                "?since=30d",
                "?since=30d&by=project",
                "?since=30d&tag_key=team",
                "?format=csv",
            ] {
                let path = format!("{}{suffix}", concrete(&pattern));
                let (status, _, body) = app.send(request("GET", &path, Some(token))).await;
                let text = String::from_utf8_lossy(&body);
                assert!(!status.is_server_error(), "GET {path}: {status} {text}");
                // A marker the path itself names may be echoed in a "not found".
                for marker in MARKERS.iter().filter(|m| !path.contains(**m)) {
                    assert!(
                        !text.contains(marker),
                        "GET {path} as bravo shows {marker}: {text}"
                    );
                }
                assert!(
                    !text.contains(&two.alpha.id),
                    "GET {path} as bravo names alpha's id"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
    // Reads that name alpha's rows directly are "not found".
    let (status, _, _) = app
        .send(request(
            "GET",
            "/api/v1/events/ev-0001",
            Some(&two.bravo_admin),
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app
        .send(request(
            "GET",
            "/api/v1/events/ev-0001",
            Some(&two.alpha_admin),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    two.app.shutdown().await;
}

#[tokio::test]
async fn roles_limit_what_a_token_may_change() {
    let two = two_tenants().await;
    let app = &two.app;
    let send = |method: &str, path: &str, token: &str, body: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let key = r#"{"name": "bravo-ci"}"#;
    let (status, _, _) = app
        .send(send("POST", "/api/v1/keys", &two.bravo_viewer, key))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer made a key");
    let (status, _, body) = app
        .send(send("POST", "/api/v1/keys", &two.bravo_admin, key))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let made: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(made["key"].as_str().unwrap().starts_with("twk_"));
    // Projects: an admin makes them, a viewer may not, a name is unique in its tenant.
    let project = r#"{"name": "bravo-web"}"#;
    let (status, _, _) = app
        .send(send("POST", "/api/v1/projects", &two.bravo_viewer, project))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer made a project");
    let (status, _, _) = app
        .send(send("POST", "/api/v1/projects", &two.bravo_admin, project))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = app
        .send(send("POST", "/api/v1/projects", &two.bravo_admin, project))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the same project twice");
    // Naming another tenant is "not found", never a way in.
    let other = format!(r#"{{"name": "x", "tenant": "{}"}}"#, two.alpha.id);
    let (status, _, _) = app
        .send(send("POST", "/api/v1/projects", &two.bravo_admin, &other))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app
        .send(send("POST", "/api/v1/keys", &two.bravo_admin, &other))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Only an operator makes tenants; an admin cannot mint an operator token.
    let (status, _, _) = app
        .send(send(
            "POST",
            "/api/v1/tenants",
            &two.bravo_admin,
            r#"{"name": "charlie"}"#,
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = app
        .send(send(
            "POST",
            "/api/v1/tokens",
            &two.bravo_admin,
            r#"{"role": "operator"}"#,
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Revoking a token refuses it on the very next request.
    let (_, _, body) = app
        .send(send(
            "POST",
            "/api/v1/tokens",
            &two.bravo_admin,
            r#"{"role": "viewer"}"#,
        ))
        .await;
    let token: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let secret = token["token"].as_str().unwrap();
    let (status, _, _) = app
        .send(request("GET", "/api/v1/events", Some(secret)))
        .await;
    assert_eq!(status, StatusCode::OK);
    let revoke = format!("/api/v1/tokens/{}/revoke", token["id"].as_str().unwrap());
    let (status, _, _) = app
        .send(send("POST", &revoke, &two.bravo_admin, "{}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = app
        .send(request("GET", "/api/v1/events", Some(secret)))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The audit log shows bravo's own actions only.
    let (_, _, body) = app
        .send(request("GET", "/api/v1/audit", Some(&two.bravo_admin)))
        .await;
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("key.create") && text.contains("token.revoke"),
        "{text}"
    );
    assert!(
        !text.contains("alpha-key-name") && !text.contains("alpha@example.com"),
        "{text}"
    );
    assert!(
        !text.contains(made["key"].as_str().unwrap()),
        "the key is in the audit log"
    );
    two.app.shutdown().await;
}

fn login_request(email: &str, password: &str) -> Request<Body> {
    Request::post("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap()
}

#[tokio::test]
async fn a_session_cookie_needs_its_csrf_token_to_change_anything_and_ends_at_logout() {
    let two = two_tenants().await;
    let app = &two.app;
    let (status, headers, body) = app
        .send(login_request("alpha@example.com", "a long password 1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let set = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let me: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(me["role"], "viewer");
    let with_cookie = |method: &str, path: &str, csrf: Option<&str>| {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(c) = csrf {
            b = b.header("x-csrf-token", c);
        }
        b.body(Body::from("{}")).unwrap()
    };
    let (status, _, _) = app.send(with_cookie("GET", "/api/v1/events", None)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = app.send(with_cookie("GET", "/ui/overview", None)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = app
        .send(with_cookie("POST", "/api/v1/auth/logout", None))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a write without the CSRF token passed"
    );
    let (status, _, _) = app
        .send(with_cookie("POST", "/api/v1/auth/logout", Some("wrong")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = app
        .send(with_cookie("POST", "/api/v1/auth/logout", Some(&csrf)))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = app.send(with_cookie("GET", "/api/v1/events", None)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session outlived logout"
    );
    two.app.shutdown().await;
}

#[tokio::test]
async fn twenty_wrong_passwords_in_a_row_are_throttled_even_for_the_right_one() {
    let two = two_tenants().await;
    let app = &two.app;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (status, _, _) = app
            .send(login_request("alpha@example.com", "wrong password!"))
            .await;
        statuses.push(status);
    }
    assert!(
        statuses[..5].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[5..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let (status, headers, _) = app
        .send(login_request("alpha@example.com", "a long password 1"))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key(header::RETRY_AFTER));
    // Another account is not locked out by it.
    let (status, _, _) = app
        .send(login_request("nobody@example.com", "whatever it is"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    two.app.shutdown().await;
}

#[tokio::test]
async fn definition_changes_tag_renames_and_retags_are_audited_without_secrets() {
    let app = TestApp::new().await;
    let mut ev = Events::default();
    app.insert(&[tagged(
        ev.event(now_ms() - 1000, "anthropic", "m", 1, 1, 10),
        &[("team", "old")],
    )])
    .await;
    let budget = serde_json::json!({"name": "cap", "period": "month", "limit_usd": "5"});
    assert_eq!(
        app.post_json("/api/v1/budgets", &budget).await.0,
        StatusCode::CREATED
    );
    let hook = serde_json::json!({"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/h", "secret": "hook-SECRET-value"});
    assert_eq!(
        app.post_json("/api/v1/channels", &hook).await.0,
        StatusCode::CREATED
    );
    let rename = serde_json::json!({"rename_to": "team=new"});
    assert_eq!(
        app.patch_json("/api/v1/tags/team/old", &rename).await.0,
        StatusCode::OK
    );
    let retag = serde_json::json!({"filter": {"model": "m"}, "add": ["env=prod"]});
    assert_eq!(
        app.post_json("/api/v1/retag", &retag).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.delete("/api/v1/budgets/cap").await.0,
        StatusCode::NO_CONTENT
    );
    let audit = app.get_ok("/api/v1/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for wanted in [
        "budget.put",
        "channel.put",
        "tag.rename",
        "retag",
        "budget.delete",
    ] {
        assert!(actions.contains(&wanted), "{wanted} not in {actions:?}");
    }
    let deleted = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "budget.delete")
        .unwrap();
    assert_eq!(deleted["before"]["name"], "cap", "{deleted}");
    assert_eq!(deleted["actor"], "local");
    assert!(!audit.to_string().contains("hook-SECRET-value"), "{audit}");
    app.shutdown().await;
}

#[tokio::test]
async fn each_tenant_defines_its_own_tag_rules_alert_rules_and_channels() {
    let two = two_tenants().await;
    let app = &two.app;
    let post = |path: &str, token: &str, body: serde_json::Value| {
        Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let rule =
        serde_json::json!({"name": "r", "field": "model", "pattern": ".*", "tag": "owner=bravo"});
    let (status, _, body) = app
        .send(post("/api/v1/tag-rules", &two.bravo_admin, rule))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let hook =
        serde_json::json!({"name": "bravo-hook", "kind": "webhook", "url": "http://127.0.0.1:9/h"});
    let (status, _, _) = app
        .send(post("/api/v1/channels", &two.bravo_admin, hook))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Bravo sees its own; alpha sees neither.
    for (token, expect) in [(&two.bravo_admin, true), (&two.alpha_admin, false)] {
        for path in ["/api/v1/tag-rules", "/api/v1/channels"] {
            let (_, _, body) = app.send(request("GET", path, Some(token))).await;
            let text = String::from_utf8_lossy(&body);
            assert_eq!(
                text.contains("owner=bravo") || text.contains("bravo-hook"),
                expect,
                "{path}: {text}"
            );
        }
    }
    // The rule tags bravo's requests only.
    let policy = app.policy();
    let bravo_id = app
        .teams()
        .resolve_tenant(&Principal::cli(), Some("bravo"))
        .await
        .unwrap()
        .id;
    let admitted = |tenant: Option<String>| {
        let mut meta = tokenwatch_app::attribution::RequestMeta {
            tenant,
            ..Default::default()
        };
        policy
            .admit(
                "anthropic",
                Some("m"),
                "/v1/messages",
                &http::HeaderMap::new(),
                &mut meta,
                now_ms(),
            )
            .unwrap();
        meta.tags
    };
    assert_eq!(
        admitted(Some(bravo_id)),
        [("owner".to_owned(), "bravo".to_owned())]
    );
    assert!(admitted(Some(two.alpha.id.clone())).is_empty());
    assert!(
        admitted(None).is_empty(),
        "the default tenant got bravo's rule"
    );
    two.app.shutdown().await;
}

#[tokio::test]
async fn a_member_revokes_only_the_keys_it_made() {
    let two = two_tenants().await;
    let app = &two.app;
    let op = Principal::cli();
    let teams = app.teams();
    let bravo = teams.resolve_tenant(&op, Some("bravo")).await.unwrap();
    let mut members = Vec::new();
    for _ in 0..2 {
        let t = teams
            .create_token(&op, Some(&bravo.id), Role::Member, None)
            .await
            .unwrap();
        members.push(t.secret);
    }
    let send = |method: &str, path: &str, token: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap()
    };
    let (status, _, body) = app.send(send("POST", "/api/v1/keys", &members[0])).await;
    assert_eq!(status, StatusCode::CREATED);
    let made: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = made["id"].as_str().unwrap();
    assert!(made["created_by"].as_str().unwrap().starts_with("token:"));
    for action in ["revoke", "rotate"] {
        let path = format!("/api/v1/keys/{id}/{action}");
        let (status, _, _) = app.send(send("POST", &path, &members[1])).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "another member may {action} it"
        );
    }
    let (status, _, _) = app
        .send(send(
            "POST",
            &format!("/api/v1/keys/{id}/rotate"),
            &members[0],
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "its maker may rotate it");
    let (status, _, _) = app
        .send(send(
            "POST",
            &format!("/api/v1/keys/{id}/revoke"),
            &two.bravo_admin,
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "an admin may revoke any key of its tenant"
    );
    two.app.shutdown().await;
}
