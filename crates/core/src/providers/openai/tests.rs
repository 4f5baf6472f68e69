//! OpenAI streams and bodies: usage normalised whatever the split, errors, and the
//! `include_usage` injection with its stripper.

use super::*;
use proptest::prelude::*;

const CHAT: &str = "data: {\"id\":\"c\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call\",\"function\":{\"name\":\"lookup\",\"arguments\":\"\"}}]}}]}\n\n\
data: {\"id\":\"c\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n\
data: {\"id\":\"c\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":300,\"total_tokens\":1500,\"prompt_tokens_details\":{\"cached_tokens\":1024},\"completion_tokens_details\":{\"reasoning_tokens\":100}}}\n\n\
data: [DONE]\n\n";

fn parse(endpoint: Endpoint, chunks: &[&[u8]]) -> ResponseFacts {
    let mut p = OpenAi.stream_parser(endpoint);
    for c in chunks {
        p.feed(c);
    }
    p.finish()
}

#[test]
fn chat_stream_usage_is_normalised() {
    let f = parse(Endpoint::ChatCompletions, &[CHAT.as_bytes()]);
    assert_eq!(
        (
            f.usage.input_tokens,
            f.usage.cache_read_tokens,
            f.usage.output_tokens,
            f.usage.reasoning_tokens
        ),
        (176, 1024, 300, 100)
    );
    assert_eq!(f.tools_used, ["lookup"]);
    assert_eq!(f.stop_reason.as_deref(), Some("tool_calls"));
    assert!(f.complete);
}

#[test]
fn every_split_of_a_chat_stream_is_identical() {
    let b = CHAT.as_bytes();
    let whole = parse(Endpoint::ChatCompletions, &[b]);
    for i in 0..=b.len() {
        assert_eq!(
            parse(Endpoint::ChatCompletions, &[&b[..i], &b[i..]]),
            whole,
            "split {i}"
        );
    }
}

const RESPONSES: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"model\":\"o3\",\"status\":\"in_progress\"}}\n\n\
event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n\
event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"model\":\"o3-2025-04-16\",\"status\":\"completed\",\"output\":[{\"type\":\"web_search_call\"},{\"type\":\"function_call\",\"name\":\"f\"}],\"usage\":{\"input_tokens\":500,\"input_tokens_details\":{\"cached_tokens\":200},\"output_tokens\":900,\"output_tokens_details\":{\"reasoning_tokens\":700}}}}\n\n";

#[test]
fn responses_stream() {
    let f = parse(Endpoint::Responses, &[RESPONSES.as_bytes()]);
    assert_eq!(
        (
            f.usage.input_tokens,
            f.usage.cache_read_tokens,
            f.usage.output_tokens,
            f.usage.reasoning_tokens
        ),
        (300, 200, 900, 700)
    );
    assert_eq!(f.usage.web_search_requests, 1);
    assert_eq!(f.tools_used, ["web_search", "f"]);
    assert_eq!(f.model.as_deref(), Some("o3-2025-04-16"));
    let b = RESPONSES.as_bytes();
    for i in 0..=b.len() {
        assert_eq!(
            parse(Endpoint::Responses, &[&b[..i], &b[i..]]),
            f,
            "split {i}"
        );
    }
}

#[test]
fn failed_response_is_an_error() {
    let s = "data: {\"type\":\"response.failed\",\"response\":{\"object\":\"response\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\"}}}\n\n";
    assert_eq!(
        parse(Endpoint::Responses, &[s.as_bytes()])
            .error_type
            .as_deref(),
        Some("server_error")
    );
}

#[test]
fn embeddings_and_errors() {
    let f = OpenAi.response_facts(Endpoint::Embeddings, br#"{"object":"list","data":[],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#);
    assert_eq!((f.usage.input_tokens, f.usage.output_tokens), (8, 0));
    let f = OpenAi.response_facts(
        Endpoint::ChatCompletions,
        br#"{"error":{"message":"x","type":"requests","code":"rate_limit_exceeded"}}"#,
    );
    assert_eq!(f.error_type.as_deref(), Some("rate_limit_exceeded"));
    assert!(!f.usage_seen);
}

#[test]
fn injection_only_when_needed() {
    let out =
        inject_include_usage(br#"{"model":"m","stream":true,"stream_options":{"foo":1}}"#).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["stream_options"],
        serde_json::json!({"foo":1,"include_usage":true})
    );
    assert!(inject_include_usage(br#"{"stream":false}"#).is_none());
    assert!(
        inject_include_usage(br#"{"stream":true,"stream_options":{"include_usage":true}}"#)
            .is_none()
    );
    assert!(inject_include_usage(b"not json").is_none());
}

fn strip(chunks: &[&[u8]]) -> Vec<u8> {
    let mut s = UsageChunkStripper::new();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(s.feed(c));
    }
    out.extend(s.finish());
    out
}

#[test]
fn stripper_removes_only_the_usage_chunk() {
    let expected = CHAT.replace(
        "data: {\"id\":\"c\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":300,\"total_tokens\":1500,\"prompt_tokens_details\":{\"cached_tokens\":1024},\"completion_tokens_details\":{\"reasoning_tokens\":100}}}\n\n",
        "",
    );
    assert_ne!(expected, CHAT);
    assert_eq!(strip(&[CHAT.as_bytes()]), expected.as_bytes());
    let crlf = CHAT.replace('\n', "\r\n");
    let crlf_expected = expected.replace('\n', "\r\n");
    let b = crlf.as_bytes();
    for i in 0..=b.len() {
        assert_eq!(
            strip(&[&b[..i], &b[i..]]),
            crlf_expected.as_bytes(),
            "split {i}"
        );
    }
}

proptest! {
    #[test]
    fn stripper_any_partition(cuts in proptest::collection::vec(0..CHAT.len(), 0..8)) {
        let b = CHAT.as_bytes();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for c in cuts { pieces.push(&b[last..c]); last = c; }
        pieces.push(&b[last..]);
        prop_assert_eq!(strip(&pieces), strip(&[b]));
    }
}
