//! A faithful, fault-injecting test double of Odoo's publisher-warranty validation server.
//!
//! Why a hand-written server: dbcheckin's job is to tell an administrator *why* the weekly
//! check-in fails (proxy, certificate, captive portal, reset, slow link...). Those failures only
//! show up on the wire, so the double speaks HTTP/1.1 by hand over real loopback sockets, with
//! real TLS (rustls) and certificates minted by a throw-away test CA (rcgen). Every misbehaviour
//! is selectable at run time, per transport.
//!
//! Why its own thread and runtime: the same server must serve async tests (`#[tokio::test]`,
//! whatever flavour) and synchronous tests that spawn the `dbcheckin` binary and block on it.
//! `ValidationServer::start` is therefore a plain call, and dropping the server stops it.
//!
//! This file must not depend on the `dbcheckin` library: `examples/demo.rs` includes it with
//! `#[path = ...]`, so it only uses crates (tokio, rustls, tokio-rustls, rcgen, tempfile, time).

// Each includer (test binaries, examples/demo.rs) uses a different subset of this API.
#![allow(dead_code)]

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio_rustls::TlsAcceptor;

/// The endpoint path Odoo posts to; everything else is a 404, like the real server.
pub const ENDPOINT_PATH: &str = "/publisher-warranty/";
/// The reply of a healthy server with nothing to say (Odoo accepts it and changes nothing).
pub const DEFAULT_REPLY: &str = "{'messages': []}\n";
/// Body of [`Behaviour::Garbage`]: a 200 that `ast.literal_eval` would reject.
pub const GARBAGE_BODY: &str = "%%% not a python literal @@@\n";
/// Common name of the CA behind [`CertKind::Untrusted`]; tests check our error names it.
pub const UNTRUSTED_CA_NAME: &str = "Evil Inspecting Proxy CA";
/// Common name of the CA written to `ca_file()`.
pub const TRUSTED_CA_NAME: &str = "dbcheckin Test Root CA";
/// Largest request body accepted; bigger ones get 413 (keeps a broken client from eating RAM).
pub const MAX_BODY: usize = 1024 * 1024;
/// Content-Length announced by [`Behaviour::ResetMidReply`] (only ~100 bytes are ever sent).
pub const RESET_ANNOUNCED_LENGTH: usize = 1000;
/// Bytes of body actually sent by [`Behaviour::ResetMidReply`] before the reset.
pub const RESET_SENT_LENGTH: usize = 100;

/// Body of [`Behaviour::Html`]: what a captive portal or filtering proxy sends instead of the
/// server's reply, with a 200, which is exactly why a client must not trust the status alone.
pub const HTML_BLOCK_PAGE: &str = "<!DOCTYPE html><html><head><title>Access Denied</title>\n\
<meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\n\
<style>body{font-family:sans-serif;background:#f4f4f4}.box{margin:4em auto;max-width:36em;\
background:#fff;padding:2em;border-top:6px solid #c0392b}</style></head>\n\
<body><div class=\"box\"><h1>Access Denied</h1>\n\
<p>The page you requested has been blocked by your organisation's web filtering policy.</p>\n\
<p><b>URL:</b> services.odoo.com/publisher-warranty/<br><b>Category:</b> Uncategorized \
Business Services<br><b>Rule:</b> Block-Unknown-Outbound</p>\n\
<p>If you believe this is an error, please contact your IT helpdesk and quote \
reference <code>BX-20417-7731</code>.</p>\n\
<form method=\"post\" action=\"/portal/login\"><input name=\"user\" placeholder=\"Username\">\
<input type=\"password\" name=\"pass\" placeholder=\"Password\"><button>Log in</button></form>\n\
<p><small>Secure Web Gateway</small></p></div></body></html>\n";

/// Werkzeug's 404 page: the real server is an Odoo/werkzeug app, so a wrong path looks like this.
const NOT_FOUND_PAGE: &str = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n\
<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL \
manually please check your spelling and try again.</p>\n";

/// Werkzeug's 405 page, sent with `Allow: POST`.
const METHOD_NOT_ALLOWED_PAGE: &str = "<!doctype html>\n<html lang=en>\n\
<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n\
<p>The method is not allowed for the requested URL.</p>\n";

/// Longest request head (request line + headers) we read before answering 431.
const MAX_HEAD: usize = 64 * 1024;
/// How long a finished connection may linger to drain the client's leftovers (avoids an RST
/// that would swallow our reply when the client sent more than we read, e.g. after a 413).
const DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// How long `Drop` waits for the server thread before giving up on joining it.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// A throw-away certificate authority. Kept whole (not just PEM) so later tests can mint more
/// certificates from it: expired/not-yet-valid certs on other ports, an inspecting proxy...
pub struct TestCa {
    /// The CA certificate, PEM: what a client must trust.
    pub cert_pem: String,
    /// The CA private key, PKCS#8 PEM.
    pub key_pem: String,
    common_name: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa")
            .field("common_name", &self.common_name)
            .finish_non_exhaustive()
    }
}

/// Creates a self-signed CA named `common_name`, valid from yesterday for ten years.
pub fn generate_ca(common_name: &str) -> TestCa {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let key = KeyPair::generate().expect("generate CA key pair");
    let cert = params.self_signed(&key).expect("self-sign test CA");
    TestCa {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        common_name: common_name.to_owned(),
        cert_der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

impl TestCa {
    /// The CA's common name (appears as the issuer of everything it signs).
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// The CA certificate, DER, for building a `RootCertStore` without touching files.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// Issues a TLS server certificate for `names` (DNS names or IP addresses; the first is also
    /// the subject CN), valid from `not_before` to `not_after`. Returns `(cert_pem, key_pem)`.
    ///
    /// Validity is explicit because the interesting failures (expired, not yet valid) are
    /// exactly about it; pass `SystemTime` or `time::OffsetDateTime`.
    pub fn issue(
        &self,
        names: &[&str],
        not_before: impl Into<OffsetDateTime>,
        not_after: impl Into<OffsetDateTime>,
    ) -> (String, String) {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("valid certificate names");
        params.distinguished_name =
            distinguished_name(names.first().map_or("unnamed", String::as_str));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let key = KeyPair::generate().expect("generate leaf key pair");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign leaf certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// A subject with a recognisable organisation, so a certificate seen in an error message is
/// obviously one of ours.
fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "dbcheckin tests");
    dn
}

/// Builds a rustls server configuration (ring provider, no client auth) from PEM, so later tests
/// can stand up their own TLS endpoints with certificates from [`TestCa::issue`].
/// `cert_pem` may hold a chain (leaf first).
pub fn server_config_from_pem(cert_pem: &str, key_pem: &str) -> Arc<ServerConfig> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("parse certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("parse private key PEM");
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("certificate and key match");
    Arc::new(config)
}

/// Which certificate the HTTPS listener presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CertKind {
    /// Leaf for `localhost`, `127.0.0.1`, `::1`, signed by the CA in `ca_file()`.
    #[default]
    Trusted,
    /// Leaf for the right names, signed by [`UNTRUSTED_CA_NAME`], a CA that is *not* in
    /// `ca_file()`: what a TLS-inspecting proxy looks like.
    Untrusted,
    /// Trusted chain, but the leaf's `not_after` is in the past.
    Expired,
    /// Trusted chain, but the leaf's `not_before` is in the future (clock skew).
    NotYetValid,
    /// Trusted chain, but the leaf is only for `wrong.example`.
    WrongName,
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// Issues the HTTPS leaf for `kind`; the trusted CA is the one written to `ca_file()`.
fn leaf_for(kind: CertKind, trusted: &TestCa) -> (String, String) {
    let now = SystemTime::now();
    match kind {
        CertKind::Trusted => trusted.issue(SERVER_NAMES, now - DAY, now + 365 * DAY),
        CertKind::Untrusted => {
            generate_ca(UNTRUSTED_CA_NAME).issue(SERVER_NAMES, now - DAY, now + 365 * DAY)
        }
        CertKind::Expired => trusted.issue(SERVER_NAMES, now - 30 * DAY, now - DAY),
        CertKind::NotYetValid => trusted.issue(SERVER_NAMES, now + 30 * DAY, now + 60 * DAY),
        CertKind::WrongName => trusted.issue(&["wrong.example"], now - DAY, now + 365 * DAY),
    }
}

// ---------------------------------------------------------------------------------------------
// Public model: options, behaviours, recorded requests
// ---------------------------------------------------------------------------------------------

/// Which listener a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Https,
    Http,
}

/// Computes `(status, text/plain body)` from a request; later tests build a subscription
/// registry on it.
pub type ReplyFn = Arc<dyn Fn(&RecordedRequest) -> (u16, String) + Send + Sync>;

/// How the server answers a *valid* request (wrong path, method, content type or fields are
/// answered 404/405/400 first, like the real server, whatever the behaviour).
#[derive(Clone)]
pub enum Behaviour {
    /// 200, `text/plain; charset=utf-8`, this body.
    Reply(String),
    /// This status, `text/plain; charset=utf-8`, this body.
    Status(u16, String),
    /// 200 with [`GARBAGE_BODY`], which is not a Python literal.
    Garbage,
    /// 200, `text/html`, [`HTML_BLOCK_PAGE`]: a captive portal or filtering proxy.
    Html,
    /// 200 with a valid-looking literal of exactly this many bytes, Content-Length set.
    Oversize(usize),
    /// Read the request, wait this long, then send the default reply.
    Slow(Duration),
    /// Send the head (Content-Length 1000) and ~100 bytes of body, then reset (SO_LINGER 0).
    ResetMidReply,
    /// Read the request and close without writing anything.
    CloseWithoutReply,
    /// Compute the reply from the request.
    Func(ReplyFn),
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::Reply(DEFAULT_REPLY.to_owned())
    }
}

impl fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::Reply(body) => f.debug_tuple("Reply").field(body).finish(),
            Behaviour::Status(code, body) => {
                f.debug_tuple("Status").field(code).field(body).finish()
            }
            Behaviour::Garbage => f.write_str("Garbage"),
            Behaviour::Html => f.write_str("Html"),
            Behaviour::Oversize(len) => f.debug_tuple("Oversize").field(len).finish(),
            Behaviour::Slow(delay) => f.debug_tuple("Slow").field(delay).finish(),
            Behaviour::ResetMidReply => f.write_str("ResetMidReply"),
            Behaviour::CloseWithoutReply => f.write_str("CloseWithoutReply"),
            Behaviour::Func(_) => f.write_str("Func(..)"),
        }
    }
}

/// What to start; `ServerOptions::default()` is a healthy, trusted server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Certificate presented on the HTTPS listener.
    pub cert: CertKind,
    /// `false`: `https_url()` points at a closed port, so connecting is refused.
    pub https_enabled: bool,
    /// Initial behaviour on both transports.
    pub behaviour: Behaviour,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            cert: CertKind::Trusted,
            https_enabled: true,
            behaviour: Behaviour::default(),
        }
    }
}

/// One request as the server saw it (recorded before any reply is written, so a client that
/// got a reply can read `requests()` without waiting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub transport: Transport,
    pub method: String,
    /// The request target as sent (may include a query string).
    pub path: String,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body after de-chunking; empty when it was refused (413).
    pub raw_body: Vec<u8>,
    /// Percent-decoded `arg0` form field, if the body parsed as a form and had one.
    pub arg0: Option<String>,
    /// Percent-decoded `action` form field, if present.
    pub action: Option<String>,
    /// When the whole request had arrived (before any delay of the behaviour).
    pub received: std::time::Instant,
}

impl RecordedRequest {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Shared state between the test thread and the server thread
// ---------------------------------------------------------------------------------------------

struct State {
    requests: Vec<RecordedRequest>,
    tls_handshake_failures: usize,
    https: Behaviour,
    http: Behaviour,
}

/// The condvar wakes synchronous waiters, the watch channel wakes async ones; both fire on every
/// change so neither kind of test ever needs to sleep-poll.
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    events: watch::Sender<u64>,
}

impl Shared {
    fn new(behaviour: Behaviour) -> Self {
        Shared {
            state: Mutex::new(State {
                requests: Vec::new(),
                tls_handshake_failures: 0,
                https: behaviour.clone(),
                http: behaviour,
            }),
            changed: Condvar::new(),
            events: watch::Sender::new(0),
        }
    }

    /// A panicking test must not poison the server for the others sharing it.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.lock());
        self.changed.notify_all();
        self.events.send_modify(|generation| *generation += 1);
    }

    fn behaviour(&self, transport: Transport) -> Behaviour {
        let state = self.lock();
        match transport {
            Transport::Https => state.https.clone(),
            Transport::Http => state.http.clone(),
        }
    }

    /// Blocks until `ready` holds; `None` on timeout.
    fn wait_until<T>(&self, timeout: Duration, ready: impl Fn(&State) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(value) = ready(&state) {
                return Some(value);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Async twin of [`Shared::wait_until`], so an async test's own client tasks keep running.
    async fn wait_until_async<T>(
        &self,
        timeout: Duration,
        ready: impl Fn(&State) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = self.events.subscribe();
        loop {
            if let Some(value) = ready(&self.lock()) {
                return Some(value);
            }
            tokio::time::timeout_at(deadline, events.changed())
                .await
                .ok()?
                .ok()?;
        }
    }
}

fn enough_requests(n: usize) -> impl Fn(&State) -> Option<Vec<RecordedRequest>> {
    move |state| (state.requests.len() >= n).then(|| state.requests.clone())
}

fn enough_failures(n: usize) -> impl Fn(&State) -> Option<usize> {
    move |state| (state.tls_handshake_failures >= n).then_some(state.tls_handshake_failures)
}

// ---------------------------------------------------------------------------------------------
// The server handle
// ---------------------------------------------------------------------------------------------

/// A running validation server; drop it to stop it.
pub struct ValidationServer {
    ca: TestCa,
    ca_file: tempfile::TempPath,
    https_port: u16,
    http_port: u16,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    finished: mpsc::Receiver<()>,
}

impl fmt::Debug for ValidationServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidationServer")
            .field("https_port", &self.https_port)
            .field("http_port", &self.http_port)
            .finish_non_exhaustive()
    }
}

impl ValidationServer {
    /// Binds both listeners on 127.0.0.1 (OS-chosen ports), writes the CA file and starts
    /// serving on a dedicated thread. Returns once the ports are bound, so a client may connect
    /// immediately. Panics if anything cannot be set up: this is test scaffolding.
    pub fn start(options: ServerOptions) -> Self {
        let ca = generate_ca(TRUSTED_CA_NAME);
        let ca_file = write_ca_file(&ca.cert_pem);
        let http = bind_loopback();
        let http_port = local_port(&http);
        let (https, https_port) = if options.https_enabled {
            let (cert_pem, key_pem) = leaf_for(options.cert, &ca);
            let listener = bind_loopback();
            let port = local_port(&listener);
            (
                Some((
                    listener,
                    TlsAcceptor::from(server_config_from_pem(&cert_pem, &key_pem)),
                )),
                port,
            )
        } else {
            (None, closed_port())
        };
        let shared = Arc::new(Shared::new(options.behaviour));
        let (shutdown, shutdown_rx) = oneshot::channel();
        let (finished_tx, finished) = mpsc::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build the validation server's runtime");
        let listeners = Listeners { https, http };
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("validation-server".into())
            .spawn(move || {
                runtime.block_on(serve_until(listeners, thread_shared, shutdown_rx));
                // Dropping the runtime cancels every connection task (slow replies included).
                drop(runtime);
                let _ = finished_tx.send(());
            })
            .expect("spawn the validation server thread");
        ValidationServer {
            ca,
            ca_file,
            https_port,
            http_port,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
            finished,
        }
    }

    /// `https://localhost:PORT/publisher-warranty/`: a name, because certificate name checks
    /// are part of what is under test. Only 127.0.0.1 listens (a client trying ::1 first falls
    /// back to it).
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}{ENDPOINT_PATH}", self.https_port)
    }

    /// `http://127.0.0.1:PORT/publisher-warranty/`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}{ENDPOINT_PATH}", self.http_port)
    }

    pub fn https_port(&self) -> u16 {
        self.https_port
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// PEM file holding the trusted test CA (give it to the client as an extra CA).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The trusted test CA, to mint more certificates that `ca_file()` vouches for.
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// Sets the behaviour of both transports; takes effect for the next request.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.update(|state| {
            state.https = behaviour.clone();
            state.http = behaviour;
        });
    }

    /// Sets the behaviour of one transport (e.g. HTTPS blocked, HTTP fine).
    pub fn set_behaviour_for(&self, transport: Transport, behaviour: Behaviour) {
        self.shared.update(|state| match transport {
            Transport::Https => state.https = behaviour,
            Transport::Http => state.http = behaviour,
        });
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Blocks until at least `n` requests arrived and returns them all; panics on timeout.
    /// For sync tests; an async test whose client runs on its own runtime should use
    /// [`ValidationServer::wait_for_requests_async`] instead, or it blocks its own client.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        self.shared
            .wait_until(timeout, enough_requests(n))
            .unwrap_or_else(|| self.requests_timed_out(n, timeout))
    }

    /// Async version of [`ValidationServer::wait_for_requests`].
    pub async fn wait_for_requests_async(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<RecordedRequest> {
        self.shared
            .wait_until_async(timeout, enough_requests(n))
            .await
            .unwrap_or_else(|| self.requests_timed_out(n, timeout))
    }

    fn requests_timed_out(&self, n: usize, timeout: Duration) -> ! {
        let seen = self.requests();
        let summary: Vec<String> = seen
            .iter()
            .map(|r| format!("{:?} {} {}", r.transport, r.method, r.path))
            .collect();
        panic!(
            "validation server: timed out after {timeout:?} waiting for {n} request(s); \
             got {}: {summary:?} (TLS handshake failures: {})",
            seen.len(),
            self.tls_handshake_failures()
        )
    }

    /// TLS handshakes that failed on the server side (client rejected our certificate, or
    /// hung up before finishing). These connections are not recorded as requests.
    pub fn tls_handshake_failures(&self) -> usize {
        self.shared.lock().tls_handshake_failures
    }

    /// Blocks until at least `n` handshakes failed (the server learns of a failure slightly
    /// after the client does); panics on timeout.
    pub fn wait_for_tls_handshake_failures(&self, n: usize, timeout: Duration) -> usize {
        self.shared
            .wait_until(timeout, enough_failures(n))
            .unwrap_or_else(|| self.failures_timed_out(n, timeout))
    }

    /// Async version of [`ValidationServer::wait_for_tls_handshake_failures`].
    pub async fn wait_for_tls_handshake_failures_async(
        &self,
        n: usize,
        timeout: Duration,
    ) -> usize {
        self.shared
            .wait_until_async(timeout, enough_failures(n))
            .await
            .unwrap_or_else(|| self.failures_timed_out(n, timeout))
    }

    fn failures_timed_out(&self, n: usize, timeout: Duration) -> ! {
        panic!(
            "validation server: timed out after {timeout:?} waiting for {n} TLS handshake \
             failure(s); got {}",
            self.tls_handshake_failures()
        )
    }
}

impl Drop for ValidationServer {
    /// Signals the server thread and joins it, but never hangs a test run for more than
    /// [`SHUTDOWN_LIMIT`]: a stuck thread is reported and left behind.
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.finished.recv_timeout(SHUTDOWN_LIMIT) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("validation server: thread did not stop within {SHUTDOWN_LIMIT:?}");
            }
        }
    }
}

fn write_ca_file(pem: &str) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new()
        .prefix("dbcheckin-test-ca-")
        .suffix(".pem")
        .tempfile()
        .expect("create CA temp file");
    file.write_all(pem.as_bytes()).expect("write CA temp file");
    file.flush().expect("flush CA temp file");
    file.into_temp_path()
}

fn bind_loopback() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener
        .set_nonblocking(true)
        .expect("make listener non-blocking for tokio");
    listener
}

fn local_port(listener: &std::net::TcpListener) -> u16 {
    listener.local_addr().expect("listener address").port()
}

/// A port that was free a moment ago and has nobody listening: connecting is refused.
fn closed_port() -> u16 {
    local_port(&bind_loopback())
}

// ---------------------------------------------------------------------------------------------
// Accepting connections
// ---------------------------------------------------------------------------------------------

struct Listeners {
    https: Option<(std::net::TcpListener, TlsAcceptor)>,
    http: std::net::TcpListener,
}

async fn serve_until(listeners: Listeners, shared: Arc<Shared>, shutdown: oneshot::Receiver<()>) {
    let http = TcpListener::from_std(listeners.http).expect("register HTTP listener");
    let https = listeners.https.map(|(listener, acceptor)| {
        (
            TcpListener::from_std(listener).expect("register HTTPS listener"),
            acceptor,
        )
    });
    let http_loop = accept_loop(http, None, Arc::clone(&shared));
    let https_loop = async {
        match https {
            Some((listener, acceptor)) => accept_loop(listener, Some(acceptor), shared).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = shutdown => {}
        () = http_loop => {}
        () = https_loop => {}
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((tcp, _peer)) => {
                tokio::spawn(handle_connection(tcp, tls.clone(), Arc::clone(&shared)));
            }
            // e.g. EMFILE: back off a little instead of spinning, keep serving.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// A handshake failure only concerns that one connection: count it and carry on.
async fn handle_connection(tcp: TcpStream, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => serve_connection(tcp, Transport::Http, &shared).await,
        Some(acceptor) => match acceptor.accept(tcp).await {
            Ok(stream) => serve_connection(stream, Transport::Https, &shared).await,
            Err(_) => shared.update(|state| state.tls_handshake_failures += 1),
        },
    }
}

/// A connection whose TCP socket can be reached, for the SO_LINGER reset.
trait Conn: AsyncRead + AsyncWrite + Unpin + Send {
    fn tcp(&self) -> &TcpStream;
}

impl Conn for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Conn for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

type Stream<S> = tokio::io::BufReader<S>;

async fn serve_connection<S: Conn>(stream: S, transport: Transport, shared: &Shared) {
    let mut stream = tokio::io::BufReader::new(stream);
    let head = match read_head(&mut stream).await {
        Ok(head) => head,
        Err(HeadError::Closed) => return,
        Err(HeadError::TooLarge) => {
            return respond(stream, Response::text(431, "request head too large\n")).await;
        }
        Err(HeadError::Malformed(why)) => {
            return respond(stream, Response::text(400, format!("bad request: {why}\n"))).await;
        }
    };
    let body = match read_body(&mut stream, &head).await {
        Ok(body) => body,
        Err(BodyError::Closed) => return,
        Err(BodyError::TooLarge) => {
            shared.update(|state| state.requests.push(head.record(transport, Vec::new())));
            let reply = format!("request body larger than {MAX_BODY} bytes\n");
            return respond(stream, Response::text(413, reply)).await;
        }
        Err(BodyError::Malformed(why)) => {
            return respond(stream, Response::text(400, format!("bad request: {why}\n"))).await;
        }
    };
    let request = head.record(transport, body);
    shared.update(|state| state.requests.push(request.clone()));
    if let Some(refusal) = validate(&request) {
        return respond(stream, refusal).await;
    }
    behave(stream, shared.behaviour(transport), &request).await;
}

// ---------------------------------------------------------------------------------------------
// Reading HTTP/1.1 requests
// ---------------------------------------------------------------------------------------------

struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn record(&self, transport: Transport, raw_body: Vec<u8>) -> RecordedRequest {
        let fields = parse_form(&raw_body).unwrap_or_default();
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, v)| v.clone())
        };
        RecordedRequest {
            transport,
            method: self.method.clone(),
            path: self.target.clone(),
            headers: self.headers.clone(),
            arg0: field("arg0"),
            action: field("action"),
            raw_body,
            received: std::time::Instant::now(),
        }
    }
}

enum HeadError {
    Closed,
    TooLarge,
    Malformed(String),
}

enum BodyError {
    Closed,
    TooLarge,
    Malformed(String),
}

enum LineError {
    Closed,
    TooLong,
}

/// Reads one line (LF or CRLF terminated, terminator removed) of at most `limit` bytes.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> Result<Vec<u8>, LineError> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| LineError::Closed)?;
    if line.last() != Some(&b'\n') {
        return Err(if read > limit {
            LineError::TooLong
        } else {
            LineError::Closed
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Head, HeadError> {
    let mut budget = MAX_HEAD;
    let request_line = read_head_line(reader, &mut budget).await?;
    let (method, target) = parse_request_line(&request_line)?;
    let mut headers = Vec::new();
    loop {
        let line = read_head_line(reader, &mut budget).await?;
        if line.is_empty() {
            return Ok(Head {
                method,
                target,
                headers,
            });
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| HeadError::Malformed(format!("header line without colon: {line:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

async fn read_head_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    budget: &mut usize,
) -> Result<String, HeadError> {
    let line = read_line(reader, *budget)
        .await
        .map_err(|error| match error {
            LineError::Closed => HeadError::Closed,
            LineError::TooLong => HeadError::TooLarge,
        })?;
    *budget = budget.saturating_sub(line.len() + 2);
    String::from_utf8(line).map_err(|_| HeadError::Malformed("request head is not UTF-8".into()))
}

fn parse_request_line(line: &str) -> Result<(String, String), HeadError> {
    let parts: Vec<&str> = line.split(' ').collect();
    match parts.as_slice() {
        [method, target, version] if version.starts_with("HTTP/1.") && !method.is_empty() => {
            Ok(((*method).to_owned(), (*target).to_owned()))
        }
        _ => Err(HeadError::Malformed(format!(
            "not an HTTP/1.x request line: {line:?}"
        ))),
    }
}

/// Reads the body as announced: chunked wins over Content-Length (RFC 9112 §6.3), no body when
/// neither is present. Honours `Expect: 100-continue` so curl-like clients don't stall.
async fn read_body<S: Conn>(stream: &mut Stream<S>, head: &Head) -> Result<Vec<u8>, BodyError> {
    if let Some(encoding) = head.header("Transfer-Encoding") {
        if !encoding.eq_ignore_ascii_case("chunked") {
            return Err(BodyError::Malformed(format!(
                "unsupported Transfer-Encoding {encoding:?}"
            )));
        }
        send_continue_if_expected(stream, head).await?;
        return read_chunked(stream).await;
    }
    let Some(length) = head.header("Content-Length") else {
        return Ok(Vec::new());
    };
    let length: usize = length
        .parse()
        .map_err(|_| BodyError::Malformed(format!("bad Content-Length {length:?}")))?;
    if length > MAX_BODY {
        return Err(BodyError::TooLarge);
    }
    send_continue_if_expected(stream, head).await?;
    let mut body = vec![0; length];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|_| BodyError::Closed)?;
    Ok(body)
}

async fn send_continue_if_expected<S: Conn>(
    stream: &mut Stream<S>,
    head: &Head,
) -> Result<(), BodyError> {
    if head
        .header("Expect")
        .is_some_and(|value| value.eq_ignore_ascii_case("100-continue"))
    {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| BodyError::Closed)?;
        stream.flush().await.map_err(|_| BodyError::Closed)?;
    }
    Ok(())
}

async fn read_chunked<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    loop {
        let size = parse_chunk_size(&read_chunk_line(reader).await?)?;
        if size == 0 {
            // Trailer fields, up to the empty line; ignored.
            while !read_chunk_line(reader).await?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        let end = start
            .checked_add(size)
            .filter(|end| *end <= MAX_BODY)
            .ok_or(BodyError::TooLarge)?;
        body.resize(end, 0);
        reader
            .read_exact(&mut body[start..])
            .await
            .map_err(|_| BodyError::Closed)?;
        if !read_chunk_line(reader).await?.is_empty() {
            return Err(BodyError::Malformed(
                "chunk data not followed by CRLF".into(),
            ));
        }
    }
}

async fn read_chunk_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, BodyError> {
    read_line(reader, 8 * 1024)
        .await
        .map_err(|error| match error {
            LineError::Closed => BodyError::Closed,
            LineError::TooLong => BodyError::Malformed("chunk line too long".into()),
        })
}

/// `1a;ext=1` -> 26; extensions are ignored.
fn parse_chunk_size(line: &[u8]) -> Result<usize, BodyError> {
    let text = String::from_utf8_lossy(line);
    let digits = text.split(';').next().unwrap_or_default().trim();
    usize::from_str_radix(digits, 16)
        .map_err(|_| BodyError::Malformed(format!("bad chunk size line {text:?}")))
}

// ---------------------------------------------------------------------------------------------
// Form decoding (by hand: this file must not depend on the dbcheckin library)
// ---------------------------------------------------------------------------------------------

/// `application/x-www-form-urlencoded` body -> fields in order. Errors on a bad `%` escape or
/// non-UTF-8 result, which the real server would not accept either.
fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|byte| *byte == b'&')
        .map(|pair| {
            let (key, value) = match pair.iter().position(|byte| *byte == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

/// `+` is a space, `%XX` a byte; the bytes must form UTF-8.
fn percent_decode(encoded: &[u8]) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let escape = rest.get(..2).and_then(|hex| std::str::from_utf8(hex).ok());
                let value = escape.and_then(|hex| u8::from_str_radix(hex, 16).ok());
                let value = value.ok_or_else(|| {
                    format!(
                        "bad percent escape near {:?}",
                        String::from_utf8_lossy(&rest[..rest.len().min(2)])
                    )
                })?;
                bytes.push(value);
                rest = &rest[2..];
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| "percent-decoded form field is not UTF-8".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Validation: what the real endpoint refuses, whatever the configured behaviour
// ---------------------------------------------------------------------------------------------

fn validate(request: &RecordedRequest) -> Option<Response> {
    if route_path(&request.path) != ENDPOINT_PATH {
        return Some(Response::html(404, NOT_FOUND_PAGE));
    }
    if request.method != "POST" {
        let mut response = Response::html(405, METHOD_NOT_ALLOWED_PAGE);
        response.extra_headers.push(("Allow", "POST".to_owned()));
        return Some(response);
    }
    let why = check_content_type(request).and_then(|()| check_fields(&request.raw_body));
    why.err()
        .map(|why| Response::text(400, format!("bad request: {why}\n")))
}

/// Path part of an origin-form or absolute-form (proxy-style) target, without query.
fn route_path(target: &str) -> &str {
    let without_scheme = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .map(|rest| rest.find('/').map_or("/", |slash| &rest[slash..]));
    let path = without_scheme.unwrap_or(target);
    path.split(['?', '#']).next().unwrap_or(path)
}

fn check_content_type(request: &RecordedRequest) -> Result<(), String> {
    let content_type = request.header("Content-Type");
    let media_type = content_type.map(|value| value.split(';').next().unwrap_or_default().trim());
    match media_type {
        Some(media) if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") => Ok(()),
        Some(_) => Err(format!(
            "Content-Type must be application/x-www-form-urlencoded, got {:?}",
            content_type.unwrap_or_default()
        )),
        None => Err("Content-Type must be application/x-www-form-urlencoded, got none".into()),
    }
}

fn check_fields(body: &[u8]) -> Result<(), String> {
    let fields = parse_form(body)?;
    let names: Vec<&str> = fields.iter().map(|(key, _)| key.as_str()).collect();
    if names != ["arg0", "action"] {
        return Err(format!(
            "form fields must be exactly `arg0` then `action`, got {names:?}"
        ));
    }
    if fields[1].1 != "update" {
        return Err(format!(
            "form field `action` must be `update`, got {:?}",
            fields[1].1
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Replying
// ---------------------------------------------------------------------------------------------

struct Response {
    status: u16,
    content_type: &'static str,
    extra_headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            extra_headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    fn html(status: u16, body: &str) -> Self {
        Response {
            status,
            content_type: "text/html; charset=utf-8",
            extra_headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn head(&self) -> Vec<u8> {
        response_head(
            self.status,
            self.content_type,
            &self.extra_headers,
            self.body.len(),
        )
    }
}

/// Status line and headers; every reply closes the connection, which keeps tests deterministic.
fn response_head(
    status: u16,
    content_type: &str,
    extra_headers: &[(&str, String)],
    content_length: usize,
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nServer: dbcheckin-test-validation-server\r\n\
         Content-Type: {content_type}\r\nContent-Length: {content_length}\r\nConnection: close\r\n",
        reason_phrase(status)
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

async fn behave<S: Conn>(mut stream: Stream<S>, behaviour: Behaviour, request: &RecordedRequest) {
    let response = match behaviour {
        Behaviour::Reply(body) => Response::text(200, body),
        Behaviour::Status(status, body) => Response::text(status, body),
        Behaviour::Garbage => Response::text(200, GARBAGE_BODY),
        Behaviour::Html => Response::html(200, HTML_BLOCK_PAGE),
        Behaviour::Func(compute) => {
            let (status, body) = compute(request);
            Response::text(status, body)
        }
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            Response::text(200, DEFAULT_REPLY)
        }
        Behaviour::Oversize(length) => {
            let _ = write_oversize(&mut stream, length).await;
            return finish(stream).await;
        }
        Behaviour::ResetMidReply => return reset_mid_reply(stream).await,
        // Dropping without shutdown: plain TCP FIN, and no TLS close_notify either.
        Behaviour::CloseWithoutReply => return,
    };
    respond(stream, response).await;
}

async fn respond<S: Conn>(mut stream: Stream<S>, response: Response) {
    let written = async {
        stream.write_all(&response.head()).await?;
        stream.write_all(&response.body).await?;
        stream.flush().await
    };
    if written.await.is_ok() {
        finish(stream).await;
    }
}

/// Graceful close: shut down our side (TLS close_notify + FIN), then drain what the client may
/// still send for a bounded time so the kernel doesn't answer it with an RST that could destroy
/// the reply before the client reads it.
async fn finish<S: Conn>(mut stream: Stream<S>) {
    if stream.shutdown().await.is_ok() {
        let mut sink = tokio::io::sink();
        let drain = tokio::io::copy(&mut stream, &mut sink);
        let _ = tokio::time::timeout(DRAIN_LIMIT, drain).await;
    }
}

/// `{'messages': [], 'padding': 'xxxx…'}\n`, exactly `length` bytes (a prefix of it when
/// `length` is smaller than the literal's skeleton), streamed so huge sizes cost no memory.
async fn write_oversize<S: Conn>(stream: &mut Stream<S>, length: usize) -> std::io::Result<()> {
    const PREFIX: &str = "{'messages': [], 'padding': '";
    const SUFFIX: &str = "'}\n";
    stream
        .write_all(&response_head(
            200,
            "text/plain; charset=utf-8",
            &[],
            length,
        ))
        .await?;
    let skeleton = format!("{PREFIX}{SUFFIX}");
    if length < skeleton.len() {
        stream.write_all(&skeleton.as_bytes()[..length]).await?;
        return stream.flush().await;
    }
    stream.write_all(PREFIX.as_bytes()).await?;
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = length - skeleton.len();
    while left > 0 {
        let now = left.min(chunk.len());
        stream.write_all(&chunk[..now]).await?;
        left -= now;
    }
    stream.write_all(SUFFIX.as_bytes()).await?;
    stream.flush().await
}

/// Head announcing 1000 bytes, 100 bytes of a plausible reply, then an RST (SO_LINGER 0):
/// what a flaky middlebox or a crashing upstream does.
async fn reset_mid_reply<S: Conn>(mut stream: Stream<S>) {
    let partial = "{'messages': [], 'enterprise_info': {'expiration_date': '2027-01-15 00:00:00', \
                   'expiration_reason': 'renewal', 'enterprise_code': 'M1234567890'}}";
    let written = async {
        stream
            .write_all(&response_head(
                200,
                "text/plain; charset=utf-8",
                &[],
                RESET_ANNOUNCED_LENGTH,
            ))
            .await?;
        stream
            .write_all(&partial.as_bytes()[..RESET_SENT_LENGTH])
            .await?;
        stream.flush().await
    };
    let _ = written.await;
    let _ = stream.get_ref().tcp().set_zero_linger();
    drop(stream);
}
