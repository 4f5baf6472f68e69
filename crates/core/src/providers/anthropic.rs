//! Anthropic Messages API.
//!
//! Usage: `input_tokens` already excludes cache; `cache_creation_input_tokens` is split into
//! 5-minute and 1-hour writes by the `cache_creation` breakdown when present (all 5-minute
//! otherwise); `server_tool_use.web_search_requests` counts searches. In a stream, usage comes
//! in `message_start` and is overlaid by each cumulative `message_delta` (a field present in the
//! delta replaces the earlier value).

use serde_json::Value;

use super::common::{
    JsonEvents, PromptBuilder, SseParser, array, content_chars, content_text, int, json_chars,
    opt_int, quick_request, text,
};
use super::{BatchItem, Endpoint, Provider, ProviderKind, QuickFacts, ResponseFacts, StreamParser};
use crate::event::RequestShape;
use crate::prompt::PromptText;
use crate::usage::Usage;

/// The Anthropic adapter.
pub struct Anthropic;

/// Usage fields as Anthropic reports them, each optional so a delta can overlay a start.
#[derive(Debug, Default, Clone, Copy)]
struct RawUsage {
    input: Option<i64>,
    output: Option<i64>,
    cache_read: Option<i64>,
    cache_creation: Option<i64>,
    write_5m: Option<i64>,
    write_1h: Option<i64>,
    web_search: Option<i64>,
    /// `output_tokens_details.thinking_tokens`: the part of `output_tokens` spent thinking.
    thinking: Option<i64>,
}

impl RawUsage {
    fn read(u: &Value) -> Self {
        let breakdown = u.get("cache_creation");
        Self {
            input: opt_int(u, "input_tokens"),
            output: opt_int(u, "output_tokens"),
            cache_read: opt_int(u, "cache_read_input_tokens"),
            cache_creation: opt_int(u, "cache_creation_input_tokens"),
            write_5m: breakdown.and_then(|b| opt_int(b, "ephemeral_5m_input_tokens")),
            write_1h: breakdown.and_then(|b| opt_int(b, "ephemeral_1h_input_tokens")),
            web_search: u
                .get("server_tool_use")
                .and_then(|s| opt_int(s, "web_search_requests")),
            thinking: u
                .get("output_tokens_details")
                .and_then(|d| opt_int(d, "thinking_tokens")),
        }
    }

    fn overlay(&mut self, newer: RawUsage) {
        let pick = |old: &mut Option<i64>, new: Option<i64>| {
            if new.is_some() {
                *old = new;
            }
        };
        pick(&mut self.input, newer.input);
        pick(&mut self.output, newer.output);
        pick(&mut self.cache_read, newer.cache_read);
        pick(&mut self.cache_creation, newer.cache_creation);
        pick(&mut self.write_5m, newer.write_5m);
        pick(&mut self.write_1h, newer.write_1h);
        pick(&mut self.web_search, newer.web_search);
        pick(&mut self.thinking, newer.thinking);
    }

    fn normalise(self) -> Usage {
        let creation = self.cache_creation.unwrap_or(0);
        let (w5, w1) = match (self.write_5m, self.write_1h) {
            (None, None) => (creation, 0),
            (a, b) => (a.unwrap_or(0), b.unwrap_or(0)),
        };
        Usage {
            input_tokens: self.input.unwrap_or(0),
            output_tokens: self.output.unwrap_or(0),
            cache_read_tokens: self.cache_read.unwrap_or(0),
            cache_write_5m_tokens: w5,
            cache_write_1h_tokens: w1,
            reasoning_tokens: self.thinking.unwrap_or(0),
            web_search_requests: self.web_search.unwrap_or(0),
        }
    }
}

/// Reads a complete message object (non-streamed body, or a batch result's message).
fn message_facts(msg: &Value, facts: &mut ResponseFacts) {
    facts.model = text(msg, "model");
    facts.response_id = text(msg, "id");
    facts.stop_reason = text(msg, "stop_reason");
    if let Some(u) = msg.get("usage") {
        facts.usage = RawUsage::read(u).normalise();
        facts.usage_seen = true;
    }
    if let Some(blocks) = msg.get("content").and_then(Value::as_array) {
        facts.tools_used.extend(blocks.iter().filter_map(tool_name));
    }
}

fn tool_name(block: &Value) -> Option<String> {
    match block.get("type").and_then(Value::as_str) {
        Some("tool_use" | "server_tool_use" | "mcp_tool_use") => text(block, "name"),
        _ => None,
    }
}

fn error_type(v: &Value) -> Option<String> {
    v.get("error").and_then(|e| text(e, "type"))
}

impl Provider for Anthropic {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn endpoint(&self, method: &str, path: &str) -> Endpoint {
        let path = path.trim_end_matches('/');
        match method {
            "POST" if path.ends_with("/messages/count_tokens") => Endpoint::CountTokens,
            "POST" if path.ends_with("/messages") => Endpoint::Messages,
            "GET" if path.contains("/messages/batches/") && path.ends_with("/results") => {
                Endpoint::BatchResults
            }
            _ => Endpoint::Other,
        }
    }

    fn quick_request_facts(&self, _endpoint: Endpoint, _path: &str, body: &[u8]) -> QuickFacts {
        let q = quick_request(body);
        QuickFacts {
            model: q.model.map(|m| m.into_owned()),
            stream: q.stream.unwrap_or(false),
            include_usage: false,
        }
    }

    fn request_shape(&self, _endpoint: Endpoint, req: &Value) -> RequestShape {
        let mut shape = RequestShape::default();
        if let Some(system) = req.get("system").filter(|s| !s.is_null()) {
            shape.messages_system = 1;
            shape.system_chars = content_chars(system);
        }
        if let Some(tools) = req.get("tools").and_then(Value::as_array) {
            shape.tools_offered = tools.len() as i64;
            shape.tools_chars = tools.iter().map(json_chars).sum();
        }
        let messages = array(req, "messages");
        let last_user = messages
            .iter()
            .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"));
        for (i, m) in messages.iter().enumerate() {
            let content = m.get("content").unwrap_or(&Value::Null);
            let only_tool_results = content.as_array().is_some_and(|b| {
                !b.is_empty()
                    && b.iter()
                        .all(|x| x.get("type").and_then(Value::as_str) == Some("tool_result"))
            });
            match m.get("role").and_then(Value::as_str) {
                Some("user") if only_tool_results => shape.messages_tool += 1,
                Some("user") => shape.messages_user += 1,
                Some("assistant") => shape.messages_assistant += 1,
                _ => {}
            }
            let chars = content_chars(content);
            shape.count_turn(chars, Some(i) == last_user);
        }
        shape
    }

    fn prompt_text(&self, _endpoint: Endpoint, req: &Value) -> PromptText {
        let mut b = PromptBuilder::default();
        for tool in array(req, "tools") {
            b.tool(tool.get("name").and_then(Value::as_str), tool);
        }
        if let Some(system) = req.get("system").filter(|s| !s.is_null()) {
            b.system(content_text(system));
        }
        let messages = array(req, "messages");
        let user_text = |m: &Value| {
            m.get("role").and_then(Value::as_str) == Some("user")
                && !m.get("content").and_then(Value::as_array).is_some_and(|b| {
                    !b.is_empty()
                        && b.iter()
                            .all(|x| x.get("type").and_then(Value::as_str) == Some("tool_result"))
                })
        };
        let last_user = messages.iter().rposition(&user_text);
        for (i, m) in messages.iter().enumerate() {
            let content = m.get("content").unwrap_or(&Value::Null);
            b.message(content_text(content), user_text(m), Some(i) == last_user);
        }
        b.finish()
    }

    fn response_facts(&self, endpoint: Endpoint, body: &[u8]) -> ResponseFacts {
        let mut facts = ResponseFacts::default();
        if endpoint == Endpoint::BatchResults {
            for line in body.split(|&b| b == b'\n') {
                if let Some(item) = batch_item(line) {
                    facts.batch_items.push(item);
                }
            }
            facts.complete = true;
            return facts;
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return facts;
        };
        if endpoint == Endpoint::CountTokens {
            facts.usage.input_tokens = int(&v, "input_tokens");
            facts.usage_seen = v.get("input_tokens").is_some();
        } else if v.get("type").and_then(Value::as_str) == Some("error") {
            facts.error_type = error_type(&v);
        } else {
            message_facts(&v, &mut facts);
        }
        facts.complete = true;
        facts
    }

    fn stream_parser(&self, _endpoint: Endpoint) -> Box<dyn StreamParser> {
        Box::new(SseParser::new(AnthropicStream::default()))
    }
}

fn batch_item(line: &[u8]) -> Option<BatchItem> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let result = v.get("result")?;
    if result.get("type").and_then(Value::as_str) != Some("succeeded") {
        return None;
    }
    let msg = result.get("message")?;
    Some(BatchItem {
        custom_id: text(&v, "custom_id").unwrap_or_default(),
        model: text(msg, "model"),
        usage: msg
            .get("usage")
            .map(|u| RawUsage::read(u).normalise())
            .unwrap_or_default(),
        stop_reason: text(msg, "stop_reason"),
    })
}

#[derive(Default)]
struct AnthropicStream {
    usage: RawUsage,
    facts: ResponseFacts,
}

impl JsonEvents for AnthropicStream {
    fn on_event(&mut self, _name: &str, v: &Value) {
        match v.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                if let Some(msg) = v.get("message") {
                    self.facts.model = text(msg, "model");
                    self.facts.response_id = text(msg, "id");
                    if let Some(u) = msg.get("usage") {
                        self.usage.overlay(RawUsage::read(u));
                        self.facts.usage_seen = true;
                    }
                }
            }
            Some("content_block_start") => {
                if let Some(name) = v.get("content_block").and_then(tool_name) {
                    self.facts.tools_used.push(name);
                }
            }
            Some("message_delta") => {
                if let Some(reason) = v.get("delta").and_then(|d| text(d, "stop_reason")) {
                    self.facts.stop_reason = Some(reason);
                }
                if let Some(u) = v.get("usage") {
                    self.usage.overlay(RawUsage::read(u));
                    self.facts.usage_seen = true;
                }
            }
            Some("message_stop") => self.facts.complete = true,
            Some("error") => {
                self.facts.error_type = error_type(v).or_else(|| Some("error".to_owned()))
            }
            _ => {}
        }
    }

    fn facts(&self) -> ResponseFacts {
        let mut facts = self.facts.clone();
        facts.usage = self.usage.normalise();
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STREAM: &str = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-5-20250929\",\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":700,\"cache_read_input_tokens\":20,\"cache_creation\":{\"ephemeral_5m_input_tokens\":300,\"ephemeral_1h_input_tokens\":400},\"output_tokens\":1}}}\r\n\r\n\
event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"search_docs\",\"input\":{}}}\r\n\r\n\
event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"s\",\"name\":\"web_search\",\"input\":{}}}\r\n\r\n\
event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"h\u{e9} \u{1f30d}\"}}\r\n\r\n\
event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":55,\"server_tool_use\":{\"web_search_requests\":2}}}\r\n\r\n\
event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n";

    fn parse(chunks: &[&[u8]]) -> ResponseFacts {
        let mut p = Anthropic.stream_parser(Endpoint::Messages);
        for c in chunks {
            p.feed(c);
        }
        p.finish()
    }

    #[test]
    fn stream_overlays_delta_on_start() {
        let f = parse(&[STREAM.as_bytes()]);
        assert_eq!(
            f.usage,
            Usage {
                input_tokens: 10,
                output_tokens: 55,
                cache_read_tokens: 20,
                cache_write_5m_tokens: 300,
                cache_write_1h_tokens: 400,
                reasoning_tokens: 0,
                web_search_requests: 2,
            }
        );
        assert_eq!(f.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(f.tools_used, ["search_docs", "web_search"]);
        assert_eq!(f.model.as_deref(), Some("claude-sonnet-4-5-20250929"));
        assert!(f.complete && f.usage_seen && f.error_type.is_none());
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_facts(cut_a in 0..STREAM.len(), cut_b in 0..STREAM.len()) {
            let bytes = STREAM.as_bytes();
            let (a, b) = (cut_a.min(cut_b), cut_a.max(cut_b));
            prop_assert_eq!(parse(&[&bytes[..a], &bytes[a..b], &bytes[b..]]), parse(&[bytes]));
        }
    }

    #[test]
    fn every_single_split_gives_the_same_facts() {
        let bytes = STREAM.as_bytes();
        let whole = parse(&[bytes]);
        for i in 0..=bytes.len() {
            assert_eq!(parse(&[&bytes[..i], &bytes[i..]]), whole, "split at {i}");
        }
    }

    #[test]
    fn error_event_in_a_200_stream() {
        let s = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let f = parse(&[s.as_bytes()]);
        assert_eq!(f.error_type.as_deref(), Some("overloaded_error"));
        assert_eq!(f.usage.input_tokens, 5);
        assert!(!f.complete);
    }

    #[test]
    fn thinking_tokens_are_reasoning_inside_output() {
        let body = br#"{"id":"m","type":"message","model":"claude-opus-4-5","content":[],"usage":{"input_tokens":3,"output_tokens":400,"output_tokens_details":{"thinking_tokens":250}}}"#;
        let f = Anthropic.response_facts(Endpoint::Messages, body);
        assert_eq!(
            (f.usage.output_tokens, f.usage.reasoning_tokens),
            (400, 250)
        );
    }

    #[test]
    fn non_streamed_message_without_breakdown_is_all_5m() {
        let body = br#"{"id":"m","type":"message","model":"claude-haiku-4-5","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":4,"cache_creation_input_tokens":9,"cache_read_input_tokens":0}}"#;
        let f = Anthropic.response_facts(Endpoint::Messages, body);
        assert_eq!(
            (
                f.usage.input_tokens,
                f.usage.output_tokens,
                f.usage.cache_write_5m_tokens,
                f.usage.cache_write_1h_tokens
            ),
            (3, 4, 9, 0)
        );
        assert_eq!(f.stop_reason.as_deref(), Some("end_turn"));
    }

    #[test]
    fn batch_results_yield_one_item_per_success() {
        let body = b"{\"custom_id\":\"a\",\"result\":{\"type\":\"succeeded\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":100,\"output_tokens\":50}}}}\n{\"custom_id\":\"b\",\"result\":{\"type\":\"errored\",\"error\":{}}}\n{\"custom_id\":\"c\",\"result\":{\"type\":\"succeeded\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}}}\n";
        let f = Anthropic.response_facts(Endpoint::BatchResults, body);
        assert_eq!(f.batch_items.len(), 2);
        assert_eq!(f.batch_items[0].custom_id, "a");
        assert_eq!(f.batch_items[0].usage.input_tokens, 100);
        assert_eq!(f.batch_items[1].usage.output_tokens, 2);
    }

    #[test]
    fn request_shape_counts_roles_and_chars() {
        let body = br#"{"model":"m","system":[{"type":"text","text":"abc"}],"tools":[{"name":"t","input_schema":{}}],"messages":[{"role":"user","content":"hello"},{"role":"assistant","content":[{"type":"tool_use","id":"1","name":"t","input":{"q":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"1","content":"ok"}]},{"role":"user","content":"new q"}]}"#;
        let s = Anthropic.request_shape(
            Endpoint::Messages,
            &crate::providers::parse_request(body).unwrap(),
        );
        assert_eq!(
            (
                s.messages_system,
                s.messages_user,
                s.messages_assistant,
                s.messages_tool
            ),
            (1, 2, 1, 1)
        );
        assert_eq!(s.system_chars, 3);
        assert_eq!(s.tools_offered, 1);
        assert_eq!(s.new_input_chars, 5);
        assert_eq!(s.history_chars, 5 + r#"{"q":1}"#.len() as i64 + 2);
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            Anthropic.endpoint("POST", "/v1/messages"),
            Endpoint::Messages
        );
        assert_eq!(
            Anthropic.endpoint("POST", "/v1/messages/count_tokens"),
            Endpoint::CountTokens
        );
        assert_eq!(
            Anthropic.endpoint("GET", "/v1/messages/batches/msgbatch_1/results"),
            Endpoint::BatchResults
        );
        assert_eq!(Anthropic.endpoint("GET", "/v1/models"), Endpoint::Other);
        assert_eq!(
            Anthropic.endpoint("POST", "/v1/messages/batches"),
            Endpoint::Other
        );
    }
}
