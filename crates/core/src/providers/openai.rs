//! OpenAI and every OpenAI-compatible API: Chat Completions, legacy Completions, Responses,
//! Embeddings.
//!
//! Usage: `prompt_tokens` (Chat) / `input_tokens` (Responses) INCLUDE the cached tokens, and
//! `completion_tokens` / `output_tokens` INCLUDE reasoning; the adapter subtracts cached tokens
//! from input so nothing is billed twice, and keeps reasoning as an informational subset of
//! output. Chat streams carry usage only in a final chunk (`choices: []`) when
//! `stream_options.include_usage` is set; [`inject_include_usage`] and [`UsageChunkStripper`]
//! let the proxy ask for it without the client seeing it.

use serde_json::Value;

use super::common::{
    JsonEvents, PromptBuilder, SseParser, array, content_chars, content_text, int, json_chars,
    quick_request, text,
};
use super::{Endpoint, Provider, ProviderKind, QuickFacts, ResponseFacts, StreamParser};
use crate::event::RequestShape;
use crate::prompt::PromptText;
use crate::usage::Usage;

/// The OpenAI-compatible adapter.
pub struct OpenAi;

/// Normalises a Chat/Completions/Embeddings `usage` or a Responses `usage` object.
fn usage_from(u: &Value) -> Usage {
    let (prompt, completion, cached, reasoning) =
        if u.get("input_tokens").is_some() || u.get("output_tokens").is_some() {
            (
                int(u, "input_tokens"),
                int(u, "output_tokens"),
                u.get("input_tokens_details")
                    .map_or(0, |d| int(d, "cached_tokens")),
                u.get("output_tokens_details")
                    .map_or(0, |d| int(d, "reasoning_tokens")),
            )
        } else {
            (
                int(u, "prompt_tokens"),
                int(u, "completion_tokens"),
                u.get("prompt_tokens_details")
                    .map_or(0, |d| int(d, "cached_tokens")),
                u.get("completion_tokens_details")
                    .map_or(0, |d| int(d, "reasoning_tokens")),
            )
        };
    // Some compatible APIs (DeepSeek) report cache hits as their own field.
    let cached = if cached == 0 {
        int(u, "prompt_cache_hit_tokens")
    } else {
        cached
    };
    Usage {
        input_tokens: (prompt - cached).max(0),
        output_tokens: completion,
        cache_read_tokens: cached,
        reasoning_tokens: reasoning,
        ..Usage::default()
    }
}

fn error_type(v: &Value) -> Option<String> {
    let e = v.get("error").filter(|e| e.is_object())?;
    text(e, "code")
        .or_else(|| text(e, "type"))
        .or_else(|| Some("error".to_owned()))
}

/// Facts from a complete Chat/Completions/Embeddings body.
fn chat_facts(v: &Value, facts: &mut ResponseFacts) {
    facts.model = text(v, "model");
    facts.response_id = text(v, "id");
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        facts.usage = usage_from(u);
        facts.usage_seen = true;
    }
    for choice in array(v, "choices") {
        if let Some(r) = text(choice, "finish_reason") {
            facts.stop_reason = Some(r);
        }
        let calls = choice
            .get("message")
            .or_else(|| choice.get("delta"))
            .and_then(|m| m.get("tool_calls"));
        for call in calls
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(name) = call.get("function").and_then(|f| text(f, "name")) {
                facts.tools_used.push(name);
            }
        }
    }
    if facts.error_type.is_none() {
        facts.error_type = error_type(v);
    }
}

/// Facts from a Responses API `response` object.
fn response_object_facts(r: &Value, facts: &mut ResponseFacts) {
    facts.model = text(r, "model").or(facts.model.take());
    facts.response_id = text(r, "id").or(facts.response_id.take());
    if let Some(u) = r.get("usage").filter(|u| u.is_object()) {
        facts.usage = usage_from(u);
        facts.usage_seen = true;
    }
    facts.tools_used.clear();
    let mut searches = 0;
    for item in array(r, "output") {
        match item.get("type").and_then(Value::as_str) {
            Some("function_call" | "custom_tool_call") => {
                facts.tools_used.extend(text(item, "name"))
            }
            Some("web_search_call") => {
                searches += 1;
                facts.tools_used.push("web_search".to_owned());
            }
            Some(t) if t.ends_with("_call") => facts
                .tools_used
                .push(t.trim_end_matches("_call").to_owned()),
            _ => {}
        }
    }
    facts.usage.web_search_requests = searches;
    match text(r, "status").as_deref() {
        Some("incomplete") => {
            facts.stop_reason = r
                .get("incomplete_details")
                .and_then(|d| text(d, "reason"))
                .or(Some("incomplete".to_owned()));
        }
        Some("failed") => {
            facts.error_type = r
                .get("error")
                .and_then(|e| text(e, "code"))
                .or(Some("failed".to_owned()));
        }
        Some(status) => facts.stop_reason = Some(status.to_owned()),
        None => {}
    }
}

impl Provider for OpenAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Openai
    }

    fn endpoint(&self, method: &str, path: &str) -> Endpoint {
        if method != "POST" {
            return Endpoint::Other;
        }
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Endpoint::ChatCompletions
        } else if path.ends_with("/completions") {
            Endpoint::Completions
        } else if path.ends_with("/responses") {
            Endpoint::Responses
        } else if path.ends_with("/embeddings") {
            Endpoint::Embeddings
        } else {
            Endpoint::Other
        }
    }

    fn quick_request_facts(&self, _endpoint: Endpoint, _path: &str, body: &[u8]) -> QuickFacts {
        let q = quick_request(body);
        QuickFacts {
            model: q.model.map(|m| m.into_owned()),
            stream: q.stream.unwrap_or(false),
            include_usage: q
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        }
    }

    fn request_shape(&self, endpoint: Endpoint, req: &Value) -> RequestShape {
        let mut shape = RequestShape::default();
        if let Some(tools) = req.get("tools").and_then(Value::as_array) {
            shape.tools_offered = tools.len() as i64;
            shape.tools_chars = tools.iter().map(json_chars).sum();
        }
        let mut items: Vec<&Value> = Vec::new();
        match endpoint {
            Endpoint::Responses => {
                if let Some(i) = req.get("instructions").filter(|i| !i.is_null()) {
                    shape.messages_system += 1;
                    shape.system_chars += content_chars(i);
                }
                match req.get("input") {
                    Some(Value::String(s)) => {
                        shape.messages_user += 1;
                        shape.new_input_chars += s.chars().count() as i64;
                        return shape;
                    }
                    Some(Value::Array(list)) => items.extend(list),
                    _ => {}
                }
            }
            Endpoint::Completions | Endpoint::Embeddings => {
                shape.messages_user = 1;
                shape.new_input_chars = content_chars(
                    req.get("prompt")
                        .or_else(|| req.get("input"))
                        .unwrap_or(&Value::Null),
                );
                return shape;
            }
            _ => items.extend(array(req, "messages")),
        }
        let last_user = items.iter().rposition(|m| role(m) == "user");
        for (i, m) in items.iter().enumerate() {
            let r = role(m);
            let chars = content_chars(
                m.get("content")
                    .or_else(|| m.get("output"))
                    .or_else(|| m.get("arguments"))
                    .unwrap_or(&Value::Null),
            );
            match r {
                "system" | "developer" => {
                    shape.messages_system += 1;
                    shape.system_chars += chars;
                    continue;
                }
                "user" => shape.messages_user += 1,
                "assistant" => shape.messages_assistant += 1,
                "tool" | "function" => shape.messages_tool += 1,
                _ => {}
            }
            shape.count_turn(chars, Some(i) == last_user);
        }
        shape
    }

    fn prompt_text(&self, endpoint: Endpoint, req: &Value) -> PromptText {
        let mut b = PromptBuilder::default();
        for tool in array(req, "tools") {
            // Chat: {"type": "function", "function": {"name"}}; Responses: {"name"} at the top.
            let name = tool
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| tool.get("name"))
                .and_then(Value::as_str);
            b.tool(name, tool);
        }
        let mut items: Vec<&Value> = Vec::new();
        match endpoint {
            Endpoint::Responses => {
                if let Some(i) = req.get("instructions").filter(|i| !i.is_null()) {
                    b.system(content_text(i));
                }
                match req.get("input") {
                    Some(Value::String(s)) => {
                        b.message(s.clone(), true, true);
                        return b.finish();
                    }
                    Some(Value::Array(list)) => items.extend(list),
                    _ => {}
                }
            }
            Endpoint::Completions | Endpoint::Embeddings => {
                let input = req.get("prompt").or_else(|| req.get("input"));
                b.message(content_text(input.unwrap_or(&Value::Null)), true, true);
                return b.finish();
            }
            _ => items.extend(array(req, "messages")),
        }
        let last_user = items.iter().rposition(|m| role(m) == "user");
        for (i, m) in items.iter().enumerate() {
            let content = m
                .get("content")
                .or_else(|| m.get("output"))
                .or_else(|| m.get("arguments"))
                .unwrap_or(&Value::Null);
            match role(m) {
                "system" | "developer" => b.system(content_text(content)),
                r => b.message(content_text(content), r == "user", Some(i) == last_user),
            }
        }
        b.finish()
    }

    fn response_facts(&self, endpoint: Endpoint, body: &[u8]) -> ResponseFacts {
        let mut facts = ResponseFacts::default();
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return facts;
        };
        if endpoint == Endpoint::Responses
            && v.get("object").and_then(Value::as_str) == Some("response")
        {
            response_object_facts(&v, &mut facts);
        } else {
            chat_facts(&v, &mut facts);
        }
        facts.complete = true;
        facts
    }

    fn stream_parser(&self, endpoint: Endpoint) -> Box<dyn StreamParser> {
        Box::new(SseParser::new(OpenAiStream {
            responses: endpoint == Endpoint::Responses,
            ..OpenAiStream::default()
        }))
    }
}

#[derive(Default)]
struct OpenAiStream {
    responses: bool,
    facts: ResponseFacts,
}

impl JsonEvents for OpenAiStream {
    fn on_event(&mut self, name: &str, v: &Value) {
        if name == "[DONE]" {
            self.facts.complete = true;
            return;
        }
        if !self.responses {
            let mut chunk = ResponseFacts::default();
            chat_facts(v, &mut chunk);
            let f = &mut self.facts;
            f.model = chunk.model.or(f.model.take());
            f.response_id = f.response_id.take().or(chunk.response_id);
            if chunk.usage_seen {
                f.usage = chunk.usage;
                f.usage_seen = true;
            }
            f.stop_reason = chunk.stop_reason.or(f.stop_reason.take());
            f.tools_used.extend(chunk.tools_used);
            f.error_type = chunk.error_type.or(f.error_type.take());
            return;
        }
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(name);
        match kind {
            "response.created" | "response.in_progress" => {
                if let Some(r) = v.get("response") {
                    self.facts.model = text(r, "model");
                    self.facts.response_id = text(r, "id");
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                if let Some(r) = v.get("response") {
                    response_object_facts(r, &mut self.facts);
                }
                self.facts.complete = true;
            }
            "error" => {
                self.facts.error_type = text(v, "code")
                    .or_else(|| error_type(v))
                    .or(Some("error".to_owned()))
            }
            _ => {}
        }
    }

    fn facts(&self) -> ResponseFacts {
        self.facts.clone()
    }
}

/// The role of a chat message or Responses input item.
fn role(m: &Value) -> &str {
    match m.get("type").and_then(Value::as_str) {
        Some("function_call_output") => "tool",
        Some("function_call") => "assistant",
        _ => m.get("role").and_then(Value::as_str).unwrap_or(""),
    }
}

/// For a streamed chat request that did not ask for usage, the same request asking for it.
/// `None` when not applicable (not JSON, not streamed, already asked).
pub fn inject_include_usage(body: &[u8]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object_mut()?;
    if obj.get("stream").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let options = obj
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Default::default()));
    let options = options.as_object_mut()?;
    if options.get("include_usage").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    options.insert("include_usage".to_owned(), Value::Bool(true));
    serde_json::to_vec(&v).ok()
}

/// Removes the usage-only final chunk (`"choices": []` with a `usage` object) from a chat
/// stream, forwarding every other byte unchanged. It holds back at most the current event.
#[derive(Debug, Default)]
pub struct UsageChunkStripper {
    pending: Vec<u8>,
    /// Where scanning for the end of the current event resumes.
    scan: usize,
    /// Start of the line being scanned.
    line_start: usize,
}

impl UsageChunkStripper {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds upstream bytes; returns the bytes to send to the client now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut consumed = 0;
        let mut i = self.scan;
        while i < self.pending.len() {
            let b = self.pending[i];
            if b != b'\n' && b != b'\r' {
                i += 1;
                continue;
            }
            // A line ends at i; its terminator is \n, \r\n or a lone \r (which needs one more byte).
            let term_len = if b == b'\r' {
                match self.pending.get(i + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    None => break,
                }
            } else {
                1
            };
            let blank = i == self.line_start;
            i += term_len;
            self.line_start = i;
            if blank {
                let event = &self.pending[consumed..i];
                if !is_usage_only(event) {
                    out.extend_from_slice(event);
                }
                consumed = i;
            }
        }
        self.pending.drain(..consumed);
        self.scan = i - consumed;
        self.line_start -= consumed;
        out
    }

    /// Whatever is left when the stream ends (an unterminated last event is forwarded as is).
    pub fn finish(&mut self) -> Vec<u8> {
        self.scan = 0;
        self.line_start = 0;
        std::mem::take(&mut self.pending)
    }
}

fn is_usage_only(event: &[u8]) -> bool {
    let text = String::from_utf8_lossy(event);
    let data: Vec<&str> = text
        .split(['\n', '\r'])
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) else {
        return false;
    };
    v.get("choices")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && v.get("usage").is_some_and(Value::is_object)
}

#[cfg(test)]
mod tests;
