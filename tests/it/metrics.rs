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

// ---------------------------------------------------------------------------------------------
// The fleet view: a real daemon's scrape against the shipped alerting rules and
// `status --format prometheus` (node_exporter's textfile collector).
// ---------------------------------------------------------------------------------------------

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;

use crate::common::cli::{Run, run as run_cli, with_config};
use crate::common::config::{ConfigBuilder, ODOO_VERSION};
use crate::common::db::{Fixture, TestDb};
use crate::common::promtool::{check_metrics, sample_shapes};
use crate::common::replies::reply_text;
use crate::common::validation_server::{Behaviour, ServerOptions, ValidationServer};

/// Bound of the waits on the daemon: startup, its first check-in.
const DAEMON_WAIT: Duration = Duration::from_secs(60);

/// `dbcheckin run`, killed on drop, its stderr collected as it comes.
struct RealDaemon {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl RealDaemon {
    fn start(config: &Path) -> RealDaemon {
        let mut command = with_config(config, &["run"]);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn dbcheckin run");
        let stream = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap_or_else(|p| p.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        RealDaemon { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The address of the metrics endpoint, from the daemon's own log line
    /// (it was told to listen on port 0).
    async fn metrics_address(&mut self) -> SocketAddr {
        const MARK: &str = "serving Prometheus metrics on http://";
        let deadline = Instant::now() + DAEMON_WAIT;
        loop {
            let log = self.stderr();
            if let Some(rest) = log.split(MARK).nth(1) {
                let address = rest.split('/').next().unwrap_or_default();
                return address
                    .parse()
                    .unwrap_or_else(|e| panic!("bad address {address:?} ({e}) in:\n{log}"));
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("dbcheckin run exited ({status}) before serving metrics:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "no {MARK:?} within {DAEMON_WAIT:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RealDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn packaging_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/prometheus")
        .join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every `dbcheckin_*` metric name a rules or test file mentions.
fn names_in(text: &str) -> BTreeSet<String> {
    let name = regex::Regex::new(r"\bdbcheckin_[a-z_]+\b").expect("regex");
    name.find_iter(text)
        .map(|m| m.as_str().to_string())
        .collect()
}

/// The `(name, label names)` of the rule tests' input series, less the labels
/// Prometheus adds itself (`job`, `instance`).
fn input_series_shapes(text: &str) -> BTreeSet<(String, Vec<String>)> {
    let series = regex::Regex::new(r"series: '(dbcheckin_[a-z_]+)\{([^}]*)\}'").expect("regex");
    series
        .captures_iter(text)
        .map(|c| {
            let mut labels: Vec<String> = c[2]
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(label, _)| label.trim().to_string())
                .filter(|label| label != "job" && label != "instance")
                .collect();
            labels.sort();
            (c[1].to_string(), labels)
        })
        .collect()
}

/// The lines of `families` samples, for comparing two renderings.
fn lines_of<'a>(text: &'a str, families: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|line| {
            families
                .iter()
                .any(|f| line.strip_prefix(f).is_some_and(|r| r.starts_with('{')))
        })
        .collect()
}

fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_string)
        .collect()
}

/// Scrapes until every per-database family has a sample (the first check-in
/// is recorded), bounded by [`DAEMON_WAIT`].
async fn scrape_after_first_check_in(daemon: &RealDaemon, address: SocketAddr) -> String {
    let wanted = [
        "dbcheckin_last_success_timestamp_seconds{",
        "dbcheckin_last_attempt_timestamp_seconds{",
        "dbcheckin_expiration_timestamp_seconds{",
        "dbcheckin_users{",
        "dbcheckin_consecutive_failures{",
        "dbcheckin_checkins_total{result=\"ok\",transport=\"https\"} 1\n",
    ];
    let deadline = Instant::now() + DAEMON_WAIT;
    let client = client();
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(response) = client.get(format!("http://{address}/metrics")).send().await {
            last = response.text().await.unwrap_or_default();
            if wanted.iter().all(|w| last.contains(w)) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the scrape lacks some of {wanted:?} after {DAEMON_WAIT:?}:\n{last}\ndaemon log:\n{}",
        daemon.stderr()
    );
}

#[tokio::test]
async fn the_rules_and_the_textfile_use_what_a_real_daemon_exports() {
    // The recorded reply of Odoo's server to fixture A: it sets an expiration date.
    let reply = reply_text("A1_sample");
    let server = ValidationServer::start(ServerOptions {
        behaviour: Behaviour::Reply(reply),
        ..ServerOptions::default()
    });
    let db = TestDb::copy_of(Fixture::A);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ConfigBuilder::new(dir.path())
        .server(&server)
        .set("server", "timeout", "20s")
        .odoo_version(ODOO_VERSION)
        .databases(&[&db.name])
        .set("schedule", "first_delay", "1s")
        .set("metrics", "listen", "127.0.0.1:0")
        .write(&dir.path().join("config.toml"));
    let mut daemon = RealDaemon::start(&config);
    let address = daemon.metrics_address().await;
    let scrape = scrape_after_first_check_in(&daemon, address).await;
    check_metrics(&scrape);
    let exported: BTreeSet<(String, Vec<String>)> = sample_shapes(&scrape).into_iter().collect();
    let exported_names: BTreeSet<String> = exported.iter().map(|(n, _)| n.clone()).collect();

    // Every metric the rules and their tests name is one the daemon exports
    // with samples; every input series of the tests has the label names of
    // the real series.
    let rules = read(&packaging_file("dbcheckin.rules.yml"));
    let rule_tests = read(&packaging_file("dbcheckin.rules.test.yml"));
    let named: BTreeSet<String> = names_in(&rules)
        .union(&names_in(&rule_tests))
        .cloned()
        .collect();
    assert!(named.len() >= 5, "the regex found too few names: {named:?}");
    let unknown: Vec<&String> = named.difference(&exported_names).collect();
    assert!(
        unknown.is_empty(),
        "the rules name {unknown:?}, which the daemon does not export:\n{scrape}"
    );
    let shapes = input_series_shapes(&rule_tests);
    assert!(shapes.len() >= 5, "too few input series found: {shapes:?}");
    for shape in &shapes {
        assert!(
            exported.contains(shape),
            "the rule tests feed {shape:?}; the daemon exports {exported:?}"
        );
    }

    // The textfile output, asked of the running daemon: the endpoint's names,
    // label sets and values, less the process counters.
    let textfile: Run = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            run_cli(with_config(&config, &["status", "--format", "prometheus"]))
        })
        .await
        .expect("status task")
    };
    assert_eq!(textfile.code, 0, "{}{}", textfile.stdout, textfile.stderr);
    check_metrics(&textfile.stdout);
    let mut expected_families = families(&scrape);
    expected_families.remove("dbcheckin_checkins_total");
    assert_eq!(families(&textfile.stdout), expected_families);
    for shape in sample_shapes(&textfile.stdout) {
        assert!(
            exported.contains(&shape),
            "{shape:?} is not in the scrape:\n{scrape}"
        );
    }
    let per_database = [
        "dbcheckin_last_success_timestamp_seconds",
        "dbcheckin_last_attempt_timestamp_seconds",
        "dbcheckin_expiration_timestamp_seconds",
        "dbcheckin_users",
        "dbcheckin_consecutive_failures",
    ];
    assert_eq!(
        lines_of(&textfile.stdout, &per_database),
        lines_of(&scrape, &per_database),
        "the textfile and the endpoint disagree"
    );
    assert!(
        textfile.stdout.contains("\ndbcheckin_databases 1\n"),
        "{}",
        textfile.stdout
    );
}
