//! Prometheus metrics of the daemon (placeholder API until the real module lands).

use std::sync::Arc;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::collect::UserCounts;
use crate::transport::Scheme;

#[derive(Debug, Default)]
pub struct Metrics;

pub struct DbGauges {
    pub last_success: Option<OffsetDateTime>,
    pub last_attempt: Option<OffsetDateTime>,
    pub expiration: Option<OffsetDateTime>,
    pub users: Option<UserCounts>,
    pub consecutive_failures: u32,
}

pub enum CheckinResult {
    Ok,
    Failed,
    Skipped,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics
    }
    pub fn set_database(&self, _name: &str, _uuid: &str, _gauges: DbGauges) {}
    pub fn set_expiration(&self, _name: &str, _expiration: Option<OffsetDateTime>) {}
    pub fn retain_databases(&self, _names: &[&str]) {}
    pub fn count_checkin(&self, _result: CheckinResult, _transport: Option<Scheme>) {}
}

pub async fn serve(
    _listener: tokio::net::TcpListener,
    _metrics: Arc<Metrics>,
    _shutdown: CancellationToken,
) {
}
