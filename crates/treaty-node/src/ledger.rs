//! The node's only contact with note formats: signing checkpoints and writing receipts.

use treaty_merkle::Hash;
use treaty_note::{Checkpoint, NoteError, Receipt, SignerKey};

/// Signs the checkpoint `origin / size / root` with the ledger key.
///
/// # Errors
/// Note errors (an invalid origin).
pub fn sign_checkpoint(
    key: &SignerKey,
    origin: &str,
    size: u64,
    root: &Hash,
) -> Result<String, NoteError> {
    let cp = Checkpoint::new(origin, size, *root)?;
    treaty_note::sign_checkpoint(&cp, key.name(), key.signing_key())
}

/// The c2sp.org/tlog-proof@v1 receipt of entry `index` under the signed checkpoint `note`.
/// The note was produced by this node, so it always parses; should it not, the receipt
/// degrades to an empty string and the error is logged rather than failing the write.
#[must_use]
pub fn receipt_text(index: u64, proof: &[Hash], note: &str) -> String {
    match Receipt::new(index, proof.to_vec(), note) {
        Ok(r) => r.to_text(),
        Err(e) => {
            tracing::error!(error = %e, index, "cannot build receipt");
            String::new()
        }
    }
}
