//! Load generation. Open loop: requests are sent at fixed scheduled times and latency is measured
//! from the SCHEDULED time, so a slow server cannot hide queueing by delaying the next send (no
//! coordinated omission). Closed loop: N workers send back to back, for saturation throughput.
//! Streams: the arrival time of every SSE event is recorded against the request start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Mutex;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(4096)
        .build(connector)
}

/// One request to send: URL and JSON body, and the bearer token a peer proxy wants.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub body: Bytes,
    pub bearer: Option<&'static str>,
}

pub fn request(t: &Target) -> http::Request<Full<Bytes>> {
    let mut r = http::Request::new(Full::new(t.body.clone()));
    *r.method_mut() = http::Method::POST;
    *r.uri_mut() = t.url.parse().unwrap_or_default();
    let h = r.headers_mut();
    h.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    h.insert("x-api-key", http::HeaderValue::from_static("bench"));
    h.insert(
        "anthropic-version",
        http::HeaderValue::from_static("2023-06-01"),
    );
    if let Some(token) = t.bearer
        && let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {token}"))
    {
        h.insert("authorization", v);
    }
    r
}

/// Sends one request and reads the whole body. Returns whether it succeeded.
pub async fn send(client: &HttpClient, t: &Target) -> bool {
    match client.request(request(t)).await {
        Ok(resp) => {
            let ok = resp.status().is_success();
            ok && resp.into_body().collect().await.is_ok()
        }
        Err(_) => false,
    }
}

/// A histogram of microseconds, 1 µs to 60 s, 3 significant digits.
#[expect(
    clippy::expect_used,
    reason = "the bounds are constants known to be valid"
)]
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Result of interleaved open-loop phases: one histogram and one sent count per target.
pub struct OpenLoop {
    pub hists: Vec<Histogram<u64>>,
    pub sent: Vec<u64>,
    pub errors: u64,
}

/// Open loop at `rate` req/s, cycling through `targets` in `phase`-long phases until each had
/// `per_target` worth of time. Latency runs from each request's scheduled send time.
///
/// Sends are paced by an OS thread sleeping to each scheduled instant, not by tokio's timer: that
/// ticks in whole milliseconds, so at 5,000 req/s it sent five requests at once every tick and
/// both targets were measured under bursts (and their 0–1 ms timer lateness) instead of at a
/// steady rate. A thread's sleep wakes within tens of microseconds.
pub async fn open_loop(
    client: &HttpClient,
    targets: &[Target],
    rate: f64,
    per_target: Duration,
    phase: Duration,
) -> OpenLoop {
    let n = targets.len();
    let hists = Arc::new(Mutex::new((0..n).map(|_| histogram()).collect::<Vec<_>>()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let phases = (per_target.as_secs_f64() / phase.as_secs_f64())
        .ceil()
        .max(1.0) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let per_phase = (phase.as_secs_f64() * rate).round() as u64;
    let runtime = tokio::runtime::Handle::current();
    let (client, targets, shared_hists, shared_errors) = (
        client.clone(),
        targets.to_vec(),
        Arc::clone(&hists),
        Arc::clone(&errors),
    );
    let pacer = tokio::task::spawn_blocking(move || {
        let mut sent = vec![0u64; n];
        let mut tasks = Vec::new();
        for p in 0..phases * n {
            let which = p % n;
            let start = Instant::now();
            for i in 0..per_phase {
                let scheduled = start + interval.mul_f64(i as f64);
                let ahead = scheduled.saturating_duration_since(Instant::now());
                if !ahead.is_zero() {
                    std::thread::sleep(ahead);
                }
                sent[which] += 1;
                let (client, target, hists, errors) = (
                    client.clone(),
                    targets[which].clone(),
                    Arc::clone(&shared_hists),
                    Arc::clone(&shared_errors),
                );
                tasks.push(runtime.spawn(async move {
                    let ok = send(&client, &target).await;
                    let us = scheduled.elapsed().as_micros() as u64;
                    if !ok {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let _ = hists.lock().await[which].record(us.max(1));
                }));
            }
        }
        (sent, tasks)
    });
    let (sent, tasks) = pacer.await.unwrap_or_else(|_| (vec![0; n], Vec::new()));
    for t in tasks {
        let _ = t.await;
    }
    let hists = std::mem::take(&mut *hists.lock().await);
    OpenLoop {
        hists,
        sent,
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// Closed loop: `workers` concurrent senders for `duration`. Returns (completed, errors).
pub async fn closed_loop(
    client: &HttpClient,
    target: &Target,
    workers: usize,
    duration: Duration,
) -> (u64, u64) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, target) = (client.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut bad) = (0u64, 0u64);
            while Instant::now() < deadline {
                if send(&client, &target).await {
                    ok += 1
                } else {
                    bad += 1
                }
            }
            (ok, bad)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        if let Ok((ok, bad)) = t.await {
            total.0 += ok;
            total.1 += bad;
        }
    }
    total
}

/// Timings of one streamed response: first byte, and every SSE event's arrival, since send.
pub struct StreamTiming {
    pub first_byte_us: u64,
    pub events_us: Vec<u64>,
    pub total_us: u64,
    pub ok: bool,
}

pub async fn stream_once(client: &HttpClient, target: &Target) -> StreamTiming {
    let start = Instant::now();
    let mut timing = StreamTiming {
        first_byte_us: 0,
        events_us: Vec::new(),
        total_us: 0,
        ok: false,
    };
    let Ok(resp) = client.request(request(target)).await else {
        return timing;
    };
    if !resp.status().is_success() {
        return timing;
    }
    let mut body = resp.into_body();
    let mut tail: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return timing };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let now = start.elapsed().as_micros() as u64;
        if timing.first_byte_us == 0 {
            timing.first_byte_us = now.max(1);
        }
        tail.extend_from_slice(&data);
        while let Some(i) = tail.windows(2).position(|w| w == b"\n\n") {
            timing.events_us.push(now);
            tail.drain(..i + 2);
        }
    }
    timing.total_us = start.elapsed().as_micros() as u64;
    timing.ok = true;
    timing
}
