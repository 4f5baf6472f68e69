//! The advisor through the real binary and the provider mock: sessions derived without a
//! header for interleaved conversations of two agents, prompt parts whose costs sum to each
//! event's input cost to the nano-dollar, a session's timeline with its health, and prompt
//! costs per part from the API and the CLI.

use serde_json::{Value, json};

use crate::harness::{Server, ServerOptions, get, parse_response, post, raw, run_cli, start_mock};

fn server_on(mock: &str) -> Server {
    Server::start_with(ServerOptions {
        env: vec![("TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL", mock.to_owned())],
        db: None,
    })
}

const SYSTEM: &str = "You are a careful coding agent.\n# AGENTS.md\nRun the tests before you answer.\n<env>\ncwd: /work\n</env>\n";

/// The messages of a conversation that began with `first` and has had `turns` user turns.
fn conversation(first: &str, turns: usize) -> Vec<Value> {
    let mut messages = vec![json!({"role": "user", "content": first})];
    for i in 1..turns {
        messages.push(json!({"role": "assistant", "content": format!("answer {i}")}));
        messages.push(json!({"role": "user", "content": format!("follow-up {i}")}));
    }
    messages
}

/// POSTs a Messages `body` with `headers` (and a JSON content type); status and body.
async fn post_messages(server: &Server, headers: &[(&str, &str)], body: &Value) -> (u16, String) {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let body = body.to_string();
    let resp = raw(
        &server.addr,
        &post("/anthropic/v1/messages", &all, body.as_bytes()),
    )
    .await;
    let (status, _, out) = parse_response(&resp);
    (status, String::from_utf8_lossy(&out).into_owned())
}

/// One Messages request as `key`, with exact usage from the mock.
async fn send(server: &Server, key: &str, messages: Vec<Value>, usage: &str) {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "system": SYSTEM,
        "tools": [
            {"name": "grep", "description": "search files", "input_schema": {"type": "object"}},
            {"name": "edit", "description": "edit a file", "input_schema": {"type": "object"}},
        ],
        "messages": messages,
    });
    let headers = [
        ("x-api-key", key),
        ("anthropic-version", "2023-06-01"),
        ("x-mock-usage", usage),
    ];
    let (status, out) = post_messages(server, &headers, &body).await;
    assert_eq!(status, 200, "{out}");
}

async fn get_json(server: &Server, path: &str) -> Value {
    let (status, body) = get(&server.addr, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn sessions_are_derived_and_prompt_parts_cost_exactly_the_input() {
    let mock = start_mock().await;
    let server = server_on(&mock);
    let usage = "input=400,output=20,cache_read=600";
    // Agent A's conversation, agent B's with the same first message, interleaved; then A
    // starts over (its history drops back to one message).
    send(
        &server,
        "sk-ant-agent-a",
        conversation("fix the build", 1),
        usage,
    )
    .await;
    send(
        &server,
        "sk-ant-agent-b",
        conversation("fix the build", 1),
        usage,
    )
    .await;
    send(
        &server,
        "sk-ant-agent-a",
        conversation("fix the build", 2),
        usage,
    )
    .await;
    send(
        &server,
        "sk-ant-agent-b",
        conversation("fix the build", 2),
        usage,
    )
    .await;
    send(
        &server,
        "sk-ant-agent-a",
        conversation("fix the build", 3),
        usage,
    )
    .await;
    send(
        &server,
        "sk-ant-agent-a",
        conversation("fix the build", 1),
        usage,
    )
    .await;
    let mut events = server.wait_events(6).await;
    events.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let sessions: Vec<&str> = events
        .iter()
        .map(|e| e["session_id"].as_str().unwrap())
        .collect();
    assert!(
        sessions.iter().all(|s| s.starts_with("auto-")),
        "{sessions:?}"
    );
    let (a1, b1, a2, b2, a3, a_new) = (
        sessions[0],
        sessions[1],
        sessions[2],
        sessions[3],
        sessions[4],
        sessions[5],
    );
    assert_eq!((a1, a1), (a2, a3), "agent A's turns share a session");
    assert_eq!(b1, b2, "agent B's turns share a session");
    assert_ne!(a1, b1, "two agents never share a session");
    assert_ne!(a_new, a1, "a history that drops starts a new session");

    // Every event's parts: in cache-prefix order, summing to its input-side cost exactly.
    for e in &events {
        let id = e["id"].as_str().unwrap();
        let detail = get_json(&server, &format!("/api/v1/events/{id}")).await;
        let parts = detail["prompt_parts"].as_array().unwrap();
        let names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(
            &names[..5],
            ["grep", "edit", "preamble", "AGENTS.md", "<env>"],
            "{names:?}"
        );
        assert_eq!(*names.last().unwrap(), "new_input");
        let sum: i64 = parts
            .iter()
            .map(|p| p["cost_nanos"].as_i64().unwrap())
            .sum();
        // 400 uncached × $3/M + 600 cache reads × $0.30/M = 1,200,000 + 180,000 nanos.
        assert_eq!(detail["input_side_nanos"], 1_380_000);
        assert_eq!(sum, 1_380_000, "{parts:#?}");
        assert!(
            !detail.to_string().contains("Run the tests"),
            "no prompt text is stored or shown"
        );
    }

    // The timeline of A's first session: three turns, a running total, a health verdict.
    let timeline = get_json(&server, &format!("/api/v1/sessions/{a1}/timeline")).await;
    let turns = timeline["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 3);
    let each = turns[0]["cost_nanos"].as_i64().unwrap();
    assert_eq!(turns[2]["cumulative_nanos"].as_i64().unwrap(), 3 * each);
    assert_eq!(turns[0]["context_tokens"], 1000);
    assert_eq!(turns[0]["context_window"], 200_000);
    assert_eq!(turns[0]["cache_hit_pct"], 60.0);
    assert_eq!(timeline["health"]["state"], "healthy");
    let list = get_json(&server, "/api/v1/sessions?since=1h").await;
    let row = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["session"] == a1)
        .unwrap_or_else(|| panic!("{a1} not listed: {list}"));
    assert_eq!(
        row["health"]["state"], "healthy",
        "a live session shows its health"
    );
    let (status, _) = get(&server.addr, "/api/v1/sessions/no-such-session/timeline").await;
    assert_eq!(status, 404);

    // Prompt costs: each tool sent six times; history cost only where there was history.
    let costs = get_json(&server, "/api/v1/prompt-costs?since=1h").await;
    let parts = costs["parts"].as_array().unwrap();
    let part = |name: &str| {
        parts
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no part {name} in {costs}"))
    };
    assert_eq!(part("grep")["turns"], 6);
    assert_eq!(part("AGENTS.md")["versions"], 1);
    assert_eq!(part("history")["turns"], 3);
    let total: i64 = parts
        .iter()
        .map(|p| p["cost_nanos"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 6 * 1_380_000);
    assert_eq!(costs["input_cost_nanos"], 6 * 1_380_000);
    let grep_days: i64 = costs["by_day"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == "grep")
        .map(|d| d["turns"].as_i64().unwrap())
        .sum();
    assert_eq!(grep_days, 6, "the day series adds up to the window");

    let table = run_cli(&server.db, &["prompt-costs", "--since", "1h"]);
    assert!(
        table.contains("AGENTS.md") && table.contains("grep"),
        "{table}"
    );
    let show = run_cli(&server.db, &["session", "show", a1]);
    assert!(
        show.contains("3 turns") && show.contains("Health: healthy"),
        "{show}"
    );
}

#[tokio::test]
async fn an_opus_agent_with_short_answers_gets_a_model_switch_worth_the_exact_difference() {
    let mock = start_mock().await;
    let server = server_on(&mock);
    for i in 0..12 {
        let body = json!({
            "model": "claude-opus-4-1",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": format!("classify ticket {i}")}],
        });
        let headers = [
            ("x-api-key", "sk-ant-classifier"),
            ("x-tokenwatch-agent", "classifier"),
            ("x-mock-usage", "input=1000,output=100"),
        ];
        assert_eq!(post_messages(&server, &headers, &body).await.0, 200);
    }
    server.wait_events(12).await;
    let recs = get_json(&server, "/api/v1/recommendations?days=1").await;
    let list = recs["recommendations"].as_array().unwrap();
    let switch = list
        .iter()
        .find(|r| r["kind"] == "model_switch")
        .unwrap_or_else(|| panic!("no model_switch in {recs}"));
    // Per turn: opus 1000 × $15 + 100 × $75 per million = 22,500 µ$; haiku 1,500 µ$.
    // 12 turns in a 1-day window × 30 days.
    assert_eq!(switch["savings_micros_per_month"], 12 * 21_000 * 30);
    assert_eq!(switch["agent"], "classifier");
    assert_eq!(switch["status"], "open");
    let id = switch["id"].as_str().unwrap().to_owned();

    // Dismissed: gone from the list, still there with all=true; reopened from the CLI.
    let (status, _, body) = parse_response(
        &raw(
            &server.addr,
            &post(
                &format!("/api/v1/recommendations/{id}/dismiss"),
                &[("content-type", "application/json")],
                b"{}",
            ),
        )
        .await,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let after = get_json(&server, "/api/v1/recommendations?days=1").await;
    assert!(!after.to_string().contains(&id), "{after}");
    let all = get_json(&server, "/api/v1/recommendations?days=1&all=true").await;
    assert!(all.to_string().contains(r#""status":"dismissed""#), "{all}");
    run_cli(&server.db, &["advise", "--reopen", &id]);
    let text = run_cli(&server.db, &["advise", "--days", "1"]);
    assert!(
        text.contains("Move classifier's short answers from claude-opus-4-1 to claude-haiku-4-5")
            && text.contains(&id),
        "{text}"
    );
}

/// A request of `agent` with `messages`, as the mock answers it; status and body.
async fn turn(server: &Server, agent: &str, conversation: Vec<Value>) -> (u16, String) {
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": conversation});
    let headers = [
        ("x-api-key", "sk-ant-guarded"),
        ("x-tokenwatch-agent", agent),
        ("x-mock-usage", "input=1000,output=50"),
    ];
    post_messages(server, &headers, &body).await
}

async fn send_json(server: &Server, method: &str, path: &str, body: &str) -> u16 {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    parse_response(&raw(&server.addr, request.as_bytes()).await).0
}

#[tokio::test]
async fn the_guard_blocks_a_session_past_its_limit_and_by_hand_and_pauses_an_agent() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenwatch.toml");
    std::fs::write(
        &config,
        "[[advisor.guards]]\nagent = \"looper\"\nmax_turns = 2\naction = \"block\"\n",
    )
    .unwrap();
    let server = Server::start_with(ServerOptions {
        env: vec![
            ("TOKENWATCH_PROVIDERS__ANTHROPIC__BASE_URL", mock.clone()),
            ("TOKENWATCH_CONFIG", config.display().to_string()),
        ],
        db: None,
    });
    // Three turns pass the two-turn limit; the fourth turn of that session is refused.
    for n in 1..=3 {
        let (status, body) = turn(&server, "looper", conversation("loop forever", n)).await;
        assert_eq!(status, 200, "turn {n}: {body}");
    }
    server.wait_events(3).await;
    let (status, body) = turn(&server, "looper", conversation("loop forever", 4)).await;
    assert_eq!(status, 403, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["type"], "error");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("is blocked (it ran 3 turns, over the limit of 2)")
            && message.contains("Start a fresh session"),
        "{message}"
    );
    // A fresh conversation of the same agent goes through.
    assert_eq!(
        turn(&server, "looper", conversation("start over", 1))
            .await
            .0,
        200
    );
    let events = server.wait_events(5).await;
    let refused: Vec<&Value> = events.iter().filter(|e| e["status"] == "refused").collect();
    assert_eq!(refused.len(), 1, "{events:#?}");
    assert_eq!(refused[0]["error_type"], "session_blocked");
    let blocked_session = refused[0]["session_id"].as_str().unwrap().to_owned();
    assert!(blocked_session.starts_with("auto-"));
    let guard = get_json(&server, "/api/v1/guard").await;
    assert_eq!(guard["rules"][0]["max_turns"], 2, "{guard}");

    // By hand: unblock it, then pause the agent.
    let path = format!("/api/v1/guard/sessions/{blocked_session}");
    assert_eq!(send_json(&server, "DELETE", &path, "").await, 200);
    assert_eq!(
        turn(&server, "looper", conversation("loop forever", 5))
            .await
            .0,
        200
    );
    assert_eq!(
        send_json(
            &server,
            "PUT",
            "/api/v1/guard/agents/looper",
            r#"{"reason": "runaway"}"#
        )
        .await,
        200
    );
    let (status, body) = turn(&server, "looper", conversation("anything", 1)).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("agent 'looper' is paused (runaway)"),
        "{body}"
    );
    assert_eq!(
        turn(&server, "other", conversation("anything", 1)).await.0,
        200
    );
    let guard = get_json(&server, "/api/v1/guard").await;
    assert_eq!(guard["controls"][0]["kind"], "agent", "{guard}");
    let listed = run_cli(&server.db, &["guard", "list", "--json"]);
    assert!(
        listed.contains(r#""subject": "looper""#) && listed.contains("runaway"),
        "{listed}"
    );
    assert_eq!(
        send_json(&server, "DELETE", "/api/v1/guard/agents/looper", "").await,
        200
    );
    assert_eq!(
        turn(&server, "looper", conversation("anything", 1)).await.0,
        200
    );
}
