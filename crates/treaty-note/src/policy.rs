//! Transparency-log trust policies: c2sp.org/tlog-policy (a C2SP draft), "Policy file syntax
//! and structure".
//!
//! A policy names the logs whose checkpoints are accepted, the witnesses whose cosignatures
//! count, and the quorum: the rule deciding whether a set of cosigners is enough. It is what
//! an offline verifier of a receipt needs besides the entry ([`crate::Receipt::verify_with_policy`]).
//!
//! ```text
//! log <vkey> [<url>]
//! witness <name> <vkey> [<url>]
//! group <name> all|any|<k> <member>...
//! quorum <name>
//! ```
//!
//! Items are separated by runs of ASCII space and tab only; leading and trailing white space
//! is allowed; empty lines and lines whose first item starts with `#` are ignored. Only tab,
//! newline, `0x20..=0x7E` and `0x80..=0xFF` may appear. Names (of witnesses and groups, one
//! namespace, `none` predefined) are opaque octet strings compared byte for byte.
//!
//! # Each name is a group member at most once, in the whole policy
//!
//! The spec: "Each defined name can be listed as a group member at most once. This ensures
//! that each witness can contribute to a group, or to the quorum in particular, in only one
//! way." Only the reading "once across all groups" ensures that (a witness in two subgroups
//! of the quorum would otherwise count twice), so that is what [`Policy::parse`] enforces.
//! It also makes the quorum a tree, which is why [`Policy::min_witnesses`] can be exact
//! instead of a set-cover search.
//!
//! # Choices the draft leaves open
//!
//! - A last line without its newline is accepted: it cannot change what the file means.
//! - Log keys must be type `0x01` and witness keys type `0x04` (the draft: "a signature type
//!   appropriate [to the] respective function"); this crate implements no other types.
//! - Limits: [`POLICY_BYTES_MAX`], [`POLICY_LOGS_MAX`], [`POLICY_WITNESSES_MAX`],
//!   [`POLICY_GROUPS_MAX`] (the draft recommends supporting at least 32 of each).

use std::collections::BTreeMap;

use crate::key::{KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, VerifierKey};
use crate::{NoteError, check_len, parse_decimal};

/// The largest policy file accepted, in bytes. A policy at every count limit with long URLs
/// is under 60 KiB; real ones are a few KiB.
pub const POLICY_BYTES_MAX: usize = 64 * 1024;

/// The most `log` lines a policy may have.
pub const POLICY_LOGS_MAX: usize = 256;

/// The most `witness` lines a policy may have.
pub const POLICY_WITNESSES_MAX: usize = 256;

/// The most `group` lines a policy may have.
pub const POLICY_GROUPS_MAX: usize = 256;

/// The predefined name: as a quorum, no cosignature is needed; never a group member.
pub const POLICY_NONE: &str = "none";

/// A witness of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// The name the policy gives it (meaningful only inside the policy file).
    pub name: String,
    /// Its cosignature key, type [`KEY_TYPE_COSIGNATURE_V1`].
    pub key: VerifierKey,
    /// Its submission prefix URL, if the policy gives one.
    pub url: Option<String>,
}

/// What a defined name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    /// A witness: its index in [`Policy::witnesses`].
    Witness(usize),
    /// A group: satisfied when at least `k` of its members (indexes of earlier names) are.
    Group {
        /// The threshold, `1 <= k <= members.len()`.
        k: usize,
        /// Indexes into [`Policy::names`], all smaller than the group's own index.
        members: Vec<usize>,
    },
}

/// A parsed, checked tlog-policy.
///
/// Constructed only by [`Policy::parse`], so every invariant of the spec holds: unique log
/// and witness keys of the right types, groups that only reference earlier names, each
/// name a member at most once, exactly one quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The logs with their optional URLs, in file order.
    logs: Vec<(VerifierKey, Option<String>)>,
    /// The witnesses, in file order.
    witnesses: Vec<PolicyWitness>,
    /// Every defined name (witnesses and groups) in file order. A group's members come
    /// before it, so evaluating in this order visits members before their groups.
    names: Vec<(String, Member)>,
    /// The quorum as an index into `names`; `None` for `quorum none`.
    quorum: Option<usize>,
}

/// The parse state of one policy file.
struct Parser {
    /// What has been read so far.
    policy: Policy,
    /// Name to index in `policy.names`, for member lookups.
    index: BTreeMap<String, usize>,
    /// Per entry of `policy.names`: whether it is already some group's member.
    used: Vec<bool>,
    /// Number of `group` lines read.
    groups: usize,
    /// Whether the quorum line was read (`policy.quorum` is `None` for `quorum none` too).
    quorum_seen: bool,
    /// One-based number of the line being read.
    line: usize,
}

impl Parser {
    /// A [`NoteError::MalformedPolicy`] for the current line.
    fn malformed(&self, reason: &'static str) -> NoteError {
        NoteError::MalformedPolicy {
            line: self.line,
            reason,
        }
    }

    /// A [`NoteError::PolicyLimit`] for the current line.
    fn limit(&self, what: &'static str, max: usize) -> NoteError {
        NoteError::PolicyLimit {
            line: self.line,
            what,
            max,
        }
    }

    /// Parses a vkey of type `key_type`.
    fn key(&self, text: &str, key_type: u8) -> Result<VerifierKey, NoteError> {
        let wrap = |source| NoteError::InvalidPolicyKey {
            line: self.line,
            source: Box::new(source),
        };
        let key = VerifierKey::parse(text).map_err(wrap)?;
        if key.key_type() != key_type {
            return Err(wrap(NoteError::WrongKeyType {
                name: key.name().to_owned(),
                expected: key_type,
                got: key.key_type(),
            }));
        }
        Ok(key)
    }

    /// Checks that `name` may be defined here: not `none`, not defined before.
    fn check_new_name(&self, name: &str) -> Result<(), NoteError> {
        if name == POLICY_NONE {
            return Err(self.malformed("the name none is predefined"));
        }
        if self.index.contains_key(name) {
            return Err(self.malformed("the name is already defined"));
        }
        Ok(())
    }

    /// Defines `name` as `member`.
    fn define(&mut self, name: &str, member: Member) {
        self.index.insert(name.to_owned(), self.policy.names.len());
        self.policy.names.push((name.to_owned(), member));
        self.used.push(false);
    }

    /// `log <vkey> [<url>]`.
    fn log(&mut self, args: &[&str]) -> Result<(), NoteError> {
        let (vkey, url) = match args {
            [vkey] => (*vkey, None),
            [vkey, url] => (*vkey, Some((*url).to_owned())),
            _ => return Err(self.malformed("expected log <vkey> [<url>]")),
        };
        if self.policy.logs.len() == POLICY_LOGS_MAX {
            return Err(self.limit("logs", POLICY_LOGS_MAX));
        }
        let key = self.key(vkey, KEY_TYPE_ED25519)?;
        // Duplicates are the same underlying public key, whatever the name and key ID.
        if self
            .policy
            .logs
            .iter()
            .any(|(k, _)| k.public_key() == key.public_key())
        {
            return Err(self.malformed("duplicate log: the same public key is listed twice"));
        }
        self.policy.logs.push((key, url));
        Ok(())
    }

    /// `witness <name> <vkey> [<url>]`.
    fn witness(&mut self, args: &[&str]) -> Result<(), NoteError> {
        let (name, vkey, url) = match args {
            [name, vkey] => (*name, *vkey, None),
            [name, vkey, url] => (*name, *vkey, Some((*url).to_owned())),
            _ => return Err(self.malformed("expected witness <name> <vkey> [<url>]")),
        };
        if self.policy.witnesses.len() == POLICY_WITNESSES_MAX {
            return Err(self.limit("witnesses", POLICY_WITNESSES_MAX));
        }
        self.check_new_name(name)?;
        let key = self.key(vkey, KEY_TYPE_COSIGNATURE_V1)?;
        if self
            .policy
            .witnesses
            .iter()
            .any(|w| w.key.public_key() == key.public_key())
        {
            return Err(self.malformed("duplicate witness: the same public key is listed twice"));
        }
        let index = self.policy.witnesses.len();
        self.policy.witnesses.push(PolicyWitness {
            name: name.to_owned(),
            key,
            url,
        });
        self.define(name, Member::Witness(index));
        Ok(())
    }

    /// `group <name> all|any|<k> <member>...`.
    fn group(&mut self, args: &[&str]) -> Result<(), NoteError> {
        let [name, threshold, members @ ..] = args else {
            return Err(self.malformed("expected group <name> all|any|<k> <member>..."));
        };
        if members.is_empty() {
            return Err(self.malformed("a group needs at least one member"));
        }
        if self.groups == POLICY_GROUPS_MAX {
            return Err(self.limit("groups", POLICY_GROUPS_MAX));
        }
        self.check_new_name(name)?;
        let n = members.len();
        let k = match *threshold {
            "all" => n,
            "any" => 1,
            text => parse_decimal(text)
                .and_then(|k| usize::try_from(k).ok())
                .ok_or_else(|| {
                    self.malformed("threshold is not all, any or a decimal without leading zeroes")
                })?,
        };
        if k == 0 || k > n {
            return Err(self.malformed("threshold k must satisfy 1 <= k <= number of members"));
        }
        let mut resolved = Vec::with_capacity(n);
        for member in members {
            if *member == POLICY_NONE {
                return Err(self.malformed("none cannot be a group member"));
            }
            let Some(&i) = self.index.get(*member) else {
                return Err(self.malformed("group member is not defined on a preceding line"));
            };
            match self.used.get_mut(i) {
                Some(used) if !*used => *used = true,
                _ => {
                    return Err(self.malformed("a name can be a group member only once"));
                }
            }
            resolved.push(i);
        }
        self.groups += 1;
        self.define(
            name,
            Member::Group {
                k,
                members: resolved,
            },
        );
        Ok(())
    }

    /// `quorum <name>`.
    fn quorum(&mut self, args: &[&str]) -> Result<(), NoteError> {
        let [name] = args else {
            return Err(self.malformed("expected quorum <name>"));
        };
        if self.quorum_seen {
            return Err(self.malformed("more than one quorum line"));
        }
        self.policy.quorum = if *name == POLICY_NONE {
            None
        } else {
            Some(
                *self
                    .index
                    .get(*name)
                    .ok_or_else(|| self.malformed("quorum is not defined on a preceding line"))?,
            )
        };
        self.quorum_seen = true;
        Ok(())
    }
}

/// Whether `b` may appear in a policy file: tab, newline, printable ASCII, or any octet
/// with the high bit set (spec "Character set").
fn allowed_octet(b: u8) -> bool {
    matches!(b, 0x09 | 0x0a | 0x20..=0x7e | 0x80..=0xff)
}

impl Policy {
    /// Parses and checks a policy file.
    ///
    /// # Errors
    /// [`NoteError::TooLarge`] above [`POLICY_BYTES_MAX`]; [`NoteError::ControlCharacter`]
    /// for a disallowed octet (any control character but tab and newline, and DEL);
    /// [`NoteError::MalformedPolicy`] naming the line and the broken rule (line 0 when no
    /// quorum line was found); [`NoteError::InvalidPolicyKey`] for a vkey that does not
    /// parse or has the wrong type for its role; [`NoteError::PolicyLimit`].
    pub fn parse(text: &str) -> Result<Policy, NoteError> {
        check_len("policy", text.len(), POLICY_BYTES_MAX)?;
        if let Some((offset, &byte)) = text
            .as_bytes()
            .iter()
            .enumerate()
            .find(|&(_, &b)| !allowed_octet(b))
        {
            return Err(NoteError::ControlCharacter { byte, offset });
        }
        let mut p = Parser {
            policy: Policy {
                logs: Vec::new(),
                witnesses: Vec::new(),
                names: Vec::new(),
                quorum: None,
            },
            index: BTreeMap::new(),
            used: Vec::new(),
            groups: 0,
            quorum_seen: false,
            line: 0,
        };
        for (i, line) in text.split('\n').enumerate() {
            p.line = i + 1;
            let fields: Vec<&str> = line.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
            let Some((keyword, args)) = fields.split_first() else {
                continue;
            };
            if keyword.starts_with('#') {
                continue;
            }
            match *keyword {
                "log" => p.log(args)?,
                "witness" => p.witness(args)?,
                "group" => p.group(args)?,
                "quorum" => p.quorum(args)?,
                _ => return Err(p.malformed("unknown keyword")),
            }
        }
        if !p.quorum_seen {
            return Err(NoteError::MalformedPolicy {
                line: 0,
                reason: "the policy has no quorum line",
            });
        }
        Ok(p.policy)
    }

    /// The logs and their optional URLs, in file order.
    #[must_use]
    pub fn logs(&self) -> &[(VerifierKey, Option<String>)] {
        &self.logs
    }

    /// The witnesses, in file order.
    #[must_use]
    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }

    /// The witnesses' keys, to pass as the known witness keys when opening a checkpoint.
    #[must_use]
    pub fn witness_keys(&self) -> Vec<VerifierKey> {
        self.witnesses.iter().map(|w| w.key.clone()).collect()
    }

    /// Whether cosignatures by exactly these witness keys satisfy the quorum. Keys match a
    /// policy witness by name, type and public key (the vkey, which is what a cosignature
    /// line is verified under); keys the policy does not list are ignored and a key given
    /// twice counts once. `quorum none` is always satisfied.
    ///
    /// The caller must have verified the cosignatures: this only evaluates the rule.
    #[must_use]
    pub fn satisfied_by(&self, cosigners: &[VerifierKey]) -> bool {
        let Some(quorum) = self.quorum else {
            return true;
        };
        // Names are in definition order, so every group's members are decided before it.
        let mut satisfied: Vec<bool> = Vec::with_capacity(self.names.len());
        for (_, member) in &self.names {
            let ok = match member {
                Member::Witness(w) => self
                    .witnesses
                    .get(*w)
                    .is_some_and(|w| cosigners.contains(&w.key)),
                Member::Group { k, members } => {
                    members
                        .iter()
                        .filter(|&&m| satisfied.get(m).copied().unwrap_or(false))
                        .count()
                        >= *k
                }
            };
            satisfied.push(ok);
        }
        satisfied.get(quorum).copied().unwrap_or(false)
    }

    /// The fewest distinct witnesses whose cosignatures can satisfy the quorum (0 for
    /// `quorum none`), for reporting what a checkpoint lacks.
    ///
    /// Exact because no name is a member twice (see the module docs): a group needs the sum
    /// of its `k` cheapest members, and no witness is counted in two of them.
    #[must_use]
    pub fn min_witnesses(&self) -> usize {
        let Some(quorum) = self.quorum else {
            return 0;
        };
        let mut min: Vec<usize> = Vec::with_capacity(self.names.len());
        for (_, member) in &self.names {
            let need = match member {
                Member::Witness(_) => 1,
                Member::Group { k, members } => {
                    let mut costs: Vec<usize> = members
                        .iter()
                        .map(|&m| min.get(m).copied().unwrap_or(usize::MAX))
                        .collect();
                    costs.sort_unstable();
                    costs
                        .iter()
                        .take(*k)
                        .fold(0usize, |sum, c| sum.saturating_add(*c))
                }
            };
            min.push(need);
        }
        min.get(quorum).copied().unwrap_or(0)
    }

    /// The name the quorum line gives, [`POLICY_NONE`] for `quorum none`.
    #[must_use]
    pub fn quorum_name(&self) -> &str {
        self.quorum
            .and_then(|q| self.names.get(q))
            .map_or(POLICY_NONE, |(name, _)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    /// A log vkey for seed `i`, named `example.com/log{i}`.
    fn log_key(i: u8) -> VerifierKey {
        let sk = SigningKey::from_bytes(&[0x40 + i; 32]);
        VerifierKey::from_signing_key(&format!("example.com/log{i}"), &sk, KEY_TYPE_ED25519)
            .expect("key")
    }

    /// A witness vkey for seed `i`, named `w{i}.example`.
    fn witness_key(i: u8) -> VerifierKey {
        let sk = SigningKey::from_bytes(&[0x80 + i; 32]);
        VerifierKey::from_signing_key(&format!("w{i}.example"), &sk, KEY_TYPE_COSIGNATURE_V1)
            .expect("key")
    }

    /// The spec's example policy, with real keys: X1..X3 are witnesses 1..3, Y1..Y3 are
    /// 4..6.
    fn spec_example() -> String {
        format!(
            "log {}\n\
             \n\
             witness X1 {}\n\
             witness X2 {}\n\
             witness X3 {}\n\
             group X-witnesses 2 X1 X2 X3\n\
             \n\
             witness Y1 {}\n\
             witness Y2 {}\n\
             witness Y3 {}\n\
             group Y-witnesses any Y1 Y2 Y3\n\
             \n\
             group X-and-Y all X-witnesses Y-witnesses\n\
             quorum X-and-Y\n",
            log_key(1),
            witness_key(1),
            witness_key(2),
            witness_key(3),
            witness_key(4),
            witness_key(5),
            witness_key(6),
        )
    }

    fn keys(ids: &[u8]) -> Vec<VerifierKey> {
        ids.iter().map(|&i| witness_key(i)).collect()
    }

    #[test]
    fn spec_example_quorum() {
        let policy = Policy::parse(&spec_example()).expect("parse");
        assert_eq!(policy.logs().len(), 1);
        assert_eq!(policy.logs()[0].0, log_key(1));
        assert_eq!(policy.witnesses().len(), 6);
        assert_eq!(policy.witnesses()[3].name, "Y1");
        assert_eq!(policy.witness_keys(), keys(&[1, 2, 3, 4, 5, 6]));
        assert_eq!(policy.quorum_name(), "X-and-Y");
        assert_eq!(policy.min_witnesses(), 3);
        // Two X and one Y: satisfied, in any order, with duplicates and strangers.
        assert!(policy.satisfied_by(&keys(&[1, 2, 4])));
        assert!(policy.satisfied_by(&keys(&[6, 3, 1])));
        assert!(policy.satisfied_by(&keys(&[1, 2, 3, 4, 5, 6])));
        assert!(policy.satisfied_by(&keys(&[1, 1, 2, 5, 9])));
        // Not enough X, or no Y, or nothing.
        assert!(!policy.satisfied_by(&keys(&[1, 4, 5, 6])));
        assert!(!policy.satisfied_by(&keys(&[1, 1, 4])));
        assert!(!policy.satisfied_by(&keys(&[1, 2, 3])));
        assert!(!policy.satisfied_by(&[]));
        assert!(!policy.satisfied_by(&keys(&[7, 8, 9])));
    }

    #[test]
    fn cosigners_match_by_vkey_not_by_public_key_alone() {
        let policy =
            Policy::parse(&format!("witness A {}\nquorum A\n", witness_key(1))).expect("parse");
        assert!(policy.satisfied_by(&keys(&[1])));
        // The same public key under another name or as a log key is another vkey.
        let sk = SigningKey::from_bytes(&[0x81; 32]);
        let renamed =
            VerifierKey::from_signing_key("other", &sk, KEY_TYPE_COSIGNATURE_V1).expect("key");
        let plain =
            VerifierKey::from_signing_key("w1.example", &sk, KEY_TYPE_ED25519).expect("key");
        assert!(!policy.satisfied_by(&[renamed, plain]));
        assert_eq!(policy.min_witnesses(), 1);
    }

    #[test]
    fn quorum_none_and_logs_only() {
        let policy = Policy::parse("quorum none\n").expect("parse");
        assert!(policy.satisfied_by(&[]));
        assert_eq!(policy.min_witnesses(), 0);
        assert_eq!(policy.quorum_name(), "none");
        assert!(policy.logs().is_empty());
        let policy = Policy::parse(&format!(
            "# logs only\n  log {} https://log.example/  \n\tlog {}\nwitness A {}\nquorum none",
            log_key(1),
            log_key(2),
            witness_key(1)
        ))
        .expect("parse");
        assert_eq!(policy.logs().len(), 2);
        assert_eq!(policy.logs()[0].1.as_deref(), Some("https://log.example/"));
        assert_eq!(policy.logs()[1].1, None);
        assert!(policy.satisfied_by(&[]));
    }

    #[test]
    fn thresholds_and_nesting() {
        let text = format!(
            "witness A {} https://a.example/\nwitness B {}\nwitness C {}\nwitness D {}\n\
             group AB any A B\ngroup ABC 2 AB C D\ngroup top 1 ABC\nquorum top\n",
            witness_key(1),
            witness_key(2),
            witness_key(3),
            witness_key(4)
        );
        let policy = Policy::parse(&text).expect("parse");
        assert_eq!(
            policy.witnesses()[0].url.as_deref(),
            Some("https://a.example/")
        );
        assert_eq!(policy.min_witnesses(), 2);
        assert!(policy.satisfied_by(&keys(&[1, 3])));
        assert!(policy.satisfied_by(&keys(&[3, 4])));
        assert!(policy.satisfied_by(&keys(&[2, 4])));
        assert!(!policy.satisfied_by(&keys(&[1, 2])));
        assert!(!policy.satisfied_by(&keys(&[4])));
        // A single witness as the quorum.
        let policy =
            Policy::parse(&format!("witness A {}\nquorum A\n", witness_key(1))).expect("parse");
        assert_eq!(policy.min_witnesses(), 1);
        assert!(policy.satisfied_by(&keys(&[1])));
        assert!(!policy.satisfied_by(&keys(&[2])));
        // all over k groups adds their minimums.
        let policy = Policy::parse(&format!(
            "witness A {}\nwitness B {}\nwitness C {}\nwitness D {}\n\
             group G1 all A B\ngroup G2 any C D\ngroup Q all G1 G2\nquorum Q\n",
            witness_key(1),
            witness_key(2),
            witness_key(3),
            witness_key(4)
        ))
        .expect("parse");
        assert_eq!(policy.min_witnesses(), 3);
        assert!(policy.satisfied_by(&keys(&[1, 2, 4])));
        assert!(!policy.satisfied_by(&keys(&[1, 3, 4])));
    }

    /// Every rejection rule, each with the line it must be reported on.
    #[test]
    fn rejections() {
        let (l1, l2) = (log_key(1), log_key(2));
        let (w1, w2) = (witness_key(1), witness_key(2));
        // The same public keys as `l1` and `w1` under other names.
        let l1_renamed = VerifierKey::from_signing_key(
            "other.example/log",
            &SigningKey::from_bytes(&[0x41; 32]),
            KEY_TYPE_ED25519,
        )
        .expect("key");
        let w1_renamed = VerifierKey::from_signing_key(
            "other.example",
            &SigningKey::from_bytes(&[0x81; 32]),
            KEY_TYPE_COSIGNATURE_V1,
        )
        .expect("key");
        let cases: Vec<(String, usize)> = vec![
            // Structure.
            (String::new(), 0),
            ("# only a comment\n".into(), 0),
            (format!("log {l1}\n"), 0),
            ("quorum none\nquorum none\n".into(), 2),
            ("frobnicate x\nquorum none\n".into(), 1),
            ("LOG x\nquorum none\n".into(), 1),
            ("quorum\n".into(), 1),
            ("quorum none extra\n".into(), 1),
            // Logs.
            ("log\nquorum none\n".into(), 1),
            (format!("log {l1} url extra\nquorum none\n"), 1),
            ("log not-a-key\nquorum none\n".into(), 1),
            (format!("log {w1}\nquorum none\n"), 1),
            (format!("log {l1}\nlog {l1}\nquorum none\n"), 2),
            (format!("log {l1}\nlog {l1_renamed}\nquorum none\n"), 2),
            // Witnesses.
            (format!("witness {w1}\nquorum none\n"), 1),
            (format!("witness A {w1} url extra\nquorum none\n"), 1),
            (format!("witness A {l1}\nquorum none\n"), 1),
            (format!("witness none {w1}\nquorum none\n"), 1),
            (format!("witness A {w1}\nwitness A {w2}\nquorum none\n"), 2),
            (
                format!("witness A {w1}\nwitness B {w1_renamed}\nquorum none\n"),
                2,
            ),
            (format!("witness A {w1}\nwitness B {w1}\nquorum none\n"), 2),
            // Groups.
            (format!("witness A {w1}\ngroup G any\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G 0 A\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G 2 A\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G 01 A\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G +1 A\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G -1 A\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G ALL A\nquorum G\n"), 2),
            (
                format!("witness A {w1}\ngroup G 99999999999999999999999 A\nquorum G\n"),
                2,
            ),
            (format!("witness A {w1}\ngroup G any B\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G any A none\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G any A A\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup G any G\nquorum G\n"), 2),
            (format!("witness A {w1}\ngroup A any A\nquorum A\n"), 2),
            (
                format!("witness A {w1}\ngroup none any A\nquorum none\n"),
                2,
            ),
            (
                format!(
                    "witness A {w1}\nwitness B {w2}\ngroup G any A\ngroup H any A B\nquorum H\n"
                ),
                4,
            ),
            (
                format!("witness A {w1}\ngroup G any A\ngroup H any G\ngroup I any G\nquorum I\n"),
                4,
            ),
            // Quorum.
            (format!("quorum A\nwitness A {w1}\n"), 1),
            (format!("group G any A\nwitness A {w1}\nquorum G\n"), 1),
            (format!("witness A {w1}\nquorum A\nquorum A\n"), 3),
            // A log key where a witness key belongs and vice versa, with good structure.
            (format!("log {l2}\nwitness A {l1}\nquorum A\n"), 2),
        ];
        for (text, line) in cases {
            match Policy::parse(&text) {
                Err(
                    NoteError::MalformedPolicy { line: got, .. }
                    | NoteError::InvalidPolicyKey { line: got, .. },
                ) => assert_eq!(got, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn character_set() {
        assert!(Policy::parse("quorum\tnone\t\n").is_ok());
        assert!(Policy::parse("# caf\u{e9} \u{2014} comment\nquorum none\n").is_ok());
        for bad in [
            "quorum none\r\n",
            "quorum none\x7f\n",
            "\x00quorum none\n",
            "quorum\x0bnone\n",
        ] {
            assert!(
                matches!(Policy::parse(bad), Err(NoteError::ControlCharacter { .. })),
                "{bad:?}"
            );
        }
        // Non-ASCII names are opaque: "K" and the Kelvin sign are different names.
        let policy = Policy::parse(&format!(
            "witness K {}\nwitness \u{212a} {}\ngroup G all K \u{212a}\nquorum G\n",
            witness_key(1),
            witness_key(2)
        ))
        .expect("parse");
        assert_eq!(policy.min_witnesses(), 2);
        // Unicode white space does not separate items: the name is "A\u{a0}B".
        let policy = Policy::parse(&format!(
            "witness A\u{a0}B {}\nquorum A\u{a0}B\n",
            witness_key(1)
        ))
        .expect("parse");
        assert_eq!(policy.witnesses()[0].name, "A\u{a0}B");
    }

    #[test]
    fn limits() {
        assert!(matches!(
            Policy::parse(&"#".repeat(POLICY_BYTES_MAX + 1)),
            Err(NoteError::TooLarge { .. })
        ));
        // Exactly at each count limit parses; one more does not.
        let witnesses = |n: usize| -> String {
            (0..n)
                .map(|i| {
                    let sk = SigningKey::from_bytes(&[u8::try_from(i % 256).expect("byte"); 32]);
                    let vk = VerifierKey::from_signing_key("w", &sk, KEY_TYPE_COSIGNATURE_V1)
                        .expect("key");
                    format!("witness w{i} {vk}\n")
                })
                .collect()
        };
        let text = format!("{}quorum w0\n", witnesses(POLICY_WITNESSES_MAX));
        assert!(text.len() < POLICY_BYTES_MAX);
        assert!(Policy::parse(&text).is_ok());
        let over = format!(
            "{}witness extra {}\nquorum none\n",
            witnesses(POLICY_WITNESSES_MAX),
            witness_key(1)
        );
        assert!(matches!(
            Policy::parse(&over),
            Err(NoteError::PolicyLimit {
                what: "witnesses",
                ..
            })
        ));
        let logs: String = (0..=POLICY_LOGS_MAX)
            .map(|i| {
                let sk = SigningKey::from_bytes(&[u8::try_from(i % 256).expect("byte"); 32]);
                let vk = VerifierKey::from_signing_key("l", &sk, KEY_TYPE_ED25519).expect("key");
                format!("log {vk}\n")
            })
            .collect();
        assert!(matches!(
            Policy::parse(&format!("{logs}quorum none\n")),
            Err(NoteError::PolicyLimit { what: "logs", .. })
        ));
        // A chain of groups, each the only member of the next, up to the limit.
        let chain = |n: usize| -> String {
            let mut text = format!("witness A {}\ngroup g0 any A\n", witness_key(1));
            for i in 1..n {
                text.push_str(&format!("group g{i} any g{}\n", i - 1));
            }
            text.push_str(&format!("quorum g{}\n", n - 1));
            text
        };
        let policy = Policy::parse(&chain(POLICY_GROUPS_MAX)).expect("deep chain");
        assert_eq!(policy.min_witnesses(), 1);
        assert!(policy.satisfied_by(&keys(&[1])));
        assert!(matches!(
            Policy::parse(&chain(POLICY_GROUPS_MAX + 1)),
            Err(NoteError::PolicyLimit { what: "groups", .. })
        ));
    }

    /// Truncations and single-byte changes of a valid policy never panic, and whatever still
    /// parses still answers queries.
    #[test]
    fn mutated_policies_never_panic() {
        let text = spec_example();
        let bytes = text.as_bytes();
        let probe = keys(&[1, 2, 4]);
        let check = |b: &[u8]| {
            if let Ok(s) = std::str::from_utf8(b) {
                if let Ok(p) = Policy::parse(s) {
                    let _ = p.satisfied_by(&probe);
                    let _ = p.min_witnesses();
                }
            }
        };
        for end in 0..=bytes.len() {
            check(&bytes[..end]);
        }
        for i in 0..bytes.len() {
            for replacement in [b' ', b'\n', b'#', b'\t', b'0', b'\x01', b'x'] {
                let mut m = bytes.to_vec();
                m[i] = replacement;
                check(&m);
            }
            let mut m = bytes.to_vec();
            m.remove(i);
            check(&m);
        }
    }
}
