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

/// Field `n` (0-based, after the command name) of a thread's `/proc` stat line: 38 is the
/// scheduling policy (0 normal, 5 idle), 16 the niceness.
#[cfg(target_os = "linux")]
fn stat_field(tid: i32, n: usize) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    after.split_whitespace().nth(n).unwrap().parse().unwrap()
}

/// The watchdog leaves an idle recording thread alone while nothing waits or while it takes
/// records, and promotes it (to nice 10) once records wait and it takes none for a whole look:
/// a thread starved of CPU by other programs. Caught up, the thread idles again.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_watchdog_promotes_a_recording_thread_that_takes_nothing_while_records_wait() {
    if !tokenwatch_store::yielding::available() {
        return; // unprivileged: nothing idles, nothing to promote
    }
    let watch = Arc::new(Watch::default());
    let budget = QueueBudget::new(1 << 20);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let theirs = Arc::clone(&watch);
    // Stands in for the recording thread: idles like it, then only waits.
    let thread = std::thread::spawn(move || {
        let mut pace = Pace::start(&theirs.promoter);
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        tid_tx.send(tid).unwrap();
        go_rx.recv().unwrap();
        pace.caught_up();
        let policy = stat_field(tid, 38);
        theirs.promoter.unregister();
        policy
    });
    let tid = tid_rx.recv().unwrap();
    let watchdog = tokio::spawn(watch_recording(Arc::clone(&watch), budget.clone()));
    let policy = || stat_field(tid, 38);

    tokio::time::sleep(WATCH_EVERY * 3).await;
    assert_eq!(policy(), 5, "nothing waits: still idle");

    assert!(budget.try_reserve(100));
    for _ in 0..6 {
        watch.taken.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(WATCH_EVERY / 2).await;
    }
    assert_eq!(policy(), 5, "records wait but are being taken: still idle");

    let deadline = tokio::time::Instant::now() + WATCH_EVERY * 20;
    while policy() != 0 {
        assert!(tokio::time::Instant::now() < deadline, "never promoted");
        tokio::time::sleep(WATCH_EVERY / 5).await;
    }
    assert_eq!(stat_field(tid, 16), RECORDING_NICE);

    go_tx.send(()).unwrap();
    assert_eq!(
        thread.join().unwrap(),
        5,
        "caught up, the thread idles again"
    );
    watch.ended.store(true, Ordering::Release);
    watchdog.await.unwrap();
}
