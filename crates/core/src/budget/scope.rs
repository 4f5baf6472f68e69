//! Which events a budget counts: its scope, and the attributes of a request or event that a
//! scope is matched against.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::UsageEvent;

/// Which events a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Provider(String),
    Model(String),
    /// `key=value`.
    Tag(String, String),
    Project(String),
    Agent(String),
    /// A proxy key (`api_key_id`).
    ApiKey(String),
}

impl Scope {
    /// `global`, `provider:<name>`, `model:<id>`, `tag:<key>=<value>`, `project:<name>`,
    /// `agent:<name>`, `api_key:<id>`.
    pub fn parse(text: &str) -> Option<Scope> {
        let t = text.trim();
        if t == "global" {
            return Some(Scope::Global);
        }
        let (kind, value) = t.split_once(':')?;
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        Some(match kind.trim() {
            "provider" => Scope::Provider(value.to_owned()),
            "model" => Scope::Model(value.to_owned()),
            "project" => Scope::Project(value.to_owned()),
            "agent" => Scope::Agent(value.to_owned()),
            "api_key" => Scope::ApiKey(value.to_owned()),
            "tag" => {
                let (k, v) = value.split_once('=').unwrap_or(("tag", value));
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
                if k.is_empty() || v.is_empty() {
                    return None;
                }
                Scope::Tag(k, v)
            }
            _ => return None,
        })
    }

    /// Whether an event with these attributes is in scope.
    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        match self {
            Scope::Global => true,
            Scope::Provider(p) => subject.provider == p,
            // A model id also covers its dated snapshots: `claude-sonnet-4-5` covers
            // `claude-sonnet-4-5-20250929`.
            Scope::Model(m) => subject.model.is_some_and(|s| {
                s.strip_prefix(m.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
            }),
            Scope::Project(p) => subject.project == Some(p.as_str()),
            Scope::Agent(a) => subject.agent == Some(a.as_str()),
            Scope::ApiKey(k) => subject.api_key_id == Some(k.as_str()),
            Scope::Tag(k, v) => subject.tags.iter().any(|(tk, tv)| tk == k && tv == v),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Provider(v) => write!(f, "provider:{v}"),
            Scope::Model(v) => write!(f, "model:{v}"),
            Scope::Tag(k, v) => write!(f, "tag:{k}={v}"),
            Scope::Project(v) => write!(f, "project:{v}"),
            Scope::Agent(v) => write!(f, "agent:{v}"),
            Scope::ApiKey(v) => write!(f, "api_key:{v}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Scope::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "scope '{text}' must be global, provider:<name>, model:<id>, tag:<key>=<value>, project:<name>, agent:<name> or api_key:<id>"
            ))
        })
    }
}

/// The attributes of a request or event that scopes look at.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub provider: &'a str,
    pub model: Option<&'a str>,
    pub project: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub api_key_id: Option<&'a str>,
    pub tags: &'a [(String, String)],
    /// The tenant (`None`: the default tenant). Scopes do not look at it; a budget counts only
    /// its own tenant's requests.
    pub tenant: Option<&'a str>,
}

impl<'a> Subject<'a> {
    pub fn of(event: &'a UsageEvent) -> Self {
        Subject {
            provider: &event.provider,
            model: Some(&event.model),
            project: event.project.as_deref(),
            agent: event.agent.as_deref(),
            api_key_id: event.api_key_id.as_deref(),
            tags: &event.tags,
            tenant: event.tenant.as_deref(),
        }
    }
}
