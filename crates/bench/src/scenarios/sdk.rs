//! `sdk_small`: the official Python SDKs as the client. A small driver (`sdk_driver.py`) makes
//! non-streaming calls with one kept client per side, direct to the headers-then-body mock and
//! through tokenwatch alternately, and times each call in Python; the figures are those times.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use super::real::fill_realistic;
use super::{Scenario, Setup};
use crate::{procs, realistic};

/// The driver, written to a temporary file at run time.
const DRIVER: &str = include_str!("../sdk_driver.py");

/// Untimed pairs before the timed ones: the SDKs' lazy imports and the first connections.
const WARMUP: usize = 5;

/// Why the SDK scenario cannot run with `python`, or `None` when it can.
pub(super) fn unavailable(python: &Path) -> Option<String> {
    if !python.is_file() {
        return Some(format!("no Python interpreter at {}", python.display()));
    }
    match Command::new(python)
        .args(["-c", "import anthropic, openai"])
        .output()
    {
        Ok(out) if out.status.success() => None,
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or("").trim().to_owned();
            Some(format!(
                "{} cannot import anthropic and openai ({last})",
                python.display()
            ))
        }
        Err(e) => Some(format!("{} cannot run: {e}", python.display())),
    }
}

/// What the driver prints: one JSON line.
#[derive(Deserialize)]
pub(super) struct DriverOut {
    pub(super) direct_us: Vec<f64>,
    pub(super) proxied_us: Vec<f64>,
    pub(super) proxied_calls: u64,
    pub(super) errors: u64,
    pub(super) first_error: Option<String>,
}

impl DriverOut {
    /// Puts the calls' times and counts into `sc`.
    pub(super) fn fill(self, sc: &mut Scenario) {
        sc.proxied_requests = self.proxied_calls;
        fill_realistic(
            sc,
            realistic::Seen {
                direct_us: self.direct_us,
                proxied_us: self.proxied_us,
                errors: self.errors,
                first_error: self.first_error,
            },
        );
    }
}

/// Runs the driver: `pairs` timed calls with `driver` (`anthropic` or `openai`) to `direct`
/// and to `proxied` alternately, the proxied side with `proxied_key` when given.
pub(super) async fn run_driver(
    name: &str,
    python: &Path,
    driver: &str,
    direct: &str,
    proxied: &str,
    pairs: usize,
    proxied_key: Option<&str>,
) -> anyhow::Result<DriverOut> {
    let mut script = tempfile::Builder::new()
        .prefix("sdk_driver")
        .suffix(".py")
        .tempfile()?;
    std::io::Write::write_all(&mut script, DRIVER.as_bytes())?;
    let mut cmd = Command::new(python);
    cmd.arg(script.path()).args([
        driver,
        direct,
        proxied,
        &pairs.to_string(),
        &WARMUP.to_string(),
    ]);
    if let Some(key) = proxied_key {
        cmd.env("PROXIED_KEY", key);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    drop(script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    match serde_json::from_str(line) {
        Ok(parsed) if out.status.success() => Ok(parsed),
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            anyhow::bail!(
                "{name}: the SDK driver failed ({}): {}",
                out.status,
                stderr.trim()
            );
        }
    }
}

/// The SDK's calls: what the driver is told and what the row says.
pub(super) struct Sdk {
    /// The driver's argument: `anthropic` or `openai`.
    pub(super) driver: &'static str,
    /// The call made, for the description.
    pub(super) call: &'static str,
    /// tokenwatch's route to the headers-then-body mock for this SDK's provider kind.
    pub(super) provider: &'static str,
}

/// `pairs` timed calls each way (after [`WARMUP`] untimed pairs) with `sdk` run by `python`.
pub(super) async fn sdk_small(
    setup: &mut Setup,
    name: &str,
    python: &Path,
    sdk: &Sdk,
    pairs: usize,
) -> anyhow::Result<Scenario> {
    let mut sc = Scenario {
        name: name.into(),
        description: format!(
            "Python SDK `{}` (one kept client per side); upstream sends headers, the body 2 ms later; {pairs} pairs one at a time",
            sdk.call
        ),
        ..Scenario::default()
    };
    let cpu = procs::cpu_seconds(setup.pid());
    procs::reset_peak(setup.pid());
    let parsed = run_driver(
        name,
        python,
        sdk.driver,
        &setup.real.url,
        &format!("{}/{}", setup.tw.url, sdk.provider),
        pairs,
        None,
    )
    .await?;
    parsed.fill(&mut sc);
    setup.settle(&mut sc, cpu).await?;
    Ok(sc)
}
