//! `tokenwatch key …` (proxy keys) and `tokenwatch token …` (API tokens). A value is printed
//! only by `create` and `rotate`; with `--json` exactly `{"id", "key"}` or `{"id", "token"}`.

use serde_json::{Value, json};
use tokenwatch_app::config::{Config, split_listen};
use tokenwatch_app::teams::{KeyBudget, NewKey, Principal, Role};
use tokenwatch_store::{ApiToken, ProxyKey};

use super::{TenantNames, open_teams, when, when_or_never};
use crate::BadInput;
use crate::cli::{GlobalArgs, KeyArgs, KeyCommand, TokenArgs, TokenCommand, TokenRoleArg};
use crate::table::Table;

pub async fn key(global: &GlobalArgs, args: &KeyArgs) -> anyhow::Result<String> {
    let (teams, loaded) = open_teams(global).await?;
    let who = Principal::cli();
    match &args.command {
        KeyCommand::Create(a) => {
            let new = NewKey {
                name: a.name.clone(),
                project: a.project.clone(),
                agent: a.agent.clone(),
                environment: a.environment.clone(),
                allowed_models: a.models.clone(),
                budget: a.budget_usd.as_ref().map(|usd| KeyBudget {
                    limit_usd: usd.clone(),
                    period: Some(a.budget_period.clone()),
                    hard: a.hard,
                }),
            };
            let issued = teams.create_key(&who, Some(&a.tenant), new).await?;
            if a.json {
                return issued_json("key", &issued.row.id, &issued.secret);
            }
            Ok(format!(
                "created proxy key {} in tenant '{}'.\n\n  {}\n\n{}",
                issued.row.id,
                a.tenant,
                issued.secret,
                key_usage(&loaded.config, &issued.row.id)
            ))
        }
        KeyCommand::List { tenant, json } => {
            let mut list = teams.keys(&who).await?;
            if let Some(asked) = tenant {
                let t = teams.resolve_tenant(&who, Some(asked)).await?;
                list.retain(|k| k.tenant == t.id);
            }
            if *json {
                let list: Vec<Value> = list.iter().map(key_json).collect();
                return Ok(serde_json::to_string_pretty(&json!({ "keys": list }))?);
            }
            if list.is_empty() {
                return Ok(
                    "no proxy keys. Make one: tokenwatch key create --tenant default".to_owned(),
                );
            }
            let names = TenantNames::load(&teams, &who).await?;
            let tz = loaded.config.time_zone();
            let mut table = Table::new(&[
                "ID",
                "Tenant",
                "Name",
                "Attributes",
                "Hint",
                "Last used",
                "State",
            ]);
            for k in &list {
                table.row(vec![
                    k.id.clone(),
                    names.show(Some(&k.tenant)),
                    k.name.clone().unwrap_or_default(),
                    attributes(k),
                    k.hint.clone(),
                    when_or_never(k.last_used_ms, &tz),
                    revoked_state(k.revoked_ms, &tz),
                ]);
            }
            Ok(table.render())
        }
        KeyCommand::Revoke { id } => {
            teams.revoke_key(&who, id).await?;
            Ok(format!(
                "revoked proxy key {id}: requests with it are refused from now on"
            ))
        }
        KeyCommand::Rotate { id, json } => {
            let issued = teams.rotate_key(&who, id).await?;
            if *json {
                return issued_json("key", &issued.row.id, &issued.secret);
            }
            Ok(format!(
                "rotated proxy key {id}: the old value is refused from now on. The new one:\n\n  {}\n\n{}",
                issued.secret,
                key_usage(&loaded.config, id)
            ))
        }
    }
}

pub async fn token(global: &GlobalArgs, args: &TokenArgs) -> anyhow::Result<String> {
    let (teams, loaded) = open_teams(global).await?;
    let who = Principal::cli();
    match &args.command {
        TokenCommand::Create {
            tenant,
            role,
            name,
            json,
        } => {
            let role = match role {
                TokenRoleArg::Viewer => Role::Viewer,
                TokenRoleArg::Member => Role::Member,
                TokenRoleArg::Admin => Role::Admin,
                TokenRoleArg::Operator => Role::Operator,
            };
            if tenant.is_none() && role != Role::Operator {
                return Err(BadInput(format!(
                    "--tenant is required for a {} token (only --role operator may leave it out, for every tenant)",
                    role.as_str()
                ))
                .into());
            }
            let issued = teams
                .create_token(&who, tenant.as_deref(), role, name.as_deref())
                .await?;
            if *json {
                return issued_json("token", &issued.row.id, &issued.secret);
            }
            let scope = match tenant {
                Some(t) => format!("{} in tenant '{t}'", role.as_str()),
                None => "operator over every tenant".to_owned(),
            };
            Ok(format!(
                "created API token {} ({scope}).\n\n  {}\n\nThis is the only time it is shown: store it now. Send it as\n  Authorization: Bearer <token>\nwith requests to {}/api/v1/…",
                issued.row.id,
                issued.secret,
                base_url(&loaded.config)
            ))
        }
        TokenCommand::List { json } => {
            let list = teams.tokens(&who).await?;
            if *json {
                let list: Vec<Value> = list.iter().map(token_json).collect();
                return Ok(serde_json::to_string_pretty(&json!({ "tokens": list }))?);
            }
            if list.is_empty() {
                return Ok(
                    "no API tokens. Make one: tokenwatch token create --tenant default --role viewer"
                        .to_owned(),
                );
            }
            let names = TenantNames::load(&teams, &who).await?;
            let tz = loaded.config.time_zone();
            let mut table =
                Table::new(&["ID", "Tenant", "Role", "Name", "Hint", "Last used", "State"]);
            for t in &list {
                table.row(vec![
                    t.id.clone(),
                    names.show(t.tenant.as_deref()),
                    t.role.clone(),
                    t.name.clone().unwrap_or_default(),
                    t.hint.clone(),
                    when_or_never(t.last_used_ms, &tz),
                    revoked_state(t.revoked_ms, &tz),
                ]);
            }
            Ok(table.render())
        }
        TokenCommand::Revoke { id } => {
            teams.revoke_token(&who, id).await?;
            Ok(format!(
                "revoked API token {id}: requests with it are refused from now on"
            ))
        }
    }
}

/// Exactly `{"id": …, "<field>": …}`: what a script needs, nothing else.
fn issued_json(field: &str, id: &str, secret: &str) -> anyhow::Result<String> {
    let mut out = serde_json::Map::new();
    out.insert("id".to_owned(), json!(id));
    out.insert(field.to_owned(), json!(secret));
    Ok(serde_json::to_string_pretty(&out)?)
}

/// How to use a key just printed.
fn key_usage(config: &Config, id: &str) -> String {
    let base = base_url(config);
    format!(
        "This is the only time the key is shown: store it now (a lost key is replaced with\n\
         tokenwatch key rotate {id}). Use it either\n  \
         - as your SDK's api_key with base URL {base}/anthropic (or /openai/v1, /gemini):\n    \
         the tenant's provider key goes upstream (tokenwatch credential set), or\n  \
         - beside your own provider key, in the header X-Tokenwatch-Key: <key>."
    )
}

/// The proxy's base URL from `[server] listen`; an unspecified address (every interface)
/// becomes a placeholder for this host's name.
fn base_url(config: &Config) -> String {
    match split_listen(&config.server.listen) {
        Some(("0.0.0.0" | "[::]", port)) => format!("http://<this host>:{port}"),
        Some((host, port)) => format!("http://{host}:{port}"),
        None => format!("http://{}", config.server.listen.trim()),
    }
}

/// A key's attribution and model limit in one cell (`project=billing agent=ci models=a,b`).
fn attributes(k: &ProxyKey) -> String {
    let mut parts = Vec::new();
    for (label, value) in [
        ("project", &k.project),
        ("agent", &k.agent),
        ("environment", &k.environment),
    ] {
        if let Some(v) = value {
            parts.push(format!("{label}={v}"));
        }
    }
    if !k.allowed_models.is_empty() {
        parts.push(format!("models={}", k.allowed_models.join(",")));
    }
    parts.join(" ")
}

fn revoked_state(revoked_ms: Option<i64>, tz: &jiff::tz::TimeZone) -> String {
    match revoked_ms {
        Some(ms) => format!("revoked {}", when(ms, tz)),
        None => "live".to_owned(),
    }
}

/// A key as `GET /api/v1/keys` shows it (its hint, never its value).
fn key_json(k: &ProxyKey) -> Value {
    json!({
        "id": k.id, "tenant": k.tenant, "name": k.name, "project": k.project, "agent": k.agent,
        "environment": k.environment, "allowed_models": k.allowed_models, "hint": k.hint,
        "created_ms": k.created_ms, "revoked_ms": k.revoked_ms, "last_used_ms": k.last_used_ms,
    })
}

/// A token as `GET /api/v1/tokens` shows it (its hint, never its value).
fn token_json(t: &ApiToken) -> Value {
    json!({
        "id": t.id, "tenant": t.tenant, "role": t.role, "name": t.name, "hint": t.hint,
        "created_ms": t.created_ms, "revoked_ms": t.revoked_ms, "last_used_ms": t.last_used_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_json_holds_the_id_and_the_value_only() {
        let text = issued_json("key", "id-1", "twk_secret").unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc, json!({"id": "id-1", "key": "twk_secret"}));
    }

    #[test]
    fn the_base_url_follows_the_listen_address() {
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:4100".to_owned();
        assert_eq!(base_url(&config), "http://127.0.0.1:4100");
        config.server.listen = "0.0.0.0:8080".to_owned();
        assert_eq!(base_url(&config), "http://<this host>:8080");
        config.server.listen = "[::1]:4100".to_owned();
        assert_eq!(base_url(&config), "http://[::1]:4100");
    }

    #[test]
    fn attributes_name_what_is_set() {
        let k = ProxyKey {
            project: Some("billing".into()),
            environment: Some("prod".into()),
            allowed_models: vec!["a".into(), "b".into()],
            ..ProxyKey::default()
        };
        assert_eq!(
            attributes(&k),
            "project=billing environment=prod models=a,b"
        );
        assert_eq!(attributes(&ProxyKey::default()), "");
    }
}
