//! Verifying one member (issue 7, part 4): its commitment, its proof against the root, and
//! every anchor of the root, with a verdict and the reasons for it.

use crate::anchors::Anchor;
use crate::manifest::{MemberSource, ProvenMember};
use crate::node::CheckpointAttestation;
use crate::ots::Attestation;
use std::fmt;
use treaty_merkle::Hash;
use treaty_note::VerifierKey;

/// What verification trusts and requires.
#[derive(Debug, Clone, Default)]
pub struct AnchorPolicy {
    /// Ledger verifier keys of Treaty nodes, matched to checkpoint attestations by origin
    /// (= key name).
    pub node_keys: Vec<VerifierKey>,
    /// Witness cosignature keys; verified cosignatures are reported with their time.
    pub witness_keys: Vec<VerifierKey>,
    /// How many anchors must carry an attestation that verified here. Zero accepts a
    /// member whose root is not (yet) anchored, reporting what the anchors say.
    pub min_verified_anchors: usize,
}

/// How a finding bears on the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Level {
    /// A check that passed.
    Pass,
    /// A check that failed: the verdict is NOT VERIFIED.
    Fail,
    /// Information that neither passes nor fails (pending, unchecked attestations).
    Note,
}

/// One reason in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Its weight.
    pub level: Level,
    /// What was found.
    pub message: String,
}

/// The verdict and its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every check, in the order made.
    pub findings: Vec<Finding>,
    /// Anchors with at least one attestation that verified.
    pub verified_anchors: usize,
}

impl Report {
    /// Whether every check passed and the policy's anchor count was met.
    #[must_use]
    pub fn is_verified(&self) -> bool {
        !self.findings.iter().any(|f| f.level == Level::Fail)
    }

    fn push(&mut self, level: Level, message: impl Into<String>) {
        self.findings.push(Finding {
            level,
            message: message.into(),
        });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}",
            if self.is_verified() {
                "VERIFIED"
            } else {
                "NOT VERIFIED"
            }
        )?;
        for finding in &self.findings {
            let tag = match finding.level {
                Level::Pass => "ok  ",
                Level::Fail => "FAIL",
                Level::Note => "note",
            };
            writeln!(f, "  {tag} {}", finding.message)?;
        }
        Ok(())
    }
}

/// Verifies a member against the root, tree size and anchors of the manifest or extract it
/// came from (seed 002 `verify_federated_anchor_member`). See [`verify_member_against`].
#[must_use]
pub fn verify_member(
    member: &ProvenMember,
    source: &impl MemberSource,
    policy: &AnchorPolicy,
) -> Report {
    verify_member_against(
        member,
        &source.root(),
        source.tree_size(),
        source.anchors().as_slice(),
        policy,
    )
}

/// Verifies a member against a root of `tree_size` leaves and that root's anchors, under
/// `policy`.
///
/// Checks, each reported: the commitment recomputed from the member's fields equals the
/// stated one; the proof is for a tree of `tree_size` leaves (an RFC 6962 proof alone does
/// not pin the size: the right-most sibling may stand for a subtree of any shape) and leads
/// from the commitment to `root`; each anchor's `.ots` timestamps `root` and evaluates;
/// each Treaty checkpoint attestation verifies under the node key for its origin (a failing
/// one fails the verdict; one without a configured key is a note); at least
/// `policy.min_verified_anchors` anchors verified. Pending and Bitcoin attestations are
/// reported, not checked (a Bitcoin attestation needs a block header).
#[must_use]
pub fn verify_member_against(
    member: &ProvenMember,
    root: &Hash,
    tree_size: u64,
    anchors: &[Anchor],
    policy: &AnchorPolicy,
) -> Report {
    let mut report = Report {
        findings: Vec::new(),
        verified_anchors: 0,
    };
    let m = &member.member;
    let who = format!(
        "participant {:?}, record {}, scope {:?}",
        m.participant_id(),
        m.record_hash_hex(),
        m.scope()
    );
    let computed = m.commitment();
    if computed == member.commitment {
        report.push(
            Level::Pass,
            format!(
                "commitment {} recomputed from the member ({who})",
                hex::encode(computed)
            ),
        );
    } else {
        report.push(
            Level::Fail,
            format!(
                "commitment_hash {} is not {}, the commitment of the member's fields ({who})",
                hex::encode(member.commitment),
                hex::encode(computed)
            ),
        );
    }
    if member.proof.tree_size != tree_size {
        report.push(
            Level::Fail,
            format!(
                "proof is for a tree of {} leaves, the root's tree has {tree_size}",
                member.proof.tree_size
            ),
        );
    }
    match member.proof.verify(&computed, root) {
        Ok(()) => report.push(
            Level::Pass,
            format!(
                "proof: leaf {} of {} leads to root {}",
                member.proof.index,
                member.proof.tree_size,
                hex::encode(root)
            ),
        ),
        Err(e) => report.push(
            Level::Fail,
            format!("proof does not lead to root {}: {e}", hex::encode(root)),
        ),
    }
    if anchors.is_empty() {
        report.push(Level::Note, "no anchors: the root is not timestamped");
    }
    for (i, anchor) in anchors.iter().enumerate() {
        if check_anchor(i, anchor, root, policy, &mut report) {
            report.verified_anchors += 1;
        }
    }
    if report.verified_anchors < policy.min_verified_anchors {
        report.push(
            Level::Fail,
            format!(
                "{} anchor(s) verified, the policy requires {}",
                report.verified_anchors, policy.min_verified_anchors
            ),
        );
    }
    report
}

/// Checks one anchor; true when one of its attestations verified.
fn check_anchor(
    i: usize,
    anchor: &Anchor,
    root: &Hash,
    policy: &AnchorPolicy,
    report: &mut Report,
) -> bool {
    let label = format!("anchor {i} ({})", anchor.calendar());
    let ots = anchor.ots();
    if ots.digest() != root.as_slice() {
        report.push(
            Level::Fail,
            format!(
                "{label}: the .ots timestamps {}, not the root",
                hex::encode(ots.digest())
            ),
        );
        return false;
    }
    let found = match ots.evaluate() {
        Ok(found) => found,
        Err(e) => {
            report.push(
                Level::Fail,
                format!("{label}: the .ots does not evaluate: {e}"),
            );
            return false;
        }
    };
    let mut verified = false;
    for e in found {
        match &e.attestation {
            Attestation::Pending { uri } => report.push(
                Level::Note,
                format!("{label}: pending at {uri} (run `treaty anchor upgrade`)"),
            ),
            Attestation::Bitcoin { height } => report.push(
                Level::Note,
                format!(
                    "{label}: Bitcoin block {height} attestation on merkle root {} (not \
                     checked here: it needs the block header, e.g. `ots verify`)",
                    hex::encode(&e.message)
                ),
            ),
            other => match CheckpointAttestation::from_attestation(other) {
                None => report.push(
                    Level::Note,
                    format!(
                        "{label}: unknown attestation {} (not checked)",
                        hex::encode(other.tag())
                    ),
                ),
                Some(Err(err)) => report.push(Level::Fail, format!("{label}: {err}")),
                Some(Ok(att)) => {
                    match att.verify(&e.message, &policy.node_keys, &policy.witness_keys) {
                        Ok(v) => {
                            verified = true;
                            let times: Vec<String> = v
                                .cosignatures
                                .iter()
                                .map(|c| format!("{} at unix time {}", c.name(), c.timestamp))
                                .collect();
                            report.push(
                                Level::Pass,
                                format!(
                                    "{label}: ledger {} includes the root at tree size {} \
                                     (checkpoint signature verified{})",
                                    att.origin(),
                                    att.tree_size(),
                                    if times.is_empty() {
                                        String::new()
                                    } else {
                                        format!("; cosigned by {}", times.join(", "))
                                    }
                                ),
                            );
                        }
                        Err(crate::node::NodeError::NoKeyForOrigin { origin }) => report.push(
                            Level::Note,
                            format!(
                                "{label}: ledger {origin} checkpoint attestation not checked: \
                                 no verifier key for that origin (pass --node-key)"
                            ),
                        ),
                        Err(err) => report.push(Level::Fail, format!("{label}: {err}")),
                    }
                }
            },
        }
    }
    verified
}
