//! "Did you mean …?": the valid name closest to a misspelt one, for errors that name a bad key
//! or field (configuration files, API bodies).

/// The name of `valid` closest to `given` (ignoring ASCII case), when it is close enough to be
/// the likely intent: at most two edits, or a third of the name's length for long names.
pub fn closest<'a>(given: &str, valid: &[&'a str]) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    valid
        .iter()
        .map(|v| (edit_distance(&given, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Levenshtein distance, with a swap of two adjacent characters counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// One thing wrong with a value a person wrote, and the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

impl Problem {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    /// `Ok` when there is nothing wrong, else every message joined by "; ".
    pub fn join(problems: Vec<Problem>) -> Result<(), String> {
        if problems.is_empty() {
            return Ok(());
        }
        Err(problems
            .into_iter()
            .map(|p| p.message)
            .collect::<Vec<_>>()
            .join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name_or_none() {
        let keys = [
            "listen",
            "max_request_bytes",
            "max_capture_bytes",
            "limit_usd",
        ];
        assert_eq!(closest("listne", &keys), Some("listen"));
        assert_eq!(closest("LISTEN", &keys), Some("listen"));
        assert_eq!(
            closest("max_request_byte", &keys),
            Some("max_request_bytes")
        );
        assert_eq!(closest("limit", &keys), None);
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
