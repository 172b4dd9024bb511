//! Shared test fixtures.

use treaty_httpsig::sf::{BareItem, Integer, Key, Parameters, SfString, Token};
use treaty_httpsig::{
    Component, HttpSigError, ReplayCache, RequestView, SignatureInput, Signer, SignerConfig,
    SigningKey, TargetUri, VerifiedRequest, Verifier, VerifierConfig, VerifyingKey, sign_base,
    signature_field, signature_input_field,
};

/// The verifier's clock in most tests.
pub(crate) const NOW: u64 = 1_700_000_000;
/// The key ID of [`node_key`].
pub(crate) const KEYID: &str = "node-a";
/// A nonce of the minimum length.
pub(crate) const NONCE: &str = "n0nce-0123456789";

pub(crate) fn node_key() -> SigningKey {
    SigningKey::from_bytes(&[0x11; 32])
}

pub(crate) fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[0x22; 32])
}

pub(crate) fn signer() -> Signer {
    Signer::new(node_key(), KEYID, SignerConfig::treaty_v1()).expect("valid signer")
}

/// The key lookup of a node that trusts exactly `node-a`.
pub(crate) fn keys(keyid: &str) -> Option<VerifyingKey> {
    (keyid == KEYID).then(|| node_key().verifying_key())
}

pub(crate) fn verifier() -> Verifier<fn(&str) -> Option<VerifyingKey>> {
    Verifier::new(
        VerifierConfig::treaty_v1(),
        keys as fn(&str) -> Option<VerifyingKey>,
    )
}

/// An HTTP request that owns its parts, so tests can change any of them.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) method: String,
    pub(crate) target: TargetUri,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Message {
    pub(crate) fn new(method: &str, uri: &str, body: &[u8]) -> Self {
        Self {
            method: method.to_owned(),
            target: TargetUri::parse(uri).expect("valid URI"),
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }

    /// A POST with a JSON body, the usual federation call.
    pub(crate) fn post() -> Self {
        Self::new(
            "POST",
            "https://peer.example/v1/federation/hello?x=1",
            br#"{"hello":"world"}"#,
        )
        .header("content-type", "application/json")
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces every line named `name` (any case) by one line with `value`.
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&RequestView<'_>) -> R) -> R {
        let pairs: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let view = RequestView {
            method: &self.method,
            target: &self.target,
            headers: &pairs,
            body: &self.body,
        };
        f(&view)
    }

    /// This request signed by `signer` at `created`, with the three fields added.
    pub(crate) fn signed_by(mut self, signer: &Signer, created: u64, nonce: &str) -> Self {
        let signed = self
            .with(|req| signer.sign(req, created, nonce))
            .expect("signs");
        for (name, value) in signed.pairs() {
            self.set(name, value);
        }
        self
    }

    /// This request signed by `node-a` at [`NOW`] with [`NONCE`].
    pub(crate) fn signed(self) -> Self {
        self.signed_by(&signer(), NOW, NONCE)
    }

    /// Signs arbitrary components and parameters with `key` under `label`, setting
    /// `Content-Digest` from the body first (unless `digest` is false). This produces
    /// requests Treaty's signer refuses to make, with a valid signature.
    pub(crate) fn signed_raw(
        mut self,
        key: &SigningKey,
        label: &str,
        components: &[&str],
        params: Parameters,
        digest: bool,
    ) -> Self {
        if digest {
            let value = treaty_httpsig::content_digest(&self.body);
            self.set("content-digest", &value);
        }
        let components = components
            .iter()
            .map(|c| Component::parse(c).expect("valid component"))
            .collect();
        let input = SignatureInput::new(components, params).expect("valid input");
        let base = self
            .with(|req| input.signature_base(req))
            .expect("base builds");
        let label = Key::new(label).expect("valid label");
        let signature = sign_base(key, &base);
        self.set("signature-input", &signature_input_field(&label, &input));
        self.set("signature", &signature_field(&label, &signature));
        self
    }

    /// Verifies with [`verifier`] at `now` against `cache`.
    pub(crate) fn verify_at(
        &self,
        now: u64,
        cache: &mut ReplayCache,
    ) -> Result<VerifiedRequest, HttpSigError> {
        self.with(|req| verifier().verify(req, now, cache))
    }

    /// Verifies with [`verifier`] at [`NOW`] and a fresh cache; returns the error code.
    pub(crate) fn code(&self) -> &'static str {
        let mut cache = ReplayCache::default();
        let result = self.verify_at(NOW, &mut cache);
        match result {
            Ok(_) => "ok",
            Err(e) => {
                assert!(
                    cache.is_empty(),
                    "a rejected request changed the cache: {e}"
                );
                e.code()
            }
        }
    }
}

pub(crate) fn int(value: i64) -> BareItem {
    BareItem::Integer(Integer::new(value).expect("in range"))
}

pub(crate) fn string(value: &str) -> BareItem {
    BareItem::String(SfString::new(value).expect("printable"))
}

pub(crate) fn token(value: &str) -> BareItem {
    BareItem::Token(Token::new(value).expect("token"))
}

/// Parameters from `(name, value)` pairs, in order.
pub(crate) fn params(entries: &[(&str, BareItem)]) -> Parameters {
    let mut params = Parameters::new();
    for (name, value) in entries {
        params
            .push(Key::new(name).expect("valid key"), value.clone())
            .expect("unique");
    }
    params
}

/// The parameters Treaty's signer writes, for `created` [`NOW`].
pub(crate) fn treaty_params() -> Vec<(&'static str, BareItem)> {
    vec![
        ("created", int(NOW as i64)),
        ("expires", int(NOW as i64 + 300)),
        ("nonce", string(NONCE)),
        ("keyid", string(KEYID)),
        ("alg", string("ed25519")),
        ("tag", string("treaty/v1")),
    ]
}

/// [`treaty_params`] with `name` replaced by `value` (appended when the profile does not
/// define it), or removed when `value` is `None`.
pub(crate) fn treaty_params_with(name: &str, value: Option<BareItem>) -> Parameters {
    let mut entries: Vec<(String, BareItem)> = treaty_params()
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
    match value {
        Some(v) => match entries.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = v,
            None => entries.push((name.to_owned(), v)),
        },
        None => entries.retain(|(n, _)| n != name),
    }
    let mut params = Parameters::new();
    for (name, value) in entries {
        params
            .push(Key::new(&name).expect("valid key"), value)
            .expect("unique");
    }
    params
}

/// The components Treaty's signer covers.
pub(crate) const TREATY_COMPONENTS: [&str; 4] =
    ["@method", "@target-uri", "@authority", "content-digest"];
