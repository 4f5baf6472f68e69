//! Users, passwords (Argon2id) and login sessions, with failed logins throttled per email and
//! per client address.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;
use tokenwatch_store::User;

use super::audit::Change;
use super::secret::new_secret;
use super::{Principal, Role, Teams, hash_secret, new_id};
use crate::error::AppError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tw_session";

/// Failures allowed before an email must wait.
const FREE_FAILURES: u32 = 5;
/// Failures allowed before a client address must wait (several people may share one).
const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// Longest wait after repeated failures.
const MAX_WAIT_SECS: u64 = 15 * 60;
/// Shortest password accepted.
const MIN_PASSWORD: usize = 10;

/// Consecutive failed logins per key (`email:…`, `addr:…`): after [`FREE_FAILURES`] (per
/// address [`FREE_FAILURES_PER_ADDRESS`]) each new failure doubles the wait (1 s, 2 s, 4 s … up to 15 minutes), during which every attempt,
/// right or wrong, is refused without checking the password. A success clears the email's count.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl LoginThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, i64)>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds to wait before `keys` may try again (0: now).
    pub fn wait_secs(&self, keys: &[String], now_ms: i64) -> u64 {
        let map = self.lock();
        keys.iter()
            .filter_map(|k| map.get(k))
            .map(|&(_, until)| {
                u64::try_from((until - now_ms).max(0))
                    .unwrap_or(0)
                    .div_ceil(1000)
            })
            .max()
            .unwrap_or(0)
    }

    fn fail(&self, keys: &[String], now_ms: i64) {
        let mut map = self.lock();
        if map.len() > 100_000 {
            map.retain(|_, &mut (_, until)| until > now_ms);
        }
        for k in keys {
            let free = if k.starts_with("addr:") {
                FREE_FAILURES_PER_ADDRESS
            } else {
                FREE_FAILURES
            };
            let entry = map.entry(k.clone()).or_insert((0, 0));
            entry.0 += 1;
            if entry.0 >= free {
                let wait = 1u64
                    .checked_shl(entry.0 - free)
                    .unwrap_or(MAX_WAIT_SECS)
                    .min(MAX_WAIT_SECS);
                entry.1 = now_ms + i64::try_from(wait * 1000).unwrap_or(i64::MAX);
            }
        }
    }

    fn succeed(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// A login session as made: its cookie value (shown to the browser only) and its user.
#[derive(Debug)]
pub struct LoginSession {
    pub cookie: String,
    pub user: User,
    pub expires_ms: i64,
}

fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| AppError::Internal("the system random number generator failed".to_owned()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AppError::Internal(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("cannot hash the password: {e}")))
}

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Runs Argon2 off the async threads (it takes tens of milliseconds by design).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("password hashing stopped: {e}")))
}

/// The CSRF token of a session: derived from its cookie, so it needs no storage and a page
/// on another origin, which cannot read the cookie, cannot know it.
pub fn csrf_token(cookie: &str) -> String {
    hash_secret(&format!("csrf:{cookie}"))
}

impl Teams {
    /// Adds a user with a password to `tenant`. Needs admin; the role may not exceed the maker's
    /// and is never operator (operators work from the host or with operator tokens).
    pub async fn add_user(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        email: &str,
        role: Role,
        password: &str,
    ) -> Result<User, AppError> {
        who.require(Role::Admin)?;
        who.require(role)?;
        if role == Role::Operator {
            return Err(AppError::bad(
                "role",
                "a user's role is viewer, member or admin",
            ));
        }
        let email = email.trim().to_owned();
        if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
            return Err(AppError::bad(
                "email",
                format!("'{email}' is not an email address"),
            ));
        }
        if password.chars().count() < MIN_PASSWORD {
            return Err(AppError::bad(
                "password",
                format!("the password must be at least {MIN_PASSWORD} characters"),
            ));
        }
        let tenant = self.resolve_tenant(who, tenant).await?;
        let pw = password.to_owned();
        let hashed = blocking(move || hash_password(&pw)).await??;
        let user = User {
            id: new_id(),
            email,
            tenant: tenant.id.clone(),
            role: role.as_str().to_owned(),
            disabled_ms: None,
            created_ms: tokenwatch_core::time::now_ms(),
        };
        if !self.store.insert_user(&user, Some(&hashed)).await? {
            return Err(AppError::Conflict(format!(
                "a user '{}' already exists",
                user.email
            )));
        }
        self.audit(
            who,
            Change {
                tenant: Some(&tenant.id),
                action: "user.add",
                target: &user.email,
                before: None,
                after: Some(json!({"role": user.role})),
            },
        )
        .await?;
        Ok(user)
    }

    /// The users `who` can see. Needs admin.
    pub async fn users(&self, who: &Principal) -> Result<Vec<User>, AppError> {
        who.require(Role::Admin)?;
        Ok(self.store.users(&who.scope()).await?)
    }

    /// Changes a user's role, or disables/enables it (disabling ends its sessions at once).
    /// Needs admin.
    pub async fn update_user(
        &self,
        who: &Principal,
        email: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<(), AppError> {
        who.require(Role::Admin)?;
        if let Some(r) = role {
            who.require(r)?;
            if r == Role::Operator {
                return Err(AppError::bad(
                    "role",
                    "a user's role is viewer, member or admin",
                ));
            }
        }
        let missing = || AppError::NotFound(format!("user '{email}'"));
        let (user, _) = self.store.user_by_email(email).await?.ok_or_else(missing)?;
        if who.tenant.as_deref().is_some_and(|t| t != user.tenant) {
            return Err(missing());
        }
        let when = disabled.map(|d| d.then(tokenwatch_core::time::now_ms));
        let role_text = role.map(Role::as_str);
        if !self
            .store
            .update_user(&who.scope(), &user.id, role_text, when)
            .await?
        {
            return Err(missing());
        }
        self.audit(
            who,
            Change {
                tenant: Some(&user.tenant),
                action: "user.update",
                target: &user.email,
                before: Some(json!({"role": user.role, "disabled": user.disabled_ms.is_some()})),
                after: Some(json!({
                    "role": role_text.unwrap_or(&user.role),
                    "disabled": disabled.unwrap_or(user.disabled_ms.is_some()),
                })),
            },
        )
        .await
    }

    /// Signs a user in: a new session cookie, or 401 for a wrong email or password (the same
    /// words and about the same time either way), or 429 while throttled.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client_addr: &str,
    ) -> Result<LoginSession, AppError> {
        let now = tokenwatch_core::time::now_ms();
        let email_key = format!("email:{}", email.trim().to_lowercase());
        let mut keys = vec![email_key.clone()];
        if client_addr != "unknown" {
            keys.push(format!("addr:{client_addr}"));
        }
        let wait = self.throttle.wait_secs(&keys, now);
        if wait > 0 {
            return Err(AppError::Throttled {
                message: format!("too many failed logins; try again in {wait} s"),
                retry_after_secs: wait,
            });
        }
        let found = self.store.user_by_email(email.trim()).await?;
        let stored = found.as_ref().and_then(|(_, h)| h.clone());
        let pw = password.to_owned();
        // An unknown email still pays for one verification, so timing does not tell.
        let ok = blocking(move || match stored {
            Some(h) => password_matches(&pw, &h),
            None => {
                let _ = hash_password(&pw);
                false
            }
        })
        .await?;
        let user = match found {
            Some((user, _)) if ok && user.disabled_ms.is_none() => user,
            other => {
                self.throttle.fail(&keys, now);
                if let Some((user, _)) = other {
                    let who = Principal {
                        actor: format!("user:{}", user.email),
                        tenant: Some(user.tenant.clone()),
                        role: Role::Viewer,
                    };
                    self.audit(
                        &who,
                        Change {
                            tenant: Some(&user.tenant),
                            action: "login.failed",
                            target: &user.email,
                            before: None,
                            after: Some(json!({"from": client_addr})),
                        },
                    )
                    .await?;
                }
                return Err(AppError::Unauthorized("wrong email or password".to_owned()));
            }
        };
        if self
            .store
            .find_tenant(&user.tenant)
            .await?
            .is_none_or(|t| t.disabled_ms.is_some())
        {
            return Err(AppError::Unauthorized("wrong email or password".to_owned()));
        }
        self.throttle.succeed(&email_key);
        self.start_session(user, "login", json!({"from": client_addr}))
            .await
    }

    /// Signs in a person an identity provider vouched for (a verified email): the enabled user
    /// with that email, or, with `create`, a new user of that tenant and role.
    pub async fn login_verified(
        &self,
        email: &str,
        create: Option<(&str, Role)>,
    ) -> Result<LoginSession, AppError> {
        let refused = || {
            AppError::Unauthorized(format!(
                "{email} is not a tokenwatch user; ask an admin to add it"
            ))
        };
        let user = match self.store.user_by_email(email).await? {
            Some((user, _)) if user.disabled_ms.is_none() => user,
            Some(_) => return Err(refused()),
            None => {
                let Some((tenant, role)) = create else {
                    return Err(refused());
                };
                let tenant = self
                    .store
                    .find_tenant(tenant)
                    .await?
                    .ok_or_else(|| AppError::NotFound(format!("tenant '{tenant}'")))?;
                let user = User {
                    id: new_id(),
                    email: email.to_owned(),
                    tenant: tenant.id.clone(),
                    role: role.as_str().to_owned(),
                    disabled_ms: None,
                    created_ms: tokenwatch_core::time::now_ms(),
                };
                self.store.insert_user(&user, None).await?;
                self.audit(
                    &user_principal(&user)?,
                    Change {
                        tenant: Some(&tenant.id),
                        action: "user.add",
                        target: &user.email,
                        before: None,
                        after: Some(json!({"role": user.role, "via": "oidc"})),
                    },
                )
                .await?;
                user
            }
        };
        if self
            .store
            .find_tenant(&user.tenant)
            .await?
            .is_none_or(|t| t.disabled_ms.is_some())
        {
            return Err(refused());
        }
        self.start_session(user, "login", json!({"via": "oidc"}))
            .await
    }

    async fn start_session(
        &self,
        user: User,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<LoginSession, AppError> {
        let now = tokenwatch_core::time::now_ms();
        let cookie = new_secret("tws_")?;
        let expires_ms = now + self.session_ms;
        self.store
            .insert_login_session(&hash_secret(&cookie), &user.id, now, expires_ms)
            .await?;
        let who = user_principal(&user)?;
        self.audit(
            &who,
            Change {
                tenant: Some(&user.tenant),
                action,
                target: &user.email,
                before: None,
                after: Some(detail),
            },
        )
        .await?;
        Ok(LoginSession {
            cookie,
            user,
            expires_ms,
        })
    }

    /// The principal of a live session cookie, if it is one.
    pub async fn authenticate_session(&self, cookie: &str) -> Result<Option<Principal>, AppError> {
        let now = tokenwatch_core::time::now_ms();
        match self.store.session_user(&hash_secret(cookie), now).await? {
            Some(user) => Ok(Some(user_principal(&user)?)),
            None => Ok(None),
        }
    }

    /// Ends a session.
    pub async fn logout(&self, who: &Principal, cookie: &str) -> Result<(), AppError> {
        let now = tokenwatch_core::time::now_ms();
        self.store
            .delete_login_session(&hash_secret(cookie), now)
            .await?;
        self.audit(
            who,
            Change {
                tenant: who.tenant.as_deref(),
                action: "logout",
                target: who.actor.trim_start_matches("user:"),
                before: None,
                after: None,
            },
        )
        .await
    }
}

fn user_principal(user: &User) -> Result<Principal, AppError> {
    Ok(Principal {
        actor: format!("user:{}", user.email),
        tenant: Some(user.tenant.clone()),
        role: Role::parse(&user.role)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(password_matches("correct horse battery", &h));
        assert!(!password_matches("correct horse batterx", &h));
        assert!(!password_matches("x", "not a hash"));
    }

    #[test]
    fn the_throttle_waits_longer_after_each_failure_past_five() {
        let t = LoginThrottle::default();
        let keys = ["email:a@b".to_owned()];
        for _ in 0..4 {
            t.fail(&keys, 0);
        }
        assert_eq!(t.wait_secs(&keys, 0), 0, "four failures are free");
        t.fail(&keys, 0);
        assert_eq!(t.wait_secs(&keys, 0), 1);
        t.fail(&keys, 0);
        t.fail(&keys, 0);
        assert_eq!(t.wait_secs(&keys, 0), 4);
        for _ in 0..30 {
            t.fail(&keys, 0);
        }
        assert_eq!(t.wait_secs(&keys, 0), MAX_WAIT_SECS);
        assert_eq!(t.wait_secs(&["email:other".to_owned()], 0), 0);
        t.succeed("email:a@b");
        assert_eq!(t.wait_secs(&keys, 0), 0);
        let addr = ["addr:10.0.0.1".to_owned()];
        for _ in 0..19 {
            t.fail(&addr, 0);
        }
        assert_eq!(
            t.wait_secs(&addr, 0),
            0,
            "an address shared by many has more room"
        );
        t.fail(&addr, 0);
        assert_eq!(t.wait_secs(&addr, 0), 1);
    }
}
