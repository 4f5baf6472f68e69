//! The tee: a response body that hands every chunk to the client as it arrives and lets a copy
//! feed the usage parser on the side.
//!
//! Invariants:
//! * chunks are forwarded in order, unmodified (the only rewrite is the optional stripping of an
//!   injected OpenAI usage chunk), and never held back waiting for the parser;
//! * exactly one [`Finished`] record is produced per response, whichever way it ends: normal end,
//!   upstream error or reset, idle timeout, or the client going away (the body is dropped);
//! * nothing here touches the database: the record goes to the recording sink, which never blocks.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokenwatch_core::EventStatus;
use tokenwatch_core::providers::StreamParser;
use tokenwatch_core::providers::openai::UsageChunkStripper;
use tokio::time::Sleep;

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
    started: Instant,
    first_byte: Option<Instant>,
    response_bytes: usize,
}

impl Capture {
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
    inner: Incoming,
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
    pub fn new(
        inner: Incoming,
        exchange: Exchange,
        mode: CaptureMode,
        sink: EventSink,
        started: Instant,
        idle_timeout: Duration,
        stripper: Option<UsageChunkStripper>,
    ) -> Self {
        let capture = Capture {
            exchange,
            mode,
            sink,
            started,
            first_byte: None,
            response_bytes: 0,
        };
        Self {
            inner,
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
    fn on_data(&mut self, data: Bytes) -> Option<Bytes> {
        if let Some(capture) = self.capture.as_deref_mut() {
            capture.first_byte.get_or_insert_with(Instant::now);
            capture.response_bytes += data.len();
            capture.mode.feed(&data);
        }
        match self.stripper.as_mut() {
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
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.last_frame = tokio::time::Instant::now();
                    let frame = match frame.into_data() {
                        Ok(data) => match this.on_data(data) {
                            Some(out) => Frame::data(out),
                            None => continue,
                        },
                        Err(frame) => frame,
                    };
                    if this.inner.is_end_stream() && this.stripper.is_none() {
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
        self.ended || (self.stripper.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.stripper.is_some() {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

impl Drop for TeeBody {
    fn drop(&mut self) {
        // Reached only when the body was not read to its end: the client went away.
        let status = if self.ended || self.inner.is_end_stream() {
            EventStatus::Ok
        } else {
            EventStatus::ClientDisconnected
        };
        self.finish(status);
    }
}
