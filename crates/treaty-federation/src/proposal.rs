//! The negotiation state machine, run identically by both parties on their own copy of
//! the thread.
//!
//! A negotiation is a chain of signed offers between a proposer and a target:
//!
//! 1. the proposer opens it with an offer in round 1 ([`Thread::open`]);
//! 2. the party the latest offer was made to (the one [`Thread::awaiting`] names) answers
//!    it, before it expires, in one of three ways:
//!    - a counter-offer in the next round whose `previous` is the [`Signed::hash`] of the
//!      latest offer ([`Thread::counter`]); rounds alternate, so the proposer makes the odd
//!      ones and the target the even ones, up to [`ROUNDS_MAX`];
//!    - a rejection of the latest round ([`Thread::reject`]), which ends the negotiation;
//!    - an agreement restating the latest offer exactly, signed by both parties
//!      ([`Thread::accept`]), which ends the negotiation.
//!
//! The answering party builds the agreement ([`crate::Agreement::from_offer`]), signs it
//! and sends it to the other party, which checks it with [`Thread::check_agreement`], adds
//! its own signature and records it with [`Thread::accept`]; it then returns the complete
//! agreement, which the first party records with [`Thread::accept`] in turn.
//!
//! | status | meaning |
//! |---|---|
//! | `open` | the latest offer awaits an answer and has not expired |
//! | `accepted` | an agreement was recorded |
//! | `rejected` | a rejection was recorded |
//! | `expired` | the latest offer expired unanswered (`now >= expires_at`) |
//!
//! **Signatures of offers and rejections are the caller's job.** Before calling
//! [`Thread::open`], [`Thread::counter`] or [`Thread::reject`], verify the document's
//! signature ([`Signed::verify`]) with the key of the node named in its `from`, taken from
//! that node's JWKS. This module checks who may speak when, not who spoke. Agreement
//! signatures, whose keys the agreement embeds, are verified here.
//!
//! # Storage JSON
//!
//! ```json
//! {
//!   "proposal_id": "p-2026-0001",
//!   "proposer": "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab",
//!   "target": "5d1e2f3a-4b5c-4d6e-8f70-0a1b2c3d4e5f",
//!   "offers": [{"type": "treaty.trust-offer/v1", "...": "..."}],
//!   "rejection": {"type": "treaty.trust-rejection/v1", "...": "..."},
//!   "agreement": {"type": "treaty.trust-agreement/v1", "...": "..."}
//! }
//! ```
//!
//! | member | type | rule |
//! |---|---|---|
//! | `proposal_id` | string | as in every offer |
//! | `proposer` | string | as in every offer |
//! | `target` | string | as in every offer |
//! | `offers` | array | 1 to [`ROUNDS_MAX`] signed offers, round 1 first, each countering the one before |
//! | `rejection` | object, optional | the signed rejection that ended the negotiation |
//! | `agreement` | object, optional | the signed agreement that ended it; never together with `rejection` |
//!
//! [`Thread::from_value`] replays the chain rules (not the clock, and not the offer
//! signatures, whose keys it does not have), so a stored thread that parses is one the
//! state machine could have produced.

use serde_json::{Map, Value};

use crate::FedError;
use crate::agreement::{Agreement, SignedAgreement};
use crate::doc::{Offer, Rejection, Signed};
use crate::error::clip;
use crate::json::{Obj, check_count, check_id, check_node_id, invalid};
use crate::limits::{CLOCK_SKEW_SECONDS_MAX, ROUNDS_MAX};

/// Where a negotiation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalStatus {
    /// The latest offer awaits an answer.
    Open,
    /// An agreement was recorded.
    Accepted,
    /// A rejection was recorded.
    Rejected,
    /// The latest offer expired unanswered.
    Expired,
}

impl ProposalStatus {
    /// `open`, `accepted`, `rejected` or `expired`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Open => "open",
            ProposalStatus::Accepted => "accepted",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::Expired => "expired",
        }
    }
}

/// One negotiation: its offers and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// The negotiation's ID.
    pub proposal_id: String,
    /// Node ID of the proposer.
    pub proposer: String,
    /// Node ID of the target.
    pub target: String,
    /// The offers, round 1 first.
    pub offers: Vec<Signed<Offer>>,
    /// The rejection that ended the negotiation, if any.
    pub rejection: Option<Signed<Rejection>>,
    /// The agreement that ended the negotiation, if any.
    pub agreement: Option<SignedAgreement>,
}

impl Thread {
    /// Opens a negotiation with its first offer.
    ///
    /// Takes no time: check [`Offer::check_timely`] on the offer when it arrives. Verify
    /// its signature with the proposer's key first (see the module documentation).
    ///
    /// # Errors
    /// [`FedError::RoundMismatch`] (not round 1), [`FedError::NotYourTurn`] (not from the
    /// proposer), [`FedError::OfferChainBroken`] (has a `previous`), and what
    /// [`Offer::validate`] refuses.
    pub fn open(first: Signed<Offer>) -> Result<Thread, FedError> {
        let o = &first.body;
        if o.round != 1 {
            return Err(FedError::RoundMismatch {
                expected: 1,
                got: o.round,
            });
        }
        if o.from != o.proposer {
            return Err(FedError::NotYourTurn {
                expected: clip(&o.proposer),
                got: clip(&o.from),
            });
        }
        if o.previous.is_some() {
            return Err(FedError::OfferChainBroken {
                reason: "the opening offer has no previous offer",
            });
        }
        o.validate()?;
        Ok(Thread {
            proposal_id: o.proposal_id.clone(),
            proposer: o.proposer.clone(),
            target: o.target.clone(),
            offers: vec![first],
            rejection: None,
            agreement: None,
        })
    }

    /// The latest offer.
    #[must_use]
    pub fn latest(&self) -> Option<&Signed<Offer>> {
        self.offers.last()
    }

    /// The party who must answer the latest offer, while the negotiation is neither
    /// accepted nor rejected. Does not look at the clock: see [`Thread::status`] for expiry.
    #[must_use]
    pub fn awaiting(&self) -> Option<&str> {
        if self.rejection.is_some() || self.agreement.is_some() {
            return None;
        }
        self.latest().map(|o| o.body.answerer())
    }

    /// The negotiation's status at `now`.
    #[must_use]
    pub fn status(&self, now: u64) -> ProposalStatus {
        if self.agreement.is_some() {
            return ProposalStatus::Accepted;
        }
        if self.rejection.is_some() {
            return ProposalStatus::Rejected;
        }
        match self.latest() {
            Some(o) if now < o.body.expires_at => ProposalStatus::Open,
            _ => ProposalStatus::Expired,
        }
    }

    /// Records a counter-offer. Verify its signature with the key of its `from` first.
    ///
    /// # Errors
    /// [`FedError::ProposalClosed`], [`FedError::ProposalExpired`] (the latest offer or
    /// the counter itself), [`FedError::ProposalMismatch`], [`FedError::NotYourTurn`],
    /// [`FedError::RoundsExhausted`], [`FedError::RoundMismatch`],
    /// [`FedError::OfferChainBroken`], [`FedError::IssuedInFuture`], and what
    /// [`Offer::validate`] refuses.
    pub fn counter(&mut self, offer: Signed<Offer>, now: u64) -> Result<(), FedError> {
        self.append(offer, Some(now))
    }

    /// Records the rejection of the latest offer. Verify its signature with the key of its
    /// `from` first.
    ///
    /// # Errors
    /// [`FedError::ProposalClosed`], [`FedError::ProposalExpired`],
    /// [`FedError::ProposalMismatch`], [`FedError::NotYourTurn`],
    /// [`FedError::RoundMismatch`], [`FedError::IssuedInFuture`], and what
    /// [`Rejection::validate`] refuses.
    pub fn reject(&mut self, r: Signed<Rejection>, now: u64) -> Result<(), FedError> {
        self.record_rejection(r, Some(now))
    }

    /// Checks that `agreement` restates the latest offer exactly and was formed while it
    /// was open, without looking at signatures. The party that receives a half-signed
    /// agreement calls it before adding its own signature.
    ///
    /// # Errors
    /// [`FedError::ProposalClosed`], [`FedError::ProposalExpired`],
    /// [`FedError::AgreementMismatch`], [`FedError::IssuedInFuture`] (`established_at`
    /// ahead of `now`) and what [`Agreement::validate`] refuses.
    pub fn check_agreement(&self, agreement: &Agreement, now: u64) -> Result<(), FedError> {
        self.check_agreement_at(agreement, Some(now))
    }

    /// Records the agreement that accepts the latest offer. It must restate that offer
    /// exactly ([`Thread::check_agreement`]) and carry both parties' valid signatures.
    ///
    /// # Errors
    /// What [`Thread::check_agreement`] and [`SignedAgreement::verify_complete`] refuse.
    pub fn accept(&mut self, a: SignedAgreement, now: u64) -> Result<(), FedError> {
        self.record_agreement(a, Some(now))
    }

    /// Refuses to go on with a negotiation that has ended; `now = None` skips expiry (a
    /// stored thread being reloaded).
    fn ensure_open(&self, now: Option<u64>) -> Result<&Signed<Offer>, FedError> {
        if self.agreement.is_some() {
            return Err(FedError::ProposalClosed { status: "accepted" });
        }
        if self.rejection.is_some() {
            return Err(FedError::ProposalClosed { status: "rejected" });
        }
        let latest = self.latest().ok_or(FedError::OfferChainBroken {
            reason: "the negotiation has no offer",
        })?;
        if let Some(now) = now {
            if now >= latest.body.expires_at {
                return Err(FedError::ProposalExpired {
                    expires_at: latest.body.expires_at,
                    now,
                });
            }
        }
        Ok(latest)
    }

    /// Refuses a document that belongs to another negotiation.
    fn check_same(&self, proposal_id: &str, parties: Option<(&str, &str)>) -> Result<(), FedError> {
        if proposal_id != self.proposal_id {
            return Err(FedError::ProposalMismatch {
                member: "proposal_id",
            });
        }
        if let Some((proposer, target)) = parties {
            if proposer != self.proposer {
                return Err(FedError::ProposalMismatch { member: "proposer" });
            }
            if target != self.target {
                return Err(FedError::ProposalMismatch { member: "target" });
            }
        }
        Ok(())
    }

    /// Refuses a document from a party whose turn it is not.
    fn check_turn(latest: &Signed<Offer>, from: &str) -> Result<(), FedError> {
        let expected = latest.body.answerer();
        if from == expected {
            Ok(())
        } else {
            Err(FedError::NotYourTurn {
                expected: expected.to_owned(),
                got: clip(from),
            })
        }
    }

    fn append(&mut self, offer: Signed<Offer>, now: Option<u64>) -> Result<(), FedError> {
        let latest = self.ensure_open(now)?;
        let o = &offer.body;
        self.check_same(&o.proposal_id, Some((&o.proposer, &o.target)))?;
        Self::check_turn(latest, &o.from)?;
        if latest.body.round >= ROUNDS_MAX {
            return Err(FedError::RoundsExhausted { max: ROUNDS_MAX });
        }
        let expected = latest.body.round.saturating_add(1);
        if o.round != expected {
            return Err(FedError::RoundMismatch {
                expected,
                got: o.round,
            });
        }
        if o.previous.as_deref() != Some(latest.hash().as_str()) {
            return Err(FedError::OfferChainBroken {
                reason: "previous is not the hash of the latest offer",
            });
        }
        o.validate()?;
        if let Some(now) = now {
            o.check_timely(now)?;
        }
        self.offers.push(offer);
        Ok(())
    }

    fn record_rejection(&mut self, r: Signed<Rejection>, now: Option<u64>) -> Result<(), FedError> {
        let latest = self.ensure_open(now)?;
        let b = &r.body;
        self.check_same(&b.proposal_id, None)?;
        Self::check_turn(latest, &b.from)?;
        if b.round != latest.body.round {
            return Err(FedError::RoundMismatch {
                expected: latest.body.round,
                got: b.round,
            });
        }
        b.validate()?;
        if let Some(now) = now {
            check_not_future("created_at", b.created_at, now)?;
        }
        self.rejection = Some(r);
        Ok(())
    }

    fn check_agreement_at(&self, a: &Agreement, now: Option<u64>) -> Result<(), FedError> {
        let latest = self.ensure_open(now)?;
        a.validate()?;
        let o = &latest.body;
        let mismatch = |member| Err(FedError::AgreementMismatch { member });
        if a.proposal_id != o.proposal_id {
            return mismatch("proposal_id");
        }
        if a.parties != [o.proposer.as_str(), o.target.as_str()] {
            return mismatch("parties");
        }
        if a.trust_level != o.trust_level {
            return mismatch("trust_level");
        }
        if a.terms != o.terms {
            return mismatch("terms");
        }
        if a.offer_hash != latest.hash() {
            return mismatch("offer_hash");
        }
        // Formed while the offer was open (the stored form has no clock to compare with,
        // but this much it can still show).
        if a.established_at >= o.expires_at {
            return mismatch("established_at");
        }
        if let Some(now) = now {
            check_not_future("established_at", a.established_at, now)?;
        }
        Ok(())
    }

    fn record_agreement(&mut self, a: SignedAgreement, now: Option<u64>) -> Result<(), FedError> {
        self.check_agreement_at(&a.agreement, now)?;
        a.verify_complete()?;
        self.agreement = Some(a);
        Ok(())
    }

    /// The storage form (see the module documentation).
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("proposal_id".into(), self.proposal_id.as_str().into());
        m.insert("proposer".into(), self.proposer.as_str().into());
        m.insert("target".into(), self.target.as_str().into());
        m.insert(
            "offers".into(),
            Value::Array(self.offers.iter().map(Signed::to_value).collect()),
        );
        if let Some(r) = &self.rejection {
            m.insert("rejection".into(), r.to_value());
        }
        if let Some(a) = &self.agreement {
            m.insert("agreement".into(), a.to_value());
        }
        Value::Object(m)
    }

    /// Parses a stored thread and replays its chain rules (see the module documentation).
    /// Errors inside a document name paths relative to that document.
    ///
    /// # Errors
    /// The structural errors, [`FedError::TooMany`] (more than [`ROUNDS_MAX`] offers), what
    /// the document parsers refuse, and what [`Thread::open`], [`Thread::counter`],
    /// [`Thread::reject`] and [`Thread::accept`] refuse apart from the clock checks.
    pub fn from_value(v: &Value) -> Result<Thread, FedError> {
        let o = Obj::new(v, "")?;
        o.only(&[
            "proposal_id",
            "proposer",
            "target",
            "offers",
            "rejection",
            "agreement",
        ])?;
        let proposal_id = o.str("proposal_id")?;
        check_id(&o.at("proposal_id"), proposal_id)?;
        let proposer = o.str("proposer")?;
        check_node_id(&o.at("proposer"), proposer)?;
        let target = o.str("target")?;
        check_node_id(&o.at("target"), target)?;
        let items = o.array("offers")?;
        check_count("offers", items.len(), ROUNDS_MAX as usize)?;
        let mut offers = items.iter().map(Signed::<Offer>::from_value);
        let first = offers
            .next()
            .ok_or_else(|| invalid(&o.at("offers"), "a negotiation has at least one offer"))??;
        let mut thread = Thread::open(first)?;
        thread.check_same(proposal_id, Some((proposer, target)))?;
        for offer in offers {
            thread.append(offer?, None)?;
        }
        match (o.opt("rejection"), o.opt("agreement")) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &o.at("agreement"),
                    "a negotiation is either rejected or accepted, not both",
                ));
            }
            (Some(r), None) => thread.record_rejection(Signed::from_value(r)?, None)?,
            (None, Some(a)) => thread.record_agreement(SignedAgreement::from_value(a)?, None)?,
            (None, None) => {}
        }
        Ok(thread)
    }
}

/// Refuses a creation time more than [`CLOCK_SKEW_SECONDS_MAX`] ahead of `now`.
fn check_not_future(what: &'static str, time: u64, now: u64) -> Result<(), FedError> {
    if time > now.saturating_add(CLOCK_SKEW_SECONDS_MAX) {
        return Err(FedError::IssuedInFuture { what, time, now });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::{Document as _, TrustLevel};

    fn opened() -> (Thread, Signed<Offer>) {
        let first = sign_offer(offer1());
        (Thread::open(first.clone()).expect("opens"), first)
    }

    #[test]
    fn open_rules() {
        let (t, first) = opened();
        assert_eq!(t.proposal_id, "p-1");
        assert_eq!((t.proposer.as_str(), t.target.as_str()), (A, B));
        assert_eq!(t.latest(), Some(&first));
        assert_eq!(t.awaiting(), Some(B));
        assert_eq!(t.status(NOW), ProposalStatus::Open);

        let second = sign_offer(counter_to(&first, 60));
        assert_eq!(
            Thread::open(second.clone()).expect_err("round 2"),
            FedError::RoundMismatch {
                expected: 1,
                got: 2
            }
        );
        let mut from_target = second.clone();
        from_target.body.round = 1;
        assert_eq!(
            Thread::open(from_target).expect_err("target").code(),
            "not_your_turn"
        );
        let mut with_previous = first.clone();
        with_previous.body.previous = Some(first.hash());
        assert_eq!(
            Thread::open(with_previous).expect_err("previous").code(),
            "offer_chain_broken"
        );
        let mut invalid = first.clone();
        invalid.body.target = A.into();
        assert_eq!(
            Thread::open(invalid).expect_err("self").code(),
            "invalid_field"
        );
    }

    #[test]
    fn counter_rules() {
        let (t, first) = opened();
        let good = counter_to(&first, 60);
        let try_counter = |o: Offer, now: u64| {
            let mut t = t.clone();
            t.counter(sign_offer(o), now).map(|()| t)
        };
        let t2 = try_counter(good.clone(), NOW + 60).expect("counters");
        assert_eq!(t2.awaiting(), Some(A));
        assert_eq!(t2.offers.len(), 2);

        let code = |o: Offer, now: u64| try_counter(o, now).expect_err("refused").code();
        assert_eq!(
            code(
                Offer {
                    proposal_id: "p-2".into(),
                    ..good.clone()
                },
                NOW
            ),
            "proposal_mismatch"
        );
        // Another proposer or target: the body is still a valid offer between other nodes.
        let other_parties = Offer {
            proposer: C.into(),
            from: B.into(),
            ..good.clone()
        };
        assert_eq!(code(other_parties, NOW), "proposal_mismatch");
        let mut wrong_turn = good.clone();
        wrong_turn.from = A.into();
        wrong_turn.round = 3;
        assert_eq!(code(wrong_turn, NOW), "not_your_turn");
        let skipped = Offer {
            round: 4,
            ..good.clone()
        };
        assert_eq!(code(skipped, NOW), "round_mismatch");
        let unlinked = Offer {
            previous: Some(format!("sha256:{}", "00".repeat(32))),
            ..good.clone()
        };
        assert_eq!(code(unlinked, NOW), "offer_chain_broken");
        assert_eq!(code(good.clone(), NOW + DAY), "proposal_expired");
        let future = Offer {
            created_at: NOW + 1000,
            expires_at: NOW + 1000 + DAY,
            ..good.clone()
        };
        assert_eq!(code(future, NOW), "issued_in_future");
        let stale = Offer {
            created_at: NOW - 100,
            expires_at: NOW - 50,
            ..good.clone()
        };
        assert_eq!(code(stale, NOW), "proposal_expired");
        let invalid = Offer {
            expires_at: good.created_at,
            ..good.clone()
        };
        let mut t3 = t.clone();
        let mut s = sign_offer(good.clone());
        s.body = invalid;
        assert_eq!(
            t3.counter(s, NOW).expect_err("invalid").code(),
            "invalid_field"
        );

        // A counter after the end.
        let mut closed = t.clone();
        closed
            .reject(sign_rejection(rejection(1, B)), NOW)
            .expect("rejects");
        assert_eq!(
            closed
                .counter(sign_offer(good.clone()), NOW)
                .expect_err("closed"),
            FedError::ProposalClosed { status: "rejected" }
        );
    }

    #[test]
    fn rounds_run_out() {
        let (mut t, _) = opened();
        for i in 2..=ROUNDS_MAX {
            let next = counter_to(t.latest().expect("offer"), u64::from(i));
            t.counter(sign_offer(next), NOW + u64::from(i))
                .expect("counters");
        }
        assert_eq!(t.offers.len(), ROUNDS_MAX as usize);
        let latest = t.latest().expect("offer").clone();
        let mut over = counter_to(&latest, 100);
        over.round = ROUNDS_MAX + 1;
        let mut s = latest.clone();
        s.body = over;
        assert_eq!(
            t.counter(s, NOW + 100).expect_err("exhausted").code(),
            "rounds_exhausted"
        );
        // Accepting or rejecting the last offer still works.
        let mut r = t.clone();
        let answerer = latest.body.answerer().to_owned();
        r.reject(sign_rejection(rejection(ROUNDS_MAX, &answerer)), NOW + 100)
            .expect("rejects");
        let agreement = agreement_for(&latest, NOW + 100);
        t.accept(agreement, NOW + 110).expect("accepts");
        let stored = Thread::from_value(&t.to_value()).expect("reloads");
        assert_eq!(stored, t);
    }

    #[test]
    fn reject_rules() {
        let (t, _) = opened();
        let code = |r: Rejection, now: u64| {
            let mut t = t.clone();
            t.reject(sign_rejection(r), now)
                .expect_err("refused")
                .code()
        };
        let mut ok = t.clone();
        ok.reject(sign_rejection(rejection(1, B)), NOW)
            .expect("rejects");
        assert_eq!(ok.status(NOW), ProposalStatus::Rejected);
        assert_eq!(ok.status(NOW + 10 * DAY), ProposalStatus::Rejected);
        assert_eq!(ok.awaiting(), None);

        assert_eq!(code(rejection(1, A), NOW), "not_your_turn");
        assert_eq!(code(rejection(2, B), NOW), "round_mismatch");
        assert_eq!(
            code(
                Rejection {
                    proposal_id: "p-9".into(),
                    ..rejection(1, B)
                },
                NOW
            ),
            "proposal_mismatch"
        );
        assert_eq!(code(rejection(1, B), NOW + DAY), "proposal_expired");
        assert_eq!(
            code(
                Rejection {
                    created_at: NOW + 10_000,
                    ..rejection(1, B)
                },
                NOW
            ),
            "issued_in_future"
        );
        let mut invalid = sign_rejection(rejection(1, B));
        invalid.body.reason = String::new();
        let mut t2 = t.clone();
        assert_eq!(
            t2.reject(invalid, NOW).expect_err("reason").code(),
            "invalid_field"
        );
        assert_eq!(
            ok.reject(sign_rejection(rejection(1, B)), NOW)
                .expect_err("twice"),
            FedError::ProposalClosed { status: "rejected" }
        );
    }

    #[test]
    fn accept_rules() {
        let (t, first) = opened();
        let at = NOW + 100;
        let good = agreement_for(&first, at);
        let mut ok = t.clone();
        ok.accept(good.clone(), at + 10).expect("accepts");
        assert_eq!(ok.status(at + 10), ProposalStatus::Accepted);
        assert_eq!(ok.awaiting(), None);
        assert_eq!(
            ok.accept(good.clone(), at + 10).expect_err("twice"),
            FedError::ProposalClosed { status: "accepted" }
        );

        let resigned = |change: &dyn Fn(&mut Agreement)| {
            let mut a = good.agreement.clone();
            change(&mut a);
            let mut s = SignedAgreement::new(a);
            s.sign_as(A, &key_a(), at).expect("A");
            s.sign_as(B, &key_b(), at).expect("B");
            s
        };
        let code = |a: SignedAgreement, now: u64| {
            let mut t = t.clone();
            t.accept(a, now).expect_err("refused")
        };
        let mismatch = |member| FedError::AgreementMismatch { member };
        assert_eq!(
            code(resigned(&|a| a.proposal_id = "p-2".into()), at),
            mismatch("proposal_id")
        );
        assert_eq!(
            code(resigned(&|a| a.parties = [B.into(), A.into()]), at),
            mismatch("parties")
        );
        assert_eq!(
            code(resigned(&|a| a.trust_level = TrustLevel::Integrate), at),
            mismatch("trust_level")
        );
        assert_eq!(
            code(resigned(&|a| a.terms.audit_rights = false), at),
            mismatch("terms")
        );
        assert_eq!(
            code(
                resigned(&|a| a.offer_hash = format!("sha256:{}", "11".repeat(32))),
                at
            ),
            mismatch("offer_hash")
        );
        assert_eq!(
            code(resigned(&|a| a.established_at = NOW + DAY), at),
            mismatch("established_at")
        );
        assert_eq!(
            code(resigned(&|a| a.established_at = NOW + 1000), NOW).code(),
            "issued_in_future"
        );
        assert_eq!(code(good.clone(), NOW + DAY).code(), "proposal_expired");
        let mut half = good.clone();
        half.signatures.remove(B);
        assert_eq!(code(half, at).code(), "missing_party_signature");
        let mut forged = good.clone();
        if let Some(s) = forged.signatures.get_mut(B) {
            s.sig[5] ^= 4;
        }
        assert_eq!(code(forged, at).code(), "bad_agreement_signature");
        // An agreement for an earlier offer once a counter is on the table.
        let mut countered = t.clone();
        countered
            .counter(sign_offer(counter_to(&first, 60)), NOW + 60)
            .expect("counters");
        assert_eq!(
            countered.accept(good.clone(), at).expect_err("stale"),
            mismatch("offer_hash")
        );
        // check_agreement needs no signatures.
        t.check_agreement(&good.agreement, at).expect("matches");
    }

    #[test]
    fn expiry_follows_the_latest_offer() {
        let (mut t, first) = opened();
        assert_eq!(t.status(NOW + DAY - 1), ProposalStatus::Open);
        assert_eq!(t.status(NOW + DAY), ProposalStatus::Expired);
        t.counter(sign_offer(counter_to(&first, 3600)), NOW + 3600)
            .expect("counters");
        // The counter expires a day after it was made, not with the first offer.
        assert_eq!(t.status(NOW + DAY), ProposalStatus::Open);
        assert_eq!(t.status(NOW + 3600 + DAY), ProposalStatus::Expired);
        // awaiting ignores the clock.
        assert_eq!(t.awaiting(), Some(A));
        let empty = Thread {
            offers: vec![],
            ..t.clone()
        };
        assert_eq!(empty.status(NOW), ProposalStatus::Expired);
        assert_eq!(empty.awaiting(), None);
        assert_eq!(ProposalStatus::Expired.as_str(), "expired");
    }

    #[test]
    fn storage_round_trip_and_rules() {
        let (mut t, first) = opened();
        let second = sign_offer(counter_to(&first, 60));
        t.counter(second.clone(), NOW + 60).expect("counters");
        let third = sign_offer(counter_to(&second, 120));
        t.counter(third.clone(), NOW + 120).expect("counters");
        let v = t.to_value();
        assert_eq!(Thread::from_value(&v), Ok(t.clone()));
        assert!(v.get("rejection").is_none() && v.get("agreement").is_none());

        let mut rejected = t.clone();
        rejected
            .reject(sign_rejection(rejection(3, B)), NOW + 130)
            .expect("rejects");
        let rv = rejected.to_value();
        assert_eq!(Thread::from_value(&rv), Ok(rejected.clone()));

        let mut accepted = t.clone();
        accepted
            .accept(agreement_for(&third, NOW + 130), NOW + 140)
            .expect("accepts");
        let av = accepted.to_value();
        assert_eq!(Thread::from_value(&av), Ok(accepted.clone()));
        // Reloading ignores the clock: the stored thread is accepted whatever the time.
        assert_eq!(
            Thread::from_value(&av).expect("reloads").status(u64::MAX),
            ProposalStatus::Accepted
        );

        let offers = v["offers"].as_array().expect("offers").clone();
        let cases: Vec<(Value, &str)> = vec![
            (serde_json::json!(null), "wrong_type"),
            (with(&v, "extra", serde_json::json!(1)), "unknown_field"),
            (without(&v, "offers"), "missing_field"),
            (with(&v, "offers", serde_json::json!([])), "invalid_field"),
            (
                with(&v, "offers", Value::Array(vec![offers[0].clone(); 17])),
                "too_many",
            ),
            (
                with(
                    &v,
                    "offers",
                    Value::Array(vec![offers[0].clone(), offers[2].clone()]),
                ),
                "not_your_turn",
            ),
            (
                with(&v, "offers", Value::Array(vec![offers[1].clone()])),
                "round_mismatch",
            ),
            (
                with(&v, "proposal_id", serde_json::json!("p-2")),
                "proposal_mismatch",
            ),
            (
                with(&v, "proposal_id", serde_json::json!("p 2")),
                "invalid_field",
            ),
            (
                with(&v, "target", serde_json::json!(C)),
                "proposal_mismatch",
            ),
            (
                with(&v, "proposer", serde_json::json!("x")),
                "invalid_node_id",
            ),
            (
                with(&av, "rejection", rv["rejection"].clone()),
                "invalid_field",
            ),
            (
                with(
                    &v,
                    "rejection",
                    with(&rv["rejection"], "round", serde_json::json!(2)),
                ),
                "round_mismatch",
            ),
            (
                with(
                    &v,
                    "agreement",
                    with(
                        &av["agreement"],
                        "agreement_hash",
                        serde_json::json!(format!("sha256:{}", "00".repeat(32))),
                    ),
                ),
                "agreement_hash_mismatch",
            ),
            (
                with(
                    &v,
                    "offers",
                    Value::Array(vec![
                        offers[0].clone(),
                        with(
                            &offers[1],
                            "type",
                            serde_json::json!("treaty.trust-rejection/v1"),
                        ),
                    ]),
                ),
                "wrong_document_type",
            ),
        ];
        for (value, code) in cases {
            let err = Thread::from_value(&value).expect_err(code);
            assert_eq!(err.code(), code, "{err}");
        }
        // An agreement for the first offer of a three-round thread.
        let stale = agreement_for(&first, NOW + 10).to_value();
        assert_eq!(
            Thread::from_value(&with(&v, "agreement", stale)).expect_err("stale"),
            FedError::AgreementMismatch {
                member: "offer_hash"
            }
        );
        let _ = first.body.to_value();
    }
}
