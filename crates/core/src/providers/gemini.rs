//! Google Gemini (`generativelanguage` API): generateContent, streamGenerateContent, countTokens,
//! embeddings.
//!
//! Usage: `promptTokenCount` INCLUDES `cachedContentTokenCount` (subtracted from input);
//! `thoughtsTokenCount` is billed as output and kept as reasoning; `toolUsePromptTokenCount`
//! is input. Stream chunks carry cumulative `usageMetadata`, so the last one wins. A stream is
//! SSE with `alt=sse`, otherwise one JSON array written element by element; both are parsed
//! incrementally. The model comes from the request path.

use serde_json::Value;

use super::common::{
    JsonSse, PromptBuilder, array, content_chars, content_text, int, json_chars, text,
};
use super::{Endpoint, Provider, ProviderKind, QuickFacts, ResponseFacts, StreamParser};
use crate::event::RequestShape;
use crate::prompt::PromptText;
use crate::usage::Usage;

/// The Gemini adapter.
pub struct Gemini;

fn usage_from(m: &Value) -> Usage {
    let cached = int(m, "cachedContentTokenCount");
    let thoughts = int(m, "thoughtsTokenCount");
    Usage {
        input_tokens: (int(m, "promptTokenCount") - cached).max(0)
            + int(m, "toolUsePromptTokenCount"),
        output_tokens: int(m, "candidatesTokenCount") + thoughts,
        cache_read_tokens: cached,
        reasoning_tokens: thoughts,
        ..Usage::default()
    }
}

/// Applies one response (or stream chunk) to the facts; later chunks override earlier ones.
fn apply(v: &Value, facts: &mut ResponseFacts) {
    if let Some(e) = v.get("error") {
        facts.error_type = text(e, "status").or_else(|| Some("error".to_owned()));
        return;
    }
    if let Some(m) = v.get("usageMetadata").filter(|m| m.is_object()) {
        facts.usage = usage_from(m);
        facts.usage_seen = true;
    }
    if let Some(model) = text(v, "modelVersion") {
        facts.model = Some(model);
    }
    if let Some(id) = text(v, "responseId") {
        facts.response_id = Some(id);
    }
    for cand in array(v, "candidates") {
        if let Some(reason) = text(cand, "finishReason") {
            facts.stop_reason = Some(reason);
        }
        let parts = cand
            .get("content")
            .and_then(|c| c.get("parts"))
            .and_then(Value::as_array);
        for part in parts.map(Vec::as_slice).unwrap_or_default() {
            if let Some(name) = part.get("functionCall").and_then(|f| text(f, "name")) {
                facts.tools_used.push(name);
            }
        }
    }
}

/// `models/gemini-2.5-pro:generateContent` → `gemini-2.5-pro`.
fn model_from_path(path: &str) -> Option<String> {
    let after = path.split("/models/").nth(1)?;
    let model = after.split(':').next()?;
    (!model.is_empty()).then(|| model.to_owned())
}

impl Provider for Gemini {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gemini
    }

    fn endpoint(&self, method: &str, path: &str) -> Endpoint {
        if method != "POST" {
            return Endpoint::Other;
        }
        match path.rsplit_once(':').map(|(_, op)| op) {
            Some("generateContent") => Endpoint::GenerateContent,
            Some("streamGenerateContent") => Endpoint::StreamGenerateContent,
            Some("countTokens") => Endpoint::CountTokens,
            Some("embedContent" | "batchEmbedContents") => Endpoint::Embeddings,
            _ => Endpoint::Other,
        }
    }

    fn quick_request_facts(&self, endpoint: Endpoint, path: &str, _body: &[u8]) -> QuickFacts {
        QuickFacts {
            model: model_from_path(path),
            stream: endpoint == Endpoint::StreamGenerateContent,
            include_usage: false,
        }
    }

    fn request_shape(&self, _endpoint: Endpoint, req: &Value) -> RequestShape {
        let mut shape = RequestShape::default();
        let parts_chars = |c: &Value| c.get("parts").map_or(0, content_chars);
        if let Some(sys) = req
            .get("systemInstruction")
            .or_else(|| req.get("system_instruction"))
        {
            shape.messages_system = 1;
            shape.system_chars = parts_chars(sys);
        }
        for tool in array(req, "tools") {
            let decls = tool
                .get("functionDeclarations")
                .or_else(|| tool.get("function_declarations"));
            shape.tools_offered += decls
                .and_then(Value::as_array)
                .map_or(1, |d| d.len() as i64);
            shape.tools_chars += json_chars(tool);
        }
        let contents = array(req, "contents");
        let is_tool = |c: &Value| {
            c.get("parts").and_then(Value::as_array).is_some_and(|p| {
                !p.is_empty() && p.iter().all(|x| x.get("functionResponse").is_some())
            })
        };
        let last_user = contents
            .iter()
            .rposition(|c| text(c, "role").as_deref().unwrap_or("user") == "user" && !is_tool(c));
        for (i, c) in contents.iter().enumerate() {
            match text(c, "role").as_deref() {
                _ if is_tool(c) => shape.messages_tool += 1,
                Some("model") => shape.messages_assistant += 1,
                _ => shape.messages_user += 1,
            }
            let chars = parts_chars(c);
            shape.count_turn(chars, Some(i) == last_user);
        }
        shape
    }

    fn prompt_text(&self, _endpoint: Endpoint, req: &Value) -> PromptText {
        let mut b = PromptBuilder::default();
        for tool in array(req, "tools") {
            let decls = tool
                .get("functionDeclarations")
                .or_else(|| tool.get("function_declarations"))
                .and_then(Value::as_array);
            match decls {
                Some(decls) => {
                    for d in decls {
                        b.tool(d.get("name").and_then(Value::as_str), d);
                    }
                }
                None => b.tool(None, tool),
            }
        }
        let parts_text = |c: &Value| c.get("parts").map(content_text).unwrap_or_default();
        if let Some(sys) = req
            .get("systemInstruction")
            .or_else(|| req.get("system_instruction"))
        {
            b.system(parts_text(sys));
        }
        let contents = array(req, "contents");
        let is_user = |c: &Value| {
            text(c, "role").as_deref().unwrap_or("user") == "user"
                && !c.get("parts").and_then(Value::as_array).is_some_and(|p| {
                    !p.is_empty() && p.iter().all(|x| x.get("functionResponse").is_some())
                })
        };
        let last_user = contents.iter().rposition(&is_user);
        for (i, c) in contents.iter().enumerate() {
            b.message(parts_text(c), is_user(c), Some(i) == last_user);
        }
        b.finish()
    }

    fn response_facts(&self, endpoint: Endpoint, body: &[u8]) -> ResponseFacts {
        let mut facts = ResponseFacts::default();
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return facts;
        };
        if endpoint == Endpoint::CountTokens {
            facts.usage.input_tokens = int(&v, "totalTokens");
        } else if let Some(list) = v.as_array() {
            list.iter().for_each(|x| apply(x, &mut facts));
        } else {
            apply(&v, &mut facts);
        }
        facts.complete = true;
        facts
    }

    fn stream_parser(&self, _endpoint: Endpoint) -> Box<dyn StreamParser> {
        Box::new(GeminiStream::default())
    }

    fn is_stream(&self, endpoint: Endpoint, content_type: &str) -> bool {
        endpoint == Endpoint::StreamGenerateContent || content_type.starts_with("text/event-stream")
    }
}

/// Which framing a stream turned out to use, decided by its first non-space byte.
#[derive(Default)]
enum Framing {
    #[default]
    Unknown,
    Sse(JsonSse),
    Array(ArrayScanner),
}

#[derive(Default)]
struct GeminiStream {
    framing: Framing,
    facts: ResponseFacts,
}

impl StreamParser for GeminiStream {
    fn feed(&mut self, chunk: &[u8]) {
        if let Framing::Unknown = self.framing {
            match chunk.iter().find(|b| !b.is_ascii_whitespace()) {
                None => return,
                Some(b'[') => self.framing = Framing::Array(ArrayScanner::default()),
                Some(_) => self.framing = Framing::Sse(JsonSse::default()),
            }
        }
        let facts = &mut self.facts;
        match &mut self.framing {
            Framing::Sse(sse) => sse.feed(chunk, &mut |_, v| apply(&v, facts)),
            Framing::Array(scan) => scan.feed(chunk, &mut |v| apply(&v, facts)),
            Framing::Unknown => {}
        }
    }

    fn finish(&mut self) -> ResponseFacts {
        let facts = &mut self.facts;
        match &mut self.framing {
            Framing::Sse(sse) => sse.finish(&mut |_, v| apply(&v, facts)),
            Framing::Array(scan) => facts.complete = scan.closed,
            Framing::Unknown => {}
        }
        if let Framing::Sse(_) = self.framing {
            self.facts.complete = self.facts.stop_reason.is_some();
        }
        self.facts.clone()
    }
}

/// Splits a streamed JSON array into its top-level objects without parsing the rest.
#[derive(Default)]
struct ArrayScanner {
    current: Vec<u8>,
    depth: u32,
    in_string: bool,
    escaped: bool,
    closed: bool,
}

impl ArrayScanner {
    fn feed(&mut self, chunk: &[u8], on_object: &mut dyn FnMut(Value)) {
        for &b in chunk {
            if self.depth > 0 {
                self.current.push(b);
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' if self.depth > 0 => self.in_string = true,
                b'{' => {
                    if self.depth == 0 {
                        self.current.clear();
                        self.current.push(b);
                    }
                    self.depth += 1;
                }
                b'}' if self.depth > 0 => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        if let Ok(v) = serde_json::from_slice(&self.current) {
                            on_object(v);
                        }
                        self.current.clear();
                    }
                }
                b']' if self.depth == 0 => self.closed = true,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARRAY: &str = "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"h\u{e9} }{ \\\"q\\\"\"}],\"role\":\"model\"}}],\"usageMetadata\":{\"promptTokenCount\":1000,\"cachedContentTokenCount\":600,\"candidatesTokenCount\":5,\"thoughtsTokenCount\":0},\"modelVersion\":\"gemini-2.5-pro\"}\r\n,\r\n{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"get\",\"args\":{}}}],\"role\":\"model\"},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":1000,\"cachedContentTokenCount\":600,\"candidatesTokenCount\":40,\"thoughtsTokenCount\":120,\"totalTokenCount\":1160},\"modelVersion\":\"gemini-2.5-pro\"}\r\n]";

    fn parse(chunks: &[&[u8]]) -> ResponseFacts {
        let mut p = Gemini.stream_parser(Endpoint::StreamGenerateContent);
        for c in chunks {
            p.feed(c);
        }
        p.finish()
    }

    #[test]
    fn array_stream_last_usage_wins() {
        let f = parse(&[ARRAY.as_bytes()]);
        assert_eq!(
            (
                f.usage.input_tokens,
                f.usage.cache_read_tokens,
                f.usage.output_tokens,
                f.usage.reasoning_tokens
            ),
            (400, 600, 160, 120)
        );
        assert_eq!(f.stop_reason.as_deref(), Some("STOP"));
        assert_eq!(f.tools_used, ["get"]);
        assert!(f.complete);
        let b = ARRAY.as_bytes();
        for i in 0..=b.len() {
            assert_eq!(parse(&[&b[..i], &b[i..]]), f, "split {i}");
        }
    }

    #[test]
    fn sse_stream_matches_array_stream() {
        let objects: Vec<Value> = serde_json::from_str(ARRAY).unwrap();
        let sse: String = objects
            .iter()
            .map(|o| format!("data: {o}\r\n\r\n"))
            .collect();
        let f = parse(&[sse.as_bytes()]);
        assert_eq!(f, parse(&[ARRAY.as_bytes()]));
        let b = sse.as_bytes();
        for i in 0..=b.len() {
            assert_eq!(parse(&[&b[..i], &b[i..]]), f, "split {i}");
        }
    }

    #[test]
    fn model_and_endpoint_from_path() {
        let q = Gemini.quick_request_facts(
            Endpoint::GenerateContent,
            "/v1beta/models/gemini-2.5-flash:generateContent",
            b"{}",
        );
        assert_eq!(q.model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(
            Gemini.endpoint("POST", "/v1beta/models/x:streamGenerateContent"),
            Endpoint::StreamGenerateContent
        );
        assert_eq!(
            Gemini.endpoint("POST", "/v1beta/models/x:countTokens"),
            Endpoint::CountTokens
        );
        assert_eq!(Gemini.endpoint("GET", "/v1beta/models"), Endpoint::Other);
    }

    #[test]
    fn shape_of_contents() {
        let body = br#"{"systemInstruction":{"parts":[{"text":"be brief"}]},"tools":[{"functionDeclarations":[{"name":"a"},{"name":"b"}]}],"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"yo"}]},{"role":"user","parts":[{"text":"again"}]}]}"#;
        let s = Gemini.request_shape(
            Endpoint::GenerateContent,
            &crate::providers::parse_request(body).unwrap(),
        );
        assert_eq!(
            (
                s.messages_system,
                s.messages_user,
                s.messages_assistant,
                s.tools_offered
            ),
            (1, 2, 1, 2)
        );
        assert_eq!(
            (s.system_chars, s.history_chars, s.new_input_chars),
            (8, 4, 5)
        );
    }
}
