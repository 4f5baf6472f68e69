"""The official openai SDK (Chat Completions, Responses, Embeddings) through tokenwatch."""

import openai
import pytest

from conftest import PLANTED_KEY, assert_usage, usage_header

CACHED = dict(input=176, output=300, cache_read=1024, reasoning=100)


def clients(mock, tw):
    direct = openai.OpenAI(base_url=f"{mock}/v1", api_key=PLANTED_KEY, max_retries=0)
    proxied = openai.OpenAI(base_url=f"{tw.url}/openai/v1", api_key=PLANTED_KEY, max_retries=0)
    return direct, proxied


def dump(obj, drop=("id",)):
    data = obj.model_dump()
    for key in drop:
        data.pop(key, None)
    return data


def test_chat_completion(mock, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="gpt-4o", messages=[{"role": "system", "content": "terse"}, {"role": "user", "content": "hi"}], extra_headers=usage_header(**CACHED))
    want = direct.chat.completions.create(**kwargs)
    before = tw.count()
    got = proxied.chat.completions.create(**kwargs)
    assert dump(got) == dump(want)
    (event,) = tw.wait_new(before)
    assert event["endpoint"] == "chat_completions" and event["messages_system"] == 1 and event["messages_user"] == 1
    assert_usage(event, "gpt-4o", **CACHED)


def collect(stream):
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = next((c.usage for c in chunks if c.usage), None)
    return [dump(c) for c in chunks], text, usage


def test_chat_stream_with_include_usage(mock, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="gpt-4o", stream=True, stream_options={"include_usage": True}, messages=[{"role": "user", "content": "hi"}], extra_headers=usage_header(**CACHED))
    want = collect(direct.chat.completions.create(**kwargs))
    before = tw.count()
    got = collect(proxied.chat.completions.create(**kwargs))
    assert got == want
    assert got[2].prompt_tokens == 1200
    (event,) = tw.wait_new(before)
    assert event["streamed"] is True
    assert_usage(event, "gpt-4o", **CACHED)


def test_chat_stream_without_include_usage(mock, tw):
    """The upstream sends no usage, and the built-in openai provider does not inject the
    option by default (`inject_stream_usage = false`), so the event is recorded with no tokens.
    The end-to-end Rust test covers `inject_stream_usage = true`, which prices such streams."""
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hi"}])
    want = collect(direct.chat.completions.create(**kwargs))
    before = tw.count()
    got = collect(proxied.chat.completions.create(**kwargs))
    assert got == want and got[2] is None
    (event,) = tw.wait_new(before)
    assert event["status"] == "ok" and event["streamed"] is True
    assert event["input_tokens"] == 0 and event["output_tokens"] == 0 and event["cost_micros"] == 0


def test_responses_with_cache_and_reasoning(mock, tw):
    direct, proxied = clients(mock, tw)
    usage = dict(input=300, output=900, cache_read=200, reasoning=700)
    kwargs = dict(model="o3", input="hi", extra_headers=usage_header(**usage))
    want = direct.responses.create(**kwargs)
    before = tw.count()
    got = proxied.responses.create(**kwargs)
    assert dump(got) == dump(want)
    assert got.usage.output_tokens_details.reasoning_tokens == 700
    (event,) = tw.wait_new(before)
    assert event["endpoint"] == "responses"
    assert_usage(event, "o3", **usage)


def test_responses_stream(mock, tw):
    direct, proxied = clients(mock, tw)
    usage = dict(input=300, output=900, cache_read=200, reasoning=700)
    kwargs = dict(model="o3", input="hi", stream=True, extra_headers=usage_header(**usage))

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
    assert event["streamed"] is True
    assert_usage(event, "o3", **usage)


def test_embeddings(mock, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="text-embedding-3-small", input=["a", "b"], extra_headers=usage_header(input=8, output=0))
    want = direct.embeddings.create(**kwargs)
    before = tw.count()
    got = proxied.embeddings.create(**kwargs)
    assert got.model_dump() == want.model_dump() and len(got.data) == 2
    (event,) = tw.wait_new(before)
    assert event["endpoint"] == "embeddings"
    assert_usage(event, "text-embedding-3-small", input=8)


@pytest.mark.parametrize("scenario,error", [("error-500", openai.InternalServerError), ("error-429", openai.RateLimitError)])
def test_upstream_errors(mock, tw, scenario, error):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model="gpt-4o", messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock-scenario": scenario})
    with pytest.raises(error) as want:
        direct.chat.completions.create(**kwargs)
    before = tw.count()
    with pytest.raises(error) as got:
        proxied.chat.completions.create(**kwargs)
    assert (got.value.status_code, got.value.body) == (want.value.status_code, want.value.body)
    (event,) = tw.wait_new(before)
    assert event["status"] == "upstream_error"
