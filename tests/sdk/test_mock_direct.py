"""The official SDKs against the mock alone (no tokenwatch): every response the mock produces
parses into the SDKs' objects with the usage the test asked for, so the proxied comparisons in
the other modules compare real, SDK-valid payloads."""

import json

import anthropic
import httpx
import httpx2  # the SDKs' HTTP client (pinned in requirements.txt)
import openai
import pytest

from conftest import ANTHROPIC_KEY, OPENAI_KEY, full, usage_header

HI = [{"role": "user", "content": "hi"}]
ALL = dict(input=100, output=50, cache_read=30, cache_write_5m=20, cache_write_1h=10, reasoning=5)


def claude(mock):
    return anthropic.Anthropic(base_url=mock, api_key=ANTHROPIC_KEY, max_retries=0)


def gpt(mock):
    return openai.OpenAI(base_url=f"{mock}/v1", api_key=OPENAI_KEY, max_retries=0)


def test_anthropic_message_and_stream_parse_with_native_usage(mock, mock_log):
    raw = claude(mock).messages.with_raw_response.create(
        model="claude-opus-4-5", max_tokens=8, messages=HI, extra_headers=usage_header(**ALL))
    assert raw.headers["content-encoding"] == "gzip", "JSON is gzipped when the client accepts it"
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "999"
    m = raw.parse()
    assert m._request_id == raw.headers["request-id"] == mock_log.last()["request_id"]
    assert (m.type, m.role, m.model, m.stop_reason) == ("message", "assistant", "claude-opus-4-5", "end_turn")
    assert "é" in m.content[0].text and "🌍" in m.content[0].text
    u = m.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens) == (100, 50, 30)
    assert u.cache_creation_input_tokens == 30
    assert (u.cache_creation.ephemeral_5m_input_tokens, u.cache_creation.ephemeral_1h_input_tokens) == (20, 10)
    assert u.output_tokens_details.thinking_tokens == 5
    assert mock_log.last()["usage"] == full(**ALL)

    with claude(mock).messages.stream(model="claude-opus-4-5", max_tokens=8, messages=HI,
                                      extra_headers=usage_header(**ALL)) as s:
        final = s.get_final_message()
    assert final.content[0].text == m.content[0].text
    assert final.usage.model_dump() == u.model_dump()


def test_anthropic_count_tokens_reports_no_usage(mock, mock_log):
    r = claude(mock).messages.count_tokens(model="claude-opus-4-5", messages=HI, extra_headers=usage_header(input=77))
    assert r.input_tokens == 77
    assert mock_log.last()["usage"] is None


def test_openai_chat_responses_embeddings_parse_with_native_usage(mock, mock_log):
    u = dict(input=100, output=50, cache_read=30, reasoning=5)
    c = gpt(mock).chat.completions.create(model="gpt-4o", messages=HI, extra_headers=usage_header(**u))
    assert (c.object, c.model, c.choices[0].message.role, c.choices[0].finish_reason) == (
        "chat.completion", "gpt-4o", "assistant", "stop")
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (130, 50, 180)
    assert c.usage.prompt_tokens_details.cached_tokens == 30
    assert c.usage.completion_tokens_details.reasoning_tokens == 5

    chunks = list(gpt(mock).chat.completions.create(
        model="gpt-4o", messages=HI, stream=True, stream_options={"include_usage": True},
        extra_headers=usage_header(**u)))
    assert chunks[-1].choices == [] and chunks[-1].usage == c.usage
    assert all(ch.usage is None for ch in chunks[:-1])
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == c.choices[0].message.content
    assert mock_log.last()["usage"] == full(**u)
    bare = list(gpt(mock).chat.completions.create(model="gpt-4o", messages=HI, stream=True))
    assert all(ch.usage is None and ch.choices for ch in bare)
    assert mock_log.last()["usage"] is None

    r = gpt(mock).responses.create(model="o3", input="hi", extra_headers=usage_header(**u))
    assert (r.object, r.status, r.output_text) == ("response", "completed", c.choices[0].message.content)
    assert (r.usage.input_tokens, r.usage.output_tokens) == (130, 50)
    assert r.usage.input_tokens_details.cached_tokens == 30
    assert r.usage.output_tokens_details.reasoning_tokens == 5
    events = list(gpt(mock).responses.create(model="o3", input="hi", stream=True, extra_headers=usage_header(**u)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.usage == r.usage

    e = gpt(mock).embeddings.create(model="text-embedding-3-small", input=["a", "b"], extra_headers=usage_header(input=8))
    assert [d.index for d in e.data] == [0, 1] and len(e.data[0].embedding) == 8
    assert (e.usage.prompt_tokens, e.usage.total_tokens) == (8, 8)
    assert mock_log.last()["usage"] == full(input=8)


def test_gemini_both_stream_framings_carry_cumulative_usage(mock, mock_log):
    u = dict(input=400, output=160, cache_read=600, reasoning=120)
    url = f"{mock}/v1beta/models/gemini-2.5-flash"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    whole = httpx.post(f"{url}:generateContent", json=body, headers=usage_header(**u)).json()
    meta = whole["usageMetadata"]
    assert (meta["promptTokenCount"], meta["cachedContentTokenCount"]) == (1000, 600)
    assert (meta["candidatesTokenCount"], meta["thoughtsTokenCount"]) == (40, 120)
    array = httpx.post(f"{url}:streamGenerateContent", json=body, headers=usage_header(**u)).json()
    sse = httpx.post(f"{url}:streamGenerateContent?alt=sse", json=body, headers=usage_header(**u)).text
    frames = [json.loads(f.removeprefix("data: ")) for f in sse.split("\r\n\r\n") if f]
    assert frames == array
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in array) == \
        whole["candidates"][0]["content"]["parts"][0]["text"]
    assert array[-1]["usageMetadata"] == meta
    assert mock_log.last()["usage"] == full(**u)


@pytest.mark.parametrize("scenario,error,status", [
    ("error-500", "InternalServerError", 500), ("error-429", "RateLimitError", 429)])
def test_errors_raise_the_sdk_error_classes(mock, scenario, error, status):
    with pytest.raises(getattr(anthropic, error)) as a:
        claude(mock).messages.create(model="claude-opus-4-5", max_tokens=8, messages=HI,
                                     extra_headers={"x-mock-scenario": scenario})
    with pytest.raises(getattr(openai, error)) as o:
        gpt(mock).chat.completions.create(model="gpt-4o", messages=HI, extra_headers={"x-mock-scenario": scenario})
    for e in (a.value, o.value):
        assert e.status_code == status and e.request_id.startswith("req_mock_")
        assert (e.response.headers.get("retry-after") == "1") is (status == 429)
    assert a.value.body["error"]["type"] == ("rate_limit_error" if status == 429 else "api_error")


def test_broken_upstreams_break_the_sdks(mock):
    with pytest.raises(anthropic.APIConnectionError):
        claude(mock).messages.create(model="claude-opus-4-5", max_tokens=8, messages=HI,
                                     extra_headers={"x-mock-scenario": "reset-mid-stream"})
    with pytest.raises(httpx2.RemoteProtocolError):
        with claude(mock).messages.stream(model="claude-opus-4-5", max_tokens=8, messages=HI,
                                          extra_headers={"x-mock-scenario": "reset-mid-stream"}) as s:
            s.get_final_text()
    with pytest.raises(anthropic.APIStatusError) as e:
        with claude(mock).messages.stream(model="claude-opus-4-5", max_tokens=8, messages=HI,
                                          extra_headers={"x-mock-scenario": "error-event"}) as s:
            s.get_final_text()
    assert "overloaded_error" in str(e.value)
    with pytest.raises(ValueError):  # json.JSONDecodeError
        claude(mock).messages.create(model="claude-opus-4-5", max_tokens=8, messages=HI,
                                     extra_headers={"x-mock-scenario": "malformed"})
