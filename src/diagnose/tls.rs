//! TLS step: the handshake check-ins would do (same roots, same webpki
//! verification), and on failure the reason in plain words: who issued an
//! untrusted certificate (which unmasks a TLS-inspecting proxy), expiry
//! against the local clock, the names a mismatched certificate is for, or a
//! handshake cut short.
//!
//! rustls only shows the certificates once they are accepted, so the
//! verifier here is webpki's own wrapped in one that first notes what the
//! server presented. It never accepts anything webpki refuses.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::der;
use super::finding::{Code, Problem, seconds};

/// The webpki verifier, noting the chain it was asked to verify.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    presented: Mutex<Vec<CertificateDer<'static>>>,
}

impl Recorder {
    fn presented(&self) -> Vec<CertificateDer<'static>> {
        self.presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self
            .presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = chain;
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A verified session, with what the check reports about it.
pub struct Verified {
    pub stream: TlsStream<TcpStream>,
    pub detail: String,
}

/// A failed handshake: the finding, and the check's word and detail.
#[derive(Debug)]
pub struct Failed {
    pub outcome: &'static str,
    pub problem: Problem,
}

/// Runs the handshake with `host` on `stream`; `place` names the peer in
/// messages (`services.odoo.com (203.0.113.7) port 443`).
pub async fn handshake(
    stream: TcpStream,
    host: &str,
    place: &str,
    roots: Arc<RootCertStore>,
    timeout: Duration,
) -> Result<Verified, Failed> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let failed = |outcome, message: String, remedy: String| Failed {
        outcome,
        problem: Problem::new(Code::TlsHandshakeFailed, message, remedy),
    };
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| {
            failed(
                "not_probed",
                format!("TLS with {place} cannot be checked: {e}."),
                "Set [server] ca_file or install the ca-certificates package.".into(),
            )
        })?;
    let recorder = Arc::new(Recorder {
        inner,
        presented: Mutex::new(Vec::new()),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            failed(
                "not_probed",
                format!("TLS cannot be set up: {e}."),
                "Report this as a bug.".into(),
            )
        })?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|e| {
        failed(
            "not_probed",
            format!("{host} is not a valid TLS server name: {e}."),
            "Correct the host in [server] url.".into(),
        )
    })?;
    let connecting = TlsConnector::from(Arc::new(config)).connect(name, stream);
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(stream)) => {
            let version = stream
                .get_ref()
                .1
                .protocol_version()
                .map_or_else(|| "TLS".to_string(), |v| format!("{v:?}"));
            let presented = recorder.presented();
            let detail = match presented.first().and_then(|c| der::summary(c)) {
                Some(leaf) => format!(
                    "verified, {version}: certificate {} issued by {}{}",
                    leaf.subject,
                    leaf.issuer,
                    leaf.not_after
                        .map(|t| format!(", valid until {}", day(t)))
                        .unwrap_or_default()
                ),
                None => format!("verified, {version}"),
            };
            Ok(Verified { stream, detail })
        }
        Ok(Err(error)) => Err(explain(&error, host, place, &recorder.presented())),
        Err(_) => Err(failed(
            "timeout",
            format!(
                "TLS with {place}: no handshake answer within {}: something holds or swallows the TLS handshake (a DPI firewall, or a proxy).",
                seconds(timeout)
            ),
            format!(
                "Let TLS to {host} through unmodified: check DPI/IPS rules and transparent proxies on the way."
            ),
        )),
    }
}

/// The finding for a failed handshake.
fn explain(error: &io::Error, host: &str, place: &str, presented: &[CertificateDer<'_>]) -> Failed {
    let leaf = presented.first().and_then(|c| der::summary(c));
    let certificate = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .and_then(|e| match e {
            rustls::Error::InvalidCertificate(c) => Some(c),
            _ => None,
        });
    match certificate {
        Some(CertificateError::UnknownIssuer) => untrusted(host, place, presented),
        Some(CertificateError::Expired) => {
            expired(host, place, leaf.as_ref().and_then(|l| l.not_after), None)
        }
        Some(CertificateError::ExpiredContext { time, not_after }) => {
            expired(host, place, Some(unix(*not_after)), Some(unix(*time)))
        }
        Some(CertificateError::NotValidYet) => {
            not_yet_valid(host, place, leaf.as_ref().and_then(|l| l.not_before), None)
        }
        Some(CertificateError::NotValidYetContext { time, not_before }) => {
            not_yet_valid(host, place, Some(unix(*not_before)), Some(unix(*time)))
        }
        Some(CertificateError::NotValidForName) => {
            let names = leaf.map_or_else(|| "other names".to_string(), |l| l.subject);
            mismatch(host, place, &names)
        }
        Some(CertificateError::NotValidForNameContext { presented, .. }) => {
            mismatch(host, place, &presented.join(", "))
        }
        Some(other) => Failed {
            outcome: "certificate_rejected",
            problem: Problem::new(
                Code::TlsHandshakeFailed,
                format!("TLS with {place}: the certificate was rejected ({other:?})."),
                format!(
                    "Find out what presents this certificate for {host}: a proxy or firewall in the path, or a server misconfiguration."
                ),
            ),
        },
        None => cut_short(error, host, place),
    }
}

fn untrusted(host: &str, place: &str, presented: &[CertificateDer<'_>]) -> Failed {
    // The top of the chain as sent names the authority nobody here trusts.
    let top = presented.last().and_then(|c| der::summary(c));
    let leaf = presented.first().and_then(|c| der::summary(c));
    let issuer = top.as_ref().map_or_else(
        || "an unreadable issuer".to_string(),
        |t| format!("\"{}\"", t.issuer),
    );
    let subject = leaf
        .map(|l| format!(" for \"{}\"", l.subject))
        .unwrap_or_default();
    Failed {
        outcome: "untrusted_issuer",
        problem: Problem::new(
            Code::TlsUntrustedIssuer,
            format!(
                "TLS with {place}: the certificate{subject} is issued by {issuer}, which this host does not trust. The real server's certificate comes from a public CA, so a TLS-inspecting proxy or firewall most likely re-signs the traffic."
            ),
            format!(
                "Exempt {host} from TLS inspection on that proxy or firewall, or add the CA {issuer} (ask the network team for its certificate) to [server] ca_file."
            ),
        ),
    }
}

fn expired(
    host: &str,
    place: &str,
    not_after: Option<OffsetDateTime>,
    now: Option<OffsetDateTime>,
) -> Failed {
    let now = now.unwrap_or_else(OffsetDateTime::now_utc);
    let when = not_after.map_or_else(
        || "in the past".to_string(),
        |t| format!("on {}", minute(t)),
    );
    Failed {
        outcome: "expired",
        problem: Problem::new(
            Code::TlsExpired,
            format!(
                "TLS with {place}: the certificate expired {when}, and this host's clock says {}.",
                minute(now)
            ),
            format!(
                "If this host's clock is right (timedatectl), whatever answers for {host} presents an outdated certificate: a proxy re-signing traffic, or the wrong server. If the clock is wrong, fix it (NTP)."
            ),
        ),
    }
}

fn not_yet_valid(
    host: &str,
    place: &str,
    not_before: Option<OffsetDateTime>,
    now: Option<OffsetDateTime>,
) -> Failed {
    let now = now.unwrap_or_else(OffsetDateTime::now_utc);
    let when = not_before.map_or_else(|| "later".to_string(), |t| format!("on {}", minute(t)));
    Failed {
        outcome: "not_yet_valid",
        problem: Problem::new(
            Code::TlsNotYetValid,
            format!(
                "TLS with {place}: the certificate only becomes valid {when}, and this host's clock says {}: this host's clock is probably behind.",
                minute(now)
            ),
            format!(
                "Fix this host's clock (timedatectl set-ntp true; chronyc tracking); if it is right, find out what presents this certificate for {host}."
            ),
        ),
    }
}

fn mismatch(host: &str, place: &str, names: &str) -> Failed {
    Failed {
        outcome: "name_mismatch",
        problem: Problem::new(
            Code::TlsNameMismatch,
            format!(
                "TLS with {place}: the certificate is for {names}, not for {host}: something else answers on this address (a proxy, a captive portal, or a wrong DNS or /etc/hosts entry)."
            ),
            format!(
                "Check that {host} resolves to the real server (dig {host}; /etc/hosts), and that no transparent proxy answers for it."
            ),
        ),
    }
}

fn cut_short(error: &io::Error, host: &str, place: &str) -> Failed {
    let what = match error.kind() {
        io::ErrorKind::ConnectionReset => {
            "the connection was reset during the handshake".to_string()
        }
        io::ErrorKind::UnexpectedEof => {
            "the other side closed the connection during the handshake".to_string()
        }
        _ => format!("the handshake failed: {error}"),
    };
    Failed {
        outcome: "handshake_failed",
        problem: Problem::new(
            Code::TlsHandshakeFailed,
            format!(
                "TLS with {place}: {what}. A firewall or DPI device that cuts TLS to this host does this, as does a port that does not speak TLS."
            ),
            format!(
                "Let TLS to {host} through unmodified (DPI/IPS rules, SNI filtering), and check the port in [server] url."
            ),
        ),
    }
}

fn unix(time: UnixTime) -> OffsetDateTime {
    i64::try_from(time.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-01-31 23:59 UTC`
fn minute(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}

fn day(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).date().to_string()
}
