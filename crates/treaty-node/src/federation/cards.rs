//! Registry-card propagation (seed 004): each cycle a node refreshes its first-hand peers'
//! cards directly (`If-None-Match`) and pulls the cards each peer knows
//! (`GET /v1/federation/registry-cards?since=`). Cards learned that way are stored as
//! DISCOVERED registries, with their hop count and the peer they came through; they are
//! never dialed, and [`treaty_federation::cards::decide`] keeps a card synced first-hand
//! from ever being overwritten by a relayed one. Every relayed card's signature is verified
//! against the JWKS relayed with it, and a registry already known must keep one of the
//! keys already trusted for it (key continuity), as for direct fetches.
//!
//! Propagation is breadth first, one hop per cycle: a node serves only what it has stored,
//! so a registry three hops away reaches an observer after three cycles, or at once when
//! the two peer directly.

use super::client::{CARD_PATH, CallError};
use super::sync::{CycleError, local, signed_get};
use super::{Claim, PEERS_MAX, apply_facts, check_fetched, note_failure};
use crate::api::AppState;
use serde_json::{Value, json};
use treaty_card::{Jwks, verify_card_value};
use treaty_federation::cards::{
    CardDecision, KnownRegistry, REGISTRY_CARDS_PAGE_MAX, RelayedCard, decide, parse_registry_cards,
};
use treaty_federation::{PeerEvent, PeerStatus};
use treaty_store::PeerRow;

/// Largest registry-cards answer read, in bytes. The serving node stops adding cards once
/// the answer passes [`REGISTRY_CARDS_ANSWER_BUDGET`], and one card is at most 256 KiB.
pub const REGISTRY_CARDS_ANSWER_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Where a serving node stops adding cards to an answer.
pub const REGISTRY_CARDS_ANSWER_BUDGET: usize = 2 * 1024 * 1024;
/// Most registry-card pages pulled from one peer per cycle.
pub const REGISTRY_CARD_PAGES_PER_CYCLE: u32 = 20;

/// Refreshes a first-hand peer's card with `If-None-Match`: a 304 costs nothing; a changed
/// card is verified and its facts stored (status unchanged). A card that no longer
/// verifies suspends the peer, as at registration.
///
/// # Errors
/// [`CycleError::Call`] when the card cannot be fetched or does not verify.
pub async fn refresh_card(state: &AppState, peer_id: &str) -> Result<(), CycleError> {
    let Some(peer) = state.federation.table().find(peer_id) else {
        return Err(local(format!("peer {peer_id} is gone")));
    };
    let card_url = reqwest::Url::parse(&peer.row.card_url)
        .map_err(|e| local(format!("stored card URL: {e}")))?;
    let fetched = state
        .federation
        .client
        .fetch_card_if_changed(&card_url, peer.row.card_etag.as_deref())
        .await
        .map_err(CycleError::Call)?;
    let Some((fetched, etag)) = fetched else {
        return Ok(());
    };
    let claim = Claim {
        node_id: Some(peer.row.node_id.clone()),
        card_url: card_url.clone(),
        callback_url: None,
    };
    let now = state.clock.now_ms();
    match check_fetched(state, &claim, fetched, None) {
        Ok(v) => {
            let mut w = state.writer().map_err(|e| local(e.code()))?;
            if let Some(mut row) = w.peer(peer_id).map_err(local)? {
                apply_facts(&mut row, v, &card_url, now);
                row.card_etag = etag;
                w.upsert_peer(&row).map_err(local)?;
            }
            state.federation.reload(&w).map_err(local)?;
            Ok(())
        }
        Err((code, detail)) => {
            super::sync::transition(
                state,
                peer_id,
                PeerEvent::VerificationFailed {
                    authenticated: true,
                },
                Some(format!("{code}: {detail}")),
            );
            note_failure(state, peer_id, code, &detail);
            Err(CycleError::Call(CallError { code, detail }))
        }
    }
}

fn cursor_key(peer_id: &str) -> String {
    format!("registry_cards_cursor:{peer_id}")
}

/// Pulls the registry cards `peer_id` knows, from the stored cursor on, and stores the
/// ones [`decide`] accepts. Returns how many were stored.
///
/// # Errors
/// [`CycleError::Call`] when the peer cannot be reached or answers something unusable.
pub async fn pull_cards(state: &AppState, peer_id: &str) -> Result<u32, CycleError> {
    let Some(peer) = state.federation.table().find(peer_id) else {
        return Err(local(format!("peer {peer_id} is gone")));
    };
    let mut stored = 0;
    for _ in 0..REGISTRY_CARD_PAGES_PER_CYCLE {
        let since: u64 = {
            let w = state.writer().map_err(|e| local(e.code()))?;
            w.meta(&cursor_key(peer_id))
                .map_err(local)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let url = format!(
            "{}/registry-cards?since={since}",
            peer.row.callback_url.trim_end_matches('/')
        );
        let bytes = signed_get(
            state,
            &url,
            REGISTRY_CARDS_ANSWER_BYTES_MAX,
            "registry_cards_refused",
        )
        .await?;
        let page = parse_registry_cards(&bytes).map_err(|e| {
            CycleError::Call(CallError {
                code: "registry_cards_invalid",
                detail: format!("GET {url}: {e}"),
            })
        })?;
        let stored_before = stored;
        for card in &page.cards {
            match store_relayed(state, peer_id, card) {
                Ok(true) => stored += 1,
                Ok(false) => {}
                Err(reason) => {
                    tracing::warn!(peer = %peer_id, node = %card.node_id, %reason, "relayed registry card refused");
                }
            }
        }
        let w = state.writer().map_err(|e| local(e.code()))?;
        w.set_meta(&cursor_key(peer_id), &page.next.to_string())
            .map_err(local)?;
        if stored > stored_before {
            state.federation.reload(&w).map_err(local)?;
        }
        if page.cards.is_empty() || page.next <= since {
            break;
        }
    }
    Ok(stored)
}

/// Verifies one relayed card and stores it when the precedence rules allow. `Ok(false)`:
/// kept what was there.
fn store_relayed(state: &AppState, via: &str, rc: &RelayedCard) -> Result<bool, String> {
    let now = state.clock.now_ms();
    let jwks = Jwks::from_value(&rc.jwks).map_err(|e| format!("JWKS: {e}"))?;
    let verified =
        verify_card_value(&rc.card, None, &jwks, now / 1000).map_err(|e| format!("card: {e}"))?;
    let core = &verified.core;
    if core.node_id != rc.node_id {
        return Err(format!(
            "the card is for node {}, relayed as {}",
            core.node_id, rc.node_id
        ));
    }
    let mut w = state.writer().map_err(|e| e.code().to_owned())?;
    let existing = w.peer_by_node_id(&rc.node_id).map_err(|e| e.to_string())?;
    // Two relayers holding different versions of a card must not swap it back and forth
    // every cycle: a relayed card replaces the stored one only if it was signed later.
    let stored_iat = existing.as_ref().and_then(|row| {
        let jwks = Jwks::from_value(row.jwks.as_ref()?).ok()?;
        verify_card_value(row.card.as_ref()?, None, &jwks, now / 1000)
            .ok()
            .map(|v| v.iat)
    });
    let known = existing.as_ref().map(|row| KnownRegistry {
        first_hand: row.status != PeerStatus::Discovered.as_str(),
        hops: row.hops,
        same_card: row.card.as_ref() == Some(&rc.card)
            || stored_iat.is_some_and(|iat| verified.iat <= iat),
    });
    let hops = match decide(&state.node_id, rc, known.as_ref()) {
        CardDecision::Insert { hops } | CardDecision::Replace { hops } => hops,
        CardDecision::Keep(_) => return Ok(false),
    };
    if let Some(row) = &existing {
        // Key continuity, as for a direct fetch: a relayer cannot swap a known registry's keys.
        let known_jwks = row.jwks.as_ref().and_then(|j| Jwks::from_value(j).ok());
        if let Some(known_jwks) = known_jwks {
            let continues = known_jwks.keys().iter().any(|k| {
                jwks.get(k.kid())
                    .is_some_and(|n| n.public_key() == k.public_key())
            });
            if !continues {
                return Err("the relayed JWKS holds none of the keys already trusted".into());
            }
        }
    } else if w.peer_count().map_err(|e| e.to_string())? >= PEERS_MAX as u64 {
        return Err(format!("this node holds its limit of {PEERS_MAX} peers"));
    }
    let id = match &existing {
        Some(row) => row.id.clone(),
        None => crate::identity::new_uuid().map_err(|e| e.to_string())?,
    };
    let base = core.base_url.trim_end_matches('/');
    let row = PeerRow {
        id,
        node_id: core.node_id.clone(),
        name: core.name.clone(),
        base_url: core.base_url.clone(),
        card_url: format!("{base}{CARD_PATH}"),
        callback_url: core.endpoints.federation.clone(),
        status: PeerStatus::Discovered.as_str().to_owned(),
        status_reason: Some(format!("relayed by peer {via}")),
        card: Some(rc.card.clone()),
        jwks: Some(jwks.to_value()),
        kid: Some(verified.kid.clone()),
        spiffe_id: core.mtls.as_ref().map(|m| m.spiffe_id.clone()),
        ca_fingerprint: core.mtls.as_ref().and_then(|m| m.ca_fingerprint.clone()),
        verifier_key: Some(core.ledger.verifier_key.clone()),
        license_id: None,
        created_ms: existing.as_ref().map_or(now, |r| r.created_ms),
        updated_ms: now,
        last_verified_ms: Some(now),
        last_synced_ms: None,
        hops,
        via_peer: Some(via.to_owned()),
        card_seq: 0,
        card_etag: None,
    };
    w.upsert_peer(&row).map_err(|e| e.to_string())?;
    tracing::info!(node = %row.node_id, name = %row.name, hops, via = %via, "registry discovered");
    Ok(true)
}

/// The answer of `GET /v1/federation/registry-cards?since=`: the cards this node knows
/// that changed after `since` (first-hand peers with hops 1, discovered ones with theirs),
/// leaving out `caller` itself, cut at [`REGISTRY_CARDS_PAGE_MAX`] cards or
/// [`REGISTRY_CARDS_ANSWER_BUDGET`] bytes.
///
/// # Errors
/// Storage errors.
pub fn known_cards(
    state: &AppState,
    caller: &str,
    since: u64,
) -> Result<Value, treaty_store::StoreError> {
    let rows = {
        let w = state
            .admin
            .lock()
            .map_err(|_| treaty_store::StoreError::Corrupt("store lock poisoned".into()))?;
        w.cards_since(
            since,
            u32::try_from(REGISTRY_CARDS_PAGE_MAX).unwrap_or(u32::MAX),
        )?
    };
    let mut next = since;
    let mut bytes = 0usize;
    let mut cards = Vec::new();
    for row in rows {
        let status = PeerStatus::parse(&row.status).unwrap_or(PeerStatus::Suspended);
        let shareable = matches!(
            status,
            PeerStatus::Active | PeerStatus::Inactive | PeerStatus::Drift | PeerStatus::Discovered
        );
        if shareable && row.id != caller {
            if let (Some(card), Some(jwks)) = (&row.card, &row.jwks) {
                let item = json!({
                    "node_id": row.node_id,
                    "name": row.name,
                    "hops": row.hops,
                    "seq": row.card_seq,
                    "card": card,
                    "jwks": jwks,
                });
                let len = item.to_string().len();
                if !cards.is_empty() && bytes + len > REGISTRY_CARDS_ANSWER_BUDGET {
                    break;
                }
                bytes += len;
                cards.push(item);
            }
        }
        next = row.card_seq;
    }
    Ok(json!({"cards": cards, "next": next}))
}
