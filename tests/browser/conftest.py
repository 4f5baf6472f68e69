"""Fixtures for the dashboard suite: the mock upstream, a real `tokenwatch serve` over a temp
SQLite file seeded through `tokenwatch import csv`, and headless Chromium.

Binaries come from TOKENWATCH_BIN / TOKENWATCH_MOCK_BIN (default target/release/…); Chromium
and chromedriver from CHROMIUM_BIN / CHROMEDRIVER_BIN (default /usr/bin/…). Anything missing is
a failure, never a skip. Screenshots go to test-out/screenshots/ at the repository root.
"""

import csv
import datetime as dt
import os
import random
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TOKENWATCH_BIN", ROOT / "target/release/tokenwatch"))
MOCK_BIN = Path(os.environ.get("TOKENWATCH_MOCK_BIN", ROOT / "target/release/tokenwatch-mock"))
CHROMIUM = Path(os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"))
SHOTS = ROOT / "test-out" / "screenshots"

MODELS = [
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-opus-4-1"),
    ("openai", "gpt-4o"),
    ("gemini", "gemini-2.5-pro"),
]


def wait(driver, timeout):
    """A WebDriverWait that reads again when an element it read was re-rendered meanwhile (the
    views re-render on live events)."""
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])


def _start(cmd, env=None, stderr=None):
    for part in (cmd[0],):
        if not Path(part).is_file():
            pytest.fail(f"{part} is missing: cargo build --release -p tokenwatch -p tokenwatch-mock")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on http://"):
        proc.kill()
        pytest.fail(f"{cmd[0]} printed {line!r} instead of 'listening on http://…'")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, line.removeprefix("listening on ")


def seed_rows(now):
    """120 events over the last 20 days with given costs, tags, projects and sessions."""
    rng = random.Random(7)
    rows = []
    for i in range(120):
        provider, model = MODELS[i % len(MODELS)]
        ts = now - dt.timedelta(minutes=rng.randint(5, 20 * 24 * 60))
        rows.append({
            "ts": ts.isoformat().replace("+00:00", "Z"),
            "provider": provider,
            "model": model,
            "project": ["web", "api", "cli"][i % 3],
            "session_id": f"sess-{i % 9}",
            "input_tokens": rng.randint(100, 9000),
            "output_tokens": rng.randint(10, 3000),
            "cache_read_tokens": rng.randint(0, 40000),
            "cost_usd": f"{rng.randint(50, 900000) / 1e6:.6f}",
            "tags": f"team={['red', 'blue', 'green'][i % 3]}",
        })
    return rows


class Tokenwatch:
    def __init__(self, url, proc, rows):
        self.url, self.proc, self.rows = url, proc, rows

    def api(self, path, **params):
        r = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def mock_url():
    proc, url = _start([str(MOCK_BIN), "--listen", "127.0.0.1:0"])
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture(scope="session")
def tw(mock_url, tmp_path_factory):
    d = tmp_path_factory.mktemp("tw")
    db = d / "tw.db"
    rows = seed_rows(dt.datetime.now(dt.timezone.utc))
    seed = d / "seed.csv"
    with open(seed, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    if not BIN.is_file():
        pytest.fail(f"{BIN} is missing: cargo build --release -p tokenwatch")
    subprocess.run([str(BIN), "import", "csv", str(seed), "--db", str(db)], check=True,
                   capture_output=True, timeout=60)
    env = dict(os.environ)
    for name in ("ANTHROPIC", "OPENAI", "GEMINI"):
        env[f"TOKENWATCH_PROVIDERS__{name}__BASE_URL"] = mock_url
    env["TOKENWATCH_RECORDING__SPILL_PATH"] = str(d / "spill.jsonl")
    with open(d / "stderr.log", "w") as err:
        proc, url = _start([str(BIN), "serve", "--listen", "127.0.0.1:0", "--db", str(db)], env=env, stderr=err)
    yield Tokenwatch(url, proc, rows)
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def browser(tmp_path_factory, downloads):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            pytest.fail(f"{path} is missing: apt-get install chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--hide-scrollbars", "--window-size=1366,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
    })
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(20)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
