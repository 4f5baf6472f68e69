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

use crate::client::UpstreamTls;
use crate::config::{self, Config, LoadError};
use crate::live::LiveBus;
use crate::pipeline::Pipeline;
use crate::policy;
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

/// The pipeline of a command that writes events and exits: the policy loaded from the
/// database and its alert engine, running until [`CommandPipeline::finish`].
pub struct CommandPipeline {
    pub pipeline: Arc<Pipeline>,
    engine: JoinHandle<()>,
}

impl CommandPipeline {
    /// Loads prices and policy for `config` over `store`. A `dry_run` writes nothing: its
    /// pipeline prices, with no rule, budget or alert loaded (loading writes the config
    /// file's definitions to the database).
    pub async fn start(config: &Config, store: &Store, dry_run: bool) -> Result<Self, StartError> {
        let prices = Arc::new(price_table(config)?);
        if dry_run {
            let (alerts, _) = crate::alerts::Alerts::channel();
            let policy = Arc::new(policy::Policy::new(
                store.clone(),
                config.time_zone(),
                alerts,
            ));
            let pipeline = Arc::new(Pipeline::new(prices, policy, LiveBus::default(), None));
            let engine = tokio::spawn(async {});
            return Ok(Self { pipeline, engine });
        }
        let url = config::database_url(config)?;
        let secrets = Arc::new(Secrets::new(config::secret_key_source(&url)?));
        let tls =
            UpstreamTls::new(config.server.upstream_ca_file.as_deref()).map_err(StartError::Tls)?;
        let (policy, engine) = policy::runtime::load(config, store.clone(), &tls, secrets).await?;
        let pipeline = Arc::new(Pipeline::new(prices, policy, LiveBus::default(), None));
        Ok(Self { pipeline, engine })
    }

    /// Waits until every alert raised is stored and delivered (or its delivery gave up). The
    /// pipeline must not be held elsewhere by then.
    pub async fn finish(self) {
        let Self { pipeline, engine } = self;
        if Arc::strong_count(&pipeline) > 1 {
            tracing::warn!("the pipeline is still in use; alerts raised later are not delivered");
        }
        drop(pipeline);
        let _ = engine.await;
    }
}
