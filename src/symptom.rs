//! The stable codes of what can stand between this host and the validation
//! server. `diagnose` reports its findings with them, and `transport` names a
//! failed check-in's symptom with the same ones (`tcp_timeout on 443`), so that
//! a check-in's error and the diagnosis that follows speak the same words.
//!
//! The codes are an interface: they appear in the JSON output, in
//! docs/diagnose.md, in the README's troubleshooting section and in tests, so
//! scripts can act on them. Never rename one.

use serde::Serialize;

/// The stable code of a symptom or a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    DnsNxdomain,
    DnsNoAnswer,
    DnsTimeout,
    DnsNoResolver,
    TcpRefused,
    TcpTimeout,
    TcpUnreachable,
    TcpBlockedLocally,
    ProxyUnreachable,
    ProxyAuthRequired,
    ProxyRefused,
    TlsUntrustedIssuer,
    TlsExpired,
    TlsNotYetValid,
    TlsNameMismatch,
    TlsHandshakeFailed,
    HttpStatus,
    /// Connected (and TLS verified), but no HTTP response came back.
    HttpNoResponse,
    CaptivePortal,
    ClockSkew,
    PlainHttpOnly,
    NoProxyBypass,
    /// `ca_file` cannot be used, or there is no trusted root at all: check-ins
    /// cannot even start.
    CaFileUnusable,
    /// The running daemon sees other proxy variables than this shell.
    DaemonProxyDiffers,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::DnsNxdomain => "dns_nxdomain",
            Code::DnsNoAnswer => "dns_no_answer",
            Code::DnsTimeout => "dns_timeout",
            Code::DnsNoResolver => "dns_no_resolver",
            Code::TcpRefused => "tcp_refused",
            Code::TcpTimeout => "tcp_timeout",
            Code::TcpUnreachable => "tcp_unreachable",
            Code::TcpBlockedLocally => "tcp_blocked_locally",
            Code::ProxyUnreachable => "proxy_unreachable",
            Code::ProxyAuthRequired => "proxy_auth_required",
            Code::ProxyRefused => "proxy_refused",
            Code::TlsUntrustedIssuer => "tls_untrusted_issuer",
            Code::TlsExpired => "tls_expired",
            Code::TlsNotYetValid => "tls_not_yet_valid",
            Code::TlsNameMismatch => "tls_name_mismatch",
            Code::TlsHandshakeFailed => "tls_handshake_failed",
            Code::HttpStatus => "http_status",
            Code::HttpNoResponse => "http_no_response",
            Code::CaptivePortal => "captive_portal",
            Code::ClockSkew => "clock_skew",
            Code::PlainHttpOnly => "plain_http_only",
            Code::NoProxyBypass => "no_proxy_bypass",
            Code::CaFileUnusable => "ca_file_unusable",
            Code::DaemonProxyDiffers => "daemon_proxy_differs",
        }
    }
}
