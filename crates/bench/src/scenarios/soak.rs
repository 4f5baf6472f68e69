//! The soak: saturation for minutes, then idle, with tokenwatch's resident memory sampled every
//! second throughout. What it shows is whether memory stays bounded under sustained load (the
//! recording queues are bounded in events and bytes; anything beyond spills to disk) and whether
//! it is given back once the load stops. Like every scenario, it fails the run only if an event
//! is lost.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Serialize;

use super::{Scenario, Setup, body, targets};
use crate::load::{self, HttpClient};
use crate::procs;

/// Connections kept busy, as in the saturation scenario.
const WORKERS: usize = 64;

/// Memory figures of a soak, in MiB, and its sampled series.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SoakFigures {
    pub load_secs: f64,
    pub idle_secs: f64,
    /// Requests answered successfully during the load.
    pub served: u64,
    pub served_rps: f64,
    /// VmRSS just before the load began.
    pub rss_before_mib: f64,
    /// Median of the samples taken during the load.
    pub rss_median_load_mib: f64,
    /// Highest sample (the scenario's `peak_rss_mib` is the kernel's high-water mark, VmHWM,
    /// which also sees peaks between samples).
    pub rss_peak_sampled_mib: f64,
    pub rss_end_of_load_mib: f64,
    pub rss_after_idle_mib: f64,
    /// `tokenwatch_events_lost_total` as `/metrics` reports it at the end.
    pub metrics_lost: f64,
    /// `tokenwatch_events_spilled_total` at the end (spilled events are replayed, not lost).
    pub metrics_spilled: f64,
    /// One sample a second: seconds since the load began (negative: before it), and VmRSS.
    pub samples: Vec<(f64, f64)>,
}

/// Samples a process's VmRSS once a second on an OS thread: the load generator's runtime is
/// saturated, so a tokio timer there would sample late.
struct Sampler {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Vec<(f64, f64)>>,
}

impl Sampler {
    /// Starts sampling `pid`; times are seconds since `origin`.
    fn start(pid: u32, origin: Instant) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let first = Instant::now();
            for tick in 1u32.. {
                let at = Instant::now()
                    .saturating_duration_since(origin)
                    .as_secs_f64();
                samples.push((at, procs::status_mib(pid, "VmRSS")));
                let next = first + Duration::from_secs(u64::from(tick));
                match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            samples
        });
        Self { stop, thread }
    }

    fn finish(self) -> Vec<(f64, f64)> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}

/// tokenwatch's `/metrics` page, if it answers.
async fn metrics_page(client: &HttpClient, base: &str) -> Option<String> {
    let uri = format!("{base}/metrics").parse::<http::Uri>().ok()?;
    let mut request = http::Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = uri;
    let response = client.request(request).await.ok()?;
    let body = response.into_body().collect().await.ok()?;
    Some(String::from_utf8_lossy(&body.to_bytes()).into_owned())
}

/// A series' value on a `/metrics` page.
fn metric(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `load` of closed-loop saturation through tokenwatch, then `idle` with no traffic and no
/// client connection left open: the load's own client is dropped when the load ends (and any
/// other the caller held must be dropped before), so the idle figure is what tokenwatch keeps
/// once its clients have gone, not the buffers of keep-alive connections waiting for more.
pub async fn soak(setup: &mut Setup, load: Duration, idle: Duration) -> anyhow::Result<Scenario> {
    let mut sc = Scenario {
        name: "soak".into(),
        description: format!(
            "closed loop, {WORKERS} connections for {} s, then {} s idle; RSS sampled every second",
            load.as_secs(),
            idle.as_secs()
        ),
        ..Scenario::default()
    };
    let pid = setup.pid();
    let cpu = procs::cpu_seconds(pid);
    procs::reset_peak(pid);
    let (_, proxied) = targets(&setup.fast, &setup.tw, "fast", body(false, 2));
    let rss_before_mib = procs::status_mib(pid, "VmRSS");
    let origin = Instant::now();
    let sampler = Sampler::start(pid, origin);
    let client = load::client();
    let (ok, bad) = load::closed_loop(&client, &proxied, WORKERS, load).await;
    drop(client);
    let load_secs = origin.elapsed().as_secs_f64();
    let rss_end_of_load_mib = procs::status_mib(pid, "VmRSS");
    tokio::time::sleep(idle).await;
    let rss_after_idle_mib = procs::status_mib(pid, "VmRSS");
    let samples = sampler.finish();
    sc.proxied_requests = ok + bad;
    sc.errors = bad;
    setup.settle(&mut sc, cpu).await?;
    let during: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| *t <= load_secs)
        .map(|(_, rss)| *rss)
        .collect();
    let page = metrics_page(&load::client(), &setup.tw.url).await;
    sc.soak = Some(SoakFigures {
        load_secs,
        idle_secs: idle.as_secs_f64(),
        served: ok,
        served_rps: ok as f64 / load_secs,
        rss_before_mib,
        rss_median_load_mib: median(during.clone()),
        rss_peak_sampled_mib: during.iter().copied().fold(f64::NAN, f64::max),
        rss_end_of_load_mib,
        rss_after_idle_mib,
        // Exported from the start; absent means the page could not be read.
        metrics_lost: page
            .as_deref()
            .and_then(|p| metric(p, "tokenwatch_events_lost_total"))
            .unwrap_or(f64::NAN),
        // Exported from the first spill on.
        metrics_spilled: page.as_deref().map_or(f64::NAN, |p| {
            metric(p, "tokenwatch_events_spilled_total").unwrap_or(0.0)
        }),
        samples,
    });
    Ok(sc)
}
