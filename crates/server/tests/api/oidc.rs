//! OIDC sign-in against a minimal local issuer (discovery, keys and a token endpoint on real
//! loopback HTTP; the browser's approval at the authorization endpoint is played by the test):
//! the code flow with PKCE gives a session; a replayed state, a token signed with another key,
//! a wrong nonce or an unknown person does not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use http::{Request, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::Digest;

use crate::harness::TestApp;

/// What the issuer knows: codes it handed out (with the PKCE challenge and nonce of their
/// sign-in), and how it signs.
#[derive(Default)]
struct Issuer {
    base: String,
    codes: HashMap<String, (String, String, String)>,
    /// Sign with the key the JWKS does not publish.
    wrong_key: bool,
    /// Put this nonce in the ID token instead of the sign-in's.
    nonce_override: Option<String>,
}

type Shared = Arc<Mutex<Issuer>>;

async fn discovery(State(s): State<Shared>) -> Json<serde_json::Value> {
    let base = s.lock().unwrap().base.clone();
    Json(serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
    }))
}

async fn jwks() -> Json<serde_json::Value> {
    Json(serde_json::from_str(include_str!("fixtures/oidc-jwks.json")).unwrap())
}

async fn token(
    State(s): State<Shared>,
    body: String,
) -> Result<Json<serde_json::Value>, StatusCode> {
    let form: HashMap<String, String> =
        serde_urlencoded::from_str(&body).map_err(|_| StatusCode::BAD_REQUEST)?;
    let issuer = s.lock().unwrap();
    let (challenge, nonce, email) = issuer
        .codes
        .get(&form["code"])
        .cloned()
        .ok_or(StatusCode::BAD_REQUEST)?;
    let verifier = form.get("code_verifier").ok_or(StatusCode::BAD_REQUEST)?;
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    if computed != challenge
        || form["client_id"] != "tokenwatch"
        || form["grant_type"] != "authorization_code"
    {
        return Err(StatusCode::BAD_REQUEST);
    }
    let now = tokenwatch_core::time::now_ms() / 1000;
    let claims = serde_json::json!({
        "iss": issuer.base, "aud": "tokenwatch", "sub": email, "iat": now, "exp": now + 300,
        "nonce": issuer.nonce_override.clone().unwrap_or(nonce), "email": email, "email_verified": true,
    });
    let der: &[u8] = if issuer.wrong_key {
        include_bytes!("fixtures/other-rsa.der")
    } else {
        include_bytes!("fixtures/oidc-rsa.der")
    };
    let mut head = Header::new(Algorithm::RS256);
    head.kid = Some("k1".to_owned());
    let id_token = jsonwebtoken::encode(&head, &claims, &EncodingKey::from_rsa_der(der)).unwrap();
    Ok(Json(
        serde_json::json!({"id_token": id_token, "access_token": "at", "token_type": "Bearer"}),
    ))
}

async fn start_issuer() -> Shared {
    let shared: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    shared.lock().unwrap().base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(Arc::clone(&shared));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    shared
}

async fn app_for(issuer: &Shared, create_users: bool) -> TestApp {
    let base = issuer.lock().unwrap().base.clone();
    TestApp::start(&format!(
        "[alerting]\ntz = \"UTC\"\n[auth]\nrequired = true\n[auth.oidc]\nissuer = \"{base}\"\nclient_id = \"tokenwatch\"\nredirect_url = \"http://localhost/api/v1/auth/oidc/callback\"\ncreate_users = {create_users}\nrole = \"member\"\n"
    ))
    .await
}

/// Starts a sign-in and plays the person approving it as `email`: returns the callback path.
async fn approved(app: &TestApp, issuer: &Shared, email: &str) -> String {
    let (status, headers, _) = app
        .send(
            Request::get("/api/v1/auth/oidc/start")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers[header::LOCATION].to_str().unwrap().to_owned();
    let base = issuer.lock().unwrap().base.clone();
    assert!(
        location.starts_with(&format!("{base}/authorize?")),
        "{location}"
    );
    let query: HashMap<String, String> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
    let code = format!(
        "code-{}",
        query["state"].len() + issuer.lock().unwrap().codes.len()
    );
    issuer.lock().unwrap().codes.insert(
        code.clone(),
        (
            query["code_challenge"].clone(),
            query["nonce"].clone(),
            email.to_owned(),
        ),
    );
    format!(
        "/api/v1/auth/oidc/callback?code={code}&state={}",
        query["state"]
    )
}

async fn call_back(app: &TestApp, path: &str) -> (StatusCode, http::HeaderMap) {
    let (status, headers, _) = app
        .send(Request::get(path).body(Body::empty()).unwrap())
        .await;
    (status, headers)
}

fn refused_with(headers: &http::HeaderMap) -> String {
    let location = headers[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("/login?error="), "{location}");
    location.to_owned()
}

#[tokio::test]
async fn the_code_flow_with_pkce_signs_in_and_a_state_works_once() {
    let issuer = start_issuer().await;
    let app = app_for(&issuer, true).await;
    let path = approved(&app, &issuer, "carol@example.com").await;
    let (status, headers) = call_back(&app, &path).await;
    assert_eq!(status, StatusCode::OK, "{headers:?}");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let me = Request::get("/api/v1/auth/me")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = app.send(me).await;
    assert_eq!(status, StatusCode::OK);
    let me: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(me["actor"], "user:carol@example.com");
    assert_eq!(me["role"], "member");
    // The same answer again: the state was used.
    let (status, headers) = call_back(&app, &path).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(refused_with(&headers).contains("state"));
    app.shutdown().await;
}

#[tokio::test]
async fn a_token_signed_with_another_key_or_for_another_sign_in_is_refused() {
    let issuer = start_issuer().await;
    let app = app_for(&issuer, true).await;
    issuer.lock().unwrap().wrong_key = true;
    let path = approved(&app, &issuer, "dave@example.com").await;
    let (status, headers) = call_back(&app, &path).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    refused_with(&headers);
    issuer.lock().unwrap().wrong_key = false;
    issuer.lock().unwrap().nonce_override = Some("someone-elses".to_owned());
    let path = approved(&app, &issuer, "dave@example.com").await;
    let (_, headers) = call_back(&app, &path).await;
    assert!(refused_with(&headers).contains("nonce"));
    app.shutdown().await;
}

#[tokio::test]
async fn a_person_who_is_not_a_user_is_refused_unless_users_are_created() {
    let issuer = start_issuer().await;
    let app = app_for(&issuer, false).await;
    let path = approved(&app, &issuer, "erin@example.com").await;
    let (_, headers) = call_back(&app, &path).await;
    assert!(
        refused_with(&headers).contains("not%20a%20tokenwatch%20user")
            || refused_with(&headers).contains("not+a+tokenwatch+user")
    );
    app.shutdown().await;
}
