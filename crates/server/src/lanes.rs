//! Serving lanes: thread-per-core request handling.
//!
//! Each lane is one OS thread running its own single-threaded tokio runtime, accepting on its
//! own copy of the listening socket, with its own pooled upstream client. A pooled upstream
//! connection's task runs on the runtime that opened it, so a proxied request, its upstream
//! exchange and its response stay on one thread: no worker wakes another to finish a request
//! (on two cores, those cross-thread wake-ups were ~1.9 `futex` calls per request).
//!
//! Everything that is not a proxied request runs on the main runtime: the store writer, policy
//! tasks, the live bus, and tokenwatch's own routes (API, dashboard, health), which a lane hands
//! over whole, response body included. Database connections therefore are only ever opened on
//! the main runtime, which outlives the lanes: a PostgreSQL socket belongs to the runtime that
//! opened it and would break when its lane ends. Lanes must never touch the store.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use http::StatusCode;
use http_body::{Frame, SizeHint};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};

use crate::app::{AppState, own_routes};
use crate::proxy;
use crate::proxy::background::Background;

/// The running lanes. Each reports once it has stopped and dropped everything it held.
pub struct Lanes {
    stopped: Vec<oneshot::Receiver<io::Result<()>>>,
    /// What lanes that stopped by themselves reported.
    ended: Vec<io::Result<()>>,
    stop: watch::Sender<bool>,
}

/// Starts `count` lanes on `listener` (which must be non-blocking). Every runtime is built
/// before any thread starts, so a failure is reported here and nothing is left running.
pub fn start(
    listener: &std::net::TcpListener,
    count: usize,
    state: &AppState,
    main: &Handle,
) -> io::Result<Lanes> {
    let mut prepared = Vec::with_capacity(count);
    for _ in 0..count {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        prepared.push((runtime, listener.try_clone()?));
    }
    let (stop, stop_rx) = watch::channel(false);
    let mut stopped = Vec::with_capacity(count);
    for (i, (runtime, listener)) in prepared.into_iter().enumerate() {
        let (done_tx, done_rx) = oneshot::channel();
        let lane = Lane {
            state: state.clone(),
            main: main.clone(),
            stop: stop_rx.clone(),
        };
        std::thread::Builder::new()
            .name(format!("tw-lane-{i}"))
            .spawn(move || {
                let result = runtime.block_on(lane.serve(listener));
                // Tasks still parked on this lane (idle upstream connections) and their state
                // clones go before the lane reports: the recording thread waits for them.
                drop(runtime);
                let _ = done_tx.send(result);
            })?;
        stopped.push(done_rx);
    }
    Ok(Lanes {
        stopped,
        ended: Vec::new(),
        stop,
    })
}

impl Lanes {
    /// Resolves when any lane stops by itself (it only does so on failure). Cancel-safe.
    pub async fn any_stopped(&mut self) {
        if self.stopped.is_empty() {
            return std::future::pending().await;
        }
        let (result, index, rest) = futures_util::future::select_all(self.stopped.iter_mut()).await;
        drop(rest);
        self.stopped.swap_remove(index);
        self.ended
            .push(result.unwrap_or_else(|_| Err(lane_panicked())));
    }

    /// Stops accepting on every lane, lets in-flight responses finish and waits for all lanes.
    /// An error is the first failure a lane reported (a lane that panicked reports `Other`).
    pub async fn shutdown(self) -> io::Result<()> {
        let _ = self.stop.send(true);
        let mut results = self.ended;
        for lane in self.stopped {
            results.push(lane.await.unwrap_or_else(|_| Err(lane_panicked())));
        }
        results.into_iter().collect()
    }
}

fn lane_panicked() -> io::Error {
    io::Error::other("a serving lane stopped unexpectedly")
}

/// What one lane thread owns.
struct Lane {
    state: AppState,
    main: Handle,
    stop: watch::Receiver<bool>,
}

impl Lane {
    async fn serve(self, listener: std::net::TcpListener) -> io::Result<()> {
        let Lane {
            mut state,
            main,
            mut stop,
        } = self;
        let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(set_nodelay);
        // Built inside this runtime: its connections' tasks run here.
        state.client = tokenwatch_app::client::http_client(&state.tls);
        // Exchanges whose client left run on this runtime too (they read its connections).
        state.background = Background::default();
        let background = state.background.clone();
        let app = router(Arc::new(state), main);
        let ticker = tokio::spawn(keep_timer_armed());
        let served =
            axum::serve(
                listener,
                axum::ServiceExt::<Request>::into_make_service_with_connect_info::<
                    std::net::SocketAddr,
                >(app),
            )
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await;
        // Like in-flight responses, they finish (each bounded by its provider's timeout) before
        // the runtime and its upstream connections go away.
        background.idle().await;
        ticker.abort();
        served
    }
}

/// Keeps a timer due within a second on the lane's timer wheel. Each proxied request arms a
/// timeout (its provider's, minutes away); when that is the wheel's earliest deadline, tokio
/// wakes the lane's own driver to re-plan its sleep: one `eventfd` write and one more event
/// per request. With an earlier deadline always present, arming a later one changes nothing:
/// one wake-up a second instead of one per request.
async fn keep_timer_armed() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// Turns Nagle's algorithm off on an accepted connection. With it on, a response written in
/// more than one piece (headers as soon as the upstream sends them, the body when it arrives;
/// every SSE event of a stream) holds each piece after the first until the client ACKs the one
/// before, and ordinary clients (Python's `http.client`, the SDKs) delay that ACK by up to
/// 40 ms. tokenwatch forwards what it has at once; coalescing is the upstream's business.
fn set_nodelay(tcp: &mut tokio::net::TcpStream) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
    }
}

/// The lane's router: tokenwatch's own routes handed to the main runtime, the proxy here.
fn router(state: Arc<AppState>, main: Handle) -> Dispatch {
    let own = own_routes(&state)
        .layer(axum::middleware::from_fn_with_state(main, on_main))
        .fallback(proxy::handle)
        .with_state(Arc::clone(&state));
    Dispatch { state, own }
}

/// Sends a request that names a configured provider (`/<provider>/…` or a drop-in path)
/// straight to the proxy, and everything else through the router. Provider names cannot be
/// tokenwatch's own route prefixes (`config::RESERVED_PREFIXES`), so the router would have
/// reached the same handler through its fallback, after a failed route match, an extractor
/// pass and a boxed future of its own.
#[derive(Clone)]
struct Dispatch {
    state: Arc<AppState>,
    own: Router,
}

impl tower_service::Service<Request> for Dispatch {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<
        Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>,
        <Router as tower_service::Service<Request>>::Future,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures_util::future::Either;
        if self
            .state
            .routes
            .resolve(request.uri().path(), request.headers())
            .is_some()
        {
            let state = Arc::clone(&self.state);
            Either::Left(Box::pin(async move {
                Ok(proxy::handle(State(state), request).await)
            }))
        } else {
            Either::Right(tower_service::Service::call(&mut self.own, request))
        }
    }
}

/// Runs a request on the main runtime, its response body included (the body may read the
/// store, e.g. the live feed), and relays the response frames to the lane's connection.
async fn on_main(State(main): State<Handle>, request: Request, next: Next) -> Response {
    let (response_tx, response_rx) = oneshot::channel();
    main.spawn(async move {
        let (parts, mut body) = next.run(request).await.into_parts();
        let size_hint = http_body::Body::size_hint(&body);
        let (frames_tx, frames) = mpsc::channel(8);
        let relayed = Body::new(Relay { frames, size_hint });
        if response_tx
            .send(Response::from_parts(parts, relayed))
            .is_err()
        {
            return;
        }
        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
            if frames_tx.send(frame).await.is_err() {
                return;
            }
        }
    });
    match response_rx.await {
        Ok(response) => response,
        // The task panicked; the main runtime logged it.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A response body whose frames are produced on another runtime.
struct Relay {
    frames: mpsc::Receiver<Result<Frame<Bytes>, axum::Error>>,
    /// The original body's, so a sized response keeps its `content-length`.
    size_hint: SizeHint,
}

impl http_body::Body for Relay {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.frames.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        self.size_hint
    }
}
