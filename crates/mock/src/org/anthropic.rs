//! Anthropic's Admin API over the ledger: `GET …/v1/organizations/usage_report/messages` and
//! `GET …/v1/organizations/cost_report`, and the admin credential check every Anthropic admin
//! endpoint makes.
//!
//! Shapes follow the API reference: buckets `{starting_at, ending_at, results}` oldest first,
//! empty buckets present with `results: []`, result fields not grouped by are `null`, cost
//! amounts are decimal strings of cents. `starting_at` is snapped down to the bucket boundary
//! (UTC); with `ending_at` the buckets that end by it are answered, without it every bucket that
//! has started by now.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::ledger::{Ledger, Record, Vendor};
use super::price::{self, NanoCents, Part};
use super::query::{
    self, BadParam, EndRule, Params, TokenStyle, Width, Window, bad, parse_rfc3339, rfc3339,
};
use super::{Key, Refusal, tally};

/// The usage report's grouping fields, in the order its group keys hold them.
const USAGE_GROUPS: [&str; 6] = [
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
];

/// The cost report's result fields that grouping sets, in the order its keys hold them.
const COST_FIELDS: [&str; 7] = [
    "workspace_id",
    "description",
    "cost_type",
    "model",
    "token_type",
    "service_tier",
    "context_window",
];

/// Admin endpoints need an Admin API key (`sk-ant-admin…`) in `x-api-key` — a standard
/// `sk-ant-api…` key is refused with 403 — and an `anthropic-version` header.
pub fn authorize(headers: &HeaderMap) -> Result<(), Refusal> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let unauthorized =
        |message: &str| Refusal::new(StatusCode::UNAUTHORIZED, "authentication_error", message);
    match key {
        Some(k) if k.starts_with("sk-ant-admin") => {}
        Some(k) if k.starts_with("sk-ant-api") => {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "this endpoint needs an Admin API key (sk-ant-admin…), not a standard API key",
            ));
        }
        Some(_) => return Err(unauthorized("invalid x-api-key")),
        None => return Err(unauthorized("x-api-key header is required")),
    }
    if !headers.contains_key("anthropic-version") {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        ));
    }
    Ok(())
}

/// The range of a report: `starting_at` to `ending_at`, or to now.
fn window(p: &Params, width: i64, now_s: i64) -> Result<Window, BadParam> {
    let from = parse_rfc3339("starting_at", p.required("starting_at")?)?;
    match p.one("ending_at")? {
        Some(v) => {
            let to = parse_rfc3339("ending_at", v)?;
            if to <= from {
                return Err(bad("ending_at", "must be after starting_at"));
            }
            Ok(Window::new(from, to, width, EndRule::EndsBy))
        }
        None => Ok(Window::new(from, now_s, width, EndRule::StartsBefore)),
    }
}

/// `{data, has_more, next_page}` of the page's buckets, each rendered by `results`.
fn pages(window: &Window, page: &query::Page, results: impl Fn(i64) -> Vec<Value>) -> Value {
    let data: Vec<Value> = (page.first..page.first + page.len)
        .map(|i| {
            json!({
                "starting_at": rfc3339(window.bucket(i)),
                "ending_at": rfc3339(window.bucket(i + 1)),
                "results": results(i),
            })
        })
        .collect();
    json!({ "data": data, "has_more": page.next.is_some(), "next_page": page.next })
}

fn group_value(r: &Record, group: &str) -> Option<String> {
    match group {
        "api_key_id" => r.api_key_id.clone(),
        "workspace_id" => r.workspace_id.clone(),
        "model" => Some(r.model.clone()),
        "service_tier" => Some(r.service_tier.clone()),
        "context_window" => Some(r.context_window.clone()),
        // The mock's models take no `inference_geo`, so their usage is all global.
        _ => Some("global".to_owned()),
    }
}

/// `GET …/v1/organizations/usage_report/messages`.
pub fn usage_report(ledger: &Ledger, query: Option<&str>, now_s: i64) -> Result<Value, Refusal> {
    let p = Params::parse(
        query,
        &[
            "starting_at",
            "ending_at",
            "bucket_width",
            "group_by",
            "models",
            "api_key_ids",
            "workspace_ids",
            "service_tiers",
            "context_window",
            "inference_geos",
            "limit",
            "page",
        ],
    )?;
    let width = Width::parse("bucket_width", p.one("bucket_width")?)?;
    let (default, max) = width.limits();
    let limit = p.limit(default, max)?;
    let window = window(&p, width.seconds(), now_s)?;
    let page = query::page(&window, p.one("page")?, TokenStyle::Anthropic, limit)?;
    let groups = p.choices("group_by", &USAGE_GROUPS)?;
    let geos = p.choices("inference_geos", &["global", "us", "not_available"])?;
    let filters = [
        ("models", "model"),
        ("api_key_ids", "api_key_id"),
        ("workspace_ids", "workspace_id"),
        ("service_tiers", "service_tier"),
        ("context_window", "context_window"),
    ]
    .map(|(param, field)| (p.many(param), field));
    let keep = |r: &&Record| {
        (geos.is_empty() || geos.contains(&"global"))
            && filters.iter().all(|(wanted, field)| {
                wanted.is_empty()
                    || group_value(r, field).is_some_and(|v| wanted.contains(&v.as_str()))
            })
    };
    let sums = tally(
        ledger.records(Vendor::Anthropic).iter().filter(keep),
        &window,
        &page,
        |r, bucket: &mut BTreeMap<Key, [u64; 6]>| {
            let key = USAGE_GROUPS
                .iter()
                .map(|g| groups.contains(g).then(|| group_value(r, g)).flatten())
                .collect();
            let figures = [
                r.input_tokens,
                r.cache_creation_1h,
                r.cache_creation_5m,
                r.cache_read_input_tokens,
                r.output_tokens,
                r.web_search_requests,
            ];
            for (sum, n) in bucket.entry(key).or_default().iter_mut().zip(figures) {
                *sum += n;
            }
        },
    );
    Ok(pages(&window, &page, |i| {
        sums.get(&i)
            .into_iter()
            .flatten()
            .map(|(key, s)| {
                let mut v = json!({
                    "uncached_input_tokens": s[0],
                    "cache_creation": {
                        "ephemeral_1h_input_tokens": s[1],
                        "ephemeral_5m_input_tokens": s[2],
                    },
                    "cache_read_input_tokens": s[3],
                    "output_tokens": s[4],
                    "server_tool_use": { "web_search_requests": s[5] },
                });
                for (name, value) in USAGE_GROUPS.iter().zip(key) {
                    v[*name] = json!(value);
                }
                v
            })
            .collect()
    }))
}

/// A token part's `token_type` and the words its description ends with.
fn token_type(part: Part) -> (&'static str, &'static str) {
    match part {
        Part::UncachedInput => ("uncached_input_tokens", "Input Tokens"),
        Part::Output => ("output_tokens", "Output Tokens"),
        Part::CacheRead => ("cache_read_input_tokens", "Cache Read"),
        Part::CacheWrite5m => ("cache_creation.ephemeral_5m_input_tokens", "Cache Write 5m"),
        Part::CacheWrite1h => ("cache_creation.ephemeral_1h_input_tokens", "Cache Write 1h"),
        Part::WebSearch => ("", "Web Search"),
    }
}

/// The description lines of one record: `[description, cost_type, model, token_type,
/// service_tier, context_window]` and their amounts. A record with a cost of its own is one
/// `"<model> Usage"` line; else one line per priced part (zero parts left out), a token part as
/// `"<model> Usage - Output Tokens"` and so on, web search as the model-less `"Web Search Usage"`.
fn description_lines(r: &Record) -> Vec<([Option<String>; 6], NanoCents)> {
    let s = |v: &str| Some(v.to_owned());
    let model = |token_type: Option<String>, description: String| {
        [
            Some(description),
            s("tokens"),
            s(&r.model),
            token_type,
            s(&r.service_tier),
            s(&r.context_window),
        ]
    };
    if let Some(cost) = r.cost_cents {
        return vec![(model(None, format!("{} Usage", r.model)), cost)];
    }
    price::parts(Vendor::Anthropic, r)
        .into_iter()
        .filter(|(_, amount)| amount.0 > 0)
        .map(|(part, amount)| {
            let line = if part == Part::WebSearch {
                [
                    s("Web Search Usage"),
                    s("web_search"),
                    None,
                    None,
                    None,
                    None,
                ]
            } else {
                let (kind, words) = token_type(part);
                model(s(kind), format!("{} Usage - {words}", r.model))
            };
            (line, amount)
        })
        .collect()
}

/// `GET …/v1/organizations/cost_report` (daily buckets only).
pub fn cost_report(ledger: &Ledger, query: Option<&str>, now_s: i64) -> Result<Value, Refusal> {
    let p = Params::parse(
        query,
        &[
            "starting_at",
            "ending_at",
            "bucket_width",
            "group_by",
            "limit",
            "page",
        ],
    )?;
    if let Some(w) = p.one("bucket_width")?.filter(|w| *w != "1d") {
        return Err(bad(
            "bucket_width",
            format!("'{w}' is not 1d, the cost report's only width"),
        )
        .into());
    }
    let limit = p.limit(7, 31)?;
    let window = window(&p, Width::Day.seconds(), now_s)?;
    let page = query::page(&window, p.one("page")?, TokenStyle::Anthropic, limit)?;
    let groups = p.choices("group_by", &["workspace_id", "description"])?;
    let by_workspace = groups.contains(&"workspace_id");
    let by_description = groups.contains(&"description");
    let sums = tally(
        ledger.records(Vendor::Anthropic),
        &window,
        &page,
        |r, bucket: &mut BTreeMap<Key, NanoCents>| {
            let workspace = r.workspace_id.clone().filter(|_| by_workspace);
            let lines = if by_description {
                description_lines(r)
            } else {
                vec![(Default::default(), price::cost(Vendor::Anthropic, r))]
            };
            for (line, amount) in lines {
                let key = std::iter::once(workspace.clone()).chain(line).collect();
                let sum = bucket.entry(key).or_default();
                *sum = *sum + amount;
            }
        },
    );
    Ok(pages(&window, &page, |i| {
        sums.get(&i)
            .into_iter()
            .flatten()
            .map(|(key, amount)| {
                let mut v = json!({
                    "currency": "USD",
                    "amount": amount.cents(),
                    "inference_geo": null,
                });
                for (name, value) in COST_FIELDS.iter().zip(key) {
                    v[*name] = json!(value);
                }
                v
            })
            .collect()
    }))
}
