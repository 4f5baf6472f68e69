//! One request in flight to an upstream, and what happens to its answer.
//!
//! [`Call`] waits for the upstream's response headers (bounded by the provider's timeout). If
//! the client goes away meanwhile, hyper drops the handler and with it the `Call`; a billable
//! request has reached the upstream by then, so the drop hands the wait to a
//! [`Background`](super::background::Background) task which answers to nobody: the response
//! body is then dropped unread, which makes the tee read it to the end on the side and record
//! it as `client_disconnected`. Failures are recorded exactly as if the client had stayed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use http::{StatusCode, header};
use hyper::body::Incoming;
use hyper_util::client::legacy::ResponseFuture;
use tokenwatch_core::EventStatus;
use tokenwatch_core::providers::openai;
use tokio::time::Timeout;
use tokio::time::error::Elapsed;

use super::errors::provider_error;
use super::headers::{self, ResponseHeaderFacts};
use super::tee::{CaptureMode, TeeBody};
use super::{Upstream, finished, header_str};
use crate::app::AppState;
use crate::recording::Exchange;
use tokenwatch_app::client::error_chain;

/// The upstream's answer: its response, a failure, or the timeout.
pub type Answer =
    Result<Result<http::Response<Incoming>, hyper_util::client::legacy::Error>, Elapsed>;

/// A request that has been handed to the upstream client, and what it takes to answer it.
pub struct Sent {
    pub app: Arc<AppState>,
    pub upstream: Arc<Upstream>,
    /// The request's side of the record (`http_status` and the response facts not yet known).
    pub exchange: Exchange,
    /// A billable request: its exchange is recorded.
    pub record: bool,
    /// The body was rewritten to ask for stream usage (the injected chunk is stripped again).
    pub rewritten: bool,
    pub started: Instant,
}

impl Sent {
    /// Turns the upstream's answer into the client's response, recording failures at once and
    /// a response when its body ends (see [`TeeBody`]).
    pub fn respond(self, answer: Answer) -> Response {
        let Sent {
            app,
            upstream,
            mut exchange,
            record,
            rewritten,
            started,
        } = self;
        exchange.streamed = exchange.quick.stream;
        let response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                let status = if err.is_connect() {
                    EventStatus::UpstreamUnreachable
                } else {
                    EventStatus::UpstreamReset
                };
                tracing::warn!(provider = %upstream.name, error = %error_chain(&err), "upstream request failed");
                if record {
                    app.sink.finish(finished(exchange, status, started));
                }
                let chain = error_chain(&err);
                // rustls says "invalid peer certificate: UnknownIssuer" and the like.
                let hint = if chain.contains("certificate") {
                    " (if this upstream's certificate comes from a private certificate authority, name its PEM file in server.upstream_ca_file)"
                } else {
                    ""
                };
                let message = format!(
                    "tokenwatch: could not reach upstream '{}' at {}: {chain}{hint}",
                    upstream.name,
                    upstream.origin(),
                );
                return provider_error(upstream.kind, StatusCode::BAD_GATEWAY, &message);
            }
            Err(_) => {
                if record {
                    app.sink
                        .finish(finished(exchange, EventStatus::Timeout, started));
                }
                let message = format!(
                    "tokenwatch: upstream '{}' sent no response within {:?}",
                    upstream.name, upstream.timeout
                );
                return provider_error(upstream.kind, StatusCode::GATEWAY_TIMEOUT, &message);
            }
        };

        let (mut resp_parts, incoming) = response.into_parts();
        if !record {
            headers::strip_response_headers(&mut resp_parts.headers, false);
            return Response::from_parts(resp_parts, Body::new(incoming));
        }
        let endpoint = exchange.endpoint;
        let content_type = header_str(&resp_parts.headers, header::CONTENT_TYPE)
            .unwrap_or_default()
            .to_owned();
        let encoding = header_str(&resp_parts.headers, header::CONTENT_ENCODING).map(str::to_owned);
        let is_stream =
            resp_parts.status.is_success() && upstream.adapter.is_stream(endpoint, &content_type);
        let stripper =
            (rewritten && is_stream && encoding.is_none()).then(openai::UsageChunkStripper::new);
        let mode = if is_stream {
            CaptureMode::stream(
                upstream.adapter.stream_parser(endpoint),
                encoding.as_deref(),
            )
        } else {
            CaptureMode::whole(app.config.server.max_capture_bytes, encoding.as_deref())
        };
        exchange.http_status = Some(resp_parts.status.as_u16());
        exchange.response_headers = ResponseHeaderFacts::read(&resp_parts.headers);
        exchange.streamed = is_stream;
        headers::strip_response_headers(&mut resp_parts.headers, stripper.is_some());
        let body = TeeBody::new(
            incoming,
            exchange,
            mode,
            (app.sink.clone(), app.background.clone()),
            started,
            upstream.timeout,
            stripper,
        );
        Response::from_parts(resp_parts, Body::new(body))
    }
}

/// Waits for the upstream's response headers; see the module doc for what a drop does.
pub struct Call {
    pending: Option<(Pin<Box<Timeout<ResponseFuture>>>, Sent)>,
}

impl Call {
    /// `request` bounded by the upstream's timeout.
    pub fn new(request: ResponseFuture, sent: Sent) -> Self {
        let timed = Box::pin(tokio::time::timeout(sent.upstream.timeout, request));
        Self {
            pending: Some((timed, sent)),
        }
    }
}

impl Future for Call {
    type Output = (Answer, Sent);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some((request, _)) = self.pending.as_mut() else {
            // Polled after it completed: a caller bug, and never answered.
            return Poll::Pending;
        };
        let answer = ready!(request.as_mut().poll(cx));
        match self.pending.take() {
            Some((_, sent)) => Poll::Ready((answer, sent)),
            None => Poll::Pending,
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let Some((request, sent)) = self.pending.take() else {
            return;
        };
        if !sent.record {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            // The runtime is being torn down: nothing can wait for the answer any more.
            let Sent {
                app,
                exchange,
                started,
                ..
            } = sent;
            app.sink
                .finish(finished(exchange, EventStatus::ClientDisconnected, started));
            return;
        }
        let background = sent.app.background.clone();
        // Inside a runtime (checked above), so the task starts.
        let _ = background.spawn(async move {
            let answer = request.await;
            // Nobody reads this response: dropping its body drains it in the tee.
            drop(sent.respond(answer));
        });
    }
}
