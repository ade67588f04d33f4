//! SIGHUP: the configuration read again off the loop; an invalid one is reported and
//! the running one kept.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Event, Scheduler, notify};
use crate::checkin::CheckIn;
use crate::config::Settings;
use crate::schedule::Clock;
use crate::state::StateStore;

/// A configuration read by a reload, ready to replace the running one.
pub(super) struct Loaded {
    settings: Settings,
    checkin: CheckIn,
    store: StateStore,
}

impl Scheduler {
    /// SIGHUP: read the configuration again, off the loop (files, certificates
    /// and the state directory may sit on a slow disk). One reload at a time;
    /// SIGHUP meanwhile reads it once more afterwards.
    pub(super) fn reload(&mut self) {
        if self.reloading.is_some() {
            self.reload_again = true;
            return;
        }
        notify::reloading();
        self.reloading = Some(Clock::system().now());
        let path = self.config_path.clone();
        let events = self.events.clone();
        self.tracker.spawn(async move {
            let loaded = tokio::task::spawn_blocking(move || load_config(path))
                .await
                .unwrap_or_else(|e| Err(format!("reading the configuration failed: {e}")));
            let _ = events.send(Event::Reloaded(loaded)).await;
        });
    }

    /// A reload read the configuration. An invalid one is reported and the
    /// running one kept: a typo must not stop the check-ins.
    pub(super) fn reloaded(&mut self, loaded: Result<Box<Loaded>, String>) {
        self.reloading = None;
        match loaded {
            Err(message) => {
                tracing::error!(
                    kind = "config",
                    "reload failed, keeping the running configuration: {message}"
                );
            }
            Ok(loaded) => {
                let Loaded {
                    settings,
                    checkin,
                    store,
                } = *loaded;
                self.warn_restart_needed(&settings);
                let now = Clock::system().now();
                let rng = &mut self.rng;
                self.timetable
                    .reconfigure(settings.schedule, now, &mut || rng.f64());
                self.settings = settings;
                self.checkin = Arc::new(checkin);
                self.store = store;
                tracing::info!(
                    "configuration reloaded from {}",
                    describe_sources(&self.settings.sources)
                );
                self.reuse_discovery = false;
                self.request_discovery();
            }
        }
        notify::ready(&self.summary());
        if std::mem::take(&mut self.reload_again) {
            self.reload();
        }
    }

    fn warn_restart_needed(&self, new: &Settings) {
        if new.daemon.control_socket != self.settings.daemon.control_socket {
            tracing::warn!(
                "[daemon] control_socket changed: it takes effect when the service restarts"
            );
        }
        if new.metrics.listen != self.settings.metrics.listen {
            tracing::warn!("[metrics] listen changed: it takes effect when the service restarts");
        }
        if new.server.concurrency != self.settings.server.concurrency {
            tracing::warn!(
                "[server] concurrency changed: it takes effect when the service restarts"
            );
        }
        if new.postgres.max_connections != self.settings.postgres.max_connections {
            tracing::warn!(
                "[postgres] max_connections changed: it takes effect when the service restarts"
            );
        }
    }
}

/// Reads the configuration file and what depends on it, for a reload.
fn load_config(path: Option<PathBuf>) -> Result<Box<Loaded>, String> {
    let settings = Settings::load(path.as_deref()).map_err(|e| e.to_string())?;
    let checkin = CheckIn::new(&settings).map_err(|f| f.message)?;
    let store = StateStore::open(&settings.daemon.state_dir).map_err(|e| e.to_string())?;
    Ok(Box::new(Loaded {
        settings,
        checkin,
        store,
    }))
}

fn describe_sources(sources: &[PathBuf]) -> String {
    if sources.is_empty() {
        "the built-in defaults (no configuration file)".into()
    } else {
        sources
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
