//! Whose rows a read may see.
//!
//! Every read of tenant-owned rows takes a [`TenantScope`], and [`TenantScope`] has no default: a query
//! cannot be written without saying whose rows it reads. The application layer derives the
//! scope from the authenticated principal (one tenant for a key, token or login; every tenant
//! only for an operator or the host's CLI), so the store never guesses.

/// The tenant a read is limited to, or every tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TenantScope {
    /// Only this tenant's rows.
    Tenant(String),
    /// Every tenant's rows: operators and the host's CLI.
    AllTenants,
}

impl TenantScope {
    /// Only `tenant`'s rows.
    pub fn tenant(tenant: impl Into<String>) -> Self {
        Self::Tenant(tenant.into())
    }

    /// The tenant this scope is limited to; `None` for every tenant (what SQL binds as NULL
    /// in `($n IS NULL OR tenant = $n)`).
    pub fn as_tenant(&self) -> Option<&str> {
        match self {
            Self::Tenant(t) => Some(t),
            Self::AllTenants => None,
        }
    }
}
