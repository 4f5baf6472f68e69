//! Log importers against fixture files written here from the documented formats, into a real
//! SQLite file. Expected totals are computed in the test from the responses it defines, never
//! taken from the importer's output.
#![expect(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    reason = "tests fail by panicking; token counts are small"
)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_import::logs::{self, CostMode, LogKind, PassOptions, Quiet, Summary};
use tokenwatch_store::{EventFilter, Page, Store};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: Store,
    prices: Arc<PriceTable>,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("projects");
        std::fs::create_dir_all(&root).unwrap();
        let store = Store::open(dir.path().join("tw.db").to_str().unwrap())
            .await
            .unwrap();
        Fixture {
            _dir: dir,
            root,
            store,
            prices: Arc::new(PriceTable::shipped().unwrap()),
        }
    }

    async fn import(&self, kind: LogKind, mode: CostMode) -> Summary {
        self.import_roots(kind, std::slice::from_ref(&self.root), mode)
            .await
    }

    async fn import_roots(&self, kind: LogKind, roots: &[PathBuf], mode: CostMode) -> Summary {
        let options = PassOptions {
            cost_mode: mode,
            progress: Arc::new(Quiet),
            dry_run: false,
            tag: Arc::new(|_: &mut tokenwatch_core::UsageEvent| 0),
        };
        logs::import(&self.store, kind, roots, &self.prices, options)
            .await
            .unwrap()
    }

    async fn events(&self) -> Vec<tokenwatch_core::UsageEvent> {
        self.store
            .list_events(
                &EventFilter::all_tenants(),
                &Page {
                    limit: 1000,
                    ..Page::default()
                },
            )
            .await
            .unwrap()
    }

    fn path(&self, rel: &str) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        p
    }
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// A response's usage: input, output, cache read, 5m write, 1h write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct U(i64, i64, i64, i64, i64);

impl U {
    fn add(&mut self, o: U) {
        self.0 += o.0;
        self.1 += o.1;
        self.2 += o.2;
        self.3 += o.3;
        self.4 += o.4;
    }
    /// claude-sonnet-4-5 list prices: $3 in, $15 out, $0.30 cache read, $3.75 5m write,
    /// $6 1h write per million tokens = micro-dollars per token.
    fn sonnet_micros(self) -> f64 {
        3.0 * self.0 as f64
            + 15.0 * self.1 as f64
            + 0.3 * self.2 as f64
            + 3.75 * self.3 as f64
            + 6.0 * self.4 as f64
    }
}

fn assistant(session: &str, ts: &str, msg: &str, req: Option<&str>, model: &str, u: U) -> Value {
    let mut line = json!({
        "parentUuid": null, "isSidechain": false, "userType": "external",
        "cwd": "/home/u/alpha", "sessionId": session, "version": "2.0.14", "gitBranch": "main",
        "type": "assistant", "uuid": format!("u-{msg}-{ts}"), "timestamp": ts,
        "message": {
            "id": msg, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {
                "input_tokens": u.0, "output_tokens": u.1,
                "cache_read_input_tokens": u.2,
                "cache_creation_input_tokens": u.3 + u.4,
                "cache_creation": {"ephemeral_5m_input_tokens": u.3, "ephemeral_1h_input_tokens": u.4},
                "service_tier": "standard"
            }
        }
    });
    if let Some(r) = req {
        line["requestId"] = json!(r);
    }
    line
}

fn user(session: &str, ts: &str, text: &str) -> String {
    json!({"type": "user", "sessionId": session, "timestamp": ts,
           "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": text}]}})
    .to_string()
}

fn sum_tokens(events: &[tokenwatch_core::UsageEvent]) -> U {
    let mut t = U::default();
    for e in events {
        t.add(U(
            e.usage.input_tokens,
            e.usage.output_tokens,
            e.usage.cache_read_tokens,
            e.usage.cache_write_5m_tokens,
            e.usage.cache_write_1h_tokens,
        ));
    }
    t
}

const SONNET: &str = "claude-sonnet-4-5-20250929";

#[tokio::test]
async fn claude_code_counts_each_response_once_with_its_largest_usage() {
    let fx = Fixture::new().await;
    // The responses, with the usage that must be counted (the largest of their lines).
    let r1 = U(4, 120, 20_000, 1_000, 2_000);
    let r2 = U(10, 60, 0, 0, 0);
    let r3 = U(3, 30, 40_000, 0, 0);
    let r4 = U(5, 40, 1_000, 200, 0);
    let r5a = U(1, 1, 0, 0, 0); // no requestId: counted per distinct line, like ccusage
    let r5b = U(1, 2, 0, 0, 0);

    let s1 = fx.path("-home-u-alpha/s1.jsonl");
    let pretty_r2 = assistant(
        "s1",
        "2026-11-01T10:01:00.000Z",
        "msg_2",
        Some("req_2"),
        SONNET,
        r2,
    )
    .to_string()
    .replace("\":", "\": ");
    assert!(pretty_r2.contains("\"usage\": {"));
    let s1_lines = vec![
        user("s1", "2026-11-01T09:59:00.000Z", "hello \"usage\" in text"),
        // One response as three lines (thinking, text, tool_use); output grows.
        assistant(
            "s1",
            "2026-11-01T10:00:00.000Z",
            "msg_1",
            Some("req_1"),
            SONNET,
            U(4, 5, 20_000, 1_000, 2_000),
        )
        .to_string(),
        assistant(
            "s1",
            "2026-11-01T10:00:01.000Z",
            "msg_1",
            Some("req_1"),
            SONNET,
            r1,
        )
        .to_string(),
        assistant(
            "s1",
            "2026-11-01T10:00:02.000Z",
            "msg_1",
            Some("req_1"),
            SONNET,
            U(4, 50, 20_000, 1_000, 2_000),
        )
        .to_string(),
        pretty_r2.clone(),
        json!({"type": "summary", "summary": "Fixing tests", "leafUuid": "x"}).to_string(),
        assistant("s1", "2026-11-01T10:02:00.000Z", "msg_x", None, SONNET, r5a).to_string(),
        assistant("s1", "2026-11-01T10:03:00.000Z", "msg_x", None, SONNET, r5b).to_string(),
        // Claude Code's own error line: no cost.
        assistant(
            "s1",
            "2026-11-01T10:04:00.000Z",
            "msg_syn",
            Some("req_syn"),
            "<synthetic>",
            U::default(),
        )
        .to_string(),
        // A torn line in the middle of a file.
        "{\"type\":\"assistant\",\"message\":{\"usage\":{\"input_tokens\":".to_owned(),
    ];
    write_lines(&s1, &s1_lines);
    // A resumed session copies s1 verbatim, then goes on.
    let s2 = fx.path("-home-u-alpha/s2.jsonl");
    let mut s2_lines = s1_lines[..5].to_vec();
    s2_lines.push(
        assistant(
            "s2",
            "2026-11-02T08:00:00.000Z",
            "msg_3",
            Some("req_3"),
            SONNET,
            r3,
        )
        .to_string(),
    );
    write_lines(&s2, &s2_lines);
    // A subagent file with its own response and a replay of the parent's.
    let side = fx.path("-home-u-alpha/s1/subagents/agent-ab12.jsonl");
    let mut r4_line = assistant(
        "s1",
        "2026-11-02T09:00:00.000Z",
        "msg_4",
        Some("req_4"),
        SONNET,
        r4,
    );
    r4_line["isSidechain"] = json!(true);
    r4_line["agentId"] = json!("ab12");
    write_lines(&side, &[r4_line.to_string(), pretty_r2]);

    let summary = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!(summary.files_read, 3);
    assert_eq!(summary.malformed.len(), 1, "{:?}", summary.malformed);
    assert_eq!(summary.malformed[0].line, 10);
    assert!(summary.malformed[0].path.ends_with("s1.jsonl"));

    let events = fx.events().await;
    assert_eq!(events.len(), 7, "r1..r4, two id-less lines, one synthetic");
    let mut expected = U::default();
    for u in [r1, r2, r3, r4, r5a, r5b] {
        expected.add(u);
    }
    assert_eq!(sum_tokens(&events), expected);
    let cost: i64 = events.iter().map(|e| e.cost_nanos.unwrap()).sum();
    let expected_cost: f64 = [r1, r2, r3, r4, r5a, r5b]
        .iter()
        .map(|u| (u.sonnet_micros() * 1_000.0).round())
        .sum();
    assert_eq!(cost as f64, expected_cost);

    let by_key: HashMap<&str, &tokenwatch_core::UsageEvent> =
        events.iter().map(|e| (e.dedup_key.as_str(), e)).collect();
    let e1 = by_key["claude_code:msg_1:req_1"];
    assert_eq!(e1.project.as_deref(), Some("-home-u-alpha"));
    assert_eq!(e1.session_id.as_deref(), Some("s1"));
    assert_eq!(e1.tools_used, vec!["Bash"]);
    assert_eq!(
        e1.ts_ms,
        "2026-11-01T10:00:01Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
    );
    assert_eq!(e1.git_branch.as_deref(), Some("main"));
    assert_eq!(e1.cwd.as_deref(), Some("/home/u/alpha"));
    assert_eq!(e1.client_version.as_deref(), Some("2.0.14"));
    assert_eq!(e1.upstream_request_id.as_deref(), Some("req_1"));
    assert_eq!(
        by_key["claude_code:msg_4:req_4"].agent.as_deref(),
        Some("claude-code/subagent:ab12")
    );
    let syn = by_key["claude_code:msg_syn:req_syn"];
    assert_eq!(
        (syn.cost_nanos, syn.status.as_str()),
        (Some(0), "upstream_error")
    );

    // Re-running reads nothing and changes nothing.
    let again = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!(
        (again.files_read, again.files_unchanged, again.bytes_read),
        (0, 3, 0)
    );
    assert_eq!(fx.events().await.len(), 7);
}

#[tokio::test]
async fn appends_partial_lines_growing_usage_rotation_and_deletion() {
    let fx = Fixture::new().await;
    let f = fx.path("-p/a.jsonl");
    // A response still streaming: its first line has a small usage.
    write_lines(
        &f,
        &[assistant(
            "a",
            "2026-11-01T10:00:00.000Z",
            "m1",
            Some("r1"),
            SONNET,
            U(1, 5, 0, 0, 0),
        )
        .to_string()],
    );
    let first = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!(first.events_new, 1);

    // The final line of the same response arrives, plus half of the next line.
    write_lines(
        &f,
        &[assistant(
            "a",
            "2026-11-01T10:00:05.000Z",
            "m1",
            Some("r1"),
            SONNET,
            U(1, 500, 0, 0, 0),
        )
        .to_string()],
    );
    let next = assistant(
        "a",
        "2026-11-01T11:00:00.000Z",
        "m2",
        Some("r2"),
        SONNET,
        U(2, 20, 0, 0, 0),
    )
    .to_string();
    let (head, tail) = next.split_at(next.len() / 2);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .unwrap()
        .write_all(head.as_bytes())
        .unwrap();
    let second = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!((second.events_new, second.events_updated), (0, 1));
    assert_eq!(second.partial_lines, 1);
    assert!(
        second.malformed.is_empty(),
        "a line being written is not malformed"
    );
    let events = fx.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].usage.output_tokens, 500);

    // The rest of the line arrives: it is read from where the last pass stopped.
    let mut rest = tail.to_owned();
    rest.push('\n');
    std::fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .unwrap()
        .write_all(rest.as_bytes())
        .unwrap();
    let third = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!(third.events_new, 1);
    assert_eq!(third.files_restarted, 0);
    assert!(
        third.bytes_read < 2 * next.len() as u64,
        "only the new bytes were read"
    );
    assert_eq!(fx.events().await.len(), 2);

    // The file is replaced by a shorter one with other content (rotation).
    std::fs::remove_file(&f).unwrap();
    write_lines(
        &f,
        &[assistant(
            "b",
            "2026-11-03T10:00:00.000Z",
            "m9",
            Some("r9"),
            SONNET,
            U(7, 7, 0, 0, 0),
        )
        .to_string()],
    );
    let rotated = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!((rotated.files_restarted, rotated.events_new), (1, 1));
    assert_eq!(fx.events().await.len(), 3, "earlier events are kept");

    // Deleted: its cursor goes, its events stay.
    std::fs::remove_file(&f).unwrap();
    let gone = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!(gone.files_gone, 1);
    assert!(
        fx.store
            .import_cursors("claude_code")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(fx.events().await.len(), 3);
}

#[tokio::test]
async fn cost_modes_use_cost_usd_only_when_asked() {
    for (mode, expected) in [
        (CostMode::Calculate, 3_000i64 * 3_000), // 3,000 input tokens at $3/MTok
        (CostMode::Auto, 1_250_000_000),
        (CostMode::Display, 1_250_000_000),
    ] {
        let fx = Fixture::new().await;
        let mut line = assistant(
            "a",
            "2026-11-01T10:00:00.000Z",
            "m1",
            Some("r1"),
            SONNET,
            U(3_000, 0, 0, 0, 0),
        );
        line["costUSD"] = json!(1.25);
        let mut other = assistant(
            "a",
            "2026-11-01T10:00:00.000Z",
            "m2",
            Some("r2"),
            SONNET,
            U(3_000, 0, 0, 0, 0),
        );
        other["message"]["model"] = json!(SONNET);
        write_lines(
            &fx.path("-p/a.jsonl"),
            &[line.to_string(), other.to_string()],
        );
        fx.import(LogKind::ClaudeCode, mode).await;
        let events = fx.events().await;
        let by: HashMap<&str, i64> = events
            .iter()
            .map(|e| (e.dedup_key.as_str(), e.cost_nanos.unwrap()))
            .collect();
        assert_eq!(by["claude_code:m1:r1"], expected, "{mode:?}");
        let plain = if mode == CostMode::Display {
            0
        } else {
            9_000_000
        };
        assert_eq!(by["claude_code:m2:r2"], plain, "{mode:?}");
    }
}

fn codex_line(ts: &str, kind: &str, payload: Value) -> String {
    json!({"timestamp": ts, "type": kind, "payload": payload}).to_string()
}

fn token_count(ts: &str, total: Option<[i64; 4]>, last: Option<[i64; 4]>) -> String {
    let t = |v: [i64; 4]| json!({"input_tokens": v[0], "cached_input_tokens": v[1], "output_tokens": v[2], "reasoning_output_tokens": v[3], "total_tokens": v[0] + v[2]});
    codex_line(
        ts,
        "event_msg",
        json!({"type": "token_count", "info": {
        "total_token_usage": total.map(t), "last_token_usage": last.map(t), "model_context_window": 272000}}),
    )
}

#[tokio::test]
async fn codex_counts_calls_once_across_reemission_and_forks() {
    let fx = Fixture::new().await;
    let sid = "0199a213-81c0-7800-8aa1-bbab2a035a53";
    let lines = vec![
        codex_line(
            "2026-11-01T10:00:00.000Z",
            "session_meta",
            json!({"id": sid, "cwd": "/home/u/beta", "cli_version": "0.50.0"}),
        ),
        // Before any turn_context: the model is a visible fallback.
        token_count(
            "2026-11-01T10:00:01.000Z",
            Some([1_000, 200, 50, 10]),
            Some([1_000, 200, 50, 10]),
        ),
        codex_line(
            "2026-11-01T10:00:02.000Z",
            "turn_context",
            json!({"model": "gpt-5-codex", "cwd": "/home/u/beta"}),
        ),
        // info: null happens (rate-limit only updates).
        codex_line(
            "2026-11-01T10:00:02.500Z",
            "event_msg",
            json!({"type": "token_count", "info": null}),
        ),
        token_count(
            "2026-11-01T10:00:03.000Z",
            Some([3_000, 1_200, 150, 30]),
            Some([2_000, 1_000, 100, 20]),
        ),
        // Re-emitted: same total again.
        token_count(
            "2026-11-01T10:00:04.000Z",
            Some([3_000, 1_200, 150, 30]),
            Some([2_000, 1_000, 100, 20]),
        ),
        // Only totals: the difference counts.
        token_count(
            "2026-11-01T10:00:05.000Z",
            Some([3_500, 1_300, 170, 30]),
            None,
        ),
        codex_line(
            "2026-11-01T10:00:06.000Z",
            "response_item",
            json!({"type": "message", "content": [{"type": "output_text", "text": "done"}]}),
        ),
    ];
    let day = fx.path("2026/11/01/x").parent().unwrap().to_path_buf();
    write_lines(
        &day.join(format!("rollout-2026-11-01T10-00-00-{sid}.jsonl")),
        &lines,
    );
    // A fork copies the parent's history into a new session, then continues.
    let fork = "0199a213-81c0-7800-8aa1-ffffffffffff";
    let mut fork_lines = lines.clone();
    fork_lines[0] = codex_line(
        "2026-11-01T11:00:00.000Z",
        "session_meta",
        json!({"id": fork, "cwd": "/home/u/beta"}),
    );
    fork_lines.push(token_count(
        "2026-11-01T11:00:05.000Z",
        Some([4_000, 1_300, 200, 40]),
        Some([500, 0, 30, 10]),
    ));
    write_lines(
        &day.join(format!("rollout-2026-11-01T11-00-00-{fork}.jsonl")),
        &fork_lines,
    );

    let summary = fx.import(LogKind::Codex, CostMode::Calculate).await;
    assert!(summary.malformed.is_empty(), "{:?}", summary.malformed);
    let events = fx.events().await;
    // Calls: 1,000/200/50 (fallback), 2,000/1,000/100, 500/100/20 (difference), 500/0/30 (fork).
    assert_eq!(events.len(), 4);
    let input: i64 = events.iter().map(|e| e.usage.input_tokens).sum();
    let cached: i64 = events.iter().map(|e| e.usage.cache_read_tokens).sum();
    let output: i64 = events.iter().map(|e| e.usage.output_tokens).sum();
    let reasoning: i64 = events.iter().map(|e| e.usage.reasoning_tokens).sum();
    assert_eq!(cached, 200 + 1_000 + 100);
    assert_eq!(input, (1_000 - 200) + (2_000 - 1_000) + (500 - 100) + 500);
    assert_eq!(output, 50 + 100 + 20 + 30);
    assert_eq!(reasoning, 10 + 20 + 10);
    let fallback: Vec<_> = events.iter().filter(|e| e.model == "gpt-5").collect();
    assert_eq!(fallback.len(), 1);
    assert!(
        fallback[0]
            .tags
            .contains(&("model_fallback".into(), "true".into()))
    );
    assert_eq!(
        summary.fallback_models, 2,
        "once per file that had it; merged into one event"
    );
    assert!(events.iter().all(|e| e.project.as_deref() == Some("beta")));
    assert_eq!(
        events
            .iter()
            .filter(|e| e.session_id.as_deref() == Some(fork))
            .count(),
        1
    );
}

/// A file reachable twice — through a symlinked file, and through a second root that is a
/// symlink to the first — is read once, and keeps its cursor whichever root names it later.
#[cfg(unix)]
#[tokio::test]
async fn a_file_reachable_twice_is_read_once() {
    let fx = Fixture::new().await;
    let u = U(7, 70, 700, 0, 0);
    let real = fx.path("-home-u-alpha/s1.jsonl");
    write_lines(
        &real,
        &[assistant(
            "s1",
            "2026-11-01T10:00:00.000Z",
            "msg_1",
            Some("req_1"),
            SONNET,
            u,
        )
        .to_string()],
    );
    std::os::unix::fs::symlink(&real, fx.path("-home-u-beta/link.jsonl")).unwrap();
    let alias = fx.root.parent().unwrap().join("alias");
    std::os::unix::fs::symlink(&fx.root, &alias).unwrap();

    let first = fx
        .import_roots(
            LogKind::ClaudeCode,
            &[fx.root.clone(), alias.clone()],
            CostMode::Calculate,
        )
        .await;
    assert_eq!((first.files_seen, first.files_read), (1, 1));
    assert_eq!(first.records, 1, "the line was parsed more than once");
    assert_eq!(sum_tokens(&fx.events().await), u);

    let again = fx
        .import_roots(LogKind::ClaudeCode, &[alias], CostMode::Calculate)
        .await;
    assert_eq!(
        (again.files_seen, again.files_unchanged),
        (1, 1),
        "the same file under another spelling of its root was read again"
    );
}

/// Files are parsed 64 at a time and each chunk is written while the next is read: a response
/// repeated 70 files later still counts once, with its largest usage, as one NEW event.
#[tokio::test]
async fn a_response_repeated_in_a_later_chunk_counts_once() {
    let fx = Fixture::new().await;
    let small = U(1, 10, 0, 0, 0);
    let large = U(2, 200, 0, 0, 0);
    let line = |msg: &str, u: U| {
        assistant(
            "s1",
            "2026-11-01T10:00:00.000Z",
            msg,
            Some(&format!("req-{msg}")),
            SONNET,
            u,
        )
        .to_string()
    };
    let mut expected = U::default();
    for i in 0..70 {
        let mut lines = vec![line(&format!("only_{i}"), small)];
        match i {
            0 => lines.extend([line("grows", small), line("shrinks", large)]),
            69 => lines.extend([line("grows", large), line("shrinks", small)]),
            _ => {}
        }
        write_lines(&fx.path(&format!("-home-u-alpha/f{i:03}.jsonl")), &lines);
        expected.add(small);
    }
    expected.add(large); // "grows": the later, larger line
    expected.add(large); // "shrinks": the earlier, larger line

    let summary = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!(
        (summary.events_new, summary.events_updated, summary.merged),
        (72, 0, 2)
    );
    let events = fx.events().await;
    assert_eq!(events.len(), 72);
    assert_eq!(sum_tokens(&events), expected);
}

/// Sets a directory's mtime to one fixed instant long past, as if it had settled before the
/// pass; setting it again restores exactly the same mtime (its ctime moves to "now", which no
/// one can set back).
fn settle(dir: &Path) {
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
    std::fs::File::open(dir)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
}

/// An unchanged directory's stored listing replaces reading it; an added file, a directory
/// changed since its listing (even with its mtime set back), and a name a listing cannot hold
/// are all still found.
#[tokio::test]
async fn unchanged_directories_are_not_listed_again_and_every_change_is_seen() {
    let fx = Fixture::new().await;
    let mut expected = U(0, 0, 0, 0, 0);
    let mut n = 0;
    let mut write = |rel: &str| {
        n += 1;
        let u = U(n, 10 * n, 0, 0, 0);
        expected.add(u);
        let line = assistant(
            "s",
            "2026-11-01T10:00:00.000Z",
            &format!("msg_{n}"),
            Some(&format!("req_{n}")),
            SONNET,
            u,
        );
        write_lines(&fx.path(rel), &[line.to_string()]);
    };
    write("-p1/s1.jsonl");
    write("-p1/s1/subagents/agent-a.jsonl");
    write("-p2/s2.jsonl");
    let dirs = ["", "-p1", "-p1/s1", "-p1/s1/subagents", "-p2"].map(|d| fx.root.join(d));
    for d in &dirs {
        settle(d);
    }

    let first = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!((first.dirs_listed, first.dirs_reused), (5, 0));
    assert_eq!(first.files_read, 3);
    let again = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!(
        (again.dirs_listed, again.dirs_reused),
        (0, 5),
        "settled, unchanged directories were read again"
    );
    assert_eq!((again.files_seen, again.files_unchanged), (3, 3));

    // A new file: its directory is read again, the others are not.
    write("-p1/s1/subagents/agent-b.jsonl");
    let added = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!((added.dirs_listed, added.dirs_reused), (1, 4));
    assert_eq!((added.files_read, added.events_new), (1, 1));
    // Changed just now, so its listing is not trusted yet: read again, nothing lost.
    let racy = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!((racy.dirs_listed, racy.files_seen), (1, 4));

    // A file added and the directory's mtime put back: its ctime still moved.
    write("-p2/s3.jsonl");
    settle(&dirs[4]);
    let hidden = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!(
        (hidden.files_seen, hidden.events_new),
        (5, 1),
        "a file added behind a restored mtime was missed"
    );

    // A name a stored listing cannot hold (a newline): the directory is always read.
    write("-p3/odd\nname.jsonl");
    settle(&fx.root.join("-p3"));
    let odd = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!(odd.events_new, 1);
    let odd_again = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert!(odd_again.dirs_listed >= 1);
    assert_eq!(odd_again.files_seen, 6);

    // A directory removed: its listing and its files' cursors are forgotten, events kept.
    std::fs::remove_dir_all(fx.root.join("-p1/s1")).unwrap();
    settle(&dirs[1]);
    let gone = fx.import(LogKind::ClaudeCode, CostMode::Calculate).await;
    assert_eq!((gone.files_seen, gone.files_gone), (4, 2));
    let stored = fx.store.import_dirs("claude_code").await.unwrap();
    assert!(
        stored.keys().all(|k| !k.contains("-p1/s1")),
        "listings of a removed directory were kept: {:?}",
        stored.keys()
    );
    assert_eq!(sum_tokens(&fx.events().await), expected);
}
