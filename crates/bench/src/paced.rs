//! A paced upstream inside the bench process: an Anthropic-format SSE stream whose content events
//! each carry the time they were written (`"t"`, microseconds on this process's monotonic clock).
//! The client subtracts that stamp from the arrival time, so per-chunk latency is measured
//! exactly, whatever the jitter of the pacing timer. It runs on its own thread and runtime so
//! the load generator does not delay its writes.

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::StreamBody;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the process-wide epoch.
pub fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Starts the paced upstream; returns its base URL.
pub fn start(chunks: usize, gap: Duration) -> anyhow::Result<String> {
    start_jittered(chunks, gap, 0.0)
}

/// Like [`start`], each gap drawn uniformly from `gap × (1 ± jitter)`, as tokens arrive from a
/// model: not on a clock.
pub fn start_jittered(chunks: usize, gap: Duration, jitter: f64) -> anyhow::Result<String> {
    now_us();
    crate::relay::on_own_thread(move |listener| async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(move |_req| async move {
                    Ok::<_, Infallible>(stream(chunks, gap, jitter))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    })
}

type Body = StreamBody<futures_stream::Receiver>;

mod futures_stream {
    //! An mpsc receiver as a stream of body frames.
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body::Frame;

    pub struct Receiver(pub tokio::sync::mpsc::Receiver<Frame<Bytes>>);

    impl futures_util::Stream for Receiver {
        type Item = Result<Frame<Bytes>, std::convert::Infallible>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx).map(|f| f.map(Ok))
        }
    }
}

fn stream(chunks: usize, gap: Duration, jitter: f64) -> http::Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let start = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_paced","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}}}

"#;
        if tx
            .send(Frame::data(Bytes::from_static(start.as_bytes())))
            .await
            .is_err()
        {
            return;
        }
        // xorshift64: gaps that vary without a random-number crate, different per stream.
        let mut seed = now_us() | 1;
        for _ in 0..chunks {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let unit = (seed >> 11) as f64 / (1u64 << 53) as f64;
            tokio::time::sleep(gap.mul_f64(1.0 + jitter * (2.0 * unit - 1.0))).await;
            let event = format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"x\"}},\"t\":{}}}\n\n",
                now_us()
            );
            if tx.send(Frame::data(Bytes::from(event))).await.is_err() {
                return;
            }
        }
        let end = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":50}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let _ = tx
            .send(Frame::data(Bytes::from_static(end.as_bytes())))
            .await;
    });
    let mut response = http::Response::new(StreamBody::new(futures_stream::Receiver(rx)));
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// Reads a stamped stream; returns `arrival − stamp` in microseconds for every stamped event.
pub async fn stamped_latencies(
    client: &crate::load::HttpClient,
    target: &crate::load::Target,
) -> Result<Vec<u64>, String> {
    use http_body_util::BodyExt;
    let resp = client
        .request(crate::load::request(target))
        .await
        .map_err(|e| format!("{}: {e:?}", target.url))?;
    if !resp.status().is_success() {
        return Err(format!("{}: status {}", target.url, resp.status()));
    }
    let mut body = resp.into_body();
    let mut tail: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame
            .map_err(|e| format!("{}: {e}", target.url))?
            .into_data()
            .ok();
        let now = now_us();
        let Some(data) = data else { continue };
        tail.extend_from_slice(&data);
        while let Some(i) = tail.windows(2).position(|w| w == b"\n\n") {
            let event = String::from_utf8_lossy(&tail[..i]).into_owned();
            tail.drain(..i + 2);
            if let Some(t) = event
                .split("\"t\":")
                .nth(1)
                .and_then(|r| r.trim_end_matches(['}', '\n']).parse::<u64>().ok())
            {
                out.push(now.saturating_sub(t));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_content_event_is_stamped() {
        let url = start(5, Duration::from_millis(1)).unwrap();
        let client = crate::load::client();
        let target = crate::load::Target {
            url: format!("{url}/v1/messages"),
            body: Bytes::from_static(b"{}"),
            bearer: None,
        };
        let latencies = stamped_latencies(&client, &target).await.unwrap();
        assert_eq!(latencies.len(), 5);
        assert!(latencies.iter().all(|&us| us < 1_000_000), "{latencies:?}");
    }
}
