//! Prompt anatomy: what a request's input is made of, part by part.
//!
//! A request's input is cut into parts in the order a provider's cache prefix sees them: each
//! tool definition, then the system prompt's components, then the conversation history, then
//! the new input (the last user turn). System prompt components are found by [`Markers`]:
//! Markdown headings (`# AGENTS.md`, `## Rules`), top-level XML-like tags (`<env>…</env>`) and
//! the user's own regexes. Each part keeps its size and a hash of its text, never the text, so
//! a changed component is visible (its hash moves) without storing what it says.
//!
//! [`attribution`] spreads an event's input cost over its parts to the nano-dollar.

pub mod attribution;

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a part of the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    /// One tool definition, named by the tool.
    Tool,
    /// One component of the system prompt.
    System,
    /// Every message before the last user turn.
    History,
    /// The last user turn.
    NewInput,
}

impl PartKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::System => "system",
            Self::History => "history",
            Self::NewInput => "new_input",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "tool" => Self::Tool,
            "system" => Self::System,
            "history" => Self::History,
            "new_input" => Self::NewInput,
            _ => return None,
        })
    }
}

/// One part of a request's input: its size, a hash of its text, and (once priced) its share of
/// the event's input cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptPart {
    pub kind: PartKind,
    /// The tool's name, the system component's name, or `history` / `new_input`.
    pub name: String,
    pub chars: i64,
    /// First 16 hex digits of the SHA-256 of the part's text.
    pub hash: String,
    /// This part's share of the event's input cost ([`attribution`]); 0 until priced.
    #[serde(default)]
    pub cost_nanos: i64,
}

/// The texts a provider adapter reads from a request body, for [`parts`]. Transient: only
/// sizes and hashes leave this struct.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptText {
    /// The system prompt (blocks joined with a newline).
    pub system: String,
    /// Each tool definition: its name and its definition as sent (JSON text).
    pub tools: Vec<(String, String)>,
    /// Every message before the last user turn, as text.
    pub history: String,
    /// The last user turn, as text.
    pub new_input: String,
    /// The first user message (tag rules read it).
    pub first_user: String,
    /// The conversation's hash chain: link `i` is the hash of link `i - 1` and message `i`'s
    /// text, so a turn that repeats an earlier turn's messages repeats its links (sessions are
    /// told apart by it; system prompt and tools are not in it).
    pub chain: Vec<String>,
    /// Messages in the request (every role).
    pub messages: i64,
}

/// First 16 hex digits of the SHA-256 of `text`.
pub fn text_hash(text: &str) -> String {
    hash_of(&[text.as_bytes()])
}

/// [`text_hash`] of `pieces` joined, without joining them.
pub fn hash_of(pieces: &[&[u8]]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    for piece in pieces {
        hasher.update(piece);
    }
    let digest = hasher.finalize();
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

fn chars(text: &str) -> i64 {
    i64::try_from(text.chars().count()).unwrap_or(i64::MAX)
}

/// How system prompt components are recognised: the built-in markers plus the user's regexes
/// (each matched against one line; its first capture group, or else the whole match, names
/// the component that starts on that line).
#[derive(Debug, Clone, Default)]
pub struct Markers {
    user: Vec<Regex>,
}

/// A user's marker regex that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("prompt component marker '{pattern}' is not a valid regex: {problem}")]
pub struct MarkerError {
    pub pattern: String,
    pub problem: String,
}

impl Markers {
    /// The built-in markers plus `patterns` (checked first, in order).
    pub fn new(patterns: &[String]) -> Result<Self, MarkerError> {
        let user = patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|e| MarkerError {
                    pattern: p.clone(),
                    problem: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { user })
    }

    /// The name of the component a line starts, if it starts one.
    fn starts(&self, line: &str) -> Option<String> {
        for re in &self.user {
            if let Some(c) = re.captures(line) {
                let m = c.get(1).or_else(|| c.get(0))?;
                return Some(m.as_str().trim().to_owned());
            }
        }
        let trimmed = line.trim_end();
        // Markdown headings of levels 1 to 3: `# AGENTS.md`, `## Tools`.
        let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
        if (1..=3).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            let name = trimmed[hashes..].trim();
            if !name.is_empty() {
                return Some(name.to_owned());
            }
        }
        // A top-level tag opening a line: `<env>`, `<system-reminder …>`.
        let rest = trimmed.strip_prefix('<')?;
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
            .collect();
        let after = &rest[name.len()..];
        (!name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && (after.starts_with('>') || after.starts_with(' ')))
        .then(|| format!("<{name}>"))
    }
}

/// The system prompt cut into named components: text before the first marker is `preamble`;
/// a name seen twice gets `#2`, `#3`… so every component keeps its own identity.
pub fn system_components(system: &str, markers: &Markers) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut name = "preamble".to_owned();
    let mut text = String::new();
    for line in system.split_inclusive('\n') {
        if let Some(next) = markers.starts(line.trim_end_matches(['\n', '\r'])) {
            if !text.trim().is_empty() {
                out.push((name, std::mem::take(&mut text)));
            }
            text.clear();
            name = next;
        }
        text.push_str(line);
    }
    if !text.trim().is_empty() {
        out.push((name, text));
    }
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (name, _) in &mut out {
        let n = seen.entry(name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            *name = format!("{name}#{n}");
        }
    }
    out
}

/// The parts of a request's input, in cache-prefix order: tools, system components, history,
/// new input. Empty parts are left out.
pub fn parts(text: &PromptText, markers: &Markers) -> Vec<PromptPart> {
    let part = |kind, name: &str, body: &str| PromptPart {
        kind,
        name: name.to_owned(),
        chars: chars(body),
        hash: text_hash(body),
        cost_nanos: 0,
    };
    let mut out: Vec<PromptPart> = text
        .tools
        .iter()
        .map(|(name, def)| part(PartKind::Tool, name, def))
        .collect();
    out.extend(
        system_components(&text.system, markers)
            .iter()
            .map(|(name, body)| part(PartKind::System, name, body)),
    );
    if !text.history.is_empty() {
        out.push(part(PartKind::History, "history", &text.history));
    }
    if !text.new_input.is_empty() {
        out.push(part(PartKind::NewInput, "new_input", &text.new_input));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(system: &str, markers: &Markers) -> Vec<String> {
        system_components(system, markers)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn hashes_are_the_sha256_prefix_of_the_joined_pieces() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223…: stored hashes and session chains
        // depend on these exact digits.
        assert_eq!(text_hash("abc"), "ba7816bf8f01cfea");
        assert_eq!(text_hash(""), "e3b0c44298fc1c14");
        assert_eq!(hash_of(&[b"a", b"", b"bc"]), text_hash("abc"));
        let joined = format!("{}\u{1}{}", "prev", "héllo");
        assert_eq!(
            hash_of(&["prev".as_bytes(), b"\x01", "héllo".as_bytes()]),
            text_hash(&joined)
        );
    }

    #[test]
    fn headings_tags_and_user_markers_start_components() {
        let m = Markers::default();
        let system = "You are a coding agent.\n\n# AGENTS.md\nRun tests.\n## Style\nBe terse.\n<env>\ncwd: /x\n</env>\n#hashtag is not a heading\n";
        assert_eq!(
            names(system, &m),
            ["preamble", "AGENTS.md", "Style", "<env>"]
        );
        let parts = system_components(system, &m);
        assert_eq!(
            parts[3].1,
            "<env>\ncwd: /x\n</env>\n#hashtag is not a heading\n"
        );
        let joined: String = parts.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(joined, system, "no character is lost or repeated");

        let user = Markers::new(&["^=== (.+) ===$".to_owned()]).unwrap();
        assert_eq!(
            names("intro\n=== CLAUDE.md ===\nrules\n", &user),
            ["preamble", "CLAUDE.md"]
        );
        let bad = Markers::new(&["(".to_owned()]).unwrap_err();
        assert!(bad.to_string().contains("'('"), "{bad}");
    }

    #[test]
    fn a_repeated_name_is_numbered_and_empty_text_is_no_component() {
        let m = Markers::default();
        assert_eq!(names("# A\nx\n# A\ny\n", &m), ["A", "A#2"]);
        assert!(names("", &m).is_empty());
        assert_eq!(names("\n\n# Only\n", &m), ["Only"]);
    }

    #[test]
    fn parts_come_in_cache_prefix_order_with_sizes_and_hashes() {
        let text = PromptText {
            system: "Be brief.\n# Rules\nNo.\n".to_owned(),
            tools: vec![("grep".to_owned(), "{\"name\":\"grep\"}".to_owned())],
            history: "hello".to_owned(),
            new_input: "and now?".to_owned(),
            first_user: "hello".to_owned(),
            chain: Vec::new(),
            messages: 3,
        };
        let p = parts(&text, &Markers::default());
        let got: Vec<(PartKind, &str, i64)> = p
            .iter()
            .map(|p| (p.kind, p.name.as_str(), p.chars))
            .collect();
        assert_eq!(
            got,
            vec![
                (PartKind::Tool, "grep", 15),
                (PartKind::System, "preamble", 10),
                (PartKind::System, "Rules", 12),
                (PartKind::History, "history", 5),
                (PartKind::NewInput, "new_input", 8),
            ]
        );
        assert_eq!(p[3].hash, text_hash("hello"));
        assert_eq!(p[3].hash.len(), 16);
        assert_ne!(p[3].hash, p[4].hash);
    }

    #[test]
    fn every_wire_format_yields_the_same_anatomy() {
        use crate::providers::{Endpoint, ProviderKind};
        let anthropic =
            br#"{"model":"m","system":[{"type":"text","text":"Be brief.\n# AGENTS.md\nTest."}],
            "tools":[{"name":"grep","input_schema":{}}],
            "messages":[{"role":"user","content":"first"},{"role":"assistant","content":"ok"},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"x"}]},
              {"role":"user","content":"second"}]}"#;
        let chat = br#"{"model":"m","tools":[{"type":"function","function":{"name":"grep"}}],
            "messages":[{"role":"system","content":"Be brief.\n# AGENTS.md\nTest."},
              {"role":"user","content":"first"},{"role":"assistant","content":"ok"},
              {"role":"tool","content":"x"},{"role":"user","content":"second"}]}"#;
        let gemini = br#"{"systemInstruction":{"parts":[{"text":"Be brief.\n# AGENTS.md\nTest."}]},
            "tools":[{"functionDeclarations":[{"name":"grep"}]}],
            "contents":[{"role":"user","parts":[{"text":"first"}]},{"role":"model","parts":[{"text":"ok"}]},
              {"role":"user","parts":[{"functionResponse":{"name":"grep"}}]},{"role":"user","parts":[{"text":"second"}]}]}"#;
        for (kind, endpoint, body) in [
            (ProviderKind::Anthropic, Endpoint::Messages, &anthropic[..]),
            (ProviderKind::Openai, Endpoint::ChatCompletions, &chat[..]),
            (ProviderKind::Gemini, Endpoint::GenerateContent, &gemini[..]),
        ] {
            let req = crate::providers::parse_request(body).expect("JSON");
            let text = kind.adapter().prompt_text(endpoint, &req);
            assert_eq!(text.first_user, "first", "{kind:?}");
            assert_eq!(text.new_input, "second", "{kind:?}");
            assert_eq!(text.messages, 4, "{kind:?}");
            assert_eq!(text.tools.len(), 1, "{kind:?}");
            assert_eq!(text.tools[0].0, "grep", "{kind:?}");
            let p = parts(&text, &Markers::default());
            let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(
                names,
                ["grep", "preamble", "AGENTS.md", "history", "new_input"],
                "{kind:?}"
            );
        }
        assert_eq!(crate::providers::parse_request(b"not json"), None);
    }
}
