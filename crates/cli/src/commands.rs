//! One module per subcommand. Each takes its parsed arguments and the global options.

pub mod advisor;
pub mod alert;
pub mod budget;
pub mod events;
pub mod import;
pub mod init;
pub mod manual;
pub mod periods;
pub mod report;
pub mod serve;
pub mod sync;
pub mod tabular;
pub mod tag;
pub mod tag_defs;
pub mod teams;

use tokenwatch_store::{Connections, DEFAULT_TENANT, EventFilter, Store, TenantScope};

use crate::cli::FilterArgs;
use tokenwatch_app::config as settings;

/// Opens the configured database (creating and migrating it if needed).
pub async fn open_store(
    global: &crate::cli::GlobalArgs,
) -> anyhow::Result<(Store, settings::Loaded)> {
    let loaded = settings::load(global.config.as_deref(), global.db.as_deref())?;
    let url = settings::database_url(&loaded.config)?;
    Ok((open_url(&url, Connections::One).await?, loaded))
}

/// Writes the subscription charges due by now through the pipeline (so they are tagged and
/// counted against budgets like any event); one read when there are no subscriptions.
pub async fn charge_subscriptions(
    store: &Store,
    config: &tokenwatch_app::config::Config,
) -> anyhow::Result<()> {
    if store.subscriptions(DEFAULT_TENANT).await?.is_empty() {
        return Ok(());
    }
    let command = tokenwatch_app::start::CommandPipeline::start(config, store).await?;
    let now = tokenwatch_core::time::now_ms();
    let added = tokenwatch_app::imports::subscription_charges(store, &command.pipeline, now).await;
    let settled = command.finish().await;
    added?;
    settled?;
    Ok(())
}

/// Every store a command opened, closed by [`close_stores`] when the command ends (in success
/// or error), so no command leaves a SQLite `-wal` file behind.
static OPENED: std::sync::Mutex<Vec<Store>> = std::sync::Mutex::new(Vec::new());

/// Opens a database by URL and registers it to be closed on exit. A command reads one thing
/// after another and takes [`Connections::One`]; `serve` takes [`Connections::Concurrent`].
pub async fn open_url(url: &str, connections: Connections) -> anyhow::Result<Store> {
    let store = Store::open_with(url, connections).await?;
    OPENED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(store.clone());
    Ok(store)
}

/// Closes (and on SQLite checkpoints) every store opened through [`open_url`].
pub async fn close_stores() {
    let opened = std::mem::take(
        &mut *OPENED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    for store in opened {
        store.close().await;
    }
}

/// Turns CLI filter flags into a store filter, with the API's parsing and messages.
pub fn filter_from(args: &FilterArgs) -> anyhow::Result<EventFilter> {
    let query = tokenwatch_app::events::EventsQuery {
        since: args.since.clone(),
        until: args.until.clone(),
        provider: args.provider.clone(),
        model: args.model.clone(),
        source: args.source.clone(),
        tag: args.tag.clone(),
        ..Default::default()
    };
    let (filter, _) = query
        .to_filter(tokenwatch_core::time::now_ms(), &TenantScope::AllTenants)
        .map_err(|e| crate::BadInput(format!("--{e}")))?;
    Ok(filter)
}
