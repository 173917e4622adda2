//! The sealed-bytes format (version 1):
//!
//! ```text
//! ver:u8 (=1) | alg:u8 (=1, AES-256-GCM, random 96-bit nonce) | key_id:u64 BE | nonce:[u8;12] | ciphertext+tag
//! AAD = the 22 header bytes ‖ the caller's context (length-prefixed parts, see `Context`)
//! ```
//!
//! The context binds a sealed value to where it belongs (account, the queue's immutable id,
//! the message id; or the access key id), so a row copied elsewhere does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CryptoError, MasterKey, random_bytes};

const VERSION: u8 = 1;
/// Sealed under a queue's data key (the key reference is the data key's id).
const VERSION_DATA_KEY: u8 = 2;
const ALG_AES256GCM: u8 = 1;
const HEADER_LEN: usize = 1 + 1 + 8 + 12;
const TAG_LEN: usize = 16;

/// Associated data for a sealed value: a list of length-prefixed parts with a purpose label.
#[derive(Debug, Clone)]
pub struct Context(Vec<u8>);

impl Context {
    /// Starts a context with its purpose (e.g. `"message-body"`), so values sealed for one
    /// purpose never open for another.
    pub fn new(purpose: &str) -> Self {
        let mut c = Self(Vec::with_capacity(64));
        c.push_part(purpose.as_bytes());
        c
    }

    fn push_part(&mut self, part: &[u8]) {
        // Parts are bounded by their callers (ids, names); u32 lengths leave no ambiguity.
        self.0.extend_from_slice(&(part.len() as u32).to_be_bytes());
        self.0.extend_from_slice(part);
    }

    /// Adds one part.
    pub fn with(mut self, part: impl AsRef<[u8]>) -> Self {
        self.push_part(part.as_ref());
        self
    }
}

/// Seals and opens values under the master key; also derives purpose-bound MAC keys.
pub struct Sealer {
    key_id: u64,
    cipher: Aes256Gcm,
    master: MasterKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(master: MasterKey) -> Self {
        let cipher = Aes256Gcm::new(&(*master.bytes).into());
        Self { key_id: master.version, cipher, master }
    }

    /// Seals `plaintext` bound to `ctx`.
    pub fn seal(&self, plaintext: &[u8], ctx: &Context) -> Result<Vec<u8>, CryptoError> {
        seal_under(&self.cipher, VERSION, self.key_id, plaintext, ctx)
    }

    /// Opens a sealed value; fails unless it was sealed by this key for exactly `ctx`.
    pub fn open(&self, sealed: &[u8], ctx: &Context) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < HEADER_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        if sealed[0] != VERSION {
            return Err(CryptoError::UnknownVersion(sealed[0]));
        }
        if sealed[1] != ALG_AES256GCM {
            return Err(CryptoError::Malformed);
        }
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&sealed[2..10]);
        let key_id = u64::from_be_bytes(key_id);
        if key_id != self.key_id {
            return Err(CryptoError::UnknownKey(key_id));
        }
        open_under(&self.cipher, sealed, ctx)
    }

    /// A 256-bit key derived from the master key for one purpose (HMAC-SHA256(master, label)),
    /// e.g. the receipt-handle MAC key. Returns `(key id, key)`.
    pub fn derive_key(&self, label: &str) -> Result<(u64, Zeroizing<[u8; 32]>), CryptoError> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(self.master.bytes.as_ref()).map_err(|_| CryptoError::Encrypt)?;
        mac.update(b"sluice-derive-v1\0");
        mac.update(label.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        Ok((self.key_id, out))
    }

    /// An HMAC-SHA256 tag of `ctx` under a key derived for `label`: how a secret that only
    /// needs checking (a session token) is stored.
    pub fn mac(&self, label: &str, ctx: &Context) -> Result<Vec<u8>, CryptoError> {
        let (_, key) = self.derive_key(label)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_ref()).map_err(|_| CryptoError::Encrypt)?;
        mac.update(&ctx.0);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// Whether `tag` is `mac(label, ctx)`, compared in constant time.
    pub fn verify_mac(&self, label: &str, ctx: &Context, tag: &[u8]) -> Result<bool, CryptoError> {
        let (_, key) = self.derive_key(label)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_ref()).map_err(|_| CryptoError::Encrypt)?;
        mac.update(&ctx.0);
        Ok(mac.verify_slice(tag).is_ok())
    }
}

/// What sealed a value: the service master key (format 1) or a data key (format 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedBy {
    Master(u64),
    DataKey(u64),
}

/// Reads who sealed a value from its header (nothing is decrypted).
pub fn sealed_by(sealed: &[u8]) -> Result<SealedBy, CryptoError> {
    if sealed.len() < HEADER_LEN + TAG_LEN || sealed[1] != ALG_AES256GCM {
        return Err(CryptoError::Malformed);
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&sealed[2..10]);
    let id = u64::from_be_bytes(id);
    match sealed[0] {
        VERSION => Ok(SealedBy::Master(id)),
        VERSION_DATA_KEY => Ok(SealedBy::DataKey(id)),
        v => Err(CryptoError::UnknownVersion(v)),
    }
}

/// A data key ready to seal and open (format 2). The key schedule is zeroized on drop.
pub struct DataCipher {
    pub id: u64,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for DataCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataCipher").field("id", &self.id).finish_non_exhaustive()
    }
}

impl DataCipher {
    pub fn new(id: u64, key: &super::provider::PlainKey) -> Self {
        Self { id, cipher: Aes256Gcm::new(&(*key.0).into()) }
    }

    pub fn seal(&self, plaintext: &[u8], ctx: &Context) -> Result<Vec<u8>, CryptoError> {
        seal_under(&self.cipher, VERSION_DATA_KEY, self.id, plaintext, ctx)
    }

    /// Opens a value this data key sealed for exactly `ctx`.
    pub fn open(&self, sealed: &[u8], ctx: &Context) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed_by(sealed)? != SealedBy::DataKey(self.id) {
            return Err(CryptoError::UnknownKey(self.id));
        }
        open_under(&self.cipher, sealed, ctx)
    }
}

/// Seals under `cipher` with the header `version | alg | id | nonce` bound into the AAD.
fn seal_under(
    cipher: &Aes256Gcm,
    version: u8,
    id: u64,
    plaintext: &[u8],
    ctx: &Context,
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(version);
    out.push(ALG_AES256GCM);
    out.extend_from_slice(&id.to_be_bytes());
    let mut nonce = [0u8; 12];
    random_bytes(&mut nonce)?;
    out.extend_from_slice(&nonce);
    let aad = aad(&out[..HEADER_LEN], ctx);
    let ct =
        cipher.encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &aad }).map_err(|_| CryptoError::Encrypt)?;
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a value whose header the caller has checked (length, version, algorithm, key).
fn open_under(cipher: &Aes256Gcm, sealed: &[u8], ctx: &Context) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&sealed[10..22]);
    let aad = aad(&sealed[..HEADER_LEN], ctx);
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: &sealed[HEADER_LEN..], aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Unauthentic)
}

fn aad(header: &[u8], ctx: &Context) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + ctx.0.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(&ctx.0);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_seal_in_format_2_and_open_only_with_their_key_and_context() {
        let key = crate::crypto::provider::PlainKey(Zeroizing::new([3; 32]));
        let c = DataCipher::new(42, &key);
        let ctx = Context::new("message-body").with("acct").with("q").with("m");
        let sealed = c.seal(b"hello", &ctx).unwrap();
        assert_eq!(sealed_by(&sealed).unwrap(), SealedBy::DataKey(42));
        assert_eq!(&*c.open(&sealed, &ctx).unwrap(), b"hello");
        assert!(matches!(
            c.open(&sealed, &Context::new("message-body").with("acct").with("q").with("n")),
            Err(CryptoError::Unauthentic)
        ));
        let other = DataCipher::new(43, &key);
        assert!(other.open(&sealed, &ctx).is_err(), "another key id");
        let mut flipped = sealed.clone();
        flipped[25] ^= 1;
        assert!(c.open(&flipped, &ctx).is_err());
        let master = Sealer::new(MasterKey::from_bytes(7, [7; 32]));
        assert_eq!(sealed_by(&master.seal(b"x", &ctx).unwrap()).unwrap(), SealedBy::Master(7));
        assert!(master.open(&sealed, &ctx).is_err(), "format 2 is not the master key's");
    }

    #[test]
    fn macs_verify_only_for_the_same_label_and_context() {
        let s = Sealer::new(MasterKey::from_bytes(1, [7; 32]));
        let ctx = Context::new("session-token").with("ASIAEXAMPLE").with("token");
        let tag = s.mac("sessions", &ctx).unwrap();
        assert!(s.verify_mac("sessions", &ctx, &tag).unwrap());
        assert!(!s.verify_mac("other", &ctx, &tag).unwrap());
        assert!(
            !s.verify_mac("sessions", &Context::new("session-token").with("ASIAEXAMPLE").with("tokeN"), &tag).unwrap()
        );
        let other = Sealer::new(MasterKey::from_bytes(1, [8; 32]));
        assert!(!other.verify_mac("sessions", &ctx, &tag).unwrap());
    }

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(MasterKey::from_bytes(1, [byte; 32]))
    }

    #[test]
    fn sealed_value_opens_with_same_key_and_context() {
        let s = sealer(7);
        let ctx = Context::new("message-body").with("123456789012").with([1u8; 16]).with("m1");
        let sealed = s.seal(b"hello", &ctx).unwrap();
        assert_eq!(sealed.len(), 22 + 5 + 16);
        assert_eq!(&s.open(&sealed, &ctx).unwrap()[..], b"hello");
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
    }

    #[test]
    fn sealed_value_does_not_open_in_another_context() {
        let s = sealer(7);
        let sealed = s.seal(b"x", &Context::new("body").with("q1")).unwrap();
        assert!(matches!(s.open(&sealed, &Context::new("body").with("q2")), Err(CryptoError::Unauthentic)));
        // Part boundaries matter: ("ab","c") differs from ("a","bc").
        let sealed = s.seal(b"x", &Context::new("p").with("ab").with("c")).unwrap();
        assert!(s.open(&sealed, &Context::new("p").with("a").with("bc")).is_err());
    }

    #[test]
    fn sealed_value_does_not_open_under_another_key_or_when_tampered() {
        let ctx = Context::new("body");
        let mut sealed = sealer(7).seal(b"secret", &ctx).unwrap();
        assert!(sealer(8).open(&sealed, &ctx).is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(sealer(7).open(&sealed, &ctx).is_err());
        assert!(matches!(sealer(7).open(&[2u8; 40], &ctx), Err(CryptoError::UnknownVersion(2))));
        assert!(matches!(sealer(7).open(&[1u8; 5], &ctx), Err(CryptoError::Malformed)));
    }

    #[test]
    fn nonces_differ_between_seals() {
        let s = sealer(1);
        let ctx = Context::new("body");
        assert_ne!(s.seal(b"same", &ctx).unwrap(), s.seal(b"same", &ctx).unwrap());
    }

    #[test]
    fn derived_keys_depend_on_label_and_master() {
        let k = |m: u8, l: &str| sealer(m).derive_key(l).unwrap().1;
        assert_ne!(k(1, "a").as_ref(), k(1, "b").as_ref());
        assert_ne!(k(1, "a").as_ref(), k(2, "a").as_ref());
        assert_eq!(k(1, "a").as_ref(), k(1, "a").as_ref());
    }
}
