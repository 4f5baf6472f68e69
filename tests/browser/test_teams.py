"""The team view and signing in, in real Chromium against the real binary with `[auth]
required`: an unauthenticated page goes to the sign-in page, a wrong password is explained,
signing in lands on the dashboard; an admin creates a proxy key that is shown once (with a copy
button) and then only by its hint, and that key works through the proxy with the provider
credential set from the same view (the credential's value is never in the page again); the key
is revoked and refused; a user is added; the audit log lists all of it and pages with "older";
signing out returns to the sign-in page. A viewer sees the lists without any button that
changes something. Screenshots (desktop and 375 px) land in test-out/screenshots/team-*.png.

The server has its own database; the first admin and the viewer are made with the CLI, as an
operator would."""

import json
import os
import subprocess

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import BIN, SHOTS, _start
from test_dashboard import assert_no_js_errors, open_view

ADMIN, ADMIN_PW = "admin@example.com", "correct horse battery"
VIEWER, VIEWER_PW = "viewer@example.com", "viewer password 1"
# The provider key set from the dashboard: it must reach the upstream and never the page.
CREDENTIAL = "sk-ant-from-the-dashboard-0123456789abcdef"
# Chromium logs every refused call as a failed load; these are the ones the tests provoke.
REFUSED = ("401", "403")
# A key name that would run a script if it were put in the page as markup.
XSS = '<img src=x onerror="window.__xss=1">'


class Server:
    def __init__(self, url, db, env):
        self.url, self.db, self.env = url, db, env

    def cli(self, *args, stdin=None):
        out = subprocess.run([str(BIN), *args, "--db", str(self.db)], input=stdin, env=self.env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout


@pytest.fixture(scope="module")
def authed(mock_url, tmp_path_factory):
    d = tmp_path_factory.mktemp("teams")
    db = d / "teams.db"
    env = dict(os.environ, TOKENWATCH_AUTH__REQUIRED="true",
               TOKENWATCH_RECORDING__SPILL_PATH=str(d / "spill.jsonl"))
    for name in ("ANTHROPIC", "OPENAI", "GEMINI"):
        env[f"TOKENWATCH_PROVIDERS__{name}__BASE_URL"] = mock_url
    with open(d / "stderr.log", "w") as err:
        proc, url = _start([str(BIN), "serve", "--listen", "127.0.0.1:0", "--db", str(db)], env=env, stderr=err)
    server = Server(url, db, env)
    server.cli("user", "add", ADMIN, "--tenant", "default", "--role", "admin", stdin=ADMIN_PW + "\n")
    server.cli("user", "add", VIEWER, "--tenant", "default", "--role", "viewer", stdin=VIEWER_PW + "\n")
    server.cli("key", "create", "--tenant", "default", "--name", "from-cli", "--project", "cli-project")
    # An admin API token, for the test's own reads of the API.
    server.token = json.loads(server.cli("token", "create", "--tenant", "default", "--role", "admin", "--json"))["token"]
    yield server
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def fresh(browser):
    """No session of an earlier test (cookies are per host, whatever the port)."""
    browser.delete_all_cookies()
    yield browser
    browser.delete_all_cookies()
    browser.set_window_size(1366, 900)


def api(server, path, **params):
    r = httpx.get(f"{server.url}/api/v1/{path}", params=params, timeout=10,
                  headers={"authorization": f"Bearer {server.token}"})
    r.raise_for_status()
    return r.json()


def until(browser, check, timeout=15):
    """Waits for `check`; a list re-rendered meanwhile (a stale element) is looked at again."""
    return WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(check)


def css(browser, sel):
    return browser.find_elements(By.CSS_SELECTOR, sel)


def wait_for(browser, sel, timeout=10):
    WebDriverWait(browser, timeout).until(lambda d: css(d, sel))
    return css(browser, sel)[0]


def sign_in(browser, url, email, password):
    browser.get(f"{url}/login")
    form = wait_for(browser, '[data-testid="login-form"]')
    form.find_element(By.NAME, "email").send_keys(email)
    form.find_element(By.NAME, "password").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def fill(form, **values):
    for name, value in values.items():
        el = form.find_element(By.NAME, name)
        el.clear()
        el.send_keys(value)


def open_form(section, testid):
    section.find_element(By.CSS_SELECTOR, "details.filterbox summary").click()
    return section.find_element(By.CSS_SELECTOR, f'form[data-testid="{testid}"]')


def confirm_in(row, button):
    """Clicks `button` in `row`, then "yes" in the confirmation asked in its place."""
    row.find_element(By.CSS_SELECTOR, button).click()
    row.find_element(By.CSS_SELECTOR, '[data-testid="confirm"] [data-yes]').click()


def proxy(server, key):
    return httpx.post(f"{server.url}/anthropic/v1/messages", timeout=30, headers={
        "x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"},
        json={"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})


def test_pages_need_a_sign_in_and_a_wrong_password_is_explained(authed, fresh):
    browser = fresh
    browser.get(f"{authed.url}/ui/overview")
    until(browser, lambda d: "/login" in d.current_url)
    assert css(browser, '[data-testid="login-form"]')
    sign_in(browser, authed.url, ADMIN, "not the password")
    err = browser.find_element(By.ID, "login-error")
    until(browser, lambda d: err.is_displayed())
    assert "wrong email or password" in err.text
    assert "/login" in browser.current_url
    browser.save_screenshot(str(SHOTS / "team-desktop-login-error.png"))
    assert_no_js_errors(browser, allow=REFUSED)
    # The right password lands on the dashboard, with who is signed in in the header.
    sign_in(browser, authed.url, ADMIN, ADMIN_PW)
    until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "overview")
    assert browser.current_url.endswith("/ui/overview")
    who = wait_for(browser, '[data-testid="who"]:not([hidden])')
    assert ADMIN in who.text and "default" in who.text and "admin" in who.text, who.text
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="sign-out"]').is_displayed()
    assert_no_js_errors(browser, allow=REFUSED)


def test_admin_manages_keys_users_credentials_and_reads_the_audit(authed, fresh, mock_url):
    browser = fresh
    sign_in(browser, authed.url, ADMIN, ADMIN_PW)
    until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "overview")
    browser.find_element(By.CSS_SELECTOR, '#nav a[data-view="team"]').click()
    until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "team")
    keys = browser.find_element(By.CSS_SELECTOR, '[data-testid="team-keys"]')
    assert "from-cli" in keys.text and "cli-project" in keys.text

    # A key is shown once, with a copy button, then by its hint only.
    f = open_form(keys, "key-create")
    fill(f, name="ui-key", project="dash", agent="selenium", allowed_models="claude-sonnet-4-5")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    once = wait_for(browser, '[data-testid="team-keys"] [data-testid="new-secret"]')
    secret = once.find_element(By.CSS_SELECTOR, '[data-testid="secret-value"]').text
    assert secret.startswith("twk_") and len(secret) > 30, secret
    assert "you will not see it again" in once.text
    copy = once.find_element(By.CSS_SELECTOR, '[data-testid="copy-secret"]')
    assert copy.is_displayed()
    copy.click()
    until(browser, lambda d: once.find_element(By.CSS_SELECTOR, "[data-copied]").text)
    mine = next(k for k in api(authed, "keys")["keys"] if k["name"] == "ui-key")
    assert (mine["project"], mine["agent"], mine["allowed_models"]) == ("dash", "selenium", ["claude-sonnet-4-5"])
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-key="{mine["id"]}"]')
    assert mine["hint"] in row.text and secret not in row.text
    assert mine["hint"] == f"{secret[:8]}…{secret[-4:]}"
    browser.save_screenshot(str(SHOTS / "team-desktop-key-once.png"))
    once.find_element(By.CSS_SELECTOR, "[data-dismiss]").click()
    until(browser, lambda d: not css(d, '[data-testid="new-secret"]'))
    assert secret not in browser.page_source

    # A provider credential, write-only: listed by hint, its value gone from the page.
    creds = browser.find_element(By.CSS_SELECTOR, '[data-testid="team-credentials"]')
    f = open_form(creds, "credential-set")
    Select(f.find_element(By.NAME, "provider")).select_by_visible_text("anthropic")
    assert f.find_element(By.NAME, "key").get_attribute("type") == "password"
    fill(f, key=CREDENTIAL)
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, '[data-testid="credentials"] tr[data-provider="anthropic"]')
    (cred,) = [c for c in api(authed, "credentials")["credentials"] if c["provider"] == "anthropic"]
    assert cred["hint"] in browser.find_element(By.CSS_SELECTOR, 'tr[data-provider="anthropic"]').text
    assert f.find_element(By.NAME, "key").get_attribute("value") == ""
    assert CREDENTIAL not in browser.page_source
    values = browser.execute_script("return [...document.querySelectorAll('input')].map((i) => i.value)")
    assert CREDENTIAL not in values and secret not in values

    # The key from the page works through the proxy, which sends the credential upstream.
    r = proxy(authed, secret)
    assert r.status_code == 200, r.text
    seen = httpx.get(f"{mock_url}/__mock/requests", timeout=10).json()["requests"][-1]
    assert seen["headers"].get("x-api-key") == CREDENTIAL

    # Revoke, after a confirmation asked in place; the proxy refuses the key at once.
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-key="{mine["id"]}"]')
    row.find_element(By.CSS_SELECTOR, "[data-revoke]").click()
    ask = row.find_element(By.CSS_SELECTOR, '[data-testid="confirm"]')
    assert mine["hint"] in ask.text
    browser.save_screenshot(str(SHOTS / "team-desktop-confirm-revoke.png"))
    ask.find_element(By.CSS_SELECTOR, "[data-yes]").click()
    until(browser, lambda d: "revoked" in d.find_element(
        By.CSS_SELECTOR, f'tr[data-key="{mine["id"]}"] [data-testid="key-state"]').text)
    assert not css(browser, f'tr[data-key="{mine["id"]}"] [data-revoke]')
    assert next(k for k in api(authed, "keys")["keys"] if k["id"] == mine["id"])["revoked_ms"]
    assert proxy(authed, secret).status_code == 401

    # Rotating the CLI's key shows its new value once; the list then shows the new hint.
    cli_key = next(k for k in api(authed, "keys")["keys"] if k["name"] == "from-cli")
    confirm_in(browser.find_element(By.CSS_SELECTOR, f'tr[data-key="{cli_key["id"]}"]'), "[data-rotate]")
    once = wait_for(browser, '[data-testid="team-keys"] [data-testid="new-secret"]')
    rotated = once.find_element(By.CSS_SELECTOR, '[data-testid="secret-value"]').text
    new_hint = next(k for k in api(authed, "keys")["keys"] if k["id"] == cli_key["id"])["hint"]
    assert rotated.startswith("twk_") and new_hint == f"{rotated[:8]}…{rotated[-4:]}" != cli_key["hint"]
    until(browser, lambda d: new_hint in d.find_element(By.CSS_SELECTOR, f'tr[data-key="{cli_key["id"]}"]').text)

    # A user, added with a password, then given another role.
    users = browser.find_element(By.CSS_SELECTOR, '[data-testid="team-users"]')
    f = open_form(users, "user-add")
    fill(f, email="new@example.com", password="a long enough password")
    Select(f.find_element(By.NAME, "role")).select_by_visible_text("member")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    row = wait_for(browser, 'tr[data-user="new@example.com"]')
    assert "active" in row.text
    assert {u["email"]: u["role"] for u in api(authed, "users")["users"]}["new@example.com"] == "member"
    Select(row.find_element(By.CSS_SELECTOR, "select[data-role]")).select_by_visible_text("viewer")
    until(browser, lambda d: {u["email"]: u["role"] for u in api(authed, "users")["users"]}["new@example.com"] == "viewer")
    # Your own row cannot be disabled from here.
    me = browser.find_element(By.CSS_SELECTOR, f'tr[data-user="{ADMIN}"]')
    assert not me.find_elements(By.CSS_SELECTOR, "[data-toggle]") and "you" in me.text
    # A too short password is explained next to its field, and nothing is added.
    f = users.find_element(By.CSS_SELECTOR, 'form[data-testid="user-add"]')
    browser.execute_script("arguments[0].noValidate = true", f)
    fill(f, email="short@example.com", password="short")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    note = wait_for(browser, '[data-testid="team-users"] [data-field-err="password"]')
    assert "10 characters" in note.text
    assert "short@example.com" not in {u["email"] for u in api(authed, "users")["users"]}
    assert_no_js_errors(browser, allow=("/api/v1/users - Failed to load resource: the server responded with a status of 400",))
    browser.save_screenshot(str(SHOTS / "team-desktop-admin.png"))

    # The audit log, re-read on opening the view: every action above, newest first, no secret.
    open_view(browser, f"{authed.url}/ui/team?tz=UTC", "team")
    audit = wait_for(browser, '[data-testid="audit"]')
    actions = [a.text for a in audit.find_elements(By.CSS_SELECTOR, '[data-testid="audit-action"]')]
    for action in ("login", "key.create", "credential.set", "key.revoke", "key.rotate", "user.add", "user.update"):
        assert action in actions, (action, actions)
    api_order = [e["action"] for e in api(authed, "audit", limit=len(actions))["entries"]]
    assert actions == api_order
    targets = [t.get_attribute("data-target") for t in audit.find_elements(By.CSS_SELECTOR, '[data-testid="audit-target"]')]
    assert "new@example.com" in targets and mine["id"] in targets and "anthropic" in targets
    # A key is named by its name and hint; a change says the field, before and after.
    rows = audit.find_elements(By.CSS_SELECTOR, "tr[data-audit]")
    revoke = rows[actions.index("key.revoke")]
    assert revoke.find_element(By.CSS_SELECTOR, '[data-testid="audit-target"]').text == f"ui-key {mine['hint']}"
    assert "revoked: — → true" in revoke.text
    assert "role: member → viewer" in rows[actions.index("user.update")].text
    assert CREDENTIAL not in browser.page_source and secret not in browser.page_source and rotated not in browser.page_source
    browser.execute_script("arguments[0].scrollIntoView()", audit)
    browser.save_screenshot(str(SHOTS / "team-desktop-audit.png"))
    assert_no_js_errors(browser, allow=REFUSED)

    # Sign out: back to the sign-in page, and the session is over.
    browser.find_element(By.CSS_SELECTOR, '[data-testid="sign-out"]').click()
    until(browser, lambda d: d.current_url.endswith("/login"))
    browser.get(f"{authed.url}/ui/team")
    until(browser, lambda d: "/login" in d.current_url)
    assert "logout" in [e["action"] for e in api(authed, "audit", limit=5)["entries"]]


def test_the_audit_log_pages_with_older(authed, fresh):
    """More entries than a page (50): "older" appends the next ones, none twice, none missed,
    in the API's order (keys made in a loop often share a millisecond, which a page boundary
    must not split into a gap)."""
    # Enough entries for three pages, so "older" is used twice.
    have = len(api(authed, "audit", limit=1000)["entries"])
    with httpx.Client(base_url=f"{authed.url}/api/v1", timeout=10,
                      headers={"authorization": f"Bearer {authed.token}"}) as c:
        for i in range(max(0, 110 - have)):
            assert c.post("/keys", json={"name": f"bulk-{i}"}).status_code == 201
    want = [e["id"] for e in api(authed, "audit", limit=1000)["entries"]]
    assert len(want) >= 110
    browser = fresh
    sign_in(browser, authed.url, ADMIN, ADMIN_PW)
    until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "overview")
    open_view(browser, f"{authed.url}/ui/team", "team")
    shown = lambda: [r.get_attribute("data-audit") for r in css(browser, '[data-testid="audit"] tr[data-audit]')]
    # The sign-in above is newer than `want`; the rest must follow in order.
    first = shown()
    assert len(first) == 50 and first[1:] == want[:49]
    older = browser.find_element(By.CSS_SELECTOR, '[data-testid="audit-older"]')
    while older.is_displayed():
        n = len(shown())
        older.click()
        until(browser, lambda d: len(shown()) > n or not older.is_displayed())
    assert shown()[1:] == want
    assert "the start of the log" in browser.find_element(By.CSS_SELECTOR, '[data-testid="team-audit"]').text
    assert_no_js_errors(browser, allow=REFUSED)


def test_a_viewer_sees_the_lists_without_buttons_that_change_anything(authed, fresh):
    browser = fresh
    sign_in(browser, authed.url, VIEWER, VIEWER_PW)
    until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "overview")
    who = wait_for(browser, '[data-testid="who"]:not([hidden])')
    assert VIEWER in who.text and "viewer" in who.text
    open_view(browser, f"{authed.url}/ui/team", "team")
    keys = browser.find_element(By.CSS_SELECTOR, '[data-testid="team-keys"]')
    assert len(keys.find_elements(By.CSS_SELECTOR, "tr[data-key]")) == len(api(authed, "keys")["keys"]) > 0
    assert not keys.find_elements(By.CSS_SELECTOR, "form, [data-revoke], [data-rotate]")
    assert not css(browser, '[data-testid="team-users"], [data-testid="team-tokens"], [data-testid="team-credentials"], [data-testid="team-audit"]')
    assert css(browser, '[data-testid="team-admin-note"]')
    browser.save_screenshot(str(SHOTS / "team-desktop-viewer.png"))
    # Settings show the lists a viewer may read, with no form, delete or acknowledge button.
    open_view(browser, f"{authed.url}/ui/settings", "settings")
    wait_for(browser, '[data-testid="tags-panel"] h2')
    assert css(browser, '[data-testid="def-budgets"]') and not css(browser, '[data-testid="def-channels"]')
    assert not css(browser, "form[data-def], button[data-del], button[data-ack], button[data-ack-all], form[data-testid=tag-define]")
    assert_no_js_errors(browser, allow=REFUSED)
    # The server refuses a viewer's write whatever the page shows.
    csrf = browser.execute_script("return TW.csrf")
    cookie = browser.get_cookie("tw_session")
    assert cookie and csrf
    r = httpx.post(f"{authed.url}/api/v1/keys", json={}, timeout=10,
                   headers={"x-csrf-token": csrf, "cookie": f"tw_session={cookie['value']}"})
    assert r.status_code == 403, r.text


def test_the_team_view_fits_a_phone(authed, fresh):
    browser = fresh
    sign_in(browser, authed.url, ADMIN, ADMIN_PW)
    until(browser, lambda d: d.find_element(By.ID, "view").get_attribute("data-ready") == "overview")
    browser.set_window_size(375, 812)
    for theme in ("dark", "light"):
        open_view(browser, f"{authed.url}/ui/team?theme={theme}", "team")
        wait_for(browser, '[data-testid="audit"]')
        inner = browser.execute_script("return window.innerWidth")
        assert inner <= 400, inner
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= inner, f"scrollWidth {width} > innerWidth {inner}"
        browser.save_screenshot(str(SHOTS / f"team-phone-{theme}.png"))
    # A new key's box fits too (the key is one long word).
    keys = browser.find_element(By.CSS_SELECTOR, '[data-testid="team-keys"]')
    f = open_form(keys, "key-create")
    fill(f, name="phone-key")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    once = wait_for(browser, '[data-testid="new-secret"]')
    browser.execute_script("arguments[0].scrollIntoView()", once)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth"), width
    browser.save_screenshot(str(SHOTS / "team-phone-key-once.png"))
    for section in ("team-users", "team-audit"):
        browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.CSS_SELECTOR, f'[data-testid="{section}"]'))
        browser.save_screenshot(str(SHOTS / f"team-phone-{section.removeprefix('team-')}.png"))
    browser.set_window_size(1366, 900)
    open_view(browser, f"{authed.url}/ui/team?theme=light", "team")
    browser.save_screenshot(str(SHOTS / "team-desktop-light.png"))
    assert_no_js_errors(browser, allow=REFUSED)


def test_local_mode_has_no_sign_out_and_every_section(tw, browser):
    """Without auth (the shared fixture's server) there is no login to show or end, and the
    local principal may do everything, so every section and its forms are drawn."""
    browser.delete_all_cookies()
    # Names are text, never markup: in the keys list and in the audit log.
    r = httpx.post(f"{tw.url}/api/v1/keys", timeout=10, json={"name": XSS, "project": "<b>bold</b>"})
    assert r.status_code == 201, r.text
    open_view(browser, f"{tw.url}/ui/team", "team")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-key="{r.json()["id"]}"]')
    assert XSS in row.text and "<b>bold</b>" in row.text
    assert XSS in browser.find_element(By.CSS_SELECTOR, '[data-testid="audit"]').text
    assert browser.execute_script("return window.__xss") is None
    assert not browser.find_elements(By.CSS_SELECTOR, "#view img")
    assert all(b.text != "bold" for b in browser.find_elements(By.CSS_SELECTOR, "#view b"))
    assert not browser.find_element(By.CSS_SELECTOR, '[data-testid="who"]').is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, '[data-testid="sign-out"]').is_displayed()
    for section in ("team-keys", "team-users", "team-tokens", "team-credentials", "team-audit"):
        assert css(browser, f'[data-testid="{section}"]'), section
    for form in ("key-create", "user-add", "token-create", "credential-set"):
        assert css(browser, f'form[data-testid="{form}"]'), form
    # An API token made here is shown once and listed by its hint.
    tokens = browser.find_element(By.CSS_SELECTOR, '[data-testid="team-tokens"]')
    f = open_form(tokens, "token-create")
    fill(f, name="local-ui")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    secret = wait_for(browser, '[data-testid="team-tokens"] [data-testid="secret-value"]').text
    assert secret.startswith("twt_")
    made = next(t for t in tw.api("tokens")["tokens"] if t["name"] == "local-ui")
    row = wait_for(browser, f'tr[data-token="{made["id"]}"]')
    assert made["hint"] in row.text and secret not in row.text
    confirm_in(row, "[data-revoke]")
    until(browser, lambda d: "revoked" in d.find_element(By.CSS_SELECTOR, f'tr[data-token="{made["id"]}"]').text)
    assert next(t for t in tw.api("tokens")["tokens"] if t["id"] == made["id"])["revoked_ms"]
    assert_no_js_errors(browser)
