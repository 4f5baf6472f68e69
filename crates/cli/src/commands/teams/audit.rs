//! `tokenwatch audit`: the audit log, newest first, optionally about one tenant.
//!
//! The use-case answers the CLI's operator with every tenant's entries, in pages of at most
//! [`PAGE`]; `--tenant` keeps the entries recorded in that tenant plus the operator's entries
//! about the tenant itself (`tenant.*`, recorded without a tenant, the tenant's id as target),
//! reading further pages until `--limit` entries are found or the log ends.

use serde_json::{Value, json};
use tokenwatch_app::teams::{Principal, Teams};
use tokenwatch_store::AuditEntry;

use super::{TenantNames, open_teams, when};
use crate::cli::{AuditArgs, GlobalArgs};
use crate::table::Table;

/// Entries per read (the store's largest page).
const PAGE: u32 = 1000;

pub async fn audit(global: &GlobalArgs, args: &AuditArgs) -> anyhow::Result<String> {
    let (teams, loaded) = open_teams(global).await?;
    let who = Principal::cli();
    let tenant = match &args.tenant {
        Some(asked) => Some(teams.resolve_tenant(&who, Some(asked)).await?.id),
        None => None,
    };
    let limit = usize::try_from(args.limit).unwrap_or(usize::MAX);
    let entries = newest(&teams, &who, limit, |e| {
        tenant.as_deref().is_none_or(|id| about_tenant(e, id))
    })
    .await?;
    if args.json {
        let list: Vec<Value> = entries.iter().map(audit_json).collect();
        return Ok(serde_json::to_string_pretty(&json!({ "entries": list }))?);
    }
    if entries.is_empty() {
        return Ok("no audit entries".to_owned());
    }
    let names = TenantNames::load(&teams, &who).await?;
    let tz = loaded.config.time_zone();
    let mut table = Table::new(&["Time", "Tenant", "Actor", "Action", "Target", "Change"]);
    for e in &entries {
        let tenant = match (&e.tenant, e.action.starts_with("tenant.")) {
            (Some(id), _) => names.show(Some(id)),
            (None, true) => names.show(Some(&e.target)),
            (None, false) => "-".to_owned(),
        };
        table.row(vec![
            when(e.ts_ms, &tz),
            tenant,
            e.actor.clone(),
            e.action.clone(),
            e.target.clone(),
            change_text(e.before.as_ref(), e.after.as_ref()),
        ]);
    }
    Ok(table.render())
}

/// Whether `e` is about tenant `id`: recorded in it, or an operator's change to it.
fn about_tenant(e: &AuditEntry, id: &str) -> bool {
    match &e.tenant {
        Some(t) => t == id,
        None => e.action.starts_with("tenant.") && e.target == id,
    }
}

/// The newest `limit` entries that `keep` accepts, newest first.
async fn newest(
    teams: &Teams,
    who: &Principal,
    limit: usize,
    keep: impl Fn(&AuditEntry) -> bool,
) -> anyhow::Result<Vec<AuditEntry>> {
    let mut out = Vec::new();
    let mut before = None;
    while out.len() < limit {
        let page = teams.audit_entries(who, before, PAGE).await?;
        let full = page.len() == PAGE as usize;
        let (Some(newest_ms), Some(oldest_ms)) =
            (page.first().map(|e| e.ts_ms), page.last().map(|e| e.ts_ms))
        else {
            break;
        };
        // A full page may stop partway through its oldest millisecond: leave those entries
        // to the next page, which asks for everything before that millisecond ends. Only a
        // page that is one millisecond throughout (a thousand changes in one) moves on
        // without them, so the loop always ends.
        let cut = (full && newest_ms != oldest_ms).then_some(oldest_ms);
        for e in page {
            if Some(e.ts_ms) == cut || out.len() == limit {
                break;
            }
            if keep(&e) {
                out.push(e);
            }
        }
        if !full {
            break;
        }
        before = Some(cut.map_or(oldest_ms, |ms| ms + 1));
    }
    Ok(out)
}

/// An entry as `GET /api/v1/audit` shows it.
fn audit_json(e: &AuditEntry) -> Value {
    json!({
        "id": e.id, "ts_ms": e.ts_ms, "tenant": e.tenant, "actor": e.actor, "action": e.action,
        "target": e.target, "before": e.before, "after": e.after,
    })
}

/// `before → after` in a few words: of two objects only the fields that changed
/// (`name: acme → acme-corp`); a creation lists what was set, a deletion what was there.
fn change_text(before: Option<&Value>, after: Option<&Value>) -> String {
    match (before, after) {
        (None, None) => String::new(),
        (None, Some(a)) => fields(a),
        (Some(b), None) => format!("{} → -", fields(b)),
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut parts = Vec::new();
            for (k, av) in a {
                let bv = b.get(k).unwrap_or(&Value::Null);
                if bv != av {
                    parts.push(format!("{k}: {} → {}", scalar(bv), scalar(av)));
                }
            }
            for (k, bv) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                parts.push(format!("{k}: {} → -", scalar(bv)));
            }
            parts.join(", ")
        }
        (Some(b), Some(a)) => format!("{} → {}", fields(b), fields(a)),
    }
}

/// An object's set fields as `k=v`, space-separated; any other value as [`scalar`].
fn fields(v: &Value) -> String {
    match v {
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
            .map(|(k, v)| format!("{k}={}", scalar(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => scalar(other),
    }
}

/// A string without its quotes, null as `-`, anything else as compact JSON.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_shows_only_what_changed() {
        let b = json!({"name": "acme", "disabled": false});
        let a = json!({"name": "acme-corp", "disabled": false});
        assert_eq!(change_text(Some(&b), Some(&a)), "name: acme → acme-corp");
        // Keys in alphabetical order: the order of a JSON object read back from the store.
        let b = json!({"disabled": false, "role": "viewer"});
        let a = json!({"disabled": true, "role": "admin"});
        assert_eq!(
            change_text(Some(&b), Some(&a)),
            "disabled: false → true, role: viewer → admin"
        );
        assert_eq!(
            change_text(
                Some(&json!({"hint": "x", "gone": 1})),
                Some(&json!({"hint": "y"}))
            ),
            "hint: x → y, gone: 1 → -"
        );
    }

    #[test]
    fn a_creation_lists_what_was_set_and_a_deletion_what_was_there() {
        let after =
            json!({"allowed_models": [], "hint": "twk_ab…cd", "name": "ci", "project": null});
        assert_eq!(change_text(None, Some(&after)), "hint=twk_ab…cd name=ci");
        assert_eq!(
            change_text(Some(&json!({"set": true})), None),
            "set=true → -"
        );
        assert_eq!(change_text(None, None), "");
    }

    fn entry(tenant: Option<&str>, action: &str, target: &str) -> AuditEntry {
        AuditEntry {
            id: "1".into(),
            ts_ms: 0,
            tenant: tenant.map(str::to_owned),
            actor: "cli".into(),
            action: action.into(),
            target: target.into(),
            before: None,
            after: None,
        }
    }

    #[test]
    fn entries_about_a_tenant_include_the_operators_changes_to_it() {
        assert!(about_tenant(&entry(Some("t1"), "key.create", "k"), "t1"));
        assert!(!about_tenant(&entry(Some("t2"), "key.create", "k"), "t1"));
        assert!(about_tenant(&entry(None, "tenant.rename", "t1"), "t1"));
        assert!(!about_tenant(&entry(None, "tenant.rename", "t2"), "t1"));
        assert!(!about_tenant(&entry(None, "token.create", "t1"), "t1"));
    }

    /// 1500 entries, three per millisecond, so every page of 1000 ends partway through a
    /// millisecond; every other one in tenant `a`. Each read must give exactly the newest
    /// matching entries, in order, none twice and none skipped.
    #[tokio::test]
    async fn reading_across_pages_loses_and_repeats_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = tokenwatch_store::Store::open(&dir.path().join("a.db").display().to_string())
            .await
            .unwrap();
        let mut all = Vec::new();
        for i in 0..1500_i64 {
            let tenant = if i % 2 == 0 { "a" } else { "b" };
            let e = AuditEntry {
                id: format!("{i:05}"),
                ts_ms: 1_000_000 + i / 3,
                ..entry(Some(tenant), "key.create", "k")
            };
            store.insert_audit(&e).await.unwrap();
            all.push(e);
        }
        all.reverse();
        let secrets = tokenwatch_app::secrets::Secrets::new(
            tokenwatch_app::secrets::KeySource::Generated(dir.path().join("k")),
        );
        let teams = Teams::new(store.clone(), std::sync::Arc::new(secrets), 1);
        let who = Principal::cli();
        let ids = |list: Vec<AuditEntry>| list.into_iter().map(|e| e.id).collect::<Vec<_>>();
        for (limit, tenant) in [
            (1500, None),
            (5000, None),
            (1001, None),
            (700, Some("a")),
            (20, Some("b")),
        ] {
            let keep = |e: &AuditEntry| tenant.is_none_or(|t| e.tenant.as_deref() == Some(t));
            let got = newest(&teams, &who, limit, keep).await.unwrap();
            let want: Vec<AuditEntry> = all
                .iter()
                .filter(|e| keep(e))
                .take(limit)
                .cloned()
                .collect();
            let (got, want) = (ids(got), ids(want));
            let first_difference = got.iter().zip(&want).position(|(g, w)| g != w);
            assert!(
                got.len() == want.len() && first_difference.is_none(),
                "limit {limit}, tenant {tenant:?}: {} entries for {}, first difference at {first_difference:?}",
                got.len(),
                want.len()
            );
        }
        store.close().await;
    }
}
