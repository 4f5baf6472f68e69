//! OpenAI's organization Usage and Costs APIs over the ledger:
//! `GET …/v1/organization/usage/completions`, `…/usage/embeddings` and `…/v1/organization/costs`,
//! and the admin credential check they make.
//!
//! Shapes follow the API reference: a `page` object of `bucket` objects with Unix-second
//! `start_time`/`end_time`, empty buckets present with `results: []`, result fields not grouped
//! by are `null`. `start_time` is snapped down to the bucket boundary (UTC) and every bucket that
//! starts before `end_time` (or now) is answered. Cost values are US dollars; buckets starting
//! on an odd-numbered day since the Unix epoch carry the value as a decimal string, the others
//! as a JSON number, so a client must accept both.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::ledger::{Kind, Ledger, Record, Vendor};
use super::price::{self, NanoCents, Part};
use super::query::{self, BadParam, EndRule, Params, TokenStyle, Width, Window, bad, parse_unix};
use super::{Key, Refusal, tally};

/// The completions usage grouping fields, in the order its group keys hold them (embeddings
/// usage has all but `batch`).
const GROUPS: [&str; 5] = ["project_id", "user_id", "api_key_id", "model", "batch"];

/// The Bearer token of a request, if it carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Admin endpoints need an admin key (`Bearer sk-admin-…`); another `sk-` key is refused with 403.
pub fn authorize(headers: &HeaderMap) -> Result<(), Refusal> {
    match bearer(headers) {
        Some(k) if k.starts_with("sk-admin-") => Ok(()),
        Some(k) if k.starts_with("sk-") => Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            "You have insufficient permissions for this operation: an admin key (sk-admin-…) is required.",
        )),
        Some(_) => Err(Refusal {
            code: Some("invalid_api_key"),
            ..Refusal::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "Incorrect API key provided.",
            )
        }),
        None => Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "You didn't provide an API key (Authorization: Bearer sk-admin-…).",
        )),
    }
}

/// The range of a request: `start_time` to `end_time`, or to now.
fn window(p: &Params, width: i64, now_s: i64) -> Result<Window, BadParam> {
    let from = parse_unix("start_time", p.required("start_time")?)?;
    let to = match p.one("end_time")? {
        Some(v) => {
            let to = parse_unix("end_time", v)?;
            if to <= from {
                return Err(bad("end_time", "must be after start_time"));
            }
            to
        }
        None => now_s,
    };
    Ok(Window::new(from, to, width, EndRule::StartsBefore))
}

/// The `page` object of the page's buckets, each rendered by `results`.
fn pages(window: &Window, page: &query::Page, results: impl Fn(i64) -> Vec<Value>) -> Value {
    let data: Vec<Value> = (page.first..page.first + page.len)
        .map(|i| {
            json!({
                "object": "bucket",
                "start_time": window.bucket(i),
                "end_time": window.bucket(i + 1),
                "results": results(i),
            })
        })
        .collect();
    json!({
        "object": "page",
        "data": data,
        "has_more": page.next.is_some(),
        "next_page": page.next,
    })
}

fn group_value(r: &Record, group: &str) -> Option<String> {
    match group {
        "project_id" => r.workspace_id.clone(),
        "user_id" => r.user_id.clone(),
        "api_key_id" => r.api_key_id.clone(),
        "model" => Some(r.model.clone()),
        _ => Some(r.batch.to_string()),
    }
}

/// `GET …/v1/organization/usage/completions` or `…/usage/embeddings`.
pub fn usage(
    ledger: &Ledger,
    kind: Kind,
    query: Option<&str>,
    now_s: i64,
) -> Result<Value, Refusal> {
    let mut known = vec![
        "start_time",
        "end_time",
        "bucket_width",
        "group_by",
        "limit",
        "page",
        "models",
        "project_ids",
        "user_ids",
        "api_key_ids",
    ];
    let groups_allowed = match kind {
        Kind::Completions => {
            known.push("batch");
            &GROUPS[..]
        }
        Kind::Embeddings => &GROUPS[..4],
    };
    let p = Params::parse(query, &known)?;
    let width = Width::parse("bucket_width", p.one("bucket_width")?)?;
    let (default, max) = width.limits();
    let limit = p.limit(default, max)?;
    let window = window(&p, width.seconds(), now_s)?;
    let page = query::page(&window, p.one("page")?, TokenStyle::OpenAi, limit)?;
    let groups = p.choices("group_by", groups_allowed)?;
    let batch = match p.one("batch")? {
        None => None,
        Some(v @ ("true" | "false")) => Some(v == "true"),
        Some(v) => return Err(bad("batch", format!("'{v}' is not true or false")).into()),
    };
    let filters = [
        ("models", "model"),
        ("project_ids", "project_id"),
        ("user_ids", "user_id"),
        ("api_key_ids", "api_key_id"),
    ]
    .map(|(param, field)| (p.many(param), field));
    let keep = |r: &&Record| {
        r.kind() == kind
            && batch.is_none_or(|b| r.batch == b)
            && filters.iter().all(|(wanted, field)| {
                wanted.is_empty()
                    || group_value(r, field).is_some_and(|v| wanted.contains(&v.as_str()))
            })
    };
    let sums = tally(
        ledger.records(Vendor::OpenAi).iter().filter(keep),
        &window,
        &page,
        |r, bucket: &mut BTreeMap<Key, [u64; 6]>| {
            let key = groups_allowed
                .iter()
                .map(|g| groups.contains(g).then(|| group_value(r, g)).flatten())
                .collect();
            let figures = [
                r.input_tokens,
                r.output_tokens,
                r.cache_read_input_tokens,
                r.input_audio_tokens,
                r.output_audio_tokens,
                r.num_model_requests,
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
                let mut v = match kind {
                    Kind::Completions => json!({
                        "object": "organization.usage.completions.result",
                        "input_tokens": s[0],
                        "output_tokens": s[1],
                        "input_cached_tokens": s[2],
                        "input_audio_tokens": s[3],
                        "output_audio_tokens": s[4],
                        "num_model_requests": s[5],
                    }),
                    Kind::Embeddings => json!({
                        "object": "organization.usage.embeddings.result",
                        "input_tokens": s[0],
                        "num_model_requests": s[5],
                    }),
                };
                for (name, value) in groups_allowed.iter().zip(key) {
                    v[*name] = match (*name, value) {
                        ("batch", Some(b)) => json!(b == "true"),
                        _ => json!(value),
                    };
                }
                v
            })
            .collect()
    }))
}

/// The line items of one record and their amounts: a record with a cost of its own is one line
/// named by its model; else `"<model>, input"` (uncached), `"<model>, cached input"` and
/// `"<model>, output"`, zero lines left out.
fn line_items(r: &Record) -> Vec<(String, NanoCents)> {
    if let Some(cost) = r.cost_cents {
        return vec![(r.model.clone(), cost)];
    }
    price::parts(Vendor::OpenAi, r)
        .into_iter()
        .filter(|(_, amount)| amount.0 > 0)
        .filter_map(|(part, amount)| {
            let what = match part {
                Part::UncachedInput => "input",
                Part::CacheRead => "cached input",
                Part::Output => "output",
                _ => return None,
            };
            Some((format!("{}, {what}", r.model), amount))
        })
        .collect()
}

/// `GET …/v1/organization/costs` (daily buckets only).
pub fn costs(ledger: &Ledger, query: Option<&str>, now_s: i64) -> Result<Value, Refusal> {
    let p = Params::parse(
        query,
        &[
            "start_time",
            "end_time",
            "bucket_width",
            "group_by",
            "limit",
            "page",
            "project_ids",
        ],
    )?;
    if let Some(w) = p.one("bucket_width")?.filter(|w| *w != "1d") {
        return Err(bad(
            "bucket_width",
            format!("'{w}' is not 1d, the costs endpoint's only width"),
        )
        .into());
    }
    let limit = p.limit(7, 180)?;
    let window = window(&p, Width::Day.seconds(), now_s)?;
    let page = query::page(&window, p.one("page")?, TokenStyle::OpenAi, limit)?;
    let groups = p.choices("group_by", &["project_id", "line_item"])?;
    let by_project = groups.contains(&"project_id");
    let by_line = groups.contains(&"line_item");
    let projects = p.many("project_ids");
    let keep = |r: &&Record| {
        projects.is_empty()
            || r.workspace_id
                .as_deref()
                .is_some_and(|w| projects.contains(&w))
    };
    let sums = tally(
        ledger.records(Vendor::OpenAi).iter().filter(keep),
        &window,
        &page,
        |r, bucket: &mut BTreeMap<Key, NanoCents>| {
            let project = r.workspace_id.clone().filter(|_| by_project);
            let lines = if by_line {
                line_items(r)
                    .into_iter()
                    .map(|(l, c)| (Some(l), c))
                    .collect()
            } else {
                vec![(None, price::cost(Vendor::OpenAi, r))]
            };
            for (line, amount) in lines {
                let sum = bucket.entry(vec![project.clone(), line]).or_default();
                *sum = *sum + amount;
            }
        },
    );
    Ok(pages(&window, &page, |i| {
        let odd_day = window.bucket(i).div_euclid(86_400) % 2 == 1;
        sums.get(&i)
            .into_iter()
            .flatten()
            .map(|(key, amount)| {
                let dollars = amount.dollars();
                let value = if odd_day {
                    json!(dollars)
                } else {
                    dollars.parse::<f64>().map_or(Value::Null, |f| json!(f))
                };
                json!({
                    "object": "organization.costs.result",
                    "amount": { "value": value, "currency": "usd" },
                    "project_id": key.first().cloned().flatten(),
                    "line_item": key.get(1).cloned().flatten(),
                })
            })
            .collect()
    }))
}
