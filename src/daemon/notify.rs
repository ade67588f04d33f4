//! systemd's notification protocol (`Type=notify`): READY, STATUS, WATCHDOG,
//! RELOADING, STOPPING. Outside systemd (`NOTIFY_SOCKET` unset) every call is a
//! no-op, so the daemon runs the same in a terminal.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("cannot notify systemd: {e}");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// Since systemd 253 a RELOADING=1 must carry the monotonic time.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => tracing::debug!("cannot read the monotonic clock: {e}"),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// How often to ping the watchdog: half of `WatchdogSec=`, as sd_watchdog_enabled(3)
/// recommends; `None` when systemd does not watch this process.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| timeout / 2)
}
