//! A cursor over a parsed JSON page that knows its path (`data[3].results[0].output_tokens`),
//! so every refusal of a page names the exact value at fault.
//!
//! Reading rules shared by every report: a missing field and `null` are the same (absent); a
//! token count is a non-negative integer that fits `i64`; decimal amounts are read as text (a
//! JSON string as written, a JSON number by its textual form), never as a float.

use serde_json::Value;

use super::{Endpoint, Page, UsageApiError};

/// Why a value could not be read, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bad {
    /// The JSON path; empty for the whole body.
    pub path: String,
    pub why: String,
}

/// A value (or its absence) at a path of a page.
#[derive(Debug, Clone)]
pub(super) struct At<'a> {
    value: Option<&'a Value>,
    path: String,
}

/// Shows at most this many characters of a value a page got wrong: enough to recognise it.
const SHOWN_CHARS: usize = 60;

impl<'a> At<'a> {
    /// The whole body.
    pub fn root(value: &'a Value) -> Self {
        At {
            value: Some(value),
            path: String::new(),
        }
    }

    /// A refusal of this value.
    pub fn bad(&self, why: impl Into<String>) -> Bad {
        Bad {
            path: self.path.clone(),
            why: why.into(),
        }
    }

    fn expected(&self, what: &str) -> Bad {
        let found = match self.value {
            None | Some(Value::Null) => "nothing".to_owned(),
            Some(v) => {
                let text = v.to_string();
                match text.char_indices().nth(SHOWN_CHARS) {
                    Some((cut, _)) => format!("{}…", &text[..cut]),
                    None => text,
                }
            }
        };
        self.bad(format!("expected {what}, found {found}"))
    }

    /// The value, `None` when missing or `null`.
    fn present(&self) -> Option<&'a Value> {
        self.value.filter(|v| !v.is_null())
    }

    /// Member `name` of this object (absent when this is absent).
    pub fn field(&self, name: &str) -> At<'a> {
        let path = if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        };
        At {
            value: self.present().and_then(|v| v.get(name)),
            path,
        }
    }

    /// This value as an object; absent or another type is refused.
    pub fn object(&self) -> Result<&'a serde_json::Map<String, Value>, Bad> {
        self.present()
            .and_then(Value::as_object)
            .ok_or_else(|| self.expected("an object"))
    }

    /// Member `name`, which must be an object when present (an optional sub-object such as
    /// `cache_creation`): a figure of it read as zero must not hide a value of the wrong type.
    pub fn sub(&self, name: &str) -> Result<At<'a>, Bad> {
        let sub = self.field(name);
        if !sub.is_absent() {
            sub.object()?;
        }
        Ok(sub)
    }

    /// Whether this value is missing or `null`.
    pub fn is_absent(&self) -> bool {
        self.present().is_none()
    }

    /// The items of this array, each at its index.
    pub fn items(&self) -> Result<Vec<At<'a>>, Bad> {
        let list = self
            .present()
            .and_then(Value::as_array)
            .ok_or_else(|| self.expected("an array"))?;
        Ok(list
            .iter()
            .enumerate()
            .map(|(i, v)| At {
                value: Some(v),
                path: format!("{}[{i}]", self.path),
            })
            .collect())
    }

    /// The items of this array; none when it is missing or `null`.
    pub fn opt_items(&self) -> Result<Vec<At<'a>>, Bad> {
        if self.is_absent() {
            return Ok(Vec::new());
        }
        self.items()
    }

    /// The members of this object (in key order), each at its path; none when it is missing
    /// or `null`.
    pub fn entries(&self) -> Result<Vec<(String, At<'a>)>, Bad> {
        if self.is_absent() {
            return Ok(Vec::new());
        }
        Ok(self
            .object()?
            .iter()
            .map(|(k, v)| {
                let mut at = self.field(k);
                at.value = Some(v);
                (k.clone(), at)
            })
            .collect())
    }

    /// A required string.
    pub fn str(&self) -> Result<&'a str, Bad> {
        self.present()
            .and_then(Value::as_str)
            .ok_or_else(|| self.expected("a string"))
    }

    /// A string, `None` when missing or `null`.
    pub fn opt_string(&self) -> Result<Option<String>, Bad> {
        match self.present() {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.expected("a string or null")),
        }
    }

    /// A required boolean.
    pub fn bool(&self) -> Result<bool, Bad> {
        self.present()
            .and_then(Value::as_bool)
            .ok_or_else(|| self.expected("true or false"))
    }

    /// A boolean, `None` when missing or `null`.
    pub fn opt_bool(&self) -> Result<Option<bool>, Bad> {
        match self.present() {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.expected("true, false or null")),
        }
    }

    /// A required count: a non-negative integer.
    pub fn count(&self) -> Result<i64, Bad> {
        self.present()
            .and_then(Value::as_u64)
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| self.expected("a non-negative integer"))
    }

    /// A count, `None` when missing or `null`.
    pub fn opt_count(&self) -> Result<Option<i64>, Bad> {
        if self.is_absent() {
            return Ok(None);
        }
        self.count().map(Some)
    }

    /// A count, zero when missing or `null` (figures a report may leave out, such as the
    /// parts of an optional sub-object).
    pub fn count_or_zero(&self) -> Result<i64, Bad> {
        Ok(self.opt_count()?.unwrap_or(0))
    }

    /// A required integer (signed).
    pub fn int(&self) -> Result<i64, Bad> {
        self.present()
            .and_then(Value::as_i64)
            .ok_or_else(|| self.expected("an integer"))
    }

    /// A decimal amount as text: a JSON string as written, or a JSON number by its textual
    /// form (`serde_json::Number::to_string`, the shortest text that reads back as the same
    /// number, so a number written with up to 15 significant digits comes back as written).
    pub fn decimal_text(&self) -> Result<String, Bad> {
        match self.present() {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(self.expected("a decimal number or string")),
        }
    }
}

/// A currency other than US dollars cannot be kept in nano-USD.
pub(super) fn check_usd(currency: &At<'_>) -> Result<(), Bad> {
    match currency.opt_string()? {
        None => Ok(()),
        Some(c) if c.eq_ignore_ascii_case("usd") => Ok(()),
        Some(c) => Err(currency.bad(format!("'{c}' is not USD, the only currency kept"))),
    }
}

impl Bad {
    /// This refusal as the error of a page of `endpoint`.
    pub fn of(self, endpoint: Endpoint) -> UsageApiError {
        UsageApiError::Malformed {
            endpoint,
            path: self.path,
            why: self.why,
        }
    }
}

/// Reads a page of `endpoint` — `{"data": [...], "has_more", "next_page"}`, the envelope every
/// report shares — handing each item of `data` to `item`, which adds its rows to the list.
pub(super) fn page<R>(
    endpoint: Endpoint,
    body: &str,
    mut item: impl FnMut(&At<'_>, &mut Vec<R>) -> Result<(), Bad>,
) -> Result<Page<R>, UsageApiError> {
    let value: Value = serde_json::from_str(body).map_err(|e| {
        Bad {
            path: String::new(),
            why: format!("not JSON: {e}"),
        }
        .of(endpoint)
    })?;
    read_page(&At::root(&value), &mut item).map_err(|bad| bad.of(endpoint))
}

fn read_page<R>(
    root: &At<'_>,
    item: &mut impl FnMut(&At<'_>, &mut Vec<R>) -> Result<(), Bad>,
) -> Result<Page<R>, Bad> {
    let mut rows = Vec::new();
    for data in root.field("data").items()? {
        data.object()?;
        item(&data, &mut rows)?;
    }
    let has_more = root.field("has_more").bool()?;
    let next = root.field("next_page");
    let next_page = next.opt_string()?;
    if has_more && next_page.is_none() {
        return Err(next.bad("no cursor although has_more is true"));
    }
    Ok(Page {
        rows,
        has_more,
        next_page,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_name_fields_and_indices() {
        let v = json!({"data": [{"results": []}, {"results": [{"n": "12"}]}]});
        let root = At::root(&v);
        let data = root.field("data").items().unwrap();
        let results = data[1].field("results").items().unwrap();
        let e = results[0].field("n").count().unwrap_err();
        assert_eq!(e.path, "data[1].results[0].n");
        assert_eq!(e.why, "expected a non-negative integer, found \"12\"");
        let e = data[0].field("missing").field("deeper").str().unwrap_err();
        assert_eq!(e.path, "data[0].missing.deeper");
        assert_eq!(e.why, "expected a string, found nothing");
    }

    #[test]
    fn absent_and_null_are_the_same() {
        let v = json!({"a": null, "n": -1, "f": 1.5, "s": "2.50", "b": true});
        let root = At::root(&v);
        assert_eq!(root.field("a").opt_string(), Ok(None));
        assert_eq!(root.field("zz").opt_count(), Ok(None));
        assert_eq!(root.field("a").count_or_zero(), Ok(0));
        assert_eq!(root.field("b").opt_bool(), Ok(Some(true)));
        assert!(root.field("n").count().is_err());
        assert_eq!(root.field("n").int(), Ok(-1));
        assert_eq!(root.field("f").decimal_text().as_deref(), Ok("1.5"));
        assert_eq!(root.field("s").decimal_text().as_deref(), Ok("2.50"));
        assert_eq!(
            root.field("b").decimal_text().unwrap_err().why,
            "expected a decimal number or string, found true"
        );
    }

    #[test]
    fn long_values_are_cut_in_errors() {
        let v = json!({"s": "x".repeat(100)});
        let e = At::root(&v).field("s").count().unwrap_err();
        assert_eq!(
            e.why.chars().count(),
            "expected a non-negative integer, found ".len() + 61
        );
        assert!(e.why.ends_with("x…"));
    }
}
