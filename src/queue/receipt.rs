//! Receipt handles: opaque, new on every receive, bound to one queue (by its immutable id),
//! one message and one receive, and MACed with a deployment-wide key carrying a key id so
//! the key can rotate.
//!
//! Layout before base64url: `ver:u8 (=1) | key_id:u64 BE | queue_id:16 | message_id:16 |
//! receive_seq:u32 BE | HMAC-SHA256 over everything before it (32 bytes)`.

use base64::prelude::*;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::domain::ReceiptHandle;

const VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 8 + 16 + 16 + 4;
const LEN: usize = BODY_LEN + 32;

/// What a valid handle names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub queue_id: Uuid,
    pub message_id: Uuid,
    pub receive_seq: u32,
}

/// Issues and checks handles.
pub struct ReceiptKeys {
    key_id: u64,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ReceiptKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptKeys").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl ReceiptKeys {
    pub fn new(key_id: u64, key: Zeroizing<[u8; 32]>) -> Self {
        Self { key_id, key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    pub fn issue(&self, r: &Receipt) -> String {
        let mut buf = [0u8; LEN];
        buf[0] = VERSION;
        buf[1..9].copy_from_slice(&self.key_id.to_be_bytes());
        buf[9..25].copy_from_slice(r.queue_id.as_bytes());
        buf[25..41].copy_from_slice(r.message_id.as_bytes());
        buf[41..45].copy_from_slice(&r.receive_seq.to_be_bytes());
        let mut mac = self.mac();
        mac.update(&buf[..BODY_LEN]);
        buf[BODY_LEN..].copy_from_slice(&mac.finalize().into_bytes());
        BASE64_URL_SAFE_NO_PAD.encode(buf)
    }

    /// Checks a handle's MAC (constant time) and returns what it names. `None` for anything
    /// malformed, forged or issued under another key.
    pub fn check(&self, handle: &ReceiptHandle) -> Option<Receipt> {
        let buf = BASE64_URL_SAFE_NO_PAD.decode(handle.as_str()).ok()?;
        if buf.len() != LEN || buf[0] != VERSION || buf[1..9] != self.key_id.to_be_bytes() {
            return None;
        }
        let mut mac = self.mac();
        mac.update(&buf[..BODY_LEN]);
        mac.verify_slice(&buf[BODY_LEN..]).ok()?;
        Some(Receipt {
            queue_id: Uuid::from_slice(&buf[9..25]).ok()?,
            message_id: Uuid::from_slice(&buf[25..41]).ok()?,
            receive_seq: u32::from_be_bytes(buf[41..45].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(b: u8) -> ReceiptKeys {
        ReceiptKeys::new(1, Zeroizing::new([b; 32]))
    }

    fn handle(s: &str) -> ReceiptHandle {
        ReceiptHandle::parse(s).unwrap()
    }

    fn receipt() -> Receipt {
        Receipt { queue_id: Uuid::new_v4(), message_id: Uuid::new_v4(), receive_seq: 3 }
    }

    #[test]
    fn issued_handle_checks_and_names_its_receive() {
        let r = receipt();
        let h = keys(1).issue(&r);
        assert_eq!(keys(1).check(&handle(&h)), Some(r));
    }

    #[test]
    fn handles_differ_per_receive() {
        let r = receipt();
        let next = Receipt { receive_seq: 4, ..r };
        assert_ne!(keys(1).issue(&r), keys(1).issue(&next));
    }

    #[test]
    fn forged_tampered_or_foreign_handles_are_refused() {
        let r = receipt();
        let h = keys(1).issue(&r);
        assert_eq!(keys(2).check(&handle(&h)), None);
        let mut raw = BASE64_URL_SAFE_NO_PAD.decode(&h).unwrap();
        raw[20] ^= 1;
        assert_eq!(keys(1).check(&handle(&BASE64_URL_SAFE_NO_PAD.encode(&raw))), None);
        for junk in ["abc", "!!!", &"A".repeat(1000)] {
            assert_eq!(keys(1).check(&handle(junk)), None);
        }
        assert!(ReceiptHandle::parse("").is_err() && ReceiptHandle::parse(&"A".repeat(2000)).is_err());
    }
}
