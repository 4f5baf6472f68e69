//! Teams rows on both engines: tenants, proxy keys, API tokens, users and login sessions,
//! credentials and the audit log. A lookup by hash answers only for a live row of an enabled
//! tenant, so revocation, disabling and expiry take effect on the next lookup; listings keep
//! to their tenant.

use tokenwatch_store::{ApiToken, AuditEntry, Credential, ProxyKey, Tenant, TenantScope, User};

use crate::support::TestDb;

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.to_owned(),
        name: format!("{id}-name"),
        disabled_ms: None,
        created_ms: 1,
    }
}

pub async fn teams_rows_keep_to_their_tenant_and_stop_at_once(db: &TestDb) {
    let s = &db.store;
    assert!(s.create_tenant(&tenant("t1")).await.unwrap());
    assert!(s.create_tenant(&tenant("t2")).await.unwrap());
    assert!(!s.create_tenant(&tenant("t1")).await.unwrap(), "a taken id");
    assert!(
        s.find_tenant("default").await.unwrap().is_some(),
        "migration 9 made it"
    );
    assert_eq!(s.find_tenant("t2-name").await.unwrap().unwrap().id, "t2");
    assert!(
        !s.rename_tenant("t1", "t2-name").await.unwrap(),
        "a taken name"
    );

    let key = ProxyKey {
        id: "k1".to_owned(),
        tenant: "t1".to_owned(),
        allowed_models: vec!["m1".to_owned()],
        hint: "twk_…abcd".to_owned(),
        created_ms: 5,
        ..ProxyKey::default()
    };
    s.insert_proxy_key(&key, "hash-1").await.unwrap();
    let live = s.live_proxy_key("hash-1").await.unwrap().unwrap();
    assert_eq!(
        (live.tenant.as_str(), live.allowed_models.clone()),
        ("t1", vec!["m1".to_owned()])
    );
    assert!(
        s.proxy_keys(&TenantScope::tenant("t2"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !s.revoke_proxy_key(&TenantScope::tenant("t2"), "k1", 9)
            .await
            .unwrap(),
        "another tenant's key"
    );
    assert!(
        s.rekey_proxy_key(&TenantScope::tenant("t1"), "k1", "hash-2", "h2")
            .await
            .unwrap()
    );
    assert!(
        s.live_proxy_key("hash-1").await.unwrap().is_none(),
        "the old value after rotation"
    );
    s.set_tenant_disabled("t1", Some(10)).await.unwrap();
    assert!(
        s.live_proxy_key("hash-2").await.unwrap().is_none(),
        "a disabled tenant's key"
    );
    s.set_tenant_disabled("t1", None).await.unwrap();
    assert!(s.live_proxy_key("hash-2").await.unwrap().is_some());
    assert!(
        s.revoke_proxy_key(&TenantScope::tenant("t1"), "k1", 11)
            .await
            .unwrap()
    );
    assert!(
        s.live_proxy_key("hash-2").await.unwrap().is_none(),
        "a revoked key"
    );

    let operator = ApiToken {
        id: "op".to_owned(),
        tenant: None,
        role: "operator".to_owned(),
        hint: "h".to_owned(),
        ..ApiToken::default()
    };
    s.insert_api_token(&operator, "tok-op").await.unwrap();
    assert_eq!(
        s.live_api_token("tok-op").await.unwrap().unwrap().tenant,
        None
    );
    assert!(
        s.api_tokens(&TenantScope::tenant("t2"))
            .await
            .unwrap()
            .is_empty()
    );

    let user = User {
        id: "u1".to_owned(),
        email: "Ann@Example.com".to_owned(),
        tenant: "t2".to_owned(),
        role: "admin".to_owned(),
        disabled_ms: None,
        created_ms: 1,
    };
    assert!(s.insert_user(&user, Some("$argon2id$x")).await.unwrap());
    assert!(!s.insert_user(&user, None).await.unwrap(), "a taken email");
    let (found, hash) = s.user_by_email("ann@example.com").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), hash.as_deref()),
        ("u1", Some("$argon2id$x"))
    );
    s.insert_login_session("live", "u1", 0, 1_000)
        .await
        .unwrap();
    s.insert_login_session("old", "u1", 0, 100).await.unwrap();
    assert!(s.session_user("live", 500).await.unwrap().is_some());
    assert!(
        s.session_user("old", 500).await.unwrap().is_none(),
        "an expired session"
    );
    assert!(
        !s.update_user(&TenantScope::tenant("t1"), "u1", Some("viewer"), None)
            .await
            .unwrap(),
        "another tenant's user"
    );
    assert!(
        s.update_user(&TenantScope::tenant("t2"), "u1", None, Some(Some(600)))
            .await
            .unwrap()
    );
    assert!(
        s.session_user("live", 700).await.unwrap().is_none(),
        "disabling ends sessions"
    );

    let cred = Credential {
        tenant: "t2".to_owned(),
        provider: "anthropic".to_owned(),
        hint: "sk-…1234".to_owned(),
        updated_ms: 3,
    };
    assert!(!s.put_credential(&cred, "enc:v1:first").await.unwrap());
    assert!(
        s.put_credential(&cred, "enc:v1:second").await.unwrap(),
        "replaced"
    );
    assert_eq!(
        s.sealed_credential("t2", "anthropic")
            .await
            .unwrap()
            .as_deref(),
        Some("enc:v1:second")
    );
    assert!(
        s.sealed_credential("t1", "anthropic")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.credentials(&TenantScope::tenant("t1"))
            .await
            .unwrap()
            .len(),
        0
    );

    for (n, t) in [(1, Some("t1")), (2, Some("t2")), (3, None)] {
        s.insert_audit(&AuditEntry {
            id: format!("a{n}"),
            ts_ms: n,
            tenant: t.map(str::to_owned),
            actor: "cli".to_owned(),
            action: "x".to_owned(),
            target: "y".to_owned(),
            before: None,
            after: Some(serde_json::json!({"n": n})),
        })
        .await
        .unwrap();
    }
    let t2: Vec<String> = s
        .audit_entries(&TenantScope::tenant("t2"), None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(t2, ["a2"]);
    let all = s
        .audit_entries(&TenantScope::AllTenants, Some(3), 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["a2", "a1"]
    );
    assert_eq!(all[1].after, Some(serde_json::json!({"n": 1})));
}

pub async fn projects_keep_to_their_tenant_and_count_live_keys(db: &TestDb) {
    let s = &db.store;
    assert!(s.create_tenant(&tenant("t1")).await.unwrap());
    assert!(s.create_tenant(&tenant("t2")).await.unwrap());
    assert!(s.create_project("t1", "billing", 10).await.unwrap());
    assert!(
        !s.create_project("t1", "billing", 11).await.unwrap(),
        "the same name twice in one tenant"
    );
    assert!(
        s.create_project("t2", "billing", 12).await.unwrap(),
        "the same name in another tenant"
    );
    for (id, project, hash) in [("k1", "billing", "h1"), ("k2", "billing", "h2")] {
        let key = ProxyKey {
            id: id.to_owned(),
            tenant: "t1".to_owned(),
            project: Some(project.to_owned()),
            hint: "twk_…".to_owned(),
            created_ms: 20,
            ..ProxyKey::default()
        };
        s.insert_proxy_key(&key, hash).await.unwrap();
    }
    assert!(
        s.revoke_proxy_key(&TenantScope::tenant("t1"), "k2", 30)
            .await
            .unwrap()
    );
    let t1 = s.projects(&TenantScope::tenant("t1")).await.unwrap();
    assert_eq!(
        t1.iter()
            .map(|p| (
                p.tenant.as_str(),
                p.name.as_str(),
                p.created_ms,
                p.live_keys
            ))
            .collect::<Vec<_>>(),
        vec![("t1", "billing", 10, 1)],
        "the revoked key is not counted"
    );
    let t2 = s.projects(&TenantScope::tenant("t2")).await.unwrap();
    assert_eq!(
        t2.iter()
            .map(|p| (p.tenant.as_str(), p.live_keys))
            .collect::<Vec<_>>(),
        vec![("t2", 0)],
        "t1's keys never count for t2's project of the same name"
    );
    assert_eq!(s.projects(&TenantScope::AllTenants).await.unwrap().len(), 2);
}
