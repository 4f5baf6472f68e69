//! `tokenwatch-mock`: run the mock upstream. Prints exactly one line, `listening on
//! http://ADDR`, to stdout once the port is bound, then serves until killed. The flags set the
//! defaults that the `x-mock-*` request headers override per request (see the library docs).

use clap::Parser;
use tokenwatch_mock::MockConfig;

/// A mock LLM upstream (Anthropic, OpenAI, Gemini wire formats) for tests and benchmarks.
///
/// It is also a provider organisation: the usage it answers goes into a ledger that the admin
/// usage and cost APIs report (Anthropic `GET /v1/organizations/usage_report/messages`,
/// `/cost_report`, `/usage_report/claude_code` with an `sk-ant-admin…` key; OpenAI
/// `GET /v1/organization/usage/completions`, `/usage/embeddings`, `/costs` with an
/// `sk-admin-…` key). Tests add usage with `POST /__mock/org/usage`, read it with `GET`, clear it
/// with `DELETE`, revise the latest bucket with `POST /__mock/org/revise`, make admin requests
/// fail with `POST /__mock/org/fail`, and add Claude Code records with
/// `POST /__mock/org/claude_code`.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on (port 0 picks one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Delay before each response's headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Content deltas per stream.
    #[arg(long, default_value_t = 5)]
    chunks: usize,
    /// Delay before each content delta, in milliseconds. Per request: `x-mock-chunk-gap-ms`.
    #[arg(long, default_value_t = 0)]
    chunk_gap_ms: u64,
    /// Delay between a JSON response's headers and its body, in milliseconds (a server that
    /// answers before it has generated the text). Per request: `x-mock-head-gap-ms`.
    #[arg(long, default_value_t = 0)]
    head_gap_ms: u64,
    /// Pad the response text to at least this many bytes.
    #[arg(long, default_value_t = 0)]
    body_bytes: usize,
    /// Network write size for streams, cutting across lines and characters (0: one write per
    /// event). Per request: `x-mock-split-bytes`.
    #[arg(long, default_value_t = 7)]
    split_bytes: usize,
    /// Do not keep received requests (benchmarks); `/__mock/requests` then answers 404, and
    /// answered requests add no usage to the organisation's ledger (posted usage still does).
    #[arg(long)]
    no_record: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::from_std(listen(args.listen)?)?;
    announce(listener.local_addr()?);
    let cfg = MockConfig {
        latency_ms: args.latency_ms,
        chunks: args.chunks,
        chunk_gap_ms: args.chunk_gap_ms,
        head_gap_ms: args.head_gap_ms,
        body_bytes: args.body_bytes,
        split_bytes: args.split_bytes,
        record: !args.no_record,
    };
    tokenwatch_mock::serve(listener, cfg).await
}

#[expect(
    clippy::print_stdout,
    reason = "the bound address is the program's output"
)]
fn announce(addr: std::net::SocketAddr) {
    use std::io::Write;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
}

/// Listens with a backlog like a provider's front end, not std's and tokio's 128: a benchmark
/// opening a thousand streams at once must not see connections dropped (and retried a second
/// later) by the mock standing in for the provider.
fn listen(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}
