//! Attribution from request headers: tags, project, agent and session.
//!
//! tokenwatch's own headers (`X-Tokenwatch-Tags: env=prod,team=backend,client-work`,
//! `X-Tokenwatch-Project`, `-Agent`, `-Session`) are read here and stripped before forwarding.
//! The well-known peers' headers (`Helicone-Property-<Name>`, `Helicone-Session-Id`,
//! `Helicone-User-Id`, `x-litellm-tags`) are read too, so switching tools costs nothing; those
//! are forwarded untouched. Values are trimmed and length-capped; a bare tag is `tag=<word>`.

use http::HeaderMap;

const MAX_TAG_LEN: usize = 200;
const MAX_TAGS: usize = 64;

/// Attribution read from one request's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub tags: Vec<(String, String)>,
    pub project: Option<String>,
    pub agent: Option<String>,
    pub session: Option<String>,
    /// Values of the headers that auto-tag rules read (filled at admission, see `policy`).
    pub rule_headers: Vec<(String, String)>,
    /// Budgets that admitted this request (and count it as in flight until it is priced).
    pub admitted_budgets: Vec<String>,
    /// The client's key as a stable, non-reversible id (see `proxy::headers::key_id`), or the
    /// id of the tokenwatch key it presented.
    pub api_key_id: Option<String>,
    /// The tenant of the tokenwatch key the request presented (`None`: the default tenant).
    pub tenant: Option<String>,
    /// Why tokenwatch refused the request itself, when it did for something other than a
    /// budget (`session_blocked`, `agent_paused`): the refused event's `error_type`.
    pub refused_by: Option<&'static str>,
}

impl RequestMeta {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut meta = RequestMeta::default();
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(cap)
        };
        for value in headers
            .get_all("x-tokenwatch-tags")
            .iter()
            .chain(headers.get_all("x-litellm-tags").iter())
        {
            if let Ok(list) = value.to_str() {
                for item in list.split(',') {
                    meta.push_tag(item);
                }
            }
        }
        for (name, value) in headers {
            if let Some(prop) = name.as_str().strip_prefix("helicone-property-")
                && let Ok(v) = value.to_str()
            {
                meta.push_pair(prop, v);
            }
        }
        meta.project = text("x-tokenwatch-project");
        meta.agent = text("x-tokenwatch-agent");
        meta.session = text("x-tokenwatch-session").or_else(|| text("helicone-session-id"));
        if let Some(user) = text("helicone-user-id") {
            meta.push_pair("user", &user);
        }
        meta.tags.sort();
        meta.tags.dedup();
        meta
    }

    /// Adds `key=value`, or a bare word as `tag=<word>`.
    fn push_tag(&mut self, item: &str) {
        let item = item.trim();
        if item.is_empty() {
            return;
        }
        match item.split_once('=') {
            Some((k, v)) => self.push_pair(k, v),
            None => self.push_pair("tag", item),
        }
    }

    fn push_pair(&mut self, key: &str, value: &str) {
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        if key.is_empty() || value.is_empty() || self.tags.len() >= MAX_TAGS {
            return;
        }
        self.tags.push((cap(&key), cap(value)));
    }
}

fn cap(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_TAG_LEN)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_own_and_peer_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-tokenwatch-tags",
            HeaderValue::from_static("env=prod, team=backend ,client-work,,"),
        );
        h.insert("x-litellm-tags", HeaderValue::from_static("batch-job"));
        h.insert(
            "helicone-property-Customer",
            HeaderValue::from_static("acme"),
        );
        h.insert("helicone-user-id", HeaderValue::from_static("u1"));
        h.insert("x-tokenwatch-session", HeaderValue::from_static("s-1"));
        h.insert(
            "x-tokenwatch-project",
            HeaderValue::from_static("  billing "),
        );
        let m = RequestMeta::from_headers(&h);
        let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            tags,
            [
                "customer=acme",
                "env=prod",
                "tag=batch-job",
                "tag=client-work",
                "team=backend",
                "user=u1"
            ]
        );
        assert_eq!(m.session.as_deref(), Some("s-1"));
        assert_eq!(m.project.as_deref(), Some("billing"));
        assert_eq!(m.agent, None);
    }

    #[test]
    fn helicone_session_is_a_fallback() {
        let mut h = HeaderMap::new();
        h.insert("helicone-session-id", HeaderValue::from_static("hs"));
        assert_eq!(RequestMeta::from_headers(&h).session.as_deref(), Some("hs"));
    }
}
