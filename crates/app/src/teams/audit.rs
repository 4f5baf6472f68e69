//! Writing and reading the audit log.

use serde_json::Value;
use tokenwatch_store::AuditEntry;

use super::{Principal, Role, Teams, new_id};
use crate::error::AppError;

/// What an audit entry records besides who and when.
pub struct Change<'a> {
    pub tenant: Option<&'a str>,
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Teams {
    /// Appends an entry for `who`. The values must already be free of secrets.
    pub async fn audit(&self, who: &Principal, change: Change<'_>) -> Result<(), AppError> {
        let entry = AuditEntry {
            id: new_id(),
            ts_ms: tokenwatch_core::time::now_ms(),
            tenant: change.tenant.map(str::to_owned),
            actor: who.actor.clone(),
            action: change.action.to_owned(),
            target: change.target.to_owned(),
            before: change.before,
            after: change.after,
        };
        self.store.insert_audit(&entry).await?;
        Ok(())
    }

    /// The newest entries `who` may read (its tenant's; an operator's: all), older than
    /// `before_ms` when given. Needs admin.
    pub async fn audit_entries(
        &self,
        who: &Principal,
        before_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, AppError> {
        who.require(Role::Admin)?;
        Ok(self
            .store
            .audit_entries(&who.scope(), before_ms, limit)
            .await?)
    }
}
