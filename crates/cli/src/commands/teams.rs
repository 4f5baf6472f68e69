//! `tokenwatch tenant|project|key|token|user|credential|audit`: the teams use-cases run as the host's
//! operator ([`Principal::cli`], audited as actor `cli`).
//!
//! Tenants are here; proxy keys and API tokens in [`access`], users and provider credentials
//! in [`people`], the audit log in [`audit`]. A key or token value is printed once, when it is
//! made; listings show hints. Passwords and provider keys come from the first line of standard
//! input, never from arguments, and are never printed. Provider keys are sealed with the same
//! secret key `serve` opens them with (`config::secrets`: `TOKENWATCH_SECRET_KEY`, its file,
//! or the key file beside the database).

mod access;
mod audit;
mod people;

pub use access::{key, token};
pub use audit::audit;
pub use people::{credential, user};

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use serde_json::{Value, json};
use tokenwatch_app::config::Loaded;
use tokenwatch_app::teams::{Principal, Teams};
use tokenwatch_store::{Project, Tenant};

use crate::BadInput;
use crate::cli::{GlobalArgs, ProjectArgs, ProjectCommand, TenantArgs, TenantCommand};
use crate::commands::open_store;
use crate::table::Table;

/// The longest line read from standard input for a secret (a password or a provider key).
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The teams use-cases over the configured database, with the secret key `serve` uses.
pub(crate) async fn open_teams(global: &GlobalArgs) -> anyhow::Result<(Teams, Loaded)> {
    let (store, loaded) = open_store(global).await?;
    let secrets = Arc::new(tokenwatch_app::config::secrets(&loaded.config)?);
    let teams = Teams::new(store, secrets, loaded.config.auth.session_hours);
    Ok((teams, loaded))
}

pub async fn tenant(global: &GlobalArgs, args: &TenantArgs) -> anyhow::Result<String> {
    let (teams, loaded) = open_teams(global).await?;
    let who = Principal::cli();
    match &args.command {
        TenantCommand::Create { name, json } => {
            let t = teams.create_tenant(&who, name).await?;
            if *json {
                return Ok(serde_json::to_string_pretty(&tenant_json(&t))?);
            }
            Ok(format!(
                "created tenant '{}' (id {}). Next: tokenwatch key create --tenant '{}'",
                t.name, t.id, t.name
            ))
        }
        TenantCommand::List { json } => {
            let list = teams.tenants(&who).await?;
            if *json {
                let list: Vec<Value> = list.iter().map(tenant_json).collect();
                return Ok(serde_json::to_string_pretty(&json!({ "tenants": list }))?);
            }
            let tz = loaded.config.time_zone();
            let mut table = Table::new(&["Tenant", "ID", "State", "Created"]);
            for t in &list {
                table.row(vec![
                    t.name.clone(),
                    t.id.clone(),
                    match t.disabled_ms {
                        Some(ms) => format!("disabled {}", when(ms, &tz)),
                        None => "enabled".to_owned(),
                    },
                    when(t.created_ms, &tz),
                ]);
            }
            Ok(table.render())
        }
        TenantCommand::Rename { tenant, new_name } => {
            let before = teams.resolve_tenant(&who, Some(tenant)).await?;
            let after = teams.rename_tenant(&who, &before.id, new_name).await?;
            Ok(format!(
                "renamed tenant '{}' to '{}' (id {})",
                before.name, after.name, after.id
            ))
        }
        TenantCommand::Disable { tenant } => {
            let t = teams.resolve_tenant(&who, Some(tenant)).await?;
            teams.set_tenant_disabled(&who, &t.id, true).await?;
            Ok(format!(
                "disabled tenant '{}': its proxy keys, API tokens and logins are refused from now on; its data stays (tokenwatch tenant enable '{}')",
                t.name, t.name
            ))
        }
        TenantCommand::Enable { tenant } => {
            let t = teams.resolve_tenant(&who, Some(tenant)).await?;
            teams.set_tenant_disabled(&who, &t.id, false).await?;
            Ok(format!("enabled tenant '{}'", t.name))
        }
    }
}

pub async fn project(global: &GlobalArgs, args: &ProjectArgs) -> anyhow::Result<String> {
    let (teams, loaded) = open_teams(global).await?;
    let who = Principal::cli();
    match &args.command {
        ProjectCommand::Create { name, tenant, json } => {
            let p = teams.create_project(&who, Some(tenant), name).await?;
            if *json {
                return Ok(serde_json::to_string_pretty(&project_json(&p))?);
            }
            Ok(format!(
                "created project '{}' in tenant '{tenant}'. Next: tokenwatch key create --tenant '{tenant}' --project '{}'",
                p.name, p.name
            ))
        }
        ProjectCommand::List { tenant, json } => {
            let only = match tenant {
                Some(t) => Some(teams.resolve_tenant(&who, Some(t)).await?.id),
                None => None,
            };
            let list: Vec<Project> = teams
                .projects(&who)
                .await?
                .into_iter()
                .filter(|p| only.as_ref().is_none_or(|t| &p.tenant == t))
                .collect();
            if *json {
                let list: Vec<Value> = list.iter().map(project_json).collect();
                return Ok(serde_json::to_string_pretty(&json!({ "projects": list }))?);
            }
            let names = TenantNames::load(&teams, &who).await?;
            let tz = loaded.config.time_zone();
            let mut table = Table::new(&["Tenant", "Project", "Live keys", "Created"]);
            for p in &list {
                table.row(vec![
                    names.show(Some(&p.tenant)),
                    p.name.clone(),
                    p.live_keys.to_string(),
                    when(p.created_ms, &tz),
                ]);
            }
            Ok(table.render())
        }
    }
}

/// A project as `GET /api/v1/projects` shows it.
fn project_json(p: &Project) -> Value {
    json!({"tenant": p.tenant, "name": p.name, "created_ms": p.created_ms, "live_keys": p.live_keys})
}

/// A tenant as `GET /api/v1/tenants` shows it.
fn tenant_json(t: &Tenant) -> Value {
    json!({"id": t.id, "name": t.name, "disabled": t.disabled_ms.is_some(), "created_ms": t.created_ms})
}

/// Tenant names by id, for listings that store ids.
struct TenantNames(HashMap<String, String>);

impl TenantNames {
    async fn load(teams: &Teams, who: &Principal) -> anyhow::Result<Self> {
        let list = teams.tenants(who).await?;
        Ok(Self(list.into_iter().map(|t| (t.id, t.name)).collect()))
    }

    /// The tenant's name, or its id when it has none (deleted by hand); `None` is every tenant.
    fn show(&self, id: Option<&str>) -> String {
        match id {
            Some(id) => self.0.get(id).cloned().unwrap_or_else(|| id.to_owned()),
            None => "(every tenant)".to_owned(),
        }
    }
}

/// A time for tables: local to the configured zone, to the second.
fn when(ms: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| ms.to_string(),
        |t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

/// [`when`] for an optional time: `never` when absent.
fn when_or_never(ms: Option<i64>, tz: &jiff::tz::TimeZone) -> String {
    ms.map_or_else(|| "never".to_owned(), |ms| when(ms, tz))
}

/// Reads a secret (`what`: "password", "provider key") from the first line of standard input.
/// On a terminal it prompts on stderr first, saying the typing shows and how to pipe instead.
pub(crate) fn secret_from_stdin(what: &str, example: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "{what} (one line; it shows as you type, so prefer piping it: {example}): "
        );
        let _ = stderr.flush();
    }
    read_secret_line(stdin.lock(), what, example)
}

/// The first line of `input` without its line ending (`\n` or `\r\n`); nothing else is
/// trimmed, since spaces may belong to a password. An empty line is refused.
fn read_secret_line(input: impl BufRead, what: &str, example: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    input
        .take(MAX_SECRET_BYTES)
        .read_line(&mut line)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => anyhow::Error::new(BadInput(format!(
                "the {what} on standard input is not UTF-8 text"
            ))),
            _ => anyhow::Error::new(e).context(format!("reading the {what} from standard input")),
        })?;
    let line = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if line.is_empty() {
        return Err(BadInput(format!(
            "no {what} on standard input: give it as the first line, e.g. {example}"
        ))
        .into());
    }
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> anyhow::Result<String> {
        read_secret_line(input, "password", "printf …")
    }

    #[test]
    fn a_secret_is_the_first_line_without_its_line_ending() {
        assert_eq!(read(b"s3cret pass\nsecond line\n").unwrap(), "s3cret pass");
        assert_eq!(read(b"windows line\r\n").unwrap(), "windows line");
        assert_eq!(read(b"no newline at all").unwrap(), "no newline at all");
        assert_eq!(read(b"  spaces kept  \n").unwrap(), "  spaces kept  ");
    }

    #[test]
    fn an_empty_or_unreadable_secret_is_wrong_input() {
        for input in [&b""[..], b"\n", b"\r\n", b"\nlater line\n"] {
            let err = read(input).unwrap_err();
            assert!(err.is::<BadInput>(), "{err}");
            assert!(err.to_string().contains("no password"), "{err}");
        }
        let err = read(b"\xff\xfe\n").unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn times_are_local_to_the_second_and_absent_ones_never() {
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(when(1_793_523_600_000, &tz), "2026-11-01 10:00:00");
        assert_eq!(when_or_never(None, &tz), "never");
    }
}
