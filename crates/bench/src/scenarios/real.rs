//! The realistic scenarios: an upstream that sends headers before the body, SSE at token
//! cadence, and a client without TCP_NODELAY, plain and over TLS; each proxied figure beside
//! the same request made directly.

use super::{Pcts, Scenario, Setup, body};
use crate::{procs, realistic};

/// Headers first, the body 2 ms later; a socket client with Nagle on, one request at a time,
/// to `direct` and through tokenwatch's `provider` route alternately.
pub(super) async fn realistic_small(
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
pub(super) async fn realistic_stream(setup: &mut Setup, pairs: usize) -> anyhow::Result<Scenario> {
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

pub(super) fn fill_realistic(sc: &mut Scenario, mut seen: realistic::Seen) {
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
