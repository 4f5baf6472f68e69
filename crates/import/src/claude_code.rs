//! Claude Code session logs: `<config>/projects/<project>/<session>.jsonl`, with subagent files
//! under `<project>/<session>/subagents/`.
//!
//! One API response is written as several lines (thinking, text, tool_use) sharing `message.id`
//! and `requestId`; resumed and branched sessions copy earlier lines into new files; subagent
//! (sidechain) files can replay the parent's lines. All of them share the dedup key
//! `claude_code:<message.id>:<requestId>`, and the line with the largest usage wins (see
//! [`crate::logs::larger`]). A line with usage but without both ids is keyed by its own bytes,
//! so verbatim copies still count once. `<synthetic>` lines (errors Claude Code wrote itself)
//! are recorded at $0 as errors.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memchr::memmem;
use serde::Deserialize;
use tokenwatch_core::{Source, Usage};

use crate::logs::{FileCtx, FileOut, Interner, Malformed, Record, for_each_line};
use crate::{fnv1a, parse_ts_ms};

/// Where Claude Code keeps its logs: each directory of `CLAUDE_CONFIG_DIR` (comma-separated)
/// plus `projects`, else `~/.config/claude/projects` and `~/.claude/projects`.
pub fn default_roots(config_dir: Option<&str>, home: Option<&Path>) -> Vec<PathBuf> {
    if let Some(dirs) = config_dir.filter(|d| !d.trim().is_empty()) {
        return dirs
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join("projects"))
            .collect();
    }
    home.map(|h| {
        vec![
            h.join(".config/claude/projects"),
            h.join(".claude/projects"),
        ]
    })
    .unwrap_or_default()
}

/// The project of a log file: the first directory below the `projects` root (Claude Code names
/// it after the working directory, `/` replaced by `-`).
pub fn project_of(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = rel.components();
    let first = parts.next()?;
    // A file directly under the root has no project directory.
    parts.next()?;
    Some(first.as_os_str().to_string_lossy().into_owned())
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cwd: Option<Cow<'a, str>>,
    #[serde(rename = "gitBranch", borrow)]
    git_branch: Option<Cow<'a, str>>,
    #[serde(borrow)]
    version: Option<Cow<'a, str>>,
    #[serde(rename = "isSidechain")]
    is_sidechain: Option<bool>,
    #[serde(rename = "agentId", borrow)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(rename = "requestId", borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(rename = "costUSD")]
    cost_usd: Option<f64>,
    #[serde(rename = "isApiErrorMessage")]
    is_api_error: Option<bool>,
    #[serde(borrow)]
    message: Option<Message<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    usage: Option<LineUsage>,
    #[serde(borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Content<'a>,
}

/// `content` is a string (user text) or an array of blocks; only tool_use names are kept.
#[derive(Default)]
struct Content<'a>(Vec<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Block<'a> {
            #[serde(rename = "type", borrow)]
            kind: Option<Cow<'a, str>>,
            #[serde(borrow)]
            name: Option<Cow<'a, str>>,
        }
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Content::default())
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(Content::default())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut names = Vec::new();
                while let Some(block) = seq.next_element::<Block<'de>>()? {
                    if block.kind.as_deref() == Some("tool_use")
                        && let Some(name) = block.name
                    {
                        names.push(name);
                    }
                }
                Ok(Content(names))
            }
        }
        d.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize, Default)]
struct LineUsage {
    #[serde(default)]
    input_tokens: i64,
    #[serde(default)]
    output_tokens: i64,
    #[serde(default)]
    cache_creation_input_tokens: i64,
    #[serde(default)]
    cache_read_input_tokens: i64,
    cache_creation: Option<CacheCreation>,
    server_tool_use: Option<ServerToolUse>,
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Deserialize, Default)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: i64,
    #[serde(default)]
    ephemeral_1h_input_tokens: i64,
}

#[derive(Deserialize, Default)]
struct ServerToolUse {
    #[serde(default)]
    web_search_requests: i64,
}

#[derive(Deserialize, Default)]
struct OutputDetails {
    #[serde(default)]
    thinking_tokens: i64,
}

impl LineUsage {
    fn normalise(&self) -> Usage {
        // The 5m/1h split when given; otherwise every cache write is a 5-minute write.
        let (w5, w1) = match &self.cache_creation {
            Some(c) if c.ephemeral_5m_input_tokens + c.ephemeral_1h_input_tokens > 0 => {
                (c.ephemeral_5m_input_tokens, c.ephemeral_1h_input_tokens)
            }
            _ => (self.cache_creation_input_tokens, 0),
        };
        Usage {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_input_tokens,
            cache_write_5m_tokens: w5,
            cache_write_1h_tokens: w1,
            reasoning_tokens: self
                .output_tokens_details
                .as_ref()
                .map_or(0, |d| d.thinking_tokens),
            web_search_requests: self
                .server_tool_use
                .as_ref()
                .map_or(0, |s| s.web_search_requests),
        }
    }
}

/// Parses the complete lines of one file into `out`; returns the number of lines.
pub fn parse(ctx: &FileCtx<'_>, body: &[u8], first_line: u64, out: &mut FileOut) -> u64 {
    let usage_key = memmem::Finder::new(b"\"usage\"");
    let mut strings = Interner::default();
    for_each_line(body, first_line, |n, line| {
        // Cheap structural check on every line, so a torn line is reported even when it
        // carries no usage; full parsing only where usage can be.
        if line.first() != Some(&b'{') || line.last() != Some(&b'}') {
            out.malformed.push(Malformed {
                path: ctx.path.to_path_buf(),
                line: n,
                reason: "not a complete JSON object".to_owned(),
            });
            return;
        }
        if usage_key.find(line).is_none() {
            return;
        }
        match serde_json::from_slice::<Line<'_>>(line) {
            Ok(parsed) => match record_of(ctx, &mut strings, parsed, line) {
                Ok(Some(record)) => out.records.push(record),
                Ok(None) => {}
                Err(reason) => out.malformed.push(Malformed {
                    path: ctx.path.to_path_buf(),
                    line: n,
                    reason,
                }),
            },
            Err(e) => out.malformed.push(Malformed {
                path: ctx.path.to_path_buf(),
                line: n,
                reason: format!("invalid JSON: {e}"),
            }),
        }
    })
}

fn record_of(
    ctx: &FileCtx<'_>,
    strings: &mut Interner,
    line: Line<'_>,
    raw: &[u8],
) -> Result<Option<Record>, String> {
    let Some(message) = line.message else {
        return Ok(None);
    };
    let Some(usage) = message.usage else {
        return Ok(None);
    };
    let ts = line
        .timestamp
        .as_deref()
        .ok_or("a line with usage has no timestamp")?;
    let ts_ms = parse_ts_ms(ts).ok_or_else(|| format!("timestamp '{ts}' is not RFC 3339"))?;
    let model = message.model.as_deref().unwrap_or("unknown");
    let key = match (&message.id, &line.request_id) {
        (Some(m), Some(r)) => format!("claude_code:{m}:{r}"),
        _ => format!("claude_code:line:{:016x}", fnv1a(raw)),
    };
    fn intern(strings: &mut Interner, v: Option<Cow<'_, str>>) -> Option<Arc<str>> {
        v.filter(|v| !v.is_empty()).map(|v| strings.get(&v))
    }
    let agent = match (line.is_sidechain, &line.agent_id) {
        (Some(true), Some(id)) => format!("claude-code/subagent:{id}"),
        (Some(true), None) => "claude-code/subagent".to_owned(),
        _ => "claude-code".to_owned(),
    };
    Ok(Some(Record {
        key: key.into_boxed_str(),
        ts_ms,
        source: Source::ClaudeCode,
        provider: "anthropic",
        endpoint: "messages",
        model: strings.get(model),
        usage: usage.normalise(),
        line_cost_usd: line.cost_usd,
        synthetic: model == "<synthetic>" || line.is_api_error == Some(true),
        project: ctx.project.clone(),
        session: intern(strings, line.session_id),
        agent: Some(strings.get(&agent)),
        cwd: intern(strings, line.cwd),
        git_branch: intern(strings, line.git_branch),
        client_version: intern(strings, line.version),
        request_id: line.request_id.map(|r| Box::from(r.as_ref())),
        stop_reason: intern(strings, message.stop_reason),
        tools: message
            .content
            .0
            .iter()
            .map(|t| strings.get(t))
            .collect::<Vec<Arc<str>>>()
            .into_boxed_slice(),
        tags: Box::default(),
    }))
}
