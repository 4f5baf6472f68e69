//! JSON request bodies read into typed specs, with errors in words.
//!
//! [`JsonBody`] replaces axum's `Json` extractor for the API's write endpoints: a body that is not
//! JSON, or does not fit the spec, is answered with one 400 error that names every bad field it
//! can find (`limit_usd` must be text or a number, not a list; `perod` is not a field (did you
//! mean `period`?)), never serde's internals (`expected struct BudgetSpec with 10 elements`,
//! `at line 1 column 37`). After each bad field the field is removed from a copy of the body and
//! the rest is read again, so one answer lists them all.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use tokenwatch_app::AppError;
use tokenwatch_core::suggest::closest;

use crate::error::{ApiError, FieldProblem};

/// No body has this many bad fields; the bound keeps a surprise from looping.
const MAX_PROBLEMS: usize = 20;

/// A JSON body (`Content-Type: application/json`) read as `T`, or a 400 naming the bad fields.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !is_json {
            return Err(ApiError::bad(
                "body",
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::bad("body", format!("cannot read the body: {}", e.body_text()))
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Reads `T` from JSON bytes; every problem found is named by its field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad(
            "body",
            format!(
                "the body is not valid JSON: {} (line {}, column {})",
                syntax_in_words(&e),
                e.line(),
                e.column()
            ),
        )
    })?;
    let mut problems: Vec<FieldProblem> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    loop {
        let err = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(v) if problems.is_empty() => return Ok(v),
            Ok(_) => break,
            Err(err) => err,
        };
        let path: Vec<Segment> = err.path().iter().cloned().collect();
        let message = err.inner().to_string();
        if let Some(field) = between(&message, "missing field `", "`") {
            let full = join(&path, Some(field));
            // A field removed after an earlier problem is missing now: already reported.
            if !removed.contains(&full) {
                problems.push(FieldProblem {
                    field: full.clone(),
                    message: format!("`{full}` is required"),
                });
            }
            break;
        }
        let field = join(&path, None);
        problems.push(FieldProblem {
            message: in_words(&field, &message),
            field: field.clone(),
        });
        if problems.len() >= MAX_PROBLEMS || !remove(&mut value, &path) {
            break;
        }
        // A bad list item removes its whole list (see `remove`): the list is then missing.
        if let [parent @ .., Segment::Seq { .. }] = path.as_slice() {
            removed.push(join(parent, None));
        }
        removed.push(field);
    }
    Err(AppError::BadFields(problems).into())
}

/// The field's name as a path: `thresholds[1]`, `limit_usd`, or `body` for the whole body.
fn join(path: &[Segment], last: Option<&str>) -> String {
    let mut out = String::new();
    for segment in path.iter().map(Some).chain(last.map(|_| None)) {
        match segment {
            Some(Segment::Seq { index }) => out.push_str(&format!("[{index}]")),
            Some(Segment::Map { key }) | Some(Segment::Enum { variant: key }) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Some(Segment::Unknown) => {}
            None => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(last.unwrap_or_default());
            }
        }
    }
    if out.is_empty() {
        "body".to_owned()
    } else {
        out
    }
}

/// Removes the value at `path` from the body; false when there is none to remove. A bad item
/// of a list in an object removes the list, so the rest of the body is still read (its other
/// items are not: one problem per list is enough to fix it).
fn remove(value: &mut serde_json::Value, path: &[Segment]) -> bool {
    match path {
        [] => false,
        [Segment::Map { key }, Segment::Seq { .. }] => value
            .as_object_mut()
            .is_some_and(|m| m.remove(key).is_some()),
        [Segment::Map { key }] => value
            .as_object_mut()
            .is_some_and(|m| m.remove(key).is_some()),
        [Segment::Seq { index }] => match value.as_array_mut() {
            Some(items) if *index < items.len() => {
                items[*index] = serde_json::Value::Null;
                // A null item may still be wrong; stop after reporting it once.
                false
            }
            _ => false,
        },
        [Segment::Map { key }, rest @ ..] => value
            .get_mut(key.as_str())
            .is_some_and(|inner| remove(inner, rest)),
        [Segment::Seq { index }, rest @ ..] => value
            .get_mut(*index)
            .is_some_and(|inner| remove(inner, rest)),
        _ => false,
    }
}

/// The text between `start` and the next `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

/// The backquoted names of serde's "expected one of `a`, `b`".
fn names(list: &str) -> Vec<&str> {
    list.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, n)| n)
        .collect()
}

/// One of serde's data errors about `field`, in words.
fn in_words(field: &str, message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (given, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid = names(expected);
        let hint = closest(given, &valid)
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        return format!(
            "`{field}` is not a field here{hint}; the fields are {}",
            valid.join(", ")
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (given, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid = names(expected);
        let hint = closest(given, &valid)
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        return format!(
            "`{field}` cannot be \"{given}\"{hint}; it is one of {}",
            valid.join(", ")
        );
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((actual, expected)) = rest.split_once(", expected ")
        {
            return format!(
                "`{field}` must be {}, not {}",
                expected_in_words(expected),
                actual_in_words(actual)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ")
        && let Some((_, expected)) = rest.split_once(", expected ")
    {
        // serde's length complaint comes from a list where an object or fixed list belongs.
        return format!(
            "`{field}` must be {}, not a list",
            expected_in_words(expected)
        );
    }
    format!("`{field}`: {message}")
}

fn expected_in_words(expected: &str) -> String {
    let e = expected.trim();
    if e.starts_with("struct ") || e.starts_with("a map") || e.starts_with("map") {
        return "an object".to_owned();
    }
    match e {
        "a string" | "string" => "text".to_owned(),
        "a boolean" | "bool" => "true or false".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" | "sequence" => "a list".to_owned(),
        other => other.to_owned(),
    }
}

fn actual_in_words(actual: &str) -> String {
    let a = actual.trim();
    if let Some(s) = a.strip_prefix("string ") {
        return format!("the text {s}");
    }
    for prefix in ["integer ", "floating point "] {
        if let Some(n) = a.strip_prefix(prefix) {
            return format!("the number {}", n.trim_matches('`'));
        }
    }
    if let Some(b) = a.strip_prefix("boolean ") {
        return b.trim_matches('`').to_owned();
    }
    match a {
        "sequence" => "a list".to_owned(),
        "map" => "an object".to_owned(),
        "unit" | "null" => "null".to_owned(),
        other => other.to_owned(),
    }
}

/// A JSON syntax error without serde's type talk.
fn syntax_in_words(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.split_once(" at line ") {
        Some((what, _)) => what.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only read to be checked")]
    struct Spec {
        name: String,
        limit: u64,
        #[serde(default)]
        period: Option<Period>,
        #[serde(default)]
        enabled: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Period {
        Day,
        Month,
    }

    fn problems(body: &str) -> Vec<(String, String)> {
        match parse::<Spec>(body.as_bytes()) {
            Err(ApiError::App(AppError::BadFields(p))) => {
                p.into_iter().map(|p| (p.field, p.message)).collect()
            }
            other => panic!("expected field problems, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_named_in_words() {
        let got = problems(
            r#"{"name": "x", "limit": "lots", "perod": "day", "enabled": 3, "period": "wek"}"#,
        );
        let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields.len(), 4, "{got:?}");
        let all = got
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            all.contains("`limit` must be a whole number (0 or more), not the text \"lots\""),
            "{all}"
        );
        assert!(
            all.contains("`perod` is not a field here (did you mean `period`?)"),
            "{all}"
        );
        assert!(
            all.contains("`enabled` must be true or false, not the number 3"),
            "{all}"
        );
        assert!(all.contains("`period` cannot be \"wek\""), "{all}");
        assert!(!all.contains("Spec") && !all.contains("line 1"), "{all}");
    }

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "only read to be checked")]
    struct WithList {
        name: String,
        percents: Vec<u32>,
        rate: u64,
    }

    #[test]
    fn a_bad_list_item_does_not_hide_the_other_fields() {
        let got = match parse::<WithList>(br#"{"name": 1, "percents": [50, "x"], "rate": "lots"}"#)
        {
            Err(ApiError::App(AppError::BadFields(p))) => {
                p.into_iter().map(|p| p.field).collect::<Vec<_>>()
            }
            other => panic!("expected field problems, got {other:?}"),
        };
        // Fields are read in name order: `rate` comes after the list.
        assert_eq!(got, ["name", "percents[1]", "rate"]);
    }

    #[test]
    fn missing_fields_and_wrong_shapes_are_words_too() {
        assert_eq!(
            problems(r#"{"limit": 5}"#),
            [("name".to_owned(), "`name` is required".to_owned())]
        );
        let list = problems("[]");
        assert_eq!(
            list[0].1, "`body` must be an object, not a list",
            "{list:?}"
        );
        let removed_then_missing = problems(r#"{"name": 5, "limit": 1}"#);
        assert_eq!(removed_then_missing.len(), 1, "{removed_then_missing:?}");
        match parse::<Spec>(b"{\"name\": ") {
            Err(ApiError::App(AppError::BadInput { message, .. })) => {
                assert!(
                    message.starts_with("the body is not valid JSON"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
