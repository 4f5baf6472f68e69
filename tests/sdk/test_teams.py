"""Teams through the official SDKs (issue 19): two tenants, alpha and bravo, on one tokenwatch
with `[auth] required`, each with its own proxy key, API tokens and provider credentials.

Each tenant's traffic reaches the upstream with that tenant's credential and no other; each
tenant's token reads only its own events, CSV, analytics, sessions, budgets and live stream; a
tenant without a credential is refused rather than given another's; a revoked key is refused
on the next call; and no planted secret comes back in clear from the files tokenwatch writes,
its log, the exports, the API or the CLI. The mock does not validate keys; it records every
request's headers (`/__mock/requests`), which is what the credential checks read.
"""

import csv
import io
import json
import queue
import threading
import time

import anthropic
import httpx
import openai
import pytest

from conftest import stop, usage_header

CLAUDE, GPT = "claude-haiku-4-5", "gpt-4o"
HI = [{"role": "user", "content": "hi"}]
# Distinct figures per tenant, so a total that mixed tenants could not match either one.
USAGE = {"alpha": dict(input=111, output=11), "bravo": dict(input=2222, output=22)}


def claude(teams, tenant, key=None, session=None):
    return anthropic.Anthropic(base_url=f"{teams.tw.url}/anthropic", api_key=key or tenant.key, max_retries=0,
                               default_headers={"X-Tokenwatch-Session": session or tenant.session})


def gpt(teams, tenant, key=None, session=None):
    return openai.OpenAI(base_url=f"{teams.tw.url}/openai/v1", api_key=key or tenant.key, max_retries=0,
                         default_headers={"X-Tokenwatch-Session": session or tenant.session})


def ask(client, tenant):
    return client.messages.create(model=CLAUDE, max_tokens=8, messages=HI, extra_headers=usage_header(**USAGE[tenant.name]))


@pytest.fixture(scope="module")
def traffic(teams, mock_server):
    """Per tenant: an anthropic message, an anthropic stream and an openai chat completion,
    through the SDKs with the tenant's key as api_key. Returns what the mock received for
    each tenant's three calls (in order)."""
    upstream = {}
    for t in teams.tenants:
        mock_server.clear()
        headers = usage_header(**USAGE[t.name])
        client = claude(teams, t)
        assert ask(client, t).usage.input_tokens == USAGE[t.name]["input"]
        with client.messages.stream(model=CLAUDE, max_tokens=8, messages=HI, extra_headers=headers) as s:
            assert s.get_final_text()
        gpt(teams, t).chat.completions.create(model=GPT, messages=HI, extra_headers=headers)
        upstream[t.name] = mock_server.requests()
    for t in teams.tenants:
        teams.wait_events(t.token, 3)
    return upstream


def test_each_tenants_own_credential_goes_upstream_in_place_of_its_key(teams, traffic):
    for t in teams.tenants:
        other, seen = teams.other(t), traffic[t.name]
        assert [(r["provider"], r["stream"]) for r in seen] == [("anthropic", False), ("anthropic", True), ("openai", False)]
        for r in seen[:2]:
            assert r["headers"].get("x-api-key") == t.anthropic_key, r["headers"]
            assert "authorization" not in r["headers"], r["headers"]
        assert seen[2]["headers"].get("authorization") == f"Bearer {t.openai_key}", seen[2]["headers"]
        sent = json.dumps(seen)
        for secret in (other.anthropic_key, other.openai_key, t.key, other.key, t.token):
            assert secret not in sent, f"{secret} reached the upstream in {t.name}'s traffic"
        assert not [h for r in seen for h in r["headers"] if h.startswith("x-tokenwatch-")]


def foreign_marks(teams, t):
    """Strings that appear only in the other tenant's rows."""
    other = teams.other(t)
    return (other.session, other.project, other.id, other.key_id)


def assert_no_foreign(teams, t, where, text):
    for mark in foreign_marks(teams, t):
        assert mark not in text, f"{t.name}'s {where} shows {mark}, which is {teams.other(t).name}'s"


def test_each_token_reads_only_its_own_tenants_traffic(teams, traffic):
    # The operator sees both tenants: the rows exist, and only the scoping hides them.
    everything = teams.events(teams.operator_token)
    assert {e["session_id"] for e in everything} == {t.session for t in teams.tenants}
    for t in teams.tenants:
        n, u = 3, USAGE[t.name]
        events = teams.events(t.token)
        assert len(events) == n
        assert {(e["project"], e["session_id"], e["api_key_id"]) for e in events} == {(t.project, t.session, t.key_id)}
        assert sorted((e["provider"], e["streamed"]) for e in events) == [("anthropic", False), ("anthropic", True), ("openai", False)]
        assert sum(e["input_tokens"] for e in events) == n * u["input"]

        r = teams.api(t.token, "/api/v1/events", params={"format": "csv", "limit": 1000})
        assert r.status_code == 200, r.text
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert {row["id"] for row in rows} == {e["id"] for e in events}
        assert {(row["project"], row["session_id"]) for row in rows} == {(t.project, t.session)}
        assert_no_foreign(teams, t, "CSV export", r.text)

        r = teams.api(t.token, "/api/v1/analytics/summary")
        assert r.status_code == 200, r.text
        totals = r.json()["totals"]
        assert (totals["requests"], totals["input_tokens"], totals["output_tokens"]) == (n, n * u["input"], n * u["output"])
        assert [p["key"] for p in r.json()["top"]["projects"]] == [t.project]
        assert_no_foreign(teams, t, "analytics summary", r.text)

        r = teams.api(t.token, "/api/v1/sessions")
        assert r.status_code == 200, r.text
        assert [(s["session"], s["project"], s["requests"]) for s in r.json()["sessions"]] == [(t.session, t.project, n)]
        assert_no_foreign(teams, t, "sessions", r.text)

        r = teams.api(t.token, "/api/v1/events", params={"limit": 1000})
        assert_no_foreign(teams, t, "events", r.text)
        for e in everything:  # another tenant's event is "not found", its own is there
            r = teams.api(t.token, f"/api/v1/events/{e['id']}")
            assert r.status_code == (200 if e["session_id"] == t.session else 404), r.text


def budget(name, scope="provider:anthropic", **extra):
    return {"name": name, "scope": scope, "period": "rolling:1h", "limit_usd": 1000, "hard": False, **extra}


def test_each_tenants_budgets_count_only_its_own_requests(teams, traffic):
    """Each tenant's budget (made with its member token) counts its own two anthropic calls,
    never the other tenant's two, and is listed to that tenant only; the default tenant's
    global budget counts nothing, as the default tenant made no request."""
    r = teams.api(teams.house_token, "/api/v1/budgets", "POST", json=budget("house-all", "global"))
    assert r.status_code == 201, r.text
    assert teams.events(teams.house_token) == [], "the default tenant made no request"
    assert (r.json()["status"]["requests"], r.json()["status"]["spent_nanos"]) == (0, 0), r.json()["status"]
    for t in teams.tenants:
        r = teams.api(t.member_token, "/api/v1/budgets", "POST", json=budget(f"{t.name}-anthropic"))
        assert r.status_code == 201, r.text
    for t in teams.tenants:
        r = teams.api(t.token, "/api/v1/budgets")
        assert r.status_code == 200, r.text
        (status,) = [b["status"] for b in r.json()["budgets"] if b["name"] == f"{t.name}-anthropic"]
        assert [b["name"] for b in r.json()["budgets"]] == [f"{t.name}-anthropic"]
        spent = sum(e["cost_nanos"] for e in teams.events(t.token) if e["provider"] == "anthropic")
        assert (status["requests"], status["spent_nanos"]) == (2, spent), status
        assert_no_foreign(teams, t, "budgets", r.text)
        r = teams.api(t.token, f"/api/v1/budgets/{teams.other(t).name}-anthropic")
        assert r.status_code == 404, r.text


def test_a_tenants_hard_budget_refuses_only_its_own_requests(teams, traffic):
    alpha, bravo = teams.alpha, teams.bravo
    r = teams.api(alpha.member_token, "/api/v1/budgets", "POST",
                  json=budget("alpha-mini", "model:gpt-4o-mini", request_limit=1, hard=True))
    assert r.status_code == 201, r.text
    kwargs = dict(model="gpt-4o-mini", messages=HI)
    gpt(teams, alpha).chat.completions.create(**kwargs)
    with pytest.raises(openai.RateLimitError) as err:
        gpt(teams, alpha).chat.completions.create(**kwargs)
    assert "budget 'alpha-mini'" in err.value.message, err.value.message
    for _ in range(2):  # the same model, past alpha's limit: bravo's requests are not alpha's
        gpt(teams, bravo).chat.completions.create(**kwargs)


def test_a_tenant_without_a_credential_never_spends_anothers(teams, traffic, mock_server):
    alpha, bravo = teams.alpha, teams.bravo
    teams.cli("tenant", "create", "charlie")
    charlie_key = teams.made("key", "create", "--tenant", "charlie")["key"]
    teams.cli("credential", "delete", "--tenant", "bravo", "--provider", "anthropic")
    try:
        mock_server.clear()
        refusals = []
        # bravo's anthropic credential is gone (deleted while serving); charlie never had any.
        for key in (bravo.key, charlie_key):
            client = claude(teams, bravo, key=key, session="no-credential")
            with pytest.raises(anthropic.AuthenticationError) as err:
                ask(client, bravo)
            refusals.append(err.value)
            with pytest.raises(anthropic.AuthenticationError) as err:
                with client.messages.stream(model=CLAUDE, max_tokens=8, messages=HI) as s:
                    s.get_final_text()
            refusals.append(err.value)
        with pytest.raises(openai.AuthenticationError) as err:
            gpt(teams, bravo, key=charlie_key, session="no-credential").chat.completions.create(model=GPT, messages=HI)
        refusals.append(err.value)
        for e in refusals:
            teams.seen.append(("SDK error", f"{e} {e.body}"))
            assert e.status_code == 401 and "credential set" in e.message, e.message
        assert mock_server.requests() == [], "a request without its tenant's credential went upstream"
        # bravo's openai credential is untouched and is bravo's own.
        gpt(teams, bravo).chat.completions.create(model=GPT, messages=HI)
        (sent,) = mock_server.requests()
        assert sent["headers"]["authorization"] == f"Bearer {bravo.openai_key}"
    finally:
        teams.cli("credential", "set", "--tenant", "bravo", "--provider", "anthropic", stdin=f"{bravo.anthropic_key}\n")
    mock_server.clear()
    ask(claude(teams, bravo), bravo)
    (sent,) = mock_server.requests()
    assert sent["headers"]["x-api-key"] == bravo.anthropic_key
    assert alpha.anthropic_key not in json.dumps(sent)


def test_a_key_beside_the_clients_own_provider_key(teams, traffic, mock_server):
    """`X-Tokenwatch-Key` (SDK default_headers) beside the client's own key: that key goes
    upstream untouched, the event is the key's tenant's."""
    alpha, bravo = teams.alpha, teams.bravo
    own = teams.plant("sk-ant-BRAVO-OWN-client-key-6a1")
    client = anthropic.Anthropic(base_url=f"{teams.tw.url}/anthropic", api_key=own, max_retries=0,
                                 default_headers={"X-Tokenwatch-Key": bravo.key, "X-Tokenwatch-Session": "beside-bravo"})
    before = {t.name: len(teams.events(t.token)) for t in teams.tenants}
    mock_server.clear()
    ask(client, bravo)
    (sent,) = mock_server.requests()
    assert sent["headers"]["authorization"] == f"Bearer {own}", sent["headers"]
    for secret in (bravo.key, bravo.anthropic_key, alpha.anthropic_key):
        assert secret not in json.dumps(sent)
    newest = teams.wait_events(bravo.token, before["bravo"] + 1)[0]
    assert (newest["session_id"], newest["project"], newest["api_key_id"]) == ("beside-bravo", bravo.project, bravo.key_id)
    assert len(teams.events(alpha.token)) == before["alpha"]


class Live:
    """`GET /api/v1/stream` with a token, read on a thread into a queue of (event, data)."""

    def __init__(self, teams, token):
        self.teams, self.queue, self.got = teams, queue.Queue(), []
        self.client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
        self.request = self.client.stream("GET", f"{teams.tw.url}/api/v1/stream",
                                          headers={"authorization": f"Bearer {token}"})
        self.response = self.request.__enter__()
        assert self.response.status_code == 200, self.response.read()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        event = None
        try:
            for line in self.response.iter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:") and event:
                    self.queue.put((event, line.removeprefix("data:").strip()))
                    event = None
        except (httpx.HTTPError, httpx.StreamError):
            pass  # close() cut the connection
        self.queue.put(("closed", ""))

    def next(self, kind, timeout=10.0):
        """The data of the next message of `kind`; every message passed on the way is kept."""
        deadline = time.time() + timeout
        while True:
            try:
                event, data = self.queue.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                pytest.fail(f"no {kind} message within {timeout}s; got {self.got}")
            self.got.append((event, data))
            self.teams.seen.append(("GET /api/v1/stream", data))
            if event == kind:
                return data
            assert event != "closed", f"the stream ended while waiting for {kind}: {self.got}"

    def rest(self):
        while not self.queue.empty():
            self.got.append(self.queue.get())
        return self.got

    def close(self):
        self.request.__exit__(None, None, None)
        self.client.close()


def test_live_stream_shows_only_the_tokens_tenant(teams, traffic):
    alpha, bravo = teams.alpha, teams.bravo
    watch = {t.name: Live(teams, t.token) for t in teams.tenants}
    try:
        for w in watch.values():
            w.next("hello")
        ask(claude(teams, alpha, session="live-alpha"), alpha)
        # Alpha's own stream carries it (so it has been published) before bravo sends anything.
        assert json.loads(watch["alpha"].next("usage"))["session_id"] == "live-alpha"
        ask(claude(teams, bravo, session="live-bravo"), bravo)
        got = json.loads(watch["bravo"].next("usage"))
        assert (got["session_id"], got["project"]) == ("live-bravo", bravo.project)
        time.sleep(0.5)
        for t in teams.tenants:
            usage = [json.loads(d) for e, d in watch[t.name].rest() if e == "usage"]
            assert [u["session_id"] for u in usage] == [f"live-{t.name}"], usage
            for _, data in watch[t.name].got:
                assert_no_foreign(teams, t, "live stream", data)
                assert f"live-{teams.other(t).name}" not in data
    finally:
        for w in watch.values():
            w.close()


def test_a_revoked_key_is_refused_on_the_very_next_call(teams, traffic, mock_server):
    alpha = teams.alpha
    made = teams.made("key", "create", "--tenant", "alpha", "--project", alpha.project, "--name", "to-revoke")
    claude_client, gpt_client = claude(teams, alpha, key=made["key"]), gpt(teams, alpha, key=made["key"])
    ask(claude_client, alpha)
    gpt_client.chat.completions.create(model=GPT, messages=HI)
    teams.cli("key", "revoke", made["id"])
    mock_server.clear()
    with pytest.raises(anthropic.AuthenticationError) as err:
        ask(claude_client, alpha)
    assert err.value.status_code == 401 and "revoked" in err.value.message, err.value.message
    teams.seen.append(("SDK error", f"{err.value} {err.value.body}"))
    with pytest.raises(openai.AuthenticationError) as err:
        gpt_client.chat.completions.create(model=GPT, messages=HI)
    assert err.value.status_code == 401 and "revoked" in err.value.message, err.value.message
    teams.seen.append(("SDK error", f"{err.value} {err.value.body}"))
    assert mock_server.requests() == [], "a revoked key's request went upstream"
    ask(claude(teams, alpha), alpha)  # alpha's other key is untouched
    assert len(mock_server.requests()) == 1


def test_cli_refusals_do_not_echo_a_secret_read_from_stdin(teams):
    alpha = teams.alpha
    refused = [
        (("credential", "set", "--tenant", "nosuch", "--provider", "anthropic"), alpha.anthropic_key),
        (("user", "add", teams.user, "--tenant", "alpha", "--role", "viewer"), teams.password),
        (("user", "add", "new@alpha.example", "--tenant", "nosuch", "--role", "viewer"), teams.password),
    ]
    for args, secret in refused:
        r = teams.cli(*args, stdin=f"{secret}\n", ok=False)
        assert r.returncode != 0 and r.stderr.strip(), f"tokenwatch {args} was not refused: {r.stdout}"
        assert secret not in r.stdout + r.stderr, f"tokenwatch {' '.join(args)} printed the secret it read"


def test_cli_does_not_echo_a_secret_given_in_place_of_an_id(teams):
    for args, secret in ((("key", "revoke"), teams.alpha.key), (("token", "revoke"), teams.alpha.token)):
        # Not recorded in `seen`: this test's finding stays its own, not the scan's below.
        r = teams.cli(*args, secret, ok=False, record=False)
        assert r.returncode != 0, f"tokenwatch {' '.join(args)} accepted a secret as an id"
        assert secret not in r.stdout + r.stderr, f"tokenwatch {' '.join(args)} printed the secret it was given"


def scan_files(teams):
    """Every file beside the database (database, WAL, spill file, logs, key file); the bytes
    read, so a caller can check they hold the data at all."""
    read = b""
    for path in sorted(teams.dir.iterdir()):
        data = path.read_bytes()
        read += data
        for secret in teams.secrets:
            assert secret.encode() not in data, f"{secret} found in clear in {path.name}"
    return read


def test_no_secret_in_clear_anywhere(teams, traffic):
    tw, alpha = teams.tw, teams.alpha
    login = httpx.post(f"{tw.url}/api/v1/auth/login", json={"email": teams.user, "password": teams.password})
    assert login.status_code == 200, login.text
    teams.plant(login.cookies["tw_session"])
    teams.seen.append(("POST /api/v1/auth/login", login.text))
    r = httpx.get(f"{tw.url}/api/v1/events", cookies={"tw_session": login.cookies["tw_session"]})
    assert r.status_code == 200 and {e["session_id"] for e in r.json()["events"]} >= {alpha.session}, r.text
    assert_no_foreign(teams, alpha, "signed-in user's events", r.text)
    teams.seen.append(("GET /api/v1/events (cookie)", r.text))
    wrong = httpx.post(f"{tw.url}/api/v1/auth/login", json={"email": teams.user, "password": teams.password + "x"})
    assert wrong.status_code == 401
    teams.seen.append(("POST /api/v1/auth/login (wrong)", wrong.text))

    for path in ("/api/v1/keys", "/api/v1/tokens", "/api/v1/credentials", "/api/v1/users", "/api/v1/audit"):
        r = teams.api(teams.operator_token, path)
        assert r.status_code == 200, (path, r.text)
    api_csv = teams.api(teams.operator_token, "/api/v1/events", params={"format": "csv", "limit": 1000}).text
    exports = {
        "API CSV": api_csv,
        "tokenwatch export csv": teams.cli("export", "--format", "csv").stdout,
        "tokenwatch export json": teams.cli("export", "--format", "json").stdout,
    }
    for where, text in exports.items():
        assert alpha.session in text and teams.bravo.session in text, f"{where} does not hold the events"
    for args in (("key", "list", "--json"), ("token", "list", "--json"), ("credential", "list"),
                 ("user", "list"), ("audit", "--json"), ("events", "--json", "--last", "1000")):
        teams.cli(*args)

    assert tw.stderr.stat().st_size > 0, "debug logging is on, so the scan covers real log lines"
    for where, text in teams.seen:
        for secret in teams.secrets:
            assert secret not in text, f"{secret} found in clear in {where}"
    assert alpha.session.encode() in scan_files(teams), "the files read hold the recorded events"
    assert (teams.dir / "tw.db-wal").exists(), "the live scan covered the write-ahead log"
    # Again after a clean exit, which checkpoints the WAL into the database file.
    assert stop(tw) == 0, "clean shutdown"
    assert alpha.session.encode() in scan_files(teams)
