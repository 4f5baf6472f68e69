//! A queued record owns its bytes: what it keeps does not pin a connection's read buffer.

use bytes::BytesMut;

use super::*;

fn record(request_body: Bytes, parts: Vec<Bytes>) -> Finished {
    Finished {
        exchange: Exchange {
            ts_ms: 0,
            provider: Arc::from("anthropic"),
            kind: ProviderKind::Anthropic,
            endpoint: Endpoint::Messages,
            path: "/v1/messages".to_owned(),
            quick: QuickFacts::default(),
            request_body: Some(request_body),
            request_bytes: 100,
            meta: RequestMeta::default(),
            http_status: Some(200),
            response_headers: ResponseHeaderFacts::default(),
            streamed: false,
        },
        status: EventStatus::Ok,
        captured: Captured::Body {
            parts,
            encoding: None,
        },
        ttft_ms: None,
        duration_ms: 1,
        response_bytes: 100,
    }
}

/// A connection's read buffer, as hyper fills it: one large allocation that request and
/// response bodies are sliced from.
fn read_buffer() -> Bytes {
    let mut buffer = BytesMut::with_capacity(1 << 20);
    buffer.resize(1 << 20, b'x');
    buffer.freeze()
}

#[test]
fn a_queued_record_keeps_no_read_buffer_alive() {
    let request_buffer = read_buffer();
    let response_buffer = read_buffer();
    let mut finished = record(
        request_buffer.slice(..100),
        vec![response_buffer.slice(..60), response_buffer.slice(60..100)],
    );
    assert!(!request_buffer.is_unique() && !response_buffer.is_unique());
    finished.detach();
    assert!(
        request_buffer.is_unique(),
        "the record still shares the request's read buffer"
    );
    assert!(
        response_buffer.is_unique(),
        "the record still shares the response's read buffer"
    );
    let Captured::Body { parts, .. } = &finished.captured else {
        panic!("the body is kept");
    };
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0], response_buffer.slice(..100));
    assert_eq!(
        finished.exchange.request_body,
        Some(request_buffer.slice(..100))
    );
}

#[test]
fn retained_bytes_counts_bodies_not_buffers() {
    let buffer = read_buffer();
    let mut finished = record(buffer.slice(..100), vec![buffer.slice(..60)]);
    finished.detach();
    let fixed = std::mem::size_of::<Finished>() + std::mem::size_of::<Bytes>();
    let path = "/v1/messages".len();
    assert_eq!(finished.retained_bytes(), fixed + path + 100 + 60);
}

#[test]
fn recording_leaves_idle_priority_only_when_falling_behind_and_comes_back_with_hysteresis() {
    let limit = 64 << 20;
    // Idle and keeping up: stay idle, up to 1/64 of the budget.
    assert_eq!(idle_next(true, 0, limit), None);
    assert_eq!(idle_next(true, limit / 64, limit), None);
    // Past it: normal priority.
    assert_eq!(idle_next(true, limit / 64 + 1, limit), Some(false));
    // Back at normal: stay until below 1/256, not as soon as under 1/64.
    assert_eq!(idle_next(false, limit / 64, limit), None);
    assert_eq!(idle_next(false, limit / 256, limit), None);
    assert_eq!(idle_next(false, limit / 256 - 1, limit), Some(true));
}
