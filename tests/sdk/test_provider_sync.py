"""Provider usage sync with the official SDKs as the clients: traffic sent through tokenwatch
plus traffic the same SDKs sent straight to the provider (the mock, which bills both in its
organisation ledger) yields a reconciliation whose unexplained part is exactly the bypassing
traffic, to the token, and totals that equal the bill. Admin keys are read from standard input
and never come back in clear.

This module runs its own mock: the shared one's ledger holds every other module's traffic."""

import subprocess
import time

import anthropic
import httpx
import openai
import pytest

from conftest import BIN, MOCK_BIN, Mock, _start, serve, stop, usage_header

ANTHROPIC_ADMIN = "sk-ant-admin01-SDKSYNC-PLANTED-a41f"
OPENAI_ADMIN = "sk-admin-SDKSYNC-PLANTED-c93e"
SECRET_KEY = "dG9rZW53YXRjaC1wcm92aWRlci1zeW5jLXRlc3QtayE="


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    proc, url = _start([str(MOCK_BIN), "--listen", "127.0.0.1:0"])
    mock = Mock(url)
    d = tmp_path_factory.mktemp("sync")
    env = {"TOKENWATCH_SYNC__INTERVAL_SECS": "0", "TOKENWATCH_SECRET_KEY": SECRET_KEY}
    tw = serve(mock, d, env)
    yield mock, tw, d, env
    stop(tw)
    proc.kill()
    proc.wait()


def cli(tw, d, env, *args, stdin=""):
    import os

    full = dict(os.environ)
    full.update(env)
    for name in ("ANTHROPIC", "OPENAI"):
        full[f"TOKENWATCH_PROVIDERS__{name}__BASE_URL"] = tw.mock_url
    return subprocess.run([str(BIN), *args, "--db", str(tw.db)], input=stdin, cwd=d, env=full,
                          capture_output=True, text=True, timeout=60)


def anthropic_tokens(u):
    return (u.input_tokens + u.output_tokens + (u.cache_read_input_tokens or 0)
            + (u.cache_creation_input_tokens or 0))


def test_bypassing_sdk_traffic_is_the_unexplained_part(org):
    mock, tw, d, env = org
    tw.mock_url = mock.url
    # Through tokenwatch: Messages (plain and streamed), Chat Completions streamed with usage,
    # Embeddings.
    a_proxied = anthropic.Anthropic(base_url=f"{tw.url}/anthropic", api_key="sk-ant-api03-sdk-proxied", max_retries=0)
    o_proxied = openai.OpenAI(base_url=f"{tw.url}/openai/v1", api_key="sk-proj-sdk-proxied", max_retries=0)
    a_proxied.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}],
                              extra_headers=usage_header(input=1200, output=80, cache_read=300))
    with a_proxied.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "again"}],
                                   extra_headers=usage_header(input=90, output=30)) as s:
        s.get_final_message()
    chunks = list(o_proxied.chat.completions.create(
        model="gpt-4o-mini", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "hi"}], extra_headers=usage_header(input=500, output=40, cache_read=256)))
    assert any(c.usage for c in chunks)
    o_proxied.embeddings.create(model="text-embedding-3-small", input="hello", extra_headers=usage_header(input=12))
    deadline = time.time() + 15
    while len(tw.events()) < 4:
        assert time.time() < deadline, "the proxied calls were not recorded"
        time.sleep(0.05)

    # Straight to the provider, bypassing tokenwatch, with other keys.
    a_direct = anthropic.Anthropic(base_url=mock.url, api_key="sk-ant-api03-sdk-bypass-b7f2", max_retries=0)
    o_direct = openai.OpenAI(base_url=f"{mock.url}/v1", api_key="sk-proj-sdk-bypass", max_retries=0)
    bypass_a = a_direct.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hidden"}],
                                        extra_headers=usage_header(input=700, output=60, cache_write_5m=400))
    bypass_o = o_direct.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hidden"}],
                                                extra_headers=usage_header(input=333, output=22))

    # Accounts: a standard key is refused as having no permission; the admin keys are saved.
    r = cli(tw, d, env, "accounts", "add", "--provider", "anthropic", "--name", "work", stdin="sk-ant-api03-not-admin\n")
    assert r.returncode != 0 and "no permission" in r.stderr, r.stderr
    r = cli(tw, d, env, "accounts", "add", "--provider", "anthropic", "--name", "work", stdin=ANTHROPIC_ADMIN + "\n")
    assert r.returncode == 0, r.stderr
    r = cli(tw, d, env, "accounts", "add", "--provider", "openai", "--name", "lab", stdin=OPENAI_ADMIN + "\n")
    assert r.returncode == 0, r.stderr

    seen_text = [r.stdout + r.stderr]
    run = httpx.post(f"{tw.url}/api/v1/sync/run", json={}, timeout=60)
    assert run.status_code == 200, run.text
    assert all(rep["error"] is None for rep in run.json()["reports"]), run.text
    recon = httpx.get(f"{tw.url}/api/v1/reconciliation", params={"since": "2d"}).json()
    seen_text.append(recon.__repr__())

    def unexplained(provider):
        rows = [row for row in recon["rows"] if row["provider"] == provider]
        return sum(row["unexplained"]["tokens"] for row in rows)

    assert unexplained("anthropic") == anthropic_tokens(bypass_a.usage), recon
    # OpenAI's prompt tokens include the cached ones: tokenwatch counts each token once.
    assert unexplained("openai") == bypass_o.usage.prompt_tokens + bypass_o.usage.completion_tokens, recon
    row = next(row for row in recon["rows"] if row["provider"] == "anthropic" and row["unexplained"]["tokens"])
    assert "did not pass through tokenwatch" in row["message"], row
    assert [k for k in row["keys"] if k["unexplained"]], row

    # Totals are the bill: the traffic plus what bypassed it, never the bill plus the traffic.
    reported = sum(row["reported"]["cost_nanos"] for row in recon["rows"])
    summary = httpx.get(f"{tw.url}/api/v1/analytics/summary", params={"since": "2d"}).json()
    assert summary["totals"]["cost_nanos"] == reported, (summary["totals"], recon)

    # Again: nothing changes.
    again = httpx.post(f"{tw.url}/api/v1/sync/run", json={}, timeout=60).json()["reports"]
    assert all(rep["rows_added"] == rep["rows_revised"] == rep["events_added"] == rep["events_changed"] == 0 for rep in again), again
    assert httpx.get(f"{tw.url}/api/v1/reconciliation", params={"since": "2d"}).json() == recon

    # No admin key in clear: API answers, CLI output, logs, the database and its WAL.
    for path in ("/api/v1/sync/accounts", "/api/v1/events?limit=1000", "/api/v1/events?format=csv", "/api/v1/audit"):
        seen_text.append(httpx.get(f"{tw.url}{path}").text)
    seen_text.append(cli(tw, d, env, "accounts", "--json").stdout)
    for f in d.iterdir():
        if f.is_file():
            seen_text.append(f.read_bytes().decode("utf-8", "replace"))
    blob = "\n".join(seen_text)
    assert "sk-ant-a…a41f" in blob
    for secret in (ANTHROPIC_ADMIN, OPENAI_ADMIN, "SDKSYNC-PLANTED"):
        assert secret not in blob, f"{secret} appears in clear"
