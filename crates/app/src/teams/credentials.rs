//! Provider credentials per tenant: set from standard input or the dashboard (write-only),
//! sealed with the secret key, opened only by the proxy just before a request goes upstream.

use serde_json::json;
use tokenwatch_store::Credential;

use super::audit::Change;
use super::{Principal, Role, Teams, hint};
use crate::error::AppError;

/// Associated data of a sealed credential: a sealed channel secret cannot be replayed as one.
const FIELD: &str = "provider_credential";

impl Teams {
    /// Sets `tenant`'s credential for `provider` (a provider's mount name). Needs admin.
    pub async fn set_credential(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        provider: &str,
        secret: &str,
    ) -> Result<Credential, AppError> {
        who.require(Role::Admin)?;
        let tenant = self.resolve_tenant(who, tenant).await?;
        let provider = provider.trim();
        if provider.is_empty()
            || !provider
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(AppError::bad(
                "provider",
                format!(
                    "provider '{provider}' is not a provider name (lower-case letters, digits, - and _)"
                ),
            ));
        }
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(AppError::bad("key", "the provider key is empty"));
        }
        if secret.chars().any(char::is_control) {
            return Err(AppError::bad(
                "key",
                "the provider key contains a control character (a pasted line break?)",
            ));
        }
        let sealed = self
            .secrets
            .seal_value(FIELD, secret)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let cred = Credential {
            tenant: tenant.id.clone(),
            provider: provider.to_owned(),
            hint: hint(secret),
            updated_ms: tokenwatch_core::time::now_ms(),
        };
        let replaced = self.store.put_credential(&cred, &sealed).await?;
        self.audit(
            who,
            Change {
                tenant: Some(&tenant.id),
                action: "credential.set",
                target: provider,
                before: replaced.then(|| json!({"set": true})),
                after: Some(json!({"hint": cred.hint})),
            },
        )
        .await?;
        Ok(cred)
    }

    /// The credentials `who` may see (never their values). Needs admin.
    pub async fn credentials(&self, who: &Principal) -> Result<Vec<Credential>, AppError> {
        who.require(Role::Admin)?;
        Ok(self.store.credentials(&who.scope()).await?)
    }

    /// Deletes a credential. Needs admin.
    pub async fn delete_credential(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        provider: &str,
    ) -> Result<(), AppError> {
        who.require(Role::Admin)?;
        let tenant = self.resolve_tenant(who, tenant).await?;
        if !self.store.delete_credential(&tenant.id, provider).await? {
            return Err(AppError::NotFound(format!(
                "credential for provider '{provider}'"
            )));
        }
        self.audit(
            who,
            Change {
                tenant: Some(&tenant.id),
                action: "credential.delete",
                target: provider,
                before: Some(json!({"set": true})),
                after: None,
            },
        )
        .await
    }

    /// The clear key of `tenant`'s credential for `provider`, for the proxy to send upstream.
    pub async fn credential_for(
        &self,
        tenant: &str,
        provider: &str,
    ) -> Result<Option<String>, AppError> {
        let Some(sealed) = self.store.sealed_credential(tenant, provider).await? else {
            return Ok(None);
        };
        self.secrets
            .open(&format!("credential {provider}"), FIELD, Some(&sealed))
            .map_err(|e| AppError::Internal(e.to_string()))
    }
}
