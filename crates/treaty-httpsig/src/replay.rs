//! The replay cache: which `(keyid, nonce)` pairs were accepted recently.
//!
//! A signed request stays acceptable while its `created` is within the verifier's skew of
//! the clock, so a captured request could be sent again until `created + skew`. The cache
//! remembers every accepted nonce exactly that long and refuses a second use
//! (RFC 9421 section 7.2.2 on replay; STANDARDS.md "any nonce already seen within the
//! window").
//!
//! It is bounded ([`ReplayCache::capacity`]). When it is full of entries that are still
//! inside the window it refuses new requests with [`HttpSigError::ReplayCacheFull`] rather
//! than evicting a live entry: evicting would silently reopen that request to replay, while
//! refusing is visible and only delays honest peers until entries expire.
//!
//! The cache is a plain value: time is an argument, nothing runs in the background, and
//! ordered maps (not hash maps) keep it deterministic and free of the randomness a hash
//! seed would need. A node keeps one per process behind a lock held only for
//! [`ReplayCache::admit`], after the (slower) signature check is done.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{HttpSigError, clip};
use crate::limits::{
    CLOCK_SKEW_SECONDS_DEFAULT, KEYID_BYTES_MAX, NONCE_BYTES_MAX, REPLAY_CACHE_ENTRIES_DEFAULT,
};
use crate::verify::{Authenticated, VerifiedRequest};

/// Accepted nonces, each kept until its signature could no longer be accepted.
#[derive(Debug, Clone)]
pub struct ReplayCache {
    /// Most entries held at once.
    capacity: usize,
    /// How long after `created` an entry is kept, in seconds: at least the verifier's skew.
    window_seconds: u64,
    /// `(keyid, nonce)` to the last second at which the entry is live.
    live: BTreeMap<(String, String), u64>,
    /// The same entries ordered by that second, so expired ones are found in order.
    by_expiry: BTreeSet<(u64, String, String)>,
}

impl Default for ReplayCache {
    /// [`REPLAY_CACHE_ENTRIES_DEFAULT`] entries, a window of [`CLOCK_SKEW_SECONDS_DEFAULT`].
    fn default() -> Self {
        Self::new(REPLAY_CACHE_ENTRIES_DEFAULT, CLOCK_SKEW_SECONDS_DEFAULT)
    }
}

impl ReplayCache {
    /// An empty cache of at most `capacity` entries, each kept until `created` +
    /// `window_seconds`. The window should equal the verifier's clock skew;
    /// [`ReplayCache::admit`] uses the larger of the two in any case.
    #[must_use]
    pub fn new(capacity: usize, window_seconds: u64) -> Self {
        Self {
            capacity,
            window_seconds,
            live: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Records the nonce of a verified request, consuming the proof of verification.
    ///
    /// # Errors
    /// [`HttpSigError::NonceReplayed`], [`HttpSigError::ReplayCacheFull`]; see
    /// [`ReplayCache::check_and_insert`].
    pub fn admit(
        &mut self,
        authenticated: Authenticated,
        now: u64,
    ) -> Result<VerifiedRequest, HttpSigError> {
        let window = self.window_seconds.max(authenticated.skew_seconds);
        let request = authenticated.request;
        self.insert(
            request.keyid(),
            request.nonce(),
            request.created(),
            now,
            window,
        )?;
        Ok(request)
    }

    /// Records `(keyid, nonce)` for a signature created at `created`, if it was not seen
    /// within the window. First drops every entry whose window has passed at `now`.
    ///
    /// Call this only after the signature verified: recording a nonce for a request that
    /// then fails would let anyone block a peer's nonces (or fill the cache) with forged
    /// requests.
    ///
    /// # Errors
    /// - [`HttpSigError::NonceReplayed`]: the pair is already recorded and still live;
    /// - [`HttpSigError::ReplayCacheFull`]: the cache holds `capacity` live entries;
    /// - [`HttpSigError::ReplayWindowPassed`]: `created + window` is already before `now`,
    ///   so the entry could not protect anything;
    /// - [`HttpSigError::InvalidParameter`]: `keyid` or `nonce` is longer than its limit.
    pub fn check_and_insert(
        &mut self,
        keyid: &str,
        nonce: &str,
        created: u64,
        now: u64,
    ) -> Result<(), HttpSigError> {
        self.insert(keyid, nonce, created, now, self.window_seconds)
    }

    fn insert(
        &mut self,
        keyid: &str,
        nonce: &str,
        created: u64,
        now: u64,
        window: u64,
    ) -> Result<(), HttpSigError> {
        // Bounds the memory of one entry even for direct callers.
        if keyid.len() > KEYID_BYTES_MAX {
            return Err(HttpSigError::InvalidParameter {
                name: "keyid",
                reason: "longer than KEYID_BYTES_MAX",
            });
        }
        if nonce.len() > NONCE_BYTES_MAX {
            return Err(HttpSigError::InvalidParameter {
                name: "nonce",
                reason: "longer than NONCE_BYTES_MAX",
            });
        }
        self.evict_expired(now);
        let live_until = created.saturating_add(window);
        if live_until < now {
            return Err(HttpSigError::ReplayWindowPassed { created, now });
        }
        let key = (keyid.to_owned(), nonce.to_owned());
        if self.live.contains_key(&key) {
            return Err(HttpSigError::NonceReplayed {
                keyid: clip(keyid),
                nonce: clip(nonce),
            });
        }
        if self.live.len() >= self.capacity {
            return Err(HttpSigError::ReplayCacheFull {
                capacity: self.capacity,
            });
        }
        self.by_expiry
            .insert((live_until, key.0.clone(), key.1.clone()));
        self.live.insert(key, live_until);
        Ok(())
    }

    /// Drops every entry whose window has passed at `now` (entries live through
    /// `created + window` inclusive, like the verifier's skew check).
    pub fn evict_expired(&mut self, now: u64) {
        while let Some(first) = self.by_expiry.first() {
            if first.0 >= now {
                break;
            }
            if let Some((_, keyid, nonce)) = self.by_expiry.pop_first() {
                self.live.remove(&(keyid, nonce));
            }
        }
    }

    /// Whether `(keyid, nonce)` is recorded (expired entries count until the next eviction).
    #[must_use]
    pub fn contains(&self, keyid: &str, nonce: &str) -> bool {
        self.live
            .contains_key(&(keyid.to_owned(), nonce.to_owned()))
    }

    /// How many entries are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no entry is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The most entries held at once.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long after `created` an entry is kept, in seconds.
    #[must_use]
    pub fn window_seconds(&self) -> u64 {
        self.window_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_second_use_within_the_window() {
        let mut cache = ReplayCache::new(8, 300);
        assert_eq!(cache.check_and_insert("k", "n1", 1000, 1000), Ok(()));
        assert_eq!(
            cache
                .check_and_insert("k", "n1", 1000, 1299)
                .expect_err("must be refused")
                .code(),
            "nonce_replayed"
        );
        // Another key may use the same nonce: nonces are per signer.
        assert_eq!(cache.check_and_insert("other", "n1", 1000, 1000), Ok(()));
        // Still live at exactly created + window...
        assert_eq!(
            cache
                .check_and_insert("k", "n1", 1000, 1300)
                .expect_err("must be refused")
                .code(),
            "nonce_replayed"
        );
        // ...and gone one second later, when the verifier would refuse `created` anyway.
        cache.evict_expired(1301);
        assert!(!cache.contains("k", "n1"));
        assert!(cache.is_empty());
    }

    #[test]
    fn full_of_live_entries_refuses_instead_of_evicting() {
        let mut cache = ReplayCache::new(3, 300);
        for (i, nonce) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(
                cache.check_and_insert("k", nonce, 1000 + i as u64, 1000),
                Ok(())
            );
        }
        assert_eq!(
            cache.check_and_insert("k", "d", 1000, 1000),
            Err(HttpSigError::ReplayCacheFull { capacity: 3 })
        );
        // Nothing live was dropped to make room.
        assert!(["a", "b", "c"].iter().all(|n| cache.contains("k", n)));
        // A replay is still reported as a replay when full.
        assert_eq!(
            cache
                .check_and_insert("k", "a", 1000, 1000)
                .expect_err("must be refused")
                .code(),
            "nonce_replayed"
        );
        // Once the oldest entry's window passes, it makes room, oldest first.
        assert_eq!(cache.check_and_insert("k", "d", 1301, 1301), Ok(()));
        assert!(!cache.contains("k", "a"));
        assert!(cache.contains("k", "b"));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn eviction_follows_created_not_arrival() {
        let mut cache = ReplayCache::new(8, 100);
        // A request stamped in the future (within skew) is kept correspondingly longer.
        cache
            .check_and_insert("k", "future", 1_100, 1_000)
            .expect("valid test input");
        cache
            .check_and_insert("k", "past", 950, 1_000)
            .expect("valid test input");
        cache.evict_expired(1_051);
        assert!(!cache.contains("k", "past"));
        assert!(cache.contains("k", "future"));
        cache.evict_expired(1_201);
        assert!(cache.is_empty());
    }

    #[test]
    fn refuses_entries_that_could_not_protect_anything() {
        let mut cache = ReplayCache::new(8, 300);
        assert_eq!(
            cache.check_and_insert("k", "n", 1000, 1301),
            Err(HttpSigError::ReplayWindowPassed {
                created: 1000,
                now: 1301
            })
        );
        assert_eq!(
            cache
                .check_and_insert(&"k".repeat(KEYID_BYTES_MAX + 1), "n", 1, 1)
                .expect_err("must be refused")
                .code(),
            "invalid_signature_parameter"
        );
        assert_eq!(
            cache
                .check_and_insert("k", &"n".repeat(NONCE_BYTES_MAX + 1), 1, 1)
                .expect_err("must be refused")
                .code(),
            "invalid_signature_parameter"
        );
        assert_eq!(
            ReplayCache::new(0, 300)
                .check_and_insert("k", "n", 1, 1)
                .expect_err("must be refused")
                .code(),
            "replay_cache_full"
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let mut cache = ReplayCache::new(2, u64::MAX);
        assert_eq!(cache.check_and_insert("k", "n", u64::MAX, u64::MAX), Ok(()));
        cache.evict_expired(u64::MAX);
        assert!(cache.contains("k", "n"));
    }

    #[test]
    fn default_matches_the_named_limits() {
        let cache = ReplayCache::default();
        assert_eq!(cache.capacity(), REPLAY_CACHE_ENTRIES_DEFAULT);
        assert_eq!(cache.window_seconds(), CLOCK_SKEW_SECONDS_DEFAULT);
    }
}
