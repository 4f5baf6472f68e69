//! The scenarios, the processes they run against, and the zero-loss check after each.

mod soak;

use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokenwatch_store::{EventFilter, Store};

use crate::load::{self, HttpClient, Target};
use crate::procs::{self, Proc};
use crate::realistic;
pub use soak::SoakFigures;

/// Percentiles in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Pcts {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
}

impl Pcts {
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |x: f64| {
            if h.is_empty() {
                f64::NAN
            } else {
                h.value_at_quantile(x) as f64
            }
        };
        Pcts {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
        }
    }

    /// Exact percentiles of samples (nearest rank).
    pub fn of_samples(v: &mut [f64]) -> Self {
        if v.is_empty() {
            return Pcts {
                p50: f64::NAN,
                p90: f64::NAN,
                p99: f64::NAN,
                p999: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let q = |x: f64| v[((v.len() as f64 * x).ceil() as usize).clamp(1, v.len()) - 1];
        Pcts {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
        }
    }

    fn minus(&self, other: &Pcts) -> Pcts {
        Pcts {
            p50: self.p50 - other.p50,
            p90: self.p90 - other.p90,
            p99: self.p99 - other.p99,
            p999: self.p999 - other.p999,
        }
    }
}

/// Figures of one scenario. Latencies in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub proxied_requests: u64,
    pub recorded_events: i64,
    pub lost_events: i64,
    pub errors: u64,
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
    pub direct: Option<Pcts>,
    pub proxied: Option<Pcts>,
    pub added: Option<Pcts>,
    /// Through a bare TCP relay to the same mock: what one extra hop costs with no work done.
    pub relay: Option<Pcts>,
    /// `relay` − `direct`: the part of ADDED any proxy pays on this machine.
    pub hop: Option<Pcts>,
    /// `proxied` − `relay`: the part of ADDED that is tokenwatch's own work.
    pub beyond_hop: Option<Pcts>,
    /// Through a bare hyper proxy (same HTTP stack, no work): what the HTTP stack costs.
    pub bare_http: Option<Pcts>,
    /// `proxied` − `bare_http`: what tokenwatch adds over the bare HTTP stack.
    pub beyond_http: Option<Pcts>,
    pub ttft_added: Option<Pcts>,
    pub chunk_delay: Option<Pcts>,
    pub total_added: Option<Pcts>,
    pub direct_rps: Option<f64>,
    pub proxied_rps: Option<f64>,
    pub streams_completed: Option<u64>,
    /// Realistic scenarios: proxied requests (or stream events) later than the direct median
    /// by more than [`realistic::STALL_US`], the mark of a write held for a delayed ACK.
    pub stalled: Option<u64>,
    /// The first failure seen, for diagnosis.
    pub first_error: Option<String>,
    /// The soak's memory over time.
    pub soak: Option<SoakFigures>,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub mode: &'static str,
    pub idle_rss_mib: f64,
    pub scenarios: Vec<Scenario>,
}

struct Setup {
    tw: Proc,
    fast: Proc,
    stream: Proc,
    slow: Proc,
    /// In-process upstream whose stream events carry their send time.
    paced: String,
    /// A bare TCP relay in front of `fast`.
    relay: String,
    /// A bare hyper proxy in front of `fast`.
    bare_http: String,
    /// The mock sending each JSON response's headers 2 ms before its body.
    real: Proc,
    /// In-process upstream streaming stamped events ~20 ms apart, with jitter.
    cadence: String,
    /// HTTPS fronts (a local CA's `localhost` certificate) before `real`: HTTP/1.1 only, and
    /// HTTP/2 or HTTP/1.1 by ALPN, as provider front ends offer.
    tls_h1: String,
    tls_h2: String,
    /// The client side's TLS settings, trusting the local CA (HTTP/1.1, like the SDKs).
    client_tls: std::sync::Arc<rustls::ClientConfig>,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
    expected_events: i64,
}

fn body(stream: bool, pad: usize) -> Bytes {
    let content = "x".repeat(pad.max(2));
    let v = serde_json::json!({ "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream, "messages": [{ "role": "user", "content": content }] });
    Bytes::from(v.to_string())
}

fn targets(direct: &Proc, tw: &Proc, name: &str, body: Bytes) -> (Target, Target) {
    (
        Target {
            url: format!("{}/v1/messages", direct.url),
            body: body.clone(),
        },
        Target {
            url: format!("{}/{name}/v1/messages", tw.url),
            body,
        },
    )
}

fn setup(smoke: bool) -> anyhow::Result<Setup> {
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
    fn pid(&self) -> u32 {
        self.tw.child.id()
    }

    /// Waits for the writer (until every event is stored, or for 60 s without one more), then
    /// compares recorded events with proxied requests.
    async fn settle(&mut self, s: &mut Scenario, cpu_before: f64) -> anyhow::Result<()> {
        self.expected_events += s.proxied_requests as i64;
        let store = Store::open(&self.db.display().to_string()).await?;
        let patience = Duration::from_secs(60);
        let mut deadline = Instant::now() + patience;
        let mut count = 0;
        while Instant::now() < deadline {
            let now = store.count_events(&EventFilter::default()).await?;
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
        store.close().await;
        s.recorded_events = count;
        s.lost_events = self.expected_events - count;
        s.cpu_seconds = procs::cpu_seconds(self.pid()) - cpu_before;
        s.peak_rss_mib = procs::status_mib(self.pid(), "VmHWM");
        Ok(())
    }
}

/// How long the soak saturates tokenwatch, then leaves it idle.
pub struct SoakPlan {
    pub load: Duration,
    pub idle: Duration,
}

/// Runs every scenario, or only those named in `only`. The soak runs only when named, or in
/// smoke mode with every scenario (a few seconds then).
pub async fn run(
    smoke: bool,
    only: &[String],
    rate: f64,
    soak_plan: &SoakPlan,
) -> anyhow::Result<Results> {
    let known = [
        "small",
        "body_100kb",
        "stream_50",
        "streams_1000",
        "saturation",
        "sustained_60s",
        "real_small",
        "real_small_newconn",
        "real_small_tls",
        "real_small_h2",
        "real_stream",
        "soak",
    ];
    if let Some(bad) = only.iter().find(|n| !known.contains(&n.as_str())) {
        anyhow::bail!(
            "--only: unknown scenario '{bad}'; the scenarios are {}",
            known.join(", ")
        );
    }
    let wanted = |name: &str| only.is_empty() || only.iter().any(|n| n == name);
    let mut setup = setup(smoke)?;
    let client = load::client();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss_mib = procs::status_mib(setup.pid(), "VmRSS");
    let mut scenarios = Vec::new();
    let (secs, rate) = if smoke { (0.6, 500.0) } else { (10.0, rate) };

    let cases: [(&str, String, usize, f64, f64); 2] = [
        (
            "small",
            format!("non-streaming small, open loop {rate} req/s"),
            2,
            rate,
            secs,
        ),
        (
            "body_100kb",
            format!(
                "non-streaming, 100 kB request bodies, open loop {} req/s",
                rate / 5.0
            ),
            100_000,
            rate / 5.0,
            secs / 2.0,
        ),
    ];
    for (name, description, pad, r, s) in cases {
        if !wanted(name) {
            continue;
        }
        let mut sc = Scenario {
            name: name.into(),
            description,
            ..Scenario::default()
        };
        let cpu = procs::cpu_seconds(setup.pid());
        procs::reset_peak(setup.pid());
        let body = body(false, pad);
        let (direct, proxied) = targets(&setup.fast, &setup.tw, "fast", body.clone());
        let relay = Target {
            url: format!("{}/v1/messages", setup.relay),
            body: body.clone(),
        };
        let bare_http = Target {
            url: format!("{}/v1/messages", setup.bare_http),
            body,
        };
        let out = load::open_loop(
            &client,
            &[direct, relay, bare_http, proxied],
            r,
            Duration::from_secs_f64(s),
            Duration::from_millis(500),
        )
        .await;
        let [d, h, b, p] = [0, 1, 2, 3].map(|i| Pcts::of(&out.hists[i]));
        sc.added = Some(p.minus(&d));
        sc.hop = Some(h.minus(&d));
        sc.beyond_hop = Some(p.minus(&h));
        sc.beyond_http = Some(p.minus(&b));
        sc.bare_http = Some(b);
        sc.direct = Some(d);
        sc.relay = Some(h);
        sc.proxied = Some(p);
        sc.proxied_requests = out.sent[3];
        sc.errors = out.errors;
        setup.settle(&mut sc, cpu).await?;
        scenarios.push(sc);
    }

    let count = if smoke { 50 } else { 2000 };
    for keep_alive in [true, false] {
        let name = if keep_alive {
            "real_small"
        } else {
            "real_small_newconn"
        };
        if wanted(name) {
            let direct = realistic::Side {
                base: setup.real.url.clone(),
                path: "/v1/messages".into(),
                tls: None,
            };
            let how = if keep_alive {
                "keep-alive"
            } else {
                "a new connection per request"
            };
            let description = format!(
                "upstream sends headers, the body 2 ms later; client without TCP_NODELAY, {how}, {count} pairs one at a time"
            );
            scenarios.push(
                realistic_small(
                    &mut setup,
                    name,
                    description,
                    direct,
                    "real",
                    count,
                    keep_alive,
                )
                .await?,
            );
        }
    }
    for (name, provider, protocol) in [
        ("real_small_tls", "real_tls", "HTTP/1.1"),
        ("real_small_h2", "real_h2", "HTTP/2"),
    ] {
        if wanted(name) {
            let front = if provider == "real_tls" {
                &setup.tls_h1
            } else {
                &setup.tls_h2
            };
            let direct = realistic::Side {
                base: front.clone(),
                path: "/v1/messages".into(),
                tls: Some(std::sync::Arc::clone(&setup.client_tls)),
            };
            let description = format!(
                "the same upstream behind an HTTPS front (local CA); direct: the client speaks TLS to it; proxied: the client speaks plain HTTP to tokenwatch, which speaks {protocol} over TLS to it; keep-alive, {count} pairs one at a time"
            );
            scenarios.push(
                realistic_small(&mut setup, name, description, direct, provider, count, true)
                    .await?,
            );
        }
    }
    if wanted("real_stream") {
        let pairs = if smoke { 2 } else { 24 };
        scenarios.push(realistic_stream(&mut setup, pairs).await?);
    }
    if wanted("stream_50") {
        scenarios.push(streaming(&mut setup, &client, if smoke { 20 } else { 200 }).await?);
    }
    if wanted("streams_1000") {
        scenarios
            .push(concurrent_streams(&mut setup, &client, if smoke { 100 } else { 1000 }).await?);
    }
    if wanted("saturation") {
        scenarios.push(saturation(&mut setup, &client, smoke).await?);
    }
    if !smoke && wanted("sustained_60s") {
        let mut sc = Scenario {
            name: "sustained_60s".into(),
            description: format!("60 s at {rate} req/s through tokenwatch"),
            ..Scenario::default()
        };
        let cpu = procs::cpu_seconds(setup.pid());
        procs::reset_peak(setup.pid());
        let (_, proxied) = targets(&setup.fast, &setup.tw, "fast", body(false, 2));
        let out = load::open_loop(
            &client,
            &[proxied],
            rate,
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
        .await;
        sc.proxied = Some(Pcts::of(&out.hists[0]));
        sc.proxied_requests = out.sent[0];
        sc.errors = out.errors;
        setup.settle(&mut sc, cpu).await?;
        scenarios.push(sc);
    }
    if only.iter().any(|n| n == "soak") || (smoke && only.is_empty()) {
        let (load, idle) = if smoke {
            (Duration::from_secs(3), Duration::from_secs(2))
        } else {
            (soak_plan.load, soak_plan.idle)
        };
        // The soak's idle phase is measured with no client connection open.
        drop(client);
        scenarios.push(soak::soak(&mut setup, load, idle).await?);
    }
    Ok(Results {
        mode: if smoke { "smoke" } else { "full" },
        idle_rss_mib,
        scenarios,
    })
}

/// Headers first, the body 2 ms later; a socket client with Nagle on, one request at a time,
/// to `direct` and through tokenwatch's `provider` route alternately.
async fn realistic_small(
    setup: &mut Setup,
    name: &str,
    description: String,
    direct: realistic::Side,
    provider: &str,
    count: usize,
    keep_alive: bool,
) -> anyhow::Result<Scenario> {
    let mut sc = Scenario {
        name: name.into(),
        description,
        ..Scenario::default()
    };
    let cpu = procs::cpu_seconds(setup.pid());
    procs::reset_peak(setup.pid());
    let proxied = realistic::Side {
        base: setup.tw.url.clone(),
        path: format!("/{provider}/v1/messages"),
        tls: None,
    };
    let body = body(false, 2);
    let seen = tokio::task::spawn_blocking(move || {
        realistic::small(direct, proxied, count, keep_alive, &body)
    })
    .await?;
    sc.proxied_requests = count as u64;
    fill_realistic(&mut sc, seen);
    setup.settle(&mut sc, cpu).await?;
    Ok(sc)
}

/// Stamped SSE events ~20 ms apart (±50%), one write each; a plain socket client with Nagle on.
/// Figures are each event's lateness (arrival − send), direct and proxied.
async fn realistic_stream(setup: &mut Setup, pairs: usize) -> anyhow::Result<Scenario> {
    let mut sc = Scenario {
        name: "real_stream".into(),
        description: format!(
            "SSE events 20 ms ± 50% apart, one write each; client without TCP_NODELAY; {pairs} streams each way, 4 pairs at a time; per-event lateness"
        ),
        ..Scenario::default()
    };
    let cpu = procs::cpu_seconds(setup.pid());
    procs::reset_peak(setup.pid());
    let direct = realistic::Side {
        base: setup.cadence.clone(),
        path: "/v1/messages".into(),
        tls: None,
    };
    let proxied = realistic::Side {
        base: setup.tw.url.clone(),
        path: "/cadence/v1/messages".into(),
        tls: None,
    };
    let body = body(true, 2);
    let seen =
        tokio::task::spawn_blocking(move || realistic::streams(&direct, &proxied, pairs, 4, &body))
            .await?;
    sc.proxied_requests = pairs as u64;
    fill_realistic(&mut sc, seen);
    setup.settle(&mut sc, cpu).await?;
    Ok(sc)
}

fn fill_realistic(sc: &mut Scenario, mut seen: realistic::Seen) {
    let direct = Pcts::of_samples(&mut seen.direct_us);
    let proxied = Pcts::of_samples(&mut seen.proxied_us);
    let limit = direct.p50 + realistic::STALL_US;
    sc.stalled = Some(seen.proxied_us.iter().filter(|&&us| us > limit).count() as u64);
    sc.added = Some(proxied.minus(&direct));
    sc.direct = Some(direct);
    sc.proxied = Some(proxied);
    sc.errors = seen.errors;
    sc.first_error = seen.first_error;
}

fn median(values: &mut [u64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable();
    values[values.len() / 2] as f64
}

/// Streams of 50 content chunks 2 ms apart, direct and proxied alternately, 4 at a time.
async fn streaming(
    setup: &mut Setup,
    client: &HttpClient,
    pairs: usize,
) -> anyhow::Result<Scenario> {
    let mut sc = Scenario {
        name: "stream_50".into(),
        description: "streaming, 50 chunks 2 ms apart".into(),
        ..Scenario::default()
    };
    let cpu = procs::cpu_seconds(setup.pid());
    procs::reset_peak(setup.pid());
    let (direct, proxied) = targets(&setup.stream, &setup.tw, "stream", body(true, 2));
    let (mut d_runs, mut p_runs) = (Vec::new(), Vec::new());
    for _ in 0..pairs.div_ceil(4) {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (c, d, p) = (client.clone(), direct.clone(), proxied.clone());
            tasks.push(tokio::spawn(async move {
                (
                    load::stream_once(&c, &d).await,
                    load::stream_once(&c, &p).await,
                )
            }));
        }
        for t in tasks {
            let (d, p) = t.await?;
            d_runs.push(d);
            p_runs.push(p);
        }
    }
    sc.proxied_requests = p_runs.len() as u64;
    sc.errors = p_runs.iter().chain(&d_runs).filter(|r| !r.ok).count() as u64;
    let d_ttft = median(&mut d_runs.iter().map(|r| r.first_byte_us).collect::<Vec<_>>());
    let d_total = median(&mut d_runs.iter().map(|r| r.total_us).collect::<Vec<_>>());
    // Differences can be negative, so they are kept as exact samples, not in a histogram.
    let (mut ttft, mut total) = (Vec::new(), Vec::new());
    for r in p_runs.iter().filter(|r| r.ok) {
        ttft.push(r.first_byte_us as f64 - d_ttft);
        total.push(r.total_us as f64 - d_total);
    }
    sc.ttft_added = Some(Pcts::of_samples(&mut ttft));
    sc.total_added = Some(Pcts::of_samples(&mut total));

    // Per-chunk delay: every event is stamped with its send time by the paced upstream, so
    // arrival − stamp is that chunk's latency; proxied minus direct, percentile by percentile.
    let direct = Target {
        url: format!("{}/v1/messages", setup.paced),
        body: body(true, 2),
    };
    let proxied = Target {
        url: format!("{}/paced/v1/messages", setup.tw.url),
        body: body(true, 2),
    };
    let (mut d_chunk, mut p_chunk) = (Vec::new(), Vec::new());
    for _ in 0..pairs.div_ceil(4) {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (c, d, p) = (client.clone(), direct.clone(), proxied.clone());
            tasks.push(tokio::spawn(async move {
                (
                    crate::paced::stamped_latencies(&c, &d).await,
                    crate::paced::stamped_latencies(&c, &p).await,
                )
            }));
        }
        for t in tasks {
            let (d, p) = t.await?;
            sc.proxied_requests += 1;
            match (d, p) {
                (Ok(d), Ok(p)) => {
                    d_chunk.extend(d.into_iter().map(|v| v as f64));
                    p_chunk.extend(p.into_iter().map(|v| v as f64));
                }
                (Err(e), _) | (_, Err(e)) => {
                    sc.errors += 1;
                    sc.first_error.get_or_insert(e);
                }
            }
        }
    }
    sc.chunk_delay = Some(Pcts::of_samples(&mut p_chunk).minus(&Pcts::of_samples(&mut d_chunk)));
    setup.settle(&mut sc, cpu).await?;
    Ok(sc)
}

/// Many slow streams open at once through tokenwatch.
async fn concurrent_streams(
    setup: &mut Setup,
    client: &HttpClient,
    n: usize,
) -> anyhow::Result<Scenario> {
    let mut sc = Scenario {
        name: format!("streams_{n}"),
        description: format!("{n} concurrent slow streams"),
        ..Scenario::default()
    };
    let cpu = procs::cpu_seconds(setup.pid());
    procs::reset_peak(setup.pid());
    let (_, proxied) = targets(&setup.slow, &setup.tw, "slow", body(true, 2));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (c, p) = (client.clone(), proxied.clone());
        tasks.push(tokio::spawn(
            async move { load::stream_once(&c, &p).await.ok },
        ));
    }
    let mut done = 0u64;
    for t in tasks {
        if t.await? {
            done += 1;
        }
    }
    sc.proxied_requests = n as u64;
    sc.streams_completed = Some(done);
    sc.errors = n as u64 - done;
    setup.settle(&mut sc, cpu).await?;
    Ok(sc)
}

/// Closed loop, direct and proxied alternately; the median phase of each.
async fn saturation(
    setup: &mut Setup,
    client: &HttpClient,
    smoke: bool,
) -> anyhow::Result<Scenario> {
    let workers = if smoke { 16 } else { 64 };
    let phase = Duration::from_secs_f64(if smoke { 0.5 } else { 3.0 });
    let mut sc = Scenario {
        name: "saturation".into(),
        description: format!("closed loop, {workers} connections"),
        ..Scenario::default()
    };
    let cpu = procs::cpu_seconds(setup.pid());
    procs::reset_peak(setup.pid());
    let (direct, proxied) = targets(&setup.fast, &setup.tw, "fast", body(false, 2));
    let (mut d_rps, mut p_rps) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (ok, _) = load::closed_loop(client, &direct, workers, phase).await;
        d_rps.push(ok as f64 / phase.as_secs_f64());
        let (ok, bad) = load::closed_loop(client, &proxied, workers, phase).await;
        p_rps.push(ok as f64 / phase.as_secs_f64());
        sc.proxied_requests += ok + bad;
        sc.errors += bad;
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    sc.direct_rps = Some(med(&mut d_rps));
    sc.proxied_rps = Some(med(&mut p_rps));
    setup.settle(&mut sc, cpu).await?;
    Ok(sc)
}
