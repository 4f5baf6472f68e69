//! Starting the policy: write the config file's definitions to the database (channel secrets
//! sealed), seal secrets older versions stored in clear, load everything, and run the background
//! tasks (alert engine, definition refresh, rule evaluation).

use std::sync::Arc;
use std::time::Duration;

use tokenwatch_store::{DEFAULT_TENANT, DefKind, Store, StoreError};
use tokio::task::JoinHandle;

use super::Policy;
use crate::alerts::{self, AlertDraft, Alerts};
use crate::client::{UpstreamTls, http_client};
use crate::config::Config;
use crate::notify::Notifier;
use crate::secrets::{SecretError, Secrets};
use crate::start::StartError;
use tokenwatch_core::time::now_ms;

/// Writes `[[budgets]]`, `[[tag_rules]]`, `[[alert_rules]]` and `[[channels]]` (secrets sealed)
/// to the database with origin `config`, and removes config-made ones no longer in the file.
pub async fn sync_config(
    store: &Store,
    config: &Config,
    secrets: &Secrets,
) -> Result<(), SecretError> {
    async fn put<T: serde::Serialize>(
        store: &Store,
        kind: DefKind,
        items: &[T],
        name: impl Fn(&T) -> &String,
    ) -> Result<(), StoreError> {
        let mut keep = Vec::new();
        for item in items {
            let json =
                serde_json::to_string(item).map_err(|e| StoreError::Encode(e.to_string()))?;
            store
                .put_definition(DEFAULT_TENANT, kind, name(item), &json, "config")
                .await?;
            keep.push(name(item).clone());
        }
        store
            .prune_config_definitions(DEFAULT_TENANT, kind, &keep)
            .await?;
        Ok(())
    }
    put(store, DefKind::Budget, &config.budgets, |b| &b.name).await?;
    put(store, DefKind::TagRule, &config.tag_rules, |b| &b.name).await?;
    put(store, DefKind::AlertRule, &config.alert_rules, |b| &b.name).await?;
    let mut channels = config.channels.clone();
    for c in &mut channels {
        secrets.seal_channel(c)?;
    }
    put(store, DefKind::Channel, &channels, |b| &b.name).await?;
    Ok(())
}

/// The running policy and its background tasks (abort them at shutdown).
pub struct Running {
    pub policy: Arc<Policy>,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Loads the policy (the config file's definitions written to the database first) and starts
/// its alert engine, without timers.
pub async fn load(
    config: &Config,
    store: Store,
    tls: &UpstreamTls,
    secrets: Arc<Secrets>,
) -> Result<(Arc<Policy>, JoinHandle<()>), StartError> {
    let (alerts, rx) = Alerts::channel();
    let policy = Arc::new(Policy::new(store.clone(), config.time_zone(), alerts));
    let engine = prepare(config, &store, tls, &secrets, &policy, rx).await?;
    policy.refresh(now_ms()).await?;
    // A wrong key does not stop the proxy, but every channel it affects is named now, not only
    // when an alert fails to reach it.
    for channel in policy.channels().values().flat_map(|c| c.iter()) {
        if let Err(e) = secrets.check_channel(channel) {
            tracing::error!(error = %e, "alerts cannot reach this channel");
        }
    }
    Ok((policy, engine))
}

/// What comes before a policy's first refresh: the config file's definitions written to the
/// database (channel secrets sealed), secrets stored in clear by older versions sealed, and the
/// alert engine started on `rx` (the receiving end of `policy`'s queue).
pub async fn prepare(
    config: &Config,
    store: &Store,
    tls: &UpstreamTls,
    secrets: &Arc<Secrets>,
    policy: &Policy,
    rx: tokio::sync::mpsc::Receiver<AlertDraft>,
) -> Result<JoinHandle<()>, StartError> {
    sync_config(store, config, secrets).await?;
    secrets.seal_stored_channels(store).await?;
    let a = &config.alerting;
    let notifier = Arc::new(Notifier {
        client: http_client(tls),
        attempts: a.delivery_attempts,
        backoff: Duration::from_millis(a.delivery_backoff_ms),
        timeout: Duration::from_secs(20),
        secrets: Arc::clone(secrets),
    });
    let engine = tokio::spawn(alerts::run_engine(
        rx,
        store.clone(),
        // Not the policy itself: it holds the queue's sender, and the engine ends once the
        // policy is gone and the queue is drained.
        policy.channels_reader(),
        notifier,
    ));
    Ok(engine)
}

/// Loads the policy and starts its tasks: the alert engine, the definitions' refresh and the
/// rules' evaluation.
pub async fn start(
    config: &Config,
    store: Store,
    tls: &UpstreamTls,
    secrets: Arc<Secrets>,
) -> Result<Running, StartError> {
    let (policy, engine) = load(config, store, tls, secrets).await?;
    let a = &config.alerting;
    let p = Arc::clone(&policy);
    let refresh_every = Duration::from_secs(a.refresh_secs);
    let refresh = tokio::spawn(async move {
        let mut tick = tokio::time::interval(refresh_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = p.refresh(now_ms()).await {
                tracing::warn!(error = %e, "cannot reload budgets and rules; keeping the current ones");
            }
        }
    });

    let p = Arc::clone(&policy);
    let evaluate_every = Duration::from_secs(a.evaluate_secs);
    let evaluate = tokio::spawn(async move {
        let mut tick = tokio::time::interval(evaluate_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = now_ms();
            for (tenant, rules) in p.alert_rules_by_tenant().iter() {
                match alerts::rules::evaluate(&p.store, tenant, rules, &p.tz, now).await {
                    Ok(drafts) => drafts.into_iter().for_each(|d| p.alerts.raise(d)),
                    Err(e) => tracing::warn!(error = %e, %tenant, "cannot evaluate alert rules"),
                }
            }
        }
    });
    Ok(Running {
        policy,
        tasks: vec![engine, refresh, evaluate],
    })
}
