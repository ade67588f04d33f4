//! The metrics endpoint over real TCP on 127.0.0.1: routes, content type,
//! timeouts against stuck clients, and shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dbcheckin::metrics::{
    self, CONTENT_TYPE_EXPOSITION, CheckinResult, DRAIN_TIMEOUT, DbGauges, HEADER_READ_TIMEOUT,
    MAX_CONNECTION_AGE, Metrics,
};
use dbcheckin::transport::Scheme;
use time::macros::datetime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

const UUID: &str = "44fea1ca-6a9c-11ef-8000-0242ac120002";

/// Generous bound for things that should take milliseconds.
const WAIT: Duration = Duration::from_secs(10);

struct Server {
    address: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("local address");
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(metrics::serve(
        listener,
        Arc::clone(&metrics),
        shutdown.clone(),
    ));
    Server {
        address,
        metrics,
        shutdown,
        handle,
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Cancels the token and asserts that `serve` returns within `bound`.
    async fn stop_within(self, bound: Duration) {
        self.shutdown.cancel();
        let finished = timeout(bound, self.handle).await;
        let joined = finished.expect("serve did not return after the token was cancelled");
        joined.expect("serve panicked");
    }
}

/// Plain HTTP only, but reqwest built without a default TLS provider refuses to
/// build a client until one is installed; `Err` means another test did it.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// Reads until the server closes the connection; a reset counts as closed too.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    received
}

#[tokio::test]
async fn serves_metrics_and_stops_when_cancelled() {
    let server = start().await;
    // Connected first and silent: accepted before the requests below, and must
    // not keep `serve` from returning.
    let mut silent = TcpStream::connect(server.address).await.expect("connect");
    server.metrics.set_database(
        "prod \"eu\"",
        UUID,
        DbGauges {
            last_success: Some(datetime!(2026-05-04 10:00:00 UTC)),
            ..DbGauges::default()
        },
    );
    let client = client();

    let response = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        CONTENT_TYPE_EXPOSITION
    );
    let body = response.text().await.expect("body");
    let expected = format!(
        "\ndbcheckin_last_success_timestamp_seconds{{database=\"prod \\\"eu\\\"\",uuid=\"{UUID}\"}} 1777888800\n"
    );
    assert!(body.contains(&expected), "{body}");
    assert!(body.contains("\ndbcheckin_databases 1\n"), "{body}");

    // The endpoint reads the shared registry at each request.
    server
        .metrics
        .count_checkin(CheckinResult::Failed, Some(Scheme::Http));
    server.metrics.retain_databases(&[]);
    let body = client
        .get(server.url("/metrics?ignored=1"))
        .send()
        .await
        .expect("GET /metrics again")
        .text()
        .await
        .expect("body");
    assert!(
        body.contains("\ndbcheckin_checkins_total{result=\"failed\",transport=\"http\"} 1\n"),
        "{body}"
    );
    assert!(body.contains("\ndbcheckin_databases 0\n"), "{body}");

    let head = client
        .head(server.url("/metrics"))
        .send()
        .await
        .expect("HEAD /metrics");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()[reqwest::header::CONTENT_TYPE],
        CONTENT_TYPE_EXPOSITION
    );
    assert!(head.text().await.expect("body").is_empty());

    let index = client.get(server.url("/")).send().await.expect("GET /");
    assert_eq!(index.status(), 200);
    assert!(index.text().await.expect("body").contains("/metrics"));

    let missing = client
        .get(server.url("/nope"))
        .send()
        .await
        .expect("GET /nope");
    assert_eq!(missing.status(), 404);

    let posted = client
        .post(server.url("/metrics"))
        .body("x")
        .send()
        .await
        .expect("POST /metrics");
    assert_eq!(posted.status(), 405);
    assert_eq!(posted.headers()[reqwest::header::ALLOW], "GET, HEAD");

    // The client still holds an idle keep-alive connection, and `silent` is
    // open: neither may keep `serve` from returning.
    server.stop_within(WAIT).await;
    let leftover = timeout(WAIT, read_until_closed(&mut silent))
        .await
        .expect("the silent connection was not closed on shutdown");
    assert!(leftover.is_empty(), "{leftover:?}");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_its_request_is_disconnected() {
    let server = start().await;
    let mut stuck = TcpStream::connect(server.address).await.expect("connect");
    let started = Instant::now();
    stuck
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("write");
    // Time is paused: it jumps to the next timer as soon as everything waits, so
    // this takes no real time, and fails if no timer would ever close it.
    timeout(MAX_CONNECTION_AGE, read_until_closed(&mut stuck))
        .await
        .expect("a stuck client held its connection for MAX_CONNECTION_AGE");
    // Paused time moves from timer to timer, so this is exact to the timer's
    // millisecond resolution (hyper's own default would be 30 s).
    let held = started.elapsed();
    assert!(
        (HEADER_READ_TIMEOUT..HEADER_READ_TIMEOUT + Duration::from_secs(1)).contains(&held),
        "closed after {held:?}"
    );
    server.stop_within(WAIT).await;
}

/// Takes DRAIN_TIMEOUT (5 s) of real time: under paused time the header timeout
/// would fire first and hide what is being tested.
#[tokio::test]
async fn shutdown_drops_a_stuck_connection_after_the_drain_timeout() {
    let server = start().await;
    let opened = Instant::now();
    let mut stuck = TcpStream::connect(server.address).await.expect("connect");
    stuck
        .write_all(b"GET /metrics HTTP/1.1\r\n")
        .await
        .expect("write");
    // Connections are accepted in order: once this one is answered, `stuck` has
    // been accepted and is being served.
    let response = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);

    let cancelled = Instant::now();
    server.stop_within(DRAIN_TIMEOUT + WAIT).await;
    // `serve` waited for the connection, and the drain, not the header timeout,
    // ended it.
    let took = cancelled.elapsed();
    assert!(took >= DRAIN_TIMEOUT, "serve returned after only {took:?}");
    let held = opened.elapsed();
    assert!(held < HEADER_READ_TIMEOUT, "the connection lasted {held:?}");
    let leftover = timeout(WAIT, read_until_closed(&mut stuck))
        .await
        .expect("the stuck connection outlived serve");
    assert!(leftover.is_empty(), "{leftover:?}");
}
