//! The tail under `wrk`: the measurement a Rust peer was compared with. `wrk` (one thread,
//! `POST`) keeps 1 or 16 connections busy against the fast upstream (one write per response)
//! directly, through the bare hyper proxy and through tokenwatch, in rotated rounds so each side
//! meets the machine in the same minutes. A Lua `done` hook prints wrk's own percentiles.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use super::{CpuSplit, Pcts, Scenario, Setup, body};
use crate::procs;

/// One `wrk` run's figures.
#[derive(Debug, Clone)]
pub(super) struct WrkRun {
    /// Latency percentiles, microseconds.
    pub pcts: Pcts,
    pub requests: u64,
    pub rps: f64,
    /// Socket errors and non-2xx responses.
    pub errors: u64,
}

/// Why the scenario cannot run here, if it cannot: `wrk` is not on the PATH.
pub(super) fn unavailable() -> Option<String> {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => None,
        Err(_) => Some("wrk is not installed (apt-get install wrk)".into()),
    }
}

/// `wrk_c1` and `wrk_c16` (only `c1` in smoke mode): `rounds` rotated rounds of `secs` per side.
pub(super) async fn wrk_tail(
    setup: &mut Setup,
    smoke: bool,
    rounds: usize,
    secs: u64,
) -> anyhow::Result<Vec<Scenario>> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("post.lua");
    std::fs::write(&script, lua_script(&body(false, 2)))?;
    let connections: &[u32] = if smoke { &[1] } else { &[1, 16] };
    let mut out = Vec::new();
    for &conns in connections {
        let mut sc = Scenario {
            name: format!("wrk_c{conns}"),
            description: format!(
                "wrk -t1 -c{conns}, POST, fast upstream; {rounds} rotated rounds of {secs} s each: direct, bare hyper proxy, tokenwatch"
            ),
            ..Scenario::default()
        };
        let cpu = procs::cpu_seconds(setup.pid());
        let threads = procs::threads_cpu_seconds(setup.pid());
        procs::reset_peak(setup.pid());
        let bare_tid = crate::relay::BARE_HTTP_TID.get().copied();
        let urls = [
            format!("{}/v1/messages", setup.fast.url),
            format!("{}/v1/messages", setup.bare_http),
            format!("{}/fast/v1/messages", setup.tw.url),
        ];
        let mut runs: [Vec<WrkRun>; 3] = Default::default();
        let mut bare_cpu = 0.0;
        for round in 0..rounds {
            // Rotate which side goes first, so none always follows the same one.
            for k in 0..3 {
                let side = (round + k) % 3;
                let before = bare_tid.map_or(f64::NAN, procs::thread_cpu_seconds);
                let (url, script) = (urls[side].clone(), script.clone());
                let run = tokio::task::spawn_blocking(move || run_wrk(&script, &url, conns, secs))
                    .await??;
                if side == 1 {
                    bare_cpu += bare_tid.map_or(f64::NAN, procs::thread_cpu_seconds) - before;
                }
                runs[side].push(run);
            }
        }
        let [direct, bare, proxied] = [0, 1, 2].map(|side| median_run(&runs[side]));
        sc.added = Some(proxied.pcts.minus(&direct.pcts));
        sc.beyond_http = Some(proxied.pcts.minus(&bare.pcts));
        sc.direct_rps = Some(direct.rps);
        sc.bare_http_rps = Some(bare.rps);
        sc.proxied_rps = Some(proxied.rps);
        sc.direct = Some(direct.pcts);
        sc.bare_http = Some(bare.pcts);
        sc.proxied = Some(proxied.pcts);
        sc.bare_http_cpu_seconds = Some(bare_cpu);
        sc.bare_http_requests = Some(runs[1].iter().map(|r| r.requests).sum());
        sc.proxied_requests = runs[2].iter().map(|r| r.requests).sum();
        sc.errors = runs.iter().flatten().map(|r| r.errors).sum();
        sc.p99_range = Some(runs.each_ref().map(|r| {
            let p99 = r.iter().map(|run| run.pcts.p99);
            let (lo, hi) = p99.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            [lo, hi]
        }));
        if sc.errors > 0 {
            sc.first_error = Some(format!("{} wrk errors or non-2xx responses", sc.errors));
        }
        // wrk stops with up to `conns` requests in flight; tokenwatch records those too.
        let slack = i64::from(conns) * rounds as i64;
        setup.settle_with_slack(&mut sc, cpu, slack).await?;
        sc.cpu_split = Some(CpuSplit::between(
            &threads,
            &procs::threads_cpu_seconds(setup.pid()),
            sc.cpu_seconds,
        ));
        out.push(sc);
    }
    Ok(out)
}

/// A wrk script: POST `body` as JSON, and print the run's figures in one parseable line.
fn lua_script(body: &[u8]) -> String {
    // A Lua long string: the body is JSON with no "]]".
    let body = String::from_utf8_lossy(body);
    format!(
        r#"wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("TW_FIGURES %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"#
    )
}

/// Runs wrk once and reads the script's line.
fn run_wrk(script: &Path, url: &str, conns: u32, secs: u64) -> anyhow::Result<WrkRun> {
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{conns}"), &format!("-d{secs}s"), "-s"])
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk against {url} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_figures(&stdout).with_context(|| format!("wrk against {url} printed: {stdout}"))
}

/// The `TW_FIGURES` line of the script's `done` hook.
fn parse_figures(stdout: &str) -> anyhow::Result<WrkRun> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TW_FIGURES "))
        .context("no TW_FIGURES line")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("a TW_FIGURES field is not a number")?;
    let [
        requests,
        duration_us,
        socket_errors,
        status_errors,
        p50,
        p90,
        p99,
        p999,
    ] = v[..]
    else {
        bail!("TW_FIGURES has {} fields, expected 8", v.len());
    };
    Ok(WrkRun {
        pcts: Pcts {
            p50,
            p90,
            p99,
            p999,
        },
        requests: requests as u64,
        rps: requests / (duration_us / 1e6).max(1e-9),
        errors: (socket_errors + status_errors) as u64,
    })
}

/// Each figure's median over the rounds (the middle round's for each percentile on its own).
fn median_run(runs: &[WrkRun]) -> WrkRun {
    let med = |f: fn(&WrkRun) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    WrkRun {
        pcts: Pcts {
            p50: med(|r| r.pcts.p50),
            p90: med(|r| r.pcts.p90),
            p99: med(|r| r.pcts.p99),
            p999: med(|r| r.pcts.p999),
        },
        requests: runs.iter().map(|r| r.requests).sum(),
        rps: med(|r| r.rps),
        errors: runs.iter().map(|r| r.errors).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_done_hooks_line_among_wrks_own_output() {
        let out = "Running 8s test @ http://127.0.0.1:1/v1/messages\n  1 threads and 1 connections\nTW_FIGURES 48000 8000000 0 2 76 110 510 1200\nRequests/sec: 6000.00\n";
        let run = parse_figures(out).unwrap();
        assert_eq!(run.requests, 48_000);
        assert_eq!(run.rps, 6000.0);
        assert_eq!(run.errors, 2);
        assert_eq!(
            (run.pcts.p50, run.pcts.p90, run.pcts.p99, run.pcts.p999),
            (76.0, 110.0, 510.0, 1200.0)
        );
        assert!(parse_figures("Requests/sec: 1\n").is_err());
        assert!(parse_figures("TW_FIGURES 1 2 3\n").is_err());
    }

    #[test]
    fn the_median_run_takes_each_figure_on_its_own() {
        let run = |p99: f64, rps: f64| WrkRun {
            pcts: Pcts {
                p50: 1.0,
                p90: 2.0,
                p99,
                p999: 4.0,
            },
            requests: 10,
            rps,
            errors: 0,
        };
        let m = median_run(&[run(900.0, 3.0), run(100.0, 1.0), run(500.0, 2.0)]);
        assert_eq!((m.pcts.p99, m.rps, m.requests), (500.0, 2.0, 30));
    }

    #[test]
    fn cpu_splits_by_thread_name_and_leaves_the_rest_to_the_writer() {
        let snap = |threads: &[(u32, &str, f64)]| {
            threads
                .iter()
                .map(|&(tid, name, secs)| (tid, (name.to_owned(), secs)))
                .collect::<std::collections::HashMap<_, _>>()
        };
        let before = snap(&[
            (1, "tokenwatch", 0.5),
            (2, "tw-lane-0", 1.0),
            (3, "tw-lane-1", 2.0),
            (4, "tw-recording", 0.25),
            (5, "tokio-rt-worker", 3.0),
        ]);
        // Lane 1 spent 1.5 s, lane 0 nothing, recording 0.5 s; a pool thread came (0.75 s),
        // thread 5 went: the process's 4 s leave 2 s to the writer and the runtime.
        let after = snap(&[
            (1, "tokenwatch", 0.5),
            (2, "tw-lane-0", 1.0),
            (3, "tw-lane-1", 3.5),
            (4, "tw-recording", 0.75),
            (6, "tokio-rt-worker", 0.75),
        ]);
        let split = CpuSplit::between(&before, &after, 4.0);
        assert_eq!(
            (split.lanes, split.recording, split.writer_and_runtime),
            (1.5, 0.5, 2.0)
        );
        // Never negative when the process figure lags the threads'.
        let split = CpuSplit::between(&before, &after, 1.0);
        assert_eq!(split.writer_and_runtime, 0.0);
    }

    #[test]
    fn the_script_posts_its_body() {
        let s = lua_script(br#"{"a":1}"#);
        assert!(s.contains(r#"wrk.body = [[{"a":1}]]"#));
        assert!(s.contains("wrk.method = \"POST\""));
    }
}
