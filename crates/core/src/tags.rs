//! Tag names and tag colours: what a `key=value` tag may be, what a colour may be, and the
//! colour a tag has before anyone chose one.
//!
//! Invariants: a tag key is trimmed and lower-case, a value trimmed, neither empty nor longer
//! than [`MAX_TAG_PART`]; a bare name `x` means `tag=x`. A colour is `#rrggbb`, stored
//! lower-case. The default colour is a pure function of the tag, so every reader (API, CLI,
//! dashboard) shows the same colour for an undefined tag without storing it; tags listed
//! together ([`distinct_colors`]) move off a default another listed tag already shows.

/// Longest key or value, in characters (the proxy caps header tags at the same length).
pub const MAX_TAG_PART: usize = 200;

/// Longest tag description, in characters.
pub const MAX_DESCRIPTION: usize = 500;

/// Default colours: mid-tone, so each reads on the dark and on the light theme.
const PALETTE: [&str; 12] = [
    "#2e9e4f", "#1f8fd6", "#d4a017", "#d0459b", "#e0702a", "#8a6ee0", "#1aa89e", "#c0392b",
    "#6d8f1f", "#b5651d", "#4f6fd6", "#a04fb5",
];

/// Colours a tag takes when its default colour is already shown for another tag: distinct
/// from the defaults and from each other, mid-tone like them.
const SPARE: [&str; 12] = [
    "#7fa81e", "#0097a7", "#f06292", "#8d6e63", "#5c6bc0", "#ff8f00", "#26a69a", "#ab47bc",
    "#9e9d24", "#ef5350", "#42a5f5", "#78909c",
];

/// Why a tag name, colour or description was refused. Each names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("'{0}' must be key=value or a bare tag name, with neither side empty")]
    Empty(String),
    #[error("'{0}' is too long: keys and values are at most {MAX_TAG_PART} characters")]
    TooLong(String),
    #[error("'{0}' is not a colour: use #rrggbb, e.g. #33ff66")]
    BadColor(String),
    #[error("the description is longer than {MAX_DESCRIPTION} characters")]
    LongDescription,
}

/// Parses `key=value` or a bare `name` (= `tag=name`) into a trimmed, lower-case-key pair.
pub fn parse_tag(text: &str) -> Result<(String, String), TagError> {
    let t = text.trim();
    let (k, v) = t.split_once('=').unwrap_or(("tag", t));
    let (k, v) = (k.trim(), v.trim());
    if k.is_empty() || v.is_empty() {
        return Err(TagError::Empty(t.to_owned()));
    }
    if k.chars().count() > MAX_TAG_PART || v.chars().count() > MAX_TAG_PART {
        return Err(TagError::TooLong(t.to_owned()));
    }
    Ok((k.to_ascii_lowercase(), v.to_owned()))
}

/// Checks a `#rrggbb` colour (either case) and returns it lower-case.
pub fn parse_color(text: &str) -> Result<String, TagError> {
    let t = text.trim();
    match t.strip_prefix('#') {
        Some(hex) if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(t.to_ascii_lowercase())
        }
        _ => Err(TagError::BadColor(t.to_owned())),
    }
}

/// Trims a description; an empty one is none.
pub fn parse_description(text: &str) -> Result<Option<String>, TagError> {
    let t = text.trim();
    if t.chars().count() > MAX_DESCRIPTION {
        return Err(TagError::LongDescription);
    }
    Ok((!t.is_empty()).then(|| t.to_owned()))
}

/// The colour of a tag nobody gave one: FNV-1a of `key=value` picks from a fixed palette, so it
/// is the same on every machine and every release that keeps the palette.
pub fn default_color(key: &str, value: &str) -> &'static str {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain([b'=']).chain(value.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let len = PALETTE.len() as u64;
    PALETTE[usize::try_from(hash % len).unwrap_or(0)]
}

/// The colours of tags shown together (a table, a chart's legend): `(key, value, chosen)` in,
/// one colour per tag out, in the same order.
///
/// A chosen colour is kept. A tag without one keeps its [`default_color`] unless another tag of
/// the list already shows that colour; then it takes the next colour of the palette (defaults,
/// then spares) that no tag of the list shows. Tags are settled in name order, not list order,
/// so the same set of tags gets the same colours however it is sorted. Only past 24 undefined
/// tags with taken colours do two tags share one.
pub fn distinct_colors(tags: &[(&str, &str, Option<&str>)]) -> Vec<String> {
    let mut out: Vec<Option<String>> = tags
        .iter()
        .map(|(_, _, chosen)| chosen.map(str::to_owned))
        .collect();
    let mut used: std::collections::HashSet<String> = out.iter().flatten().cloned().collect();
    let mut open: Vec<usize> = (0..tags.len()).filter(|i| out[*i].is_none()).collect();
    open.sort_by(|a, b| (tags[*a].0, tags[*a].1).cmp(&(tags[*b].0, tags[*b].1)));
    let all: Vec<&str> = PALETTE.iter().chain(SPARE.iter()).copied().collect();
    for i in open {
        let (key, value, _) = tags[i];
        let preferred = default_color(key, value);
        let start = all.iter().position(|c| *c == preferred).unwrap_or(0);
        let color = (0..all.len())
            .map(|step| all[(start + step) % all.len()])
            .find(|c| !used.contains(*c))
            .unwrap_or(preferred)
            .to_owned();
        used.insert(color.clone());
        out[i] = Some(color);
    }
    out.into_iter().map(Option::unwrap_or_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_keys_lower_case_and_bare_means_tag() {
        assert_eq!(
            parse_tag(" Team = Red ").unwrap(),
            ("team".into(), "Red".into())
        );
        assert_eq!(
            parse_tag("client-work").unwrap(),
            ("tag".into(), "client-work".into())
        );
        assert_eq!(parse_tag("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        for bad in ["", "  ", "=x", "x=", " = "] {
            assert!(matches!(parse_tag(bad), Err(TagError::Empty(_))), "{bad:?}");
        }
        let long = format!("k={}", "v".repeat(MAX_TAG_PART + 1));
        assert!(matches!(parse_tag(&long), Err(TagError::TooLong(_))));
        assert!(parse_tag(&format!("k={}", "v".repeat(MAX_TAG_PART))).is_ok());
    }

    #[test]
    fn colours_are_hash_and_six_hex_digits() {
        assert_eq!(parse_color("#33FF66").unwrap(), "#33ff66");
        assert_eq!(parse_color(" #a1b2c3 ").unwrap(), "#a1b2c3");
        for bad in ["33ff66", "#33ff6", "#33ff667", "#33ff6g", "red", "", "#"] {
            assert!(
                matches!(parse_color(bad), Err(TagError::BadColor(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn descriptions_are_trimmed_and_capped() {
        assert_eq!(parse_description("  ").unwrap(), None);
        assert_eq!(parse_description(" x ").unwrap(), Some("x".into()));
        assert!(parse_description(&"d".repeat(MAX_DESCRIPTION)).is_ok());
        assert_eq!(
            parse_description(&"d".repeat(MAX_DESCRIPTION + 1)),
            Err(TagError::LongDescription)
        );
    }

    #[test]
    fn tags_shown_together_get_distinct_colours() {
        let names: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let tags: Vec<(&str, &str, Option<&str>)> =
            names.iter().map(|n| ("k", n.as_str(), None)).collect();
        // Twenty tags in twelve default colours must collide; spread, they must not.
        let defaults: std::collections::BTreeSet<&str> =
            names.iter().map(|n| default_color("k", n)).collect();
        assert!(defaults.len() < names.len());
        let colors = distinct_colors(&tags);
        let unique: std::collections::BTreeSet<&String> = colors.iter().collect();
        assert_eq!(unique.len(), names.len(), "{colors:?}");
        for c in &colors {
            assert_eq!(parse_color(c).unwrap(), *c);
        }
        // The same set in another order gets the same colours.
        let mut reversed = tags.clone();
        reversed.reverse();
        let mut again = distinct_colors(&reversed);
        again.reverse();
        assert_eq!(again, colors);
        // A tag alone keeps its default; a chosen colour is kept and is taken by nobody else.
        assert_eq!(distinct_colors(&[("team", "red", None)]), ["#1aa89e"]);
        let chosen = distinct_colors(&[("team", "red", None), ("team", "blue", Some("#1aa89e"))]);
        assert_eq!(chosen[1], "#1aa89e");
        assert_ne!(chosen[0], "#1aa89e");
    }

    #[test]
    fn default_colour_is_stable_valid_and_spread() {
        // Pinned (FNV-1a of "team=red" is 6 mod 12): a change here recolours every undefined
        // tag on every dashboard.
        assert_eq!(default_color("team", "red"), default_color("team", "red"));
        assert_eq!(default_color("team", "red"), "#1aa89e");
        let all: std::collections::BTreeSet<&str> = (0..200)
            .map(|i| default_color("k", &i.to_string()))
            .collect();
        assert_eq!(all.len(), PALETTE.len());
        for c in all {
            assert_eq!(parse_color(c).unwrap(), c);
        }
    }
}
