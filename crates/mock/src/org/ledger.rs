//! The mock organisation's usage ledger: one list of [`Record`]s per provider, fed by the traffic
//! the mock answers and by records a test posts, read by every admin report.
//!
//! Invariants: token figures are provider-native (an OpenAI record's `input_tokens` includes its
//! `cache_read_input_tokens`; an Anthropic record's excludes cache reads and writes); a record
//! of one provider never carries figures the other provider's reports cannot show (validated on
//! append); raw credentials are never stored — only ids derived by [`key_id`]. Served traffic of
//! one minute and one grouping is merged into one record (every report bucket is at least a
//! minute wide, so nothing a report shows is lost), which keeps the ledger's size bounded by
//! distinct keys, not by requests.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::price::{self, NanoCents};
use super::query::{Width, rfc3339};

/// The providers whose admin APIs the mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Vendor {
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "openai")]
    OpenAi,
}

/// Which OpenAI usage endpoint a record belongs to (Anthropic records have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Completions,
    Embeddings,
}

/// Usage of one model under one key at one moment. Field names are the ledger's JSON (`POST` and
/// `GET /__mock/org/usage`); every field but `ts_ms` and `model` may be left out.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// When the usage happened, in Unix milliseconds (UTC).
    pub ts_ms: i64,
    /// OpenAI only: `completions` (the default) or `embeddings`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    pub model: String,
    #[serde(default)]
    pub api_key_id: Option<String>,
    /// Anthropic's workspace, OpenAI's project (`project_id` is accepted as an alias).
    #[serde(default, alias = "project_id")]
    pub workspace_id: Option<String>,
    /// OpenAI only: the user the usage is attributed to.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Anthropic: uncached input. OpenAI: all input, cached included.
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    /// Anthropic only: tokens written to the 5-minute cache.
    #[serde(default)]
    pub cache_creation_5m: u64,
    /// Anthropic only: tokens written to the 1-hour cache.
    #[serde(default)]
    pub cache_creation_1h: u64,
    /// Anthropic only.
    #[serde(default)]
    pub web_search_requests: u64,
    /// OpenAI completions only.
    #[serde(default)]
    pub input_audio_tokens: u64,
    /// OpenAI completions only.
    #[serde(default)]
    pub output_audio_tokens: u64,
    /// How many model requests this usage took (OpenAI's `num_model_requests`).
    #[serde(default = "one")]
    pub num_model_requests: u64,
    /// OpenAI completions only: usage of the Batch API.
    #[serde(default)]
    pub batch: bool,
    #[serde(default = "standard")]
    pub service_tier: String,
    #[serde(default = "small_window")]
    pub context_window: String,
    /// The cost in cents as a decimal string; `null` prices the record from the table.
    #[serde(default)]
    pub cost_cents: Option<NanoCents>,
}

fn one() -> u64 {
    1
}

fn standard() -> String {
    "standard".to_owned()
}

fn small_window() -> String {
    "0-200k".to_owned()
}

impl Record {
    /// A record of `model` at `ts_ms` with no tokens yet: one request, default tier and window,
    /// priced from the table.
    pub fn new(ts_ms: i64, kind: Option<Kind>, model: &str) -> Self {
        Record {
            ts_ms,
            kind,
            model: model.to_owned(),
            api_key_id: None,
            workspace_id: None,
            user_id: None,
            input_tokens: 0,
            output_tokens: 0,
            cache_read_input_tokens: 0,
            cache_creation_5m: 0,
            cache_creation_1h: 0,
            web_search_requests: 0,
            input_audio_tokens: 0,
            output_audio_tokens: 0,
            num_model_requests: 1,
            batch: false,
            service_tier: standard(),
            context_window: small_window(),
            cost_cents: None,
        }
    }

    /// The token figures, in a fixed order (for adding and scaling them together).
    fn tokens_mut(&mut self) -> [&mut u64; 8] {
        [
            &mut self.input_tokens,
            &mut self.output_tokens,
            &mut self.cache_read_input_tokens,
            &mut self.cache_creation_5m,
            &mut self.cache_creation_1h,
            &mut self.web_search_requests,
            &mut self.input_audio_tokens,
            &mut self.output_audio_tokens,
        ]
    }

    /// Why this record cannot be in `vendor`'s ledger, if it cannot.
    fn invalid_for(&self, vendor: Vendor) -> Option<&'static str> {
        match vendor {
            Vendor::Anthropic if self.kind.is_some() => Some("kind is OpenAI's"),
            Vendor::Anthropic if self.user_id.is_some() => Some("user_id is OpenAI's"),
            Vendor::Anthropic if self.batch => Some("batch is OpenAI's"),
            Vendor::Anthropic if self.input_audio_tokens + self.output_audio_tokens > 0 => {
                Some("audio tokens are OpenAI's")
            }
            Vendor::OpenAi if self.cache_creation_5m + self.cache_creation_1h > 0 => {
                Some("OpenAI reports no cache writes")
            }
            Vendor::OpenAi if self.web_search_requests > 0 => {
                Some("web_search_requests is Anthropic's")
            }
            Vendor::OpenAi if self.cache_read_input_tokens > self.input_tokens => {
                Some("OpenAI's input_tokens include the cached tokens, so cannot be fewer")
            }
            _ => None,
        }
    }

    /// The [`Kind`] an OpenAI record is reported under.
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::Completions)
    }
}

/// Identity of served traffic that merges into one record.
#[derive(Hash, PartialEq, Eq)]
struct Merge {
    vendor: Vendor,
    minute: i64,
    kind: Option<Kind>,
    model: String,
    api_key_id: Option<String>,
    workspace_id: Option<String>,
}

/// A revision of the most recent bucket (`POST /__mock/org/revise`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revision {
    pub provider: Vendor,
    /// The bucket width that defines "the most recent bucket" (`1m`, `1h`, `1d`; default `1d`).
    #[serde(default)]
    pub bucket_width: Option<String>,
    /// Multiplies every token figure and explicit cost in the bucket (rounded to the nearest).
    #[serde(default)]
    pub scale: Option<f64>,
    /// Tokens added to the bucket, as one more record like its latest.
    #[serde(default)]
    pub add: Option<Added>,
}

/// Tokens a revision adds (provider-native, like a [`Record`]'s).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Added {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_5m: u64,
    pub cache_creation_1h: u64,
    pub web_search_requests: u64,
}

/// Every provider's records.
#[derive(Default)]
pub struct Ledger {
    anthropic: Vec<Record>,
    openai: Vec<Record>,
    merges: HashMap<Merge, usize>,
}

impl Ledger {
    /// The provider's records, in the order they were added.
    pub fn records(&self, vendor: Vendor) -> &[Record] {
        match vendor {
            Vendor::Anthropic => &self.anthropic,
            Vendor::OpenAi => &self.openai,
        }
    }

    fn records_mut(&mut self, vendor: Vendor) -> &mut Vec<Record> {
        match vendor {
            Vendor::Anthropic => &mut self.anthropic,
            Vendor::OpenAi => &mut self.openai,
        }
    }

    /// Appends posted records, all or none; the error names the first invalid one.
    pub fn append(&mut self, vendor: Vendor, records: Vec<Record>) -> Result<usize, String> {
        if let Some((i, why)) = records
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.invalid_for(vendor).map(|why| (i, why)))
        {
            return Err(format!("records[{i}]: {why}"));
        }
        let n = records.len();
        self.records_mut(vendor).extend(records);
        Ok(n)
    }

    /// Adds served traffic, merging it into the record of the same minute and grouping.
    pub fn serve(&mut self, vendor: Vendor, record: Record) {
        let merge = Merge {
            vendor,
            minute: record.ts_ms.div_euclid(60_000),
            kind: record.kind,
            model: record.model.clone(),
            api_key_id: record.api_key_id.clone(),
            workspace_id: record.workspace_id.clone(),
        };
        // The fields, not `records_mut`: that would borrow all of `self`, and `merges` is needed too.
        let list = match vendor {
            Vendor::Anthropic => &mut self.anthropic,
            Vendor::OpenAi => &mut self.openai,
        };
        if let Some(into) = self.merges.get(&merge).and_then(|&i| list.get_mut(i)) {
            let mut record = record;
            for (sum, add) in into.tokens_mut().into_iter().zip(record.tokens_mut()) {
                *sum += *add;
            }
            into.num_model_requests += record.num_model_requests;
            return;
        }
        self.merges.insert(merge, list.len());
        list.push(record);
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        *self = Ledger::default();
    }

    /// Revises the most recent bucket of the provider's records; answers what was revised.
    pub fn revise(&mut self, revision: &Revision) -> Result<Value, String> {
        let width = Width::parse("bucket_width", revision.bucket_width.as_deref())
            .map_err(|e| e.message)?;
        if revision.scale.is_some_and(|f| !f.is_finite() || f < 0.0) {
            return Err("scale must be a finite number, 0 or more".to_owned());
        }
        let list = self.records_mut(revision.provider);
        let Some(latest) = list.iter().max_by_key(|r| r.ts_ms).cloned() else {
            return Err("no usage to revise".to_owned());
        };
        let width_ms = width.seconds() * 1000;
        let start_ms = latest.ts_ms.div_euclid(width_ms) * width_ms;
        let in_bucket = |r: &Record| (start_ms..start_ms + width_ms).contains(&r.ts_ms);
        let mut revised = 0;
        if let Some(factor) = revision.scale {
            for r in list.iter_mut().filter(|r| in_bucket(r)) {
                for n in r.tokens_mut() {
                    *n = scale(*n, factor);
                }
                r.cost_cents = r.cost_cents.map(|c| c.scaled(factor));
                revised += 1;
            }
        }
        if let Some(add) = &revision.add {
            let mut extra = Record {
                api_key_id: latest.api_key_id.clone(),
                workspace_id: latest.workspace_id.clone(),
                user_id: latest.user_id.clone(),
                batch: latest.batch,
                service_tier: latest.service_tier.clone(),
                context_window: latest.context_window.clone(),
                num_model_requests: 0,
                input_tokens: add.input_tokens,
                output_tokens: add.output_tokens,
                cache_read_input_tokens: add.cache_read_input_tokens,
                cache_creation_5m: add.cache_creation_5m,
                cache_creation_1h: add.cache_creation_1h,
                web_search_requests: add.web_search_requests,
                ..Record::new(latest.ts_ms, latest.kind, &latest.model)
            };
            if revision.provider == Vendor::OpenAi {
                // What was read from the cache was input too.
                extra.input_tokens += add.cache_read_input_tokens;
            }
            if let Some(why) = extra.invalid_for(revision.provider) {
                return Err(format!("add: {why}"));
            }
            list.push(extra);
        }
        Ok(json!({
            "provider": revision.provider_name(),
            "starting_at": rfc3339(start_ms.div_euclid(1000)),
            "records_scaled": revised,
            "added": revision.add.is_some(),
        }))
    }

    /// Every record, with the cost the reports use (`priced_cost_cents`).
    pub fn to_json(&self) -> Value {
        let list = |vendor: Vendor| -> Vec<Value> {
            self.records(vendor)
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                    v["priced_cost_cents"] = json!(price::cost(vendor, r).cents());
                    v
                })
                .collect()
        };
        json!({ "anthropic": list(Vendor::Anthropic), "openai": list(Vendor::OpenAi) })
    }
}

impl Revision {
    fn provider_name(&self) -> &'static str {
        match self.provider {
            Vendor::Anthropic => "anthropic",
            Vendor::OpenAi => "openai",
        }
    }
}

fn scale(n: u64, factor: f64) -> u64 {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        clippy::cast_sign_loss,
        reason = "a token count scaled by a test's non-negative factor, rounded as documented"
    )]
    let scaled = (n as f64 * factor).round() as u64;
    scaled
}

/// The stable id a credential is known by: `prefix` and the first 12 hex digits of its SHA-256
/// (`apikey_…` for Anthropic, `key_…` for OpenAI), so the raw secret is never kept or shown.
pub fn key_id(vendor: Vendor, secret: &str) -> String {
    let prefix = match vendor {
        Vendor::Anthropic => "apikey_",
        Vendor::OpenAi => "key_",
    };
    let digest = hex::encode(Sha256::digest(secret.as_bytes()));
    format!("{prefix}{}", &digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts_ms: i64, input: u64) -> Record {
        Record {
            input_tokens: input,
            ..Record::new(ts_ms, None, "m")
        }
    }

    #[test]
    fn key_ids_are_stable_prefixed_hashes() {
        // sha256("sk-test") starts f3abf2a6cc4f.
        let id = key_id(Vendor::Anthropic, "sk-test");
        assert_eq!(id, "apikey_f3abf2a6cc4f");
        assert_eq!(key_id(Vendor::OpenAi, "sk-test"), "key_f3abf2a6cc4f");
        assert_ne!(id, key_id(Vendor::Anthropic, "sk-test2"));
    }

    #[test]
    fn served_traffic_merges_per_minute_and_key() {
        let mut l = Ledger::default();
        l.serve(Vendor::Anthropic, rec(60_000, 1));
        l.serve(Vendor::Anthropic, rec(119_999, 2));
        l.serve(Vendor::Anthropic, rec(120_000, 4));
        let other_key = Record {
            api_key_id: Some("apikey_x".to_owned()),
            ..rec(60_001, 8)
        };
        l.serve(Vendor::Anthropic, other_key);
        let r = l.records(Vendor::Anthropic);
        let figures: Vec<(u64, u64)> = r
            .iter()
            .map(|r| (r.input_tokens, r.num_model_requests))
            .collect();
        assert_eq!(figures, [(3, 2), (4, 1), (8, 1)]);
    }

    #[test]
    fn appends_validate_each_providers_figures() {
        let mut l = Ledger::default();
        let cached_over_input = Record {
            cache_read_input_tokens: 5,
            ..rec(0, 4)
        };
        let err = l
            .append(Vendor::OpenAi, vec![rec(0, 1), cached_over_input])
            .unwrap_err();
        assert!(err.starts_with("records[1]:"), "{err}");
        assert!(l.records(Vendor::OpenAi).is_empty(), "all or nothing");
        let audio = Record {
            input_audio_tokens: 1,
            ..rec(0, 1)
        };
        assert!(l.append(Vendor::Anthropic, vec![audio]).is_err());
    }

    #[test]
    fn revision_scales_only_the_latest_bucket_and_adds_a_record() {
        let mut l = Ledger::default();
        let hour = 3_600_000;
        let costly = Record {
            cost_cents: Some(NanoCents::parse_cents("2").unwrap()),
            ..rec(5 * hour + 10, 10)
        };
        l.append(
            Vendor::Anthropic,
            vec![rec(4 * hour, 10), rec(5 * hour + 5, 10), costly],
        )
        .unwrap();
        let out = l
            .revise(&Revision {
                provider: Vendor::Anthropic,
                bucket_width: Some("1h".to_owned()),
                scale: Some(1.5),
                add: Some(Added {
                    output_tokens: 7,
                    ..Added::default()
                }),
            })
            .unwrap();
        assert_eq!(out["records_scaled"], 2);
        assert_eq!(out["starting_at"], "1970-01-01T05:00:00Z");
        let r = l.records(Vendor::Anthropic);
        let inputs: Vec<u64> = r.iter().map(|r| r.input_tokens).collect();
        assert_eq!(inputs, [10, 15, 15, 0]);
        assert_eq!(r[2].cost_cents.map(NanoCents::cents).as_deref(), Some("3"));
        assert_eq!(
            (r[3].output_tokens, r[3].ts_ms, r[3].num_model_requests),
            (7, 5 * hour + 10, 0)
        );
        let none = Revision {
            provider: Vendor::OpenAi,
            bucket_width: None,
            scale: Some(2.0),
            add: None,
        };
        assert_eq!(l.revise(&none).unwrap_err(), "no usage to revise");
    }
}
