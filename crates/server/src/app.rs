//! The application: shared state, the router, and the serve loop with graceful shutdown.
//!
//! One port serves tokenwatch's own routes (`/healthz`, `/readyz`, `/metrics`, `/api/v1/…`), the
//! dashboard (`/`, `/ui/…`, `/assets/…`) and, for every other path, the proxy. Shutdown (SIGTERM or Ctrl-C) stops accepting, lets in-flight
//! responses finish, then drains the recording pipeline so no event is lost.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokenwatch_app::client::{UpstreamTls, http_client};
use tokenwatch_app::config::{Config, split_listen};
use tokenwatch_app::guard::Guard;
use tokenwatch_app::live::LiveBus;
use tokenwatch_app::pipeline::Pipeline;
use tokenwatch_app::secrets::Secrets;
use tokenwatch_app::start::{Services, StartError};
use tokenwatch_app::teams::{Oidc, Teams};
use tokenwatch_core::pricing::PriceTable;
use tokenwatch_store::{Store, TenantScope, WriterHandle, WriterStats};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::doors::AllowedHosts;
use crate::proxy::background::Background;
use crate::proxy::{self, HttpClient, Routes, Upstream};
use crate::recording::{Enricher, EventSink, RecordingThread};
use crate::{api, auth, doors, health, lanes, web};

/// State shared by every handler. Each serving lane holds a clone with its own `client`.
#[derive(Clone)]
pub struct AppState {
    pub config: Config,
    pub routes: Routes,
    pub client: HttpClient,
    /// The upstream client's TLS settings, for each lane's own client.
    pub tls: UpstreamTls,
    pub sink: EventSink,
    pub store: Store,
    pub writer_stats: WriterStats,
    pub prices: Arc<PriceTable>,
    pub metrics: Option<PrometheusHandle>,
    /// The live event feed behind `/api/v1/stream`.
    pub live: LiveBus,
    /// Tag rules, budgets, alert rules and channels.
    pub policy: Arc<tokenwatch_app::policy::Policy>,
    /// Seals channel secrets before they are stored.
    pub secrets: Arc<Secrets>,
    /// Exchanges finishing after their client left. Each lane counts its own.
    pub background: Background,
    /// The host names answered (DNS rebinding) and allowed as API writers' origin.
    pub hosts: Arc<AllowedHosts>,
    /// Tenants, keys, tokens, users, logins, credentials and the audit log.
    pub teams: Arc<Teams>,
    /// Sign-in with the configured OpenID Connect provider (`[auth.oidc]`).
    pub oidc: Option<Arc<Oidc>>,
    /// Session limits, blocks and pauses: the proxy refuses what they say.
    pub guard: Arc<Guard>,
    /// The event pipeline (the proxy peeks at a request's derived session through it).
    pub pipeline: Arc<Pipeline>,
    /// Provider usage sync: admin accounts, syncs and the reconciliation.
    pub sync: Arc<tokenwatch_app::sync::UsageSync>,
}

/// Builds the router over a state.
pub fn router(state: Arc<AppState>) -> Router {
    own_routes(&state).fallback(proxy::handle).with_state(state)
}

/// tokenwatch's own routes: health, metrics, the API and the dashboard, behind the host and
/// cross-site checks ([`doors`]) and authentication with each route's declared access ([`auth`]). Every other path is the proxy, added as the fallback (it
/// checks the host itself).
pub(crate) fn own_routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/api/v1", api::router())
        .merge(web::router())
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(state),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.hosts),
            doors::guard,
        ))
}

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server.listen: cannot resolve '{listen}': {reason}")]
    Resolve { listen: String, reason: String },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("provider '{0}' has a base_url that cannot be used")]
    BadProvider(String),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("reading the session guard's controls: {0}")]
    Store(#[from] tokenwatch_store::StoreError),
    #[error(
        "refusing to listen on {addr} without auth: anyone who can reach it could read every event, change budgets and spend the configured provider keys. \
         Turn auth on ([auth] required = true, or TOKENWATCH_AUTH__REQUIRED=true; then `tokenwatch user add` and `tokenwatch key create`), \
         listen on 127.0.0.1, or pass --insecure-no-auth if this network is trusted"
    )]
    Exposed { addr: SocketAddr },
}

/// The application built over its services, not yet listening: the state every handler
/// shares, and what must be stopped, in order, at shutdown ([`Built::shutdown`]).
pub struct Built {
    pub state: AppState,
    recording: RecordingThread,
    writer: WriterHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl Built {
    /// The router over a clone of the state (the in-process API tests send requests to it).
    pub fn router(&self) -> Router {
        router(Arc::new(self.state.clone()))
    }

    /// Ends the live streams and the background tasks, then writes every event recorded: the
    /// recording thread drains once the last clone of the state (and so of its sink) is gone.
    pub async fn shutdown(self) {
        let Built {
            state,
            recording,
            writer,
            tasks,
        } = self;
        state.live.close();
        drop(state);
        if !recording.join(std::time::Duration::from_secs(30)).await {
            tracing::error!(
                "the recording thread did not finish within 30 s (responses still open, or it panicked); exiting without the events it held"
            );
        }
        for task in tasks {
            task.abort();
        }
        writer.shutdown().await;
    }
}

/// Builds the application over `services`: the providers' routes, the running policy, the
/// pipeline (with the background importers and the live feed's store follower) and the
/// recording thread.
pub async fn build(
    services: Services,
    metrics: Option<PrometheusHandle>,
) -> Result<Built, ServeError> {
    let Services {
        config,
        store,
        writer,
        recorder,
        prices,
        secrets,
        tls,
    } = services;
    let mut upstreams = Vec::with_capacity(config.providers.len());
    for (name, cfg) in &config.providers {
        upstreams
            .push(Upstream::new(name, cfg).ok_or_else(|| ServeError::BadProvider(name.clone()))?);
    }
    let client = http_client(&tls);
    let mut running =
        tokenwatch_app::policy::runtime::start(&config, store.clone(), &tls, Arc::clone(&secrets))
            .await?;
    let live = LiveBus::default();
    // The proxy's queue and the writer's share one byte budget (`recording.queue_bytes`).
    let budget = recorder.budget().clone();
    // Validated with the configuration, so a bad marker never gets this far.
    let markers = tokenwatch_core::prompt::Markers::new(&config.advisor.component_markers)
        .unwrap_or_default();
    let guard = Arc::new(Guard::new(&config.advisor.guards));
    guard.load(&store.guard_controls(&TenantScope::AllTenants).await?);
    let pipeline = Arc::new(
        Pipeline::new(
            Arc::clone(&prices),
            Arc::clone(&running.policy),
            live.clone(),
            Some(recorder),
        )
        .with_markers(markers)
        .with_guard(Arc::clone(&guard)),
    );
    running.tasks.push(tokenwatch_app::jobs::spawn_importers(
        &config, &store, &pipeline,
    ));
    running.tasks.push(tokio::spawn(
        live.clone().follow(store.clone(), FOLLOW_EVERY),
    ));
    if config.advisor.weekly_digest {
        running
            .tasks
            .push(tokio::spawn(tokenwatch_app::advisor::digest::run(
                store.clone(),
                Arc::clone(&prices),
                running.policy.alerts.clone(),
                config.time_zone(),
                config.advisor.lookback_days,
                std::time::Duration::from_secs(3600),
            )));
    }
    running.tasks.push(tokio::spawn(reload_guard(
        store.clone(),
        Arc::clone(&guard),
        std::time::Duration::from_secs(config.alerting.refresh_secs.max(1)),
    )));
    let enricher = Enricher {
        pipeline: Arc::clone(&pipeline),
    };
    let (sink, recording) = EventSink::spawn(enricher, config.recording.queue_capacity, budget)?;
    let listen_host = split_listen(&config.server.listen).map_or("", |(host, _)| host);
    let hosts = Arc::new(AllowedHosts::new(listen_host, &config.server.allowed_hosts));
    let teams = Arc::new(Teams::new(
        store.clone(),
        Arc::clone(&secrets),
        config.auth.session_hours,
    ));
    let oidc = config
        .auth
        .oidc
        .clone()
        .map(|c| Arc::new(Oidc::new(c, &tls)));
    let sync = Arc::new(tokenwatch_app::sync::UsageSync::new(
        &config,
        store.clone(),
        Arc::clone(&secrets),
        &tls,
    ));
    if config.sync.interval_secs > 0 {
        running.tasks.push(tokenwatch_app::jobs::spawn_sync(
            Arc::clone(&sync),
            Arc::clone(&pipeline),
            std::time::Duration::from_secs(config.sync.interval_secs),
        ));
    }
    let state = AppState {
        sync,
        guard,
        pipeline,
        teams,
        oidc,
        routes: Routes::new(upstreams),
        client,
        tls,
        sink,
        writer_stats: writer.stats(),
        store,
        prices,
        metrics,
        config,
        live,
        policy: running.policy,
        secrets,
        background: Background::default(),
        hosts,
    };
    Ok(Built {
        state,
        recording,
        writer,
        tasks: running.tasks,
    })
}

/// Reloads the session guard's manual controls every `every`, so blocks and pauses made by the
/// CLI (another process) take effect; a failed read keeps the controls in force.
async fn reload_guard(store: Store, guard: Arc<Guard>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match store.guard_controls(&TenantScope::AllTenants).await {
            Ok(controls) => guard.load(&controls),
            Err(error) => {
                tracing::warn!(%error, "could not reload the session guard's controls; keeping the ones in force")
            }
        }
    }
}

/// Builds the application, binds the listen address, calls `on_listening` with the bound
/// address, serves on `server.lanes` threads (see [`lanes`]) until `shutdown` resolves or a
/// lane fails, then drains in-flight responses and the recording pipeline.
pub async fn serve(
    services: Services,
    metrics: Option<PrometheusHandle>,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listen = services.config.server.listen.clone();
    let lane_count = match services.config.server.lanes {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let addr = resolve_listen(&listen).await?;
    let auth = &services.config.auth;
    if !addr.ip().is_loopback() && !auth.required && !auth.insecure_no_auth {
        return Err(ServeError::Exposed { addr });
    }
    let built = build(services, metrics).await?;
    let listener = bind_listener(addr).map_err(|source| ServeError::Bind { addr, source })?;
    on_listening(listener.local_addr()?);
    let mut lanes = lanes::start(&listener, lane_count, &built.state, &Handle::current())?;
    drop(listener);
    tokio::select! {
        () = shutdown => {}
        () = lanes.any_stopped() => {}
    }
    // Open live streams end first, or they would hold the graceful shutdown open.
    built.state.live.close();
    let served = lanes.shutdown().await;
    // Every connection is closed: the sink's last clones go with the state.
    built.shutdown().await;
    served?;
    Ok(())
}

/// How often the live feed looks for events written elsewhere (imports, other processes).
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The address to bind for `server.listen`: an IP address as written, or a name resolved (its
/// first IPv4 address when it has one, as `localhost` clients most often try 127.0.0.1).
pub async fn resolve_listen(listen: &str) -> Result<SocketAddr, ServeError> {
    let failed = |reason: String| ServeError::Resolve {
        listen: listen.to_owned(),
        reason,
    };
    let (host, port) = split_listen(listen)
        .ok_or_else(|| failed("it is not host:port (e.g. localhost:4100)".to_owned()))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| failed(e.to_string()))?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| found.first())
        .copied()
        .ok_or_else(|| failed("the name has no address".to_owned()))
}

/// How many connections the kernel may hold for `accept`. std and tokio ask for 128: a burst
/// of clients connecting at once (a fleet of agents starting, a load test) overflows that, and
/// each connection dropped there waits a full second for its SYN to be sent again. The kernel
/// caps the value at `net.core.somaxconn` (4096 by default since Linux 5.4).
pub const LISTEN_BACKLOG: i32 = 4096;

/// A listening TCP socket on `addr` with [`LISTEN_BACKLOG`] and `SO_REUSEADDR` (a restart
/// binds again while old connections linger in `TIME_WAIT`), non-blocking, ready for tokio.
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests and writing every recorded event");
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

    /// A burst of connections that nobody accepts yet is held by the kernel, not dropped: with
    /// a backlog of 128 the 130th connect waits for a SYN retry (a second) and times out here.
    #[test]
    fn a_burst_of_connections_waits_in_the_backlog() {
        let listener = bind_listener(([127, 0, 0, 1], 0).into()).unwrap();
        let addr = listener.local_addr().unwrap();
        let burst = 600;
        let connected: Vec<TcpStream> = (0..burst)
            .map_while(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok())
            .collect();
        assert_eq!(
            connected.len(),
            burst,
            "connections dropped by a full backlog"
        );
    }
}
