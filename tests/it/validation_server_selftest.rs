//! Self-test of the validation-server test double (`tests/it/common/validation_server.rs`).
//!
//! Other tests diagnose dbcheckin's behaviour *against* this double, so its own behaviour must
//! be pinned down first, with a raw client (tokio + tokio-rustls) that hides nothing.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::validation_server::{
    Behaviour, CertKind, DEFAULT_REPLY, GARBAGE_BODY, HTML_BLOCK_PAGE, MAX_BODY,
    RESET_ANNOUNCED_LENGTH, ServerOptions, Transport, UNTRUSTED_CA_NAME, ValidationServer,
    generate_ca, server_config_from_pem,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Upper bound for anything that should be quick; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(10);
/// A message with the characters that percent-encoding must get right.
const ARG0: &str =
    "{'dbuuid': 'abc-123', 'dbname': \"l'été & co=1+1\", 'nbr_users': 3, 'language': 'fr_FR'}";

// --- raw client ------------------------------------------------------------------------------

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A client that trusts exactly the CA file, as dbcheckin does with an extra CA.
fn trusting(ca_file: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).expect("open CA file") {
        roots
            .add(cert.expect("parse CA file"))
            .expect("add CA to root store");
    }
    client_config(roots)
}

/// Accepts any certificate: used to prove the HTTPS listener still serves after a client
/// rejected its certificate, and to look at what certificate it presents.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn accepting_anything() -> Arc<ClientConfig> {
    let mut config = (*client_config(RootCertStore::empty())).clone();
    config
        .dangerous()
        .set_certificate_verifier(Arc::new(AcceptAnything(provider())));
    Arc::new(config)
}

async fn connect_tls(port: u16, config: Arc<ClientConfig>) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").expect("valid server name");
    timeout(PATIENCE, TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("TLS handshake hung")
}

async fn connect_http(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to HTTP listener")
}

/// The rustls error inside an I/O error from tokio-rustls, if any.
fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Percent-encodes like Python's `urlencode` (space as `+`).
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn update_body(arg0: &str) -> String {
    format!("arg0={}&action=update", form_encode(arg0))
}

fn post(path: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nUser-Agent: selftest\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn update_request(arg0: &str) -> Vec<u8> {
    post(
        "/publisher-warranty/",
        "application/x-www-form-urlencoded",
        &update_body(arg0),
    )
}

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn parse_response(raw: &[u8]) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a head");
    let head = std::str::from_utf8(&raw[..split]).expect("response head is UTF-8");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("header has a colon");
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Sends `request`, reads to EOF (the server always closes), returns the raw bytes.
async fn exchange_raw<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
) -> io::Result<Vec<u8>> {
    stream.write_all(request).await?;
    stream.flush().await?;
    let mut raw = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut raw))
        .await
        .expect("server never closed")?;
    Ok(raw)
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
) -> RawResponse {
    parse_response(
        &exchange_raw(stream, request)
            .await
            .expect("exchange with server"),
    )
}

async fn http_exchange(server: &ValidationServer, request: &[u8]) -> RawResponse {
    exchange(&mut connect_http(server.http_port()).await, request).await
}

async fn https_exchange(server: &ValidationServer, request: &[u8]) -> RawResponse {
    let mut tls = connect_tls(server.https_port(), trusting(server.ca_file()))
        .await
        .expect("TLS handshake with trusted server");
    exchange(&mut tls, request).await
}

/// Reads until EOF or error, returning what arrived and how it ended.
async fn read_until_end<S: AsyncRead + Unpin>(stream: &mut S) -> (Vec<u8>, io::Result<()>) {
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("read hung")
        {
            Ok(0) => return (received, Ok(())),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(error) => return (received, Err(error)),
        }
    }
}

fn start(options: ServerOptions) -> ValidationServer {
    ValidationServer::start(options)
}

fn start_default() -> ValidationServer {
    start(ServerOptions::default())
}

// --- recording and decoding ------------------------------------------------------------------

#[tokio::test]
async fn https_post_is_answered_and_recorded_with_decoded_arg0() {
    let server = start_default();
    assert!(server.https_url().starts_with("https://localhost:"));
    assert!(server.https_url().ends_with("/publisher-warranty/"));

    let response = https_exchange(&server, &update_request(ARG0)).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.text(), DEFAULT_REPLY);
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("Connection"), Some("close"));
    assert_eq!(
        response.header("Content-Length"),
        Some(DEFAULT_REPLY.len().to_string().as_str())
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.transport, Transport::Https);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/publisher-warranty/");
    assert_eq!(request.arg0.as_deref(), Some(ARG0));
    assert_eq!(request.action.as_deref(), Some("update"));
    assert_eq!(request.raw_body, update_body(ARG0).into_bytes());
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let names: Vec<&str> = request
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        names,
        ["Host", "Content-Type", "Content-Length", "User-Agent"]
    );
}

#[tokio::test]
async fn http_post_is_recorded_as_http() {
    let server = start_default();
    assert!(server.http_url().starts_with("http://127.0.0.1:"));

    let response = http_exchange(&server, &update_request(ARG0)).await;

    assert_eq!(response.status, 200);
    let requests = server.wait_for_requests_async(1, PATIENCE).await;
    assert_eq!(requests[0].transport, Transport::Http);
    assert_eq!(requests[0].arg0.as_deref(), Some(ARG0));
}

#[tokio::test]
async fn chunked_request_body_is_decoded() {
    let server = start_default();
    let body = update_body(ARG0);
    let (first, second) = body.split_at(10);
    let request = format!(
        "POST /publisher-warranty/ HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x};ext=1\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\nX-Trailer: 1\r\n\r\n",
        first.len(),
        second.len()
    );

    let response = http_exchange(&server, request.as_bytes()).await;

    assert_eq!(response.status, 200, "{}", response.text());
    let request = &server.requests()[0];
    assert_eq!(request.raw_body, body.into_bytes());
    assert_eq!(request.arg0.as_deref(), Some(ARG0));
}

#[test]
fn sync_test_can_block_until_a_request_arrives() {
    use std::io::{Read, Write};
    let server = start_default();
    let port = server.http_port();
    let client = std::thread::spawn(move || {
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.write_all(&update_request(ARG0)).expect("send request");
        let mut reply = Vec::new();
        tcp.read_to_end(&mut reply).expect("read reply");
        parse_response(&reply).status
    });

    let requests = server.wait_for_requests(1, PATIENCE);

    assert_eq!(requests[0].arg0.as_deref(), Some(ARG0));
    assert_eq!(client.join().expect("client thread"), 200);
}

#[test]
#[should_panic(expected = "timed out after 50ms waiting for 1 request(s); got 0")]
fn waiting_for_requests_that_never_come_panics_clearly() {
    start_default().wait_for_requests(1, Duration::from_millis(50));
}

// --- what the real endpoint refuses ----------------------------------------------------------

#[tokio::test]
async fn other_path_is_404_html() {
    let server = start_default();
    let request = post(
        "/web/login",
        "application/x-www-form-urlencoded",
        &update_body(ARG0),
    );

    let response = http_exchange(&server, &request).await;

    assert_eq!(response.status, 404);
    assert!(
        response
            .header("Content-Type")
            .is_some_and(|ct| ct.starts_with("text/html"))
    );
    assert!(response.text().contains("Not Found"));
    assert_eq!(server.requests()[0].path, "/web/login");
}

#[tokio::test]
async fn other_method_is_405() {
    let server = start_default();

    let response = http_exchange(
        &server,
        b"GET /publisher-warranty/ HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;

    assert_eq!(response.status, 405);
    assert_eq!(response.header("Allow"), Some("POST"));
    assert_eq!(server.requests()[0].method, "GET");
}

#[tokio::test]
async fn wrong_content_type_or_fields_are_400_with_reason() {
    let server = start_default();
    let form = "application/x-www-form-urlencoded";
    let arg0 = form_encode(ARG0);
    let cases = [
        (
            post("/publisher-warranty/", "text/plain", &update_body(ARG0)),
            "Content-Type",
        ),
        (
            post(
                "/publisher-warranty/",
                form,
                &format!("action=update&arg0={arg0}"),
            ),
            "`arg0` then `action`",
        ),
        (
            post("/publisher-warranty/", form, &format!("arg0={arg0}")),
            "`arg0` then `action`",
        ),
        (
            post(
                "/publisher-warranty/",
                form,
                &format!("arg0={arg0}&action=check"),
            ),
            "must be `update`",
        ),
        (
            post("/publisher-warranty/", form, "arg0=%ZZ&action=update"),
            "percent escape",
        ),
    ];

    for (request, reason) in cases {
        let response = http_exchange(&server, &request).await;
        assert_eq!(
            response.status,
            400,
            "for {}",
            String::from_utf8_lossy(&request)
        );
        assert!(
            response.text().contains(reason),
            "{:?} lacks {reason:?}",
            response.text()
        );
    }
    assert_eq!(
        server.requests().len(),
        5,
        "refused requests are recorded too"
    );
}

#[tokio::test]
async fn body_over_one_mib_is_413() {
    let server = start_default();
    let body = format!("arg0={}&action=update", "x".repeat(MAX_BODY));

    let response = http_exchange(
        &server,
        &post(
            "/publisher-warranty/",
            "application/x-www-form-urlencoded",
            &body,
        ),
    )
    .await;

    assert_eq!(response.status, 413);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].raw_body.is_empty());
}

// --- certificates ----------------------------------------------------------------------------

/// A verifying client must reject `kind` with `expected`; the server counts the failed
/// handshake and keeps serving HTTPS.
async fn assert_rejected(
    kind: CertKind,
    expected: fn(&CertificateError) -> bool,
) -> ValidationServer {
    let server = start(ServerOptions {
        cert: kind,
        ..ServerOptions::default()
    });

    let error = connect_tls(server.https_port(), trusting(server.ca_file()))
        .await
        .expect_err("a verifying client must reject this certificate");

    match rustls_error(&error) {
        Some(rustls::Error::InvalidCertificate(cert_error)) if expected(cert_error) => {}
        other => panic!("{kind:?}: unexpected error {other:?} ({error})"),
    }
    assert_eq!(
        server
            .wait_for_tls_handshake_failures_async(1, PATIENCE)
            .await,
        1
    );
    assert!(
        server.requests().is_empty(),
        "a failed handshake is not a request"
    );
    let mut tls = connect_tls(server.https_port(), accepting_anything())
        .await
        .expect("server still accepts TLS after a rejected handshake");
    assert_eq!(exchange(&mut tls, &update_request(ARG0)).await.status, 200);
    assert_eq!(server.requests()[0].transport, Transport::Https);
    server
}

#[tokio::test]
async fn untrusted_cert_fails_with_unknown_issuer_named_evil_proxy() {
    let server = assert_rejected(CertKind::Untrusted, |e| {
        matches!(e, CertificateError::UnknownIssuer)
    })
    .await;

    let tls = connect_tls(server.https_port(), accepting_anything())
        .await
        .expect("handshake");
    let leaf = &tls
        .get_ref()
        .1
        .peer_certificates()
        .expect("server sent certificates")[0];
    let issuer_named = leaf
        .windows(UNTRUSTED_CA_NAME.len())
        .any(|w| w == UNTRUSTED_CA_NAME.as_bytes());
    assert!(issuer_named, "leaf should be issued by {UNTRUSTED_CA_NAME}");
}

#[tokio::test]
async fn expired_cert_fails_with_expired() {
    assert_rejected(CertKind::Expired, |e| {
        matches!(
            e,
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        )
    })
    .await;
}

#[tokio::test]
async fn not_yet_valid_cert_fails_with_not_valid_yet() {
    assert_rejected(CertKind::NotYetValid, |e| {
        matches!(
            e,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }
        )
    })
    .await;
}

#[tokio::test]
async fn wrong_name_cert_fails_with_not_valid_for_name() {
    assert_rejected(CertKind::WrongName, |e| {
        matches!(
            e,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    })
    .await;
}

#[tokio::test]
async fn disabled_https_port_refuses_connections() {
    let server = start(ServerOptions {
        https_enabled: false,
        ..ServerOptions::default()
    });

    let error = TcpStream::connect(("127.0.0.1", server.https_port()))
        .await
        .expect_err("port is closed");

    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(
        http_exchange(&server, &update_request(ARG0)).await.status,
        200,
        "HTTP still serves"
    );
}

#[tokio::test]
async fn exported_ca_issues_certificates_clients_can_verify() {
    let ca = generate_ca("Diagnose Test CA");
    let now = std::time::SystemTime::now();
    let day = Duration::from_secs(86_400);
    let (cert_pem, key_pem) = ca.issue(&["localhost"], now - day, now + day);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config_from_pem(&cert_pem, &key_pem));
    let serve = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        acceptor.accept(tcp).await.map(|_| ())
    });
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der()).expect("add CA");

    let connected = connect_tls(port, client_config(roots)).await;

    assert!(connected.is_ok(), "{connected:?}");
    assert!(serve.await.expect("server task").is_ok());
    assert_eq!(ca.common_name(), "Diagnose Test CA");
    assert!(ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
}

// --- behaviours ------------------------------------------------------------------------------

#[tokio::test]
async fn behaviour_can_differ_per_transport() {
    let server = start_default();
    server.set_behaviour_for(
        Transport::Http,
        Behaviour::Status(503, "maintenance\n".into()),
    );

    let http = http_exchange(&server, &update_request(ARG0)).await;
    let https = https_exchange(&server, &update_request(ARG0)).await;

    assert_eq!((http.status, http.text().as_str()), (503, "maintenance\n"));
    assert_eq!((https.status, https.text().as_str()), (200, DEFAULT_REPLY));
}

#[tokio::test]
async fn content_behaviours_send_what_they_promise() {
    let server = start_default();
    let reply =
        "{'messages': ['hi'], 'enterprise_info': {'expiration_date': '2027-01-15 00:00:00'}}\n";
    let cases = [
        (
            Behaviour::Reply(reply.into()),
            200,
            "text/plain; charset=utf-8",
            reply,
        ),
        (
            Behaviour::Status(502, "bad gateway".into()),
            502,
            "text/plain; charset=utf-8",
            "bad gateway",
        ),
        (
            Behaviour::Garbage,
            200,
            "text/plain; charset=utf-8",
            GARBAGE_BODY,
        ),
        (
            Behaviour::Html,
            200,
            "text/html; charset=utf-8",
            HTML_BLOCK_PAGE,
        ),
    ];

    for (behaviour, status, content_type, body) in cases {
        server.set_behaviour(behaviour.clone());
        for response in [
            http_exchange(&server, &update_request(ARG0)).await,
            https_exchange(&server, &update_request(ARG0)).await,
        ] {
            assert_eq!(response.status, status, "{behaviour:?}");
            assert_eq!(
                response.header("Content-Type"),
                Some(content_type),
                "{behaviour:?}"
            );
            assert_eq!(response.text(), body, "{behaviour:?}");
        }
    }
    assert!(HTML_BLOCK_PAGE.starts_with("<!DOCTYPE html><html><head><title>Access Denied</title>"));
}

#[tokio::test]
async fn func_computes_the_reply_from_the_request() {
    let server = start_default();
    server.set_behaviour(Behaviour::Func(Arc::new(|request| {
        let arg0 = request.arg0.clone().unwrap_or_default();
        let status = if request.transport == Transport::Https {
            200
        } else {
            402
        };
        (
            status,
            format!("{{'messages': ['{} chars']}}", arg0.chars().count()),
        )
    })));

    let https = https_exchange(&server, &update_request(ARG0)).await;
    let http = http_exchange(&server, &update_request("{}")).await;

    assert_eq!(
        (https.status, https.text()),
        (
            200,
            format!("{{'messages': ['{} chars']}}", ARG0.chars().count())
        )
    );
    assert_eq!(
        (http.status, http.text()),
        (402, "{'messages': ['2 chars']}".to_owned())
    );
}

#[tokio::test]
async fn oversize_sends_exactly_the_announced_bytes() {
    let server = start_default();
    let length = 3 * 1024 * 1024 + 7;
    server.set_behaviour(Behaviour::Oversize(length));

    for response in [
        http_exchange(&server, &update_request(ARG0)).await,
        https_exchange(&server, &update_request(ARG0)).await,
    ] {
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("Content-Length"),
            Some(length.to_string().as_str())
        );
        assert_eq!(response.body.len(), length);
        assert!(response.body.starts_with(b"{'messages': ["));
        assert!(response.body.ends_with(b"'}\n"));
    }
}

#[tokio::test]
async fn reset_mid_reply_breaks_the_read() {
    let server = start_default();
    server.set_behaviour(Behaviour::ResetMidReply);

    let mut http = connect_http(server.http_port()).await;
    http.write_all(&update_request(ARG0)).await.expect("send");
    let (received, ended) = read_until_end(&mut http).await;
    let error = ended.expect_err("plain TCP read must fail with a reset");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}");
    assert!(
        received.len() < RESET_ANNOUNCED_LENGTH,
        "got {} bytes",
        received.len()
    );

    let mut tls = connect_tls(server.https_port(), trusting(server.ca_file()))
        .await
        .expect("handshake");
    tls.write_all(&update_request(ARG0)).await.expect("send");
    let (received, ended) = read_until_end(&mut tls).await;
    let error = ended.expect_err("TLS read must fail");
    let kinds = [io::ErrorKind::ConnectionReset, io::ErrorKind::UnexpectedEof];
    assert!(kinds.contains(&error.kind()), "{error}");
    assert!(received.len() < RESET_ANNOUNCED_LENGTH);
    assert_eq!(
        server.requests().len(),
        2,
        "the request was read before the reset"
    );
}

#[tokio::test]
async fn close_without_reply_sends_nothing() {
    let server = start_default();
    server.set_behaviour(Behaviour::CloseWithoutReply);

    let mut http = connect_http(server.http_port()).await;
    http.write_all(&update_request(ARG0)).await.expect("send");
    let (received, _ended) = read_until_end(&mut http).await;
    assert!(received.is_empty());

    let mut tls = connect_tls(server.https_port(), trusting(server.ca_file()))
        .await
        .expect("handshake");
    tls.write_all(&update_request(ARG0)).await.expect("send");
    let (received, ended) = read_until_end(&mut tls).await;
    assert!(received.is_empty());
    assert_eq!(
        ended.expect_err("no close_notify").kind(),
        io::ErrorKind::UnexpectedEof
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn slow_server_trips_the_client_timeout() {
    let server = start_default();
    server.set_behaviour(Behaviour::Slow(Duration::from_secs(5)));
    let mut http = connect_http(server.http_port()).await;
    http.write_all(&update_request(ARG0)).await.expect("send");

    let mut byte = [0; 1];
    let read = timeout(Duration::from_millis(200), http.read(&mut byte)).await;

    assert!(
        read.is_err(),
        "client timeout should fire first, got {read:?}"
    );
    let requests = server.wait_for_requests_async(1, PATIENCE).await;
    assert_eq!(
        requests[0].arg0.as_deref(),
        Some(ARG0),
        "read before stalling"
    );
}

#[tokio::test]
async fn slow_server_replies_after_the_delay() {
    let server = start_default();
    let delay = Duration::from_millis(300);
    server.set_behaviour(Behaviour::Slow(delay));
    let started = Instant::now();

    let response = http_exchange(&server, &update_request(ARG0)).await;

    assert!(
        started.elapsed() >= delay,
        "replied after {:?}",
        started.elapsed()
    );
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, DEFAULT_REPLY)
    );
}

// --- lifecycle -------------------------------------------------------------------------------

#[tokio::test]
async fn drop_stops_promptly_even_with_a_slow_reply_in_flight() {
    let server = start(ServerOptions {
        behaviour: Behaviour::Slow(Duration::from_secs(60)),
        ..ServerOptions::default()
    });
    let (http_port, https_port) = (server.http_port(), server.https_port());
    let ca_file = server.ca_file().to_owned();
    let mut in_flight = connect_http(http_port).await;
    in_flight
        .write_all(&update_request(ARG0))
        .await
        .expect("send");
    server.wait_for_requests_async(1, PATIENCE).await;

    let started = Instant::now();
    drop(server);

    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        started.elapsed()
    );
    let (received, _ended) = read_until_end(&mut in_flight).await;
    assert!(
        received.is_empty(),
        "the in-flight connection is closed, unanswered"
    );
    for port in [http_port, https_port] {
        let refused = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect_err("listener is gone");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    }
    assert!(!ca_file.exists(), "the CA temp file is removed");
}
