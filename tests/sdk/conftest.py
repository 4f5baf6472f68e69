"""Fixtures: the mock upstream and a tokenwatch proxy in front of it, both real processes.

Binaries come from TOKENWATCH_BIN / TOKENWATCH_MOCK_BIN (scripts/test builds them in release
mode); each test module gets a fresh tokenwatch with its own SQLite file.
"""

import json
import os
import subprocess
import time
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("TOKENWATCH_BIN", str(ROOT / "target/release/tokenwatch"))
MOCK_BIN = os.environ.get("TOKENWATCH_MOCK_BIN", str(ROOT / "target/release/tokenwatch-mock"))
PRICES = ROOT / "crates/core/src/pricing/prices.toml"
PLANTED_KEY = "sk-ant-PLANTED-SECRET-123"


def _start(cmd, env=None, stderr=None):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on http://"), f"{cmd[0]} printed {line!r}"
    return proc, line.removeprefix("listening on ")


@pytest.fixture(scope="session")
def mock():
    proc, url = _start([MOCK_BIN, "--listen", "127.0.0.1:0", "--split-bytes", "7"])
    yield url
    proc.kill()
    proc.wait()


class Tokenwatch:
    def __init__(self, url, db, log, proc):
        self.url, self.db, self.log, self.proc = url, db, log, proc

    def events(self, limit=1000):
        r = httpx.get(f"{self.url}/api/v1/events", params={"limit": limit})
        r.raise_for_status()
        return r.json()["events"]

    def count(self):
        return len(self.events())

    def wait_new(self, before, n=1, timeout=15.0):
        """The n events recorded after `before` existed (newest first), waiting for the writer."""
        deadline = time.time() + timeout
        while True:
            events = self.events()
            if len(events) >= before + n:
                assert len(events) == before + n, f"expected {n} new events, got {len(events) - before}"
                return events[:n]
            assert time.time() < deadline, f"only {len(events) - before} of {n} events recorded"
            time.sleep(0.02)


@pytest.fixture(scope="module")
def tw(mock, tmp_path_factory):
    d = tmp_path_factory.mktemp("tw")
    db = d / "tw.db"
    log = d / "stderr.log"
    env = dict(os.environ)
    for name in ("ANTHROPIC", "OPENAI", "GEMINI"):
        env[f"TOKENWATCH_PROVIDERS__{name}__BASE_URL"] = mock
    env["TOKENWATCH_LOG"] = "debug"
    env["TOKENWATCH_RECORDING__SPILL_PATH"] = str(d / "spill.jsonl")
    with open(log, "w") as err:
        proc, url = _start([BIN, "serve", "--listen", "127.0.0.1:0", "--db", str(db)], env=env, stderr=err)
    yield Tokenwatch(url, db, log, proc)
    proc.terminate()
    proc.wait(timeout=30)


def _price_entry(model):
    """Longest table id (or alias) that equals the model or prefixes it before '-' or '@'."""
    table = tomllib.loads(PRICES.read_text())
    best, best_len = None, -1
    for m in table["models"]:
        if m.get("providers"):
            continue
        for name in [m["id"], *m.get("aliases", [])]:
            if model == name or (model.startswith(name) and model[len(name)] in "-@"):
                if len(name) > best_len:
                    best, best_len = m, len(name)
    return table["version"], best


def expected_cost_micros(model, input=0, output=0, cache_read=0, cache_write_5m=0, cache_write_1h=0):
    """Cost from the shipped table, computed independently: $/MTok × tokens = micro-dollars."""
    _, m = _price_entry(model)
    assert m is not None, f"no price for {model}"
    d = lambda k, default=None: Decimal(str(m.get(k, m["input"] if default is None else default)))  # noqa: E731
    total = (
        Decimal(input) * Decimal(str(m["input"]))
        + Decimal(output) * Decimal(str(m["output"]))
        + Decimal(cache_read) * d("cache_read")
        + Decimal(cache_write_5m) * d("cache_write_5m")
        + Decimal(cache_write_1h) * d("cache_write_1h")
    )
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usage_header(**u):
    return {"x-mock-usage": ",".join(f"{k}={v}" for k, v in u.items())}


def assert_usage(event, model, **u):
    for key, column in [
        ("input", "input_tokens"),
        ("output", "output_tokens"),
        ("cache_read", "cache_read_tokens"),
        ("cache_write_5m", "cache_write_5m_tokens"),
        ("cache_write_1h", "cache_write_1h_tokens"),
        ("reasoning", "reasoning_tokens"),
    ]:
        assert event[column] == u.get(key, 0), f"{column}: {json.dumps(event, indent=1)}"
    priced = {k: v for k, v in u.items() if k != "reasoning"}
    assert event["cost_micros"] == expected_cost_micros(model, **priced), event
    assert event["unpriced"] is False
    assert event["price_version"] == _price_entry(model)[0]
