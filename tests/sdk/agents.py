"""Synthetic agent traffic whose truth is known by construction, driven through tokenwatch with
the official SDKs.

An agent is a script (a generator) that holds conversations: each `Conversation.say` sends one
turn, with the agent's `x-tokenwatch-agent` header and the usage the mock is told to report
(`x-mock-usage`), and records the `Turn` as sent: system components, tool definitions,
message texts, usage, streamed or not, and the upstream request id that finds its event. The
scripts run interleaved, one turn of each in turn (`drive`), so every rule has to pick its
agent's turns out of mixed traffic.

What tokenwatch should answer is worked out here without it: `expected_parts` cuts a turn's
input the documented way (each tool definition as compact JSON, each system component from
its `# Heading` on, the history as the earlier messages run together with nothing between
them, the last user turn), and `attribute` spreads the input cost over those parts: tokens in
proportion to characters in cache-prefix order, cache reads first, then 5-minute and 1-hour
writes, then uncached input, each share kept as an exact fraction and rounded by largest
remainder so the shares sum to the input cost.
"""

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from fractions import Fraction

from conftest import expected_cost_nanos, price_rates, usage_header

OPUS = "claude-opus-4-1"
SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"
GPT_MINI = "gpt-4o-mini"

# Token kinds on the input side, in the order the provider's cache prefix prices them.
PREFIX_ORDER = ("cache_read", "cache_write_5m", "cache_write_1h", "input")


@dataclass
class Turn:
    """One request as sent, and what the mock was told to report for it."""

    agent: str
    provider: str
    model: str
    conversation: str
    system: list  # [(component name, text)]
    tools: list  # tool definitions as sent
    texts: list  # message texts, user first, alternating, ending with the user turn
    usage: dict
    stream: bool
    request_id: str = ""
    event: dict = field(default_factory=dict)

    def tokens(self, kind):
        return self.usage.get(kind, 0)

    @property
    def prompt_tokens(self):
        return sum(self.tokens(k) for k in PREFIX_ORDER)

    @property
    def cost_nanos(self):
        return expected_cost_nanos(self.model, **{k: v for k, v in self.usage.items() if k != "reasoning"})

    @property
    def input_nanos(self):
        """Uncached input, cache reads and writes priced together, output left out."""
        return expected_cost_nanos(self.model, **{k: self.tokens(k) for k in PREFIX_ORDER})


def compact_json(value):
    """A tool definition as tokenwatch measures it: compact JSON. The definitions here have
    their keys in sorted order at every level, so the text is the same whether a parser keeps
    key order or sorts it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def text_hash(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def expected_parts(turn):
    """(kind, name, text) of each part of the turn's input, in cache-prefix order."""
    parts = [("tool", t["name"], compact_json(t)) for t in turn.tools]
    parts += [("system", name, text) for name, text in turn.system]
    if len(turn.texts) > 1:
        parts.append(("history", "history", "".join(turn.texts[:-1])))
    parts.append(("new_input", "new_input", turn.texts[-1]))
    return parts


def attribute(turn):
    """Each part's share of the turn's input cost (nano-USD), in `expected_parts` order."""
    chars = [len(text) for _, _, text in expected_parts(turn)]
    total_chars = sum(chars)
    rates = price_rates(turn.model, turn.prompt_tokens)
    nanos_per_token = {k: Fraction(rates[k] * 1000) for k in PREFIX_ORDER}
    exact, start = [], Fraction(0)
    for c in chars:
        end = start + Fraction(c * turn.prompt_tokens, total_chars)
        cost, tier_start = Fraction(0), 0
        for kind in PREFIX_ORDER:
            tier_end = tier_start + turn.tokens(kind)
            overlap = min(end, tier_end) - max(start, tier_start)
            if overlap > 0:
                cost += overlap * nanos_per_token[kind]
            tier_start = tier_end
        exact.append(cost)
        start = end
    target = turn.input_nanos
    assert sum(exact) == target, "every shipped price is whole nano-dollars per token"
    shares = [c.numerator // c.denominator for c in exact]
    left = target - sum(shares)
    assert 0 <= left <= len(shares)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


class Clients:
    """The SDK clients pointed at tokenwatch, and every turn sent so far."""

    def __init__(self, anthropic_client, openai_client):
        self.anthropic, self.openai = anthropic_client, openai_client
        self.turns = []
        self._labels = itertools.count(1)

    def label(self, agent):
        return f"{agent}#{next(self._labels)}"


class Conversation:
    """One conversation of an agent: the history grows by the user's text and the reply each
    turn; `restart` drops it and starts a new conversation."""

    def __init__(self, clients, agent, model, provider="anthropic", system=(), tools=()):
        self.clients, self.agent, self.model, self.provider = clients, agent, model, provider
        self.system, self.tools = list(system), list(tools)
        self.restart()

    def restart(self):
        self.texts = []
        self.label = self.clients.label(self.agent)

    def say(self, text, stream=False, **usage):
        self.texts.append(text)
        turn = Turn(self.agent, self.provider, self.model, self.label, list(self.system),
                    list(self.tools), list(self.texts), dict(usage), stream)
        send = send_anthropic if self.provider == "anthropic" else send_openai
        reply, turn.request_id = send(self.clients, turn)
        self.texts.append(reply)
        self.clients.turns.append(turn)
        return turn


def system_texts(turn):
    """The system prompt's texts as sent. Anthropic: one text block per component, as agents
    that cache their system prompt send it; tokenwatch joins blocks with a newline, so each
    component but the last ends where its block does. OpenAI: one system message."""
    texts = [text for _, text in turn.system]
    if turn.provider == "openai":
        return ["".join(texts)] if texts else []
    return [t.removesuffix("\n") for t in texts[:-1]] + texts[-1:]


def sent_chars(turn):
    """Characters of text the request carried: the system texts, the tool definitions (compact
    JSON) and the message texts, without the newlines that join system blocks into one prompt."""
    return (sum(len(t) for t in system_texts(turn)) + sum(len(compact_json(t)) for t in turn.tools)
            + sum(len(t) for t in turn.texts))


def headers(turn):
    return {"x-tokenwatch-agent": turn.agent, **usage_header(**turn.usage)}


def send_anthropic(clients, turn):
    """Sends the turn with the anthropic SDK; (reply text, request id)."""
    roles = itertools.cycle(("user", "assistant"))
    kwargs = dict(model=turn.model, max_tokens=1024, extra_headers=headers(turn),
                  messages=[{"role": r, "content": t} for r, t in zip(roles, turn.texts)])
    if turn.system:
        kwargs["system"] = [{"type": "text", "text": b} for b in system_texts(turn)]
        kwargs["system"][-1]["cache_control"] = {"type": "ephemeral"}
    if turn.tools:
        kwargs["tools"] = turn.tools
    if turn.stream:
        with clients.anthropic.messages.stream(**kwargs) as s:
            message = s.get_final_message()
            request_id = s.response.headers["request-id"]
    else:
        message = clients.anthropic.messages.create(**kwargs)
        request_id = message._request_id
    assert [b.type for b in message.content] == ["text"]
    return message.content[0].text, request_id


def send_openai(clients, turn):
    """Sends the turn with the openai SDK (Chat Completions); (reply text, request id)."""
    roles = itertools.cycle(("user", "assistant"))
    messages = [{"role": "system", "content": t} for t in system_texts(turn)]
    messages += [{"role": r, "content": t} for r, t in zip(roles, turn.texts)]
    kwargs = dict(model=turn.model, messages=messages, extra_headers=headers(turn))
    if turn.tools:
        kwargs["tools"] = turn.tools
    if turn.stream:
        stream = clients.openai.chat.completions.create(stream=True, **kwargs)
        reply = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        return reply, stream.response.headers["x-request-id"]
    completion = clients.openai.chat.completions.create(**kwargs)
    return completion.choices[0].message.content, completion._request_id


# ── the agents ──

TRIAGE_QUESTIONS = [f"Is ticket {n} a bug, a feature request or a question?" for n in range(4101, 4113)]


def triage_opus(c):
    """Opus for one-line answers: 12 single-turn questions, 1,000 tokens in and 100 out each,
    no tools, no system prompt."""
    for i, q in enumerate(TRIAGE_QUESTIONS):
        yield Conversation(c, "triage-opus", OPUS).say(q, stream=i % 3 == 2, input=1000, output=100)


AGENTS_MD = "# AGENTS.md\nRun the tests before every commit. Never push to main.\n"
STYLE_MD = "# STYLE.md\nSmall functions, early returns, no unwrap in library code."
STYLE_MD_EDITED = STYLE_MD + " Comments say why, never what; every public item has a doc comment."
CACHE_TURNS = 12
CACHE_EDIT_AT = 6  # turns before STYLE.md changes


def coder_sonnet(c):
    """Sonnet with an `# AGENTS.md` and a `# STYLE.md` component, one conversation of 12 turns:
    the first 6 read 9,000 tokens from the cache; then STYLE.md's text changes (grows) and the
    next 6 write those 9,000 tokens again instead (5-minute cache, nothing read)."""
    conv = Conversation(c, "coder-sonnet", SONNET, system=[("AGENTS.md", AGENTS_MD), ("STYLE.md", STYLE_MD)])
    for i in range(CACHE_TURNS):
        if i == CACHE_EDIT_AT:
            conv.system[1] = ("STYLE.md", STYLE_MD_EDITED)
        cache = dict(cache_read=9000) if i < CACHE_EDIT_AT else dict(cache_write_5m=9000)
        yield conv.say(f"Step {i + 1}: refactor the next module.", stream=i % 3 == 2,
                       input=1000, output=50, **cache)


def tool(i):
    """Tool definition `i` of 40, keys sorted at every level, descriptions of varied length."""
    return {
        "description": f"Tool {i} of the toolbox. " + "It does one narrow thing. " * (1 + i % 7),
        "input_schema": {"properties": {"path": {"type": "string"}}, "required": ["path"], "type": "object"},
        "name": f"tool_{i:02d}",
    }


TOOLS = [tool(i) for i in range(40)]
TOOLBOX_TURNS = 20


def toolbox(c):
    """40 tool definitions offered on each of 20 turns of one conversation (the mock never
    calls a tool); 8,000 of the 10,000 prompt tokens read from the cache; 400 tokens out."""
    conv = Conversation(c, "toolbox", SONNET, tools=TOOLS)
    for i in range(TOOLBOX_TURNS):
        yield conv.say(f"Task {i + 1}: look around the repository.", stream=i % 3 == 2,
                       input=2000, cache_read=8000, output=400)


PLAN = "Plan the release."


def planners(c):
    """`planner` (haiku) grows a conversation for 5 turns, then starts it again with the same
    first message and grows it for 3; between them `planner` also holds a second thread (its own
    first message) and `planner-gpt` (gpt-4o-mini, Chat Completions) a conversation that opens
    with the very same first message."""
    plan = Conversation(c, "planner", HAIKU)
    other_thread = Conversation(c, "planner", HAIKU)
    gpt = Conversation(c, "planner-gpt", GPT_MINI, provider="openai",
                       system=[("preamble", "You plan releases.\n")])

    def step_plan(k, stream=False):
        return plan.say(PLAN if k == 1 else f"Go on with item {k}.", stream=stream, input=500 * k, output=80)

    def step_gpt(k, stream=False):
        return gpt.say(PLAN if k == 1 else f"And item {k}?", stream=stream,
                       input=300 * k, cache_read=1024 if k > 1 else 0, output=60)

    yield step_plan(1)
    yield step_plan(2, stream=True)
    yield step_gpt(1)
    yield other_thread.say("Summarise the incident.", input=700, output=90)
    yield step_plan(3)
    yield step_gpt(2, stream=True)
    yield step_plan(4)
    yield other_thread.say("Shorter, please.", stream=True, input=900, output=40)
    yield step_plan(5)
    yield step_gpt(3)
    plan.restart()
    for k in (1, 2, 3):
        yield step_plan(k, stream=k == 3)


AGENTS = (triage_opus, coder_sonnet, toolbox, planners)


def drive(clients, agents=AGENTS):
    """Runs the agents' scripts interleaved, one turn of each in turn, until all are done; the
    turns in the order they were sent."""
    running = [agent(clients) for agent in agents]
    while running:
        for script in list(running):
            if next(script, None) is None:
                running.remove(script)
    return clients.turns

