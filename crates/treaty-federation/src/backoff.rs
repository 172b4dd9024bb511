//! When to pull a peer's sync feed again after failed pulls.
//!
//! A node pulls each dialed peer every `interval_ms`. When a pull fails it retries sooner
//! at first and then less and less often: [`SYNC_BACKOFF_BASE_MS`] after the first failure,
//! doubling per further consecutive failure up to [`SYNC_BACKOFF_MAX_MS`], so a peer that is
//! down costs a bounded trickle of requests and is found again within the hour once it is
//! back. After [`SYNC_FAILURES_INACTIVE`] consecutive failures the node sends
//! [`crate::PeerEvent::SyncFailed`] (the peer becomes `INACTIVE`); the next successful pull
//! sends [`crate::PeerEvent::SyncSucceeded`] and resets the count.
//!
//! Jitter spreads the retries of many nodes that lost the same peer at the same moment, so
//! they do not all knock at once when it comes back. Pure: the caller draws the random
//! `jitter_permille`.

/// Consecutive failed pulls before a peer goes `INACTIVE`
/// ([`crate::PeerEvent::SyncFailed`]). One or two failures are routine (a restart, a
/// network blip); five in a row take at least 15 seconds of backoff
/// (1 + 2 + 4 + 8 seconds between them) and say the peer is really unreachable.
pub const SYNC_FAILURES_INACTIVE: u32 = 5;

/// The delay after the first failed pull, in milliseconds.
pub const SYNC_BACKOFF_BASE_MS: u64 = 1_000;

/// The longest delay between two pulls of a failing peer, before jitter, in milliseconds
/// (one hour).
pub const SYNC_BACKOFF_MAX_MS: u64 = 3_600_000;

/// The most jitter [`next_pull_delay_ms`] adds, in permille of the delay, is a quarter:
/// `jitter_permille` of 1000 adds `delay / 4`.
const JITTER_DIVISOR: u64 = 4_000;

/// Delay before the next pull of a peer after `failures` consecutive failures (0 = the
/// regular interval).
///
/// - `failures == 0`: `interval_ms`, unchanged (no jitter: the regular schedule is the
///   caller's to spread).
/// - otherwise `SYNC_BACKOFF_BASE_MS * 2^(failures - 1)`, capped at
///   [`SYNC_BACKOFF_MAX_MS`] (computed without overflow for any `failures`), plus
///   `delay * min(jitter_permille, 1000) / 4000`: up to 25% more. `jitter_permille` is the
///   caller's random draw in 0..=1000; larger values count as 1000.
///
/// The result is at most `SYNC_BACKOFF_MAX_MS * 5 / 4` for any failing peer.
#[must_use]
pub fn next_pull_delay_ms(failures: u32, interval_ms: u64, jitter_permille: u16) -> u64 {
    if failures == 0 {
        return interval_ms;
    }
    // 2^(failures - 1); a shift of 64 or more, or a product beyond u64, is past the cap.
    let delay = 1_u64
        .checked_shl(failures - 1)
        .and_then(|factor| SYNC_BACKOFF_BASE_MS.checked_mul(factor))
        .map_or(SYNC_BACKOFF_MAX_MS, |d| d.min(SYNC_BACKOFF_MAX_MS));
    // delay <= 3.6e6 and jitter <= 1000: the product cannot overflow.
    let jitter = delay * u64::from(jitter_permille.min(1_000)) / JITTER_DIVISOR;
    delay + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_failure_is_the_regular_interval() {
        assert_eq!(next_pull_delay_ms(0, 30_000, 0), 30_000);
        assert_eq!(next_pull_delay_ms(0, 30_000, 1_000), 30_000);
        assert_eq!(next_pull_delay_ms(0, u64::MAX, 500), u64::MAX);
    }

    #[test]
    fn doubles_per_failure() {
        let delays: Vec<u64> = (1..=6).map(|f| next_pull_delay_ms(f, 60_000, 0)).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000]);
        // The threshold is reached after 1 + 2 + 4 + 8 seconds of waiting.
        let waited: u64 = (1..SYNC_FAILURES_INACTIVE)
            .map(|f| next_pull_delay_ms(f, 60_000, 0))
            .sum();
        assert_eq!(waited, 15_000);
    }

    #[test]
    fn capped_at_the_maximum() {
        // 1000 * 2^12 = 4_096_000 > 3_600_000.
        assert_eq!(next_pull_delay_ms(12, 0, 0), 2_048_000);
        assert_eq!(next_pull_delay_ms(13, 0, 0), SYNC_BACKOFF_MAX_MS);
        for f in 13..200 {
            assert_eq!(next_pull_delay_ms(f, 0, 0), SYNC_BACKOFF_MAX_MS, "{f}");
        }
    }

    #[test]
    fn never_overflows() {
        for f in [
            53,
            54,
            63,
            64,
            65,
            127,
            u32::MAX / 2,
            u32::MAX - 1,
            u32::MAX,
        ] {
            for j in [0, 1, 999, 1_000, 1_001, u16::MAX] {
                let d = next_pull_delay_ms(f, u64::MAX, j);
                assert!(d >= SYNC_BACKOFF_MAX_MS, "{f} {j}");
                assert!(d <= SYNC_BACKOFF_MAX_MS * 5 / 4, "{f} {j}");
            }
        }
    }

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        for f in 1..=20 {
            let plain = next_pull_delay_ms(f, 0, 0);
            let mut previous = plain;
            for j in 0..=1_000 {
                let d = next_pull_delay_ms(f, 0, j);
                assert!(d >= previous, "{f} {j}: monotonic in the jitter");
                assert!(d <= plain + plain / 4, "{f} {j}");
                previous = d;
            }
            assert_eq!(next_pull_delay_ms(f, 0, 1_000), plain + plain / 4);
            // Beyond 1000 permille counts as 1000.
            assert_eq!(
                next_pull_delay_ms(f, 0, u16::MAX),
                next_pull_delay_ms(f, 0, 1_000)
            );
        }
        assert_eq!(next_pull_delay_ms(1, 0, 500), 1_125);
    }
}
