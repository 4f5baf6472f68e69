//! Helpers shared by the adapters: tolerant JSON field access, character counting, and an SSE
//! stream that yields parsed JSON payloads.

use serde::Deserialize;
use serde_json::Value;

use super::{ResponseFacts, StreamParser};
use crate::prompt::PromptText;
use crate::sse::SseDecoder;

/// An integer field, 0 when absent or not a number.
pub fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// An array field as a slice, empty when absent or not an array.
pub fn array<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// An optional integer field.
pub fn opt_int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// A string field.
pub fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Characters of text in a content value: a string, or an array of parts whose `text` (or
/// nested `content`) is counted. Structured parts (tool inputs, images) count their JSON size.
pub fn content_chars(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.chars().count() as i64,
        Value::Array(parts) => parts.iter().map(part_chars).sum(),
        Value::Null => 0,
        other => part_chars(other),
    }
}

fn part_chars(part: &Value) -> i64 {
    match part_text_of(part) {
        Some(PartText::Text(t)) => t.chars().count() as i64,
        Some(PartText::Nested(c)) => content_chars(c),
        Some(PartText::Json(j)) => j.chars().count() as i64,
        None => 0,
    }
}

/// What a content part's text is: its own text, its nested content, or a tool call's or
/// result's value (a string, or else its JSON).
enum PartText<'a> {
    Text(&'a str),
    Nested(&'a Value),
    Json(String),
}

fn part_text_of(part: &Value) -> Option<PartText<'_>> {
    if let Some(s) = part.as_str() {
        return Some(PartText::Text(s));
    }
    if let Some(t) = part.get("text").and_then(Value::as_str) {
        return Some(PartText::Text(t));
    }
    if let Some(c) = part.get("content") {
        return Some(PartText::Nested(c));
    }
    for key in [
        "input",
        "arguments",
        "functionCall",
        "functionResponse",
        "output",
    ] {
        if let Some(v) = part.get(key) {
            return Some(match v {
                Value::String(s) => PartText::Text(s),
                other => PartText::Json(other.to_string()),
            });
        }
    }
    None
}

/// The JSON size in characters of a value (tool definitions are sent as JSON).
pub fn json_chars(v: &Value) -> i64 {
    v.to_string().chars().count() as i64
}

/// Request fields every adapter's quick parse reads; everything else is skipped unallocated.
#[derive(Deserialize, Default)]
pub struct QuickRequest<'a> {
    #[serde(borrow, default)]
    pub model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
}

#[derive(Deserialize, Default)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// Parses the quick fields; malformed JSON yields the defaults.
pub fn quick_request(body: &[u8]) -> QuickRequest<'_> {
    serde_json::from_slice(body).unwrap_or_default()
}

/// An SSE stream whose events carry JSON: yields `(event name, payload)` for every event whose
/// data parses (a `[DONE]` sentinel is passed as `Value::Null` with name `"[DONE]"`).
#[derive(Default)]
pub struct JsonSse {
    decoder: SseDecoder,
}

impl JsonSse {
    pub fn feed(&mut self, chunk: &[u8], handle: &mut dyn FnMut(&str, Value)) {
        self.decoder
            .feed(chunk, &mut |e| dispatch(e.event, e.data, handle));
    }

    pub fn finish(&mut self, handle: &mut dyn FnMut(&str, Value)) {
        self.decoder
            .finish(&mut |e| dispatch(e.event, e.data, handle));
    }
}

fn dispatch(event: &str, data: &str, handle: &mut dyn FnMut(&str, Value)) {
    if data.trim() == "[DONE]" {
        handle("[DONE]", Value::Null);
    } else if let Ok(v) = serde_json::from_str::<Value>(data) {
        handle(event, v);
    }
}

/// Per-provider state of a JSON-over-SSE stream: it sees each event and produces the facts.
pub trait JsonEvents: Send {
    fn on_event(&mut self, name: &str, payload: &Value);
    fn facts(&self) -> ResponseFacts;
}

/// A [`StreamParser`] for any JSON-over-SSE wire format, driven by its [`JsonEvents`] state.
#[derive(Default)]
pub struct SseParser<S> {
    sse: JsonSse,
    state: S,
}

impl<S> SseParser<S> {
    pub fn new(state: S) -> Self {
        Self {
            sse: JsonSse::default(),
            state,
        }
    }
}

impl<S: JsonEvents> StreamParser for SseParser<S> {
    fn feed(&mut self, chunk: &[u8]) {
        let state = &mut self.state;
        self.sse
            .feed(chunk, &mut |name, v| state.on_event(name, &v));
    }

    fn finish(&mut self) -> ResponseFacts {
        let state = &mut self.state;
        self.sse.finish(&mut |name, v| state.on_event(name, &v));
        self.state.facts()
    }
}

/// The text of a content value, part by part as [`content_chars`] counts it (tool calls and
/// results as their JSON), for prompt parts' sizes and hashes.
pub fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().map(part_text).collect::<Vec<_>>().join("\n"),
        Value::Null => String::new(),
        other => part_text(other),
    }
}

fn part_text(part: &Value) -> String {
    match part_text_of(part) {
        Some(PartText::Text(t)) => t.to_owned(),
        Some(PartText::Nested(c)) => content_text(c),
        Some(PartText::Json(j)) => j,
        None => String::new(),
    }
}

/// Builds a [`PromptText`] from a request's parts in the order the request sends them.
#[derive(Debug, Default)]
pub struct PromptBuilder {
    text: PromptText,
    history: Vec<String>,
}

impl PromptBuilder {
    pub fn system(&mut self, text: String) {
        if !self.text.system.is_empty() && !text.is_empty() {
            self.text.system.push('\n');
        }
        self.text.system.push_str(&text);
    }

    /// A tool definition, named by `name`, sent as `def`.
    pub fn tool(&mut self, name: Option<&str>, def: &Value) {
        self.text
            .tools
            .push((name.unwrap_or("tool").to_owned(), def.to_string()));
    }

    /// A conversation message; `user` for a user turn with text of its own (not only tool
    /// results); `last_user` for the last such turn (the new input).
    pub fn message(&mut self, text: String, user: bool, last_user: bool) {
        self.text.messages += 1;
        let prev = self.text.chain.last().map_or("", String::as_str);
        let link = crate::prompt::hash_of(&[prev.as_bytes(), b"\x01", text.as_bytes()]);
        self.text.chain.push(link);
        if user && self.text.first_user.is_empty() {
            self.text.first_user.clone_from(&text);
        }
        if last_user {
            self.text.new_input = text;
        } else {
            self.history.push(text);
        }
    }

    pub fn finish(mut self) -> PromptText {
        self.text.history = self.history.concat();
        self.text
    }
}
