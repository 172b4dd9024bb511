//! The status of a peer node as this node sees it, and the events that change it.
//!
//! | status | JSON name | takes calls | dialed | serves cascades |
//! |---|---|---|---|---|
//! | [`PeerStatus::PendingVerification`] | `PENDING_VERIFICATION` | no (`peer_pending`) | no | no |
//! | [`PeerStatus::Active`] | `ACTIVE` | yes | yes | yes |
//! | [`PeerStatus::Suspended`] | `SUSPENDED` | no (`peer_suspended`) | no | no |
//! | [`PeerStatus::Inactive`] | `INACTIVE` | yes | yes | no |
//! | [`PeerStatus::Drift`] | `DRIFT` | yes | yes | no |
//! | [`PeerStatus::Revoked`] | `REVOKED` | no (`peer_revoked`) | no | no |
//! | [`PeerStatus::Discovered`] | `DISCOVERED` | no (`peer_not_verified`) | no | no |
//!
//! "Dialed" ([`PeerStatus::is_dialed`]) means the node contacts the peer on its own in
//! regular operation: pulls its sync feed, asks it in cascaded resolves, fetches its
//! registry-card list. A `DISCOVERED` registry is one this node only knows from a peer's
//! registry-card list (second-hand); it is never dialed until it registers with this node
//! or the operator adds it, and is verified (then it is first-hand and `ACTIVE`).
//!
//! Transitions ([`PeerStatus::on`]); "=" keeps the status, an error code means the event is
//! refused and the status is unchanged:
//!
//! | event \ status | `PENDING_VERIFICATION` | `ACTIVE` | `SUSPENDED` | `INACTIVE` | `DRIFT` | `REVOKED` | `DISCOVERED` |
//! |---|---|---|---|---|---|---|---|
//! | `Verified` | `ACTIVE` | `ACTIVE` | `ACTIVE` | `ACTIVE` | `ACTIVE` | `peer_revoked` | `ACTIVE` |
//! | `VerificationFailed { authenticated: true }` | `SUSPENDED` | `SUSPENDED` | = | `SUSPENDED` | `SUSPENDED` | = | = |
//! | `VerificationFailed { authenticated: false }` | `SUSPENDED` | = | = | = | = | = | = |
//! | `OperatorSuspend` | `SUSPENDED` | `SUSPENDED` | = | `SUSPENDED` | `SUSPENDED` | `peer_revoked` | `SUSPENDED` |
//! | `OperatorResume` | `invalid_transition` | `invalid_transition` | `PENDING_VERIFICATION` | `invalid_transition` | `invalid_transition` | `peer_revoked` | `invalid_transition` |
//! | `LicenseRevoked` | `REVOKED` | `REVOKED` | `REVOKED` | `REVOKED` | `REVOKED` | = | = |
//! | `LicenseReinstated` | = | = | = | = | = | `PENDING_VERIFICATION` | = |
//! | `SyncFailed` | = | `INACTIVE` | = | = | = | = | = |
//! | `SyncSucceeded` | = | = | = | `ACTIVE` | = | = | = |
//! | `DriftDetected` | = | `DRIFT` | = | `DRIFT` | = | = | = |
//! | `DiscrepancyFound` | `SUSPENDED` | `SUSPENDED` | = | `SUSPENDED` | `SUSPENDED` | = | = |
//!
//! Why:
//!
//! - an *unauthenticated* failed verification (someone registering under the peer's name
//!   without its keys) leaves a working peer alone, or a stranger could suspend any peer;
//!   it only stops a peer that was never verified;
//! - a revoked license is lifted only by reinstating it, and then the peer is verified
//!   again from scratch; nothing else (not even a successful verification) revives it;
//! - resuming a suspended peer does not trust it again at once: the node re-verifies it
//!   (this holds for a registry suspended while `DISCOVERED` too);
//! - `SyncFailed` is sent once the node's consecutive-failure threshold is reached
//!   ([`crate::backoff::SYNC_FAILURES_INACTIVE`]), not per failure; `SyncSucceeded` brings
//!   an `INACTIVE` peer back. Sync results and drift are observations about a working peer;
//!   they do not change a peer that is not taking part anyway, and a successful pull does
//!   not clear drift (only a new verification does);
//! - `DiscrepancyFound` means the peer served data that contradicts its own signed
//!   checkpoint (a [`crate::Discrepancy`] that is the peer's fault, or a cascade answer
//!   whose proof fails): that is evidence against the peer, so it stops it whatever it was
//!   doing, like an authenticated failed verification;
//! - a `DISCOVERED` registry is known second-hand only: the node holds no license, sync
//!   state or agreement for it, so only what makes it first-hand (`Verified`) or what the
//!   operator decides (`OperatorSuspend`) changes it. Resuming it is refused like resuming
//!   any peer that is not suspended.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FedError;
use crate::error::clip;

/// A peer's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerStatus {
    /// Registered, not verified yet.
    PendingVerification,
    /// Verified and working.
    Active,
    /// Stopped by the operator or by a failed verification.
    Suspended,
    /// Verified, but syncing with it fails.
    Inactive,
    /// Verified, but its data or configuration drifted from what was agreed.
    Drift,
    /// Its admission license was revoked.
    Revoked,
    /// Known only from a peer's registry-card list (second-hand), never dialed directly.
    Discovered,
}

/// Something that happened to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerEvent {
    /// The peer's card, keys and identity were verified.
    Verified,
    /// Verifying the peer failed. `authenticated` says whether the attempt was made by the
    /// peer itself (authenticated with its keys or mTLS identity).
    VerificationFailed {
        /// Whether the failed attempt was authenticated as the peer.
        authenticated: bool,
    },
    /// The operator suspends the peer.
    OperatorSuspend,
    /// The operator lifts a suspension.
    OperatorResume,
    /// The peer's admission license was revoked.
    LicenseRevoked,
    /// The peer's admission license was reinstated.
    LicenseReinstated,
    /// Syncing with the peer failed often enough in a row to reach the node's threshold
    /// ([`crate::backoff::SYNC_FAILURES_INACTIVE`] consecutive failed pulls).
    SyncFailed,
    /// A pull from the peer succeeded.
    SyncSucceeded,
    /// The peer drifted from what was agreed.
    DriftDetected,
    /// The peer served data that contradicts its own signed checkpoint.
    DiscrepancyFound,
}

impl PeerEvent {
    /// The event's name, for errors and logs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            PeerEvent::Verified => "verified",
            PeerEvent::VerificationFailed { .. } => "verification_failed",
            PeerEvent::OperatorSuspend => "operator_suspend",
            PeerEvent::OperatorResume => "operator_resume",
            PeerEvent::LicenseRevoked => "license_revoked",
            PeerEvent::LicenseReinstated => "license_reinstated",
            PeerEvent::SyncFailed => "sync_failed",
            PeerEvent::SyncSucceeded => "sync_succeeded",
            PeerEvent::DriftDetected => "drift_detected",
            PeerEvent::DiscrepancyFound => "discrepancy_found",
        }
    }
}

impl PeerStatus {
    /// Every status.
    pub const ALL: [PeerStatus; 7] = [
        PeerStatus::PendingVerification,
        PeerStatus::Active,
        PeerStatus::Suspended,
        PeerStatus::Inactive,
        PeerStatus::Drift,
        PeerStatus::Revoked,
        PeerStatus::Discovered,
    ];

    /// The JSON and storage name: `PENDING_VERIFICATION`, `ACTIVE`, `SUSPENDED`,
    /// `INACTIVE`, `DRIFT`, `REVOKED` or `DISCOVERED`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PeerStatus::PendingVerification => "PENDING_VERIFICATION",
            PeerStatus::Active => "ACTIVE",
            PeerStatus::Suspended => "SUSPENDED",
            PeerStatus::Inactive => "INACTIVE",
            PeerStatus::Drift => "DRIFT",
            PeerStatus::Revoked => "REVOKED",
            PeerStatus::Discovered => "DISCOVERED",
        }
    }

    /// The status named `text` (exactly).
    ///
    /// # Errors
    /// [`FedError::UnknownValue`].
    pub fn parse(text: &str) -> Result<Self, FedError> {
        PeerStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| FedError::UnknownValue {
                what: "peer status",
                value: clip(text),
            })
    }

    /// The status after `event` (see the table in the module documentation).
    ///
    /// # Errors
    /// [`FedError::PeerRevoked`] for events a revoked peer cannot take, and
    /// [`FedError::InvalidTransition`] for resuming a peer that is not suspended.
    pub fn on(self, event: PeerEvent) -> Result<PeerStatus, FedError> {
        use PeerEvent as E;
        use PeerStatus as S;
        match (self, event) {
            (S::Revoked, E::Verified | E::OperatorSuspend | E::OperatorResume) => {
                Err(FedError::PeerRevoked)
            }
            (S::Revoked, E::LicenseReinstated) => Ok(S::PendingVerification),
            (S::Revoked, _) => Ok(S::Revoked),
            (_, E::Verified) => Ok(S::Active),
            (_, E::OperatorSuspend) => Ok(S::Suspended),
            (S::Suspended, E::OperatorResume) => Ok(S::PendingVerification),
            (_, E::OperatorResume) => Err(FedError::InvalidTransition {
                from: self.as_str(),
                event: event.name(),
            }),
            // Second-hand only: nothing but the two arms above changes it.
            (S::Discovered, _) => Ok(S::Discovered),
            (
                _,
                E::VerificationFailed {
                    authenticated: true,
                }
                | E::DiscrepancyFound,
            )
            | (
                S::PendingVerification,
                E::VerificationFailed {
                    authenticated: false,
                },
            ) => Ok(S::Suspended),
            (_, E::LicenseRevoked) => Ok(S::Revoked),
            (S::Active, E::SyncFailed) => Ok(S::Inactive),
            (S::Inactive, E::SyncSucceeded) => Ok(S::Active),
            (S::Active | S::Inactive, E::DriftDetected) => Ok(S::Drift),
            (
                _,
                E::VerificationFailed {
                    authenticated: false,
                }
                | E::LicenseReinstated
                | E::SyncFailed
                | E::SyncSucceeded
                | E::DriftDetected,
            ) => Ok(self),
        }
    }

    /// Whether the node answers the peer's federation calls: `ACTIVE`, `INACTIVE` and
    /// `DRIFT` peers are served (they are verified; the node wants them to recover).
    ///
    /// # Errors
    /// [`FedError::PeerPending`], [`FedError::PeerSuspended`], [`FedError::PeerRevoked`],
    /// and [`FedError::PeerNotVerified`] for a `DISCOVERED` registry. That one has its own
    /// code rather than `peer_pending`: nothing is pending (it never registered), and the
    /// caller learns that registering is what it takes.
    pub fn accepts_calls(self) -> Result<(), FedError> {
        match self {
            PeerStatus::Active | PeerStatus::Inactive | PeerStatus::Drift => Ok(()),
            PeerStatus::PendingVerification => Err(FedError::PeerPending),
            PeerStatus::Suspended => Err(FedError::PeerSuspended),
            PeerStatus::Revoked => Err(FedError::PeerRevoked),
            PeerStatus::Discovered => Err(FedError::PeerNotVerified),
        }
    }

    /// Whether the node contacts the peer on its own in regular operation (sync pulls,
    /// cascaded resolves, registry-card lists): the verified peers, `ACTIVE`, `INACTIVE`
    /// (pulled with backoff, so it can recover) and `DRIFT`. Never a `DISCOVERED` registry
    /// (known second-hand only), nor a pending, suspended or revoked peer.
    #[must_use]
    pub fn is_dialed(self) -> bool {
        matches!(
            self,
            PeerStatus::Active | PeerStatus::Inactive | PeerStatus::Drift
        )
    }

    /// Whether changes cascade to the peer: only `ACTIVE` peers.
    #[must_use]
    pub fn serves_cascades(self) -> bool {
        self == PeerStatus::Active
    }
}

impl fmt::Display for PeerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PeerStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PeerStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PeerStatus::parse(&s).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use PeerEvent as E;
    use PeerStatus as S;

    /// What the table says, written out independently of `on` (`Err(code)` for refusals),
    /// column by column.
    fn expected(from: S, event: E) -> Result<S, &'static str> {
        Ok(match (from, event) {
            (S::Revoked, E::Verified | E::OperatorSuspend | E::OperatorResume) => {
                return Err("peer_revoked");
            }
            (S::Revoked, E::LicenseReinstated) => S::PendingVerification,
            (S::Revoked, _) => S::Revoked,
            (S::Discovered, E::Verified) => S::Active,
            (S::Discovered, E::OperatorSuspend) => S::Suspended,
            (S::Discovered, E::OperatorResume) => return Err("invalid_transition"),
            (S::Discovered, _) => S::Discovered,
            (_, E::Verified) => S::Active,
            (
                _,
                E::VerificationFailed {
                    authenticated: true,
                },
            ) => S::Suspended,
            (
                S::PendingVerification,
                E::VerificationFailed {
                    authenticated: false,
                },
            ) => S::Suspended,
            (
                s,
                E::VerificationFailed {
                    authenticated: false,
                },
            ) => s,
            (_, E::OperatorSuspend) => S::Suspended,
            (S::Suspended, E::OperatorResume) => S::PendingVerification,
            (_, E::OperatorResume) => return Err("invalid_transition"),
            (_, E::LicenseRevoked) => S::Revoked,
            (s, E::LicenseReinstated) => s,
            (S::Active, E::SyncFailed) => S::Inactive,
            (s, E::SyncFailed) => s,
            (S::Inactive, E::SyncSucceeded) => S::Active,
            (s, E::SyncSucceeded) => s,
            (S::Active | S::Inactive, E::DriftDetected) => S::Drift,
            (s, E::DriftDetected) => s,
            (_, E::DiscrepancyFound) => S::Suspended,
        })
    }

    const EVENTS: [E; 11] = [
        E::Verified,
        E::VerificationFailed {
            authenticated: true,
        },
        E::VerificationFailed {
            authenticated: false,
        },
        E::OperatorSuspend,
        E::OperatorResume,
        E::LicenseRevoked,
        E::LicenseReinstated,
        E::SyncFailed,
        E::SyncSucceeded,
        E::DriftDetected,
        E::DiscrepancyFound,
    ];

    #[test]
    fn transition_table_exhaustively() {
        let mut checked = 0;
        for from in S::ALL {
            for event in EVENTS {
                let got = from.on(event).map_err(|e| e.code());
                assert_eq!(got, expected(from, event), "{from:?} on {event:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 77);
    }

    /// The module documentation's transition table, parsed, agrees with `on` cell by cell,
    /// so the table cannot silently go stale.
    #[test]
    fn documented_table_matches() {
        let doc = include_str!("peer.rs");
        let rows: Vec<Vec<String>> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `"))
            .map(|l| {
                l.split('|')
                    .map(|c| c.trim().trim_matches('`').to_owned())
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), EVENTS.len(), "{rows:?}");
        let mut checked = 0;
        for (row, event) in rows.iter().zip(EVENTS) {
            assert_eq!(row.len(), S::ALL.len() + 1, "{row:?}");
            assert_eq!(row[0], format!("{event:?}"));
            for (cell, from) in row[1..].iter().zip(S::ALL) {
                let documented = match cell.as_str() {
                    "=" => Ok(from.as_str()),
                    other => S::parse(other).map(S::as_str).map_err(|_| other),
                };
                let actual = from.on(event).map(S::as_str).map_err(|e| e.code());
                assert_eq!(documented, actual, "{from:?} on {event:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 77);
    }

    #[test]
    fn discovered_registries() {
        // Learned second-hand: refused with its own code, never dialed.
        assert_eq!(
            S::Discovered
                .accepts_calls()
                .expect_err("discovered")
                .code(),
            "peer_not_verified"
        );
        assert!(!S::Discovered.is_dialed());
        assert!(!S::Discovered.serves_cascades());
        // It registered or the operator added it, and it verified: first-hand now.
        assert_eq!(S::Discovered.on(E::Verified), Ok(S::Active));
        assert_eq!(S::Discovered.on(E::OperatorSuspend), Ok(S::Suspended));
        // Nothing about sync, licenses or evidence applies to it.
        for e in [
            E::SyncFailed,
            E::SyncSucceeded,
            E::DriftDetected,
            E::DiscrepancyFound,
            E::LicenseRevoked,
            E::LicenseReinstated,
            E::VerificationFailed {
                authenticated: true,
            },
        ] {
            assert_eq!(S::Discovered.on(e), Ok(S::Discovered), "{e:?}");
        }
    }

    #[test]
    fn sync_results_and_discrepancies() {
        // The failure threshold makes a working peer inactive; one good pull brings it back.
        assert_eq!(S::Active.on(E::SyncFailed), Ok(S::Inactive));
        assert_eq!(S::Inactive.on(E::SyncSucceeded), Ok(S::Active));
        // A good pull does not clear drift or anything else.
        for s in [S::Active, S::Drift, S::Suspended, S::PendingVerification] {
            assert_eq!(s.on(E::SyncSucceeded), Ok(s), "{s:?}");
        }
        // Evidence against a peer stops it; a revoked one stays revoked.
        for s in [S::PendingVerification, S::Active, S::Inactive, S::Drift] {
            assert_eq!(s.on(E::DiscrepancyFound), Ok(S::Suspended), "{s:?}");
        }
        assert_eq!(S::Revoked.on(E::DiscrepancyFound), Ok(S::Revoked));
        assert_eq!(E::DiscrepancyFound.name(), "discrepancy_found");
        assert_eq!(E::SyncSucceeded.name(), "sync_succeeded");
    }

    #[test]
    fn the_rules_that_matter_most() {
        // A stranger cannot suspend a working peer.
        for s in [S::Active, S::Inactive, S::Drift] {
            let e = E::VerificationFailed {
                authenticated: false,
            };
            assert_eq!(s.on(e), Ok(s));
        }
        // Only reinstating the license lifts a revocation, and then verification restarts.
        assert_eq!(
            S::Revoked.on(E::Verified).expect_err("revoked").code(),
            "peer_revoked"
        );
        assert_eq!(
            S::Revoked.on(E::LicenseReinstated),
            Ok(S::PendingVerification)
        );
        // Resume goes through verification again.
        assert_eq!(
            S::Suspended.on(E::OperatorResume),
            Ok(S::PendingVerification)
        );
        let err = S::Active.on(E::OperatorResume).expect_err("not suspended");
        assert_eq!(err.code(), "invalid_transition");
        assert_eq!(
            err.to_string(),
            "a peer in status ACTIVE cannot take event operator_resume"
        );
    }

    #[test]
    fn calls_and_cascades() {
        let calls: Vec<_> = S::ALL
            .iter()
            .map(|s| s.accepts_calls().map_err(|e| e.code()))
            .collect();
        assert_eq!(
            calls,
            [
                Err("peer_pending"),
                Ok(()),
                Err("peer_suspended"),
                Ok(()),
                Ok(()),
                Err("peer_revoked"),
                Err("peer_not_verified"),
            ]
        );
        let cascades: Vec<_> = S::ALL.iter().map(|s| s.serves_cascades()).collect();
        assert_eq!(cascades, [false, true, false, false, false, false, false]);
        let dialed: Vec<_> = S::ALL.iter().map(|s| s.is_dialed()).collect();
        assert_eq!(dialed, [false, true, false, true, true, false, false]);
    }

    #[test]
    fn names_round_trip() {
        let names: Vec<_> = S::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "PENDING_VERIFICATION",
                "ACTIVE",
                "SUSPENDED",
                "INACTIVE",
                "DRIFT",
                "REVOKED",
                "DISCOVERED",
            ]
        );
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Ok(s));
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(serde_json::from_str::<S>(&json).expect("back"), s);
        }
        for bad in ["active", "", "ACTIVE ", "PENDING", "discovered"] {
            assert_eq!(S::parse(bad).expect_err(bad).code(), "unknown_value");
        }
    }
}
