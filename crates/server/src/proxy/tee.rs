//! The tee: a response body that hands every chunk to the client as it arrives and lets a copy
//! feed the usage parser on the side.
//!
//! Invariants:
//! * chunks are forwarded in order, unmodified (the only rewrite is the optional stripping of an
//!   injected OpenAI usage chunk), and never held back waiting for the parser;
//! * exactly one [`Finished`] record is produced per response, whichever way it ends: normal end,
//!   upstream error or reset, idle timeout, or the client going away (the body is dropped);
//! * a client going away does not end the exchange: the upstream has billed it, so the rest of
//!   the body is read in a [`Background`] task (each gap bounded by the provider's timeout) and
//!   the record says `client_disconnected` with the usage of the whole response;
//! * nothing here touches the database: the record goes to the recording sink, which never blocks.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokenwatch_core::EventStatus;
use tokenwatch_core::providers::StreamParser;
use tokenwatch_core::providers::openai::UsageChunkStripper;
use tokio::time::Sleep;

use super::background::Background;
use super::decode::{Encoding, SideDecoder};
use crate::recording::{Captured, EventSink, Exchange, Finished};

/// How the side copy is read.
pub enum CaptureMode {
    /// An SSE (or streamed JSON) body, parsed incrementally; `decoder` when it is compressed.
    Stream {
        parser: Box<dyn StreamParser>,
        decoder: Option<Box<SideDecoder>>,
    },
    /// A whole body, kept as refcounted chunks (no copy) up to `limit` bytes and parsed later,
    /// off the hot path.
    Whole {
        parts: Vec<Bytes>,
        kept: usize,
        limit: usize,
        encoding: Option<String>,
        overflow: bool,
    },
    /// The copy cannot be read (unsupported encoding): record without usage.
    Unreadable,
}

impl CaptureMode {
    pub fn stream(parser: Box<dyn StreamParser>, content_encoding: Option<&str>) -> Self {
        match Encoding::from_header(content_encoding) {
            Encoding::Identity => CaptureMode::Stream {
                parser,
                decoder: None,
            },
            Encoding::Decodable(d) => CaptureMode::Stream {
                parser,
                decoder: Some(d),
            },
            Encoding::Unsupported => CaptureMode::Unreadable,
        }
    }

    pub fn whole(limit: usize, content_encoding: Option<&str>) -> Self {
        CaptureMode::Whole {
            parts: Vec::new(),
            kept: 0,
            limit,
            encoding: content_encoding.map(str::to_owned),
            overflow: false,
        }
    }

    fn feed(&mut self, data: &Bytes) {
        match self {
            CaptureMode::Stream {
                parser,
                decoder: None,
            } => parser.feed(data),
            CaptureMode::Stream {
                parser,
                decoder: Some(d),
            } => match d.feed(data) {
                Ok(plain) => parser.feed(&plain),
                Err(_) => *self = CaptureMode::Unreadable,
            },
            CaptureMode::Whole {
                parts,
                kept,
                limit,
                overflow,
                ..
            } => {
                if *overflow {
                    return;
                }
                *kept += data.len();
                if *kept > *limit {
                    *overflow = true;
                    parts.clear();
                } else {
                    parts.push(data.clone());
                }
            }
            CaptureMode::Unreadable => {}
        }
    }

    fn into_captured(self) -> Captured {
        match self {
            CaptureMode::Stream { mut parser, .. } => Captured::Facts(parser.finish()),
            CaptureMode::Whole { overflow: true, .. } => Captured::TooLarge,
            CaptureMode::Whole {
                parts, encoding, ..
            } => Captured::Body { parts, encoding },
            CaptureMode::Unreadable => Captured::Unreadable,
        }
    }
}

struct Capture {
    exchange: Exchange,
    mode: CaptureMode,
    sink: EventSink,
    background: Background,
    started: Instant,
    first_byte: Option<Instant>,
    response_bytes: usize,
}

impl Capture {
    fn on_data(&mut self, data: &Bytes) {
        self.first_byte.get_or_insert_with(Instant::now);
        self.response_bytes += data.len();
        self.mode.feed(data);
    }

    fn finish(self, status: EventStatus) {
        let now = Instant::now();
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.sink.finish(Finished {
            exchange: self.exchange,
            status,
            captured: self.mode.into_captured(),
            ttft_ms: self.first_byte.map(|t| ms(t - self.started)),
            duration_ms: ms(now - self.started),
            response_bytes: i64::try_from(self.response_bytes).unwrap_or(i64::MAX),
        });
    }
}

/// A response body that forwards the upstream's frames and records the exchange once.
pub struct TeeBody {
    /// Always present until the body is dropped (then a drain task may take it over).
    inner: Option<Incoming>,
    capture: Option<Box<Capture>>,
    stripper: Option<UsageChunkStripper>,
    /// Fires at the latest `idle_timeout` after the last frame. Not re-armed per frame (that
    /// takes the timer wheel's lock on the per-chunk path): when it fires early it is moved
    /// to `last_frame + idle_timeout`.
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    last_frame: tokio::time::Instant,
    /// The upstream body has ended (set when a last stripped remainder is still to be sent).
    ended: bool,
}

impl TeeBody {
    /// `background` runs the rest of the exchange if the client leaves before the end.
    pub fn new(
        inner: Incoming,
        exchange: Exchange,
        mode: CaptureMode,
        (sink, background): (EventSink, Background),
        started: Instant,
        idle_timeout: Duration,
        stripper: Option<UsageChunkStripper>,
    ) -> Self {
        let capture = Capture {
            exchange,
            mode,
            sink,
            background,
            started,
            first_byte: None,
            response_bytes: 0,
        };
        Self {
            inner: Some(inner),
            capture: Some(Box::new(capture)),
            stripper,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            last_frame: tokio::time::Instant::now(),
            ended: false,
        }
    }

    fn finish(&mut self, status: EventStatus) {
        if let Some(capture) = self.capture.take() {
            capture.finish(status);
        }
    }

    /// Feeds the copy; returns the bytes the client should receive (None to skip an emptied frame).
    /// (Takes the fields it needs, not `self`: the upstream body is borrowed meanwhile.)
    fn on_data(
        capture: &mut Option<Box<Capture>>,
        stripper: &mut Option<UsageChunkStripper>,
        data: Bytes,
    ) -> Option<Bytes> {
        if let Some(capture) = capture.as_deref_mut() {
            capture.on_data(&data);
        }
        match stripper.as_mut() {
            None => Some(data),
            Some(stripper) => {
                let out = stripper.feed(&data);
                (!out.is_empty()).then(|| Bytes::from(out))
            }
        }
    }
}

/// Why a proxied body stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TeeError {
    #[error("upstream connection failed mid-response: {0}")]
    Upstream(#[from] hyper::Error),
    #[error("upstream sent nothing for {0:?}")]
    Idle(Duration),
}

impl Body for TeeBody {
    type Data = Bytes;
    type Error = TeeError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TeeError>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match Pin::new(&mut *inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.last_frame = tokio::time::Instant::now();
                    let frame = match frame.into_data() {
                        Ok(data) => {
                            match Self::on_data(&mut this.capture, &mut this.stripper, data) {
                                Some(out) => Frame::data(out),
                                None => continue,
                            }
                        }
                        Err(frame) => frame,
                    };
                    if inner.is_end_stream() && this.stripper.is_none() {
                        this.finish(EventStatus::Ok);
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(Some(Err(err))) => {
                    this.finish(EventStatus::UpstreamReset);
                    return Poll::Ready(Some(Err(TeeError::Upstream(err))));
                }
                Poll::Ready(None) => {
                    this.finish(EventStatus::Ok);
                    let rest = this
                        .stripper
                        .take()
                        .map(|mut s| s.finish())
                        .unwrap_or_default();
                    if rest.is_empty() {
                        return Poll::Ready(None);
                    }
                    this.ended = true;
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                }
                Poll::Pending => {
                    while this.idle.as_mut().poll(cx).is_ready() {
                        let deadline = this.last_frame + this.idle_timeout;
                        if deadline <= tokio::time::Instant::now() {
                            this.finish(EventStatus::Timeout);
                            return Poll::Ready(Some(Err(TeeError::Idle(this.idle_timeout))));
                        }
                        // Frames came since it was armed: wait for the rest of the gap.
                        this.idle.as_mut().reset(deadline);
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
            || (self.stripper.is_none() && self.inner.as_ref().is_none_or(Body::is_end_stream))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) if self.stripper.is_none() => inner.size_hint(),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for TeeBody {
    fn drop(&mut self) {
        let Some(capture) = self.capture.take() else {
            return;
        };
        match self.inner.take() {
            // The client went away before the end: the upstream's answer is still read whole.
            Some(inner) if !self.ended && !inner.is_end_stream() => {
                let background = capture.background.clone();
                let settle = Settle(Some(capture));
                // Without a runtime the task is dropped unpolled: `settle` records what was seen.
                let _ = background.spawn(drain(inner, settle, self.idle_timeout));
            }
            _ => capture.finish(EventStatus::Ok),
        }
    }
}

/// Records a disconnected exchange with what its capture holds, when dropped: at the end of
/// [`drain`], or if the drain task is cancelled (its runtime shutting down).
struct Settle(Option<Box<Capture>>);

impl Drop for Settle {
    fn drop(&mut self) {
        if let Some(capture) = self.0.take() {
            capture.finish(EventStatus::ClientDisconnected);
        }
    }
}

/// Reads the rest of an upstream body whose client has gone, feeding the capture, until the
/// body ends, fails, or sends nothing for `idle_timeout`.
async fn drain(mut inner: Incoming, mut settle: Settle, idle_timeout: Duration) {
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(idle_timeout, inner.frame()).await {
        if let (Ok(data), Some(capture)) = (frame.into_data(), settle.0.as_deref_mut()) {
            capture.on_data(&data);
        }
    }
    drop(settle);
}
