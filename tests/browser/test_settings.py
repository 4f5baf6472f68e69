"""Settings in real Chromium against the real binary: the alerts badge counts what
`GET /api/v1/alerts` calls unread, and acknowledging from the list lowers it without a reload;
budgets and alert rules are created and deleted through the forms, a bad regex or value is
explained next to its form naming the field, channel secrets never reach the page; tags are
renamed and recoloured from their table.
Screenshots of the new panels (desktop and phone) land in test-out/screenshots/."""

import time
from decimal import Decimal

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import SHOTS, wait
from test_dashboard import assert_no_js_errors, micros, open_view, usd


def badge(browser):
    return browser.find_element(By.CSS_SELECTOR, '[data-testid="alerts-badge"]')


def fire_budget_alert(tw, name, tag):
    """A soft budget of $0.00001 on one tag alerting at 50 %, then one proxied request with that
    tag through the mock upstream: the pricing of that event crosses 50 % and fires the alert."""
    r = httpx.post(f"{tw.url}/api/v1/budgets", timeout=10, json={
        "name": name, "scope": f"tag:{tag}", "period": "day", "limit_usd": "0.00001",
        "hard": False, "alert_at": [50]})
    assert r.status_code in (200, 201), r.text
    r = httpx.post(f"{tw.url}/anthropic/v1/messages", timeout=30, headers={
        "x-api-key": "sk-ant-alerts", "anthropic-version": "2023-06-01", "content-type": "application/json",
        "x-tokenwatch-tags": tag,
    }, json={"model": "claude-sonnet-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    deadline = time.time() + 10
    while time.time() < deadline:
        mine = [a for a in tw.api("alerts")["alerts"] if a["rule"] == name]
        if mine:
            return mine
        time.sleep(0.1)
    pytest.fail(f"budget {name} never fired: {tw.api('alerts')}")


def test_alert_badge_counts_unread_and_acknowledge_lowers_it(tw, browser):
    open_view(browser, f"{tw.url}/ui/settings?range=30d&tz=UTC&theme=dark", "settings")
    before = tw.api("alerts")["unread"]
    wait(browser, 10).until(lambda d: badge(d).text == f"alerts {before}")
    mine = fire_budget_alert(tw, "alert-ui", "suite=alerts")
    assert len(mine) == 1 and mine[0]["acknowledged_at"] is None, mine
    assert "reached 50%" in mine[0]["message"]
    # The badge follows without a reload (the live event triggers a refresh).
    browser.execute_script("window.__sameDocument = 7")
    wait(browser, 35).until(lambda d: badge(d).text == f"alerts {before + 1}")
    badge(browser).click()
    wait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-alert="{mine[0]["id"]}"]'))
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-alert="{mine[0]["id"]}"]')
    assert "alert-ui" in row.text and "reached 50%" in row.text
    assert "$0.000005" in row.text  # threshold: 50 % of $0.00001
    browser.save_screenshot(str(SHOTS / "desktop-dark-alerts.png"))
    row.find_element(By.CSS_SELECTOR, "button[data-ack]").click()
    wait(browser, 10).until(lambda d: badge(d).text == f"alerts {before}")
    assert browser.execute_script("return window.__sameDocument") == 7
    api = tw.api("alerts")
    assert api["unread"] == before
    assert next(a for a in api["alerts"] if a["id"] == mine[0]["id"])["acknowledged_at"]
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-alert="{mine[0]["id"]}"]')
    assert "acked" in row.text and not row.find_elements(By.CSS_SELECTOR, "button[data-ack]")
    assert_no_js_errors(browser)


def test_acknowledge_all_clears_the_badge(tw, browser):
    fire_budget_alert(tw, "alert-ui-2", "suite=alerts2")
    assert tw.api("alerts")["unread"] >= 1
    browser.set_window_size(375, 812)
    try:
        open_view(browser, f"{tw.url}/ui/settings?range=30d&tz=UTC&theme=dark", "settings")
        wait(browser, 10).until(lambda d: badge(d).text != "alerts 0" and "·" not in badge(d).text)
        panel = browser.find_element(By.CSS_SELECTOR, '[data-testid="alerts-panel"]')
        browser.execute_script("arguments[0].scrollIntoView()", panel)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= browser.execute_script("return window.innerWidth"), width
        browser.save_screenshot(str(SHOTS / "phone-dark-alerts.png"))
        panel.find_element(By.CSS_SELECTOR, "button[data-ack-all]").click()
        wait(browser, 10).until(lambda d: badge(d).text == "alerts 0")
        assert tw.api("alerts")["unread"] == 0
        assert_no_js_errors(browser)
    finally:
        browser.set_window_size(1366, 900)


def form(browser, path):
    panel = browser.find_element(By.CSS_SELECTOR, f'[data-testid="def-{path}"]')
    panel.find_element(By.TAG_NAME, "summary").click()
    return panel.find_element(By.CSS_SELECTOR, "form")


def fill(f, **values):
    for name, value in values.items():
        el = f.find_element(By.NAME, name)
        el.clear()
        el.send_keys(value)


def test_budget_form_creates_and_deletes_and_a_bad_regex_is_explained(tw, browser):
    open_view(browser, f"{tw.url}/ui/settings?range=30d&tz=UTC&theme=dark", "settings")
    f = form(browser, "budgets")
    fill(f, name="ui-budget", scope="provider:gemini", period="week", limit_usd="12.5", alert_at="50, 100")
    f.find_element(By.NAME, "hard").click()
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    sel = '[data-testid="def-budgets"] tr[data-name="ui-budget"]'
    wait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, sel))
    b = next(b for b in tw.api("budgets")["budgets"] if b["name"] == "ui-budget")
    assert (b["scope"], b["period"], b["hard"], b["alert_at"]) == ("provider:gemini", "week", True, [50, 100])
    assert Decimal(b["limit_usd"]) == Decimal("12.5")
    row = browser.find_element(By.CSS_SELECTOR, sel).text
    assert usd(b["status"]["limit_micros"]) == "$12.50"
    assert "provider:gemini" in row and "$12.50" in row and usd(b["status"]["spent_micros"]) in row
    browser.save_screenshot(str(SHOTS / "desktop-dark-settings-budgets.png"))

    f = form(browser, "tag-rules")
    fill(f, name="bad-rule", field="model", pattern="gpt-(4", tag="family=$1")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    err = browser.find_element(By.CSS_SELECTOR, '[data-testid="err-tag-rules"]')
    wait(browser, 10).until(lambda d: err.is_displayed())
    assert "bad-rule" in err.text and "pattern" in err.text and "position" in err.text, err.text
    assert f.find_element(By.NAME, "pattern").get_attribute("value") == "gpt-(4"
    assert all(r["name"] != "bad-rule" for r in tw.api("tag-rules")["tag_rules"])
    browser.execute_script("arguments[0].scrollIntoView()", err)
    browser.save_screenshot(str(SHOTS / "desktop-dark-settings-error.png"))
    assert_no_js_errors(browser, allow=("/api/v1/tag-rules ",))

    browser.find_element(By.CSS_SELECTOR, f'{sel} button[data-del]').click()
    wait(browser, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, sel))
    assert all(b["name"] != "ui-budget" for b in tw.api("budgets")["budgets"])
    assert_no_js_errors(browser)


def test_alert_rule_form_creates_and_deletes_and_a_bad_value_names_its_field(tw, browser):
    open_view(browser, f"{tw.url}/ui/settings?range=30d&tz=UTC&theme=dark", "settings")
    f = form(browser, "alert-rules")
    # A window the API cannot read: its message names the field, and what was typed stays.
    fill(f, name="ui-rule", window="soon", threshold_usd="2.50", channels="ops, oncall")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    err = browser.find_element(By.CSS_SELECTOR, '[data-testid="err-alert-rules"]')
    wait(browser, 10).until(lambda d: err.is_displayed())
    assert "ui-rule" in err.text and "window 'soon'" in err.text, err.text
    assert f.find_element(By.NAME, "window").get_attribute("value") == "soon"
    # A number field with text in it is named before anything is sent.
    fill(f, window="30m", threshold_usd="", threshold="lots")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, 10).until(lambda d: "threshold: 'lots' is not a number" in err.text)
    assert all(r["name"] != "ui-rule" for r in tw.api("alert-rules")["alert_rules"])
    browser.execute_script("arguments[0].scrollIntoView()", err)
    browser.save_screenshot(str(SHOTS / "desktop-dark-settings-alert-rule-error.png"))
    assert_no_js_errors(browser, allow=("/api/v1/alert-rules ",))

    fill(f, threshold="", threshold_usd="2.50")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    sel = '[data-testid="def-alert-rules"] tr[data-name="ui-rule"]'
    wait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, sel))
    rule = next(r for r in tw.api("alert-rules")["alert_rules"] if r["name"] == "ui-rule")
    assert (rule["kind"], rule["scope"], rule["window"], rule["channels"], rule["enabled"]) == (
        "cost_above", "global", "30m", ["ops", "oncall"], True)
    assert Decimal(rule["threshold_usd"]) == Decimal("2.5") and "threshold" not in rule
    row = browser.find_element(By.CSS_SELECTOR, sel).text
    assert "cost_above" in row and "30m" in row and "ops, oncall" in row and "$2.50" in row
    panel = browser.find_element(By.CSS_SELECTOR, '[data-testid="def-alert-rules"]')
    browser.execute_script("arguments[0].scrollIntoView()", panel)
    browser.save_screenshot(str(SHOTS / "desktop-dark-settings-alert-rules.png"))

    browser.find_element(By.CSS_SELECTOR, f"{sel} button[data-del]").click()
    wait(browser, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, sel))
    assert all(r["name"] != "ui-rule" for r in tw.api("alert-rules")["alert_rules"])
    assert_no_js_errors(browser)


def test_channel_secrets_are_never_shown(tw, browser):
    r = httpx.post(f"{tw.url}/api/v1/channels", timeout=10, json={
        "name": "hook", "kind": "webhook", "url": "https://example.invalid/hook", "secret": "s3cr3t-value"})
    assert r.status_code in (200, 201), r.text
    browser.set_window_size(375, 812)
    try:
        open_view(browser, f"{tw.url}/ui/settings?range=30d&tz=UTC&theme=dark", "settings")
        f = form(browser, "channels")
        assert f.find_element(By.NAME, "secret").get_attribute("value") == ""
        assert "s3cr3t-value" not in browser.page_source
        assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="def-channels"] tr[data-name="hook"]')
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= browser.execute_script("return window.innerWidth"), width
        browser.execute_script("arguments[0].scrollIntoView()", f)
        browser.save_screenshot(str(SHOTS / "phone-dark-settings-channels.png"))
    finally:
        browser.set_window_size(1366, 900)


def test_tag_these_retags_exactly_the_filtered_rows(tw, browser):
    want = {r["ts"] for r in tw.rows if r["project"] == "cli" and r["model"] == "gpt-4o"}
    assert want
    open_view(browser, f"{tw.url}/ui/requests?range=30d&tz=UTC&theme=dark&project=cli&model=gpt-4o", "requests")
    wait(browser, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.event-row")) == len(want))
    box = browser.find_element(By.ID, "retag-tag")
    box.send_keys("bulk=ui")
    browser.find_element(By.CSS_SELECTOR, "#retag button[type=submit]").click()
    out = browser.find_element(By.CSS_SELECTOR, '[data-testid="retag-out"]')
    wait(browser, 10).until(lambda d: "matched" in out.text)
    assert out.text == f"bulk=ui: matched {len(want)}, changed {len(want)}"
    browser.save_screenshot(str(SHOTS / "desktop-dark-retag.png"))
    tagged = tw.api("events", tag="bulk=ui", limit=1000)["events"]
    assert len(tagged) == len(want)
    assert {(e["project"], e["model"]) for e in tagged} == {("cli", "gpt-4o")}
    open_view(browser, f"{tw.url}/ui/requests?range=30d&tz=UTC&tag=bulk%3Dui", "requests")
    wait(browser, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.event-row")) == len(want))
    assert {r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "tr.event-row")} == {e["id"] for e in tagged}
    assert_no_js_errors(browser)


def hex_rgb(color):
    """'#0a0b0c' -> 'rgb(10, 11, 12)', the form Chromium serialises inline colours in."""
    return "rgb({}, {}, {})".format(*(int(color[i:i + 2], 16) for i in (1, 3, 5)))


def tag_row(tw, tag):
    return next((t for t in tw.api("tags", since="30d", tz="UTC")["tags"] if t["tag"] == tag), None)


def test_tags_rename_and_recolour_from_settings(tw, browser):
    # A tag of its own on a known set of the seeded rows, so other tests' tags stay put.
    want = [r for r in tw.rows if r["project"] == "cli" and r["model"] == "claude-opus-4-1"]
    assert want
    r = httpx.post(f"{tw.url}/api/v1/retag", timeout=10, json={
        "filter": {"since": "30d", "project": "cli", "model": "claude-opus-4-1"}, "add": ["ui=before"]})
    assert r.status_code == 200 and r.json()["changed"] == len(want), r.text
    want_cost = sum(micros(r["cost_usd"]) for r in want)

    open_view(browser, f"{tw.url}/ui/settings?range=30d&tz=UTC&theme=dark", "settings")
    sel = '[data-testid="tags"] tr[data-tag="{}"]'
    wait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, sel.format("ui=before")))
    row = browser.find_element(By.CSS_SELECTOR, sel.format("ui=before"))
    assert str(len(want)) in row.text and usd(want_cost) in row.text, row.text

    # Rename inline: edit the name and press Enter.
    name = row.find_element(By.CSS_SELECTOR, "input[data-rename]")
    name.clear()
    name.send_keys("ui=after", Keys.ENTER)
    wait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, sel.format("ui=after")))
    assert not browser.find_elements(By.CSS_SELECTOR, sel.format("ui=before"))
    after = tag_row(tw, "ui=after")
    assert (after["events"], after["cost_micros"]) == (len(want), want_cost), after
    assert tag_row(tw, "ui=before") is None
    assert len(tw.api("events", tag="ui=before", limit=1000)["events"]) == 0

    # Recolour with the picker (a script sets it as a user's pick would, then fires change).
    picker = browser.find_element(By.CSS_SELECTOR, sel.format("ui=after") + " input[data-color]")
    browser.execute_script(
        "arguments[0].value = '#ff00aa'; arguments[0].dispatchEvent(new Event('change', {bubbles: true}))", picker)
    wait(browser, 10).until(lambda d: (tag_row(tw, "ui=after") or {}).get("color") == "#ff00aa")
    assert tag_row(tw, "ui=after")["defined"] is True
    wait(browser, 10).until(lambda d: d.find_element(
        By.CSS_SELECTOR, sel.format("ui=after") + " input[data-color]").get_attribute("value") == "#ff00aa")
    row = browser.find_element(By.CSS_SELECTOR, sel.format("ui=after"))
    panel = browser.find_element(By.CSS_SELECTOR, '[data-testid="tags-panel"]')
    browser.execute_script("arguments[0].scrollIntoView()", panel)
    browser.save_screenshot(str(SHOTS / "desktop-dark-settings-tags.png"))

    # A refused rename explains itself next to the table and changes nothing.
    name = row.find_element(By.CSS_SELECTOR, "input[data-rename]")
    name.clear()
    name.send_keys("ui=", Keys.ENTER)
    err = browser.find_element(By.CSS_SELECTOR, '[data-testid="err-tags"]')
    wait(browser, 10).until(lambda d: err.is_displayed())
    assert "rename_to" in err.text, err.text
    assert tag_row(tw, "ui=after")["events"] == len(want)
    assert_no_js_errors(browser, allow=("/api/v1/tags/",))

    # The requests log shows the new name.
    open_view(browser, f"{tw.url}/ui/requests?range=30d&tz=UTC&tag=ui%3Dafter", "requests")
    wait(browser, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.event-row")) == len(want))
    assert all("ui=after" in r.text for r in browser.find_elements(By.CSS_SELECTOR, "tr.event-row"))

    # Charts stacked by the tag's key draw it in its colour.
    open_view(browser, f"{tw.url}/ui/analytics?range=30d&tz=UTC&by=tag&tag_key=ui", "analytics")
    fills = {e.get_attribute("style") for e in browser.find_elements(By.CSS_SELECTOR, ".chart svg rect")}
    assert any(hex_rgb("#ff00aa") in f for f in fills), fills

    # Phone: the tag table scrolls inside its box, the page never sideways.
    browser.set_window_size(375, 812)
    try:
        open_view(browser, f"{tw.url}/ui/settings?range=30d&tz=UTC&theme=dark", "settings")
        wait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, sel.format("ui=after")))
        panel = browser.find_element(By.CSS_SELECTOR, '[data-testid="tags-panel"]')
        browser.execute_script("arguments[0].scrollIntoView()", panel)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= browser.execute_script("return window.innerWidth"), width
        browser.save_screenshot(str(SHOTS / "phone-dark-settings-tags.png"))
    finally:
        browser.set_window_size(1366, 900)
