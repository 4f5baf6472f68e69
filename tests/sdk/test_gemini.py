"""Gemini generateContent and streamGenerateContent (both framings) over plain HTTP."""

import httpx
import pytest

from conftest import assert_usage, usage_header

MODEL = "gemini-2.5-flash"
USAGE = dict(input=400, output=160, cache_read=600, reasoning=120)
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def call(base, op, query=""):
    url = f"{base}/v1beta/models/{MODEL}:{op}{query}"
    headers = {"x-goog-api-key": "AIza-PLANTED", **usage_header(**USAGE)}
    return httpx.post(url, json=BODY, headers=headers)


@pytest.mark.parametrize("op,query", [("generateContent", ""), ("streamGenerateContent", "?alt=sse"), ("streamGenerateContent", "")])
def test_gemini(mock, tw, op, query):
    want = call(mock, op, query)
    before = tw.count()
    got = call(f"{tw.url}/gemini", op, query)
    assert got.status_code == want.status_code == 200
    assert got.content == want.content
    (event,) = tw.wait_new(before)
    assert event["provider"] == "gemini" and event["model"] == MODEL
    assert event["streamed"] is (op == "streamGenerateContent")
    assert_usage(event, MODEL, **USAGE)
