//! Teams: who is asking ([`Principal`]: a tenant and a [`Role`]), and the use-cases behind
//! tenants, proxy keys, API tokens, users and logins, provider credentials and the audit log.
//!
//! Invariants: a secret (proxy key, API token, session cookie, password, provider key) is shown
//! once, when it is made, and never again: keys, tokens and cookies are stored as the SHA-256 of
//! their 256-bit random value, passwords as Argon2id, provider keys sealed with the AES-256-GCM
//! secret key. Every change here is written to the audit log with its values minus secrets.
//! A principal without a tenant is an operator (every tenant); every other principal reaches
//! only its own tenant's rows.

mod audit;
mod credentials;
mod login;
mod oidc;
mod projects;
mod secret;
mod tenants;

pub use audit::Change;
pub use login::{LoginSession, LoginThrottle, SESSION_COOKIE, csrf_token};
pub use oidc::Oidc;
pub use secret::{KEY_PREFIX, TOKEN_PREFIX, hash_secret, hint};
pub use tenants::{Issued, KeyBudget, NewKey};

use std::sync::Arc;

use serde::Serialize;
use tokenwatch_store::{DEFAULT_TENANT, Store, TenantScope};

use crate::error::AppError;
use crate::secrets::Secrets;

/// What a principal may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads its tenant's data.
    Viewer,
    /// Also manages tags, its own keys and budgets.
    Member,
    /// Also manages users, credentials, channels and everything else in its tenant.
    Admin,
    /// Manages tenants; an operator without a tenant sees every tenant.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    /// Parses a role name; the error names the accepted ones.
    pub fn parse(text: &str) -> Result<Self, AppError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            other => Err(AppError::bad(
                "role",
                format!("unknown role '{other}': use viewer, member, admin or operator"),
            )),
        }
    }
}

/// Who is asking, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// For the audit log: `user:<email>`, `token:<id>`, `cli` or `local`.
    pub actor: String,
    /// The tenant whose rows this principal reaches; `None` for an operator over every tenant.
    pub tenant: Option<String>,
    pub role: Role,
}

impl Principal {
    /// Local mode (loopback, no auth configured): the `default` tenant with every role.
    pub fn local() -> Self {
        Principal {
            actor: "local".to_owned(),
            tenant: Some(DEFAULT_TENANT.to_owned()),
            role: Role::Operator,
        }
    }

    /// The CLI on the host: an operator over every tenant.
    pub fn cli() -> Self {
        Principal {
            actor: "cli".to_owned(),
            tenant: None,
            role: Role::Operator,
        }
    }

    /// `Ok` when this principal has at least `role`, else a 403-kind error naming both.
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this needs the {} role; {} has {}",
                role.as_str(),
                self.actor,
                self.role.as_str()
            )))
        }
    }

    /// Whose rows this principal reads: its tenant's, or every tenant's for an operator
    /// over every tenant.
    pub fn scope(&self) -> TenantScope {
        self.tenant
            .as_deref()
            .map_or(TenantScope::AllTenants, TenantScope::tenant)
    }

    /// The tenant new rows are written to: the principal's own, or `default` for an operator
    /// over every tenant.
    pub fn home_tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
    }

    /// The tenant an operation names: `asked` when given (only an operator may name another
    /// tenant than its own), else the principal's home tenant. An unknown or foreign tenant
    /// is "not found", never a hint that it exists.
    pub fn target_tenant<'a>(&'a self, asked: Option<&'a str>) -> Result<&'a str, AppError> {
        match (asked, self.tenant.as_deref()) {
            (Some(a), Some(own)) if a != own => Err(AppError::NotFound(format!("tenant '{a}'"))),
            (Some(a), _) => Ok(a),
            (None, _) => Ok(self.home_tenant()),
        }
    }
}

/// The teams use-cases over one store and the secret key.
pub struct Teams {
    pub(crate) store: Store,
    pub(crate) secrets: Arc<Secrets>,
    /// Failed logins per email and per client address.
    pub throttle: LoginThrottle,
    /// How long a login session lasts.
    pub session_ms: i64,
}

impl Teams {
    pub fn new(store: Store, secrets: Arc<Secrets>, session_hours: u64) -> Self {
        Teams {
            store,
            secrets,
            throttle: LoginThrottle::default(),
            session_ms: i64::try_from(session_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// A new UUIDv7 id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
