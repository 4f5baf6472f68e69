//! Configuration errors in words: which key, in which file (or environment variable), what is
//! wrong with it, and for a misspelt key the closest valid one.
//!
//! figment (through serde) stops at the first bad key. [`extract`] collects them all: after each
//! error from the file it removes the offending key from its copy of the file and extracts
//! again, so one run lists every bad key of the file at once. An error from an environment
//! variable cannot be removed that way and ends the list.

use std::path::Path;

use super::Config;
use figment::error::{Actual, Kind};
use figment::providers::Serialized;
use figment::{Figment, Profile};
use tokenwatch_core::suggest::closest;

/// No configuration has this many bad keys; the bound keeps a surprise from looping.
const MAX_ERRORS: usize = 50;

/// Extracts the configuration from `base` (defaults), the file's table and then `later`
/// (environment variables): the config, or every problem found, each on its own line.
pub fn extract(
    base: &Figment,
    file: Option<(&Path, toml::Table)>,
    later: impl Fn(Figment) -> Figment,
) -> Result<Config, String> {
    let (path, mut table) = match file {
        Some((p, t)) => (Some(p), t),
        None => (None, toml::Table::new()),
    };
    let mut problems = Vec::new();
    loop {
        let figment = later(
            base.clone()
                .merge(Serialized::from(&table, Profile::Default)),
        );
        let err = match figment.extract::<Config>() {
            Ok(config) if problems.is_empty() => return Ok(config),
            Ok(_) => break,
            Err(err) => err,
        };
        let from_env = err
            .metadata
            .as_ref()
            .is_some_and(|m| m.name.contains("environment"));
        let removed = !from_env && remove(&mut table, &err.path);
        problems.push(describe(&err, if from_env { None } else { path }));
        if !removed || problems.len() >= MAX_ERRORS {
            break;
        }
    }
    Err(problems.join("\n"))
}

/// Removes the key at `path` from the file's table; false if it is not there.
fn remove(table: &mut toml::Table, path: &[String]) -> bool {
    match path {
        [] => false,
        [key] => table.remove(key).is_some(),
        [first, rest @ ..] => match table.get_mut(first) {
            Some(toml::Value::Table(inner)) => remove(inner, rest),
            _ => false,
        },
    }
}

/// One error in words: `FILE: key `server.listne` is not a setting of [server] (did you mean
/// `listen`?)`, or the environment variable that set it.
fn describe(err: &figment::Error, file: Option<&Path>) -> String {
    let key = err.path.join(".");
    let place = match file {
        Some(p) => format!("{}: ", p.display()),
        None if !err.path.is_empty() => {
            format!(
                "environment variable TOKENWATCH_{}: ",
                err.path.join("__").to_ascii_uppercase()
            )
        }
        None => String::new(),
    };
    let section = match err.path.split_last() {
        Some((_, parent)) if !parent.is_empty() => format!("[{}]", parent.join(".")),
        _ => "the top level".to_owned(),
    };
    let what = match &err.kind {
        Kind::UnknownField(field, expected) => {
            let hint = closest(field, expected)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            format!(
                "`{key}` is not a setting of {section}{hint}; the settings there are {}",
                expected.join(", ")
            )
        }
        Kind::UnknownVariant(value, expected) => {
            let hint = closest(value, expected)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            format!(
                "`{key}` cannot be \"{value}\"{hint}; it is one of {}",
                expected.join(", ")
            )
        }
        Kind::MissingField(field) => {
            let full = if key.is_empty() {
                field.to_string()
            } else {
                format!("{key}.{field}")
            };
            format!("`{full}` is required")
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!(
                "`{key}` must be {}, not {}",
                in_words(expected),
                actual_in_words(actual)
            )
        }
        _ => format!("`{key}`: {}", err.kind),
    };
    format!("configuration error: {place}{what}")
}

/// serde's names of expected types as people say them.
fn in_words(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more)".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" | "bool" => "true or false".to_owned(),
        "a string" | "string" => "text in quotes".to_owned(),
        other if other.starts_with("struct ") || other.starts_with("a map") => {
            "a table of settings".to_owned()
        }
        other => other.to_owned(),
    }
}

fn actual_in_words(actual: &Actual) -> String {
    match actual {
        Actual::Bool(b) => format!("{b}"),
        Actual::Unsigned(n) => format!("the number {n}"),
        Actual::Signed(n) => format!("the number {n}"),
        Actual::Float(n) => format!("the number {n}"),
        Actual::Str(s) => format!("the text {s:?}"),
        Actual::Seq => "a list".to_owned(),
        Actual::Map => "a table".to_owned(),
        other => other.to_string(),
    }
}
