"""Fixtures: the mock upstream and a tokenwatch proxy in front of it, both real processes.

Binaries come from TOKENWATCH_BIN / TOKENWATCH_MOCK_BIN (scripts/test builds them in release
mode; the defaults are target/release/…). A missing binary is a test failure, never a skip.
Each test module gets a fresh tokenwatch with its own SQLite file; the mock is shared.

Tests that need tokenwatch get the `proxy` marker automatically (they use the `tw` fixture, or
`teams`: two tenants on a tokenwatch with `[auth] required`), so `pytest -m "not proxy"` runs
only the SDK-against-mock checks.

Expected costs are computed here, independently of tokenwatch, from the shipped price table
crates/core/src/pricing/prices.toml (USD per million tokens): Decimal arithmetic, one
half-up rounding of the total to micro-dollars.
"""

import json
import os
import subprocess
import threading
import time
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TOKENWATCH_BIN", ROOT / "target/release/tokenwatch"))
MOCK_BIN = Path(os.environ.get("TOKENWATCH_MOCK_BIN", ROOT / "target/release/tokenwatch-mock"))
PRICES = ROOT / "crates/core/src/pricing/prices.toml"

# Planted credentials: the mock must see them; tokenwatch must never store or log them.
ANTHROPIC_KEY = "sk-ant-PLANTED-SECRET-123"
OPENAI_KEY = "sk-proj-PLANTED-SECRET-456"
GEMINI_KEY = "AIza-PLANTED-SECRET-789"
PLANTED = (ANTHROPIC_KEY, OPENAI_KEY, GEMINI_KEY)

USAGE_KEYS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "reasoning")
EVENT_COLUMNS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cache_read_tokens",
    "cache_write_5m": "cache_write_5m_tokens",
    "cache_write_1h": "cache_write_1h_tokens",
    "reasoning": "reasoning_tokens",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if {"tw", "teams"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.proxy)


def _start(cmd, env=None, stderr=None, stdout_log=None):
    """Starts a server that prints `listening on http://…` first; returns (process, url).

    The rest of its stdout is copied to `stdout_log` by a thread (so the pipe never fills and
    the secret scan can read it)."""
    if not Path(cmd[0]).is_file():
        pytest.fail(f"{cmd[0]} is missing: cargo build --release -p tokenwatch -p tokenwatch-mock")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on http://"):
        proc.kill()
        pytest.fail(f"{cmd[0]} printed {line!r} instead of 'listening on http://…'")

    def drain():
        with open(stdout_log or os.devnull, "w") as out:
            out.write(line + "\n")
            for rest in proc.stdout:
                out.write(rest)
                out.flush()

    threading.Thread(target=drain, daemon=True).start()
    return proc, line.removeprefix("listening on ")


class Mock:
    """The mock upstream and its request log."""

    def __init__(self, url):
        self.url = url

    def requests(self):
        r = httpx.get(f"{self.url}/__mock/requests")
        r.raise_for_status()
        return r.json()["requests"]

    def last(self):
        return self.requests()[-1]

    def clear(self):
        assert httpx.delete(f"{self.url}/__mock/requests").status_code == 204


@pytest.fixture(scope="session")
def mock_server():
    proc, url = _start([str(MOCK_BIN), "--listen", "127.0.0.1:0", "--split-bytes", "7"])
    yield Mock(url)
    proc.kill()
    proc.wait()


@pytest.fixture
def mock(mock_server):
    """The mock's base URL (as the SDKs want it); the log is at `mock_log`."""
    return mock_server.url


@pytest.fixture
def mock_log(mock_server):
    return mock_server


class Tokenwatch:
    def __init__(self, url, db, stdout, stderr, proc):
        self.url, self.db, self.stdout, self.stderr, self.proc = url, db, stdout, stderr, proc

    def events_page(self, limit=1000):
        r = httpx.get(f"{self.url}/api/v1/events", params={"limit": limit})
        r.raise_for_status()
        return r

    def events(self, limit=1000):
        return self.events_page(limit).json()["events"]

    def count(self):
        return len(self.events())

    def wait_new(self, before, n=1, timeout=15.0):
        """The n events recorded after `before` existed (newest first). Events are written
        asynchronously, so this polls until they appear and then checks no extra one did."""
        deadline = time.time() + timeout
        while True:
            events = self.events()
            if len(events) >= before + n:
                time.sleep(0.1)
                events = self.events()
                assert len(events) == before + n, f"expected {n} new events, got {len(events) - before}"
                return events[:n]
            assert time.time() < deadline, f"only {len(events) - before} of {n} events recorded"
            time.sleep(0.02)

    def cli_events(self):
        """`tokenwatch events --json` against the same database."""
        out = subprocess.run(
            [str(BIN), "events", "--json", "--last", "1000", "--db", str(self.db)],
            capture_output=True, text=True, timeout=30, check=True,
        )
        return json.loads(out.stdout)["events"]


def serve(mock_server, d, extra_env=None):
    """`tokenwatch serve` on `d/tw.db` in front of the mock, logging at debug level to
    `d/stderr.log`, spilling to `d/spill.jsonl`; `extra_env` adds or overrides variables."""
    db, stdout, stderr = d / "tw.db", d / "stdout.log", d / "stderr.log"
    env = dict(os.environ)
    for name in ("ANTHROPIC", "OPENAI", "GEMINI"):
        env[f"TOKENWATCH_PROVIDERS__{name}__BASE_URL"] = mock_server.url
    env["TOKENWATCH_LOG"] = "debug"  # the secret scan must cover the chattiest logs
    env["TOKENWATCH_RECORDING__SPILL_PATH"] = str(d / "spill.jsonl")
    env.update(extra_env or {})
    with open(stderr, "w") as err:
        proc, url = _start([str(BIN), "serve", "--listen", "127.0.0.1:0", "--db", str(db)],
                           env=env, stderr=err, stdout_log=stdout)
    return Tokenwatch(url, db, stdout, stderr, proc)


def stop(tw):
    """Ends a tokenwatch started by `serve` (a test may already have); its exit status."""
    if tw.proc.poll() is None:
        tw.proc.terminate()
    return tw.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def tw(mock_server, tmp_path_factory):
    tw = serve(mock_server, tmp_path_factory.mktemp("tw"))
    yield tw
    stop(tw)


# ── teams: tenants on a tokenwatch with [auth] required ──

class Tenant:
    """One tenant as the tests see it: its provider credentials (planted, distinctive), the
    project and session its traffic carries, and what the CLI made for it."""

    def __init__(self, name, anthropic_key, openai_key):
        self.name, self.anthropic_key, self.openai_key = name, anthropic_key, openai_key
        self.project, self.session = f"project-{name}-3f9", f"session-{name}-8d2"
        self.id = self.key = self.key_id = self.token = self.member_token = None


class Teams:
    """A tokenwatch with `[auth] required` (`tw`, started by the `teams` fixture) over a database
    the CLI prepared. Every secret planted or handed out is in `secrets`; every text the API
    or the CLI returned (except the one-time print of a new key or token) is in `seen`, so a
    scan can prove no secret comes back in clear."""

    def __init__(self, d):
        self.dir, self.db = d, d / "tw.db"
        self.tw = self.alpha = self.bravo = None
        self.tenants = ()
        self.house_token = self.operator_token = self.user = self.password = None
        self.secrets, self.seen = [], []

    def other(self, tenant):
        return self.bravo if tenant is self.alpha else self.alpha

    def plant(self, secret):
        self.secrets.append(secret)
        return secret

    def cli(self, *args, stdin="", ok=True, record=True):
        """`tokenwatch ARGS --db …` (run in the database's directory, so anything it writes is
        scanned too). Its output goes to `seen` if `record` (not when it prints a new secret
        by design)."""
        r = subprocess.run([str(BIN), *args, "--db", str(self.db)], input=stdin, cwd=self.dir,
                           capture_output=True, text=True, timeout=30)
        if ok:
            assert r.returncode == 0, f"tokenwatch {' '.join(args)}: {r.stderr}"
        if record:
            self.seen.append((f"tokenwatch {' '.join(args)}", r.stdout + r.stderr))
        return r

    def made(self, *args):
        """A `create … --json` command's output; its secret (`key` or `token`) is planted."""
        out = json.loads(self.cli(*args, "--json", record=False).stdout)
        self.plant(out.get("key") or out["token"])
        return out

    def api(self, token, path, method="GET", **kw):
        """A request to tokenwatch's API with `Authorization: Bearer token`; recorded in `seen`."""
        r = httpx.request(method, f"{self.tw.url}{path}", headers={"authorization": f"Bearer {token}"},
                          timeout=30, **kw)
        self.seen.append((f"{method} {path}", r.text))
        return r

    def events(self, token):
        r = self.api(token, "/api/v1/events", params={"limit": 1000})
        assert r.status_code == 200, r.text
        return r.json()["events"]

    def wait_events(self, token, n, timeout=15.0):
        """The token's events once there are `n` (recording is asynchronous), checking that no
        more appear."""
        deadline = time.time() + timeout
        while len(events := self.events(token)) < n:
            assert time.time() < deadline, f"only {len(events)} of {n} events recorded"
            time.sleep(0.05)
        time.sleep(0.2)
        events = self.events(token)
        assert len(events) == n, f"expected {n} events, got {len(events)}"
        return events


@pytest.fixture(scope="module")
def teams(mock_server, tmp_path_factory):
    """Tenants alpha and bravo, each with a proxy key for its own project, a viewer and a member
    token and credentials for anthropic and openai; a default-tenant member token (`house`), an
    operator token, and a dashboard user in alpha. Then `serve` with auth required."""
    t = Teams(tmp_path_factory.mktemp("teams"))
    t.alpha = Tenant("alpha", t.plant("sk-ant-ALPHA-0d6f1c-credential"), t.plant("sk-proj-ALPHA-5be2a7-credential"))
    t.bravo = Tenant("bravo", t.plant("sk-ant-BRAVO-91ac3e-credential"), t.plant("sk-proj-BRAVO-07fd4b-credential"))
    t.tenants = (t.alpha, t.bravo)
    for tenant in t.tenants:
        tenant.id = json.loads(t.cli("tenant", "create", tenant.name, "--json").stdout)["id"]
        key = t.made("key", "create", "--tenant", tenant.name, "--project", tenant.project)
        tenant.key, tenant.key_id = key["key"], key["id"]
        tenant.token = t.made("token", "create", "--tenant", tenant.name, "--role", "viewer")["token"]
        tenant.member_token = t.made("token", "create", "--tenant", tenant.name, "--role", "member")["token"]
        for provider, secret in (("anthropic", tenant.anthropic_key), ("openai", tenant.openai_key)):
            t.cli("credential", "set", "--tenant", tenant.name, "--provider", provider, stdin=f"{secret}\n")
    t.house_token = t.made("token", "create", "--tenant", "default", "--role", "member")["token"]
    t.operator_token = t.made("token", "create", "--role", "operator")["token"]
    t.user, t.password = "ada@alpha.example", t.plant("ALPHA-password-correct-horse-7319")
    t.cli("user", "add", t.user, "--tenant", "alpha", "--role", "viewer", stdin=f"{t.password}\n")
    t.tw = serve(mock_server, t.dir, {"TOKENWATCH_AUTH__REQUIRED": "true"})
    yield t
    stop(t.tw)


# ── expected figures ──

def price_table():
    return tomllib.loads(PRICES.read_text())


def price_entry(model):
    """The table entry for a model: the longest id or alias equal to it or prefixing it before
    '-' or '@' (dated snapshots); entries restricted to other providers are skipped."""
    table = price_table()
    best, best_len = None, -1
    for m in table["models"]:
        if m.get("providers"):
            continue
        for name in [m["id"], *m.get("aliases", [])]:
            if (model == name or (model.startswith(name) and model[len(name)] in "-@")) and len(name) > best_len:
                best, best_len = m, len(name)
    return table["version"], best


def price_rates(model, prompt_tokens):
    """A model's USD per million tokens by token kind (`input`, `output`, `cache_read`,
    `cache_write_5m`, `cache_write_1h`) for a request of `prompt_tokens` (input + cache read +
    cache writes): a long-context tier applies to all tokens of a request whose prompt exceeds
    its threshold, and cache prices default to the input price."""
    _, m = price_entry(model)
    assert m is not None, f"no price for {model} in {PRICES}"
    for tier in sorted(m.get("tiers", []), key=lambda t: t["above_prompt_tokens"]):
        if prompt_tokens > tier["above_prompt_tokens"]:
            m = {**m, **tier}
    kinds = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
    return {k: Decimal(str(m.get(k, m["input"]))) for k in kinds}


def expected_cost_nanos(model, input=0, output=0, cache_read=0, cache_write_5m=0, cache_write_1h=0):
    """USD/MTok × tokens is micro-dollars, × 1000 nano-dollars, the unit costs are stored in;
    the total is rounded half-up once (exact for every shipped price)."""
    rate = price_rates(model, input + cache_read + cache_write_5m + cache_write_1h)
    total = (
        input * rate["input"] + output * rate["output"] + cache_read * rate["cache_read"]
        + cache_write_5m * rate["cache_write_5m"] + cache_write_1h * rate["cache_write_1h"]
    )
    return int((total * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usage_header(**u):
    """`x-mock-usage` asking the mock to report exactly these normalised figures."""
    assert set(u) <= set(USAGE_KEYS), u
    return {"x-mock-usage": ",".join(f"{k}={v}" for k, v in u.items())}


def full(**u):
    return {k: u.get(k, 0) for k in USAGE_KEYS}


def assert_usage(event, model, mock_log, **u):
    """The event has exactly the usage the mock reported for the last request (which must be
    what the test asked for) and the cost computed from the price table."""
    reported = mock_log.last()["usage"]
    assert reported == full(**u), f"the mock reported {reported}, the test expected {u}"
    got = {k: event[c] for k, c in EVENT_COLUMNS.items()}
    assert got == reported, f"event tokens {got} != mock-reported {reported}\n{json.dumps(event, indent=1)}"
    priced = {k: v for k, v in u.items() if k != "reasoning"}
    nanos = expected_cost_nanos(model, **priced)
    assert event["cost_nanos"] == nanos, event
    assert event["cost_micros"] == int((Decimal(nanos) / 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)), event
    assert Decimal(event["cost_usd"]) == Decimal(nanos) / 1_000_000_000
    assert event["unpriced"] is False
    assert event["price_version"] == price_table()["version"]
