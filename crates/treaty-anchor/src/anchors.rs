//! Anchors: OpenTimestamps proofs of a manifest root, one per calendar (issue 7, part 2).
//!
//! This is the pure half of `treaty anchor stamp` and `upgrade`: the CLI sends the root to
//! calendars and fetches completed proofs; this module checks every answer, keeps one
//! [`DetachedTimestampFile`] per calendar (so each calendar is an independent anchor), and
//! applies upgrades.

use crate::error::AnchorError;
use crate::ots::{DetachedTimestampFile, OtsError, PENDING_URI_BYTES_MAX, Timestamp};
use treaty_merkle::Hash;

/// Most anchors one manifest keeps.
pub const ANCHORS_MAX: usize = 64;

/// One calendar's proof for the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The calendar the root was submitted to (informational: what a proof attests is in
    /// its attestations, not in this label).
    calendar: String,
    /// The proof, a detached timestamp file whose digest is the root.
    ots: DetachedTimestampFile,
}

impl Anchor {
    /// An anchor for a calendar. The calendar label must be non-empty and at most
    /// [`PENDING_URI_BYTES_MAX`] bytes.
    ///
    /// # Errors
    /// [`AnchorError::InvalidCalendar`].
    pub fn new(
        calendar: impl Into<String>,
        ots: DetachedTimestampFile,
    ) -> Result<Self, AnchorError> {
        let calendar = calendar.into();
        check_calendar(&calendar)?;
        Ok(Self { calendar, ots })
    }

    /// The calendar label.
    #[must_use]
    pub fn calendar(&self) -> &str {
        &self.calendar
    }

    /// The proof.
    #[must_use]
    pub fn ots(&self) -> &DetachedTimestampFile {
        &self.ots
    }
}

fn check_calendar(calendar: &str) -> Result<(), AnchorError> {
    let reason = if calendar.is_empty() {
        "must not be empty"
    } else if calendar.len() > PENDING_URI_BYTES_MAX {
        "is longer than 1000 bytes"
    } else if calendar.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(AnchorError::InvalidCalendar {
        calendar: calendar.chars().take(80).collect(),
        reason,
    })
}

/// A pending attestation to upgrade: ask `GET <uri>/timestamp/<hex commitment>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpgrade {
    /// Which anchor holds it.
    pub anchor: usize,
    /// The calendar URI in the attestation.
    pub uri: String,
    /// The message at the attestation: what the calendar knows the submission by.
    pub commitment: Vec<u8>,
}

impl PendingUpgrade {
    /// The URL to fetch the completed proof from.
    #[must_use]
    pub fn url(&self) -> String {
        format!(
            "{}/timestamp/{}",
            self.uri.trim_end_matches('/'),
            hex::encode(&self.commitment)
        )
    }
}

/// The anchors of one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchors {
    /// The root every anchor must timestamp.
    root: Hash,
    /// The anchors, in the order they were added.
    list: Vec<Anchor>,
}

impl Anchors {
    /// No anchors yet for `root`.
    #[must_use]
    pub fn new(root: Hash) -> Self {
        Self {
            root,
            list: Vec::new(),
        }
    }

    /// The root.
    #[must_use]
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The anchors.
    #[must_use]
    pub fn as_slice(&self) -> &[Anchor] {
        &self.list
    }

    /// How many anchors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds an anchor after checking that it timestamps the root and evaluates (every
    /// operation computable within the format's limits). An anchor for a calendar already
    /// present is merged into it.
    ///
    /// # Errors
    /// [`AnchorError::AnchorDigestMismatch`], [`AnchorError::Ots`],
    /// [`AnchorError::TooManyAnchors`].
    pub fn add(&mut self, anchor: Anchor) -> Result<(), AnchorError> {
        let index = self
            .list
            .iter()
            .position(|a| a.calendar == anchor.calendar)
            .unwrap_or(self.list.len());
        self.check(index, &anchor)?;
        match self.list.get_mut(index) {
            Some(existing) => {
                let calendar = existing.calendar.clone();
                existing
                    .ots
                    .merge(anchor.ots)
                    .map_err(|source| ots_error(index, &calendar, source))?;
            }
            None => {
                if self.list.len() >= ANCHORS_MAX {
                    return Err(AnchorError::TooManyAnchors { max: ANCHORS_MAX });
                }
                self.list.push(anchor);
            }
        }
        Ok(())
    }

    fn check(&self, index: usize, anchor: &Anchor) -> Result<(), AnchorError> {
        let ots = &anchor.ots;
        if ots.hash_op() != &crate::ots::Op::Sha256 || ots.digest() != self.root {
            return Err(AnchorError::AnchorDigestMismatch {
                anchor: index,
                calendar: anchor.calendar.clone(),
                digest: hex::encode(ots.digest()),
                root: hex::encode(self.root),
            });
        }
        // Serializable and evaluable now, so a stored anchor never fails later for a reason
        // that was visible at the start.
        ots.to_bytes()
            .and_then(|_| ots.evaluate())
            .map_err(|source| ots_error(index, &anchor.calendar, source))?;
        Ok(())
    }

    /// Adds a calendar's answer to `POST /digest` with the root: a bare timestamp relative
    /// to the root.
    ///
    /// # Errors
    /// [`AnchorError::Ots`] when the answer is truncated or corrupt, and the errors of
    /// [`Anchors::add`].
    pub fn attach(&mut self, calendar: &str, answer: &[u8]) -> Result<(), AnchorError> {
        check_calendar(calendar)?;
        let index = self
            .list
            .iter()
            .position(|a| a.calendar == calendar)
            .unwrap_or(self.list.len());
        let timestamp =
            Timestamp::parse(answer).map_err(|source| ots_error(index, calendar, source))?;
        self.add(Anchor::new(
            calendar,
            DetachedTimestampFile::sha256(self.root, timestamp),
        )?)
    }

    /// Every pending attestation of every anchor.
    ///
    /// # Errors
    /// [`AnchorError::Ots`] if an anchor no longer evaluates.
    pub fn pending(&self) -> Result<Vec<PendingUpgrade>, AnchorError> {
        let mut out = Vec::new();
        for (i, a) in self.list.iter().enumerate() {
            for (commitment, uri) in a.ots.pending().map_err(|s| ots_error(i, &a.calendar, s))? {
                out.push(PendingUpgrade {
                    anchor: i,
                    uri,
                    commitment,
                });
            }
        }
        Ok(out)
    }

    /// Applies a calendar's answer to `GET <uri>/timestamp/<hex commitment>` (a bare
    /// timestamp relative to the commitment). Returns whether the anchor now holds a final
    /// attestation for that calendar (the Pending attestation was replaced).
    ///
    /// # Errors
    /// [`AnchorError::NoSuchPending`], [`AnchorError::Ots`] for a corrupt answer or an
    /// answer that breaks the format's limits once merged.
    pub fn apply_upgrade(
        &mut self,
        pending: &PendingUpgrade,
        answer: &[u8],
    ) -> Result<bool, AnchorError> {
        let no_such = || AnchorError::NoSuchPending {
            anchor: pending.anchor,
            uri: pending.uri.clone(),
            commitment: hex::encode(&pending.commitment),
        };
        let Some(anchor) = self.list.get(pending.anchor) else {
            return Err(no_such());
        };
        let calendar = anchor.calendar.clone();
        let answer =
            Timestamp::parse(answer).map_err(|s| ots_error(pending.anchor, &calendar, s))?;
        answer
            .evaluate(&pending.commitment)
            .map_err(|s| ots_error(pending.anchor, &calendar, s))?;
        let mut upgraded = anchor.clone();
        let n = upgraded
            .ots
            .upgrade(&pending.commitment, &pending.uri, &answer)
            .map_err(|s| ots_error(pending.anchor, &calendar, s))?;
        if n == 0 {
            return Err(no_such());
        }
        // Check the result as a whole (depth, attestation count) before keeping it.
        self.check(pending.anchor, &upgraded)?;
        let complete = answer.has_final_attestation();
        if let Some(slot) = self.list.get_mut(pending.anchor) {
            *slot = upgraded;
        }
        Ok(complete)
    }

    /// All anchors merged into one file: what `treaty anchor stamp` writes as the `.ots`
    /// next to the manifest, readable by any OpenTimestamps client. `None` without anchors.
    ///
    /// # Errors
    /// [`AnchorError::Ots`] (cannot happen for anchors that passed [`Anchors::add`]).
    pub fn merged(&self) -> Result<Option<DetachedTimestampFile>, AnchorError> {
        let mut iter = self.list.iter().enumerate();
        let Some((_, first)) = iter.next() else {
            return Ok(None);
        };
        let mut merged = first.ots.clone();
        for (i, a) in iter {
            merged
                .merge(a.ots.clone())
                .map_err(|s| ots_error(i, &a.calendar, s))?;
        }
        Ok(Some(merged))
    }
}

fn ots_error(anchor: usize, calendar: &str, error: OtsError) -> AnchorError {
    AnchorError::Ots {
        anchor,
        calendar: calendar.to_owned(),
        error,
    }
}
