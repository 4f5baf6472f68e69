"""The advisor in the dashboard, in real Chromium against the real binary with `[auth] required`,
on traffic sent through the proxy to the mock: the Advice page ranks the recommendations with
their saving a month (a classifier's short answers on claude-opus-4-1: $1.08 a month over the
default 7 days), a member dismisses, snoozes and reopens one (writes with the CSRF token), a
viewer sees no button; prompt costs list a system prompt's `# AGENTS.md` component with its
summary, the history share and an agent filter; a derived session opens its timeline with its
turns, charts and health above the sessions list. Screenshots (desktop and 375 px) land in
test-out/screenshots/advice-*.png and session-timeline-*.png.

The server has its own database, so this traffic stays out of the shared fixture's totals."""

import json
import os
import time
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import BIN, SHOTS, _start
from test_dashboard import assert_no_js_errors
from test_teams import Server, css, sign_in, until, wait_for

MEMBER, MEMBER_PW = "member@example.com", "member password 1"
VIEWER, VIEWER_PW = "viewer@example.com", "viewer password 1"
# An agent name that would run a script if it were put in the page as markup.
XSS = '<img src=x onerror="window.__xss=1">'
SYSTEM = "You are a coding agent.\n\n# AGENTS.md\nRun the tests before every commit.\n## Style\nBe terse.\n"
# The conversation's turns: input tokens each (output 100), on claude-sonnet-4-5 at $3 and
# $15 a million: 7,500, 16,500 and 28,500 micro-USD.
TURN_INPUTS = (2000, 5000, 9000)
TURN_NANOS = (7_500_000, 16_500_000, 28_500_000)


def usd_nanos(nanos):
    """The dashboard's money format from nano-USD: cents, or up to nine decimals under a cent."""
    a, sign = abs(nanos), "-" if nanos < 0 else ""
    if a == 0:
        return "$0.00"
    if a < 10_000_000:
        return sign + "$" + f"{Decimal(a) / Decimal(10**9):.9f}".rstrip("0")
    cents = (Decimal(a) / Decimal(10**9)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return sign + "$" + f"{cents:,.2f}"


class Advised(Server):
    def api(self, path, **params):
        r = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10,
                      headers={"authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        return r.json()

    def send(self, agent, usage, body, tags=None):
        headers = {"x-api-key": "sk-ant-advisor", "x-tokenwatch-key": self.key, "anthropic-version": "2023-06-01",
                   "content-type": "application/json", "x-tokenwatch-agent": agent, "x-mock-usage": usage}
        if tags:
            headers["x-tokenwatch-tags"] = tags
        r = httpx.post(f"{self.url}/anthropic/v1/messages", headers=headers, json=body, timeout=30)
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def advised(mock_url, tmp_path_factory, browser):
    d = tmp_path_factory.mktemp("advisor")
    db = d / "advisor.db"
    env = dict(os.environ, TOKENWATCH_AUTH__REQUIRED="true",
               TOKENWATCH_RECORDING__SPILL_PATH=str(d / "spill.jsonl"))
    for name in ("ANTHROPIC", "OPENAI", "GEMINI"):
        env[f"TOKENWATCH_PROVIDERS__{name}__BASE_URL"] = mock_url
    with open(d / "stderr.log", "w") as err:
        proc, url = _start([str(BIN), "serve", "--listen", "127.0.0.1:0", "--db", str(db)], env=env, stderr=err)
    s = Advised(url, db, env)
    s.cli("user", "add", MEMBER, "--tenant", "default", "--role", "member", stdin=MEMBER_PW + "\n")
    s.cli("user", "add", VIEWER, "--tenant", "default", "--role", "viewer", stdin=VIEWER_PW + "\n")
    s.token = json.loads(s.cli("token", "create", "--tenant", "default", "--role", "admin", "--json"))["token"]
    s.key = json.loads(s.cli("key", "create", "--tenant", "default", "--name", "advisor", "--json"))["key"]
    # Twelve short answers on claude-opus-4-1: a model switch to claude-haiku-4-5.
    for i in range(12):
        s.send("classifier", "input=1000,output=100",
               {"model": "claude-opus-4-1", "max_tokens": 64, "messages": [{"role": "user", "content": f"classify ticket {i}"}]})
    # One conversation whose history grows: same first message, 3 turns, one derived session.
    messages = [{"role": "user", "content": "fix the failing build"}]
    for n, tokens in enumerate(TURN_INPUTS):
        s.send("coder", f"input={tokens},output=100",
               {"model": "claude-sonnet-4-5", "max_tokens": 256, "system": SYSTEM, "messages": messages}, tags="suite=advisor")
        messages = messages + [{"role": "assistant", "content": f"step {n} done"}, {"role": "user", "content": f"now step {n + 1}"}]
    s.next_turn = {"model": "claude-sonnet-4-5", "max_tokens": 256, "system": SYSTEM, "messages": messages}
    s.send(XSS, "input=500,output=50",
           {"model": "claude-sonnet-4-5", "max_tokens": 64, "system": SYSTEM, "messages": [{"role": "user", "content": "hello"}]})
    deadline = time.time() + 15
    while len(s.api("events", limit=100)["events"]) < 16:
        assert time.time() < deadline, "the proxied calls were not recorded"
        time.sleep(0.1)
    (s.session,) = {e["session_id"] for e in s.api("events", tag="suite=advisor")["events"]}
    yield s
    # Leave this server's pages before it stops, and drop what they logged, so a page still
    # polling it leaves no failed load for the next module's error check.
    browser.get("about:blank")
    browser.get_log("browser")
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def member(advised, browser):
    browser.delete_all_cookies()
    sign_in(browser, advised.url, MEMBER, MEMBER_PW)
    until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "overview")
    yield browser
    browser.delete_all_cookies()
    browser.set_window_size(1366, 900)


def show(browser, url, view, allow=()):
    browser.get(url)
    until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == view)
    assert_no_js_errors(browser, allow)


def model_switch(advised, **params):
    (rec,) = [r for r in advised.api("recommendations", **params)["recommendations"]
              if r["kind"] == "model_switch" and r["agent"] == "classifier"]
    return rec


def card(browser, rec_id):
    found = css(browser, f'article.rec[data-rec="{rec_id}"]')
    return found[0] if found else None


def no_sideways_scroll(browser):
    return browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def test_advice_ranks_the_model_switch_with_its_saving_a_month(advised, member):
    rec = model_switch(advised)
    # 12 turns × (22,500 − 1,500) micro-USD, over the default 7 days, times 30.
    assert rec["savings_nanos_per_month"] == 12 * 21_000_000 * 30 // 7 == 1_080_000_000
    api = advised.api("recommendations")
    show(member, f"{advised.url}/ui/advice?tz=UTC", "advice")
    assert member.find_element(By.CSS_SELECTOR, '#nav a[data-view="advice"]').get_attribute("class") == "active"
    c = card(member, rec["id"])
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="rec-saving"]').text == "$1.08"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="rec-title"]').text == \
        "Move classifier's short answers from claude-opus-4-1 to claude-haiku-4-5"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="rec-evidence"]').text == rec["evidence"]
    assert "MODEL SWITCH" in c.text and "agent classifier · 12 events" in c.text
    assert f"{rec['since'][:10]} → {rec['until'][:10]}" in c.text
    assert [b.text for b in c.find_elements(By.CSS_SELECTOR, "button[data-act]")] == ["dismiss", "snooze 7 days"]
    # Every open one, largest saving first, under their total.
    ids = [a.get_attribute("data-rec") for a in css(member, "article.rec")]
    want = sorted(api["recommendations"], key=lambda r: -r["savings_nanos_per_month"])
    assert ids == [r["id"] for r in want]
    assert [s.text for s in css(member, '[data-testid="rec-saving"]')] == [usd_nanos(r["savings_nanos_per_month"]) for r in want]
    total = member.find_element(By.CSS_SELECTOR, '[data-testid="open-savings"]').text
    assert total == usd_nanos(api["open_savings_nanos_per_month"])
    assert api["open_savings_nanos_per_month"] == sum(r["savings_nanos_per_month"] for r in api["recommendations"])
    member.save_screenshot(str(SHOTS / "advice-desktop.png"))
    member.set_window_size(375, 812)
    show(member, f"{advised.url}/ui/advice?tz=UTC", "advice")
    assert no_sideways_scroll(member)
    assert card(member, rec["id"]).find_element(By.CSS_SELECTOR, '[data-testid="rec-saving"]').is_displayed()
    member.save_screenshot(str(SHOTS / "advice-phone.png"))


def test_dismiss_and_snooze_hide_it_and_the_toggle_shows_it_with_reopen(advised, member):
    rec = model_switch(advised)
    before = advised.api("recommendations")["open_savings_nanos_per_month"]
    show(member, f"{advised.url}/ui/advice?tz=UTC", "advice")
    card(member, rec["id"]).find_element(By.CSS_SELECTOR, 'button[data-act="dismiss"]').click()
    until(member, lambda d: card(d, rec["id"]) is None)
    assert model_switch(advised, all="true")["status"] == "dismissed"
    total = member.find_element(By.CSS_SELECTOR, '[data-testid="open-savings"]').text
    assert total == usd_nanos(before - 1_080_000_000)
    # Shown again, marked, with Reopen only; the toggle is in the URL.
    member.find_element(By.CSS_SELECTOR, '[data-testid="show-closed"]').click()
    until(member, lambda d: card(d, rec["id"]) is not None)
    assert "closed=1" in member.current_url
    c = card(member, rec["id"])
    assert c.get_attribute("data-status") == "dismissed"
    assert c.find_element(By.CSS_SELECTOR, '[data-testid="rec-status"]').text == "dismissed"
    assert [b.text for b in c.find_elements(By.CSS_SELECTOR, "button[data-act]")] == ["reopen"]
    c.find_element(By.CSS_SELECTOR, 'button[data-act="reopen"]').click()
    until(member, lambda d: card(d, rec["id"]).get_attribute("data-status") == "open")
    assert model_switch(advised)["status"] == "open"
    assert member.find_element(By.CSS_SELECTOR, '[data-testid="open-savings"]').text == usd_nanos(before)

    # Snoozed for 7 days: out of the open list, shown with its end under the toggle.
    member.find_element(By.CSS_SELECTOR, '[data-testid="show-closed"]').click()
    until(member, lambda d: "closed=1" not in d.current_url)
    card(member, rec["id"]).find_element(By.CSS_SELECTOR, 'button[data-act="snooze"]').click()
    until(member, lambda d: card(d, rec["id"]) is None)
    snoozed = model_switch(advised, all="true")
    assert snoozed["status"] == "snoozed"
    member.find_element(By.CSS_SELECTOR, '[data-testid="show-closed"]').click()
    until(member, lambda d: card(d, rec["id"]) is not None)
    status = card(member, rec["id"]).find_element(By.CSS_SELECTOR, '[data-testid="rec-status"]').text
    assert status == "snoozed until " + snoozed["snoozed_until"][:16].replace("T", " ")
    card(member, rec["id"]).find_element(By.CSS_SELECTOR, 'button[data-act="reopen"]').click()
    until(member, lambda d: card(d, rec["id"]).get_attribute("data-status") == "open")
    assert model_switch(advised)["status"] == "open"
    assert_no_js_errors(member)


def test_a_viewer_reads_the_advice_without_buttons(advised, browser):
    browser.delete_all_cookies()
    try:
        sign_in(browser, advised.url, VIEWER, VIEWER_PW)
        until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "overview")
        show(browser, f"{advised.url}/ui/advice?tz=UTC&closed=1", "advice")
        rec = model_switch(advised)
        assert card(browser, rec["id"]).find_element(By.CSS_SELECTOR, '[data-testid="rec-saving"]').text == "$1.08"
        assert css(browser, "article.rec") and not css(browser, "button[data-act]")
    finally:
        browser.delete_all_cookies()


def test_prompt_costs_list_components_with_the_history_share_and_an_agent_filter(advised, member):
    every = advised.api("prompt-costs", since="7d")
    coder = advised.api("prompt-costs", since="7d", agent="coder")
    (agents_md,) = [p for p in coder["parts"] if p["name"] == "AGENTS.md"]
    assert (agents_md["kind"], agents_md["turns"], agents_md["versions"]) == ("system", 3, 1)
    show(member, f"{advised.url}/ui/advice?tz=UTC", "advice")
    table = wait_for(member, '[data-testid="parts"]')
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [(r.get_attribute("data-agent"), r.get_attribute("data-part")) for r in rows] == \
        [(p["agent"], p["name"]) for p in every["parts"]]
    row = table.find_element(By.CSS_SELECTOR, 'tr[data-agent="coder"][data-part="AGENTS.md"]')
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[:6] == ["AGENTS.md", "coder", "system part", "3", f"{agents_md['avg_chars']:,}", "1"]
    assert cells[6] == usd_nanos(agents_md["cost_nanos"])
    assert cells[8] == usd_nanos(agents_md["cost_per_day_nanos"])
    assert cells[9] == agents_md["summary"] and cells[9].startswith("costs $")
    share = member.find_element(By.CSS_SELECTOR, '[data-testid="history-share"]')
    assert share.text == f"{every['history_share_pct']:.1f}%"
    # Names are text, never markup.
    assert member.execute_script("return window.__xss") is None
    xss = table.find_elements(By.CSS_SELECTOR, "tbody tr td:nth-child(2)")
    assert XSS in [td.text for td in xss]
    assert not table.find_elements(By.TAG_NAME, "img")

    Select(member.find_element(By.CSS_SELECTOR, '[data-testid="prompt-costs"] select[name="agent"]')).select_by_value("coder")
    until(member, lambda d: {r.get_attribute("data-agent") for r in css(d, '[data-testid="parts"] tbody tr')} == {"coder"})
    assert "agent=coder" in member.current_url
    assert len(css(member, '[data-testid="parts"] tbody tr')) == len(coder["parts"])
    share = member.find_element(By.CSS_SELECTOR, '[data-testid="history-share"]').text
    assert share == f"{coder['history_share_pct']:.1f}%"
    assert member.find_element(By.CSS_SELECTOR, '[data-testid="input-cost"]').text == usd_nanos(coder["input_cost_nanos"])
    assert_no_js_errors(member)


def test_a_session_opens_its_timeline_with_turns_charts_and_health(advised, member):
    sid = advised.session
    assert sid.startswith("auto-")
    t = advised.api(f"sessions/{sid}/timeline")
    assert [x["cost_nanos"] for x in t["turns"]] == list(TURN_NANOS)
    show(member, f"{advised.url}/ui/sessions?range=24h&tz=UTC", "sessions")
    row = member.find_element(By.CSS_SELECTOR, f'tr[data-session="{sid}"]')
    # A live session's badge in the list is the API's, with its reason under it.
    (listed,) = [x for x in advised.api("sessions", since="24h")["sessions"] if x["session"] == sid]
    assert listed["health"] == t["health"]
    badges = row.find_elements(By.CSS_SELECTOR, 'td:nth-child(2) [data-testid="health-badge"]')
    assert [(b.get_attribute("data-state"), b.get_attribute("title"), b.text) for b in badges] == \
        [(t["health"]["state"], t["health"]["reason"], t["health"]["state"].replace("_", " "))]
    assert row.find_element(By.CSS_SELECTOR, "td:nth-child(2) .why").text == t["health"]["reason"]
    row.find_elements(By.TAG_NAME, "td")[-1].click()
    until(member, lambda d: css(d, '[data-testid="timeline"] [data-testid="turns"]'))
    url = urlparse(member.current_url)
    assert url.path == "/ui/sessions" and parse_qs(url.query) == {"range": ["24h"], "tz": ["UTC"], "session": [sid]}
    # Above the list, which stays.
    assert css(member, f'tr[data-session="{sid}"]')

    heading = member.find_element(By.CSS_SELECTOR, '[data-testid="timeline"] h2').text
    assert heading.endswith(f" · 3 TURNS · {usd_nanos(sum(TURN_NANOS))}") and sid in heading, heading
    health = member.find_element(By.CSS_SELECTOR, '[data-testid="health-banner"]')
    badge = health.find_element(By.CSS_SELECTOR, '[data-testid="health-badge"]')
    assert badge.get_attribute("data-state") == t["health"]["state"]
    assert badge.text == t["health"]["state"].replace("_", " ")
    assert health.find_element(By.CSS_SELECTOR, '[data-testid="health-reason"]').text == t["health"]["reason"]
    rows = css(member, '[data-testid="turns"] tbody tr')
    assert [r.get_attribute("data-event") for r in rows] == [x["event_id"] for x in t["turns"]]
    cumulative = [sum(TURN_NANOS[: i + 1]) for i in range(3)]
    for r, nanos, total, x in zip(rows, TURN_NANOS, cumulative, t["turns"]):
        cells = [td.text for td in r.find_elements(By.TAG_NAME, "td")]
        assert cells[2] == "claude-sonnet-4-5"
        assert cells[3] == f"{x['context_tokens']:,} · {x['context_pct']:.1f}%"
        assert cells[4] == "0.0%" and cells[7] == "end_turn" and cells[8] == "—"
        assert cells[-2:] == [usd_nanos(nanos), usd_nanos(total)]
    # Context per turn (2,000, 5,000 and 9,000 of 200,000 tokens) against the 40/60/80% lines.
    chart = member.find_element(By.CSS_SELECTOR, '[data-testid="chart-context"] svg')
    labels = [x.get_attribute("textContent") for x in chart.find_elements(By.TAG_NAME, "text")]
    assert {"40% monitor", "60% compact", "80% reset"} <= set(labels)
    titles = [x.get_attribute("textContent") for x in chart.find_elements(By.TAG_NAME, "title")]
    assert [x for x in titles if "context" in x] == [
        f"turn {i} · claude-sonnet-4-5 · context % of window: {p}" for i, p in ((1, "1%"), (2, "2.5%"), (3, "4.5%"))]
    assert len(member.find_elements(By.CSS_SELECTOR, '[data-testid="chart-cost"] svg rect')) == 3
    assert len(member.find_elements(By.CSS_SELECTOR, '[data-testid="chart-cumulative"] svg circle')) == 3
    member.save_screenshot(str(SHOTS / "session-timeline-desktop.png"))

    member.set_window_size(375, 812)
    # A path to the session lands on the same page.
    show(member, f"{advised.url}/ui/sessions/{sid}?range=24h&tz=UTC", "sessions")
    url = urlparse(member.current_url)
    assert url.path == "/ui/sessions" and parse_qs(url.query)["session"] == [sid]
    assert len(css(member, '[data-testid="turns"] tbody tr')) == 3
    assert no_sideways_scroll(member)
    last = css(member, '[data-testid="turns"] tbody tr')[-1].find_elements(By.TAG_NAME, "td")
    assert last[-1].is_displayed() and last[-1].text == usd_nanos(sum(TURN_NANOS))
    member.save_screenshot(str(SHOTS / "session-timeline-phone.png"))
    member.find_element(By.CSS_SELECTOR, '[data-testid="close-session"]').click()
    until(member, lambda d: not d.find_element(By.ID, "timeline").is_displayed())
    assert "session" not in parse_qs(urlparse(member.current_url).query)
    assert_no_js_errors(member)


def test_an_unknown_session_says_so(advised, member):
    show(member, f"{advised.url}/ui/sessions?range=24h&tz=UTC&session=no-such-session", "sessions", allow=("404",))
    err = member.find_element(By.CSS_SELECTOR, "#timeline .err").text
    assert err == "could not load: not found: session 'no-such-session'"
    assert member.find_element(By.CSS_SELECTOR, '[data-testid="close-session"]').is_displayed()
    assert css(member, f'tr[data-session="{advised.session}"]')


def test_the_guard_blocks_a_session_and_pauses_its_agent_from_the_dashboard(advised, member):
    """Runs last: the refused turns it sends are recorded in the session."""
    sid = advised.session
    headers = {"x-api-key": "sk-ant-advisor", "x-tokenwatch-key": advised.key, "anthropic-version": "2023-06-01",
               "content-type": "application/json", "x-tokenwatch-agent": "coder", "x-mock-usage": "input=100,output=10"}

    def next_turn():
        return httpx.post(f"{advised.url}/anthropic/v1/messages", headers=headers, json=advised.next_turn, timeout=30)

    show(member, f"{advised.url}/ui/sessions?range=24h&tz=UTC&session={sid}", "sessions")
    until(member, lambda d: css(d, '[data-testid="block-session"]'))
    member.find_element(By.CSS_SELECTOR, '[data-testid="block-session"]').click()
    until(member, lambda d: css(d, '[data-testid="unblock-session"]'))
    state = member.find_element(By.CSS_SELECTOR, '[data-testid="guard-state"]').text
    assert state == "this session is blocked: its next turns are refused"
    assert [(c["kind"], c["subject"], c["reason"]) for c in advised.api("guard")["controls"]] == \
        [("session", sid, "stopped from the dashboard")]
    # The session's next turn is refused before the upstream, in Anthropic's error shape.
    r = next_turn()
    assert r.status_code == 403, r.text
    assert r.json()["error"]["type"] == "permission_error"
    assert f"session '{sid}' is blocked (stopped from the dashboard)" in r.json()["error"]["message"]
    member.save_screenshot(str(SHOTS / "session-guard-desktop.png"))

    # The Advice page lists what is stopped; unblocking there lets the session go on.
    show(member, f"{advised.url}/ui/advice", "advice")
    until(member, lambda d: css(d, '[data-testid="guard-panel"]'))
    (item,) = css(member, '[data-testid="stopped"]')
    assert item.get_attribute("data-kind") == "session" and sid in item.text
    item.find_element(By.CSS_SELECTOR, "button[data-lift]").click()
    until(member, lambda d: not css(d, '[data-testid="guard-panel"]'))
    assert advised.api("guard")["controls"] == []

    # Pausing the agent from the timeline refuses any of its requests; resuming lifts it.
    show(member, f"{advised.url}/ui/sessions?range=24h&tz=UTC&session={sid}", "sessions")
    until(member, lambda d: css(d, '[data-testid="pause-agent"]'))
    assert member.find_element(By.CSS_SELECTOR, '[data-testid="pause-agent"]').text == "pause agent coder"
    member.find_element(By.CSS_SELECTOR, '[data-testid="pause-agent"]').click()
    until(member, lambda d: css(d, '[data-testid="resume-agent"]'))
    r = next_turn()
    assert r.status_code == 403 and "agent 'coder' is paused" in r.json()["error"]["message"], r.text
    member.set_window_size(375, 812)
    assert no_sideways_scroll(member)
    member.save_screenshot(str(SHOTS / "session-guard-phone.png"))
    member.find_element(By.CSS_SELECTOR, '[data-testid="resume-agent"]').click()
    until(member, lambda d: css(d, '[data-testid="pause-agent"]'))
    assert advised.api("guard")["controls"] == []
    refused = [e for e in advised.api("events", session=sid, limit=100)["events"] if e["status"] == "refused"]
    assert sorted(e["error_type"] for e in refused) == ["agent_paused", "session_blocked"]
    assert_no_js_errors(member)
