//! Auto-tag rules: "when this field matches this regex, add this tag".
//!
//! A rule names a field of a request or event (`model`, `provider`, `path`, `header:<name>`,
//! `system` prompt, `first_user` message, or a stored column: `project`, `agent`, `source`,
//! `cwd`, `git_branch`), a regex, and a `key=value` tag whose value may use the regex's capture
//! groups (`team=$1`). Rules are compiled once; a bad regex is rejected with the character
//! position of the error. Evaluation is pure and allocation-light; a field the caller does not
//! know (a stored event has no headers or prompt) simply never matches.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::UsageEvent;

/// How a rule is written in config files and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRuleSpec {
    pub name: String,
    /// `model`, `provider`, `path`, `header:<name>`, `system`, `first_user`, `project`,
    /// `agent`, `source`, `cwd` or `git_branch`.
    pub field: String,
    /// A regex (Rust `regex` syntax); unanchored unless it says `^…$`.
    pub pattern: String,
    /// `key=value` (the value may use `$1`, `${name}`) or a bare tag name.
    pub tag: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// The field a rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleField {
    Model,
    Provider,
    Path,
    /// A request header, lower-cased name.
    Header(String),
    SystemPrompt,
    FirstUserMessage,
    Project,
    Agent,
    Source,
    Cwd,
    GitBranch,
}

impl RuleField {
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if let Some(name) = t.strip_prefix("header:") {
            let name = name.trim().to_ascii_lowercase();
            return (!name.is_empty()).then_some(RuleField::Header(name));
        }
        Some(match t {
            "model" => RuleField::Model,
            "provider" => RuleField::Provider,
            "path" => RuleField::Path,
            "system" => RuleField::SystemPrompt,
            "first_user" => RuleField::FirstUserMessage,
            "project" => RuleField::Project,
            "agent" => RuleField::Agent,
            "source" => RuleField::Source,
            "cwd" => RuleField::Cwd,
            "git_branch" => RuleField::GitBranch,
            _ => return None,
        })
    }
}

/// Why a rule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(
        "tag rule '{rule}': field '{field}' is not one of model, provider, path, header:<name>, system, first_user, project, agent, source, cwd, git_branch"
    )]
    BadField { rule: String, field: String },
    #[error("tag rule '{rule}': pattern is not a valid regex at position {position}: {message}")]
    BadPattern {
        rule: String,
        /// Character offset (0-based) in the pattern where the error is.
        position: usize,
        message: String,
    },
    #[error("tag rule '{rule}': tag '{tag}' must be key=value or a bare tag name")]
    BadTag { rule: String, tag: String },
    #[error("tag rule: the name must be 1-100 characters")]
    BadName,
}

/// A rule ready to evaluate.
#[derive(Clone)]
pub struct TagRule {
    pub spec: TagRuleSpec,
    pub field: RuleField,
    regex: Regex,
    key: String,
    value: String,
}

impl fmt::Debug for TagRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagRule").field("spec", &self.spec).finish()
    }
}

/// Checks and compiles a rule.
pub fn compile(spec: &TagRuleSpec) -> Result<TagRule, RuleError> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(RuleError::BadName);
    }
    let field = RuleField::parse(&spec.field).ok_or_else(|| RuleError::BadField {
        rule: name.to_owned(),
        field: spec.field.clone(),
    })?;
    let regex = Regex::new(&spec.pattern).map_err(|e| {
        let (position, message) = regex_error_position(&spec.pattern, &e);
        RuleError::BadPattern {
            rule: name.to_owned(),
            position,
            message,
        }
    })?;
    let tag = spec.tag.trim();
    let (key, value) = tag.split_once('=').unwrap_or(("tag", tag));
    let (key, value) = (key.trim().to_ascii_lowercase(), value.trim().to_owned());
    if key.is_empty() || value.is_empty() {
        return Err(RuleError::BadTag {
            rule: name.to_owned(),
            tag: spec.tag.clone(),
        });
    }
    Ok(TagRule {
        spec: TagRuleSpec {
            name: name.to_owned(),
            ..spec.clone()
        },
        field,
        regex,
        key,
        value,
    })
}

/// The character position and short message of a regex error. The syntax parser reports a
/// span (byte offsets); other failures (a compiled size limit) have no position: 0.
fn regex_error_position(pattern: &str, err: &regex::Error) -> (usize, String) {
    let mut parser = regex_syntax::ast::parse::Parser::new();
    if let Err(ast) = parser.parse(pattern) {
        let byte = ast.span().start.offset;
        let chars = pattern.get(..byte).map_or(byte, |p| p.chars().count());
        return (chars, ast.kind().to_string());
    }
    if let Err(regex_syntax::Error::Translate(hir)) = regex_syntax::Parser::new().parse(pattern) {
        let byte = hir.span().start.offset;
        let chars = pattern.get(..byte).map_or(byte, |p| p.chars().count());
        return (chars, hir.kind().to_string());
    }
    (
        0,
        err.to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// What a rule can look at. Unknown fields are `None` and never match.
#[derive(Debug, Default, Clone, Copy)]
pub struct RuleInput<'a> {
    pub model: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub path: Option<&'a str>,
    /// Lower-cased header names and their values.
    pub headers: &'a [(String, String)],
    pub system_prompt: Option<&'a str>,
    pub first_user_message: Option<&'a str>,
    pub project: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub source: Option<&'a str>,
    pub cwd: Option<&'a str>,
    pub git_branch: Option<&'a str>,
}

impl TagRule {
    /// The tag this rule adds for `input`, if it matches.
    pub fn apply(&self, input: &RuleInput<'_>) -> Option<(String, String)> {
        if !self.spec.enabled {
            return None;
        }
        let text = match &self.field {
            RuleField::Model => input.model,
            RuleField::Provider => input.provider,
            RuleField::Path => input.path,
            RuleField::Header(name) => input
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
            RuleField::SystemPrompt => input.system_prompt,
            RuleField::FirstUserMessage => input.first_user_message,
            RuleField::Project => input.project,
            RuleField::Agent => input.agent,
            RuleField::Source => input.source,
            RuleField::Cwd => input.cwd,
            RuleField::GitBranch => input.git_branch,
        }?;
        let caps = self.regex.captures(text)?;
        let mut value = String::new();
        caps.expand(&self.value, &mut value);
        let value: String = value
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        (!value.trim().is_empty()).then(|| (self.key.clone(), value.trim().to_owned()))
    }

    /// Whether this rule needs the request's prompt text (so callers parse it only then).
    pub fn needs_prompt(&self) -> bool {
        matches!(
            self.field,
            RuleField::SystemPrompt | RuleField::FirstUserMessage
        )
    }
}

impl<'a> RuleInput<'a> {
    /// What a stored or imported event offers the rules: no path, headers or prompt.
    pub fn of_event(e: &'a UsageEvent) -> Self {
        RuleInput {
            model: Some(&e.model),
            provider: Some(&e.provider),
            project: e.project.as_deref(),
            agent: e.agent.as_deref(),
            source: Some(e.source.as_str()),
            cwd: e.cwd.as_deref(),
            git_branch: e.git_branch.as_deref(),
            ..RuleInput::default()
        }
    }
}

/// Adds the rules' tags to an event about to be written (an import); returns how many were new.
pub fn tag_event(rules: &[TagRule], event: &mut UsageEvent) -> u64 {
    if rules.is_empty() {
        return 0;
    }
    let before = event.tags.len();
    let added = apply_all(rules, &RuleInput::of_event(event));
    event.tags.extend(added);
    event.tags.sort();
    event.tags.dedup();
    (event.tags.len() - before) as u64
}

/// Every tag the rules add for `input`, sorted and without duplicates.
pub fn apply_all(rules: &[TagRule], input: &RuleInput<'_>) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = rules.iter().filter_map(|r| r.apply(input)).collect();
    tags.sort();
    tags.dedup();
    tags
}

/// The system prompt and the first user message of a request body in any supported wire
/// format (Anthropic Messages, OpenAI Chat Completions and Responses, Gemini), as plain text.
pub fn prompt_texts(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let mut system = Vec::new();
    for key in [
        "system",
        "instructions",
        "systemInstruction",
        "system_instruction",
    ] {
        if let Some(v) = doc.get(key) {
            collect_text(v, &mut system);
        }
    }
    let mut first_user = None;
    for key in ["messages", "input", "contents"] {
        let Some(list) = doc.get(key) else { continue };
        if let Some(text) = list.as_str() {
            first_user.get_or_insert_with(|| text.to_owned());
            continue;
        }
        for message in list.as_array().into_iter().flatten() {
            let role = message
                .get("role")
                .and_then(|r| r.as_str())
                .unwrap_or("user");
            let content = message.get("content").or_else(|| message.get("parts"));
            match (role, content) {
                ("system" | "developer", Some(c)) => collect_text(c, &mut system),
                ("user", Some(c)) if first_user.is_none() => {
                    let mut parts = Vec::new();
                    collect_text(c, &mut parts);
                    first_user = Some(parts.join("\n"));
                }
                _ => {}
            }
        }
    }
    let system = (!system.is_empty()).then(|| system.join("\n"));
    (system, first_user)
}

fn collect_text(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        serde_json::Value::Object(map) => {
            if let Some(t) = map.get("text").and_then(|t| t.as_str()) {
                out.push(t.to_owned());
            } else if let Some(parts) = map.get("parts").or_else(|| map.get("content")) {
                collect_text(parts, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(field: &str, pattern: &str, tag: &str) -> TagRuleSpec {
        TagRuleSpec {
            name: "r".into(),
            field: field.into(),
            pattern: pattern.into(),
            tag: tag.into(),
            enabled: true,
        }
    }

    #[test]
    fn bad_regex_reports_its_position() {
        let err = compile(&spec("model", "claude-(opus", "x")).unwrap_err();
        match err {
            RuleError::BadPattern { position, .. } => assert_eq!(position, 7),
            other => panic!("{other:?}"),
        }
        let err = compile(&spec("model", "ab[z-a]", "x")).unwrap_err();
        let RuleError::BadPattern {
            position, message, ..
        } = err
        else {
            panic!("wrong error")
        };
        assert_eq!(position, 3, "{message}");
        // Character (not byte) positions: 'é' is two bytes.
        let err = compile(&spec("model", "é(", "x")).unwrap_err();
        let RuleError::BadPattern { position, .. } = err else {
            panic!("wrong error")
        };
        assert_eq!(position, 1);
    }

    #[test]
    fn fields_and_tags_are_checked() {
        assert!(matches!(
            compile(&spec("body", "x", "a=b")),
            Err(RuleError::BadField { .. })
        ));
        assert!(matches!(
            compile(&spec("model", "x", "a=")),
            Err(RuleError::BadTag { .. })
        ));
        assert!(compile(&spec("header:X-Team", "x", "a=b")).is_ok());
    }

    #[test]
    fn captures_fill_the_value_and_unknown_fields_never_match() {
        let r = compile(&spec("header:X-Team", "^team-(\\w+)$", "team=$1")).unwrap();
        let headers = vec![("x-team".to_owned(), "team-search".to_owned())];
        let input = RuleInput {
            headers: &headers,
            ..RuleInput::default()
        };
        assert_eq!(r.apply(&input), Some(("team".into(), "search".into())));
        assert_eq!(r.apply(&RuleInput::default()), None);
        let bare = compile(&spec("model", "opus", "expensive")).unwrap();
        let input = RuleInput {
            model: Some("claude-opus-4-1"),
            ..RuleInput::default()
        };
        assert_eq!(bare.apply(&input), Some(("tag".into(), "expensive".into())));
    }

    #[test]
    fn prompt_texts_of_every_format() {
        let anthropic = br#"{"system":[{"type":"text","text":"You are a SQL bot"}],"messages":[{"role":"user","content":[{"type":"text","text":"count rows"}]},{"role":"user","content":"later"}]}"#;
        assert_eq!(
            prompt_texts(anthropic),
            (Some("You are a SQL bot".into()), Some("count rows".into()))
        );
        let openai = br#"{"messages":[{"role":"system","content":"sys"},{"role":"user","content":"hello"}]}"#;
        assert_eq!(
            prompt_texts(openai),
            (Some("sys".into()), Some("hello".into()))
        );
        let responses = br#"{"instructions":"be brief","input":"hi there"}"#;
        assert_eq!(
            prompt_texts(responses),
            (Some("be brief".into()), Some("hi there".into()))
        );
        let gemini = br#"{"systemInstruction":{"parts":[{"text":"g-sys"}]},"contents":[{"role":"user","parts":[{"text":"g-user"}]}]}"#;
        assert_eq!(
            prompt_texts(gemini),
            (Some("g-sys".into()), Some("g-user".into()))
        );
        assert_eq!(prompt_texts(b"not json"), (None, None));
    }
}
