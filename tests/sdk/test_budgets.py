"""A hard budget's refusal reaches the official SDKs as their own rate-limit error, with
tokenwatch's message (budget name, limit, spend, reset) — the provider-shaped 429 works."""

import anthropic
import httpx
import openai
import pytest

from conftest import ANTHROPIC_KEY, OPENAI_KEY


def one_request_budget(tw, name, provider):
    r = httpx.post(f"{tw.url}/api/v1/budgets", json={
        "name": name, "scope": f"provider:{provider}", "period": "rolling:1h",
        "limit_usd": 1000, "request_limit": 1, "hard": True,
    })
    assert r.status_code == 201, r.text


def test_anthropic_sdk_raises_rate_limit_error_naming_the_budget(tw):
    one_request_budget(tw, "sdk-anthropic", "anthropic")
    client = anthropic.Anthropic(base_url=f"{tw.url}/anthropic", api_key=ANTHROPIC_KEY, max_retries=0)
    kwargs = dict(model="claude-opus-4-5-20251101", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    client.messages.create(**kwargs)
    with pytest.raises(anthropic.RateLimitError) as err:
        client.messages.create(**kwargs)
    assert err.value.status_code == 429
    assert err.value.body["type"] == "error"
    assert err.value.body["error"]["type"] == "rate_limit_error"
    message = err.value.body["error"]["message"]
    assert "budget 'sdk-anthropic'" in message and "made 1 of its 1 requests" in message, message
    assert err.value.response.headers["x-tokenwatch-budget"] == "sdk-anthropic"


def test_openai_sdk_raises_rate_limit_error_naming_the_budget(tw):
    one_request_budget(tw, "sdk-openai", "openai")
    client = openai.OpenAI(base_url=f"{tw.url}/openai/v1", api_key=OPENAI_KEY, max_retries=0)
    kwargs = dict(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    client.chat.completions.create(**kwargs)
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(**kwargs)
    assert err.value.status_code == 429
    assert err.value.code == "rate_limit_exceeded"
    assert "budget 'sdk-openai'" in err.value.message, err.value.message
