//! Projects inside a tenant: made by an admin, or by the first key that names one, and listed
//! with their live keys. Events carry the project of the key that made them.

use serde_json::json;
use tokenwatch_store::Project;

use super::audit::Change;
use super::tenants::check_name;
use super::{Principal, Role, Teams};
use crate::error::AppError;

impl Teams {
    /// Makes project `name` in `tenant` (the principal's own unless an operator names one).
    /// Needs admin; a project that exists is a conflict.
    pub async fn create_project(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        name: &str,
    ) -> Result<Project, AppError> {
        who.require(Role::Admin)?;
        let tenant = self.resolve_tenant(who, tenant).await?;
        let name = check_name("name", name)?;
        let now = tokenwatch_core::time::now_ms();
        if !self.store.create_project(&tenant.id, &name, now).await? {
            return Err(AppError::Conflict(format!(
                "tenant '{}' already has a project named '{name}'",
                tenant.name
            )));
        }
        self.audit(
            who,
            Change {
                tenant: Some(&tenant.id),
                action: "project.create",
                target: &name,
                before: None,
                after: Some(json!({"name": name})),
            },
        )
        .await?;
        Ok(Project {
            tenant: tenant.id,
            name,
            created_ms: now,
            live_keys: 0,
        })
    }

    /// The projects `who` can see: its tenant's, or every tenant's for an operator over all.
    pub async fn projects(&self, who: &Principal) -> Result<Vec<Project>, AppError> {
        Ok(self.store.projects(&who.scope()).await?)
    }
}
