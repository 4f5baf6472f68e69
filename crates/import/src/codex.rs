//! Codex CLI session logs: `${CODEX_HOME:-~/.codex}/sessions/YYYY/MM/DD/rollout-*.jsonl` and
//! `archived_sessions/`.
//!
//! Each line is `{"timestamp", "type", "payload"}`. `session_meta` names the session and its
//! working directory; `turn_context` names the model of the turns that follow; `event_msg` with
//! `payload.type == "token_count"` carries `info.last_token_usage` (this call) and
//! `info.total_token_usage` (cumulative). A call's usage is `last_token_usage`, or else the
//! difference of successive totals. A token_count whose total equals the previous one is a
//! re-emission and is skipped. The dedup key is the event's time and cumulative totals, not the
//! file, so a forked session that copies its parent's lines counts them once.
//!
//! Codex reports OpenAI-style counts: `input_tokens` includes `cached_input_tokens`, and
//! `output_tokens` includes `reasoning_output_tokens`; they are normalised to tokenwatch's
//! meaning (input excludes cache reads). Before any `turn_context` the model is unknown: such
//! events use [`FALLBACK_MODEL`] and carry the tag `model_fallback=true`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memchr::memmem;
use serde::Deserialize;
use tokenwatch_core::{Source, Usage};

use crate::logs::{FileCtx, FileOut, Interner, Malformed, Record, for_each_line};
use crate::parse_ts_ms;

/// The model assumed when a log names none (Codex's default at the time of its older logs).
pub const FALLBACK_MODEL: &str = "gpt-5";

/// `$CODEX_HOME/sessions` and `$CODEX_HOME/archived_sessions` (default `~/.codex`).
pub fn default_roots(codex_home: Option<&str>, home: Option<&Path>) -> Vec<PathBuf> {
    let base = match codex_home.filter(|d| !d.trim().is_empty()) {
        Some(dir) => PathBuf::from(dir.trim()),
        None => match home {
            Some(h) => h.join(".codex"),
            None => return Vec::new(),
        },
    };
    vec![base.join("sessions"), base.join("archived_sessions")]
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cwd: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cli_version: Option<Cow<'a, str>>,
    info: Option<Info>,
}

#[derive(Deserialize)]
struct Info {
    total_token_usage: Option<Tokens>,
    last_token_usage: Option<Tokens>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Tokens {
    #[serde(default)]
    input_tokens: i64,
    #[serde(default)]
    cached_input_tokens: i64,
    #[serde(default)]
    output_tokens: i64,
    #[serde(default)]
    reasoning_output_tokens: i64,
}

impl Tokens {
    fn minus(self, other: Tokens) -> Tokens {
        Tokens {
            input_tokens: (self.input_tokens - other.input_tokens).max(0),
            cached_input_tokens: (self.cached_input_tokens - other.cached_input_tokens).max(0),
            output_tokens: (self.output_tokens - other.output_tokens).max(0),
            reasoning_output_tokens: (self.reasoning_output_tokens - other.reasoning_output_tokens)
                .max(0),
        }
    }

    fn normalise(self) -> Usage {
        let cached = self.cached_input_tokens.clamp(0, self.input_tokens.max(0));
        Usage {
            input_tokens: self.input_tokens - cached,
            cache_read_tokens: cached,
            output_tokens: self.output_tokens,
            reasoning_tokens: self.reasoning_output_tokens,
            ..Usage::default()
        }
    }
}

/// Per-file state: the model and totals so far.
#[derive(Default)]
struct State {
    session: Option<Arc<str>>,
    cwd: Option<Arc<str>>,
    project: Option<Arc<str>>,
    version: Option<Arc<str>>,
    model: Option<Arc<str>>,
    prev_total: Option<Tokens>,
    strings: Interner,
}

/// Parses a whole Codex file into `out`; returns the number of lines.
pub fn parse(ctx: &FileCtx<'_>, body: &[u8], first_line: u64, out: &mut FileOut) -> u64 {
    let wanted = [
        memmem::Finder::new(b"token_count"),
        memmem::Finder::new(b"turn_context"),
        memmem::Finder::new(b"session_meta"),
    ];
    let mut state = State::default();
    state.session = session_from_file_name(ctx.path).map(|s| state.strings.get(&s));
    for_each_line(body, first_line, |n, line| {
        let bad = |reason: String| Malformed {
            path: ctx.path.to_path_buf(),
            line: n,
            reason,
        };
        if line.first() != Some(&b'{') || line.last() != Some(&b'}') {
            out.malformed
                .push(bad("not a complete JSON object".to_owned()));
            return;
        }
        if !wanted.iter().any(|f| f.find(line).is_some()) {
            return;
        }
        let parsed = match serde_json::from_slice::<Line<'_>>(line) {
            Ok(p) => p,
            Err(e) => {
                out.malformed.push(bad(format!("invalid JSON: {e}")));
                return;
            }
        };
        let Some(payload) = parsed.payload else {
            return;
        };
        match parsed.kind.as_deref() {
            Some("session_meta") => {
                if let Some(id) = payload.id {
                    state.session = Some(state.strings.get(&id));
                }
                if let Some(cwd) = payload.cwd {
                    state.set_cwd(&cwd);
                }
                state.version = payload.cli_version.map(|v| state.strings.get(&v));
            }
            Some("turn_context") => {
                if let Some(model) = payload.model.filter(|m| !m.is_empty()) {
                    state.model = Some(state.strings.get(&model));
                }
                if let Some(cwd) = payload.cwd {
                    state.set_cwd(&cwd);
                }
            }
            Some("event_msg") if payload.kind.as_deref() == Some("token_count") => {
                let Some(info) = payload.info else {
                    return;
                };
                match token_record(&mut state, info, parsed.timestamp.as_deref()) {
                    Ok(Some((record, fallback))) => {
                        out.fallback_models += u64::from(fallback);
                        out.records.push(record);
                    }
                    Ok(None) => {}
                    Err(reason) => out.malformed.push(bad(reason)),
                }
            }
            _ => {}
        }
    })
}

impl State {
    fn set_cwd(&mut self, cwd: &str) {
        self.cwd = Some(self.strings.get(cwd));
        self.project = Path::new(cwd)
            .file_name()
            .map(|n| self.strings.get(&n.to_string_lossy()));
    }
}

fn token_record(
    state: &mut State,
    info: Info,
    timestamp: Option<&str>,
) -> Result<Option<(Record, bool)>, String> {
    let total = info.total_token_usage;
    if total.is_some() && total == state.prev_total {
        return Ok(None);
    }
    let delta = match (info.last_token_usage, total) {
        (Some(last), _) => last,
        (None, Some(t)) => t.minus(state.prev_total.unwrap_or_default()),
        (None, None) => return Ok(None),
    };
    if total.is_some() {
        state.prev_total = total;
    }
    if delta == Tokens::default() {
        return Ok(None);
    }
    let ts = timestamp.ok_or("a token_count event has no timestamp")?;
    let ts_ms = parse_ts_ms(ts).ok_or_else(|| format!("timestamp '{ts}' is not RFC 3339"))?;
    let key_tokens = total.unwrap_or(delta);
    let key = format!(
        "codex:{ts_ms}:{}:{}:{}:{}{}",
        key_tokens.input_tokens,
        key_tokens.cached_input_tokens,
        key_tokens.output_tokens,
        key_tokens.reasoning_output_tokens,
        // Without a cumulative total the time alone cannot tell sessions apart.
        match (&total, &state.session) {
            (None, Some(s)) => format!(":{s}"),
            _ => String::new(),
        }
    );
    let fallback = state.model.is_none();
    let model = match &state.model {
        Some(m) => Arc::clone(m),
        None => state.strings.get(FALLBACK_MODEL),
    };
    let tags: Box<[(&'static str, Arc<str>)]> = if fallback {
        Box::new([("model_fallback", state.strings.get("true"))])
    } else {
        Box::default()
    };
    Ok(Some((
        Record {
            key: key.into_boxed_str(),
            ts_ms,
            source: Source::Codex,
            provider: "openai",
            endpoint: "responses",
            model,
            usage: delta.normalise(),
            line_cost_usd: None,
            synthetic: false,
            project: state.project.clone(),
            session: state.session.clone(),
            agent: Some(state.strings.get("codex")),
            cwd: state.cwd.clone(),
            git_branch: None,
            client_version: state.version.clone(),
            request_id: None,
            stop_reason: None,
            tools: Box::default(),
            tags,
        },
        fallback,
    )))
}

/// `rollout-2026-11-01T10-00-00-<uuid>.jsonl` → the uuid (the last five dash groups).
fn session_from_file_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let parts: Vec<&str> = stem.rsplitn(6, '-').collect();
    if parts.len() < 6 {
        return None;
    }
    let mut uuid: Vec<&str> = parts[..5].to_vec();
    uuid.reverse();
    let id = uuid.join("-");
    (id.len() == 36).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_come_from_rollout_names() {
        assert_eq!(
            session_from_file_name(Path::new(
                "/x/rollout-2026-11-01T10-00-00-0199a213-81c0-7800-8aa1-bbab2a035a53.jsonl"
            ))
            .as_deref(),
            Some("0199a213-81c0-7800-8aa1-bbab2a035a53")
        );
        assert_eq!(session_from_file_name(Path::new("/x/other.jsonl")), None);
    }
}
