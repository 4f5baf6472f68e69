"""What a new user hits first, in real Chromium against the real binary: on a 375 px phone the
numbers of the sessions table stay on screen and alert text wraps between words; one forecast
method behind every projection, explained; budget names in full and an exhausted budget
marked; time axes that say the year; a heatmap sized to its panel; model names in full; a
session shown from its first column with its id as stored; distinct tag colours; every bad
form field named next to the field; session costs summed exactly.

A server of its own (own database, seeded below) keeps these rows out of the shared fixture's
totals."""

import csv
import datetime as dt
import os
import re
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest
from selenium.webdriver.common.by import By

from conftest import BIN, SHOTS, _start, wait
from test_dashboard import assert_no_js_errors, open_view, usd
from test_settings import fire_budget_alert

# A Claude Code–style session id: long and lower-case.
LONG_SESSION = "0f3c9a2e-7b41-4d8e-a5c6-19e2b7d4f08a"
# Ten turns of 0.4 micro-USD: each rounds to $0, together they are 4 micro-USD.
NANO_TURNS, NANO_COST = 10, "0.000000400"
LONG_MODEL = "claude-sonnet-4-5-20250929-extended-thinking-preview"
CLIENTS = [f"client=c{i}" for i in range(14)]


class Fresh:
    def __init__(self, url, rows):
        self.url, self.rows = url, rows

    def api(self, path, **params):
        r = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        r.raise_for_status()
        return r.json()


def fresh_rows(now):
    rows = []
    stamp = lambda minutes: (now - dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    for i in range(NANO_TURNS):
        rows.append({"ts": stamp(10 + i * 7), "provider": "anthropic", "model": "claude-sonnet-4-5",
                     "project": "agent", "session_id": LONG_SESSION, "input_tokens": 1200 + i,
                     "output_tokens": 300, "cache_read_tokens": 0, "cost_usd": NANO_COST, "tags": ""})
    for i, tag in enumerate(CLIENTS):
        rows.append({"ts": stamp(120 + i * 40), "provider": "openai", "model": "gpt-4o", "project": "web",
                     "session_id": f"web-{i % 3}", "input_tokens": 5000, "output_tokens": 800,
                     "cache_read_tokens": 20000, "cost_usd": "0.250000", "tags": tag})
    rows.append({"ts": stamp(30), "provider": "anthropic", "model": LONG_MODEL, "project": "web",
                 "session_id": "web-0", "input_tokens": 900, "output_tokens": 100,
                 "cache_read_tokens": 120000, "cost_usd": "0.120000", "tags": ""})
    return rows


@pytest.fixture(scope="module")
def fresh(mock_url, tmp_path_factory):
    d = tmp_path_factory.mktemp("fresh")
    rows = fresh_rows(dt.datetime.now(dt.timezone.utc))
    seed = d / "seed.csv"
    with open(seed, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    db = d / "fresh.db"
    import subprocess
    subprocess.run([str(BIN), "import", "csv", str(seed), "--db", str(db)], check=True,
                   capture_output=True, timeout=60)
    env = dict(os.environ, TOKENWATCH_RECORDING__SPILL_PATH=str(d / "spill.jsonl"))
    for name in ("ANTHROPIC", "OPENAI", "GEMINI"):
        env[f"TOKENWATCH_PROVIDERS__{name}__BASE_URL"] = mock_url
    proc, url = _start([str(BIN), "serve", "--listen", "127.0.0.1:0", "--db", str(db)], env=env)
    yield Fresh(url, rows)
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def phone(browser):
    browser.set_window_size(375, 812)
    yield browser
    browser.set_window_size(1366, 900)


def rect(browser, el):
    return browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right];", el)


def split_words(browser, el):
    """Words of `el`'s text that the layout broke across two lines although they fit on one line
    of its box (a word wider than the box has to break). A hyphen ends a word: a line may break
    after it."""
    return browser.execute_script("""
        const el = arguments[0], box = el.closest("td") || el, cs = getComputedStyle(box);
        const room = box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
        const probe = document.createElement("span");
        probe.style.whiteSpace = "nowrap";
        el.appendChild(probe);
        const out = [], walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        const texts = [];
        for (let n = walker.nextNode(); n; n = walker.nextNode()) texts.push(n);
        for (const n of texts) {
            for (const m of n.data.matchAll(/[^\\s-]+-?/g)) {
                const r = document.createRange();
                r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
                const lines = new Set([...r.getClientRects()].map((x) => Math.round(x.top)));
                probe.textContent = m[0];
                if (lines.size > 1 && probe.getBoundingClientRect().width <= room) out.push(m[0]);
            }
        }
        probe.remove();
        return out;""", el)


def test_phone_sessions_table_keeps_tokens_and_cost_on_screen(fresh, phone):
    open_view(phone, f"{fresh.url}/ui/sessions?range=7d&tz=UTC&theme=dark", "sessions")
    width = phone.execute_script("return window.innerWidth")
    row = phone.find_element(By.CSS_SELECTOR, f'tr[data-session="{LONG_SESSION}"]')
    box = row.find_element(By.XPATH, "ancestor::div[contains(@class, 'scroll')]")
    assert phone.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", box), \
        "the sessions table needs sideways scrolling on a phone"
    heads = [th.text for th in box.find_elements(By.CSS_SELECTOR, "thead th")]
    for column in ("tokens", "cost"):
        cell = row.find_elements(By.TAG_NAME, "td")[heads.index(column)]
        assert cell.is_displayed()
        left, right = rect(phone, cell)
        assert 0 <= left and right <= width, (column, left, right, width)
    assert LONG_SESSION in row.text.replace("\n", "")
    phone.save_screenshot(str(SHOTS / "phone-dark-sessions-long-id.png"))


def test_phone_alert_text_wraps_between_words(fresh, phone):
    fire_budget_alert(fresh, "a-budget-with-a-rather-descriptive-name", "suite=wrap")
    open_view(phone, f"{fresh.url}/ui/settings?range=7d&tz=UTC&theme=light", "settings")
    messages = "//tr[@data-alert]/td[contains(., 'reached 50%')]"
    wait(phone, 10).until(lambda d: d.find_elements(By.XPATH, messages))
    width = phone.execute_script("return window.innerWidth")
    for msg in phone.find_elements(By.XPATH, messages):
        assert msg.is_displayed()
        assert "reached 50%" in msg.text
        assert split_words(phone, msg) == [], msg.text
        left, right = rect(phone, msg)
        assert 0 <= left and right <= width, (left, right, width)
    panel = phone.find_element(By.CSS_SELECTOR, '[data-testid="alerts-panel"]')
    phone.execute_script("arguments[0].scrollIntoView()", panel)
    phone.save_screenshot(str(SHOTS / "phone-light-alerts.png"))


def dollars(text):
    return Decimal(re.search(r"\$([\d,]+\.\d+)", text).group(1).replace(",", ""))


def test_one_forecast_method_explained_and_budgets_named_in_full(fresh, browser):
    for body in ({"name": "everything-month", "scope": "global", "period": "month", "limit_usd": "1000",
                  "tz": "UTC", "hard": False},
                 # Rolling over the seed's whole 20 days: exhausted whatever the time of day (a
                 # calendar day just begun may hold no spend yet).
                 {"name": "opus-day-for-the-research-team", "scope": "project:web", "period": "rolling:30d",
                  "limit_usd": "1", "tz": "UTC", "hard": True}):
        r = httpx.post(f"{fresh.url}/api/v1/budgets", json=body, timeout=10)
        assert r.status_code in (200, 201), r.text
    summary = fresh.api("analytics/summary", since="30d", tz="UTC")
    budgets = {b["name"]: b for b in fresh.api("budgets")["budgets"]}
    month = budgets["everything-month"]["status"]
    # The same method: month to date plus the 7-day average rate for the rest of the month. The
    # two answers are read a moment apart, so they may differ by that moment's spend.
    want, got = summary["month"]["projected_cost_nanos"], month["forecast"]["projected_nanos"]
    assert abs(want - got) <= want / 1000, (want, got)
    assert month["forecast"]["window_days"] == summary["burn_rate"]["window_days"] == 7

    for size, shot in (((1366, 900), "desktop-dark-overview-budgets.png"), ((375, 812), "phone-dark-overview-budgets.png")):
        browser.set_window_size(*size)
        try:
            open_view(browser, f"{fresh.url}/ui/overview?range=30d&tz=UTC&theme=dark", "overview")
            projection = browser.find_element(By.CSS_SELECTOR, '[data-testid="projection"]')
            info = browser.find_element(By.CSS_SELECTOR, '[data-testid="forecast-info"]')
            assert "last 7 days" in info.get_attribute("title") and "same method" in info.get_attribute("title")
            assert projection.get_attribute("title") == info.get_attribute("title")
            info.click()  # on a phone there is no hover: a tap shows the same words
            assert "last 7 days" in info.find_element(By.XPATH, "..").text
            line = browser.find_element(By.CSS_SELECTOR, '[data-budget="everything-month"] [data-testid="budget-forecast"]')
            assert line.get_attribute("title") == info.get_attribute("title")
            assert abs(dollars(line.text) - dollars(projection.text)) <= Decimal("0.01"), (line.text, projection.text)

            # Names in full, never cut; the exhausted hard budget says so, the other does not.
            for name in budgets:
                label = browser.find_element(By.CSS_SELECTOR, f'[data-budget="{name}"] .name')
                assert name in label.text.replace("\n", "")
                assert browser.execute_script(
                    "return arguments[0].scrollWidth <= arguments[0].clientWidth", label), (name, size)
            hard = browser.find_element(By.CSS_SELECTOR, '[data-budget="opus-day-for-the-research-team"]')
            assert "(hard)" in hard.text
            flag = hard.find_element(By.CSS_SELECTOR, '[data-testid="budget-exhausted"]')
            assert flag.is_displayed() and "EXHAUSTED" in flag.text
            assert not browser.find_elements(By.CSS_SELECTOR, '[data-budget="everything-month"] [data-testid="budget-exhausted"]')
            panel = browser.find_element(By.CSS_SELECTOR, '[data-testid="budgets"]')
            browser.execute_script("arguments[0].scrollIntoView()", panel)
            browser.save_screenshot(str(SHOTS / shot))
            assert_no_js_errors(browser)
        finally:
            browser.set_window_size(1366, 900)


def axis_labels(browser):
    chart = browser.find_element(By.CSS_SELECTOR, ".chart svg")
    return [t.text for t in chart.find_elements(By.CSS_SELECTOR, "text") if re.search(r"\d\d-\d\d", t.text)]


def test_time_axes_say_the_year_when_it_matters(fresh, browser):
    year = dt.date.today().year
    # Across New Year, by day: both years are on the axis.
    open_view(browser, f"{fresh.url}/ui/analytics?range=custom&from={year - 1}-12-20&to={year}-01-10&tz=UTC&bucket=day&by=none", "analytics")
    labels = axis_labels(browser)
    assert any(l.startswith(f"{year - 1}-12") for l in labels), labels
    assert any(l.startswith(f"{year}-01") for l in labels), labels
    browser.save_screenshot(str(SHOTS / "desktop-dark-analytics-new-year.png"))
    # Most of one year, by week: long enough to say it.
    open_view(browser, f"{fresh.url}/ui/analytics?range=custom&from={year}-01-05&to={year}-11-30&tz=UTC&bucket=week&by=none", "analytics")
    labels = axis_labels(browser)
    assert labels and all(l.startswith(str(year)) for l in labels), labels
    # A short range within one year keeps the short labels.
    open_view(browser, f"{fresh.url}/ui/analytics?range=custom&from={year}-06-01&to={year}-06-14&tz=UTC&bucket=day&by=none", "analytics")
    labels = axis_labels(browser)
    assert labels and not any(l.startswith(str(year)) for l in labels), labels


def test_heatmap_fills_its_panel(fresh, browser):
    open_view(browser, f"{fresh.url}/ui/analytics?range=30d&tz=UTC", "analytics")
    heat = browser.find_element(By.CSS_SELECTOR, ".heat")
    panel = heat.find_element(By.XPATH, "ancestor::div[contains(@class, 'panel')]")
    cells = heat.find_elements(By.CSS_SELECTOR, "[title]")
    assert len(cells) == 7 * 24
    sizes = browser.execute_script(
        "return arguments[0].map((c) => { const r = c.getBoundingClientRect(); return [r.width, r.height]; })", cells)
    panel_width = browser.execute_script("return arguments[0].clientWidth", panel)
    heat_width = browser.execute_script("return arguments[0].getBoundingClientRect().width", heat)
    assert heat_width >= 0.9 * (panel_width - 24), (heat_width, panel_width)
    assert min(w for w, _ in sizes) >= 24 and min(h for _, h in sizes) >= 24, sizes[:3]
    assert "requests" in cells[0].get_attribute("title")
    browser.execute_script("arguments[0].scrollIntoView()", panel)
    browser.save_screenshot(str(SHOTS / "desktop-dark-heatmap.png"))
    # On a phone it still fits its panel, every hour in view.
    browser.set_window_size(375, 812)
    try:
        open_view(browser, f"{fresh.url}/ui/analytics?range=30d&tz=UTC&theme=light", "analytics")
        heat = browser.find_element(By.CSS_SELECTOR, ".heat")
        panel = heat.find_element(By.XPATH, "ancestor::div[contains(@class, 'panel')]")
        assert rect(browser, heat)[1] <= rect(browser, panel)[1]
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        browser.execute_script("arguments[0].scrollIntoView()", panel)
        browser.save_screenshot(str(SHOTS / "phone-light-heatmap.png"))
    finally:
        browser.set_window_size(1366, 900)


@pytest.mark.parametrize("size", [(1366, 900), (375, 812)])
def test_cache_table_shows_model_names_in_full(fresh, browser, size):
    browser.set_window_size(*size)
    try:
        open_view(browser, f"{fresh.url}/ui/analytics?range=30d&tz=UTC&theme=light", "analytics")
        cells = browser.find_elements(
            By.XPATH, "//div[contains(@class, 'panel')][h2[contains(., 'prompt cache')]]//tbody/tr/td[1]")
        assert {c.text.replace("\n", "") for c in cells} >= {LONG_MODEL, "gpt-4o"}
        for c in cells:
            assert c.text.replace("\n", "") in (c.get_attribute("title") or "")
            box = c.find_element(By.XPATH, "ancestor::div[contains(@class, 'scroll')]")
            assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", box), \
                "the cache table needs sideways scrolling"
            assert rect(browser, c)[1] <= rect(browser, box)[1]
        browser.execute_script("arguments[0].scrollIntoView()", cells[0])
        browser.save_screenshot(str(SHOTS / f"{'phone' if size[0] < 600 else 'desktop'}-light-cache.png"))
    finally:
        browser.set_window_size(1366, 900)


def test_a_session_opens_at_its_first_column_with_its_id_as_stored(fresh, phone):
    open_view(phone, f"{fresh.url}/ui/sessions?range=7d&tz=UTC&theme=dark", "sessions")
    # Whatever a table was scrolled to, opening a session shows it from the left.
    phone.execute_script("document.querySelectorAll('#view .scroll').forEach((b) => { b.scrollLeft = 9999; })")
    phone.find_element(By.CSS_SELECTOR, f'tr[data-session="{LONG_SESSION}"]').click()
    shown = wait(phone, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="timeline"] h2'))
    assert LONG_SESSION in shown.text.replace("\n", "")  # not upper-cased by the heading style
    lefts = phone.execute_script("return [...document.querySelectorAll('#view .scroll')].map((b) => b.scrollLeft)")
    assert lefts and all(x == 0 for x in lefts), lefts
    assert phone.execute_script("return arguments[0].getBoundingClientRect().top >= 0", shown)
    assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    phone.save_screenshot(str(SHOTS / "phone-dark-session.png"))


def test_session_cost_is_the_exact_sum_rounded_once(fresh, browser):
    exact = sum(Decimal(r["cost_usd"]) for r in fresh.rows if r["session_id"] == LONG_SESSION)
    micros = int((exact * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert micros == 4  # while every turn alone rounds to 0
    open_view(browser, f"{fresh.url}/ui/sessions?range=7d&tz=UTC&session={LONG_SESSION}", "sessions")
    heading = wait(browser, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="timeline"] h2'))
    assert heading.text.endswith(" · " + usd(micros)) and usd(micros) == "$0.000004", heading.text
    last = browser.find_elements(By.CSS_SELECTOR, '[data-testid="timeline"] tbody tr')[-1]
    assert last.find_elements(By.TAG_NAME, "td")[-1].text == usd(micros)
    cells = browser.find_elements(By.CSS_SELECTOR, f'tr[data-session="{LONG_SESSION}"] td')
    assert usd(micros) in [c.text for c in cells]


def test_tags_shown_together_have_distinct_colours(fresh, browser):
    open_view(browser, f"{fresh.url}/ui/settings?range=7d&tz=UTC&theme=dark", "settings")
    wait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="tags"] tr[data-tag]'))
    swatches = {r.get_attribute("data-tag"): r.find_element(By.CSS_SELECTOR, "input[data-color]").get_attribute("value")
                for r in browser.find_elements(By.CSS_SELECTOR, '[data-testid="tags"] tr[data-tag]')}
    assert set(CLIENTS) <= set(swatches), swatches
    assert len(set(swatches.values())) == len(swatches), swatches
    # A chart stacked by the tag key draws each in its own colour (the 8 costliest, then
    # "(other)" in a theme colour).
    open_view(browser, f"{fresh.url}/ui/analytics?range=7d&tz=UTC&by=tag&tag_key=client", "analytics")
    legend = browser.find_element(By.CSS_SELECTOR, ".chart").find_elements(By.CSS_SELECTOR, ".legend i")
    colours = [i.value_of_css_property("background-color") for i in legend]
    assert len(colours) == 9 and len(set(colours)) == len(colours), colours
    browser.save_screenshot(str(SHOTS / "desktop-dark-analytics-by-client.png"))


def test_budget_form_names_every_bad_field_next_to_it(fresh, browser):
    open_view(browser, f"{fresh.url}/ui/settings?range=7d&tz=UTC&theme=dark", "settings")
    panel = browser.find_element(By.CSS_SELECTOR, '[data-testid="def-budgets"]')
    panel.find_element(By.TAG_NAME, "summary").click()
    f = panel.find_element(By.CSS_SELECTOR, "form")
    for name, value in {"name": "ui-bad", "scope": "everywhere", "period": "fortnight",
                        "limit_usd": "lots", "alert_at": "50, most"}.items():
        el = f.find_element(By.NAME, name)
        el.clear()
        el.send_keys(value)
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    err = browser.find_element(By.CSS_SELECTOR, '[data-testid="err-budgets"]')
    wait(browser, 10).until(lambda d: err.is_displayed())
    notes = {n.get_attribute("data-field-err"): n.text for n in f.find_elements(By.CSS_SELECTOR, ".field-err")}
    assert set(notes) == {"scope", "period", "limit_usd", "alert_at"}, (notes, err.text)
    assert "'everywhere'" in notes["scope"] and "'fortnight'" in notes["period"]
    assert "'lots'" in notes["limit_usd"] and '"most"' in notes["alert_at"]
    for name in notes:
        assert f.find_element(By.NAME, name).get_attribute("aria-invalid") == "true"
        assert notes[name] in err.text
    assert "`" not in err.text and "expected" not in err.text, err.text
    assert f.find_element(By.NAME, "limit_usd").get_attribute("value") == "lots"
    assert all(b["name"] != "ui-bad" for b in fresh.api("budgets")["budgets"])
    browser.execute_script("arguments[0].scrollIntoView()", f)
    browser.save_screenshot(str(SHOTS / "desktop-dark-settings-budget-errors.png"))
    assert_no_js_errors(browser, allow=("/api/v1/budgets ",))

    # Fixed, the same form saves, and the notes are gone.
    for name, value in {"scope": "global", "period": "week", "limit_usd": "5", "alert_at": "50, 100"}.items():
        el = f.find_element(By.NAME, name)
        el.clear()
        el.send_keys(value)
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="def-budgets"] tr[data-name="ui-bad"]'))
    assert not browser.find_elements(By.CSS_SELECTOR, ".field-err")


def test_alert_rule_form_names_every_bad_number_at_once(fresh, browser):
    open_view(browser, f"{fresh.url}/ui/settings?range=7d&tz=UTC&theme=dark", "settings")
    panel = browser.find_element(By.CSS_SELECTOR, '[data-testid="def-alert-rules"]')
    panel.find_element(By.TAG_NAME, "summary").click()
    f = panel.find_element(By.CSS_SELECTOR, "form")
    for name, value in {"name": "ui-nums", "threshold": "lots", "factor": "x3", "min_usd": "a dollar"}.items():
        el = f.find_element(By.NAME, name)
        el.clear()
        el.send_keys(value)
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    err = browser.find_element(By.CSS_SELECTOR, '[data-testid="err-alert-rules"]')
    wait(browser, 10).until(lambda d: err.is_displayed())
    notes = {n.get_attribute("data-field-err") for n in f.find_elements(By.CSS_SELECTOR, ".field-err")}
    assert notes == {"threshold", "factor", "min_usd"}, (notes, err.text)
    assert "threshold: 'lots' is not a number" in err.text and "factor: 'x3'" in err.text and "min_usd: 'a dollar'" in err.text
    assert all(r["name"] != "ui-nums" for r in fresh.api("alert-rules")["alert_rules"])
    assert_no_js_errors(browser)


def test_a_table_wider_than_a_phone_shows_which_side_has_more(fresh, phone):
    open_view(phone, f"{fresh.url}/ui/settings?range=7d&tz=UTC&theme=dark", "settings")
    box = phone.find_element(By.CSS_SELECTOR, '[data-testid="prices"]').find_element(By.XPATH, "..")
    assert phone.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", box)
    cue = lambda: set(box.get_attribute("class").split()) & {"more-left", "more-right"}
    wait(phone, 10).until(lambda d: cue() == {"more-right"})
    assert box.value_of_css_property("border-right-style") == "dashed"
    phone.execute_script("arguments[0].scrollLeft = arguments[0].scrollWidth", box)
    wait(phone, 10).until(lambda d: cue() == {"more-left"})
    phone.execute_script("arguments[0].scrollIntoView()", box)
    phone.save_screenshot(str(SHOTS / "phone-dark-settings-prices-scrolled.png"))
