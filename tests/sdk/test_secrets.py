"""Auth passthrough: the upstream receives each SDK's credential unchanged, and tokenwatch never
writes one anywhere — not the SQLite database (main file, WAL, shared memory), not its stdout
or stderr (at debug level), not the spill file, the events API or `tokenwatch events --json`.
The scan runs while tokenwatch is live and again after it has shut down and checkpointed."""

import anthropic
import httpx
import openai
import pytest

from conftest import ANTHROPIC_KEY, GEMINI_KEY, OPENAI_KEY, PLANTED

HI = [{"role": "user", "content": "hi"}]


def test_credentials_reach_the_upstream_unchanged(mock_log, tw):
    # The pinned anthropic SDK sends its key as `Authorization: Bearer`; older SDKs, curl and
    # many agents send `x-api-key`. Both must pass through.
    claude = anthropic.Anthropic(base_url=f"{tw.url}/anthropic", api_key=ANTHROPIC_KEY, max_retries=0)
    claude_x = anthropic.Anthropic(base_url=f"{tw.url}/anthropic", api_key=None, max_retries=0,
                                   default_headers={"x-api-key": ANTHROPIC_KEY})
    gpt = openai.OpenAI(base_url=f"{tw.url}/openai/v1", api_key=OPENAI_KEY, max_retries=0)
    mock_log.clear()
    before = tw.count()

    claude.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    with claude_x.messages.stream(model="claude-haiku-4-5", max_tokens=8, messages=HI) as s:
        s.get_final_text()
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI, extra_headers={"x-mock-scenario": "error-429"})
    gpt.chat.completions.create(model="gpt-4o", messages=HI)
    list(gpt.chat.completions.create(model="gpt-4o", messages=HI, stream=True, stream_options={"include_usage": True}))
    gemini = f"{tw.url}/gemini/v1beta/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert httpx.post(gemini, json=body, headers={"x-goog-api-key": GEMINI_KEY}).status_code == 200
    assert httpx.post(gemini, params={"key": GEMINI_KEY}, json=body).status_code == 200

    seen = mock_log.requests()
    assert len(seen) == 7
    assert [r["headers"].get("authorization") for r in seen[:3]] == [f"Bearer {ANTHROPIC_KEY}", None, f"Bearer {ANTHROPIC_KEY}"]
    assert seen[1]["headers"]["x-api-key"] == ANTHROPIC_KEY
    assert all(r["headers"]["authorization"] == f"Bearer {OPENAI_KEY}" for r in seen[3:5])
    assert seen[5]["headers"]["x-goog-api-key"] == GEMINI_KEY
    assert seen[6]["query"] == f"key={GEMINI_KEY}"
    tw.wait_new(before, n=7)


def scan(tw, live):
    for path in sorted(tw.db.parent.iterdir()):
        data = path.read_bytes()
        for key in PLANTED:
            assert key.encode() not in data, f"{key} found in {path.name}"
    outputs = {"tokenwatch events --json": str(tw.cli_events())}
    if live:
        outputs["GET /api/v1/events"] = tw.events_page().text
    for where, text in outputs.items():
        for key in PLANTED:
            assert key not in text, f"{key} found in {where}"


def test_no_credential_is_stored_or_logged(tw):
    names = {p.name for p in tw.db.parent.iterdir()}
    assert {"tw.db", "stdout.log", "stderr.log"} <= names, names
    assert tw.stderr.stat().st_size > 0, "debug logging is on, so the scan covers real log lines"
    scan(tw, live=True)
    tw.proc.terminate()
    assert tw.proc.wait(timeout=30) == 0, "clean shutdown"
    scan(tw, live=False)
