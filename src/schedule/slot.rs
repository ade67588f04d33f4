//! Each database's fixed slot in the interval, from a frozen hash of its UUID: the
//! one part of the schedule that must never change between releases.

use std::time::Duration;

use time::OffsetDateTime;

use super::{from_nanos, nanos};
use crate::fnv::fnv1a64;

/// MurmurHash3's 64-bit finalizer. FNV-1a alone mixes the last bytes of its input poorly
/// into the high bits, and the slot is taken from the high bits; Odoo's UUIDs are
/// time-based (`uuid1`), so databases created on one host differ in only a few bytes.
fn fmix64(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// The stable 64-bit hash a database's slot is derived from.
///
/// **Frozen**: FNV-1a 64 over the UUID (trimmed, ASCII-lowercased, so `44FEA1CA-…` and
/// `44fea1ca-…` are one database), then MurmurHash3's `fmix64`. Changing it in a release
/// would move every database of every installation to a new slot at once; the
/// `slot_offset_is_stable_across_releases` test pins it.
pub fn slot_hash(uuid: &str) -> u64 {
    fmix64(fnv1a64(uuid.trim().bytes().map(|b| b.to_ascii_lowercase())))
}

/// Where in each interval the database's slot lies: [`slot_hash`] mapped uniformly onto
/// `[0, interval)` (multiply-shift, so every offset is as likely as any other, up to one
/// nanosecond).
pub fn slot_offset(uuid: &str, interval: Duration) -> Duration {
    offset_from_hash(slot_hash(uuid), interval)
}

fn offset_from_hash(hash: u64, interval: Duration) -> Duration {
    let interval = u128::from(interval_nanos(interval));
    // hash · interval < 2^64 · 2^64: no overflow; the high half is in [0, interval).
    let offset = (u128::from(hash) * interval) >> 64;
    Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
}

/// The interval in nanoseconds, at least 1 (an unvalidated zero must not divide by zero)
/// and at most `u64::MAX` (≈ 584 years).
fn interval_nanos(interval: Duration) -> u64 {
    u64::try_from(interval.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The database's first slot at or after `not_before`: the smallest
/// `UNIX_EPOCH + k·interval + slot_offset(uuid)` that is `>= not_before`.
pub fn next_slot(uuid: &str, interval: Duration, not_before: OffsetDateTime) -> OffsetDateTime {
    slot_at_or_after(slot_hash(uuid), interval, not_before)
}

pub(super) fn slot_at_or_after(
    hash: u64,
    interval: Duration,
    not_before: OffsetDateTime,
) -> OffsetDateTime {
    let period = i128::from(interval_nanos(interval));
    let offset = i128::try_from(offset_from_hash(hash, interval).as_nanos()).unwrap_or(0);
    let target = nanos(not_before);
    let slot = (target - offset).div_euclid(period) * period + offset;
    from_nanos(if slot < target { slot + period } else { slot })
}
