//! `tokenwatch user …` (dashboard users) and `tokenwatch credential …` (provider keys per
//! tenant). Passwords and provider keys are read from standard input before the database is
//! opened, so a missing one fails without touching anything; neither is ever printed.

use serde_json::{Value, json};
use tokenwatch_app::teams::{Principal, Role};
use tokenwatch_store::{Credential, User};

use super::{TenantNames, open_teams, secret_from_stdin, when};
use crate::cli::{
    CredentialArgs, CredentialCommand, GlobalArgs, UserArgs, UserCommand, UserRoleArg,
};
use crate::table::Table;

pub async fn user(global: &GlobalArgs, args: &UserArgs) -> anyhow::Result<String> {
    let who = Principal::cli();
    let (email, role, disabled) = match &args.command {
        UserCommand::Add {
            email,
            tenant,
            role,
        } => return add_user(global, email, tenant, user_role(*role)).await,
        UserCommand::List { json } => return list_users(global, *json).await,
        UserCommand::SetRole { email, role } => (email, Some(user_role(*role)), None),
        UserCommand::Disable { email } => (email, None, Some(true)),
        UserCommand::Enable { email } => (email, None, Some(false)),
    };
    let (teams, _) = open_teams(global).await?;
    teams.update_user(&who, email, role, disabled).await?;
    Ok(match (role, disabled) {
        (Some(role), _) => format!("{email} is now {}", role.as_str()),
        (None, Some(true)) => {
            format!("disabled user {email}: their sessions ended and they cannot sign in")
        }
        (None, _) => format!("enabled user {email}"),
    })
}

/// `user add`: the password is read before the database is opened.
async fn add_user(
    global: &GlobalArgs,
    email: &str,
    tenant: &str,
    role: Role,
) -> anyhow::Result<String> {
    let password = secret_from_stdin(
        "password",
        &format!(
            "printf '%s\\n' \"$PASSWORD\" | tokenwatch user add {email} --tenant {tenant} --role {}",
            role.as_str()
        ),
    )?;
    let (teams, _) = open_teams(global).await?;
    let u = teams
        .add_user(&Principal::cli(), Some(tenant), email, role, &password)
        .await?;
    Ok(format!(
        "added user {} ({} in tenant '{tenant}'); they sign in on the dashboard with this password",
        u.email, u.role
    ))
}

async fn list_users(global: &GlobalArgs, json: bool) -> anyhow::Result<String> {
    let (teams, loaded) = open_teams(global).await?;
    let who = Principal::cli();
    let list = teams.users(&who).await?;
    if json {
        let list: Vec<Value> = list.iter().map(user_json).collect();
        return Ok(serde_json::to_string_pretty(&json!({ "users": list }))?);
    }
    if list.is_empty() {
        return Ok("no users. Add one: printf '%s\\n' \"$PASSWORD\" | tokenwatch user add EMAIL --tenant default --role admin".to_owned());
    }
    let names = TenantNames::load(&teams, &who).await?;
    let tz = loaded.config.time_zone();
    let mut table = Table::new(&["Email", "Tenant", "Role", "State", "Created"]);
    for u in &list {
        table.row(vec![
            u.email.clone(),
            names.show(Some(&u.tenant)),
            u.role.clone(),
            match u.disabled_ms {
                Some(ms) => format!("disabled {}", when(ms, &tz)),
                None => "enabled".to_owned(),
            },
            when(u.created_ms, &tz),
        ]);
    }
    Ok(table.render())
}

pub async fn credential(global: &GlobalArgs, args: &CredentialArgs) -> anyhow::Result<String> {
    let who = Principal::cli();
    match &args.command {
        CredentialCommand::Set { tenant, provider } => {
            let secret = secret_from_stdin(
                "provider key",
                &format!(
                    "printf '%s\\n' \"$KEY\" | tokenwatch credential set --tenant {tenant} --provider {provider}"
                ),
            )?;
            let (teams, loaded) = open_teams(global).await?;
            if !loaded.config.providers.contains_key(provider.as_str()) {
                return Err(crate::BadInput(format!(
                    "--provider: no provider named '{provider}' is configured (configured: {})",
                    loaded
                        .config
                        .providers
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .into());
            }
            let c = teams
                .set_credential(&who, Some(tenant), provider, &secret)
                .await?;
            Ok(format!(
                "set the {} key of tenant '{tenant}' ({}), sealed at rest. Requests with one of the tenant's proxy keys as api_key now send it upstream.",
                c.provider, c.hint
            ))
        }
        CredentialCommand::List { json } => {
            let (teams, loaded) = open_teams(global).await?;
            let list = teams.credentials(&who).await?;
            if *json {
                let list: Vec<Value> = list.iter().map(credential_json).collect();
                return Ok(serde_json::to_string_pretty(
                    &json!({ "credentials": list }),
                )?);
            }
            if list.is_empty() {
                return Ok("no provider credentials. Set one: printf '%s\\n' \"$KEY\" | tokenwatch credential set --tenant default --provider anthropic".to_owned());
            }
            let names = TenantNames::load(&teams, &who).await?;
            let tz = loaded.config.time_zone();
            let mut table = Table::new(&["Tenant", "Provider", "Hint", "Updated"]);
            for c in &list {
                table.row(vec![
                    names.show(Some(&c.tenant)),
                    c.provider.clone(),
                    c.hint.clone(),
                    when(c.updated_ms, &tz),
                ]);
            }
            Ok(table.render())
        }
        CredentialCommand::Delete { tenant, provider } => {
            let (teams, _) = open_teams(global).await?;
            teams
                .delete_credential(&who, Some(tenant), provider)
                .await?;
            Ok(format!("deleted the {provider} key of tenant '{tenant}'"))
        }
    }
}

fn user_role(role: UserRoleArg) -> Role {
    match role {
        UserRoleArg::Viewer => Role::Viewer,
        UserRoleArg::Member => Role::Member,
        UserRoleArg::Admin => Role::Admin,
    }
}

/// A user as `GET /api/v1/users` shows it.
fn user_json(u: &User) -> Value {
    json!({"id": u.id, "email": u.email, "tenant": u.tenant, "role": u.role, "disabled": u.disabled_ms.is_some(), "created_ms": u.created_ms})
}

/// A credential as `GET /api/v1/credentials` shows it (its hint, never its value).
fn credential_json(c: &Credential) -> Value {
    json!({"tenant": c.tenant, "provider": c.provider, "hint": c.hint, "updated_ms": c.updated_ms})
}
