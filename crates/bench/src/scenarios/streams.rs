//! The streaming scenarios: time to first byte, total time and per-chunk delay added to
//! streams, and many slow streams open at once.

use super::{Pcts, Scenario, Setup, body, targets};
use crate::load::{self, HttpClient, Target};
use crate::procs;

fn median(values: &mut [u64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable();
    values[values.len() / 2] as f64
}

/// Streams of 50 content chunks 2 ms apart, direct and proxied alternately, 4 at a time.
pub(super) async fn streaming(
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
        bearer: None,
    };
    let proxied = Target {
        url: format!("{}/paced/v1/messages", setup.tw.url),
        body: body(true, 2),
        bearer: None,
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
pub(super) async fn concurrent_streams(
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
