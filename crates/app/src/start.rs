//! Start-up wiring shared by every command that records events: the price table, the channel
//! secrets, the outbound client's TLS settings, the batch writer, the policy and the pipeline.
//! `serve` runs it all for as long as it serves; a command that writes events and exits (an
//! import, a manual entry) takes [`CommandPipeline`] and finishes it before it exits, so every
//! alert it raised is stored and delivered.

use std::sync::Arc;
use std::time::Duration;

use tokenwatch_core::pricing::PriceTable;
use tokenwatch_store::{
    QueueBudget, Recorder, Store, StoreError, Writer, WriterConfig, WriterHandle,
};
use tokio::task::JoinHandle;

use crate::alerts::{AlertDraft, Alerts};
use crate::client::UpstreamTls;
use crate::config::{self, Config, LoadError};
use crate::pipeline::Pipeline;
use crate::policy::{self, Policy};
use crate::prices::{PriceTableError, price_table};
use crate::secrets::{SecretError, Secrets};

/// What stops tokenwatch from starting; each message names the setting, file or channel.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] LoadError),
    #[error(transparent)]
    Prices(#[from] PriceTableError),
    #[error("cannot load budgets, tag rules and alerts: {0}")]
    Policy(#[from] StoreError),
    /// The message names the key's source or the channel.
    #[error("{0}")]
    Secrets(#[from] SecretError),
    /// The message names the setting and the file.
    #[error("{0}")]
    Tls(String),
}

/// The long-lived parts `serve` builds on an open store.
pub struct Services {
    pub config: Config,
    pub store: Store,
    pub writer: WriterHandle,
    pub recorder: Recorder,
    pub prices: Arc<PriceTable>,
    pub secrets: Arc<Secrets>,
    pub tls: UpstreamTls,
}

impl Services {
    /// Prices, secrets, TLS settings and the batch writer (with its spill file) over `store`,
    /// the database of `config`.
    pub fn start(config: Config, store: Store) -> Result<Self, StartError> {
        let prices = Arc::new(price_table(&config)?);
        let url = config::database_url(&config)?;
        let spill_path = config::spill_path(&config, &url)?;
        let secrets = Arc::new(Secrets::new(config::secret_key_source(&url)?));
        let tls =
            UpstreamTls::new(config.server.upstream_ca_file.as_deref()).map_err(StartError::Tls)?;
        let r = &config.recording;
        let (recorder, writer) = Writer::spawn(
            store.clone(),
            WriterConfig {
                queue_capacity: r.queue_capacity,
                batch_max: r.batch_max,
                flush_interval: Duration::from_millis(r.flush_interval_ms.max(1)),
                spill_path,
                budget: QueueBudget::new(r.queue_bytes),
            },
        );
        Ok(Self {
            config,
            store,
            writer,
            recorder,
            prices,
            secrets,
            tls,
        })
    }
}

/// The pipeline of a command that writes events and exits (an import, a manual entry).
///
/// A pass that brings nothing new costs one read (the tag rules). Once something new is
/// written, [`CommandPipeline::settle`] does the rest of what `serve` does at start-up — the
/// config file's definitions written to the database, stored channel secrets sealed, the
/// alert engine started — and reconciles every budget with the stored spend, raising each
/// threshold passed. [`CommandPipeline::finish`] settles and waits until every alert raised is
/// stored and delivered.
pub struct CommandPipeline {
    pub pipeline: Arc<Pipeline>,
    config: Config,
    store: Store,
    /// The alert queue's receiving end, until the engine takes it.
    rx: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<AlertDraft>>>,
    engine: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl CommandPipeline {
    /// Prices and tag rules for `config` over `store`; writes nothing.
    pub async fn start(config: &Config, store: &Store) -> Result<Self, StartError> {
        let prices = Arc::new(price_table(config)?);
        let (alerts, rx) = Alerts::channel();
        let policy = Arc::new(Policy::new(store.clone(), config.time_zone(), alerts));
        policy.load_tag_rules(&config.tag_rules).await?;
        Ok(Self {
            pipeline: Arc::new(Pipeline::deferred(prices, policy)),
            config: config.clone(),
            store: store.clone(),
            rx: std::sync::Mutex::new(Some(rx)),
            engine: std::sync::Mutex::new(None),
        })
    }

    /// When events were written since the last call: budgets and alerts (see the type's
    /// docs). A watching import calls it after each pass.
    pub async fn settle(&self) -> Result<(), StartError> {
        if !self.pipeline.take_unsettled() {
            return Ok(());
        }
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(rx) = rx {
            let url = config::database_url(&self.config)?;
            let secrets = Arc::new(Secrets::new(config::secret_key_source(&url)?));
            let tls = UpstreamTls::new(self.config.server.upstream_ca_file.as_deref())
                .map_err(StartError::Tls)?;
            let policy = self.pipeline.policy();
            let engine =
                policy::runtime::prepare(&self.config, &self.store, &tls, &secrets, policy, rx)
                    .await?;
            *self
                .engine
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(engine);
        }
        self.pipeline
            .policy()
            .refresh(tokenwatch_core::time::now_ms())
            .await?;
        Ok(())
    }

    /// Settles, then waits until every alert raised is stored and delivered (or its delivery
    /// gave up). The pipeline must not be held elsewhere by then.
    pub async fn finish(self) -> Result<(), StartError> {
        let settled = self.settle().await;
        let Self {
            pipeline, engine, ..
        } = self;
        if Arc::strong_count(&pipeline) > 1 {
            tracing::warn!("the pipeline is still in use; alerts raised later are not delivered");
        }
        drop(pipeline);
        let engine = engine
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(engine) = engine {
            let _ = engine.await;
        }
        settled
    }
}
