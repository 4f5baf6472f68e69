"""The official anthropic SDK through tokenwatch gets exactly what it gets from the upstream, and
every call is recorded with the upstream's usage and the expected cost to the micro-dollar."""

import anthropic
import pytest

from conftest import PLANTED_KEY, assert_usage, usage_header

MODEL = "claude-sonnet-4-5-20250929"
CACHED = dict(input=1000, output=500, cache_read=2000, cache_write_5m=300, cache_write_1h=400)


def clients(mock, tw):
    direct = anthropic.Anthropic(base_url=mock, api_key=PLANTED_KEY, max_retries=0)
    proxied = anthropic.Anthropic(base_url=f"{tw.url}/anthropic", api_key=PLANTED_KEY, max_retries=0)
    return direct, proxied


def without_id(message):
    data = message.model_dump()
    data.pop("id")
    return data


def test_message_with_every_cache_kind(mock, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}], extra_headers=usage_header(**CACHED))
    want = direct.messages.create(**kwargs)
    before = tw.count()
    got = proxied.messages.create(**kwargs)
    assert without_id(got) == without_id(want)
    assert got.usage.cache_creation.ephemeral_1h_input_tokens == 400
    (event,) = tw.wait_new(before)
    assert event["provider"] == "anthropic" and event["model"] == MODEL and event["status"] == "ok"
    assert event["streamed"] is False
    assert_usage(event, MODEL, **CACHED)


def test_stream_with_cache(mock, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}], extra_headers=usage_header(**CACHED))
    with direct.messages.stream(**kwargs) as s:
        want_text, want = s.get_final_text(), s.get_final_message()
    before = tw.count()
    with proxied.messages.stream(**kwargs) as s:
        got_text, got = s.get_final_text(), s.get_final_message()
    assert got_text == want_text and "🌍" in got_text
    assert without_id(got) == without_id(want)
    (event,) = tw.wait_new(before)
    assert event["streamed"] is True and event["stop_reason"] == "end_turn"
    assert event["ttft_ms"] is not None
    assert_usage(event, MODEL, **CACHED)


def test_bare_base_url_drop_in(mock, tw):
    proxied = anthropic.Anthropic(base_url=tw.url, api_key=PLANTED_KEY, max_retries=0)
    before = tw.count()
    proxied.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}], extra_headers=usage_header(input=10, output=20))
    (event,) = tw.wait_new(before)
    assert event["provider"] == "anthropic"
    assert_usage(event, "claude-haiku-4-5", input=10, output=20)


def test_count_tokens_is_free(mock, tw):
    _, proxied = clients(mock, tw)
    before = tw.count()
    r = proxied.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_headers=usage_header(input=77))
    assert r.input_tokens == 77
    (event,) = tw.wait_new(before)
    assert event["endpoint"] == "count_tokens" and event["cost_micros"] == 0 and event["input_tokens"] == 0


@pytest.mark.parametrize("scenario,error", [("error-500", anthropic.InternalServerError), ("error-429", anthropic.RateLimitError)])
def test_upstream_errors_reach_the_sdk_verbatim(mock, tw, scenario, error):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock-scenario": scenario})
    with pytest.raises(error) as want:
        direct.messages.create(**kwargs)
    before = tw.count()
    with pytest.raises(error) as got:
        proxied.messages.create(**kwargs)
    assert got.value.status_code == want.value.status_code
    assert got.value.body == want.value.body
    (event,) = tw.wait_new(before)
    assert event["status"] == "upstream_error" and event["http_status"] == want.value.status_code
    assert event["cost_micros"] == 0


def test_error_event_inside_a_200_stream(mock, tw):
    _, proxied = clients(mock, tw)
    before = tw.count()
    with pytest.raises(anthropic.APIStatusError):
        with proxied.messages.stream(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock-scenario": "error-event"}) as s:
            s.get_final_text()
    (event,) = tw.wait_new(before)
    assert event["status"] == "stream_error" and event["error_type"] == "overloaded_error"


def test_unknown_model_is_unpriced_not_free(mock, tw):
    _, proxied = clients(mock, tw)
    before = tw.count()
    proxied.messages.create(model="claude-mystery-9", max_tokens=8, messages=[{"role": "user", "content": "x"}], extra_headers=usage_header(input=5, output=6))
    (event,) = tw.wait_new(before)
    assert event["unpriced"] is True and event["cost_micros"] is None and event["cost_usd"] is None
    assert event["input_tokens"] == 5 and event["output_tokens"] == 6


def test_auth_is_forwarded_and_never_stored(mock, tw):
    _, proxied = clients(mock, tw)
    httpx_reset = __import__("httpx").delete(f"{mock}/__mock/requests")
    assert httpx_reset.status_code == 204
    before = tw.count()
    proxied.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}])
    tw.wait_new(before)
    seen = __import__("httpx").get(f"{mock}/__mock/requests").json()["requests"]
    headers = seen[-1]["headers"]
    sent = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    assert sent == PLANTED_KEY, headers
    api = __import__("httpx").get(f"{tw.url}/api/v1/events?limit=1000").text
    assert PLANTED_KEY not in api
    for path in tw.db.parent.iterdir():
        assert PLANTED_KEY.encode() not in path.read_bytes(), f"secret found in {path.name}"
