//! The processes the scenarios run against (tokenwatch, the mock upstreams, relays and TLS
//! fronts), the request bodies, and the zero-loss check after each scenario.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokenwatch_store::{EventFilter, Store};

use super::Scenario;
use crate::load::Target;
use crate::procs::{self, Proc};
use crate::realistic;

pub(super) struct Setup {
    pub(super) tw: Proc,
    pub(super) fast: Proc,
    pub(super) stream: Proc,
    pub(super) slow: Proc,
    /// In-process upstream whose stream events carry their send time.
    pub(super) paced: String,
    /// A bare TCP relay in front of `fast`.
    pub(super) relay: String,
    /// A bare hyper proxy in front of `fast`.
    pub(super) bare_http: String,
    /// The mock sending each JSON response's headers 2 ms before its body.
    pub(super) real: Proc,
    /// In-process upstream streaming stamped events ~20 ms apart, with jitter.
    pub(super) cadence: String,
    /// HTTPS fronts (a local CA's `localhost` certificate) before `real`: HTTP/1.1 only, and
    /// HTTP/2 or HTTP/1.1 by ALPN, as provider front ends offer.
    pub(super) tls_h1: String,
    pub(super) tls_h2: String,
    /// The client side's TLS settings, trusting the local CA (HTTP/1.1, like the SDKs).
    pub(super) client_tls: std::sync::Arc<rustls::ClientConfig>,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
    expected_events: i64,
}

pub(super) fn body(stream: bool, pad: usize) -> Bytes {
    let content = "x".repeat(pad.max(2));
    let v = serde_json::json!({ "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream, "messages": [{ "role": "user", "content": content }] });
    Bytes::from(v.to_string())
}

pub(super) fn targets(direct: &Proc, tw: &Proc, name: &str, body: Bytes) -> (Target, Target) {
    (
        Target {
            url: format!("{}/v1/messages", direct.url),
            body: body.clone(),
            bearer: None,
        },
        Target {
            url: format!("{}/{name}/v1/messages", tw.url),
            body,
            bearer: None,
        },
    )
}

pub(super) fn setup(smoke: bool) -> anyhow::Result<Setup> {
    let mock_bin = procs::binary("tokenwatch-mock")?;
    let tw_bin = procs::binary("tokenwatch")?;
    let fast = procs::start(&mock_bin, &["--no-record", "--split-bytes", "0"], &[])?;
    let stream = procs::start(
        &mock_bin,
        &[
            "--no-record",
            "--split-bytes",
            "0",
            "--chunks",
            "50",
            "--chunk-gap-ms",
            "2",
        ],
        &[],
    )?;
    let (chunks, gap) = if smoke { ("20", "20") } else { ("50", "100") };
    let slow = procs::start(
        &mock_bin,
        &[
            "--no-record",
            "--split-bytes",
            "0",
            "--chunks",
            chunks,
            "--chunk-gap-ms",
            gap,
        ],
        &[],
    )?;
    let paced = crate::paced::start(50, Duration::from_millis(2))?;
    let real = procs::start(
        &mock_bin,
        &["--no-record", "--split-bytes", "0", "--head-gap-ms", "2"],
        &[],
    )?;
    let cadence_events = if smoke { 10 } else { 50 };
    let cadence = crate::paced::start_jittered(cadence_events, Duration::from_millis(20), 0.5)?;
    let relay = crate::relay::start(&fast.url)?;
    let bare_http = crate::relay::start_http(&fast.url)?;
    let dir = tempfile::tempdir()?;
    let certs = tokenwatch_mock::tls::try_make_certs(dir.path())?;
    let tls_h1 = crate::relay::start_tls_front(&real.url, &certs, &[b"http/1.1"])?;
    let tls_h2 = crate::relay::start_tls_front(&real.url, &certs, &[b"h2", b"http/1.1"])?;
    let client_tls = realistic::client_tls(&certs.ca)?;
    let db = dir.path().join("bench.db");
    let mut env = vec![
        ("TOKENWATCH_LOG".to_owned(), "warn".to_owned()),
        (
            "TOKENWATCH_SERVER__UPSTREAM_CA_FILE".to_owned(),
            certs.ca.display().to_string(),
        ),
    ];
    for (name, url) in [
        ("FAST", &fast.url),
        ("STREAM", &stream.url),
        ("SLOW", &slow.url),
        ("PACED", &paced),
        ("REAL", &real.url),
        ("CADENCE", &cadence),
        ("REAL_TLS", &tls_h1),
        ("REAL_H2", &tls_h2),
    ] {
        env.push((
            format!("TOKENWATCH_PROVIDERS__{name}__KIND"),
            "anthropic".to_owned(),
        ));
        env.push((
            format!("TOKENWATCH_PROVIDERS__{name}__BASE_URL"),
            url.clone(),
        ));
    }
    // The same headers-then-body mock as an OpenAI-kind provider, for the OpenAI SDK.
    env.push((
        "TOKENWATCH_PROVIDERS__REAL_OPENAI__KIND".to_owned(),
        "openai".to_owned(),
    ));
    env.push((
        "TOKENWATCH_PROVIDERS__REAL_OPENAI__BASE_URL".to_owned(),
        real.url.clone(),
    ));
    let db_arg = db.display().to_string();
    let tw = procs::start(
        &tw_bin,
        &["serve", "--listen", "127.0.0.1:0", "--db", &db_arg],
        &env,
    )?;
    Ok(Setup {
        tw,
        fast,
        stream,
        slow,
        paced,
        relay,
        bare_http,
        real,
        cadence,
        tls_h1,
        tls_h2,
        client_tls,
        db,
        _dir: dir,
        expected_events: 0,
    })
}

impl Setup {
    pub(super) fn pid(&self) -> u32 {
        self.tw.child.id()
    }

    /// Waits for the writer (until every event is stored, or for 60 s without one more), then
    /// compares recorded events with proxied requests.
    pub(super) async fn settle(&mut self, s: &mut Scenario, cpu_before: f64) -> anyhow::Result<()> {
        self.settle_with_slack(s, cpu_before, 0).await
    }

    /// [`settle`](Self::settle) where up to `slack` more events than requests counted may be
    /// recorded: requests a load generator abandoned in flight when it stopped, which reached
    /// tokenwatch all the same. Those count as expected from then on.
    pub(super) async fn settle_with_slack(
        &mut self,
        s: &mut Scenario,
        cpu_before: f64,
        slack: i64,
    ) -> anyhow::Result<()> {
        self.expected_events += s.proxied_requests as i64;
        let store = Store::open(&self.db.display().to_string()).await?;
        let patience = Duration::from_secs(60);
        let mut deadline = Instant::now() + patience;
        let mut count = 0;
        while Instant::now() < deadline {
            let now = store.count_events(&EventFilter::all_tenants()).await?;
            if now > count {
                // A long backlog (a soak's spill file being replayed) is still progressing.
                deadline = Instant::now() + patience;
                count = now;
            }
            if count >= self.expected_events {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if slack > 0 {
            // Give abandoned requests' events a moment to arrive, then take them as expected.
            tokio::time::sleep(Duration::from_millis(500)).await;
            count = store.count_events(&EventFilter::all_tenants()).await?;
            if (self.expected_events..=self.expected_events + slack).contains(&count) {
                self.expected_events = count;
            }
        }
        store.close().await;
        s.recorded_events = count;
        s.lost_events = self.expected_events - count;
        s.cpu_seconds = procs::cpu_seconds(self.pid()) - cpu_before;
        s.peak_rss_mib = procs::status_mib(self.pid(), "VmHWM");
        Ok(())
    }
}
