//! [`TestApp`]: the real router over a real store in a temporary directory, driven in process.
//!
//! [`TestApp::start`] builds the application with the same calls `serve` makes
//! (`Services::start`, then `tokenwatch_server::app::build`), minus the listening socket and the
//! lanes. Everything else reaches the application through `TestApp`'s methods.

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tokenwatch_app::config::{Config, builtin_providers};
use tokenwatch_app::start::Services;
use tokenwatch_core::{Source, UsageEvent};
use tokenwatch_server::app::{Built, build};
use tokenwatch_store::Store;
use tower::ServiceExt as _;

/// The host every request names unless a test says otherwise.
pub const HOST: &str = "localhost";

/// Settings every test app starts from: budget periods and summaries in UTC, whatever the
/// machine's zone.
pub const DEFAULT_CONFIG: &str = "[alerting]\ntz = \"UTC\"\n";

/// A tokenwatch application without a socket: requests go straight into the router.
pub struct TestApp {
    /// Holds the application state; dropping it ends the recording thread.
    router: Option<Router>,
    store: Store,
    built: Option<Built>,
    /// Holds the SQLite file, the spill file and the channel secret key; removed last.
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// An app with [`DEFAULT_CONFIG`].
    pub async fn new() -> Self {
        Self::start(DEFAULT_CONFIG).await
    }

    /// An app configured by `config_toml` (a `tokenwatch.toml`; the built-in providers are
    /// there unless it redefines them), over a fresh SQLite file in a temporary directory.
    pub async fn start(config_toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tokenwatch.db");
        let mut config: Config = toml::from_str(config_toml).unwrap();
        let mut providers = builtin_providers();
        providers.append(&mut config.providers);
        config.providers = providers;
        config.database.url = db.display().to_string();
        config.validate().unwrap();

        config.recording.spill_path = dir.path().join("spill.jsonl").display().to_string();
        let store = Store::open(&config.database.url).await.unwrap();
        // The channel key is generated beside the database, in the temporary directory.
        let services = Services::start(config, store.clone()).unwrap();
        let built = build(services, None).await.unwrap();
        Self {
            router: Some(built.router()),
            store,
            built: Some(built),
            _dir: dir,
        }
    }

    /// The teams use-cases of the running app (tenants, keys, tokens, users).
    pub fn teams(&self) -> std::sync::Arc<tokenwatch_app::teams::Teams> {
        std::sync::Arc::clone(&self.built.as_ref().unwrap().state.teams)
    }

    /// The running policy (tag rules, budgets, alert rules, channels of every tenant).
    pub fn policy(&self) -> std::sync::Arc<tokenwatch_app::policy::Policy> {
        std::sync::Arc::clone(&self.built.as_ref().unwrap().state.policy)
    }

    /// The store behind the API, for arranging data the API only reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Writes `events` straight to the store.
    pub async fn insert(&self, events: &[UsageEvent]) {
        let outcome = self.store.insert_events(events).await.unwrap();
        assert_eq!(
            outcome.inserted as usize,
            events.len(),
            "some events were not new"
        );
    }

    /// Sends `request` as it is (a `Host` is added only when it has none) and reads the whole
    /// answer.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let response = self.respond(request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, body.to_vec())
    }

    /// Sends `request` like [`TestApp::send`] and returns the response unread (for a stream
    /// that does not end by itself).
    pub async fn respond(&self, mut request: Request<Body>) -> http::Response<Body> {
        if !request.headers().contains_key(header::HOST) {
            request
                .headers_mut()
                .insert(header::HOST, header::HeaderValue::from_static(HOST));
        }
        let router = self.router.clone().unwrap();
        router.oneshot(request).await.unwrap()
    }

    /// `method path` with an optional JSON body; the answer read as JSON (`null` when empty).
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let builder = Request::builder().method(method.clone()).uri(path);
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(body).unwrap())),
            None => builder.body(Body::empty()),
        }
        .unwrap();
        let (status, _, bytes) = self.send(request).await;
        let value = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: {status} with a body that is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, serde_json::Value) {
        self.json(Method::GET, path, None).await
    }

    /// `GET path`, which must answer 200; its body.
    pub async fn get_ok(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        self.json(Method::POST, path, Some(body)).await
    }

    /// `POST path` without a body.
    pub async fn post_empty(&self, path: &str) -> (StatusCode, serde_json::Value) {
        self.json(Method::POST, path, None).await
    }

    pub async fn patch_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        self.json(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, serde_json::Value) {
        self.json(Method::DELETE, path, None).await
    }

    /// Stops the app as `serve` does at exit: the router and state go (ending the recording
    /// thread), the background tasks stop, the writer drains, and the store closes.
    pub async fn shutdown(mut self) {
        self.router = None;
        if let Some(built) = self.built.take() {
            built.shutdown().await;
        }
        self.store.close().await;
    }
}

/// Builds events for the store with a running number in their ids.
#[derive(Default)]
pub struct Events {
    n: u32,
}

impl Events {
    /// A priced proxy event: `input` + `output` tokens costing `cost_nanos`, at `ts_ms`.
    pub fn event(
        &mut self,
        ts_ms: i64,
        provider: &str,
        model: &str,
        input: i64,
        output: i64,
        cost_nanos: i64,
    ) -> UsageEvent {
        self.n += 1;
        let n = self.n;
        let mut e = UsageEvent::blank(
            format!("ev-{n:04}"),
            ts_ms,
            Source::Proxy,
            provider,
            model,
            "messages",
            format!("key-{n}"),
        );
        e.usage.input_tokens = input;
        e.usage.output_tokens = output;
        e.cost_nanos = Some(cost_nanos);
        e.duration_ms = Some(100);
        e
    }
}

/// `event` with the tags `key=value`.
pub fn tagged(mut event: UsageEvent, tags: &[(&str, &str)]) -> UsageEvent {
    event.tags = tags
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    event
}

/// The ids of a list of events, in order.
pub fn ids(body: &serde_json::Value) -> Vec<String> {
    body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {body}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a 400 whose error names `param` (in `param`, and in the message unless it is the
/// whole `body`), and returns the error message.
pub fn assert_bad_param(status: StatusCode, body: &serde_json::Value, param: &str) -> String {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_parameter", "{body}");
    assert_eq!(body["error"]["param"], param, "{body}");
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        param == "body" || message.contains(param),
        "the message does not name {param}: {message}"
    );
    assert!(!message.is_empty(), "{body}");
    message
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    tokenwatch_core::time::now_ms()
}
