//! Trust levels and level gating.
//!
//! Two nodes federate under an agreement at one of five trust levels. Each level permits
//! everything the levels below it permit, plus one kind of action:
//!
//! | level | name | adds |
//! |---|---|---|
//! | 0 | `isolated` | nothing: the nodes know of each other but share nothing |
//! | 1 | `observe` | [`Action::ReadFeed`]: reading the peer's sync feed |
//! | 2 | `verify` | [`Action::Witness`]: witnessing (cosigning) the peer's checkpoints |
//! | 3 | `attest` | [`Action::CrossAnchor`]: anchoring checkpoints in each other's logs |
//! | 4 | `integrate` | [`Action::SharedCollections`]: shared collections |
//!
//! In JSON a level is its integer (`"trust_level": 2`). [`gate`] is the one check a node
//! makes before serving a peer's request: the highest level among the peer's agreements in
//! force must be at least the level the action needs.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FedError;

/// How much two nodes trust each other under an agreement.
///
/// Ordered: a higher level permits everything a lower one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrustLevel {
    /// 0: no sharing.
    Isolated = 0,
    /// 1: the peer may read the sync feed.
    Observe = 1,
    /// 2: the peer may also witness checkpoints.
    Verify = 2,
    /// 3: the peer may also cross-anchor.
    Attest = 3,
    /// 4: the peer may also use shared collections.
    Integrate = 4,
}

impl TrustLevel {
    /// Every level, lowest first.
    pub const ALL: [TrustLevel; 5] = [
        TrustLevel::Isolated,
        TrustLevel::Observe,
        TrustLevel::Verify,
        TrustLevel::Attest,
        TrustLevel::Integrate,
    ];

    /// The level numbered `n`.
    ///
    /// # Errors
    /// [`FedError::InvalidTrustLevel`] above 4.
    pub fn from_u8(n: u8) -> Result<Self, FedError> {
        match n {
            0 => Ok(TrustLevel::Isolated),
            1 => Ok(TrustLevel::Observe),
            2 => Ok(TrustLevel::Verify),
            3 => Ok(TrustLevel::Attest),
            4 => Ok(TrustLevel::Integrate),
            _ => Err(FedError::InvalidTrustLevel {
                value: u64::from(n),
            }),
        }
    }

    /// The level's number, 0 to 4.
    #[must_use]
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The level's name: `isolated`, `observe`, `verify`, `attest` or `integrate`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            TrustLevel::Isolated => "isolated",
            TrustLevel::Observe => "observe",
            TrustLevel::Verify => "verify",
            TrustLevel::Attest => "attest",
            TrustLevel::Integrate => "integrate",
        }
    }

    /// The level numbered `n`, for a JSON integer of any size.
    pub(crate) fn from_u64(n: u64) -> Result<Self, FedError> {
        u8::try_from(n)
            .ok()
            .and_then(|n| Self::from_u8(n).ok())
            .ok_or(FedError::InvalidTrustLevel { value: n })
    }
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_u8(), self.name())
    }
}

impl Serialize for TrustLevel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.as_u8())
    }
}

impl<'de> Deserialize<'de> for TrustLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        TrustLevel::from_u64(n).map_err(D::Error::custom)
    }
}

/// What a peer asks to do; each action needs a minimum trust level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the sync feed (needs [`TrustLevel::Observe`]).
    ReadFeed,
    /// Witness (cosign) checkpoints (needs [`TrustLevel::Verify`]).
    Witness,
    /// Cross-anchor checkpoints (needs [`TrustLevel::Attest`]).
    CrossAnchor,
    /// Use shared collections (needs [`TrustLevel::Integrate`]).
    SharedCollections,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 4] = [
        Action::ReadFeed,
        Action::Witness,
        Action::CrossAnchor,
        Action::SharedCollections,
    ];

    /// The lowest trust level that permits the action.
    #[must_use]
    pub fn required_level(self) -> TrustLevel {
        match self {
            Action::ReadFeed => TrustLevel::Observe,
            Action::Witness => TrustLevel::Verify,
            Action::CrossAnchor => TrustLevel::Attest,
            Action::SharedCollections => TrustLevel::Integrate,
        }
    }

    /// The action's stable name: `read_feed`, `witness`, `cross_anchor` or
    /// `shared_collections`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Action::ReadFeed => "read_feed",
            Action::Witness => "witness",
            Action::CrossAnchor => "cross_anchor",
            Action::SharedCollections => "shared_collections",
        }
    }

    /// The action as the subject of an English sentence ("reading the sync feed").
    #[must_use]
    pub fn phrase(self) -> &'static str {
        match self {
            Action::ReadFeed => "reading the sync feed",
            Action::Witness => "witnessing checkpoints",
            Action::CrossAnchor => "cross-anchoring checkpoints",
            Action::SharedCollections => "using shared collections",
        }
    }

    /// [`Action::phrase`] for an action given by [`Action::name`] (the form
    /// [`FedError::TrustLevelInsufficient`] stores).
    pub(crate) fn phrase_for(name: &str) -> &'static str {
        Action::ALL
            .iter()
            .find(|a| a.name() == name)
            .map_or("this action", |a| a.phrase())
    }
}

/// Level gating: whether a peer may perform `action`.
///
/// `agreed` is the highest trust level among the caller's agreements in force (`None` when
/// the peer has no agreement in force). Revoked, expired or not yet effective agreements
/// must not count; which agreements are in force is the caller's (the node's) business.
///
/// # Errors
/// [`FedError::TrustLevelInsufficient`] when `agreed` is absent or below
/// [`Action::required_level`].
pub fn gate(agreed: Option<TrustLevel>, action: Action) -> Result<(), FedError> {
    let needed = action.required_level();
    match agreed {
        Some(level) if level >= needed => Ok(()),
        _ => Err(FedError::TrustLevelInsufficient {
            needed,
            agreed,
            action: action.name(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_number_and_name() {
        for (n, level) in TrustLevel::ALL.iter().enumerate() {
            let n = u8::try_from(n).expect("small");
            assert_eq!(level.as_u8(), n);
            assert_eq!(TrustLevel::from_u8(n), Ok(*level));
            assert_eq!(TrustLevel::from_u64(u64::from(n)), Ok(*level));
        }
        let names: Vec<_> = TrustLevel::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(
            names,
            ["isolated", "observe", "verify", "attest", "integrate"]
        );
        for bad in [5_u8, 200, u8::MAX] {
            assert_eq!(
                TrustLevel::from_u8(bad).expect_err("no level").code(),
                "invalid_trust_level"
            );
        }
        assert!(TrustLevel::from_u64(256).is_err());
        assert!(TrustLevel::Isolated < TrustLevel::Integrate);
        assert_eq!(TrustLevel::Attest.to_string(), "3 (attest)");
    }

    #[test]
    fn levels_serialize_as_integers() {
        assert_eq!(
            serde_json::to_string(&TrustLevel::Verify).expect("json"),
            "2"
        );
        let l: TrustLevel = serde_json::from_str("4").expect("level");
        assert_eq!(l, TrustLevel::Integrate);
        assert!(serde_json::from_str::<TrustLevel>("5").is_err());
        assert!(serde_json::from_str::<TrustLevel>("-1").is_err());
        assert!(serde_json::from_str::<TrustLevel>("\"verify\"").is_err());
        assert!(serde_json::from_str::<TrustLevel>("1.0").is_err());
    }

    #[test]
    fn actions_need_their_levels() {
        let needed: Vec<_> = Action::ALL.iter().map(|a| a.required_level()).collect();
        assert_eq!(
            needed,
            [
                TrustLevel::Observe,
                TrustLevel::Verify,
                TrustLevel::Attest,
                TrustLevel::Integrate
            ]
        );
        let names: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(
            names,
            ["read_feed", "witness", "cross_anchor", "shared_collections"]
        );
    }

    #[test]
    fn gate_every_level_and_action() {
        for action in Action::ALL {
            let err = gate(None, action).expect_err("no agreement");
            assert_eq!(err.code(), "trust_level_insufficient");
            assert_eq!(
                err,
                FedError::TrustLevelInsufficient {
                    needed: action.required_level(),
                    agreed: None,
                    action: action.name(),
                }
            );
            for level in TrustLevel::ALL {
                let result = gate(Some(level), action);
                if level.as_u8() >= action.required_level().as_u8() {
                    assert_eq!(result, Ok(()), "{level:?} {action:?}");
                } else {
                    let err = result.expect_err("too low");
                    assert_eq!(err.code(), "trust_level_insufficient");
                    assert!(matches!(
                        err,
                        FedError::TrustLevelInsufficient { agreed: Some(l), .. } if l == level
                    ));
                }
            }
        }
    }

    #[test]
    fn gate_messages_name_the_needed_level() {
        assert_eq!(
            gate(None, Action::ReadFeed).expect_err("none").to_string(),
            "reading the sync feed needs trust level 1 (observe); this peer has no agreement in force"
        );
        assert_eq!(
            gate(Some(TrustLevel::Isolated), Action::ReadFeed)
                .expect_err("low")
                .to_string(),
            "reading the sync feed needs trust level 1 (observe); the agreement in force is at level 0 (isolated)"
        );
        assert_eq!(
            gate(Some(TrustLevel::Attest), Action::SharedCollections)
                .expect_err("low")
                .to_string(),
            "using shared collections needs trust level 4 (integrate); the agreement in force is at level 3 (attest)"
        );
    }
}
