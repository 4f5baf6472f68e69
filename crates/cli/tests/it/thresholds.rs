//! Budget thresholds that spend has already passed: they alert when the budget is created (or
//! changed, or at start-up), once per threshold and period, and a restart repeats none.

use std::time::Duration;

use crate::policy_support::send_message;
use crate::policy_support::{
    MESSAGE_COST_MICROS, api, message_upstream, start, start_on, wait_alerts,
};

fn percents_of(alerts: &[serde_json::Value], budget: &str) -> Vec<i64> {
    let mut p: Vec<i64> = alerts
        .iter()
        .filter(|a| a["rule"] == budget && a["kind"] == "budget_threshold")
        .map(|a| a["detail"]["percent"].as_i64().unwrap())
        .collect();
    p.sort_unstable();
    p
}

#[tokio::test]
async fn a_budget_created_past_its_thresholds_alerts_once_each_even_after_a_restart() {
    let upstream = message_upstream(Duration::ZERO).await;
    let mut server = start(&upstream.url, vec![]);
    assert_eq!(send_message(&server).await, 200);
    server.wait_events(1).await;

    // The month's spend (14_625 µ$) is already 150 % of this budget's 9_750 µ$.
    assert_eq!(MESSAGE_COST_MICROS * 2, 9_750 * 3);
    let budget = |name: &str| {
        serde_json::json!({
            "name": name, "period": "month", "limit_usd": "0.00975", "alert_at": [50, 100, 200]
        })
    };
    let (status, body) = api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(budget("late")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let alerts = wait_alerts(&server, "the 50 % and 100 % alerts of 'late'", |list| {
        percents_of(list, "late").len() >= 2
    })
    .await;
    assert_eq!(percents_of(&alerts, "late"), [50, 100], "{alerts:#?}");
    let hundred = alerts
        .iter()
        .find(|a| a["rule"] == "late" && a["detail"]["percent"] == 100)
        .unwrap();
    assert_eq!(hundred["value"], MESSAGE_COST_MICROS, "{hundred}");
    assert!(
        hundred["message"]
            .as_str()
            .unwrap()
            .contains("reached 100%"),
        "{hundred}"
    );

    // A restart evaluates every budget again: nothing new to say about 'late'. A budget created
    // after the restart alerts too; the engine stores firings in order, so once its alert is
    // there, anything the start-up raised for 'late' has been handled.
    let db = server.db.clone();
    assert!(server.terminate().success());
    let server = start_on(&upstream.url, vec![], Some(db));
    let (status, body) = api(
        &server.addr,
        "POST",
        "/api/v1/budgets",
        Some(budget("after")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let alerts = wait_alerts(&server, "the alerts of 'after'", |list| {
        percents_of(list, "after").len() >= 2
    })
    .await;
    assert_eq!(percents_of(&alerts, "after"), [50, 100]);
    assert_eq!(
        percents_of(&alerts, "late"),
        [50, 100],
        "a restart repeated an alert: {alerts:#?}"
    );
}
