"""Gemini generateContent and streamGenerateContent (SSE and JSON-array framings) over plain
HTTP — there is no Gemini SDK in this suite. The proxied bytes must equal the direct bytes."""

import httpx
import pytest

from conftest import GEMINI_KEY, assert_usage, usage_header

MODEL = "gemini-2.5-flash"
USAGE = dict(input=400, output=160, cache_read=600, reasoning=120)
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def call(base, op, query="", model=MODEL, headers=None):
    url = f"{base}/v1beta/models/{model}:{op}{query}"
    return httpx.post(url, json=BODY, headers={"x-goog-api-key": GEMINI_KEY, **(headers or usage_header(**USAGE))})


@pytest.mark.parametrize("op,query", [("generateContent", ""), ("streamGenerateContent", "?alt=sse"), ("streamGenerateContent", "")])
def test_gemini(mock, mock_log, tw, op, query):
    want = call(mock, op, query)
    before = tw.count()
    got = call(f"{tw.url}/gemini", op, query)
    assert got.status_code == want.status_code == 200
    assert got.headers["content-type"] == want.headers["content-type"]
    assert got.content == want.content
    (event,) = tw.wait_new(before)
    assert (event["provider"], event["model"], event["status"]) == ("gemini", MODEL, "ok")
    assert event["streamed"] is (op == "streamGenerateContent")
    assert_usage(event, MODEL, mock_log, **USAGE)


def test_long_context_tier(mock, mock_log, tw):
    """A prompt above the table's threshold prices every token at the tier's rates."""
    u = dict(input=150_000, output=2_000, cache_read=60_000)
    before = tw.count()
    r = call(f"{tw.url}/gemini", "generateContent", model="gemini-2.5-pro", headers=usage_header(**u))
    assert r.status_code == 200
    (event,) = tw.wait_new(before)
    assert_usage(event, "gemini-2.5-pro", mock_log, **u)


def test_upstream_error(mock, tw):
    headers = {"x-mock-scenario": "error-429"}
    want = call(mock, "generateContent", headers=headers)
    before = tw.count()
    got = call(f"{tw.url}/gemini", "generateContent", headers=headers)
    assert (got.status_code, got.content) == (want.status_code, want.content) == (429, want.content)
    assert got.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    (event,) = tw.wait_new(before)
    assert event["status"] == "upstream_error" and event["http_status"] == 429
