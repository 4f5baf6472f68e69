//! A deterministic, realistic Claude Code log corpus for the import benchmark.
//!
//! Layout and lines follow Claude Code's own: `projects/<project>/<session>.jsonl`, subagent
//! files under `<project>/<session>/subagents/agent-<id>.jsonl`; user lines carry most of the
//! bytes (tool results), assistant lines carry usage. Every duplication pattern the importer
//! must handle is present: one response written as 2–3 lines with growing output, resumed
//! sessions that copy an earlier session's lines, subagent files that replay the parent's
//! lines, `<synthetic>` error lines, lines formatted with `": "`, and summary lines. Prompts stay
//! under 200k tokens so long-context pricing rules cannot make tools disagree.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

/// splitmix64: tiny, fast and good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below(u64::try_from(hi - lo + 1).unwrap_or(1))).unwrap_or(0)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(len);
        s
    }
    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// What a generated corpus holds.
#[derive(Debug, Default, Clone, Copy)]
pub struct CorpusStats {
    pub files: u64,
    pub bytes: u64,
    pub lines: u64,
}

const MODELS: &[(&str, u64)] = &[
    ("claude-sonnet-4-5-20250929", 60),
    ("claude-haiku-4-5-20251001", 20),
    ("claude-opus-4-6", 15),
    ("claude-opus-4-1-20250805", 5),
];

fn model(rng: &mut Rng) -> &'static str {
    let mut pick = rng.below(100);
    for (m, w) in MODELS {
        if pick < *w {
            return m;
        }
        pick -= w;
    }
    MODELS[0].0
}

/// JSON-safe filler text (already escaped): words, with some `\n` and `\"`.
fn text_pool(rng: &mut Rng) -> String {
    const WORDS: &[&str] = &[
        "fn",
        "let",
        "mut",
        "impl",
        "struct",
        "cargo",
        "test",
        "error",
        "the",
        "a",
        "file",
        "src/main.rs",
        "return",
        "value",
        "\\\"quoted\\\"",
        "async",
        "await",
        "match",
        "Ok(())",
        "\\n",
        "\\n    ",
        "{",
        "}",
        "self",
        "config",
        "usage",
        "tokens",
        "=>",
        "vec![]",
    ];
    let mut s = String::with_capacity(1 << 20);
    while s.len() < (1 << 20) {
        s.push_str(WORDS[usize::try_from(rng.below(WORDS.len() as u64)).unwrap_or(0)]);
        s.push(' ');
    }
    s
}

fn slice<'a>(pool: &'a str, rng: &mut Rng, len: usize) -> &'a str {
    let len = len.min(pool.len() - 16);
    let mut start = usize::try_from(rng.below((pool.len() - len) as u64)).unwrap_or(0);
    // Start and end on a space so no escape sequence is cut in half.
    while start > 0 && pool.as_bytes()[start - 1] != b' ' {
        start -= 1;
    }
    let mut end = start + len;
    while end < pool.len() && pool.as_bytes()[end - 1] != b' ' {
        end += 1;
    }
    &pool[start..end.min(pool.len())]
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

struct Session<'a> {
    id: String,
    cwd: String,
    rng: &'a mut Rng,
    pool: &'a str,
    ts: i64,
    parent: Option<String>,
    pretty_percent: u64,
}

impl Session<'_> {
    fn common(&mut self, kind: &str, sidechain: Option<&str>) -> String {
        let uuid = self.rng.uuid();
        let parent = self
            .parent
            .replace(uuid.clone())
            .map_or("null".to_owned(), |p| format!("\"{p}\""));
        let side = match sidechain {
            Some(agent) => format!("\"isSidechain\":true,\"agentId\":\"{agent}\","),
            None => "\"isSidechain\":false,".to_owned(),
        };
        format!(
            "\"parentUuid\":{parent},{side}\"userType\":\"external\",\"cwd\":\"{}\",\"sessionId\":\"{}\",\"version\":\"2.0.14\",\"gitBranch\":\"main\",\"type\":\"{kind}\",\"uuid\":\"{uuid}\",\"timestamp\":\"{}\"",
            self.cwd,
            self.id,
            iso(self.ts)
        )
    }

    fn user(&mut self) -> String {
        self.ts += self.rng.range(2_000, 90_000);
        let len = usize::try_from(self.rng.range(1_000, 20_000)).unwrap_or(1_000);
        let body = slice(self.pool, self.rng, len);
        let common = self.common("user", None);
        format!(
            "{{{common},\"message\":{{\"role\":\"user\",\"content\":[{{\"tool_use_id\":\"toolu_{}\",\"type\":\"tool_result\",\"content\":\"{body}\",\"is_error\":false}}]}}}}",
            self.rng.hex(24)
        )
    }

    /// One response as 1–3 lines sharing message.id and requestId, output growing.
    fn response(&mut self, sidechain: Option<&str>) -> Vec<String> {
        self.ts += self.rng.range(1_000, 60_000);
        let synthetic = self.rng.chance(1);
        let model = if synthetic {
            "<synthetic>"
        } else {
            model(self.rng)
        };
        let msg = format!("msg_01{}", self.rng.hex(22));
        let req = format!("req_011{}", self.rng.hex(21));
        let (input, cache_read, w5, w1, output) = if synthetic {
            (0, 0, 0, 0, 0)
        } else {
            let w = self.rng.range(0, 20_000);
            let w1 = if self.rng.chance(20) { w / 2 } else { 0 };
            (
                self.rng.range(1, 60),
                self.rng.range(0, 150_000),
                w - w1,
                w1,
                self.rng.range(10, 4_000),
            )
        };
        let parts = if synthetic { 1 } else { self.rng.range(1, 3) };
        let mut lines = Vec::new();
        for part in 1..=parts {
            // Earlier lines of a streamed response carry a smaller output count.
            let out = if part == parts {
                output
            } else {
                output / (4 - part)
            };
            let block = match (part, parts) {
                (1, p) if p > 1 => format!(
                    "{{\"type\":\"thinking\",\"thinking\":\"{}\",\"signature\":\"{}\"}}",
                    slice(self.pool, self.rng, 300),
                    self.rng.hex(64)
                ),
                (p, n) if p == n && n > 1 => format!(
                    "{{\"type\":\"tool_use\",\"id\":\"toolu_{}\",\"name\":\"Bash\",\"input\":{{\"command\":\"cargo test\"}}}}",
                    self.rng.hex(24)
                ),
                _ => format!(
                    "{{\"type\":\"text\",\"text\":\"{}\"}}",
                    slice(self.pool, self.rng, 600)
                ),
            };
            let common = self.common("assistant", sidechain);
            let error = if synthetic {
                ",\"isApiErrorMessage\":true"
            } else {
                ""
            };
            let line = format!(
                "{{{common},\"requestId\":\"{req}\"{error},\"message\":{{\"id\":\"{msg}\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"{model}\",\"content\":[{block}],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":{input},\"cache_creation_input_tokens\":{},\"cache_read_input_tokens\":{cache_read},\"cache_creation\":{{\"ephemeral_5m_input_tokens\":{w5},\"ephemeral_1h_input_tokens\":{w1}}},\"output_tokens\":{out},\"service_tier\":\"standard\"}}}}}}",
                w5 + w1
            );
            // Some writers put a space after every colon.
            lines.push(if self.rng.chance(self.pretty_percent) {
                line.replace("\":", "\": ")
            } else {
                line
            });
            self.ts += self.rng.range(50, 2_000);
        }
        lines
    }
}

/// Writes a corpus of about `size_mb` MB into `dir/projects`, deterministic for `seed`.
/// `pretty_percent` of assistant lines are written with `": "` separators: tokenwatch counts
/// them, ccusage 20.0.24 silently skips them, so a corpus meant for comparing daily totals
/// with ccusage uses 0.
pub fn generate(
    dir: &Path,
    size_mb: u64,
    seed: u64,
    pretty_percent: u64,
) -> anyhow::Result<CorpusStats> {
    let mut rng = Rng(seed);
    let pool = text_pool(&mut rng);
    let root = dir.join("projects");
    let target = size_mb * 1_000_000;
    let projects = 30;
    // Sessions average ~350 kB so the corpus has well over 1,000 files at 500 MB.
    let per_session = 350_000u64;
    let mut stats = CorpusStats::default();
    let mut earlier: Vec<Vec<Vec<String>>> = vec![Vec::new(); projects];
    let start_ms = jiff::Timestamp::from_second(1_788_220_800).map_or(0, |t| t.as_millisecond()); // 2026-09-01
    let span_ms = 75 * 86_400_000i64;
    while stats.bytes < target {
        let p = usize::try_from(rng.below(projects as u64)).unwrap_or(0);
        let project = format!("-home-user-code-project-{p}");
        let pdir = root.join(&project);
        std::fs::create_dir_all(&pdir).with_context(|| format!("creating {}", pdir.display()))?;
        let ts = start_ms + rng.range(0, span_ms);
        let id = rng.uuid();
        let mut session = Session {
            id: id.clone(),
            cwd: format!("/home/user/code/project-{p}"),
            rng: &mut rng,
            pool: &pool,
            ts,
            parent: None,
            pretty_percent,
        };
        let mut lines: Vec<String> = Vec::new();
        // Resumed: start with a verbatim copy of an earlier session's first lines.
        if session.rng.chance(15)
            && let Some(prev) = earlier[p].last()
        {
            let k = prev
                .len()
                .min(usize::try_from(session.rng.range(4, 40)).unwrap_or(4));
            lines.extend(prev[..k].iter().cloned());
        }
        let budget = per_session / 2 + session.rng.below(per_session);
        let mut size = 0u64;
        let mut assistant_lines = Vec::new();
        while size < budget {
            let u = session.user();
            size += u.len() as u64;
            lines.push(u);
            for l in session.response(None) {
                size += l.len() as u64;
                assistant_lines.push(l.clone());
                lines.push(l);
            }
            if session.rng.chance(2) {
                lines.push(format!(
                    "{{\"type\":\"summary\",\"summary\":\"{}\",\"leafUuid\":\"{}\"}}",
                    slice(session.pool, session.rng, 40).trim(),
                    session.rng.uuid()
                ));
            }
        }
        // A subagent file: its own responses plus replays of the parent's lines.
        let mut side: Vec<String> = Vec::new();
        if session.rng.chance(20) {
            let agent = session.rng.hex(8);
            session.parent = None;
            for _ in 0..session.rng.range(5, 12) {
                side.push(session.user());
                side.extend(session.response(Some(&agent)));
            }
            for _ in 0..2 {
                if !assistant_lines.is_empty() {
                    let i = usize::try_from(session.rng.below(assistant_lines.len() as u64))
                        .unwrap_or(0);
                    side.push(assistant_lines[i].clone());
                }
            }
        }
        let write =
            |path: &Path, lines: &[String], stats: &mut CorpusStats| -> anyhow::Result<()> {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                let mut w = BufWriter::with_capacity(1 << 20, file);
                for l in lines {
                    w.write_all(l.as_bytes())?;
                    w.write_all(b"\n")?;
                    stats.bytes += l.len() as u64 + 1;
                }
                w.flush()?;
                stats.files += 1;
                stats.lines += lines.len() as u64;
                Ok(())
            };
        write(&pdir.join(format!("{id}.jsonl")), &lines, &mut stats)?;
        if !side.is_empty() {
            let sdir = pdir.join(&id).join("subagents");
            std::fs::create_dir_all(&sdir)?;
            write(
                &sdir.join(format!("agent-{}.jsonl", rng.hex(8))),
                &side,
                &mut stats,
            )?;
        }
        earlier[p].push(lines);
        if earlier[p].len() > 2 {
            earlier[p].remove(0);
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((
                        p.strip_prefix(dir).unwrap().display().to_string(),
                        std::fs::read_to_string(&p).unwrap(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn deterministic_and_holds_every_duplication_pattern() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let sa = generate(a.path(), 6, 7, 5).unwrap();
        generate(b.path(), 6, 7, 5).unwrap();
        let fa = read_all(a.path());
        assert_eq!(fa, read_all(b.path()));
        assert!(sa.bytes >= 6_000_000 && sa.files >= 10, "{sa:?}");
        let all: String = fa.iter().map(|(_, t)| t.as_str()).collect();
        for needle in [
            "\"isSidechain\":true",
            "<synthetic>",
            "\"usage\": {",
            "\"type\":\"summary\"",
            "/subagents/agent-",
        ] {
            let hay = if needle.starts_with('/') {
                fa.iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                all.clone()
            };
            assert!(hay.contains(needle), "{needle} missing");
        }
        // Every line is valid JSON, and some responses span several lines.
        let mut ids = std::collections::HashMap::<String, u32>::new();
        for line in all.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(id) = v["message"]["id"].as_str() {
                *ids.entry(id.to_owned()).or_default() += 1;
            }
        }
        assert!(ids.values().any(|&n| n >= 3));
    }
}
