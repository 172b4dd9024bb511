//! The JSON forms: `members.json`, manifests and extracts.
//!
//! ```text
//! members.json   [ {"participant_id": "...", "record_hash": "<64 hex>", "scope": "...",
//!                   "nonce": "<hex>"?}, ... ]
//!
//! manifest       {"version": 1,
//!                 "kind": "manifest",
//!                 "root": "<64 hex>",
//!                 "tree_size": <member count>,
//!                 "anchors": [{"calendar": "<url>", "ots": "<base64 of a whole .ots file>"}],
//!                 "members": [{"participant_id": "...", "record_hash": "<64 hex>",
//!                              "scope": "...", "nonce": "<hex>",
//!                              "commitment_hash": "<64 hex>",
//!                              "proof": {"index": <n>, "tree_size": <n>,
//!                                        "hashes": ["<64 hex>", ...]}}, ...]}
//!
//! extract        the same, with "kind": "extract", "participant_id": "..." after
//!                "tree_size", and only that participant's members
//! ```
//!
//! Hashes are lower-case hex, proof hashes deepest first; `ots` is standard padded base64 of
//! a detached `.ots` file whose digest is the root (one file per calendar). Writers emit
//! the fields in the order above, members last, so a reader meets the root and the anchors
//! before the bulk. Readers accept any field order and refuse unknown fields.
//!
//! Reading streams: a member's proof is checked and dropped as soon as it is read (for a
//! manifest, a digest of it is kept and compared with the proof recomputed from the tree),
//! so reading a million-member manifest needs about as much memory as building it.

use crate::anchors::{Anchor, Anchors};
use crate::error::AnchorError;
use crate::manifest::{
    Document, Extract, InclusionProof, MANIFEST_VERSION, MEMBERS_MAX, Manifest, Progress,
    ProvenMember,
};
use crate::member::{Member, MemberInput, parse_hash};
use crate::ots::DetachedTimestampFile;
use base64::Engine as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use treaty_merkle::{Hash, MAX_PROOF_HASHES, inclusion_proof};

const KIND_MANIFEST: &str = "manifest";
const KIND_EXTRACT: &str = "extract";
const DOC_FIELDS: &[&str] = &[
    "version",
    "kind",
    "root",
    "tree_size",
    "participant_id",
    "anchors",
    "members",
];

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

// ---------------------------------------------------------------------------------------
// Writing

#[derive(Serialize)]
struct ProofOut {
    index: u64,
    tree_size: u64,
    hashes: Vec<String>,
}

#[derive(Serialize)]
struct MemberOut<'a> {
    participant_id: &'a str,
    record_hash: String,
    scope: &'a str,
    nonce: String,
    commitment_hash: String,
    proof: ProofOut,
}

impl<'a> MemberOut<'a> {
    fn new(member: &'a Member, commitment: &Hash, proof: &InclusionProof) -> Self {
        Self {
            participant_id: member.participant_id(),
            record_hash: member.record_hash_hex(),
            scope: member.scope(),
            nonce: member.nonce_hex(),
            commitment_hash: hex::encode(commitment),
            proof: ProofOut {
                index: proof.index,
                tree_size: proof.tree_size,
                hashes: proof.hashes.iter().map(hex::encode).collect(),
            },
        }
    }
}

struct AnchorsOut<'a>(&'a Anchors);

impl Serialize for AnchorsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for a in self.0.as_slice() {
            let bytes = a.ots().to_bytes().map_err(serde::ser::Error::custom)?;
            let mut map = OrderedFields::default();
            map.push("calendar", a.calendar().to_owned());
            map.push("ots", b64().encode(bytes));
            seq.serialize_element(&map)?;
        }
        seq.end()
    }
}

/// A small ordered string map, so anchors serialize with a fixed field order.
#[derive(Default)]
struct OrderedFields(Vec<(&'static str, String)>);

impl OrderedFields {
    fn push(&mut self, k: &'static str, v: String) {
        self.0.push((k, v));
    }
}

impl Serialize for OrderedFields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

enum MembersOut<'a, 'p> {
    Manifest(&'a Manifest, RefCell<Progress<'p>>),
    Extract(&'a [ProvenMember]),
}

impl Serialize for MembersOut<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MembersOut::Manifest(m, progress) => {
                let n = m.tree_size();
                let mut seq = s.serialize_seq(Some(m.members().len()))?;
                for (i, member) in m.members().iter().enumerate() {
                    let proof = InclusionProof {
                        index: i as u64,
                        tree_size: n,
                        hashes: inclusion_proof(i as u64, n, m.tree())
                            .map_err(serde::ser::Error::custom)?,
                    };
                    let commitment = m
                        .commitment(i)
                        .ok_or_else(|| serde::ser::Error::custom("commitment missing"))?;
                    seq.serialize_element(&MemberOut::new(member, commitment, &proof))?;
                    (progress.borrow_mut())(i as u64 + 1, n);
                }
                seq.end()
            }
            MembersOut::Extract(members) => {
                let mut seq = s.serialize_seq(Some(members.len()))?;
                for p in *members {
                    seq.serialize_element(&MemberOut::new(&p.member, &p.commitment, &p.proof))?;
                }
                seq.end()
            }
        }
    }
}

struct DocOut<'a, 'p> {
    kind: &'static str,
    root: Hash,
    tree_size: u64,
    participant_id: Option<&'a str>,
    anchors: &'a Anchors,
    members: MembersOut<'a, 'p>,
}

impl Serialize for DocOut<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("version", &MANIFEST_VERSION)?;
        map.serialize_entry("kind", self.kind)?;
        map.serialize_entry("root", &hex::encode(self.root))?;
        map.serialize_entry("tree_size", &self.tree_size)?;
        if let Some(p) = self.participant_id {
            map.serialize_entry("participant_id", p)?;
        }
        map.serialize_entry("anchors", &AnchorsOut(self.anchors))?;
        map.serialize_entry("members", &self.members)?;
        map.end()
    }
}

fn write_doc(doc: &DocOut<'_, '_>, w: &mut dyn Write) -> Result<(), AnchorError> {
    serde_json::to_writer(&mut *w, doc).map_err(|error| AnchorError::Json {
        context: "writing the manifest",
        error,
    })?;
    w.write_all(b"\n").map_err(|e| AnchorError::Json {
        context: "writing the manifest",
        error: serde_json::Error::io(e),
    })
}

impl Manifest {
    /// Writes the manifest as JSON, computing each member's proof as it goes;
    /// `progress(done, total)` after each member.
    ///
    /// # Errors
    /// [`AnchorError::Json`] when writing fails.
    pub fn write_json(&self, w: &mut dyn Write, progress: Progress<'_>) -> Result<(), AnchorError> {
        write_doc(
            &DocOut {
                kind: KIND_MANIFEST,
                root: self.root(),
                tree_size: self.tree_size(),
                participant_id: None,
                anchors: self.anchors(),
                members: MembersOut::Manifest(self, RefCell::new(progress)),
            },
            w,
        )
    }

    /// The manifest as JSON bytes.
    ///
    /// # Errors
    /// As [`Manifest::write_json`].
    pub fn to_json(&self) -> Result<Vec<u8>, AnchorError> {
        let mut out = Vec::new();
        self.write_json(&mut out, &mut |_, _| {})?;
        Ok(out)
    }
}

impl Extract {
    /// Writes the extract as JSON.
    ///
    /// # Errors
    /// [`AnchorError::Json`] when writing fails.
    pub fn write_json(&self, w: &mut dyn Write) -> Result<(), AnchorError> {
        write_doc(
            &DocOut {
                kind: KIND_EXTRACT,
                root: self.root,
                tree_size: self.tree_size,
                participant_id: Some(&self.participant_id),
                anchors: &self.anchors,
                members: MembersOut::Extract(&self.members),
            },
            w,
        )
    }

    /// The extract as JSON bytes.
    ///
    /// # Errors
    /// As [`Extract::write_json`].
    pub fn to_json(&self) -> Result<Vec<u8>, AnchorError> {
        let mut out = Vec::new();
        self.write_json(&mut out)?;
        Ok(out)
    }
}

impl Document {
    /// Writes the document as JSON.
    ///
    /// # Errors
    /// [`AnchorError::Json`] when writing fails.
    pub fn write_json(&self, w: &mut dyn Write, progress: Progress<'_>) -> Result<(), AnchorError> {
        match self {
            Document::Manifest(m) => m.write_json(w, progress),
            Document::Extract(e) => e.write_json(w),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading

/// Typed errors raised inside serde visitors, and the member being read when a structural
/// error happened, handed back past serde's stringly error type.
#[derive(Default)]
struct Slots {
    typed: RefCell<Option<AnchorError>>,
    member: Cell<Option<usize>>,
}

impl Slots {
    fn fail<E: de::Error>(&self, e: AnchorError) -> E {
        let msg = e.to_string();
        *self.typed.borrow_mut() = Some(e);
        E::custom(msg)
    }

    fn into_error(self, context: &'static str, source: serde_json::Error) -> AnchorError {
        if let Some(e) = self.typed.into_inner() {
            return e;
        }
        match self.member.get() {
            Some(index) if source.is_data() || source.is_syntax() || source.is_eof() => {
                AnchorError::MemberJson {
                    index,
                    error: source,
                }
            }
            _ => AnchorError::Json {
                context,
                error: source,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofIn {
    index: u64,
    tree_size: u64,
    hashes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberIn {
    participant_id: String,
    record_hash: String,
    scope: String,
    nonce: String,
    commitment_hash: String,
    proof: ProofIn,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorIn {
    calendar: String,
    ots: String,
}

/// A member as read, checked on its own, its proof kept or reduced to a digest.
struct RawMember {
    member: Member,
    commitment: Hash,
    index: u64,
    tree_size: u64,
    /// The proof hashes, kept unless the document is known to be a manifest.
    hashes: Option<Vec<Hash>>,
    /// SHA-256 over the concatenated proof hashes.
    hashes_digest: Hash,
}

fn proof_digest(hashes: &[Hash]) -> Hash {
    let mut h = Sha256::new();
    for x in hashes {
        h.update(x);
    }
    h.finalize().into()
}

fn convert_member(i: usize, m: MemberIn, keep: bool) -> Result<RawMember, AnchorError> {
    let pid = m.participant_id.clone();
    let member = Member::new(m.participant_id, &m.record_hash, m.scope, &m.nonce)
        .map_err(|e| e.at(i, &pid))?;
    let stated = parse_hash("commitment_hash", &m.commitment_hash).map_err(|e| e.at(i, &pid))?;
    let computed = member.commitment();
    if stated != computed {
        return Err(AnchorError::CommitmentMismatch {
            index: i,
            participant_id: pid,
            stated: hex::encode(stated),
            computed: hex::encode(computed),
        });
    }
    if m.proof.hashes.len() > MAX_PROOF_HASHES {
        return Err(AnchorError::ProofMismatch {
            index: i,
            participant_id: pid,
            field: "proof.hashes",
            reason: format!(
                "has {} hashes, more than any tree needs ({MAX_PROOF_HASHES})",
                m.proof.hashes.len()
            ),
        });
    }
    let mut hashes = Vec::with_capacity(m.proof.hashes.len());
    for (j, h) in m.proof.hashes.iter().enumerate() {
        hashes.push(
            parse_hash("proof.hashes", h).map_err(|e| AnchorError::InvalidMember {
                index: i,
                participant_id: pid.clone(),
                field: "proof.hashes",
                reason: format!("entry {j} {}", e.reason),
            })?,
        );
    }
    Ok(RawMember {
        member,
        commitment: stated,
        index: m.proof.index,
        tree_size: m.proof.tree_size,
        hashes_digest: proof_digest(&hashes),
        hashes: keep.then_some(hashes),
    })
}

struct MembersSeed<'s> {
    keep_proofs: bool,
    slots: &'s Slots,
}

impl<'de> DeserializeSeed<'de> for MembersSeed<'_> {
    type Value = Vec<RawMember>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MembersSeed<'_> {
    type Value = Vec<RawMember>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of members")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        loop {
            let i = out.len();
            if i >= MEMBERS_MAX {
                return Err(self
                    .slots
                    .fail(AnchorError::TooManyMembers { max: MEMBERS_MAX }));
            }
            self.slots.member.set(Some(i));
            let Some(m) = seq.next_element::<MemberIn>()? else {
                break;
            };
            match convert_member(i, m, self.keep_proofs) {
                Ok(raw) => out.push(raw),
                Err(e) => return Err(self.slots.fail(e)),
            }
        }
        self.slots.member.set(None);
        Ok(out)
    }
}

/// The document as read, before the checks that need all of it.
struct RawDoc {
    version: u64,
    kind: String,
    root: String,
    tree_size: u64,
    participant_id: Option<String>,
    anchors: Vec<AnchorIn>,
    members: Vec<RawMember>,
}

struct DocSeed<'s> {
    slots: &'s Slots,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = RawDoc;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = RawDoc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a manifest or extract object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut version, mut kind, mut root, mut tree_size) = (None, None, None, None);
        let (mut participant_id, mut anchors, mut members) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" => once(&mut version, map.next_value::<u64>()?, "version")?,
                "kind" => once(&mut kind, map.next_value::<String>()?, "kind")?,
                "root" => once(&mut root, map.next_value::<String>()?, "root")?,
                "tree_size" => once(&mut tree_size, map.next_value::<u64>()?, "tree_size")?,
                "participant_id" => once(
                    &mut participant_id,
                    map.next_value::<String>()?,
                    "participant_id",
                )?,
                "anchors" => once(&mut anchors, map.next_value::<Vec<AnchorIn>>()?, "anchors")?,
                "members" => {
                    // Proofs of a manifest are recomputable from its members, so only their
                    // digest is kept; when the kind is not known yet, keep them all.
                    let keep_proofs = kind.as_deref() != Some(KIND_MANIFEST);
                    let value = map.next_value_seed(MembersSeed {
                        keep_proofs,
                        slots: self.slots,
                    })?;
                    once(&mut members, value, "members")?;
                }
                other => return Err(de::Error::unknown_field(other, DOC_FIELDS)),
            }
        }
        Ok(RawDoc {
            version: version.ok_or_else(|| de::Error::missing_field("version"))?,
            kind: kind.ok_or_else(|| de::Error::missing_field("kind"))?,
            root: root.ok_or_else(|| de::Error::missing_field("root"))?,
            tree_size: tree_size.ok_or_else(|| de::Error::missing_field("tree_size"))?,
            participant_id,
            anchors: anchors.ok_or_else(|| de::Error::missing_field("anchors"))?,
            members: members.ok_or_else(|| de::Error::missing_field("members"))?,
        })
    }
}

fn malformed(field: &str, reason: impl Into<String>) -> AnchorError {
    AnchorError::Malformed {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn read_anchors(root: Hash, list: Vec<AnchorIn>) -> Result<Anchors, AnchorError> {
    let mut anchors = Anchors::new(root);
    for (i, a) in list.into_iter().enumerate() {
        let bytes = b64().decode(a.ots.as_bytes()).map_err(|e| {
            malformed(
                &format!("anchors[{i}].ots"),
                format!("is not standard base64: {e}"),
            )
        })?;
        let ots = DetachedTimestampFile::parse(&bytes).map_err(|error| AnchorError::Ots {
            anchor: i,
            calendar: a.calendar.clone(),
            error,
        })?;
        // One anchor per calendar in what we write: a repeated calendar would silently
        // merge, so a document that repeats one is refused instead.
        if anchors
            .as_slice()
            .iter()
            .any(|x| x.calendar() == a.calendar)
        {
            return Err(malformed(
                &format!("anchors[{i}].calendar"),
                format!("calendar {:?} appears twice", a.calendar),
            ));
        }
        anchors.add(Anchor::new(a.calendar, ots)?)?;
    }
    Ok(anchors)
}

fn finish_manifest(doc: RawDoc, root: Hash) -> Result<Manifest, AnchorError> {
    if let Some(p) = doc.participant_id {
        return Err(malformed(
            "participant_id",
            format!("a manifest has no participant_id (found {p:?}); is this an extract?"),
        ));
    }
    let n = doc.members.len();
    if doc.tree_size != n as u64 {
        return Err(AnchorError::TreeSizeMismatch {
            stated: doc.tree_size,
            members: n,
        });
    }
    let mut members = Vec::with_capacity(n);
    let mut digests = Vec::with_capacity(n);
    for (i, raw) in doc.members.into_iter().enumerate() {
        let mismatch = |field: &'static str, reason: String| AnchorError::ProofMismatch {
            index: i,
            participant_id: raw.member.participant_id().to_owned(),
            field,
            reason,
        };
        if raw.index != i as u64 {
            return Err(mismatch(
                "proof.index",
                format!("is {}, but the member is at position {i}", raw.index),
            ));
        }
        if raw.tree_size != n as u64 {
            return Err(mismatch(
                "proof.tree_size",
                format!("is {}, but the manifest has {n} members", raw.tree_size),
            ));
        }
        digests.push(raw.hashes_digest);
        members.push(raw.member);
    }
    let mut manifest = Manifest::from_members(members, &mut |_, _| {})?;
    let computed = manifest.root();
    if computed != root {
        return Err(AnchorError::RootMismatch {
            stated: hex::encode(root),
            computed: hex::encode(computed),
            members: n,
        });
    }
    for (i, digest) in digests.iter().enumerate() {
        if proof_digest(&manifest.proof(i)?.hashes) != *digest {
            return Err(AnchorError::ProofMismatch {
                index: i,
                participant_id: manifest.members()[i].participant_id().to_owned(),
                field: "proof.hashes",
                reason: "do not match the tree built from the members".to_owned(),
            });
        }
    }
    manifest.set_anchors(read_anchors(root, doc.anchors)?);
    Ok(manifest)
}

fn finish_extract(doc: RawDoc, root: Hash) -> Result<Extract, AnchorError> {
    let Some(participant_id) = doc.participant_id else {
        return Err(malformed(
            "participant_id",
            "an extract names its participant",
        ));
    };
    if doc.members.is_empty() {
        return Err(malformed("members", "an extract holds at least one member"));
    }
    let mut members = Vec::with_capacity(doc.members.len());
    let mut seen: HashMap<Hash, usize> = HashMap::new();
    let mut last_index = None;
    for (i, raw) in doc.members.into_iter().enumerate() {
        let pid = raw.member.participant_id().to_owned();
        let mismatch = |field: &'static str, reason: String| AnchorError::ProofMismatch {
            index: i,
            participant_id: pid.clone(),
            field,
            reason,
        };
        if pid != participant_id {
            return Err(AnchorError::InvalidMember {
                index: i,
                participant_id: pid,
                field: "participant_id",
                reason: format!("is not the extract's participant {participant_id:?}"),
            });
        }
        if raw.tree_size != doc.tree_size {
            return Err(mismatch(
                "proof.tree_size",
                format!(
                    "is {}, but the extract's tree_size is {}",
                    raw.tree_size, doc.tree_size
                ),
            ));
        }
        if last_index.is_some_and(|last| raw.index <= last) {
            return Err(mismatch(
                "proof.index",
                format!(
                    "is {}: members must be in increasing index order",
                    raw.index
                ),
            ));
        }
        last_index = Some(raw.index);
        if let Some(&first) = seen.get(&raw.commitment) {
            return Err(AnchorError::DuplicateMember {
                index: i,
                first,
                participant_id: pid,
            });
        }
        seen.insert(raw.commitment, i);
        let proof = InclusionProof {
            index: raw.index,
            tree_size: raw.tree_size,
            hashes: raw.hashes.unwrap_or_default(),
        };
        proof
            .verify(&raw.commitment, &root)
            .map_err(|e| mismatch("proof", format!("does not lead to the root: {e}")))?;
        members.push(ProvenMember {
            member: raw.member,
            commitment: raw.commitment,
            proof,
        });
    }
    let anchors = read_anchors(root, doc.anchors)?;
    Ok(Extract {
        participant_id,
        root,
        tree_size: doc.tree_size,
        members,
        anchors,
    })
}

impl Document {
    /// Reads a manifest or an extract and checks all of it: member fields, commitments,
    /// duplicates, proofs, the root, and that every anchor parses, evaluates and timestamps
    /// the root.
    ///
    /// # Errors
    /// The first problem found, naming the member and field ([`AnchorError`]).
    pub fn from_json_reader(reader: impl Read) -> Result<Self, AnchorError> {
        let slots = Slots::default();
        let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
        let raw = DocSeed { slots: &slots }
            .deserialize(&mut de)
            .and_then(|raw| de.end().map(|()| raw));
        let raw = match raw {
            Ok(raw) => raw,
            Err(source) => return Err(slots.into_error("manifest JSON", source)),
        };
        if raw.version != MANIFEST_VERSION {
            return Err(malformed(
                "version",
                format!(
                    "is {}, this implementation reads version {MANIFEST_VERSION}",
                    raw.version
                ),
            ));
        }
        let root = parse_hash("root", &raw.root).map_err(|e| malformed(e.field, e.reason))?;
        match raw.kind.as_str() {
            KIND_MANIFEST => Ok(Document::Manifest(finish_manifest(raw, root)?)),
            KIND_EXTRACT => Ok(Document::Extract(finish_extract(raw, root)?)),
            other => Err(malformed(
                "kind",
                format!("is {other:?}, expected \"manifest\" or \"extract\""),
            )),
        }
    }

    /// As [`Document::from_json_reader`], from bytes.
    ///
    /// # Errors
    /// As [`Document::from_json_reader`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, AnchorError> {
        Self::from_json_reader(bytes)
    }
}

impl Manifest {
    /// Reads a whole manifest (an extract is refused).
    ///
    /// # Errors
    /// As [`Document::from_json_reader`], and [`AnchorError::Malformed`] for an extract.
    pub fn from_json_reader(reader: impl Read) -> Result<Self, AnchorError> {
        match Document::from_json_reader(reader)? {
            Document::Manifest(m) => Ok(m),
            Document::Extract(_) => Err(malformed(
                "kind",
                "is \"extract\": this needs the whole manifest",
            )),
        }
    }
}

struct InputsSeed<'s> {
    slots: &'s Slots,
}

impl<'de> Visitor<'de> for InputsSeed<'_> {
    type Value = Vec<MemberInput>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of members")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        loop {
            if out.len() >= MEMBERS_MAX {
                return Err(self
                    .slots
                    .fail(AnchorError::TooManyMembers { max: MEMBERS_MAX }));
            }
            self.slots.member.set(Some(out.len()));
            match seq.next_element::<MemberInput>()? {
                Some(m) => out.push(m),
                None => break,
            }
        }
        self.slots.member.set(None);
        Ok(out)
    }
}

/// Reads `members.json`: a JSON array of `{participant_id, record_hash, scope, nonce?}`.
/// Field rules are checked by [`Manifest::build`]; this checks the shape, naming the member
/// whose JSON is wrong.
///
/// # Errors
/// [`AnchorError::MemberJson`] or [`AnchorError::Json`].
pub fn read_member_inputs(reader: impl Read) -> Result<Vec<MemberInput>, AnchorError> {
    let slots = Slots::default();
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let result = de::Deserializer::deserialize_seq(&mut de, InputsSeed { slots: &slots })
        .and_then(|v| de.end().map(|()| v));
    result.map_err(|source| slots.into_error("members JSON", source))
}
