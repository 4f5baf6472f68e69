//! The processes under test: the mock upstream(s) and tokenwatch, started from the release
//! binaries, and what the kernel says about them (CPU time, resident memory, its peak).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release binary `name`, or an error telling how to build it.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("release").join(name);
    if !path.is_file() {
        bail!(
            "{} is missing; build it first: cargo build --release -p tokenwatch -p tokenwatch-mock",
            path.display()
        );
    }
    Ok(path)
}

/// Starts a program that prints `listening on http://ADDR` as its first line.
pub fn start(program: &Path, args: &[&str], env: &[(String, String)]) -> anyhow::Result<Proc> {
    let mut cmd = Command::new(program);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("{} printed {line:?}", program.display()))?
        .to_owned();
    Ok(Proc { child, url })
}

/// CPU seconds (user + system) the process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// CPU seconds (user + system) one thread of this process has used, by its thread id.
pub fn thread_cpu_seconds(tid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/self/task/{tid}/stat"))
}

/// The calling thread's id (from `/proc/thread-self`), for [`thread_cpu_seconds`].
pub fn current_tid() -> Option<u32> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}

/// CPU seconds each live thread of process `pid` has used, by thread id, with its name.
pub fn threads_cpu_seconds(pid: u32) -> std::collections::HashMap<u32, (String, f64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Default::default();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let tid: u32 = task.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let secs = stat_cpu_seconds(&task.path().join("stat").display().to_string());
            Some((tid, (comm.trim().to_owned(), secs)))
        })
        .collect()
}

/// utime + stime of a `stat` file, in seconds.
fn stat_cpu_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th there.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/<pid>/status` field in MiB (VmRSS, VmHWM).
pub fn status_mib(pid: u32, field: &str) -> f64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return f64::NAN;
    };
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Resets the peak-RSS high-water mark (VmHWM), so each scenario reports its own peak.
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
