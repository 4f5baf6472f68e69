//! Making, hashing and hinting secrets: proxy keys (`twk_…`), API tokens (`twt_…`) and
//! session cookies are 32 random bytes, base64url; only their SHA-256 is kept.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::Digest;

use crate::error::AppError;

/// How a proxy key starts.
pub const KEY_PREFIX: &str = "twk_";
/// How an API token starts.
pub const TOKEN_PREFIX: &str = "twt_";

/// A new secret: `prefix` and 32 random bytes in base64url.
pub(crate) fn new_secret(prefix: &str) -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AppError::Internal("the system random number generator failed".to_owned()))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The SHA-256 of a secret, lower-case hex: what the store keeps and looks up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// The first 8 characters and the last 4 of a secret (`twk_AbCd…wxYz`), for listings; short
/// values show only their last 2.
pub fn hint(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 20 {
        let tail: String = chars[chars.len().saturating_sub(2)..].iter().collect();
        return format!("…{tail}");
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_hinted_without_their_middle() {
        let a = new_secret(KEY_PREFIX).unwrap();
        let b = new_secret(KEY_PREFIX).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("twk_") && a.len() == 4 + 43, "{a}");
        let h = hint(&a);
        assert!(h.starts_with(&a[..8]) && h.ends_with(&a[a.len() - 4..]));
        assert!(!h.contains(&a[8..a.len() - 4]));
        assert_eq!(hash_secret("x").len(), 64);
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert_eq!(hint("sk-short"), "…rt");
    }
}
