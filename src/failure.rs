//! The stable classification of everything that can go wrong in a check-in.
//!
//! Kinds are part of the interface: they appear in JSON output, in the state the
//! daemon keeps and in monitoring, so scripts can act on them. Never rename one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a check-in (or one step of it) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The configuration cannot work (unreadable CA file, bad proxy URL, …).
    Config,
    /// The server name did not resolve.
    Dns,
    /// The server (or a firewall) answered the connection with a reset.
    Refused,
    /// An ICMP host/network unreachable came back.
    Unreachable,
    /// This host's own firewall refused to send the packet (EPERM/EACCES).
    Blocked,
    /// Nothing came back in time: typical of a firewall that drops packets.
    Timeout,
    /// The TLS handshake failed or the certificate was not trusted.
    Tls,
    /// The proxy could not be reached or refused the tunnel.
    Proxy,
    /// The connection was cut in the middle of the exchange.
    Reset,
    /// The server answered with an HTTP error status.
    HttpStatus,
    /// The server's answer is not a reply Odoo would accept.
    BadReply,
    /// PostgreSQL refused or failed a query.
    Database,
    /// The database role lacks a privilege dbcheckin needs.
    Permission,
    /// A database named in the configuration is not an Odoo database.
    NotOdoo,
    /// An Enterprise database whose custom code cannot be counted on this
    /// host (Odoo's code or configuration not found): not sent.
    OdooCode,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Dns => "dns",
            Kind::Refused => "refused",
            Kind::Unreachable => "unreachable",
            Kind::Blocked => "blocked",
            Kind::Timeout => "timeout",
            Kind::Tls => "tls",
            Kind::Proxy => "proxy",
            Kind::Reset => "reset",
            Kind::HttpStatus => "http_status",
            Kind::BadReply => "bad_reply",
            Kind::Database => "database",
            Kind::Permission => "permission",
            Kind::NotOdoo => "not_odoo",
            Kind::OdooCode => "odoo_code",
        }
    }

    /// True when no HTTP response came back at all, the only case where the
    /// plain-HTTP fallback may be tried.
    pub fn is_no_response(self) -> bool {
        matches!(
            self,
            Kind::Dns
                | Kind::Refused
                | Kind::Unreachable
                | Kind::Blocked
                | Kind::Timeout
                | Kind::Tls
                | Kind::Proxy
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure with a message meant for a human at 3 a.m.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    /// For a network failure, the `dbcheckin diagnose` finding code that
    /// names it, with the port (`tcp_timeout on 443`, `dns for HOST`), so a
    /// failed check-in speaks the same words as the diagnosis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symptom: Option<String>,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            symptom: None,
        }
    }

    pub fn with_symptom(mut self, symptom: impl Into<String>) -> Self {
        self.symptom = Some(symptom.into());
        self
    }
}
