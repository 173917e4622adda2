//! The `pkcs11` key provider: master keys held in any PKCS#11 token (an HSM; SoftHSM2 in
//! tests), never leaving it.
//!
//! Each version of a master key is an AES-256 secret key object on the token, labelled
//! `sluice:NAME:vN`, created sensitive and not extractable. A data key is wrapped with
//! `C_Encrypt` under `CKM_AES_GCM` (RFC 3394/5649 key wrap cannot bind a context) with
//! AAD = the header ‖ the canonical encryption context; the wrapped form is the same 65
//! bytes as the keyring's (`ver | version:u32 | iv:12 | ciphertext+tag`). Calls into the
//! module are blocking, so they run on the blocking pool, on one logged-in session.

use std::path::Path;
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::provider::{DataKey, EncryptionContext, KeyInfo, KeyProvider, KmsError, PlainKey, ProviderFuture};
use super::random_bytes;

const WRAP_VERSION: u8 = 1;
const WRAP_HEADER: usize = 1 + 4 + 12;

struct Token {
    // Kept alive for the session's sake.
    _ctx: Pkcs11,
    session: Session,
}

/// A PKCS#11 token holding master keys.
pub struct Pkcs11Provider {
    token: Arc<Mutex<Token>>,
}

impl std::fmt::Debug for Pkcs11Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Provider").finish_non_exhaustive()
    }
}

fn label(name: &str, version: u32) -> String {
    format!("sluice:{name}:v{version}")
}

/// Failures of the module or the token: a token error is permanent for that call, but the
/// service keeps its cached keys (a device that vanished answers every call with an error).
fn hsm(e: cryptoki::error::Error) -> KmsError {
    match e {
        cryptoki::error::Error::Pkcs11(rv, _) if format!("{rv:?}").contains("DEVICE") => {
            KmsError::Unavailable(format!("PKCS#11 device: {rv:?}"))
        }
        other => KmsError::Denied(format!("PKCS#11: {other}")),
    }
}

impl Pkcs11Provider {
    /// Loads `module`, finds the token labelled `token_label` and logs in with `pin`.
    pub fn open(module: &Path, token_label: &str, pin: SecretString) -> Result<Self, KmsError> {
        let config = |why: String| KmsError::Config(format!("PKCS#11 module {}: {why}", module.display()));
        let ctx = Pkcs11::new(module).map_err(|e| config(e.to_string()))?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).map_err(|e| config(e.to_string()))?;
        let slot = ctx
            .get_slots_with_token()
            .map_err(|e| config(e.to_string()))?
            .into_iter()
            .find(|s| ctx.get_token_info(*s).map(|t| t.label().trim() == token_label).unwrap_or(false))
            .ok_or_else(|| config(format!("no token labelled '{token_label}'")))?;
        let session = ctx.open_rw_session(slot).map_err(|e| config(e.to_string()))?;
        session.login(UserType::User, Some(&pin)).map_err(|e| config(format!("login: {e}")))?;
        Ok(Self { token: Arc::new(Mutex::new(Token { _ctx: ctx, session })) })
    }

    /// Runs `f` with the session on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, KmsError> + Send + 'static,
    ) -> Result<T, KmsError> {
        let token = self.token.clone();
        tokio::task::spawn_blocking(move || {
            let t = token.lock().map_err(|_| KmsError::Unavailable("PKCS#11 session lock poisoned".into()))?;
            f(&t.session)
        })
        .await
        .map_err(|e| KmsError::Unavailable(format!("PKCS#11 task: {e}")))?
    }
}

/// Versions of `name` on the token: (version, handle), ascending.
fn versions(session: &Session, name: &str) -> Result<Vec<(u32, ObjectHandle)>, KmsError> {
    let prefix = format!("sluice:{name}:v");
    let handles =
        session.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Token(true)]).map_err(hsm)?;
    let mut out = Vec::new();
    for h in handles {
        for a in session.get_attributes(h, &[AttributeType::Label]).map_err(hsm)? {
            if let Attribute::Label(l) = a
                && let Some(v) = String::from_utf8_lossy(&l).strip_prefix(&prefix).and_then(|v| v.parse::<u32>().ok())
            {
                out.push((v, h));
            }
        }
    }
    out.sort_by_key(|(v, _)| *v);
    Ok(out)
}

fn new_version(session: &Session, name: &str, version: u32) -> Result<(), KmsError> {
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Label(label(name, version).into_bytes()),
    ];
    session.generate_key(&Mechanism::AesKeyGen, &template).map_err(hsm)?;
    Ok(())
}

fn wrap(
    session: &Session,
    key: ObjectHandle,
    version: u32,
    dek: &[u8; 32],
    ctx: &EncryptionContext,
) -> Result<Vec<u8>, KmsError> {
    let mut iv = [0u8; 12];
    random_bytes(&mut iv).map_err(|_| KmsError::Unavailable("no randomness".into()))?;
    let mut out = Vec::with_capacity(WRAP_HEADER + 48);
    out.push(WRAP_VERSION);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&iv);
    let mut aad = out.clone();
    aad.extend_from_slice(&ctx.canonical_bytes());
    let params = GcmParams::new(&mut iv, &aad, 128.into()).map_err(|e| KmsError::Config(e.to_string()))?;
    let ct = session.encrypt(&Mechanism::AesGcm(params), key, dek).map_err(hsm)?;
    out.extend_from_slice(&ct);
    Ok(out)
}

fn unwrap(session: &Session, name: &str, wrapped: &[u8], ctx: &EncryptionContext) -> Result<PlainKey, KmsError> {
    if wrapped.len() != WRAP_HEADER + 48 || wrapped[0] != WRAP_VERSION {
        return Err(KmsError::InvalidCiphertext);
    }
    let version = u32::from_be_bytes([wrapped[1], wrapped[2], wrapped[3], wrapped[4]]);
    let all = versions(session, name)?;
    if all.is_empty() {
        return Err(KmsError::NotFound(name.to_owned()));
    }
    let (_, key) = all.into_iter().find(|(v, _)| *v == version).ok_or(KmsError::InvalidCiphertext)?;
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&wrapped[5..17]);
    let mut aad = wrapped[..WRAP_HEADER].to_vec();
    aad.extend_from_slice(&ctx.canonical_bytes());
    let params = GcmParams::new(&mut iv, &aad, 128.into()).map_err(|e| KmsError::Config(e.to_string()))?;
    // SoftHSM reports a tag mismatch as a general error: every failure here is a refusal.
    let plain = Zeroizing::new(
        session
            .decrypt(&Mechanism::AesGcm(params), key, &wrapped[WRAP_HEADER..])
            .map_err(|_| KmsError::InvalidCiphertext)?,
    );
    if plain.len() != 32 {
        return Err(KmsError::InvalidCiphertext);
    }
    let mut k = Zeroizing::new([0u8; 32]);
    k.copy_from_slice(&plain);
    Ok(PlainKey(k))
}

fn info(name: &str, all: &[(u32, ObjectHandle)]) -> Result<KeyInfo, KmsError> {
    let (current, _) = all.last().ok_or_else(|| KmsError::NotFound(name.to_owned()))?;
    Ok(KeyInfo {
        provider: "pkcs11",
        master_key: name.to_owned(),
        current_version: current.to_string(),
        versions: all.len(),
    })
}

impl KeyProvider for Pkcs11Provider {
    fn id(&self) -> &'static str {
        "pkcs11"
    }

    fn generate_data_key<'a>(&'a self, master_key: &'a str, ctx: &'a EncryptionContext) -> ProviderFuture<'a, DataKey> {
        let (name, ctx) = (master_key.to_owned(), ctx.clone());
        Box::pin(self.with(move |s| {
            let all = versions(s, &name)?;
            let (version, key) = *all.last().ok_or_else(|| KmsError::NotFound(name.clone()))?;
            let mut dek = Zeroizing::new([0u8; 32]);
            random_bytes(dek.as_mut()).map_err(|_| KmsError::Unavailable("no randomness".into()))?;
            let wrapped = wrap(s, key, version, &dek, &ctx)?;
            Ok(DataKey { plaintext: PlainKey(dek), wrapped })
        }))
    }

    fn decrypt_data_key<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, PlainKey> {
        let (name, wrapped, ctx) = (master_key.to_owned(), wrapped.to_vec(), ctx.clone());
        Box::pin(self.with(move |s| unwrap(s, &name, &wrapped, &ctx)))
    }

    fn rewrap<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, Vec<u8>> {
        let (name, wrapped, ctx) = (master_key.to_owned(), wrapped.to_vec(), ctx.clone());
        Box::pin(self.with(move |s| {
            let dek = unwrap(s, &name, &wrapped, &ctx)?;
            let all = versions(s, &name)?;
            let (version, key) = *all.last().ok_or_else(|| KmsError::NotFound(name.clone()))?;
            wrap(s, key, version, &dek.0, &ctx)
        }))
    }

    fn create_key<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        let name = master_key.to_owned();
        Box::pin(self.with(move |s| {
            if versions(s, &name)?.is_empty() {
                new_version(s, &name, 1)?;
            }
            info(&name, &versions(s, &name)?)
        }))
    }

    fn describe<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        let name = master_key.to_owned();
        Box::pin(self.with(move |s| info(&name, &versions(s, &name)?)))
    }

    fn rotate<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        let name = master_key.to_owned();
        Box::pin(self.with(move |s| {
            let next =
                versions(s, &name)?.last().map(|(v, _)| v + 1).ok_or_else(|| KmsError::NotFound(name.clone()))?;
            new_version(s, &name, next)?;
            info(&name, &versions(s, &name)?)
        }))
    }

    fn destroy<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, ()> {
        let name = master_key.to_owned();
        Box::pin(self.with(move |s| {
            let all = versions(s, &name)?;
            if all.is_empty() {
                return Err(KmsError::NotFound(name.clone()));
            }
            for (_, h) in all {
                s.destroy_object(h).map_err(hsm)?;
            }
            Ok(())
        }))
    }
}
