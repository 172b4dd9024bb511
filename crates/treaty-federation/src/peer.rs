//! The status of a peer node as this node sees it, and the events that change it.
//!
//! | status | JSON name | takes calls | serves cascades |
//! |---|---|---|---|
//! | [`PeerStatus::PendingVerification`] | `PENDING_VERIFICATION` | no (`peer_pending`) | no |
//! | [`PeerStatus::Active`] | `ACTIVE` | yes | yes |
//! | [`PeerStatus::Suspended`] | `SUSPENDED` | no (`peer_suspended`) | no |
//! | [`PeerStatus::Inactive`] | `INACTIVE` | yes | no |
//! | [`PeerStatus::Drift`] | `DRIFT` | yes | no |
//! | [`PeerStatus::Revoked`] | `REVOKED` | no (`peer_revoked`) | no |
//!
//! Transitions ([`PeerStatus::on`]); "=" keeps the status, an error code means the event is
//! refused and the status is unchanged:
//!
//! | event \ status | `PENDING_VERIFICATION` | `ACTIVE` | `SUSPENDED` | `INACTIVE` | `DRIFT` | `REVOKED` |
//! |---|---|---|---|---|---|---|
//! | `Verified` | `ACTIVE` | `ACTIVE` | `ACTIVE` | `ACTIVE` | `ACTIVE` | `peer_revoked` |
//! | `VerificationFailed { authenticated: true }` | `SUSPENDED` | `SUSPENDED` | = | `SUSPENDED` | `SUSPENDED` | = |
//! | `VerificationFailed { authenticated: false }` | `SUSPENDED` | = | = | = | = | = |
//! | `OperatorSuspend` | `SUSPENDED` | `SUSPENDED` | = | `SUSPENDED` | `SUSPENDED` | `peer_revoked` |
//! | `OperatorResume` | `invalid_transition` | `invalid_transition` | `PENDING_VERIFICATION` | `invalid_transition` | `invalid_transition` | `peer_revoked` |
//! | `LicenseRevoked` | `REVOKED` | `REVOKED` | `REVOKED` | `REVOKED` | `REVOKED` | = |
//! | `LicenseReinstated` | = | = | = | = | = | `PENDING_VERIFICATION` |
//! | `SyncFailed` | = | `INACTIVE` | = | = | = | = |
//! | `DriftDetected` | = | `DRIFT` | = | `DRIFT` | = | = |
//!
//! Why:
//!
//! - an *unauthenticated* failed verification (someone registering under the peer's name
//!   without its keys) leaves a working peer alone, or a stranger could suspend any peer;
//!   it only stops a peer that was never verified;
//! - a revoked license is lifted only by reinstating it, and then the peer is verified
//!   again from scratch; nothing else (not even a successful verification) revives it;
//! - resuming a suspended peer does not trust it again at once: the node re-verifies it;
//! - sync failures and drift are observations about a working peer; they do not change a
//!   peer that is not taking part anyway.

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
    /// Syncing with the peer failed.
    SyncFailed,
    /// The peer drifted from what was agreed.
    DriftDetected,
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
            PeerEvent::DriftDetected => "drift_detected",
        }
    }
}

impl PeerStatus {
    /// Every status.
    pub const ALL: [PeerStatus; 6] = [
        PeerStatus::PendingVerification,
        PeerStatus::Active,
        PeerStatus::Suspended,
        PeerStatus::Inactive,
        PeerStatus::Drift,
        PeerStatus::Revoked,
    ];

    /// The JSON and storage name: `PENDING_VERIFICATION`, `ACTIVE`, `SUSPENDED`,
    /// `INACTIVE`, `DRIFT` or `REVOKED`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PeerStatus::PendingVerification => "PENDING_VERIFICATION",
            PeerStatus::Active => "ACTIVE",
            PeerStatus::Suspended => "SUSPENDED",
            PeerStatus::Inactive => "INACTIVE",
            PeerStatus::Drift => "DRIFT",
            PeerStatus::Revoked => "REVOKED",
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
        let revoked = self == S::Revoked;
        match event {
            E::Verified | E::OperatorSuspend if revoked => Err(FedError::PeerRevoked),
            E::Verified => Ok(S::Active),
            E::VerificationFailed { .. } if revoked => Ok(S::Revoked),
            E::VerificationFailed {
                authenticated: true,
            }
            | E::OperatorSuspend => Ok(S::Suspended),
            E::VerificationFailed {
                authenticated: false,
            } => Ok(match self {
                S::PendingVerification => S::Suspended,
                other => other,
            }),
            E::OperatorResume => match self {
                S::Suspended => Ok(S::PendingVerification),
                S::Revoked => Err(FedError::PeerRevoked),
                _ => Err(FedError::InvalidTransition {
                    from: self.as_str(),
                    event: event.name(),
                }),
            },
            E::LicenseRevoked => Ok(S::Revoked),
            E::LicenseReinstated => Ok(if revoked {
                S::PendingVerification
            } else {
                self
            }),
            E::SyncFailed => Ok(match self {
                S::Active => S::Inactive,
                other => other,
            }),
            E::DriftDetected => Ok(match self {
                S::Active | S::Inactive => S::Drift,
                other => other,
            }),
        }
    }

    /// Whether the node answers the peer's federation calls: `ACTIVE`, `INACTIVE` and
    /// `DRIFT` peers are served (they are verified; the node wants them to recover).
    ///
    /// # Errors
    /// [`FedError::PeerPending`], [`FedError::PeerSuspended`] and [`FedError::PeerRevoked`].
    pub fn accepts_calls(self) -> Result<(), FedError> {
        match self {
            PeerStatus::Active | PeerStatus::Inactive | PeerStatus::Drift => Ok(()),
            PeerStatus::PendingVerification => Err(FedError::PeerPending),
            PeerStatus::Suspended => Err(FedError::PeerSuspended),
            PeerStatus::Revoked => Err(FedError::PeerRevoked),
        }
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

    /// What the table says, written out independently of `on` (`Err(code)` for refusals).
    fn expected(from: S, event: E) -> Result<S, &'static str> {
        Ok(match (from, event) {
            (S::Revoked, E::Verified | E::OperatorSuspend | E::OperatorResume) => {
                return Err("peer_revoked");
            }
            (S::Revoked, E::LicenseReinstated) => S::PendingVerification,
            (S::Revoked, _) => S::Revoked,
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
            (S::Active | S::Inactive, E::DriftDetected) => S::Drift,
            (s, E::DriftDetected) => s,
        })
    }

    const EVENTS: [E; 9] = [
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
        E::DriftDetected,
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
        assert_eq!(checked, 54);
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
                Err("peer_revoked")
            ]
        );
        let cascades: Vec<_> = S::ALL.iter().map(|s| s.serves_cascades()).collect();
        assert_eq!(cascades, [false, true, false, false, false, false]);
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
                "REVOKED"
            ]
        );
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Ok(s));
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(serde_json::from_str::<S>(&json).expect("back"), s);
        }
        for bad in ["active", "", "ACTIVE ", "PENDING"] {
            assert_eq!(S::parse(bad).expect_err(bad).code(), "unknown_value");
        }
    }
}
