//! The scenarios, the processes they run against, and the zero-loss check after each.

mod peer;
mod real;
mod sdk;
mod setup;
mod soak;
mod streams;
mod wrk;

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use self::real::{realistic_small, realistic_stream};
use self::setup::{Setup, body, setup, targets};
use self::streams::{concurrent_streams, streaming};
use crate::load::{self, HttpClient, Target};
use crate::procs;
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

/// tokenwatch's CPU seconds over a scenario, by the threads that spent them.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct CpuSplit {
    /// The serving lanes (`tw-lane-*`).
    pub lanes: f64,
    /// The recording thread (`tw-recording`): pricing and analysis.
    pub recording: f64,
    /// Everything else: the batch writer's pool threads and the main runtime.
    pub writer_and_runtime: f64,
}

impl CpuSplit {
    /// The split between two [`crate::procs::threads_cpu_seconds`] snapshots, with the
    /// process's own CPU seconds over the same span: what no lane or recording thread spent
    /// (threads that came and went included) counts as writer and runtime.
    pub fn between(
        before: &std::collections::HashMap<u32, (String, f64)>,
        after: &std::collections::HashMap<u32, (String, f64)>,
        process: f64,
    ) -> CpuSplit {
        let spent = |prefix: &str| -> f64 {
            after
                .iter()
                .filter(|(_, (name, _))| name.starts_with(prefix))
                .map(|(tid, (_, secs))| secs - before.get(tid).map_or(0.0, |(_, s)| *s))
                .sum()
        };
        let (lanes, recording) = (spent("tw-lane"), spent("tw-recording"));
        CpuSplit {
            lanes,
            recording,
            writer_and_runtime: (process - lanes - recording).max(0.0),
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
    /// CPU seconds the bare hyper proxy's thread used for the same number of requests (or for
    /// `bare_http_requests`, where the load is a closed loop).
    pub bare_http_cpu_seconds: Option<f64>,
    /// tokenwatch's CPU seconds split by thread (`wrk` scenarios).
    pub cpu_split: Option<CpuSplit>,
    /// Requests the bare hyper proxy served, where that differs from `proxied_requests`.
    pub bare_http_requests: Option<u64>,
    pub bare_http_rps: Option<f64>,
    /// wrk scenarios: the lowest and highest p99 of the rounds, direct / bare / proxied (µs).
    pub p99_range: Option<[[f64; 2]; 3]>,
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
    /// Scenarios that could not run here, each with why (e.g. no Python SDKs installed).
    pub skipped: Vec<String>,
}

/// How long the soak saturates tokenwatch, then leaves it idle.
pub struct SoakPlan {
    pub load: Duration,
    pub idle: Duration,
}

/// Runs every scenario, or only those named in `only`. The soak runs only when named, or in
/// smoke mode with every scenario (a few seconds then). `python` runs the SDK scenario; without
/// it (or without the SDKs) that scenario is skipped.
pub async fn run(
    smoke: bool,
    only: &[String],
    rate: f64,
    soak_plan: &SoakPlan,
    python: &Path,
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
        "sdk_small",
        "one_conn",
        "peer_litellm",
        "wrk",
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
    let mut skipped = Vec::new();
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
            bearer: None,
        };
        let bare_http = Target {
            url: format!("{}/v1/messages", setup.bare_http),
            body,
            bearer: None,
        };
        let bare_tid = crate::relay::BARE_HTTP_TID.get().copied();
        let bare_cpu = bare_tid.map(procs::thread_cpu_seconds);
        let out = load::open_loop(
            &client,
            &[direct, relay, bare_http, proxied],
            r,
            Duration::from_secs_f64(s),
            Duration::from_millis(500),
        )
        .await;
        sc.bare_http_cpu_seconds = bare_tid
            .zip(bare_cpu)
            .map(|(tid, before)| procs::thread_cpu_seconds(tid) - before);
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

    if wanted("one_conn") {
        // The tail at one connection: the fast upstream (one write per response), one kept
        // connection each way, one request at a time, direct and proxied alternately.
        let count = if smoke { 50 } else { 10_000 };
        let direct = realistic::Side {
            base: setup.fast.url.clone(),
            path: "/v1/messages".into(),
            tls: None,
        };
        let description = format!(
            "fast upstream (one write per response); one kept connection each way, {count} pairs one at a time"
        );
        scenarios.push(
            realistic_small(
                &mut setup,
                "one_conn",
                description,
                direct,
                "fast",
                count,
                true,
            )
            .await?,
        );
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
    if wanted("sdk_small") {
        if let Some(why) = sdk::unavailable(python) {
            skipped.push(format!("sdk_small: skipped, {why}"));
        } else {
            let pairs = if smoke { 20 } else { 500 };
            let sdks = [
                (
                    "sdk_small",
                    sdk::Sdk {
                        driver: "anthropic",
                        call: "anthropic: messages.create",
                        provider: "real",
                    },
                ),
                (
                    "sdk_small_openai",
                    sdk::Sdk {
                        driver: "openai",
                        call: "openai: chat.completions.create",
                        provider: "real_openai",
                    },
                ),
            ];
            for (name, which) in sdks {
                scenarios.push(sdk::sdk_small(&mut setup, name, python, &which, pairs).await?);
            }
        }
    }
    // A peer in full mode only: LiteLLM is installed from PyPI on first use.
    if !smoke && wanted("peer_litellm") {
        if let Some(why) = sdk::unavailable(python) {
            skipped.push(format!("peer_litellm: skipped, {why}"));
        } else {
            match peer::litellm(&mut setup, python, 500).await {
                Ok(sc) => scenarios.push(sc),
                Err(e) => skipped.push(format!("peer_litellm: skipped, {e}")),
            }
        }
    }
    if wanted("wrk") {
        if let Some(why) = wrk::unavailable() {
            skipped.push(format!("wrk: skipped, {why}"));
        } else {
            let (rounds, secs) = if smoke { (1, 1) } else { (3, 8) };
            scenarios.extend(wrk::wrk_tail(&mut setup, smoke, rounds, secs).await?);
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
        skipped,
    })
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
