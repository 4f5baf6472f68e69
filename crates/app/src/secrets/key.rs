//! Where the channel secret key comes from, and generating its file.
//!
//! A key is 32 random bytes, written as base64 (44 characters) in the variable or the file, so
//! `TOKENWATCH_SECRET_KEY="$(cat tokenwatch-secret.key)"` moves a generated key to a variable.
//! A key file of exactly 32 bytes is read as the raw key.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::SecretError;

/// The name of the generated key file.
pub const KEY_FILE_NAME: &str = "tokenwatch-secret.key";

/// Where the key comes from.
pub enum KeySource {
    /// The key itself, base64 (`TOKENWATCH_SECRET_KEY`).
    Inline(String),
    /// A file the user provides (`TOKENWATCH_SECRET_KEY_FILE`); it must exist.
    File(PathBuf),
    /// A file generated (mode 0600) the first time a value is sealed.
    Generated(PathBuf),
}

impl KeySource {
    /// Names the source in messages (never the key).
    pub fn origin(&self) -> String {
        match self {
            KeySource::Inline(_) => "TOKENWATCH_SECRET_KEY".to_owned(),
            KeySource::File(p) | KeySource::Generated(p) => p.display().to_string(),
        }
    }

    /// The key; `None` only for a generated file that does not exist and `create` is false.
    pub(super) fn load(
        &self,
        create: bool,
        rng: &SystemRandom,
    ) -> Result<Option<LessSafeKey>, SecretError> {
        let bytes = match self {
            KeySource::Inline(text) => decode(text.as_bytes(), &self.origin())?,
            KeySource::File(path) => read(path)?,
            KeySource::Generated(path) if path.exists() => read(path)?,
            KeySource::Generated(_) if !create => return Ok(None),
            KeySource::Generated(path) => generate(path, rng)?,
        };
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SecretError::BadKey {
            origin: self.origin(),
            reason: "it is not 32 bytes".to_owned(),
        })?;
        Ok(Some(LessSafeKey::new(key)))
    }
}

/// 32 bytes from base64 text.
fn decode(text: &[u8], origin: &str) -> Result<Vec<u8>, SecretError> {
    let bad = |reason: &str| SecretError::BadKey {
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let text = String::from_utf8_lossy(text);
    let bytes = STANDARD.decode(text.trim()).map_err(|_| {
        bad("it is not base64 (generate one with: head -c 32 /dev/urandom | base64)")
    })?;
    if bytes.len() != 32 {
        return Err(bad(&format!(
            "it decodes to {} bytes, not 32 (generate one with: head -c 32 /dev/urandom | base64)",
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn read(path: &Path) -> Result<Vec<u8>, SecretError> {
    let raw = std::fs::read(path).map_err(|source| SecretError::KeyFile {
        action: "read",
        path: path.display().to_string(),
        source,
    })?;
    warn_if_readable_by_others(path);
    if raw.len() == 32 {
        return Ok(raw);
    }
    decode(&raw, &path.display().to_string())
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the channel secret key file is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

/// Writes a new random key to `path` (mode 0600). The key is written to a temporary file and
/// then linked into place, which never replaces a file: when another process created the key
/// first, that key is read and used, and no reader ever sees a half-written file.
fn generate(path: &Path, rng: &SystemRandom) -> Result<Vec<u8>, SecretError> {
    let failed = |action, source| SecretError::KeyFile {
        action,
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| failed("create the directory of", e))?;
    }
    let mut key = [0u8; 32];
    rng.fill(&mut key).map_err(|_| SecretError::Random)?;
    let mut tag = [0u8; 8];
    rng.fill(&mut tag).map_err(|_| SecretError::Random)?;
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(tag)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        writeln!(file, "{}", STANDARD.encode(key))?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    // The temporary name goes in every case; the key stays reachable under `path` when linked.
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated the key that encrypts channel secrets; back it up with the database");
            Ok(key.to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(failed("create", e)),
    }
}
