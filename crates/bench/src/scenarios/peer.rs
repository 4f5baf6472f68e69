//! `peer_litellm`: LiteLLM's proxy in front of the same headers-then-body mock, driven by the
//! official `openai` SDK exactly as `sdk_small_openai` drives tokenwatch, so a user sees a
//! peer's added latency beside tokenwatch's from the same run. Full mode only, never in CI:
//! LiteLLM is installed from PyPI into `bench-out/litellm-venv` the first time (a few minutes),
//! started with one worker and a master key, and stopped after the scenario. Its row's CPU and
//! peak RSS are LiteLLM's process; nothing is recorded by tokenwatch.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sdk::run_driver;
use super::{Scenario, Setup};
use crate::load::{self, Target};
use crate::procs;

/// The virtual environment LiteLLM is installed into.
const VENV: &str = "bench-out/litellm-venv";

/// LiteLLM refuses to start without a master key; the driver sends it as its API key.
const MASTER_KEY: &str = "sk-bench-litellm-master-0123456789abcdef";

/// The `litellm` executable, installed into [`VENV`] when missing.
fn installed() -> anyhow::Result<PathBuf> {
    let bin = Path::new(VENV).join("bin/litellm");
    if bin.is_file() {
        return Ok(bin);
    }
    eprintln!("installing LiteLLM's proxy from PyPI into {VENV} (once; a few minutes) …");
    let ok = Command::new("python3")
        .args(["-m", "venv", VENV])
        .status()?
        .success()
        && Command::new(Path::new(VENV).join("bin/pip"))
            .args(["install", "-q", "litellm[proxy]"])
            .status()?
            .success();
    if !ok || !bin.is_file() {
        anyhow::bail!("peer_litellm: could not install litellm[proxy] into {VENV}");
    }
    Ok(bin)
}

/// A port nothing listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether `GET /health/liveliness` answers 200 on `port`.
fn alive(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /health/liveliness HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

/// Stops the peer when the scenario ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `pairs` timed `chat.completions.create` calls each way: direct, and through LiteLLM.
pub(super) async fn litellm(
    setup: &mut Setup,
    python: &Path,
    pairs: usize,
) -> anyhow::Result<Scenario> {
    let bin = installed()?;
    let port = free_port()?;
    let config = tempfile::Builder::new()
        .prefix("litellm")
        .suffix(".yaml")
        .tempfile()?;
    std::fs::write(
        config.path(),
        format!(
            "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: {}/v1\n      api_key: bench\n",
            setup.real.url
        ),
    )?;
    let log = std::fs::File::create("bench-out/litellm.log")?;
    let child = Command::new(&bin)
        .args(["--config", &config.path().display().to_string()])
        .args(["--port", &port.to_string(), "--num_workers", "1"])
        .env("LITELLM_MASTER_KEY", MASTER_KEY)
        .env("LITELLM_TELEMETRY", "False")
        .env("LITELLM_LOG", "ERROR")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    let peer = Running(child);
    let pid = peer.0.id();
    let started = Instant::now();
    while !alive(port) {
        if started.elapsed() > Duration::from_secs(180) {
            anyhow::bail!(
                "peer_litellm: LiteLLM did not answer within 180 s (bench-out/litellm.log)"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut sc = Scenario {
        name: "peer_litellm".into(),
        description: format!(
            "PEER: LiteLLM's proxy (PyPI, one worker) instead of tokenwatch; Python SDK `openai: chat.completions.create` (one kept client per side); upstream sends headers, the body 2 ms later; {pairs} pairs one at a time"
        ),
        ..Scenario::default()
    };
    let cpu = procs::cpu_seconds(pid);
    procs::reset_peak(pid);
    let parsed = run_driver(
        "peer_litellm",
        python,
        "openai",
        &setup.real.url,
        &format!("http://127.0.0.1:{port}"),
        pairs,
        Some(MASTER_KEY),
    )
    .await?;
    sc.cpu_seconds = procs::cpu_seconds(pid) - cpu;
    sc.peak_rss_mib = procs::status_mib(pid, "VmHWM");
    parsed.fill(&mut sc);
    saturation(setup, &mut sc, port).await?;
    drop(peer);
    drop(config);
    Ok(sc)
}

/// Closed-loop throughput with 64 connections, three rounds of 3 s each, interleaved: direct to
/// the mock, through tokenwatch, through LiteLLM; medians. The row's `direct` and `proxied`
/// rates are the mock's and LiteLLM's; tokenwatch's is in its description.
async fn saturation(setup: &mut Setup, sc: &mut Scenario, port: u16) -> anyhow::Result<()> {
    const WORKERS: usize = 64;
    let phase = Duration::from_secs(3);
    let body = bytes::Bytes::from_static(
        br#"{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"xx"}]}"#,
    );
    let target = |url: String, bearer| Target {
        url,
        body: body.clone(),
        bearer,
    };
    let direct = target(format!("{}/v1/chat/completions", setup.real.url), None);
    let tw = target(
        format!("{}/real_openai/v1/chat/completions", setup.tw.url),
        None,
    );
    let litellm = target(
        format!("http://127.0.0.1:{port}/v1/chat/completions"),
        Some(MASTER_KEY),
    );
    let client = load::client();
    let (mut d, mut t, mut l) = (Vec::new(), Vec::new(), Vec::new());
    let cpu = procs::cpu_seconds(setup.pid());
    let mut through_tw = Scenario::default();
    for _ in 0..3 {
        d.push(load::closed_loop(&client, &direct, WORKERS, phase).await.0 as f64 / 3.0);
        let (ok, bad) = load::closed_loop(&client, &tw, WORKERS, phase).await;
        through_tw.proxied_requests += ok + bad;
        t.push(ok as f64 / 3.0);
        let (ok, bad) = load::closed_loop(&client, &litellm, WORKERS, phase).await;
        sc.errors += bad;
        l.push(ok as f64 / 3.0);
    }
    // tokenwatch's calls are counted like any scenario's, so later ones still see every event.
    setup.settle(&mut through_tw, cpu).await?;
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (direct, tokenwatch, peer) = (med(&mut d), med(&mut t), med(&mut l));
    sc.direct_rps = Some(direct);
    sc.proxied_rps = Some(peer);
    sc.description.push_str(&format!(
        "; then closed loop, {WORKERS} connections, 3 × 3 s interleaved: tokenwatch {tokenwatch:.0} req/s, LiteLLM {peer:.0} req/s ({:.1}× in tokenwatch's favour; tokenwatch lost {})",
        tokenwatch / peer.max(1.0),
        through_tw.lost_events
    ));
    Ok(())
}
