//! TLS: the client configuration and its roots (the system store plus
//! `[server] ca_file`), which `diagnose` shares.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::failure::{Failure, Kind};

pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, Failure> {
    let roots = root_store(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| Failure::new(Kind::Config, format!("cannot set up TLS: {e}")))
}

/// Roots: the system store plus `ca_file`. The system store may legitimately be
/// empty (minimal containers) when `ca_file` provides the chain. Shared with
/// `diagnose`, whose TLS probe must trust exactly what check-ins trust.
pub(crate) fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, Failure> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!("skipping unreadable system certificate: {error}");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, "system root certificates loaded");
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| {
                Failure::new(
                    Kind::Config,
                    format!(
                        "[server] ca_file {}: a certificate is not usable as a root: {e}",
                        path.display()
                    ),
                )
            })?;
        }
    }
    if roots.is_empty() {
        return Err(Failure::new(
            Kind::Config,
            "no trusted root certificates: install the ca-certificates package or set [server] ca_file",
        ));
    }
    Ok(roots)
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, Failure> {
    let unusable = |why: String| {
        Failure::new(
            Kind::Config,
            format!("[server] ca_file {}: {why}", path.display()),
        )
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| unusable(format!("cannot read it: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| unusable(format!("not a valid PEM bundle: {e}")))?;
    if certs.is_empty() {
        return Err(unusable("it holds no PEM certificate".into()));
    }
    Ok(certs)
}
