//! Writes a planned sequence of events as a streaming response body, the awkward way real
//! networks deliver it: bytes are re-cut into writes of `split_bytes` regardless of event
//! boundaries (so a write can end inside a `data:` line, between CR and LF, or inside a
//! multi-byte character, and can hold the end of one event and the start of the next), with a
//! pause before each content delta, optionally gzip-compressed (sync-flushed per event so the
//! client still decodes incrementally), and optionally cut off mid-stream by failing the body —
//! hyper then drops the connection without the chunked terminator, which is how an upstream
//! reset looks to a client.
//!
//! No task is spawned per stream: the body is an `unfold` over a small state machine, and
//! network pieces are zero-copy splits of one buffer.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::formats::Event;

/// How to write a stream.
pub struct Plan {
    pub events: Vec<Event>,
    /// Network write size; 0 writes each event whole.
    pub split_bytes: usize,
    /// Pause before each content delta.
    pub gap: Duration,
    /// Abort the connection before this event (everything before it is delivered).
    pub reset_before: Option<usize>,
    pub gzip: bool,
}

struct Writer {
    events: std::iter::Peekable<std::vec::IntoIter<Event>>,
    index: usize,
    split_bytes: usize,
    gap: Duration,
    reset_before: Option<usize>,
    encoder: Option<GzEncoder<Vec<u8>>>,
    /// Bytes not yet cut into a full piece.
    carry: BytesMut,
    ready: VecDeque<Bytes>,
    fail: bool,
    finished: bool,
}

/// The response body for a plan.
pub fn body(plan: Plan) -> Body {
    let writer = Writer {
        events: plan.events.into_iter().peekable(),
        index: 0,
        split_bytes: plan.split_bytes,
        gap: plan.gap,
        reset_before: plan.reset_before,
        encoder: plan
            .gzip
            .then(|| GzEncoder::new(Vec::new(), Compression::fast())),
        carry: BytesMut::new(),
        ready: VecDeque::new(),
        fail: false,
        finished: false,
    };
    Body::from_stream(futures_util::stream::unfold(writer, |mut w| async move {
        w.next().await.map(|item| (item, w))
    }))
}

impl Writer {
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            if let Some(piece) = self.ready.pop_front() {
                return Some(Ok(piece));
            }
            if self.fail {
                self.fail = false;
                return Some(Err(std::io::Error::other(
                    "mock: connection reset mid-stream",
                )));
            }
            if self.finished {
                return None;
            }
            if self.reset_before == Some(self.index) {
                self.flush_carry();
                self.fail = true;
                self.finished = true;
                continue;
            }
            let delayed = !self.gap.is_zero() && self.events.peek().is_some_and(|e| e.delta);
            if delayed && !self.carry.is_empty() {
                // Deliver what was cut so far before pausing, so pauses never hold data back.
                self.flush_carry();
                continue;
            }
            let Some(event) = self.events.next() else {
                if let Some(encoder) = self.encoder.take() {
                    match encoder.finish() {
                        Ok(tail) => self.carry.extend_from_slice(&tail),
                        Err(e) => return Some(Err(e)),
                    }
                }
                self.flush_carry();
                self.finished = true;
                continue;
            };
            if delayed {
                tokio::time::sleep(self.gap).await;
            }
            self.index += 1;
            match self.encoder.as_mut() {
                Some(encoder) => {
                    if let Err(e) = encoder
                        .write_all(&event.bytes)
                        .and_then(|()| encoder.flush())
                    {
                        return Some(Err(e));
                    }
                    self.carry.extend_from_slice(encoder.get_mut());
                    encoder.get_mut().clear();
                }
                None => self.carry.extend_from_slice(&event.bytes),
            }
            self.cut();
        }
    }

    fn cut(&mut self) {
        if self.split_bytes == 0 {
            self.flush_carry();
            return;
        }
        while self.carry.len() >= self.split_bytes {
            self.ready
                .push_back(self.carry.split_to(self.split_bytes).freeze());
        }
    }

    fn flush_carry(&mut self) {
        if !self.carry.is_empty() {
            self.ready.push_back(self.carry.split().freeze());
        }
    }
}
