//! FIFO rules that need no database: the token format of group, deduplication and attempt
//! ids, content-based deduplication ids, the keyed form a deduplication id is stored under,
//! and how sequence numbers are written.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::SqsError;

/// How long a deduplication id, or a receive attempt, is remembered.
pub const DEDUP_WINDOW_SECONDS: i64 = 300;

/// The longest group, deduplication or receive-attempt id.
const MAX_TOKEN: usize = 128;

/// Checks a MessageGroupId, MessageDeduplicationId or ReceiveRequestAttemptId: 1 to 128
/// characters, each a letter, a digit or ASCII punctuation (no space).
pub fn check_token(parameter: &str, value: &str) -> Result<(), SqsError> {
    if value.is_empty() || value.len() > MAX_TOKEN || !value.bytes().all(|b| b.is_ascii_graphic()) {
        let shown: String = value.chars().take(MAX_TOKEN + 1).collect();
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {shown} for parameter {parameter} is invalid. Reason: {parameter} can only include alphanumeric and punctuation characters. 1 to 128 in length."
        )));
    }
    Ok(())
}

/// AWS's answer to a member that does not fit the queue's type (a FIFO-only member on a
/// standard queue, a message delay on a FIFO queue); its grammar is AWS's.
pub fn not_for_this_queue_type(parameter: &str, value: &str) -> SqsError {
    SqsError::InvalidParameterValue(format!(
        "Value {value} for parameter {parameter} is invalid. Reason: The request include parameter that is not valid for this queue type."
    ))
}

/// The deduplication id ContentBasedDeduplication gives a body: its SHA-256, in lower-case hex.
pub fn content_dedup_id(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// A sequence number as SQS writes it: a decimal string of 20 digits that grows with every
/// FIFO message stored (`seq` comes from one PostgreSQL sequence).
pub fn sequence_number(seq: i64) -> String {
    (10u128.pow(19) + seq.max(0) as u128).to_string()
}

/// The keyed form of deduplication ids: an HMAC, under a key derived from the master key, of
/// the queue, the scope (the group under DeduplicationScope=messageGroup) and the id. A
/// content-based id is a hash of the body; stored as it is, it would let anyone who reads
/// the database confirm a guessed body.
pub struct DedupKeys {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DedupKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupKeys").finish_non_exhaustive()
    }
}

impl DedupKeys {
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self { key }
    }

    /// The stored key of `dedup_id` on queue `queue_id`, within `group` when deduplication is
    /// per group (None: the whole queue).
    pub fn key(&self, queue_id: Uuid, group: Option<&str>, dedup_id: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(queue_id.as_bytes());
        // Lengths first, so that no (group, id) pair can read as another.
        let group = group.unwrap_or_default();
        mac.update(&[u8::from(!group.is_empty())]);
        mac.update(&(group.len() as u32).to_be_bytes());
        mac.update(group.as_bytes());
        mac.update(dedup_id.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_1_to_128_letters_digits_or_punctuation() {
        for ok in ["a", &"a".repeat(128), "Grp-1_!\"#$%&'()*+,./:;<=>?@[\\]^`{|}~"] {
            assert!(check_token("MessageGroupId", ok).is_ok(), "{ok}");
        }
        for bad in ["", &"a".repeat(129), "a b", "é", "tab\t"] {
            let e = check_token("MessageDeduplicationId", bad).unwrap_err();
            assert!(
                e.to_string().ends_with(
                    "for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length."
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn content_based_ids_are_the_hex_sha256_of_the_body() {
        assert_eq!(content_dedup_id("Test"), "532eaabd9574880dbf76b9b8cc00832c20a6ec113d682299550d7a6e0f345e25");
    }

    #[test]
    fn sequence_numbers_are_20_digits_and_grow() {
        assert_eq!(sequence_number(1), "10000000000000000001");
        assert_eq!(sequence_number(i64::MAX).len(), 20);
        assert!(sequence_number(9) < sequence_number(10));
    }

    #[test]
    fn dedup_keys_separate_queues_scopes_and_ids() {
        let k = DedupKeys::new(Zeroizing::new([7; 32]));
        let (q, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let base = k.key(q, None, "id");
        assert_eq!(base, k.key(q, None, "id"));
        assert_ne!(base, k.key(other, None, "id"));
        assert_ne!(base, k.key(q, Some("g"), "id"));
        assert_ne!(k.key(q, Some("ab"), "c"), k.key(q, Some("a"), "bc"));
        assert_ne!(base, content_dedup_id("id").into_bytes());
    }
}
