//! Tenants (operators), proxy keys (members) and API tokens (admins).

use serde_json::json;
use tokenwatch_core::budget::BudgetSpec;
use tokenwatch_store::{ApiToken, DefKind, ProxyKey, Tenant};

use super::audit::Change;
use super::secret::new_secret;
use super::{KEY_PREFIX, Principal, Role, TOKEN_PREFIX, Teams, hash_secret, hint, new_id};
use crate::error::AppError;

/// How often at most a key's or token's `last_used` is written (it is read in listings only).
const TOUCH_EVERY_MS: i64 = 60_000;

/// A key as made: the stored row and its value, shown this once.
#[derive(Debug)]
pub struct Issued<T> {
    pub row: T,
    pub secret: String,
}

/// What a new proxy key carries besides its tenant.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub name: Option<String>,
    pub project: Option<String>,
    pub agent: Option<String>,
    pub environment: Option<String>,
    pub allowed_models: Vec<String>,
    /// A budget of the key's own (scope `api_key:<id>`), stored in its tenant.
    pub budget: Option<KeyBudget>,
}

/// The budget a key may carry.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBudget {
    /// Spend allowed per period, USD ("25", "0.50").
    pub limit_usd: String,
    /// `day`, `week` or `month` (default), or a rolling window like `5h`.
    #[serde(default)]
    pub period: Option<String>,
    /// Refuse the key's requests once the limit is reached (else alert only).
    #[serde(default)]
    pub hard: bool,
}

pub(super) fn check_name(field: &'static str, name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::bad(
            field,
            format!("{field} must be 1 to 100 characters without control characters"),
        ));
    }
    Ok(name.to_owned())
}

impl Teams {
    /// The tenant an operation acts on: `asked` (an id or name) for an operator, else the
    /// principal's own tenant (naming another is "not found").
    pub async fn resolve_tenant(
        &self,
        who: &Principal,
        asked: Option<&str>,
    ) -> Result<Tenant, AppError> {
        let missing = |t: &str| AppError::NotFound(format!("tenant '{t}'"));
        let wanted = asked.unwrap_or(who.home_tenant());
        let tenant = self
            .store
            .find_tenant(wanted)
            .await?
            .ok_or_else(|| missing(wanted))?;
        match who.tenant.as_deref() {
            Some(own) if own != tenant.id => Err(missing(wanted)),
            _ => Ok(tenant),
        }
    }

    /// Creates a tenant. Needs an operator.
    pub async fn create_tenant(&self, who: &Principal, name: &str) -> Result<Tenant, AppError> {
        who.require(Role::Operator)?;
        let tenant = Tenant {
            id: new_id(),
            name: check_name("name", name)?,
            disabled_ms: None,
            created_ms: tokenwatch_core::time::now_ms(),
        };
        if !self.store.create_tenant(&tenant).await? {
            return Err(AppError::Conflict(format!(
                "a tenant named '{}' already exists",
                tenant.name
            )));
        }
        self.audit(
            who,
            Change {
                tenant: None,
                action: "tenant.create",
                target: &tenant.id,
                before: None,
                after: Some(json!({"name": tenant.name})),
            },
        )
        .await?;
        Ok(tenant)
    }

    /// The tenants `who` can see: every one for an operator over all, else its own.
    pub async fn tenants(&self, who: &Principal) -> Result<Vec<Tenant>, AppError> {
        let all = self.store.tenants().await?;
        Ok(match who.tenant.as_deref() {
            None => all,
            Some(own) => all.into_iter().filter(|t| t.id == own).collect(),
        })
    }

    /// Renames a tenant. Needs an operator.
    pub async fn rename_tenant(
        &self,
        who: &Principal,
        tenant: &str,
        name: &str,
    ) -> Result<Tenant, AppError> {
        who.require(Role::Operator)?;
        let before = self.resolve_tenant(who, Some(tenant)).await?;
        let name = check_name("name", name)?;
        if !self.store.rename_tenant(&before.id, &name).await? {
            return Err(AppError::Conflict(format!(
                "a tenant named '{name}' already exists"
            )));
        }
        self.audit(
            who,
            Change {
                tenant: None,
                action: "tenant.rename",
                target: &before.id,
                before: Some(json!({"name": before.name})),
                after: Some(json!({"name": name})),
            },
        )
        .await?;
        Ok(Tenant { name, ..before })
    }

    /// Disables or enables a tenant: a disabled tenant's keys, tokens and logins stop working
    /// at once; its data stays. Needs an operator.
    pub async fn set_tenant_disabled(
        &self,
        who: &Principal,
        tenant: &str,
        disabled: bool,
    ) -> Result<(), AppError> {
        who.require(Role::Operator)?;
        let t = self.resolve_tenant(who, Some(tenant)).await?;
        let when = disabled.then(tokenwatch_core::time::now_ms);
        self.store.set_tenant_disabled(&t.id, when).await?;
        self.audit(
            who,
            Change {
                tenant: None,
                action: if disabled {
                    "tenant.disable"
                } else {
                    "tenant.enable"
                },
                target: &t.id,
                before: Some(json!({"disabled": t.disabled_ms.is_some()})),
                after: Some(json!({"disabled": disabled})),
            },
        )
        .await
    }

    /// Makes a proxy key in `tenant` (the principal's own unless an operator names one).
    /// Needs member.
    pub async fn create_key(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        new: NewKey,
    ) -> Result<Issued<ProxyKey>, AppError> {
        who.require(Role::Member)?;
        let tenant = self.resolve_tenant(who, tenant).await?;
        let secret = new_secret(KEY_PREFIX)?;
        let opt = |field, v: Option<String>| v.map(|v| check_name(field, &v)).transpose();
        let key = ProxyKey {
            id: new_id(),
            tenant: tenant.id.clone(),
            name: opt("name", new.name)?,
            project: opt("project", new.project)?,
            agent: opt("agent", new.agent)?,
            environment: opt("environment", new.environment)?,
            allowed_models: new.allowed_models,
            hint: hint(&secret),
            created_ms: tokenwatch_core::time::now_ms(),
            revoked_ms: None,
            last_used_ms: None,
            created_by: Some(who.actor.clone()),
        };
        // The key's budget is checked before anything is stored.
        let budget = match &new.budget {
            Some(b) => Some(key_budget(&key.id, b)?),
            None => None,
        };
        self.store
            .insert_proxy_key(&key, &hash_secret(&secret))
            .await?;
        if let Some(project) = &key.project {
            // The first key naming a project makes it, so every key's project lists.
            self.store
                .create_project(&tenant.id, project, key.created_ms)
                .await?;
        }
        if let Some(spec) = budget {
            let json =
                serde_json::to_string(&spec).map_err(|e| AppError::Internal(e.to_string()))?;
            self.store
                .put_definition(&tenant.id, DefKind::Budget, &spec.name, &json, "api")
                .await?;
            self.audit(
                who,
                Change {
                    tenant: Some(&tenant.id),
                    action: "budget.put",
                    target: &spec.name,
                    before: None,
                    after: serde_json::from_str(&json).ok(),
                },
            )
            .await?;
        }
        self.audit(
            who,
            Change {
                tenant: Some(&tenant.id),
                action: "key.create",
                target: &key.id,
                before: None,
                after: Some(key_json(&key)),
            },
        )
        .await?;
        Ok(Issued { row: key, secret })
    }

    /// The proxy keys `who` can see. Needs viewer.
    pub async fn keys(&self, who: &Principal) -> Result<Vec<ProxyKey>, AppError> {
        who.require(Role::Viewer)?;
        Ok(self.store.proxy_keys(&who.scope()).await?)
    }

    /// Revokes a key: refused from the next request on. Needs member.
    pub async fn revoke_key(&self, who: &Principal, id: &str) -> Result<(), AppError> {
        who.require(Role::Member)?;
        let now = tokenwatch_core::time::now_ms();
        let key = self.changeable_key(who, id).await?;
        if !self.store.revoke_proxy_key(&who.scope(), id, now).await? {
            return Err(AppError::NotFound(format!(
                "live proxy key {}",
                quoted_id(id)
            )));
        }
        self.audit(
            who,
            Change {
                tenant: Some(&key.tenant),
                action: "key.revoke",
                target: id,
                before: Some(key_json(&key)),
                after: Some(json!({"revoked": true})),
            },
        )
        .await
    }

    /// Gives a key a new value; the old value is refused from the next request on. Needs member.
    pub async fn rotate_key(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<Issued<ProxyKey>, AppError> {
        who.require(Role::Member)?;
        let key = self.changeable_key(who, id).await?;
        let secret = new_secret(KEY_PREFIX)?;
        let new_hint = hint(&secret);
        if !self
            .store
            .rekey_proxy_key(&who.scope(), id, &hash_secret(&secret), &new_hint)
            .await?
        {
            return Err(AppError::NotFound(format!(
                "live proxy key {}",
                quoted_id(id)
            )));
        }
        self.audit(
            who,
            Change {
                tenant: Some(&key.tenant),
                action: "key.rotate",
                target: id,
                before: Some(json!({"hint": key.hint})),
                after: Some(json!({"hint": new_hint})),
            },
        )
        .await?;
        Ok(Issued {
            row: ProxyKey {
                hint: new_hint,
                ..key
            },
            secret,
        })
    }

    /// A key `who` may revoke or rotate: an admin any key of its tenant, a member only the keys
    /// it made.
    async fn changeable_key(&self, who: &Principal, id: &str) -> Result<ProxyKey, AppError> {
        let key = self.visible_key(who, id).await?;
        if who.role < Role::Admin && key.created_by.as_deref() != Some(who.actor.as_str()) {
            return Err(AppError::Forbidden(
                "a member revokes and rotates only the keys it made; ask an admin".to_owned(),
            ));
        }
        Ok(key)
    }

    async fn visible_key(&self, who: &Principal, id: &str) -> Result<ProxyKey, AppError> {
        self.store
            .proxy_keys(&who.scope())
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| AppError::NotFound(format!("proxy key {}", quoted_id(id))))
    }

    /// The live key a client presented, if any; notes its use at most once a minute.
    pub async fn authenticate_key(&self, secret: &str) -> Result<Option<ProxyKey>, AppError> {
        let Some(key) = self.store.live_proxy_key(&hash_secret(secret)).await? else {
            return Ok(None);
        };
        let now = tokenwatch_core::time::now_ms();
        if key.last_used_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
            let store = self.store.clone();
            let id = key.id.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_proxy_key(&id, now).await {
                    tracing::warn!(error = %e, "could not note a proxy key's use");
                }
            });
        }
        Ok(Some(key))
    }

    /// Makes an API token with `role` in `tenant`; an operator token (role operator, no
    /// tenant) only by an operator. A token never has more than its maker. Needs admin.
    pub async fn create_token(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        role: Role,
        name: Option<&str>,
    ) -> Result<Issued<ApiToken>, AppError> {
        who.require(Role::Admin)?;
        who.require(role)?;
        let tenant_id = if role == Role::Operator && tenant.is_none() {
            None
        } else {
            Some(self.resolve_tenant(who, tenant).await?.id)
        };
        let secret = new_secret(TOKEN_PREFIX)?;
        let token = ApiToken {
            id: new_id(),
            tenant: tenant_id,
            role: role.as_str().to_owned(),
            name: name.map(|n| check_name("name", n)).transpose()?,
            hint: hint(&secret),
            created_ms: tokenwatch_core::time::now_ms(),
            revoked_ms: None,
            last_used_ms: None,
        };
        self.store
            .insert_api_token(&token, &hash_secret(&secret))
            .await?;
        self.audit(
            who,
            Change {
                tenant: token.tenant.as_deref(),
                action: "token.create",
                target: &token.id,
                before: None,
                after: Some(json!({"role": token.role, "name": token.name, "hint": token.hint})),
            },
        )
        .await?;
        Ok(Issued { row: token, secret })
    }

    /// The API tokens `who` can see. Needs admin.
    pub async fn tokens(&self, who: &Principal) -> Result<Vec<ApiToken>, AppError> {
        who.require(Role::Admin)?;
        Ok(self.store.api_tokens(&who.scope()).await?)
    }

    /// Revokes a token. Needs admin.
    pub async fn revoke_token(&self, who: &Principal, id: &str) -> Result<(), AppError> {
        who.require(Role::Admin)?;
        let now = tokenwatch_core::time::now_ms();
        if !self.store.revoke_api_token(&who.scope(), id, now).await? {
            return Err(AppError::NotFound(format!(
                "live API token {}",
                quoted_id(id)
            )));
        }
        self.audit(
            who,
            Change {
                tenant: who.tenant.as_deref(),
                action: "token.revoke",
                target: id,
                before: None,
                after: Some(json!({"revoked": true})),
            },
        )
        .await
    }

    /// The principal of a live API token, if the value is one.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Option<Principal>, AppError> {
        let Some(token) = self.store.live_api_token(&hash_secret(secret)).await? else {
            return Ok(None);
        };
        let now = tokenwatch_core::time::now_ms();
        if token.last_used_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
            let store = self.store.clone();
            let id = token.id.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_token(&id, now).await {
                    tracing::warn!(error = %e, "could not note a token's use");
                }
            });
        }
        Ok(Some(Principal {
            actor: format!("token:{}", token.id),
            tenant: token.tenant,
            role: Role::parse(&token.role)?,
        }))
    }
}

/// The budget spec of a key's own budget: named `key-<id>`, scoped to the key.
fn key_budget(key_id: &str, b: &KeyBudget) -> Result<BudgetSpec, AppError> {
    let spec: BudgetSpec = serde_json::from_value(json!({
        "name": format!("key-{key_id}"),
        "scope": format!("api_key:{key_id}"),
        "period": b.period.as_deref().unwrap_or("month"),
        "limit_usd": b.limit_usd,
        "hard": b.hard,
    }))
    .map_err(|e| AppError::bad("budget", format!("budget: {e}")))?;
    AppError::check(spec.problems())?;
    Ok(spec)
}

/// An id as a message may repeat it: a key or token pasted where its id belongs is never
/// echoed (it would land in a terminal or a CI log).
fn quoted_id(id: &str) -> String {
    if id.starts_with(KEY_PREFIX) || id.starts_with(TOKEN_PREFIX) || id.starts_with("tws_") {
        "(that is a secret value, not an id: ids are listed by `key list` / `token list`)"
            .to_owned()
    } else {
        format!(
            "'{}'",
            id.chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect::<String>()
        )
    }
}

/// A key as the audit log shows it: everything but its value.
fn key_json(key: &ProxyKey) -> serde_json::Value {
    json!({
        "tenant": key.tenant, "name": key.name, "project": key.project, "agent": key.agent,
        "environment": key.environment, "allowed_models": key.allowed_models, "hint": key.hint,
    })
}
