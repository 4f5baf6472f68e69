"""The official anthropic SDK through tokenwatch gets exactly what it gets from the upstream, and
every call is recorded with the upstream's usage and the expected cost to the micro-dollar.

Each test makes the same call directly to the mock and through tokenwatch. The only thing
allowed to differ is the message id (the mock numbers its responses; the SDK's `_request_id`
follows it), and tests drop exactly that."""

import anthropic
import httpx2
import pytest

from conftest import ANTHROPIC_KEY, assert_usage, full, usage_header

MODEL = "claude-opus-4-5-20251101"
HI = [{"role": "user", "content": "hi"}]
CACHED = dict(input=1000, output=500, cache_read=2000, cache_write_5m=300, cache_write_1h=400)


def clients(mock, tw):
    direct = anthropic.Anthropic(base_url=mock, api_key=ANTHROPIC_KEY, max_retries=0)
    proxied = anthropic.Anthropic(base_url=f"{tw.url}/anthropic", api_key=ANTHROPIC_KEY, max_retries=0)
    return direct, proxied


def without_id(message):
    data = message.model_dump()
    data.pop("id")
    return data


def test_message_with_every_cache_kind(mock, mock_log, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model=MODEL, max_tokens=64, messages=HI, extra_headers=usage_header(**CACHED))
    want = direct.messages.create(**kwargs)
    before = tw.count()
    got = proxied.messages.create(**kwargs)
    assert without_id(got) == without_id(want)
    assert got.usage.cache_creation.ephemeral_1h_input_tokens == 400
    (event,) = tw.wait_new(before)
    assert (event["provider"], event["model"], event["endpoint"]) == ("anthropic", MODEL, "messages")
    assert (event["status"], event["http_status"], event["streamed"]) == ("ok", 200, False)
    assert event["stop_reason"] == "end_turn"
    assert event["upstream_request_id"] == got._request_id == mock_log.last()["request_id"]
    assert event["ratelimit_remaining_requests"] == 999  # the mock's anthropic-ratelimit-requests-remaining
    assert_usage(event, MODEL, mock_log, **CACHED)


def test_stream_with_cache(mock, mock_log, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model=MODEL, max_tokens=64, messages=HI, extra_headers=usage_header(**CACHED))
    with direct.messages.stream(**kwargs) as s:
        want_events = [e.model_dump() for e in s]
        want = s.get_final_message()
    before = tw.count()
    with proxied.messages.stream(**kwargs) as s:
        got_events = [e.model_dump() for e in s]
        got = s.get_final_message()
    for events in (want_events, got_events):  # message_start (and the snapshots) carry the id
        for e in events:
            e.get("message", {}).pop("id", None)
    assert got_events == want_events
    assert without_id(got) == without_id(want) and "🌍" in got.content[0].text
    (event,) = tw.wait_new(before)
    assert event["streamed"] is True and event["stop_reason"] == "end_turn"
    assert event["ttft_ms"] is not None and event["ttft_ms"] <= event["duration_ms"]
    assert_usage(event, MODEL, mock_log, **CACHED)


@pytest.mark.parametrize("scenario", ["gzip", "slow-stream"])
def test_stream_gzipped_or_slow(mock, mock_log, tw, scenario):
    """A gzip-compressed SSE stream (the SDK accepts gzip) is passed through compressed and
    still metered; a slow stream (pauses before each delta) is metered with its TTFT."""
    direct, proxied = clients(mock, tw)
    u = dict(input=50, output=70, cache_read=30)
    kwargs = dict(model=MODEL, max_tokens=64, messages=HI,
                  extra_headers={"x-mock-scenario": scenario, "x-mock-chunk-gap-ms": "30", **usage_header(**u)})
    with direct.messages.stream(**kwargs) as s:
        want = s.get_final_message()
    before = tw.count()
    with proxied.messages.stream(**kwargs) as s:
        assert s.response.headers.get("content-encoding") == ("gzip" if scenario == "gzip" else None)
        got = s.get_final_message()
    assert without_id(got) == without_id(want)
    (event,) = tw.wait_new(before)
    assert event["status"] == "ok" and event["streamed"] is True
    if scenario == "slow-stream":  # five 30 ms pauses, the first before the first delta
        assert event["duration_ms"] >= 150 and event["ttft_ms"] < event["duration_ms"]
    assert_usage(event, MODEL, mock_log, **u)


def test_thinking_tokens_are_recorded_as_reasoning(mock, mock_log, tw):
    """Anthropic reports thinking inside output_tokens and breaks it out in
    usage.output_tokens_details.thinking_tokens (the SDK pinned here parses it)."""
    _, proxied = clients(mock, tw)
    u = dict(input=10, output=900, reasoning=700)
    before = tw.count()
    with proxied.messages.stream(model=MODEL, max_tokens=1024, messages=HI, extra_headers=usage_header(**u)) as s:
        assert s.get_final_message().usage.output_tokens_details.thinking_tokens == 700
    (event,) = tw.wait_new(before)
    assert_usage(event, MODEL, mock_log, **u)


def test_bare_base_url_drop_in(mock, mock_log, tw):
    proxied = anthropic.Anthropic(base_url=tw.url, api_key=ANTHROPIC_KEY, max_retries=0)
    before = tw.count()
    proxied.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI, extra_headers=usage_header(input=10, output=20))
    assert mock_log.last()["path"] == "/v1/messages"
    (event,) = tw.wait_new(before)
    assert event["provider"] == "anthropic"
    assert_usage(event, "claude-haiku-4-5", mock_log, input=10, output=20)


def test_count_tokens_is_free(mock, tw):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model=MODEL, messages=HI, extra_headers=usage_header(input=77))
    want = direct.messages.count_tokens(**kwargs)
    before = tw.count()
    got = proxied.messages.count_tokens(**kwargs)
    assert got == want and got.input_tokens == 77
    (event,) = tw.wait_new(before)
    assert event["endpoint"] == "count_tokens" and event["cost_micros"] == 0 and event["input_tokens"] == 0


@pytest.mark.parametrize("scenario,error", [("error-500", anthropic.InternalServerError), ("error-429", anthropic.RateLimitError)])
def test_upstream_errors_reach_the_sdk_verbatim(mock, tw, scenario, error):
    direct, proxied = clients(mock, tw)
    kwargs = dict(model=MODEL, max_tokens=8, messages=HI, extra_headers={"x-mock-scenario": scenario})
    with pytest.raises(error) as want:
        direct.messages.create(**kwargs)
    before = tw.count()
    with pytest.raises(error) as got:
        proxied.messages.create(**kwargs)
    assert type(got.value) is type(want.value)
    assert (got.value.status_code, got.value.body, str(got.value)) == (want.value.status_code, want.value.body, str(want.value))
    for header in ("retry-after", "anthropic-ratelimit-requests-remaining", "content-type"):
        assert got.value.response.headers.get(header) == want.value.response.headers.get(header), header
    (event,) = tw.wait_new(before)
    assert event["status"] == "upstream_error" and event["http_status"] == want.value.status_code
    assert event["cost_micros"] == 0 and event["input_tokens"] == 0 and event["output_tokens"] == 0


def test_error_event_inside_a_200_stream(mock, mock_log, tw):
    _, proxied = clients(mock, tw)
    before = tw.count()
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        with proxied.messages.stream(model=MODEL, max_tokens=8, messages=HI,
                                     extra_headers={"x-mock-scenario": "error-event", **usage_header(**CACHED)}) as s:
            s.get_final_text()
    (event,) = tw.wait_new(before)
    assert event["status"] == "stream_error" and event["error_type"] == "overloaded_error"
    # The usage seen before the error: message_start's input and cache figures, output 1.
    assert_usage(event, MODEL, mock_log, **{**CACHED, "output": 1})


def test_reset_mid_stream_reaches_the_client_and_keeps_the_usage_seen(mock, mock_log, tw):
    _, proxied = clients(mock, tw)
    before = tw.count()
    with pytest.raises(httpx2.RemoteProtocolError):  # not a clean end: the SDK must notice
        with proxied.messages.stream(model=MODEL, max_tokens=8, messages=HI,
                                     extra_headers={"x-mock-scenario": "reset-mid-stream", **usage_header(**CACHED)}) as s:
            s.get_final_text()
    (event,) = tw.wait_new(before)
    assert event["status"] == "upstream_reset"
    assert mock_log.last()["usage"] == full(**{**CACHED, "output": 1})
    assert_usage(event, MODEL, mock_log, **{**CACHED, "output": 1})


def test_unknown_model_is_unpriced_not_free(mock, mock_log, tw):
    _, proxied = clients(mock, tw)
    before = tw.count()
    proxied.messages.create(model="claude-mystery-9", max_tokens=8, messages=HI, extra_headers=usage_header(input=5, output=6))
    (event,) = tw.wait_new(before)
    assert event["unpriced"] is True and event["cost_micros"] is None and event["cost_usd"] is None
    assert event["input_tokens"] == 5 and event["output_tokens"] == 6


def test_cli_events_match_the_api(tw):
    api = tw.events()
    assert api, "earlier tests in this module recorded events"
    assert tw.cli_events() == api
