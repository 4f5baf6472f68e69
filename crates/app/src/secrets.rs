//! Channel secrets at rest: a webhook's HMAC `secret`, an SMTP `password` and a Slack `url` are
//! sealed with AES-256-GCM before they reach the database, and opened only by delivery code,
//! just before a message is sent.
//!
//! Stored form: `enc:v1:<base64(nonce ‖ ciphertext ‖ tag)>`, a fresh random 96-bit nonce per
//! value, the field's name as associated data (a sealed password cannot be replayed as a URL).
//! `env:NAME` references are not secrets and stay as written.
//!
//! The 32-byte key comes from `TOKENWATCH_SECRET_KEY` (base64), or the file
//! `TOKENWATCH_SECRET_KEY_FILE` names, or a key file generated with mode 0600 the first time a
//! value is sealed ([`KeySource`]; the CLI decides which). Invariant: no error, log line or
//! `Debug` output here contains a key or a secret; errors name the channel and the field.

mod key;

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, LessSafeKey, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};
use tokenwatch_core::alerting::{ChannelSpec, ENV_PREFIX};
use tokenwatch_store::{DEFAULT_TENANT, DefKind, Store, StoreError};

pub use key::{KEY_FILE_NAME, KeySource};

/// How a sealed value starts.
pub const SEALED_PREFIX: &str = "enc:v1:";

/// Why a secret could not be sealed or opened. Messages never contain a key or a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the channel secret key from {origin} is unusable: {reason}")]
    BadKey { origin: String, reason: String },
    #[error("cannot {action} the channel secret key file {path}: {source}")]
    KeyFile {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "channel '{channel}': its {field} is encrypted but there is no key: {path} does not exist \
         (set TOKENWATCH_SECRET_KEY or TOKENWATCH_SECRET_KEY_FILE to the key it was stored with)"
    )]
    NoKey {
        channel: String,
        field: &'static str,
        path: String,
    },
    #[error(
        "channel '{channel}': its {field} cannot be decrypted with the key from {origin} \
         (a different key than the one it was stored with, or a damaged value); set it again"
    )]
    Undecryptable {
        channel: String,
        field: &'static str,
        origin: String,
    },
    #[error("the system random number generator failed")]
    Random,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key (loaded on first need) and the operations on channel secrets.
pub struct Secrets {
    source: KeySource,
    key: OnceLock<LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("key_from", &self.source.origin())
            .finish_non_exhaustive()
    }
}

/// Whether a stored value is sealed.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// A value that must be sealed before it is stored: set, not sealed, not an `env:` reference.
fn needs_sealing(value: &Option<String>) -> bool {
    value
        .as_deref()
        .is_some_and(|v| !is_sealed(v) && !v.starts_with(ENV_PREFIX))
}

impl Secrets {
    pub fn new(source: KeySource) -> Self {
        Secrets {
            source,
            key: OnceLock::new(),
            rng: SystemRandom::new(),
        }
    }

    /// The key; `create` allows generating the key file when it is missing.
    fn key(&self, create: bool) -> Result<Option<&LessSafeKey>, SecretError> {
        if let Some(k) = self.key.get() {
            return Ok(Some(k));
        }
        let Some(loaded) = self.source.load(create, &self.rng)? else {
            return Ok(None);
        };
        // Two callers may race here; both loaded the same key, so either one wins.
        Ok(Some(self.key.get_or_init(|| loaded)))
    }

    /// Seals one value.
    fn seal(&self, field: &'static str, plain: &str) -> Result<String, SecretError> {
        let key = self.key(true)?.ok_or_else(|| SecretError::BadKey {
            origin: self.source.origin(),
            reason: "no key could be made".to_owned(),
        })?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SecretError::Random)?;
        let mut data = plain.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(field.as_bytes()),
            &mut data,
        )
        .map_err(|_| SecretError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    /// Seals one value under the associated data `field` (so a value sealed for one field
    /// cannot be opened as another's).
    pub fn seal_value(&self, field: &'static str, plain: &str) -> Result<String, SecretError> {
        self.seal(field, plain)
    }

    /// Seals every secret field of `spec` given in clear; true when one changed.
    pub fn seal_channel(&self, spec: &mut ChannelSpec) -> Result<bool, SecretError> {
        let mut changed = false;
        for (field, value) in spec.secret_fields_mut() {
            if needs_sealing(value) {
                let sealed = self.seal(field, value.as_deref().unwrap_or_default())?;
                *value = Some(sealed);
                changed = true;
            }
        }
        Ok(changed)
    }

    /// The clear text of a stored value of `channel`'s `field`: sealed values are decrypted,
    /// anything else (a literal or an `env:` reference) is returned as it is.
    pub fn open(
        &self,
        channel: &str,
        field: &'static str,
        value: Option<&str>,
    ) -> Result<Option<String>, SecretError> {
        let Some(value) = value else { return Ok(None) };
        let Some(encoded) = value.strip_prefix(SEALED_PREFIX) else {
            return Ok(Some(value.to_owned()));
        };
        let Some(key) = self.key(false)? else {
            return Err(SecretError::NoKey {
                channel: channel.to_owned(),
                field,
                path: self.source.origin(),
            });
        };
        let undecryptable = || SecretError::Undecryptable {
            channel: channel.to_owned(),
            field,
            origin: self.source.origin(),
        };
        let data = STANDARD.decode(encoded).map_err(|_| undecryptable())?;
        if data.len() < NONCE_LEN {
            return Err(undecryptable());
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| undecryptable())?;
        let mut sealed = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(field.as_bytes()), &mut sealed)
            .map_err(|_| undecryptable())?;
        String::from_utf8(plain.to_vec())
            .map(Some)
            .map_err(|_| undecryptable())
    }

    /// Checks that every sealed value of `channel` opens with this key.
    pub fn check_channel(&self, channel: &ChannelSpec) -> Result<(), SecretError> {
        let mut copy = channel.clone();
        for (field, value) in copy.secret_fields_mut() {
            if value.as_deref().is_some_and(is_sealed) {
                self.open(&channel.name, field, value.as_deref())?;
            }
        }
        Ok(())
    }

    /// Seals the clear secrets of stored channels (rows written by versions without
    /// encryption, or by hand), keeping each row's origin. Returns how many rows changed.
    pub async fn seal_stored_channels(&self, store: &Store) -> Result<usize, SecretError> {
        let mut sealed = 0;
        for def in store
            .list_definitions(DEFAULT_TENANT, DefKind::Channel)
            .await?
        {
            let mut spec: ChannelSpec = match serde_json::from_str(&def.spec) {
                Ok(spec) => spec,
                Err(e) => {
                    tracing::warn!(name = %def.name, error = %e, "cannot read a stored channel to encrypt its secrets");
                    continue;
                }
            };
            if self.seal_channel(&mut spec)? {
                let json =
                    serde_json::to_string(&spec).map_err(|e| StoreError::Encode(e.to_string()))?;
                store
                    .replace_definition_wiping(
                        DEFAULT_TENANT,
                        DefKind::Channel,
                        &def.name,
                        &json,
                        &def.origin,
                    )
                    .await?;
                tracing::info!(channel = %def.name, "encrypted a channel secret stored in clear");
                sealed += 1;
            }
        }
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests;
