"""The official openai SDK (Chat Completions, Responses, Embeddings) through tokenwatch gets
exactly what it gets from the upstream, and every call is recorded with the upstream's usage
and the expected cost. Only response ids differ between the direct and the proxied call (the
mock numbers its responses); tests drop exactly those."""

import json

import openai
import pytest

from conftest import OPENAI_KEY, assert_usage, usage_header

HI = [{"role": "user", "content": "hi"}]
CACHED = dict(input=176, output=300, cache_read=1024, reasoning=100)
REASONING = dict(input=300, output=900, cache_read=200, reasoning=700)


def clients(mock, tw):
    direct = openai.OpenAI(base_url=f"{mock}/v1", api_key=OPENAI_KEY, max_retries=0)
    proxied = openai.OpenAI(base_url=f"{tw.url}/openai/v1", api_key=OPENAI_KEY, max_retries=0)
    return direct, proxied


def dump(obj):
    data = obj.model_dump()
    data.pop("id", None)
    return data


def collect(stream):
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = next((c.usage for c in chunks if c.usage), None)
    return [dump(c) for c in chunks], text, usage


def test_chat_completion(mock, mock_log, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="gpt-4o", messages=[{"role": "system", "content": "terse"}, *HI], extra_headers=usage_header(**CACHED))
    want = direct.chat.completions.create(**kwargs)
    before = tw.count()
    got = proxied.chat.completions.create(**kwargs)
    assert dump(got) == dump(want)
    (event,) = tw.wait_new(before)
    assert (event["provider"], event["endpoint"], event["status"], event["streamed"]) == ("openai", "chat_completions", "ok", False)
    assert event["messages_system"] == 1 and event["messages_user"] == 1
    assert event["ratelimit_remaining_requests"] == 9999  # the mock's x-ratelimit-remaining-requests
    assert_usage(event, "gpt-4o", mock_log, **CACHED)


def test_chat_stream_with_include_usage(mock, mock_log, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="gpt-4o", stream=True, stream_options={"include_usage": True}, messages=HI, extra_headers=usage_header(**CACHED))
    want = collect(direct.chat.completions.create(**kwargs))
    before = tw.count()
    got = collect(proxied.chat.completions.create(**kwargs))
    assert got == want and "🌍" in got[1]
    assert got[2].prompt_tokens == 1200  # 176 uncached + 1024 cached, OpenAI-native
    (event,) = tw.wait_new(before)
    assert event["streamed"] is True and event["stop_reason"] == "stop" and event["ttft_ms"] is not None
    assert_usage(event, "gpt-4o", mock_log, **CACHED)


def test_chat_stream_without_include_usage(mock, mock_log, tw):
    """The SDK's default stream (`stream=True`, no `stream_options`). tokenwatch asks the upstream
    for the usage chunk anyway (`inject_stream_usage`, on by default) and strips it from what
    the client receives, so the client gets what it gets directly (no usage) and the event has
    the real tokens. (A stream that still ends without usage is recorded as usage unknown, never
    $0; the Rust end-to-end tests cover that with injection turned off.)"""
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="gpt-4o", stream=True, messages=HI, extra_headers=usage_header(**CACHED))
    want = collect(direct.chat.completions.create(**kwargs))
    before = tw.count()
    got = collect(proxied.chat.completions.create(**kwargs))
    assert got == want and got[2] is None
    sent = json.loads(mock_log.last()["body"])
    assert sent["stream_options"] == {"include_usage": True}, "the usage chunk was asked for upstream"
    (event,) = tw.wait_new(before)
    assert (event["status"], event["streamed"], event["stop_reason"]) == ("ok", True, "stop")
    assert event["usage_unknown"] is False and event["unpriced"] is False
    assert_usage(event, "gpt-4o", mock_log, **CACHED)


def test_responses_with_cache_and_reasoning(mock, mock_log, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="o3", input="hi", extra_headers=usage_header(**REASONING))
    want = direct.responses.create(**kwargs)
    before = tw.count()
    got = proxied.responses.create(**kwargs)
    assert dump(got) == dump(want)
    assert got.usage.output_tokens_details.reasoning_tokens == 700
    (event,) = tw.wait_new(before)
    assert event["endpoint"] == "responses" and event["streamed"] is False
    assert_usage(event, "o3", mock_log, **REASONING)


def test_responses_stream(mock, mock_log, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="o3", input="hi", stream=True, extra_headers=usage_header(**REASONING))

    def events(stream):
        out = []
        for e in stream:
            d = e.model_dump()
            if "response" in d:
                d["response"].pop("id")
            out.append(d)
        return out

    want = events(direct.responses.create(**kwargs))
    before = tw.count()
    got = events(proxied.responses.create(**kwargs))
    assert got == want and got[-1]["type"] == "response.completed"
    (event,) = tw.wait_new(before)
    assert event["streamed"] is True and event["endpoint"] == "responses"
    assert_usage(event, "o3", mock_log, **REASONING)


def test_embeddings(mock, mock_log, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="text-embedding-3-small", input=["a", "b"], extra_headers=usage_header(input=8))
    want = direct.embeddings.create(**kwargs)
    before = tw.count()
    got = proxied.embeddings.create(**kwargs)
    assert got.model_dump() == want.model_dump() and len(got.data) == 2
    (event,) = tw.wait_new(before)
    assert event["endpoint"] == "embeddings"
    assert_usage(event, "text-embedding-3-small", mock_log, input=8)


def test_bare_base_url_drop_in(mock, mock_log, tw):
    proxied = openai.OpenAI(base_url=f"{tw.url}/v1", api_key=OPENAI_KEY, max_retries=0)
    before = tw.count()
    proxied.chat.completions.create(model="gpt-4o-mini", messages=HI, extra_headers=usage_header(input=40, output=2))
    assert mock_log.last()["path"] == "/v1/chat/completions"
    (event,) = tw.wait_new(before)
    assert event["provider"] == "openai"
    assert_usage(event, "gpt-4o-mini", mock_log, input=40, output=2)


@pytest.mark.parametrize("scenario,error", [("error-500", openai.InternalServerError), ("error-429", openai.RateLimitError)])
def test_upstream_errors(mock, tw, scenario, error):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="gpt-4o", messages=HI, extra_headers={"x-mock-scenario": scenario})
    with pytest.raises(error) as want:
        direct.chat.completions.create(**kwargs)
    before = tw.count()
    with pytest.raises(error) as got:
        proxied.chat.completions.create(**kwargs)
    assert type(got.value) is type(want.value)
    assert (got.value.status_code, got.value.body, str(got.value), got.value.code) == (
        want.value.status_code, want.value.body, str(want.value), want.value.code)
    for header in ("retry-after", "x-ratelimit-remaining-requests", "content-type"):
        assert got.value.response.headers.get(header) == want.value.response.headers.get(header), header
    (event,) = tw.wait_new(before)
    assert event["status"] == "upstream_error" and event["http_status"] == want.value.status_code
    assert event["cost_micros"] == 0 and event["input_tokens"] == 0
