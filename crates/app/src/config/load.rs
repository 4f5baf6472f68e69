//! Loading the configuration: built-in defaults → `tokenwatch.toml` → `TOKENWATCH_SECTION__KEY`
//! environment variables → command-line flags.
//!
//! Unknown keys in the file are errors naming the key and the file. Environment variables are
//! read only when their first segment is a real section, so unrelated `TOKENWATCH_*` variables
//! (e.g. a test harness's) are ignored; a `TOKENWATCH_X__Y` with an unknown section is warned
//! about, since it is almost certainly a typo.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Serialized};

use super::explain;
use super::{Config, ConfigError, builtin_providers};
use crate::secrets::{KEY_FILE_NAME, KeySource, Secrets};

/// Why the configuration cannot be loaded; each message names the file, key or variable.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("config file {0} does not exist (create one with `tokenwatch init --path {0}`)")]
    Missing(String),
    #[error("cannot read the config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration error: {path} is not valid TOML: {message}")]
    Toml { path: String, message: String },
    /// Every bad key, one per line (see [`explain::extract`]).
    #[error("{0}")]
    Problems(String),
    #[error("invalid configuration{}", file.as_ref().map(|f| format!(" (file {f})")).unwrap_or_default())]
    Invalid {
        file: Option<String>,
        #[source]
        source: ConfigError,
    },
    #[error("cannot find a home directory for the default database; pass --db PATH")]
    NoHome,
    #[error("cannot find a data directory for {name}; {hint}")]
    NoDataDir { name: String, hint: String },
    #[error("TOKENWATCH_SECRET_KEY is not valid UTF-8 base64")]
    SecretKeyNotUtf8,
}

const SECTIONS: &[&str] = &[
    "server",
    "database",
    "recording",
    "import",
    "providers",
    "alerting",
    "auth",
    "advisor",
    "sync",
];

/// The loaded configuration and the file it came from, if any.
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
}

/// Project directories (data and config) for this platform.
pub fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "tokenwatch", "tokenwatch")
}

fn find_file(explicit: Option<&Path>) -> Result<Option<PathBuf>, LoadError> {
    if let Some(path) = explicit {
        if !path.is_file() {
            return Err(LoadError::Missing(path.display().to_string()));
        }
        return Ok(Some(path.to_owned()));
    }
    let local = PathBuf::from("tokenwatch.toml");
    if local.is_file() {
        return Ok(Some(local));
    }
    Ok(dirs()
        .map(|d| d.config_dir().join("tokenwatch.toml"))
        .filter(|p| p.is_file()))
}

/// Loads and validates the configuration.
pub fn load(explicit: Option<&Path>, db_flag: Option<&str>) -> Result<Loaded, LoadError> {
    let defaults = Config {
        providers: builtin_providers(),
        ..Config::default()
    };
    let figment = Figment::from(Serialized::defaults(defaults));
    let file = find_file(explicit)?;
    let table = match &file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let table = text.parse::<toml::Table>().map_err(|e| LoadError::Toml {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            Some((path.as_path(), table))
        }
        None => None,
    };
    warn_unknown_env();
    let mut config: Config =
        explain::extract(&figment, table, |f| f.merge(env_provider("TOKENWATCH_")))
            .map_err(LoadError::Problems)?;
    if let Some(db) = db_flag {
        config.database.url = db.to_owned();
    }
    config.validate().map_err(|source| LoadError::Invalid {
        file: file.as_ref().map(|p| p.display().to_string()),
        source,
    })?;
    Ok(Loaded { config, file })
}

/// `PREFIX_SECTION__KEY` variables whose section is real; others are not configuration.
fn env_provider(prefix: &str) -> Env {
    Env::prefixed(prefix)
        .split("__")
        // `split` has already turned `SECTION__KEY` into `SECTION.KEY` (case kept) here.
        .filter(|key| {
            SECTIONS.iter().any(|s| {
                key.as_str()
                    .split('.')
                    .next()
                    .is_some_and(|f| f.eq_ignore_ascii_case(s))
            })
        })
}

fn warn_unknown_env() {
    for (key, _) in std::env::vars() {
        let Some(rest) = key.strip_prefix("TOKENWATCH_") else {
            continue;
        };
        let Some((section, _)) = rest.split_once("__") else {
            continue;
        };
        if !SECTIONS.contains(&section.to_ascii_lowercase().as_str()) {
            tracing::warn!(variable = %key, "ignoring environment variable: '{section}' is not a configuration section ({})", SECTIONS.join(", "));
        }
    }
}

/// The database URL to use: the configured one, or a SQLite file in the data directory.
pub fn database_url(config: &Config) -> Result<String, LoadError> {
    if !config.database.url.trim().is_empty() {
        return Ok(config.database.url.trim().to_owned());
    }
    let dirs = dirs().ok_or(LoadError::NoHome)?;
    Ok(dirs.data_dir().join("tokenwatch.db").display().to_string())
}

/// Where events spill when the database cannot take them.
pub fn spill_path(config: &Config, db_url: &str) -> Result<PathBuf, LoadError> {
    if !config.recording.spill_path.trim().is_empty() {
        return Ok(PathBuf::from(config.recording.spill_path.trim()));
    }
    beside_database(db_url, "tokenwatch-spill.jsonl", "set recording.spill_path")
}

/// Where the key sealing channel secrets comes from: `TOKENWATCH_SECRET_KEY` (base64), else the
/// file `TOKENWATCH_SECRET_KEY_FILE` names, else `tokenwatch-secret.key` beside the database,
/// generated the first time a secret is stored.
pub fn secret_key_source(db_url: &str) -> Result<KeySource, LoadError> {
    let set = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(key) = set("TOKENWATCH_SECRET_KEY") {
        let key = key.into_string().map_err(|_| LoadError::SecretKeyNotUtf8)?;
        return Ok(KeySource::Inline(key));
    }
    if let Some(path) = set("TOKENWATCH_SECRET_KEY_FILE") {
        return Ok(KeySource::File(PathBuf::from(path)));
    }
    Ok(KeySource::Generated(beside_database(
        db_url,
        KEY_FILE_NAME,
        "set TOKENWATCH_SECRET_KEY_FILE",
    )?))
}

/// The channel secrets of the configured database.
pub fn secrets(config: &Config) -> Result<Secrets, LoadError> {
    Ok(Secrets::new(secret_key_source(&database_url(config)?)?))
}

/// A file of tokenwatch's next to the SQLite database, or in the data directory for PostgreSQL
/// (`hint` says how to choose another place when there is no data directory).
fn beside_database(db_url: &str, name: &str, hint: &str) -> Result<PathBuf, LoadError> {
    let is_pg = db_url.starts_with("postgres://") || db_url.starts_with("postgresql://");
    let sqlite_path = db_url.strip_prefix("sqlite://").unwrap_or(db_url);
    if !is_pg && !sqlite_path.starts_with("sqlite:") && !sqlite_path.is_empty() {
        let parent = Path::new(sqlite_path)
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default();
        return Ok(parent.join(name));
    }
    let dirs = dirs().ok_or_else(|| LoadError::NoDataDir {
        name: name.to_owned(),
        hint: hint.to_owned(),
    })?;
    Ok(dirs.data_dir().join(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};

    #[test]
    fn spill_sits_next_to_sqlite() {
        let c = Config::default();
        assert_eq!(
            spill_path(&c, "/tmp/x/tw.db").unwrap(),
            PathBuf::from("/tmp/x/tokenwatch-spill.jsonl")
        );
        assert_eq!(
            spill_path(&c, "sqlite:///tmp/y/tw.db").unwrap(),
            PathBuf::from("/tmp/y/tokenwatch-spill.jsonl")
        );
        assert_eq!(
            spill_path(&c, "tw.db").unwrap(),
            PathBuf::from("tokenwatch-spill.jsonl")
        );
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tw.toml");
        std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").unwrap();
        let err = load(Some(&path), None).err().unwrap().to_string();
        assert!(err.contains("lisen"), "{err}");
        assert!(err.contains("tw.toml"), "{err}");
    }

    #[test]
    fn every_bad_key_is_listed_in_words_with_a_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tw.toml");
        std::fs::write(
            &path,
            "[server]\nlistne = \"127.0.0.1:1\"\nmax_request_bytes = \"lots\"\n[recording]\nqueue_capasity = 5\n",
        )
        .unwrap();
        let err = load(Some(&path), None).err().unwrap().to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 3, "{err}");
        assert!(
            err.contains("`server.listne` is not a setting of [server] (did you mean `listen`?)"),
            "{err}"
        );
        assert!(
            err.contains("`server.max_request_bytes` must be a whole number (0 or more), not the text \"lots\""),
            "{err}"
        );
        assert!(err.contains("`recording.queue_capasity`"), "{err}");
        assert!(lines.iter().all(|l| l.contains("tw.toml")), "{err}");
        assert!(!err.contains("default."), "no figment profile: {err}");
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment's Jail closure must return figment::Error"
    )]
    fn environment_overrides_file_and_defaults() {
        // figment's Jail sets variables for the closure only and restores them afterwards.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tw.toml");
        std::fs::write(
            &path,
            "[providers.envtest]\nkind = \"openai\"\nbase_url = \"http://file\"\n",
        )
        .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("TWTEST_PROVIDERS__ENVTEST__BASE_URL", "http://127.0.0.1:9");
            jail.set_env("TWTEST_PROVIDERS__ANTHROPIC__TIMEOUT_SECS", "7");
            jail.set_env("TWTEST_BIN", "/not/config");
            let figment = Figment::from(Serialized::defaults(Config {
                providers: builtin_providers(),
                ..Config::default()
            }))
            .merge(Toml::file_exact(&path))
            .merge(env_provider("TWTEST_"));
            let config: Config = figment.extract()?;
            assert_eq!(config.providers["envtest"].base_url, "http://127.0.0.1:9");
            assert_eq!(config.providers["anthropic"].timeout_secs, 7);
            Ok(())
        });
    }

    #[test]
    fn file_merges_over_builtin_providers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tw.toml");
        std::fs::write(
            &path,
            "[providers.anthropic]\nbase_url = \"http://127.0.0.1:9\"\n[providers.groq]\nkind = \"openai\"\nbase_url = \"https://api.groq.com/openai\"\n",
        )
        .unwrap();
        let loaded = load(Some(&path), Some("/tmp/t.db")).unwrap();
        let p = &loaded.config.providers;
        assert_eq!(p["anthropic"].base_url, "http://127.0.0.1:9");
        assert_eq!(p["openai"].base_url, "https://api.openai.com");
        assert_eq!(p["groq"].timeout_secs, 600);
        assert_eq!(loaded.config.database.url, "/tmp/t.db");
    }
}
