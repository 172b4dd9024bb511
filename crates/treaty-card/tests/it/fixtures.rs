//! A valid card and the tools to break it.

use serde_json::{Value, json};
use treaty_card::{
    CardCore, CollectionInfo, Endpoints, Jwk, Jwks, Ledger, Mtls, Operator, ProtectedHeader,
    SchemaRef, SignedCard, SigningKey, TrustPolicy, Volatile, jwk_thumbprint, sign_card,
    sign_detached,
};
use treaty_note::{KEY_TYPE_ED25519, VerifierKey};

/// The node's base URL.
pub(crate) const BASE: &str = "https://registry.example.com";
/// Where peers fetch the card.
pub(crate) const CARD_URL: &str = "https://registry.example.com/.well-known/registry-card.json";
/// When the card key became valid.
pub(crate) const KEY_FROM: u64 = 1_767_225_600;
/// When the fixture card is signed.
pub(crate) const SIGNED_AT: u64 = KEY_FROM + 100;
/// The verifier's clock in the tests.
pub(crate) const NOW: u64 = SIGNED_AT + 60;

/// The key that signs the node's checkpoints.
pub(crate) fn log_key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

/// The key that signs the node's card.
pub(crate) fn card_key() -> SigningKey {
    SigningKey::from_bytes(&[2; 32])
}

/// A second card key, for rotation and unknown-key tests.
pub(crate) fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[3; 32])
}

/// The `kid` of a signing key.
pub(crate) fn kid(key: &SigningKey) -> String {
    jwk_thumbprint(key.verifying_key().as_bytes())
}

/// A JWKS with only [`card_key`], current since [`KEY_FROM`].
pub(crate) fn jwks() -> Jwks {
    Jwks::new(vec![
        Jwk::current(&card_key().verifying_key(), KEY_FROM).expect("jwk"),
    ])
    .expect("jwks")
}

fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

/// A card core that uses every member, optional ones included.
pub(crate) fn core() -> CardCore {
    CardCore {
        node_id: "0b6f3c2e-7d1a-4c8e-9f00-1234567890ab".into(),
        name: "Registry Dublin".into(),
        base_url: BASE.into(),
        endpoints: Endpoints {
            federation: url("/v1/federation"),
            witness: url("/v1/witness"),
            sync: url("/v1/sync"),
            records: url("/v1/records"),
            discover: url("/v1/discover"),
            checkpoint: url("/checkpoint"),
            jwks: url("/.well-known/registry-jwks.json"),
        },
        ledger: Ledger {
            origin: "registry.example.com".into(),
            verifier_key: VerifierKey::from_signing_key(
                "registry.example.com",
                &log_key(),
                KEY_TYPE_ED25519,
            )
            .expect("verifier key")
            .to_string(),
            checkpoint_url: url("/checkpoint"),
        },
        collections: vec![
            CollectionInfo {
                name: "agent-card".into(),
                schema: Some(SchemaRef {
                    version: "1.0.0".into(),
                    hash: format!("sha256:{}", "ab".repeat(32)),
                }),
            },
            CollectionInfo {
                name: "notes".into(),
                schema: None,
            },
        ],
        trust_policy: TrustPolicy {
            accepts_proposals: true,
            min_trust_level: 1,
            requires_mutual: true,
        },
        capabilities: vec!["federation".into(), "witness".into()],
        operator: Operator {
            contact: Some("ops@registry.example.com".into()),
        },
        mtls: Some(Mtls {
            spiffe_id: "spiffe://registry.example.com/registry".into(),
            ca_fingerprint: Some(format!("sha256:{}", "cd".repeat(32))),
        }),
    }
}

/// A volatile block with every member.
pub(crate) fn volatile() -> Volatile {
    Volatile {
        checkpoint: Some(treaty_card::CheckpointSummary {
            size: 42,
            root: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into(),
        }),
        peer_count: 3,
        location: Some(treaty_card::Location {
            latitude: "53.3498".into(),
            longitude: "-6.2603".into(),
        }),
    }
}

/// [`core`] signed by [`card_key`] at [`SIGNED_AT`].
pub(crate) fn signed() -> SignedCard {
    sign_card(&core(), &card_key(), &kid(&card_key()), SIGNED_AT).expect("signs")
}

/// The served document of [`signed`] with [`volatile`], as bytes.
pub(crate) fn doc_bytes() -> Vec<u8> {
    signed().to_bytes(Some(&volatile())).expect("serializes")
}

/// The served document of [`signed`] with [`volatile`], as a value.
pub(crate) fn doc() -> Value {
    signed().to_value(Some(&volatile())).expect("serializes")
}

/// The card's core value (no `signatures`, no `volatile`).
pub(crate) fn core_value() -> Value {
    core().to_value().expect("core value")
}

/// The standard protected header JSON text for `key` at `iat`.
pub(crate) fn header_json(key: &SigningKey, iat: u64) -> String {
    let header = ProtectedHeader { kid: kid(key), iat };
    String::from_utf8(header.to_json().expect("header")).expect("utf8")
}

/// A `signatures` entry by `key` over the JCS of `core`, under the exact header text given
/// (which may break any rule).
pub(crate) fn signature_entry(core: &Value, header_json: &str, key: &SigningKey) -> Value {
    use base64::Engine as _;
    let protected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header_json);
    let payload = treaty_types::canonicalize(core).expect("canonical core");
    let signature = sign_detached(&protected, &payload, key);
    json!({"protected": protected, "signature": signature})
}

/// `core` (any JSON, valid or not) with one signature by `key` under `header_json`.
pub(crate) fn sign_raw_with_header(core: &Value, header_json: &str, key: &SigningKey) -> Value {
    let mut doc = core.clone();
    doc["signatures"] = json!([signature_entry(core, header_json, key)]);
    doc
}

/// `core` (any JSON, valid or not) signed by [`card_key`] at [`SIGNED_AT`] with the
/// standard header: a card whose only defect is whatever was done to `core`.
pub(crate) fn sign_raw(core: &Value) -> Value {
    sign_raw_with_header(core, &header_json(&card_key(), SIGNED_AT), &card_key())
}

/// The error code of verifying `doc` from [`CARD_URL`] with [`jwks`] at [`NOW`], or "ok".
pub(crate) fn verify_code(doc: &Value) -> &'static str {
    match treaty_card::verify_card_value(doc, Some(CARD_URL), &jwks(), NOW) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}
