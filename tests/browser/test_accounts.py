"""The accounts view, in real Chromium against the real binary with `[auth] required` and a mock
provider organisation of its own: an admin adds an Anthropic admin-API account through the form
(a key the provider refuses, and an unreachable base URL, are explained under their field and
nothing is saved; a good key shows a card with its hint and never the key), tests its
connection and syncs it; the card then shows this month's spend as the mock reports it, and the
reconciliation lists the traffic that bypassed tokenwatch (a key used directly: $42.00 on
claude-sonnet-4-5) with its unexplained cost and the key's last four, beside a call that went
through the proxy and is explained; under it, the Claude Code use the same sync read (a person on
a subscription and an API key, with their sessions, lines and the report's estimated cost). A
Claude Code report that cannot be read is said on the card; the usage sync stands. A failing sync marks the card with its error. A member
reads the same page without a button. Removing asks first. The page never holds the admin key,
in its markup or in an input. Screenshots land in test-out/screenshots/accounts-desktop.png,
accounts-phone.png (390 px), accounts-reconciliation-desktop.png and
accounts-claude-code-desktop.png.

The mock is this module's own, so usage the other modules send through their proxies is not in
its organisation's reports; the server has its own database and no background sync."""

import datetime as dt
import json
import os
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import BIN, MOCK_BIN, SHOTS, _start
from test_advisor import no_sideways_scroll, show, usd_nanos
from test_dashboard import assert_no_js_errors
from test_teams import Server, css, fill, sign_in, until, wait_for

ADMIN, ADMIN_PW = "admin@example.com", "correct horse battery"
MEMBER, MEMBER_PW = "member@example.com", "member password 1"
# The admin key the account is added with: it must reach the mock and never the page.
ADMIN_KEY = "sk-ant-admin01-accounts-view-0123456789abcdef-XYZW"
# A key the mock's admin API refuses with 401 (not an Admin API key at all).
REFUSED_KEY = "sk-ant-wrong-kind-of-key-9876543210fedcba"
# Traffic that bypassed tokenwatch: a provider key id the proxy never saw, on
# claude-sonnet-4-5 at $3 and $15 a million tokens: $12.00 + $30.00.
BYPASS_KEY_ID = "apikey_01bypassedb7f2"
BYPASS = {"input_tokens": 4_000_000, "output_tokens": 2_000_000}
BYPASS_NANOS = 42_000_000_000
# One call through the proxy, explained: 1,000 in and 100 out, $0.0045.
PROXIED_NANOS = 4_500_000
# Claude Code use in the organisation's Claude Code report: a person on a subscription today and
# an API key yesterday, each day's estimated cost in cents. The key's estimate is the larger: it
# is listed first.
TODAY = dt.datetime.now(dt.timezone.utc).date()
CC_USER, CC_KEY = "ada@example.com", "ci-bot"
CLAUDE_CODE = [
    {"date": TODAY.isoformat(), "actor": {"type": "user_actor", "email_address": CC_USER}, "customer_type": "subscription",
     "core_metrics": {"num_sessions": 7, "lines_of_code": {"added": 1234, "removed": 56},
                      "commits_by_claude_code": 3, "pull_requests_by_claude_code": 1},
     "model_breakdown": [{"model": "claude-sonnet-4-5", "tokens": {"input": 120_000, "output": 30_000, "cache_read": 900_000, "cache_creation": 50_000},
                          "estimated_cost": {"currency": "USD", "amount": 250}}]},
    {"date": (TODAY - dt.timedelta(days=1)).isoformat(), "actor": {"type": "api_actor", "api_key_name": CC_KEY}, "customer_type": "api",
     "core_metrics": {"num_sessions": 2, "lines_of_code": {"added": 40, "removed": 12},
                      "commits_by_claude_code": 1, "pull_requests_by_claude_code": 0},
     "model_breakdown": [{"model": "claude-opus-4-1", "tokens": {"input": 20_000, "output": 8_000, "cache_read": 0, "cache_creation": 0},
                          "estimated_cost": {"currency": "USD", "amount": 1234}},
                         {"model": "claude-sonnet-4-5", "tokens": {"input": 1_000, "output": 500, "cache_read": 0, "cache_creation": 0},
                          "estimated_cost": {"currency": "USD", "amount": 1}}]},
]
# Chromium logs the refused add (400) as a failed load.
REFUSED = ("400",)


def nanos_of(usd):
    return int(Decimal(usd) * 10**9)


class Synced(Server):
    def api(self, path, **params):
        r = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30,
                      headers={"authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def org():
    """A mock provider organisation of this module alone."""
    proc, url = _start([str(MOCK_BIN), "--listen", "127.0.0.1:0"])
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def synced(org, tmp_path_factory, browser):
    d = tmp_path_factory.mktemp("accounts")
    db = d / "accounts.db"
    # No background sync, and one attempt per request: a failure the test injects fails at once.
    env = dict(os.environ, TOKENWATCH_AUTH__REQUIRED="true", TOKENWATCH_SYNC__INTERVAL_SECS="0", TOKENWATCH_SYNC__ATTEMPTS="1",
               TOKENWATCH_RECORDING__SPILL_PATH=str(d / "spill.jsonl"))
    for name in ("ANTHROPIC", "OPENAI", "GEMINI"):
        env[f"TOKENWATCH_PROVIDERS__{name}__BASE_URL"] = org
    with open(d / "stderr.log", "w") as err:
        proc, url = _start([str(BIN), "serve", "--listen", "127.0.0.1:0", "--db", str(db)], env=env, stderr=err)
    s = Synced(url, db, env)
    s.org = org
    s.cli("user", "add", ADMIN, "--tenant", "default", "--role", "admin", stdin=ADMIN_PW + "\n")
    s.cli("user", "add", MEMBER, "--tenant", "default", "--role", "member", stdin=MEMBER_PW + "\n")
    s.token = json.loads(s.cli("token", "create", "--tenant", "default", "--role", "admin", "--json"))["token"]
    proxy_key = json.loads(s.cli("key", "create", "--tenant", "default", "--name", "app", "--json"))["key"]
    # One call through the proxy: tokenwatch sees it and the organisation bills it.
    r = httpx.post(f"{url}/anthropic/v1/messages", timeout=30, headers={
        "x-api-key": "sk-ant-api03-through-the-proxy", "x-tokenwatch-key": proxy_key,
        "anthropic-version": "2023-06-01", "content-type": "application/json", "x-mock-usage": "input=1000,output=100"},
        json={"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    deadline = time.time() + 15
    while not s.api("events", limit=5)["events"]:
        assert time.time() < deadline, "the proxied call was not recorded"
        time.sleep(0.1)
    # And traffic that went around it, with a key of the organisation used directly.
    now_ms = int(time.time() * 1000)
    r = httpx.post(f"{org}/__mock/org/usage", timeout=10, json={"provider": "anthropic", "records": [
        {"ts_ms": now_ms, "model": "claude-sonnet-4-5", "api_key_id": BYPASS_KEY_ID, **BYPASS}]})
    assert r.status_code == 200, r.text
    # And the organisation's Claude Code report, read by the same sync.
    r = httpx.post(f"{org}/__mock/org/claude_code", timeout=10, json={"records": CLAUDE_CODE})
    assert r.status_code == 200, r.text
    yield s
    browser.get("about:blank")
    browser.get_log("browser")
    proc.terminate()
    proc.wait(timeout=30)


def signed_in(browser, server, email, password):
    browser.delete_all_cookies()
    sign_in(browser, server.url, email, password)
    until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "overview")


@pytest.fixture
def admin(synced, browser):
    signed_in(browser, synced, ADMIN, ADMIN_PW)
    yield browser
    browser.delete_all_cookies()
    browser.set_window_size(1366, 900)


def account_card(browser, provider="anthropic", name="main"):
    found = css(browser, f'article.acct[data-account="{provider}/{name}"]')
    return found[0] if found else None


def the_form(browser):
    return wait_for(browser, 'form[data-testid="account-add"]')


def assert_key_nowhere(browser):
    """Neither the markup nor any input's value holds the admin key (or the refused one)."""
    for secret in (ADMIN_KEY, REFUSED_KEY):
        assert secret not in browser.page_source
        values = browser.execute_script("return [...document.querySelectorAll('input')].map((i) => i.value)")
        assert secret not in values
        assert secret not in browser.execute_script("return document.documentElement.outerHTML")


def test_a_refused_key_and_an_unreachable_base_url_are_explained_and_nothing_is_saved(synced, admin):
    show(admin, f"{synced.url}/ui/accounts?tz=UTC", "accounts")
    assert admin.find_element(By.CSS_SELECTOR, '#nav a[data-view="accounts"]').get_attribute("class") == "active"
    assert "no provider accounts yet" in admin.find_element(By.CSS_SELECTOR, '[data-testid="no-accounts"]').text
    assert "no account has synced" in admin.find_element(By.CSS_SELECTOR, '[data-testid="no-recon"]').text
    assert "nothing synced yet" in admin.find_element(By.CSS_SELECTOR, '[data-testid="no-cc"]').text
    # The range picker does not apply here: the reconciliation has its own window.
    assert not admin.find_element(By.ID, "range").is_displayed()
    form = the_form(admin)
    assert form.is_displayed(), "with no account yet the form is open"
    key = form.find_element(By.NAME, "key")
    assert (key.get_attribute("type"), key.get_attribute("autocomplete")) == ("password", "off")

    fill(form, name="main", key=REFUSED_KEY)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    note = until(admin, lambda d: css(d, '[data-field-err="key"]'))[0]
    assert note.text.startswith("the connection test failed, nothing was saved: bad key"), note.text
    assert form.find_element(By.NAME, "key").get_attribute("aria-invalid") == "true"
    assert form.find_element(By.NAME, "key").get_attribute("value") == ""
    assert form.find_element(By.NAME, "name").get_attribute("value") == "main"
    assert synced.api("sync/accounts")["accounts"] == []
    assert_key_nowhere(admin)

    # Nothing listens on port 9: the base URL is at fault.
    fill(form, key=ADMIN_KEY, base_url="http://127.0.0.1:9")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    note = until(admin, lambda d: css(d, '[data-field-err="base_url"]'))[0]
    assert "unreachable" in note.text, note.text
    assert not css(admin, '[data-field-err="key"]')
    assert synced.api("sync/accounts")["accounts"] == []
    assert_key_nowhere(admin)
    assert_no_js_errors(admin, REFUSED)


def test_a_good_key_adds_a_card_with_its_hint_and_the_connection_test_passes(synced, admin):
    show(admin, f"{synced.url}/ui/accounts?tz=UTC", "accounts")
    form = the_form(admin)
    fill(form, name="main", key=ADMIN_KEY, monthly_limit_usd="100")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    until(admin, lambda d: account_card(d) is not None)
    (a,) = synced.api("sync/accounts")["accounts"]
    assert (a["provider"], a["name"], a["status"], a["monthly_limit_usd"]) == ("anthropic", "main", "never_synced", "100.000000")
    assert a["key_hint"] != ADMIN_KEY and a["key_hint"].endswith(ADMIN_KEY[-4:])
    c = account_card(admin)
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="key-hint"]').text == a["key_hint"]
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="acct-status"]').text == "never synced"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="last-sync"]').text == "never"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="month-spend"]').text == "$0.00"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="acct-outcome"]').text == "added: the connection test passed"
    assert form.find_element(By.NAME, "key").get_attribute("value") == ""
    assert not css(admin, ".field-err")
    assert_key_nowhere(admin)

    c.find_element(By.CSS_SELECTOR, 'button[data-act="test"]').click()
    outcome = c.find_element(By.CSS_SELECTOR, '[data-testid="acct-outcome"]')
    until(admin, lambda d: outcome.text.startswith("connection ok: "))
    assert outcome.text == f"connection ok: {synced.org} answered: the key may read usage"
    assert "ok" in outcome.get_attribute("class").split()
    assert_key_nowhere(admin)
    assert_no_js_errors(admin)


def test_sync_now_shows_the_month_spend_and_the_bypassing_traffic_in_the_reconciliation(synced, admin):
    show(admin, f"{synced.url}/ui/accounts?tz=UTC", "accounts")
    account_card(admin).find_element(By.CSS_SELECTOR, 'button[data-act="sync"]').click()
    until(admin, lambda d: account_card(d).get_attribute("data-status") == "ok", timeout=60)
    until(admin, lambda d: css(d, '[data-testid="recon"]'))
    (a,) = synced.api("sync/accounts")["accounts"]
    c = account_card(admin)
    outcome = c.find_element(By.CSS_SELECTOR, '[data-testid="acct-outcome"]').text
    assert outcome.startswith("synced ") and " rows added" in outcome, outcome
    # The Claude Code report was read too: one actor-day each.
    assert outcome.endswith(" · Claude Code report: 2 actor-days"), outcome

    # This month's spend is what the mock organisation bills this month.
    month = dt.datetime.now(dt.timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ledger = httpx.get(f"{synced.org}/__mock/org/usage", timeout=10).json()["anthropic"]
    billed = sum(Decimal(r["priced_cost_cents"]) for r in ledger if r["ts_ms"] >= month.timestamp() * 1000) / 100
    assert billed * 10**9 == BYPASS_NANOS + PROXIED_NANOS
    assert Decimal(a["month_spend_usd"]) == billed
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="month-spend"]').text == usd_nanos(nanos_of(a["month_spend_usd"])) == "$42.00"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="limit-used"]').text == f"· {a['limit_used_pct']:.1f}%" == "· 42.0%"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="acct-status"]').text == "ok"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="last-sync"]').text == a["last_sync_at"][:19].replace("T", " ")
    # The end is exclusive: the range names the last day synced, today.
    today = dt.datetime.now(dt.timezone.utc).date()
    until_day = dt.datetime.fromisoformat(a["synced_until"].replace("Z", "+00:00")) - dt.timedelta(milliseconds=1)
    assert until_day.date() == today
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="synced-range"]').text == \
        f"{a['synced_from'][:10]} → {today.isoformat()} (UTC days)"

    # The reconciliation: the bypassing key is unexplained, the proxied call is not.
    recon = synced.api("reconciliation", since="30d")
    assert recon["unexplained_cost_nanos"] == BYPASS_NANOS
    (row,) = [r for r in recon["rows"] if r["model"] == "claude-sonnet-4-5"]
    assert (row["reported"]["cost_nanos"], row["seen"]["cost_nanos"]) == (BYPASS_NANOS + PROXIED_NANOS, PROXIED_NANOS)
    assert [k["api_key_id"] for k in row["keys"] if k["unexplained"]] == [BYPASS_KEY_ID]
    assert "…b7f2" in row["message"]
    panel = admin.find_element(By.CSS_SELECTOR, '[data-testid="reconciliation"]')
    assert panel.find_element(By.CSS_SELECTOR, '[data-testid="recon-unexplained"]').text == "$42.00"
    assert panel.find_element(By.CSS_SELECTOR, '[data-testid="recon-reported"]').text == usd_nanos(nanos_of(recon["reported_cost_usd"]))
    assert panel.find_element(By.CSS_SELECTOR, '[data-testid="recon-seen"]').text == usd_nanos(PROXIED_NANOS)
    # 99.99%: never rounded up to all of it, since the proxied call is explained.
    assert 99.95 < recon["unexplained_pct"] < 100
    assert panel.find_element(By.CSS_SELECTOR, '[data-testid="recon-unexplained-pct"]').text == ">99.9%"
    tr = panel.find_element(By.CSS_SELECTOR, f'tr[data-day="{row["day"][:10]}"][data-provider="anthropic"][data-model="claude-sonnet-4-5"]')
    cells = [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
    assert cells[:4] == [row["day"][:10], "anthropic", "claude-sonnet-4-5", f"{row['reported']['tokens']:,}"]
    assert cells[4] == usd_nanos(BYPASS_NANOS + PROXIED_NANOS)
    assert cells[5:7] == ["1,100", usd_nanos(PROXIED_NANOS)]
    assert cells[7] == f"+$42.00\n+{6_000_000:,} tokens"
    assert cells[8] == ">99.9%"
    # Backquoted names are set as code.
    assert tr.find_element(By.CSS_SELECTOR, '[data-testid="recon-message"]').text == row["message"].replace("`", "")
    assert "…b7f2" in [x.text for x in tr.find_elements(By.CSS_SELECTOR, '[data-testid="recon-message"] code')]
    assert [k.text for k in tr.find_elements(By.CSS_SELECTOR, '[data-testid="recon-key"]')] == [BYPASS_KEY_ID]
    assert "unexplained" in tr.get_attribute("class").split()
    assert_key_nowhere(admin)
    admin.save_screenshot(str(SHOTS / "accounts-desktop.png"))
    # Tall enough for the whole panel: an element's screenshot stops at the window's edge.
    admin.set_window_size(1366, 1400)
    panel.screenshot(str(SHOTS / "accounts-reconciliation-desktop.png"))
    admin.set_window_size(1366, 900)

    # The window is the URL's `days`, the Claude Code panel's too.
    Select(panel.find_element(By.CSS_SELECTOR, "select[name=days]")).select_by_value("7")
    until(admin, lambda d: "LAST 7 DAYS" in d.find_element(By.CSS_SELECTOR, '[data-testid="reconciliation"] h2').text)
    until(admin, lambda d: "LAST 7 DAYS" in d.find_element(By.CSS_SELECTOR, '[data-testid="claude-code"] h2').text)
    assert parse_qs(urlparse(admin.current_url).query)["days"] == ["7"]
    show(admin, f"{synced.url}/ui/accounts?tz=UTC&days=90", "accounts")
    until(admin, lambda d: "LAST 90 DAYS" in d.find_element(By.CSS_SELECTOR, '[data-testid="reconciliation"] h2').text)
    until(admin, lambda d: "LAST 90 DAYS" in d.find_element(By.CSS_SELECTOR, '[data-testid="claude-code"] h2').text)
    assert_no_js_errors(admin)


def test_the_claude_code_panel_lists_each_person_and_key_with_the_reports_estimate(synced, admin, downloads):
    """Runs after the sync: the report's two actors, the key (the larger estimate) first."""
    show(admin, f"{synced.url}/ui/accounts?tz=UTC", "accounts")
    until(admin, lambda d: css(d, '[data-testid="cc"]'))
    cc = synced.api("sync/claude-code", since="30d")
    assert [a["actor"] for a in cc["actors"]] == [f"api_key:{CC_KEY}", f"user:{CC_USER}"]
    key, user = cc["actors"]
    assert (user["customer_type"], user["sessions"], user["lines_added"], user["lines_removed"]) == ("subscription", 7, 1234, 56)
    assert (key["customer_type"], key["sessions"], key["days_active"]) == ("api", 2, 1)
    # Cents in the report: $12.34 + $0.01 and $2.50.
    assert (nanos_of(key["estimated_cost_usd"]), nanos_of(user["estimated_cost_usd"])) == (12_350_000_000, 2_500_000_000)
    panel = admin.find_element(By.CSS_SELECTOR, '[data-testid="claude-code"]')
    assert panel.find_element(By.TAG_NAME, "h2").text == "CLAUDE CODE USE · LAST 30 DAYS"
    note = panel.find_element(By.CSS_SELECTOR, '[data-testid="cc-note"]').text
    assert "estimates" in note and "not counted" in note
    rows = panel.find_elements(By.CSS_SELECTOR, "tr[data-actor]")
    assert [r.get_attribute("data-actor") for r in rows] == [f"api_key:{CC_KEY}", f"user:{CC_USER}"]

    def cell(tr, name):
        return tr.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]').text

    k, u = rows
    # The prefix is dropped; a key is marked as one.
    assert cell(k, "cc-name") == CC_KEY and cell(k, "cc-key") == "KEY"
    assert cell(u, "cc-name") == CC_USER and not u.find_elements(By.CSS_SELECTOR, '[data-testid="cc-key"]')
    # The plan badge: the visible one of the two (the other stands under the name on a phone).
    plans = [[p.text for p in tr.find_elements(By.CSS_SELECTOR, '[data-testid="cc-plan"]') if p.is_displayed()] for tr in rows]
    assert plans == [["api"], ["subscription"]]
    assert (cell(u, "cc-days"), cell(u, "cc-sessions"), cell(u, "cc-lines")) == ("1", "7", "+1,234 −56")
    assert (cell(u, "cc-commits"), cell(u, "cc-prs")) == ("3", "1")
    assert cell(u, "cc-tokens") == f"{120_000 + 30_000 + 900_000 + 50_000:,}"
    assert cell(u, "cc-cost") == usd_nanos(2_500_000_000) == "$2.50"
    assert "paid by the plan" in u.find_element(By.CSS_SELECTOR, '[data-testid="cc-cost"]').get_attribute("title")
    assert cell(u, "cc-models") == "claude-sonnet-4-5"
    assert (cell(k, "cc-sessions"), cell(k, "cc-lines"), cell(k, "cc-cost")) == ("2", "+40 −12", "$12.35")
    assert cell(k, "cc-models") == "claude-opus-4-1 claude-sonnet-4-5"
    # The phone's line is hidden on a wide screen.
    assert not rows[0].find_element(By.XPATH, "following-sibling::tr[1]").is_displayed()
    # Never usage: the reconciliation and the month's spend are what they were.
    assert synced.api("reconciliation", since="30d")["unexplained_cost_nanos"] == BYPASS_NANOS
    assert account_card(admin).find_element(By.CSS_SELECTOR, '[data-testid="month-spend"]').text == "$42.00"

    # The downloads hold the same rows.
    for f in downloads.glob("tokenwatch-claude-code.*"):
        f.unlink()
    panel.find_element(By.CSS_SELECTOR, 'button[data-export="json"][data-name="claude-code"]').click()
    got = downloads / "tokenwatch-claude-code.json"
    until(admin, lambda d: got.is_file() and got.stat().st_size > 0)
    exported = json.loads(got.read_text())
    assert [(x["kind"], x["name"], x["customer_type"], x["sessions"], x["estimated_cost_usd"]) for x in exported] == [
        ("api_key", CC_KEY, "api", 2, key["estimated_cost_usd"]), ("user", CC_USER, "subscription", 7, user["estimated_cost_usd"])]
    panel.find_element(By.CSS_SELECTOR, 'button[data-export="csv"][data-name="claude-code"]').click()
    got = downloads / "tokenwatch-claude-code.csv"
    until(admin, lambda d: got.is_file() and got.stat().st_size > 0)
    assert got.read_text().splitlines()[0].startswith("actor,kind,name,customer_type,days_active,sessions,lines_added,lines_removed")
    admin.set_window_size(1366, 1400)
    admin.execute_script("arguments[0].scrollIntoView()", panel)
    panel.screenshot(str(SHOTS / "accounts-claude-code-desktop.png"))
    admin.set_window_size(1366, 900)
    assert_no_js_errors(admin)


def test_the_accounts_view_fits_a_phone(synced, admin):
    admin.set_window_size(390, 844)
    show(admin, f"{synced.url}/ui/accounts?tz=UTC", "accounts")
    until(admin, lambda d: css(d, '[data-testid="recon"]'))
    assert no_sideways_scroll(admin)
    c = account_card(admin)
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="month-spend"]').is_displayed()
    assert c.find_element(By.CSS_SELECTOR, 'button[data-act="sync"]').is_displayed()
    # The table keeps day, model and the money; the sentence stands on its own line.
    tr = admin.find_element(By.CSS_SELECTOR, 'tr[data-model="claude-sonnet-4-5"]')
    row_day = tr.get_attribute("data-day")
    visible = [td.text for td in tr.find_elements(By.TAG_NAME, "td") if td.is_displayed()]
    assert visible[:2] == [row_day[5:], "claude-sonnet-4-5\nanthropic"] and len(visible) == 5, visible
    line = tr.find_element(By.XPATH, "following-sibling::tr[1]")
    assert "sm-row" in line.get_attribute("class") and line.is_displayed()
    assert "…b7f2" in line.text and BYPASS_KEY_ID in line.text
    # Claude Code use keeps who (the plan under it), sessions, lines and the estimate (tokens
    # under it); days, commits, PRs and models take their own line.
    tr = admin.find_element(By.CSS_SELECTOR, f'tr[data-actor="user:{CC_USER}"]')
    visible = [td.text for td in tr.find_elements(By.TAG_NAME, "td") if td.is_displayed()]
    assert visible == [f"{CC_USER}\nsubscription", "7", "+1,234 −56", "$2.50\n1.1M tok"], visible
    line = tr.find_element(By.XPATH, "following-sibling::tr[1]")
    assert "sm-row" in line.get_attribute("class") and line.is_displayed()
    assert line.text == "1 day active · 3 commits · 1 PR · claude-sonnet-4-5", line.text
    # Collapsed rather than scrolled: the tables fit their boxes.
    for name in ("recon", "cc"):
        table = admin.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]')
        fits = admin.execute_script("return [arguments[0].scrollWidth, arguments[0].parentElement.clientWidth]", table)
        assert fits[0] <= fits[1] + 1, (name, fits)
    # The whole page at the phone's width: the window as tall as the page.
    admin.set_window_size(390, admin.execute_script("return document.documentElement.scrollHeight") + 100)
    assert no_sideways_scroll(admin)
    admin.save_screenshot(str(SHOTS / "accounts-phone.png"))
    assert_no_js_errors(admin)


def test_a_member_reads_the_accounts_without_buttons(synced, browser):
    try:
        signed_in(browser, synced, MEMBER, MEMBER_PW)
        show(browser, f"{synced.url}/ui/accounts?tz=UTC", "accounts")
        until(browser, lambda d: css(d, '[data-testid="recon"]'))
        c = account_card(browser)
        assert c.find_element(By.CSS_SELECTOR, '[data-testid="month-spend"]').text == "$42.00"
        assert not css(browser, "button[data-act]") and not css(browser, 'form[data-testid="account-add"]')
        assert css(browser, '[data-testid="recon-key"]')
        until(browser, lambda d: len(css(d, '[data-testid="cc"] tr[data-actor]')) == 2)
        assert_no_js_errors(browser)
    finally:
        browser.delete_all_cookies()


def test_an_unreadable_claude_code_report_is_said_and_the_usage_sync_stands(synced, admin):
    r = httpx.post(f"{synced.org}/__mock/org/fail", timeout=10,
                   json={"path_prefix": "/v1/organizations/usage_report/claude_code", "status": 503, "times": 1})
    assert r.status_code == 200, r.text
    show(admin, f"{synced.url}/ui/accounts?tz=UTC", "accounts")
    account_card(admin).find_element(By.CSS_SELECTOR, 'button[data-act="sync"]').click()
    outcome = lambda d: account_card(d).find_element(By.CSS_SELECTOR, '[data-testid="acct-outcome"]')
    until(admin, lambda d: "Claude Code report could not be read: " in outcome(d).text, timeout=60)
    assert outcome(admin).text.startswith("synced ") and "bad" in outcome(admin).get_attribute("class").split()
    assert account_card(admin).get_attribute("data-status") == "ok"
    # What the report said before is kept.
    until(admin, lambda d: len(css(d, '[data-testid="cc"] tr[data-actor]')) == 2)
    assert_no_js_errors(admin)


def test_a_failing_sync_marks_the_card_with_its_error(synced, admin):
    r = httpx.post(f"{synced.org}/__mock/org/fail", timeout=10,
                   json={"path_prefix": "/v1/organizations", "status": 503, "times": 1})
    assert r.status_code == 200, r.text
    show(admin, f"{synced.url}/ui/accounts?tz=UTC", "accounts")
    account_card(admin).find_element(By.CSS_SELECTOR, 'button[data-act="sync"]').click()
    until(admin, lambda d: account_card(d).get_attribute("data-status") == "failing", timeout=60)
    (a,) = synced.api("sync/accounts")["accounts"]
    assert a["status"] == "failing" and a["last_error"]
    c = account_card(admin)
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="acct-status"]').text == "failing"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="acct-error"]').text == \
        f"failing since {a['failing_since'][:19].replace('T', ' ')}: {a['last_error']}"
    outcome = c.find_element(By.CSS_SELECTOR, '[data-testid="acct-outcome"]')
    assert outcome.text.startswith("sync failed: ") and "bad" in outcome.get_attribute("class").split()
    # What it synced before still counts this month.
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="month-spend"]').text == "$42.00"
    assert_key_nowhere(admin)
    assert_no_js_errors(admin)


def test_remove_asks_first(synced, admin):
    """Runs last: the account is gone afterwards."""
    show(admin, f"{synced.url}/ui/accounts?tz=UTC", "accounts")
    account_card(admin).find_element(By.CSS_SELECTOR, 'button[data-act="remove"]').click()
    alert = WebDriverWait(admin, 5).until(EC.alert_is_present())
    assert alert.text.startswith("Remove the anthropic account main?")
    alert.dismiss()
    assert account_card(admin) is not None and len(synced.api("sync/accounts")["accounts"]) == 1
    account_card(admin).find_element(By.CSS_SELECTOR, 'button[data-act="remove"]').click()
    WebDriverWait(admin, 5).until(EC.alert_is_present()).accept()
    until(admin, lambda d: account_card(d) is None)
    assert synced.api("sync/accounts")["accounts"] == []
    assert css(admin, '[data-testid="no-accounts"]')
    assert_no_js_errors(admin)
