//! Registry-card propagation: reading a peer's list of the registry cards it knows, and
//! deciding which of them this node keeps.
//!
//! Each node serves `GET /v1/federation/registry-cards`: the cards of its first-hand peers
//! (`hops` 1) and the cards it learned from them (`hops` 2 and more), each with its JWKS.
//! A node fetches the list from each of its dialed peers once per sync cycle, so a card
//! travels one hop per cycle, breadth first, and is not kept beyond [`REGISTRY_HOPS_MAX`]
//! hops. Registries learned this way are `DISCOVERED` ([`crate::PeerStatus::Discovered`]):
//! known, never dialed.
//!
//! This module only reads the list ([`parse_registry_cards`]) and applies the keeping rules
//! ([`decide`]); verifying each card's signature against its JWKS (and the key continuity
//! of a card already known) is the node's job with `treaty-card`, before anything is
//! stored.

use std::collections::HashSet;

use serde_json::Value;

use crate::FedError;
use crate::error::clip;
use crate::json::{Obj, check_count, invalid, jcs, node_id_is_valid, parse_json, pointer_index};
use crate::limits::{
    REGISTRY_CARD_BYTES_MAX, REGISTRY_CARDS_PAGE_BYTES_MAX, REGISTRY_JWKS_BYTES_MAX,
    REGISTRY_NAME_BYTES_MAX,
};
/// The limits a node needs with this module, also available here.
pub use crate::limits::{REGISTRY_CARDS_PAGE_MAX, REGISTRY_HOPS_MAX};
use treaty_types::limits::SAFE_INTEGER_MAX;

/// One item of `GET /v1/federation/registry-cards`:
/// `{"node_id", "name", "hops", "seq", "card": {..}, "jwks": {..}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedCard {
    /// The registry's node ID (a lowercase hyphenated UUID); the card's own `node_id`.
    pub node_id: String,
    /// The registry's name, for display (1 to [`REGISTRY_NAME_BYTES_MAX`] bytes, no
    /// control characters).
    pub name: String,
    /// The distance as the relayer counts it: 1 = the relayer's first-hand peer. 1 to
    /// [`REGISTRY_HOPS_MAX`].
    pub hops: u32,
    /// The relayer's change sequence number of this item (at most the page's `next`).
    pub seq: u64,
    /// The registry card document, as the registry signed it (not verified here).
    pub card: Value,
    /// The registry's JWKS document.
    pub jwks: Value,
}

/// One page of `GET /v1/federation/registry-cards`: `{"cards": [..], "next": <seq>}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryCardsPage {
    /// The items, at most [`REGISTRY_CARDS_PAGE_MAX`], each registry at most once.
    pub cards: Vec<RelayedCard>,
    /// The relayer's sequence number to continue from (the cursor of the next page).
    pub next: u64,
}

/// Parses a page of `GET /v1/federation/registry-cards`, strictly: duplicate member names
/// and unknown members are refused at every level but inside `card` and `jwks` (those are
/// the registry's documents, which `treaty-card` checks).
///
/// Limits: the page at most [`REGISTRY_CARDS_PAGE_BYTES_MAX`] bytes and
/// [`REGISTRY_CARDS_PAGE_MAX`] items; `next` and every `seq` at most 2^53 - 1, and every
/// `seq` at most `next`; `hops` 1 to [`REGISTRY_HOPS_MAX`]; `node_id` a node ID, once per
/// page, equal to the card's `node_id`; `name` 1 to [`REGISTRY_NAME_BYTES_MAX`] bytes
/// without control characters; `card` and `jwks` objects of at most
/// [`REGISTRY_CARD_BYTES_MAX`] and [`REGISTRY_JWKS_BYTES_MAX`] bytes in RFC 8785 form
/// (so, like every card, without fractions or unsafe integers).
///
/// # Errors
/// [`FedError::TooLarge`], [`FedError::InvalidJson`], [`FedError::TooMany`],
/// [`FedError::MissingField`], [`FedError::WrongType`], [`FedError::UnknownField`],
/// [`FedError::InvalidNodeId`], [`FedError::InvalidField`] and [`FedError::UnsafeJson`],
/// each with the JSON pointer of the offending member.
pub fn parse_registry_cards(bytes: &[u8]) -> Result<RegistryCardsPage, FedError> {
    let value = parse_json(bytes, REGISTRY_CARDS_PAGE_BYTES_MAX)?;
    let page = Obj::new(&value, "")?;
    page.only(&["cards", "next"])?;
    let next = page.u64("next")?;
    if next > SAFE_INTEGER_MAX {
        return Err(invalid(&page.at("next"), "above 2^53 - 1"));
    }
    let items = page.array("cards")?;
    check_count("registry cards", items.len(), REGISTRY_CARDS_PAGE_MAX)?;
    let mut seen = HashSet::with_capacity(items.len());
    let mut cards = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let o = Obj::new(item, &pointer_index("/cards", i))?;
        o.only(&["node_id", "name", "hops", "seq", "card", "jwks"])?;
        let node_id = o.str("node_id")?;
        if !node_id_is_valid(node_id) {
            return Err(FedError::InvalidNodeId {
                path: o.at("node_id"),
                value: clip(node_id),
            });
        }
        if !seen.insert(node_id) {
            return Err(invalid(&o.at("node_id"), "the registry is listed twice"));
        }
        let name = o.str("name")?;
        if name.is_empty()
            || name.len() > REGISTRY_NAME_BYTES_MAX
            || name.chars().any(char::is_control)
        {
            return Err(invalid(
                &o.at("name"),
                "use 1-128 bytes without control characters",
            ));
        }
        let hops = o.u32("hops")?;
        if !(1..=REGISTRY_HOPS_MAX).contains(&hops) {
            return Err(invalid(&o.at("hops"), "hops are 1 to REGISTRY_HOPS_MAX"));
        }
        let seq = o.u64("seq")?;
        if seq > next {
            return Err(invalid(&o.at("seq"), "beyond the page's next"));
        }
        let card = o.req("card")?;
        let card_obj = Obj::new(card, &o.at("card"))?;
        jcs("relayed card", card, REGISTRY_CARD_BYTES_MAX)?;
        if card_obj.str("node_id")? != node_id {
            return Err(invalid(&card_obj.at("node_id"), "not the item's node_id"));
        }
        let jwks = o.req("jwks")?;
        Obj::new(jwks, &o.at("jwks"))?;
        jcs("relayed JWKS", jwks, REGISTRY_JWKS_BYTES_MAX)?;
        cards.push(RelayedCard {
            node_id: node_id.to_owned(),
            name: name.to_owned(),
            hops,
            seq,
            card: card.clone(),
            jwks: jwks.clone(),
        });
    }
    Ok(RegistryCardsPage { cards, next })
}

/// What this node holds for a registry a relayed card is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownRegistry {
    /// Whether it is a first-hand peer (registered with this node, or added by the
    /// operator), whose card this node syncs from the registry itself.
    pub first_hand: bool,
    /// Its distance as stored: 0 for a first-hand peer, else the hops it was stored with.
    pub hops: u32,
    /// Whether the stored card equals the relayed one.
    pub same_card: bool,
}

/// Why a relayed card is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeepReason {
    /// The card is this node's own.
    OwnCard,
    /// It would be more than [`REGISTRY_HOPS_MAX`] hops from this node.
    TooFar,
    /// The registry is a first-hand peer: its card comes from itself, never from a relay.
    FirstHand,
    /// The stored card is the same and at least as close.
    NotCloser,
}

impl KeepReason {
    /// The stable `snake_case` name, for logs and metrics: `own_card`, `too_far`,
    /// `first_hand`, `not_closer`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            KeepReason::OwnCard => "own_card",
            KeepReason::TooFar => "too_far",
            KeepReason::FirstHand => "first_hand",
            KeepReason::NotCloser => "not_closer",
        }
    }
}

/// What to do with a relayed card (once the node has verified it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardDecision {
    /// Store it as a new `DISCOVERED` registry, at `hops` from this node.
    Insert {
        /// The registry's distance from this node.
        hops: u32,
    },
    /// Replace the stored discovered card with it, and store `hops` as the distance.
    Replace {
        /// The registry's distance from this node.
        hops: u32,
    },
    /// Store nothing.
    Keep(KeepReason),
}

/// Whether to store `relayed` (from a peer's list) given what this node holds for the
/// registry (`known`, `None` when nothing). In order:
///
/// 1. this node's own card ([`KeepReason::OwnCard`]);
/// 2. the local distance is `relayed.hops + 1` (the relayer is one hop away); beyond
///    [`REGISTRY_HOPS_MAX`] it is not kept ([`KeepReason::TooFar`]);
/// 3. a first-hand peer's card is never replaced by a relayed one
///    ([`KeepReason::FirstHand`]): its card is synced from the registry itself, and a
///    relayer's copy may be stale. (Replacing it made a stale relayed mirror revert a
///    freshly synced card on every cycle.)
/// 4. unknown: [`CardDecision::Insert`];
/// 5. known second-hand: [`CardDecision::Replace`] when the card differs or the relayer
///    is closer, with the smaller of the two distances; else [`KeepReason::NotCloser`].
///
/// Rule 5 takes any different card as the newer one. Two relayers that hold different
/// versions of one card would then swap it back and forth each cycle, so the node should
/// pass `same_card: true` when the relayed card is not newer than the stored one (for
/// example by its signature's `iat`), which `treaty-card` can tell and this crate cannot.
#[must_use]
pub fn decide(
    own_node_id: &str,
    relayed: &RelayedCard,
    known: Option<&KnownRegistry>,
) -> CardDecision {
    if relayed.node_id == own_node_id {
        return CardDecision::Keep(KeepReason::OwnCard);
    }
    let hops = relayed.hops.saturating_add(1);
    if hops > REGISTRY_HOPS_MAX {
        return CardDecision::Keep(KeepReason::TooFar);
    }
    match known {
        None => CardDecision::Insert { hops },
        Some(k) if k.first_hand => CardDecision::Keep(KeepReason::FirstHand),
        Some(k) if !k.same_card || hops < k.hops => CardDecision::Replace {
            hops: hops.min(k.hops),
        },
        Some(_) => CardDecision::Keep(KeepReason::NotCloser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{A, B, C};
    use serde_json::json;

    fn item(node_id: &str, hops: u32, seq: u64) -> Value {
        json!({
            "node_id": node_id,
            "name": format!("Registry {}", &node_id[..4]),
            "hops": hops,
            "seq": seq,
            "card": {"card_version": "treaty.registry-card/v1", "node_id": node_id,
                     "collections": [], "signatures": [{"protected": "e30", "signature": "AA"}]},
            "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": "AA"}]},
        })
    }

    fn page() -> Value {
        json!({"cards": [item(A, 1, 3), item(B, 2, 7)], "next": 8})
    }

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).expect("json")
    }

    fn code(v: &Value) -> &'static str {
        parse_registry_cards(&bytes(v)).expect_err("refused").code()
    }

    fn relayed(node_id: &str, hops: u32) -> RelayedCard {
        RelayedCard {
            node_id: node_id.into(),
            name: "R".into(),
            hops,
            seq: 1,
            card: json!({"node_id": node_id}),
            jwks: json!({"keys": []}),
        }
    }

    #[test]
    fn a_page_parses() {
        let p = parse_registry_cards(&bytes(&page())).expect("page");
        assert_eq!(p.next, 8);
        assert_eq!(p.cards.len(), 2);
        assert_eq!(p.cards[1].node_id, B);
        assert_eq!(p.cards[1].hops, 2);
        assert_eq!(p.cards[1].seq, 7);
        assert_eq!(p.cards[1].card, page()["cards"][1]["card"]);
        assert_eq!(p.cards[1].jwks, page()["cards"][1]["jwks"]);
        let empty = parse_registry_cards(br#"{"cards":[],"next":0}"#).expect("empty");
        assert!(empty.cards.is_empty());
    }

    #[test]
    fn page_rules_have_codes() {
        // Sets (or adds) the member at `pointer`.
        let set = |pointer: &str, value: Value| {
            let mut p = page();
            let (parent, member) = pointer.rsplit_once('/').expect("pointer");
            p.pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .expect("object")
                .insert(member.to_owned(), value);
            p
        };
        let without = |pointer: &str, member: &str| {
            let mut p = page();
            p.pointer_mut(pointer)
                .and_then(Value::as_object_mut)
                .expect("object")
                .remove(member);
            p
        };
        for (v, want) in [
            (json!([]), "wrong_type"),
            (set("/extra", json!(1)), "unknown_field"),
            (set("/cards/0/extra", json!(1)), "unknown_field"),
            (without("", "next"), "missing_field"),
            (without("/cards/0", "jwks"), "missing_field"),
            (without("/cards/0/card", "node_id"), "missing_field"),
            (set("/next", json!(-1)), "wrong_type"),
            (set("/next", json!(1_u64 << 53)), "invalid_field"),
            (set("/cards/0/seq", json!(9)), "invalid_field"),
            (set("/cards/0/hops", json!(0)), "invalid_field"),
            (
                set("/cards/0/hops", json!(REGISTRY_HOPS_MAX + 1)),
                "invalid_field",
            ),
            (set("/cards/0/hops", json!(u64::MAX)), "invalid_field"),
            (
                set("/cards/0/node_id", json!("not-a-uuid")),
                "invalid_node_id",
            ),
            (set("/cards/1/node_id", json!(A)), "invalid_field"),
            (set("/cards/0/card/node_id", json!(B)), "invalid_field"),
            (set("/cards/0/name", json!("")), "invalid_field"),
            (set("/cards/0/name", json!("a\nb")), "invalid_field"),
            (
                set(
                    "/cards/0/name",
                    json!("n".repeat(REGISTRY_NAME_BYTES_MAX + 1)),
                ),
                "invalid_field",
            ),
            (set("/cards/0/card", json!("card")), "wrong_type"),
            (set("/cards/0/jwks", json!([])), "wrong_type"),
            (set("/cards/0/card/x", json!(1.5)), "number_not_integer"),
            (
                set(
                    "/cards/0/jwks/pad",
                    json!("x".repeat(REGISTRY_JWKS_BYTES_MAX)),
                ),
                "too_large",
            ),
            (
                set(
                    "/cards/0/card/pad",
                    json!("x".repeat(REGISTRY_CARD_BYTES_MAX)),
                ),
                "too_large",
            ),
        ] {
            assert_eq!(code(&v), want, "{v}");
        }
        let many: Vec<Value> = (0..=REGISTRY_CARDS_PAGE_MAX).map(|_| json!({})).collect();
        assert_eq!(code(&json!({"cards": many, "next": 0})), "too_many");
        let dup = br#"{"cards":[],"next":1,"next":2}"#;
        assert_eq!(
            parse_registry_cards(dup).expect_err("dup").code(),
            "invalid_json"
        );
        let huge = vec![b' '; REGISTRY_CARDS_PAGE_BYTES_MAX + 1];
        assert_eq!(
            parse_registry_cards(&huge).expect_err("huge").code(),
            "too_large"
        );
    }

    #[test]
    fn mutated_pages_never_panic() {
        let text = bytes(&page());
        for i in 0..text.len() {
            for bit in [0x01_u8, 0x02, 0x20, 0x80] {
                let mut b = text.clone();
                b[i] ^= bit;
                if let Ok(p) = parse_registry_cards(&b) {
                    for card in &p.cards {
                        assert!((1..=REGISTRY_HOPS_MAX).contains(&card.hops));
                        assert!(card.seq <= p.next);
                        let _ = decide(A, card, None);
                    }
                }
            }
            let _ = parse_registry_cards(&text[..i]);
        }
    }

    #[test]
    fn decisions() {
        let first_hand = KnownRegistry {
            first_hand: true,
            hops: 0,
            same_card: false,
        };
        let at = |hops, same_card| KnownRegistry {
            first_hand: false,
            hops,
            same_card,
        };
        let keep = CardDecision::Keep;
        // Our own card, relayed back to us.
        assert_eq!(decide(A, &relayed(A, 1), None), keep(KeepReason::OwnCard));
        // Too far: the relayer's hops + 1 beyond the limit.
        assert_eq!(
            decide(A, &relayed(B, REGISTRY_HOPS_MAX), None),
            keep(KeepReason::TooFar)
        );
        assert_eq!(
            decide(A, &relayed(B, u32::MAX), None),
            keep(KeepReason::TooFar)
        );
        assert_eq!(
            decide(A, &relayed(B, REGISTRY_HOPS_MAX - 1), None),
            CardDecision::Insert {
                hops: REGISTRY_HOPS_MAX
            }
        );
        // Unknown: inserted one hop farther than the relayer has it.
        assert_eq!(
            decide(A, &relayed(B, 1), None),
            CardDecision::Insert { hops: 2 }
        );
        // Known discovered: a different card replaces, keeping the shorter distance.
        assert_eq!(
            decide(A, &relayed(B, 2), Some(&at(2, false))),
            CardDecision::Replace { hops: 2 }
        );
        assert_eq!(
            decide(A, &relayed(B, 1), Some(&at(3, false))),
            CardDecision::Replace { hops: 2 }
        );
        // The same card from a closer relayer: only the distance improves.
        assert_eq!(
            decide(A, &relayed(B, 1), Some(&at(3, true))),
            CardDecision::Replace { hops: 2 }
        );
        // The same card, not closer.
        for known in [2, 3] {
            assert_eq!(
                decide(A, &relayed(B, 2), Some(&at(known, true))),
                keep(KeepReason::NotCloser)
            );
        }
        assert_eq!(
            decide(A, &relayed(C, 3), Some(&at(2, true))),
            keep(KeepReason::NotCloser)
        );
        let names: Vec<_> = [
            KeepReason::OwnCard,
            KeepReason::TooFar,
            KeepReason::FirstHand,
            KeepReason::NotCloser,
        ]
        .map(KeepReason::as_str)
        .into();
        assert_eq!(names, ["own_card", "too_far", "first_hand", "not_closer"]);
        // Regression: a first-hand peer's card is never overwritten by a relayed copy,
        // whatever it says and however close the relayer, so a stale mirror cannot revert
        // a freshly synced card every cycle.
        for hops in 1..=REGISTRY_HOPS_MAX - 1 {
            for same_card in [false, true] {
                let known = KnownRegistry {
                    same_card,
                    ..first_hand
                };
                assert_eq!(
                    decide(A, &relayed(B, hops), Some(&known)),
                    keep(KeepReason::FirstHand)
                );
            }
        }
    }
}
