//! Retry delays after failures: doubling from `retry_min`, capped, with jitter so
//! that databases failing together do not retry in lockstep.

use std::time::Duration;

use super::{ScheduleSettings, scale, unit};

/// Relative jitter of retry delays: spreads databases that failed together (one outage)
/// so they do not retry in lockstep.
pub const RETRY_JITTER: f64 = 0.2;

/// The nominal delay before the next attempt after `failures` consecutive failures:
/// `retry_min · 2^(failures − 1)`, capped at `retry_max`.
pub fn nominal_backoff(settings: &ScheduleSettings, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1));
    settings
        .retry_min
        .checked_mul(factor)
        .map_or(settings.retry_max, |d| d.min(settings.retry_max))
}

/// [`nominal_backoff`] with ±[`RETRY_JITTER`]: a delay in `[0.8, 1.2] ×` nominal. The cap
/// applies to the nominal delay, so at the cap retries come every 6 h ± 20% (as the issue
/// writes it: "5m, 10m, 20m, … (±20% jitter) … capped here"): the jitter keeps working
/// there, where retries of one outage would otherwise stay in lockstep.
pub fn retry_delay(
    settings: &ScheduleSettings,
    failures: u32,
    rng: &mut impl FnMut() -> f64,
) -> Duration {
    let factor = 1.0 - RETRY_JITTER + 2.0 * RETRY_JITTER * unit(rng);
    scale(nominal_backoff(settings, failures), factor)
}
