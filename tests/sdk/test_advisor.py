"""The advisor on synthetic agent traffic sent with the official SDKs, where every answer is
known by construction (tests/sdk/agents.py drives the agents and works out what each part of
each prompt costs without tokenwatch).

The agents run interleaved through one tokenwatch: `triage-opus` (short answers on Opus),
`coder-sonnet` (a system prompt whose STYLE.md changes halfway, breaking the cache),
`toolbox` (40 tool definitions, none ever called), and `planner`/`planner-gpt` (conversations
that grow, restart and interleave). Recommendations are read over `days=1`, a window of exactly
86,400,000 ms, so a saving a month is the window's saving × 30 with no remainder.

Tests on a tokenwatch of their own prove the rest on smaller scripts: a system prompt edit never
splits a session, two threads opening alike part at their second turn, a change within the first
five turns is a cache breakage, and a paused agent is refused with each SDK's own 403.
"""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import anthropic
import httpx
import openai
import pytest

from agents import (
    CACHE_EDIT_AT, GPT_MINI, HAIKU, OPUS, PLAN, PREFIX_ORDER, SONNET, TOOLBOX_TURNS, TOOLS, Clients, Conversation,
    attribute, drive, expected_parts, sent_chars, text_hash,
)
from conftest import ANTHROPIC_KEY, OPENAI_KEY, expected_cost_nanos, serve, stop, usage_header

MONTH = 30  # days=1: 30 × 86,400,000 ms / 86,400,000 ms
# What coder-sonnet's 6 turns after STYLE.md changed paid for the 9,000 tokens each wrote to
# the 5-minute cache instead of reading them: the write rate less the read rate, in nanos.
CACHE_BREAK_SAVING = 6 * 9000 * (3_750 - 300)


def pct(part, whole):
    """A share in percent, rounded half-up to one decimal."""
    return float((Decimal(part * 100) / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def micros(nanos):
    """Nano-USD rounded half-up to micro-USD."""
    return int((Decimal(nanos) / 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def get(tw, path, **params):
    r = httpx.get(f"{tw.url}{path}", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def sdk_clients(tw):
    return Clients(
        anthropic.Anthropic(base_url=f"{tw.url}/anthropic", api_key=ANTHROPIC_KEY, max_retries=0),
        openai.OpenAI(base_url=f"{tw.url}/openai/v1", api_key=OPENAI_KEY, max_retries=0),
    )


@pytest.fixture(scope="module")
def turns(tw):
    """Every agent's turns as sent, each with its event's detail (`GET /api/v1/events/{id}`)."""
    before = tw.count()
    sent = drive(sdk_clients(tw))
    by_request = {e["upstream_request_id"]: e for e in tw.wait_new(before, len(sent))}
    for turn in sent:
        turn.event = get(tw, f"/api/v1/events/{by_request[turn.request_id]['id']}")
    return sent


@pytest.fixture(scope="module")
def advice(tw, turns):
    return get(tw, "/api/v1/recommendations", days=1)


def of(turns, agent):
    return [t for t in turns if t.agent == agent]


def ids(turns):
    return [t.event["id"] for t in turns]


def test_every_turn_is_recorded_as_sent(turns):
    assert len(turns) == 12 + 12 + 20 + 13
    for t in turns:
        e = t.event
        assert (e["agent"], e["provider"], e["model"], e["streamed"]) == (t.agent, t.provider, t.model, t.stream)
        assert (e["status"], e["tools_used"], e["tools_offered"]) == ("ok", [], len(t.tools))
        assert {k: e[f"{k}_tokens"] for k in (*PREFIX_ORDER, "output")} == {k: t.tokens(k) for k in (*PREFIX_ORDER, "output")}
        assert e["cost_nanos"] == t.cost_nanos
    assert sum(t.stream for t in turns) == 4 + 4 + 6 + 4
    assert {(t.provider, t.model) for t in turns} == {
        ("anthropic", OPUS), ("anthropic", SONNET), ("anthropic", HAIKU), ("openai", GPT_MINI)}


def test_every_part_costs_its_exact_share_and_the_shares_sum_to_the_input_cost(turns):
    """Streamed or not, on either SDK: the parts are the ones sent, with their sizes and hashes,
    each costs the share worked out here, and the shares sum to the input side of the cost."""
    for t in turns:
        want = [(kind, name, len(text), text_hash(text), share)
                for (kind, name, text), share in zip(expected_parts(t), attribute(t))]
        got = [(p["kind"], p["name"], p["chars"], p["hash"], p["cost_nanos"]) for p in t.event["prompt_parts"]]
        assert got == want, f"{t.agent} turn {t.request_id}"
        assert sum(p["cost_nanos"] for p in t.event["prompt_parts"]) == t.event["input_side_nanos"] == t.input_nanos
    # The input costs by hand: Opus $15/M input; Sonnet $3/M input, $0.30/M cache read,
    # $3.75/M 5-minute write.
    assert {t.input_nanos for t in of(turns, "triage-opus")} == {1000 * 15_000}
    sonnet = of(turns, "coder-sonnet")
    assert {t.input_nanos for t in sonnet[:CACHE_EDIT_AT]} == {1000 * 3_000 + 9000 * 300}
    assert {t.input_nanos for t in sonnet[CACHE_EDIT_AT:]} == {1000 * 3_000 + 9000 * 3_750}


def test_derived_sessions_follow_each_conversation_through_the_interleaving(tw, turns):
    """No session header is sent: every conversation of the script (an agent's thread, until its
    history drops) is exactly one derived session, however the agents interleave."""
    want, got = defaultdict(list), defaultdict(list)
    for t in turns:
        want[t.conversation].append(t.request_id)
        got[t.event["session_id"]].append(t.request_id)
    assert all(s.startswith("auto-") for s in got)
    assert sorted(got.values()) == sorted(want.values())
    assert len(got) == 12 + 1 + 1 + 4

    planner = of(turns, "planner")
    plan_sessions = list(dict.fromkeys(t.event["session_id"] for t in planner if t.texts[0] == PLAN))
    assert [len([t for t in planner if t.event["session_id"] == s]) for s in plan_sessions] == [5, 3]
    gpt = of(turns, "planner-gpt")
    assert gpt[0].texts[0] == PLAN and gpt[0].event["session_id"] not in plan_sessions

    for session, request_ids in got.items():
        mine = [t for t in turns if t.request_id in request_ids]
        timeline = get(tw, f"/api/v1/sessions/{session}/timeline")
        assert [x["event_id"] for x in timeline["turns"]] == ids(mine)
        cumulative = 0
        for x, t in zip(timeline["turns"], mine):
            cumulative += t.cost_nanos
            assert (x["model"], x["cost_nanos"], x["cumulative_nanos"]) == (t.model, t.cost_nanos, cumulative)
            assert (x["context_tokens"], x["output_tokens"]) == (t.prompt_tokens, t.tokens("output"))
            assert x["cache_hit_pct"] == pct(t.tokens("cache_read"), t.prompt_tokens)
            assert x["context_chars"] == sent_chars(t)
        assert timeline["cost_nanos"] == cumulative
    # 5 turns of 500·k tokens in, 80 out on haiku ($1/M in, $5/M out): the last costs 2,900,000
    # nanos against a median of 1,400,000 for the first three, 2×: steady.
    first = get(tw, f"/api/v1/sessions/{plan_sessions[0]}/timeline")
    assert first["health"] == {"state": "healthy", "reason": "context is 1% of the model's window, cost per turn steady"}


def test_a_sonnet_session_whose_cache_broke_should_be_compacted(tw, turns):
    sonnet = of(turns, "coder-sonnet")
    timeline = get(tw, f"/api/v1/sessions/{sonnet[0].event['session_id']}/timeline")
    assert [x["event_id"] for x in timeline["turns"]] == ids(sonnet)
    assert [x["cache_hit_pct"] for x in timeline["turns"]] == [90.0] * 6 + [0.0] * 6
    # 37,500,000 nanos a turn after the break against 6,450,000 before: 5× (integer ratio).
    assert timeline["health"] == {
        "state": "compact_soon",
        "reason": "a turn now costs 5× the session's first turns: compact the history soon",
    }


def test_short_opus_answers_are_exactly_one_switch_to_haiku(turns, advice):
    opus = of(turns, "triage-opus")
    (rec,) = [r for r in advice["recommendations"] if r["agent"] == "triage-opus"]
    assert (rec["kind"], rec["title"]) == (
        "model_switch", f"Move triage-opus's short answers from {OPUS} to {HAIKU}")
    # Per turn: 1,000 × $15/M + 100 × $75/M = $0.0225 on Opus, 1,000 × $1/M + 100 × $5/M =
    # $0.0015 on Haiku: $0.021 saved, 21,000 micro-dollars.
    assert rec["savings_micros_per_month"] == 12 * 21_000 * MONTH == 7_560_000
    assert rec["savings_nanos_per_month"] == 12 * (expected_cost_nanos(OPUS, input=1000, output=100)
                                                    - expected_cost_nanos(HAIKU, input=1000, output=100)) * MONTH
    assert (rec["events"], sorted(rec["event_ids"])) == (12, sorted(ids(opus)))


def test_the_changed_style_md_is_the_one_cache_breakage(turns, advice):
    sonnet = of(turns, "coder-sonnet")
    (rec,) = [r for r in advice["recommendations"] if r["kind"] == "cache_breakage"]
    assert (rec["agent"], rec["title"]) == ("coder-sonnet", 'Keep coder-sonnet\'s prompt component "STYLE.md" stable')
    assert rec["evidence"].endswith("coder-sonnet's cache hit rate fell from 90% to 0% over the next 5 turns")
    # Before the change 90% of each turn's 10,000 prompt tokens were read from the cache; after
    # it the 9,000 tokens no longer read were written to the 5-minute cache instead, so each of
    # the 6 later turns paid the write rate less the read rate on them ($3.75/M − $0.30/M =
    # 3,450 nanos a token).
    assert rec["savings_nanos_per_month"] == CACHE_BREAK_SAVING * MONTH == 5_589_000_000
    assert (rec["events"], rec["event_ids"]) == (6, ids(sonnet[CACHE_EDIT_AT:]))


def test_forty_tools_never_called_are_all_trimmed(turns, advice):
    toolbox = of(turns, "toolbox")
    (rec,) = [r for r in advice["recommendations"] if r["agent"] == "toolbox"]
    assert (rec["kind"], rec["title"]) == ("prompt_trim", "Stop sending 40 unused tool definitions with toolbox")
    from_events = sum(p["cost_nanos"] for t in toolbox for p in t.event["prompt_parts"] if p["kind"] == "tool")
    by_hand = sum(sum(attribute(t)[:len(TOOLS)]) for t in toolbox)
    assert from_events == by_hand
    assert rec["savings_nanos_per_month"] == by_hand * MONTH
    names = ", ".join(f"tool_{i:02d}" for i in range(8))
    assert rec["evidence"].startswith(f"40 tools were offered on up to 20 turns and used in at most 10% of them ({names}, …)")
    assert (rec["events"], rec["event_ids"]) == (TOOLBOX_TURNS, ids(toolbox))


def session_lifecycle_saving(session):
    """What starting afresh saves once a turn costs 3× the median of the first three."""
    base = sorted(t.cost_nanos for t in session[:3])[1]
    late = next(i for i, t in enumerate(session) if t.cost_nanos >= 3 * base)
    return sum(t.cost_nanos - base for t in session[late:])


def test_the_whole_list_is_what_the_traffic_was_built_to_show(turns, advice):
    """Every recommendation, and nothing else: the two model switches (Sonnet's short turns too,
    re-priced at Haiku's cache rates), the cache breakage, the trim, and the Sonnet session that
    ran on at 5.8× its first turns' cost. The breakage and the session saving are one amount by
    construction (each later turn cost exactly its 9,000 cache writes' premium over reads more
    than the first turns), so their order is the documented tie-break: the id."""
    sonnet = of(turns, "coder-sonnet")
    sonnet_switch = sum(t.cost_nanos - expected_cost_nanos(HAIKU, **t.usage) for t in sonnet)
    assert sonnet_switch == 6 * (6_450_000 - 2_150_000) + 6 * (37_500_000 - 12_500_000)
    assert session_lifecycle_saving(sonnet) == 6 * (37_500_000 - 6_450_000)
    trim = sum(sum(attribute(t)[:len(TOOLS)]) for t in of(turns, "toolbox"))
    # Ids are the kind and a hash of what the finding is about, so a dismissal sticks to it.
    tools = ",".join(t["name"] for t in TOOLS)
    changed_ms = sonnet[CACHE_EDIT_AT].event["ts_ms"]
    want = [
        ("model_switch", "triage-opus", 12 * 21_000_000 * MONTH, f"triage-opus|anthropic|{OPUS}"),
        ("session_lifecycle", None, session_lifecycle_saving(sonnet) * MONTH, "all"),
        ("model_switch", "coder-sonnet", sonnet_switch * MONTH, f"coder-sonnet|anthropic|{SONNET}"),
        ("cache_breakage", "coder-sonnet", CACHE_BREAK_SAVING * MONTH, f"coder-sonnet|STYLE.md|{changed_ms}"),
        ("prompt_trim", "toolbox", trim * MONTH, f"toolbox|{tools}"),
    ]
    assert session_lifecycle_saving(sonnet) == CACHE_BREAK_SAVING
    want = sorted(((kind, agent, saving, f"{kind}:{text_hash(subject)[:12]}") for kind, agent, saving, subject in want),
                  key=lambda r: (-r[2], r[3]))
    got = [(r["kind"], r["agent"], r["savings_nanos_per_month"], r["id"]) for r in advice["recommendations"]]
    assert got == want
    assert [(r["status"], r["savings_micros_per_month"]) for r in advice["recommendations"]] == [
        ("open", micros(r[2])) for r in want]
    assert advice["open_savings_nanos_per_month"] == sum(r[2] for r in want)
    assert advice["events_read"] == len(turns)


def test_prompt_costs_sum_each_part_over_the_window(tw, turns):
    want = defaultdict(lambda: {"turns": 0, "chars": [], "cost": 0, "hashes": set()})
    for t in turns:
        for (kind, name, text), share in zip(expected_parts(t), attribute(t)):
            row = want[(t.agent, kind, name)]
            row["turns"] += 1
            row["chars"].append(len(text))
            row["cost"] += share
            row["hashes"].add(text_hash(text))
    costs = get(tw, "/api/v1/prompt-costs", since="1d")
    got = {(p["agent"], p["kind"], p["name"]): (p["turns"], p["min_chars"], p["max_chars"], p["cost_nanos"], p["versions"])
           for p in costs["parts"]}
    assert got == {k: (r["turns"], min(r["chars"]), max(r["chars"]), r["cost"], len(r["hashes"])) for k, r in want.items()}
    assert got[("coder-sonnet", "system", "STYLE.md")][4] == 2
    assert got[("coder-sonnet", "system", "AGENTS.md")][4] == 1
    assert costs["input_cost_nanos"] == sum(t.input_nanos for t in turns)
    assert [p["cost_nanos"] for p in costs["parts"]] == sorted((p["cost_nanos"] for p in costs["parts"]), reverse=True)


@pytest.fixture
def own_tw(mock_server, tmp_path):
    """A tokenwatch of the test's own, so its traffic stays out of the window above."""
    tw = serve(mock_server, tmp_path)
    yield tw
    stop(tw)


def sessions_of(tw, turns):
    """Each turn's derived session, in the order the turns were sent."""
    by_request = {e["upstream_request_id"]: e["session_id"] for e in tw.wait_new(0, len(turns))}
    return [by_request[t.request_id] for t in turns]


@pytest.mark.proxy
def test_a_shorter_system_prompt_does_not_end_the_conversation(own_tw):
    """The system prompt is no part of what tells conversations apart: cutting it from 1,513
    characters to 27 while the history grows keeps the one session."""
    clients = sdk_clients(own_tw)
    conv = Conversation(clients, "shrinking", HAIKU, system=[("AGENTS.md", "# AGENTS.md\n" + "Run the tests. " * 100 + "\n")])
    conv.say("Start.", input=100, output=10)
    conv.say("Next.", input=100, output=10)
    conv.system[0] = ("AGENTS.md", "# AGENTS.md\nRun the tests.\n")
    conv.say("Last.", input=100, output=10)
    (session,) = set(sessions_of(own_tw, clients.turns))
    timeline = get(own_tw, f"/api/v1/sessions/{session}/timeline")
    assert [x["context_chars"] for x in timeline["turns"]] == [sent_chars(t) for t in clients.turns]


@pytest.mark.proxy
def test_two_threads_opening_alike_share_their_first_turn_and_part_at_their_second(own_tw):
    """Two threads of one agent whose first messages are the same are one conversation until
    their histories differ: thread B's first turn joins thread A's session, its second starts
    its own, and each keeps its own from then on, interleaved."""
    clients = sdk_clients(own_tw)
    a = Conversation(clients, "twins", HAIKU)
    b = Conversation(clients, "twins", HAIKU)
    a.say("Hello.", input=100, output=10)
    b.say("Hello.", input=100, output=10)
    a.say("Fix the build.", input=200, output=10)
    b.say("Write the changelog.", stream=True, input=200, output=10)
    a.say("Now the tests.", input=300, output=10)
    b.say("Shorter.", input=300, output=10)
    sessions = sessions_of(own_tw, clients.turns)
    first, second = sessions[0], sessions[3]
    assert first != second and first.startswith("auto-") and second.startswith("auto-")
    assert sessions == [first, first, first, second, first, second]
    turns = clients.turns
    for session, mine in ((first, [turns[i] for i in (0, 1, 2, 4)]), (second, [turns[3], turns[5]])):
        timeline = get(own_tw, f"/api/v1/sessions/{session}/timeline")
        assert [x["context_tokens"] for x in timeline["turns"]] == [t.prompt_tokens for t in mine]
        assert timeline["cost_nanos"] == sum(t.cost_nanos for t in mine)


@pytest.mark.proxy
def test_a_component_changed_within_the_first_five_turns_is_a_cache_breakage(own_tw):
    """The turns before a change are compared however few: RULES.md changes at the third turn,
    after two that read 90% from the cache, and the three after it write those tokens again."""
    clients = sdk_clients(own_tw)
    conv = Conversation(clients, "early-break", SONNET, system=[("RULES.md", "# RULES.md\nBe brief.")])
    for i in range(5):
        if i == 2:
            conv.system[0] = ("RULES.md", "# RULES.md\nBe brief, and cite the file.")
        cache = dict(cache_read=9000) if i < 2 else dict(cache_write_5m=9000)
        conv.say(f"Question {i + 1}.", input=1000, output=500, **cache)
    turns = clients.turns
    events = {e["upstream_request_id"]: e for e in own_tw.wait_new(0, len(turns))}
    advice = get(own_tw, "/api/v1/recommendations", days=1)
    (rec,) = [r for r in advice["recommendations"] if r["kind"] == "cache_breakage"]
    assert (rec["agent"], rec["title"]) == ("early-break", 'Keep early-break\'s prompt component "RULES.md" stable')
    assert rec["evidence"].endswith("early-break's cache hit rate fell from 90% to 0% over the next 3 turns")
    # 3 turns each wrote 9,000 tokens to the 5-minute cache that the turns before read:
    # $3.75/M − $0.30/M = 3,450 nanos a token.
    assert rec["savings_nanos_per_month"] == 3 * 9000 * (3_750 - 300) * MONTH == 2_794_500_000
    assert (rec["events"], rec["event_ids"]) == (3, [events[t.request_id]["id"] for t in turns[2:]])


@pytest.mark.proxy
def test_a_paused_agent_gets_the_providers_403_from_both_sdks_until_resumed(own_tw, mock_server):
    """Pausing an agent from the API refuses its turns before they reach the upstream: the
    anthropic SDK (plain and streamed) and the openai SDK raise their own PermissionDeniedError
    with tokenwatch's message; another agent on the same key goes through; each refusal is
    recorded; resuming lets the agent through again."""
    agent, reason = "night-batch", "over its weekly spend"
    api = f"{own_tw.url}/api/v1/guard"
    r = httpx.put(f"{api}/agents/{agent}", json={"reason": reason}, timeout=30)
    assert (r.status_code, r.json()) == (200, {"kind": "agent", "subject": agent, "stopped": True})
    assert get(own_tw, "/api/v1/guard") == {
        "controls": [{"tenant": "default", "kind": "agent", "subject": agent, "reason": reason}], "rules": []}

    clients = sdk_clients(own_tw)
    message = (f"tokenwatch: agent '{agent}' is paused ({reason}); resume it in the dashboard or with "
               f"`tokenwatch guard resume {agent}`")
    usage = {"x-tokenwatch-agent": agent, **usage_header(input=100, output=10)}
    ask_claude = dict(model=HAIKU, max_tokens=64, messages=[{"role": "user", "content": "Nightly report."}],
                      extra_headers=usage)
    ask_gpt = dict(model=GPT_MINI, messages=[{"role": "user", "content": "Nightly report."}], extra_headers=usage)
    upstream_before = len(mock_server.requests())

    with pytest.raises(anthropic.PermissionDeniedError) as err:
        clients.anthropic.messages.create(**ask_claude)
    assert err.value.status_code == 403
    assert err.value.body == {"type": "error", "error": {"type": "permission_error", "message": message}}
    with pytest.raises(anthropic.PermissionDeniedError) as err:
        with clients.anthropic.messages.stream(**ask_claude) as s:
            s.get_final_message()
    assert (err.value.status_code, err.value.body["error"]["message"]) == (403, message)
    with pytest.raises(openai.PermissionDeniedError) as err:
        clients.openai.chat.completions.create(**ask_gpt)
    assert (err.value.status_code, err.value.body["message"]) == (403, message)
    other = clients.anthropic.messages.create(**{
        **ask_claude, "extra_headers": {**usage, "x-tokenwatch-agent": "day-batch"}})
    assert len(mock_server.requests()) == upstream_before + 1

    recorded = own_tw.wait_new(0, 4)[::-1]
    assert [(e["agent"], e["provider"], e["model"], e["status"], e["http_status"], e["error_type"],
             e["requests"], e["input_tokens"], e["output_tokens"], e["cost_nanos"]) for e in recorded] == [
        (agent, "anthropic", HAIKU, "refused", 403, "agent_paused", 0, 0, 0, 0),
        (agent, "anthropic", HAIKU, "refused", 403, "agent_paused", 0, 0, 0, 0),
        (agent, "openai", GPT_MINI, "refused", 403, "agent_paused", 0, 0, 0, 0),
        ("day-batch", "anthropic", HAIKU, "ok", 200, None, 1, 100, 10, expected_cost_nanos(HAIKU, input=100, output=10)),
    ]
    assert recorded[3]["upstream_request_id"] == other._request_id

    r = httpx.delete(f"{api}/agents/{agent}", timeout=30)
    assert (r.status_code, r.json()) == (200, {"kind": "agent", "subject": agent, "stopped": False, "changed": True})
    assert get(own_tw, "/api/v1/guard") == {"controls": [], "rules": []}
    reply = clients.anthropic.messages.create(**ask_claude)
    completion = clients.openai.chat.completions.create(**ask_gpt)
    assert len(mock_server.requests()) == upstream_before + 3
    resumed = own_tw.wait_new(4, 2)[::-1]
    assert [(e["upstream_request_id"], e["agent"], e["status"], e["http_status"], e["cost_nanos"]) for e in resumed] == [
        (reply._request_id, agent, "ok", 200, expected_cost_nanos(HAIKU, input=100, output=10)),
        (completion._request_id, agent, "ok", 200, expected_cost_nanos(GPT_MINI, input=100, output=10)),
    ]
