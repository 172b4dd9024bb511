//! PLACEHOLDER replaced by the tlog-policy implementation (branch witness-pure).
use crate::NoteError;
use crate::key::VerifierKey;

/// A quorum policy.
#[derive(Debug, Clone)]
pub struct Policy {
    witnesses: Vec<VerifierKey>,
}

impl Policy {
    /// Parses a policy.
    ///
    /// # Errors
    /// Never (placeholder).
    pub fn parse(_text: &str) -> Result<Policy, NoteError> {
        Ok(Policy {
            witnesses: Vec::new(),
        })
    }
    /// Witness keys.
    #[must_use]
    pub fn witness_keys(&self) -> Vec<VerifierKey> {
        self.witnesses.clone()
    }
    /// Quorum check.
    #[must_use]
    pub fn satisfied_by(&self, _cosigners: &[VerifierKey]) -> bool {
        true
    }
    /// Minimum witnesses.
    #[must_use]
    pub fn min_witnesses(&self) -> usize {
        0
    }
}

impl crate::Receipt {
    /// Placeholder.
    ///
    /// # Errors
    /// Always.
    pub fn verify_entry_with_policy(
        &self,
        _entry: &[u8],
        _policy: &Policy,
    ) -> Result<crate::VerifiedReceipt, NoteError> {
        Err(NoteError::QuorumNotMet { got: 0, need: 1 })
    }
}
