//! The `local` key provider: a keyring file of named, versioned 256-bit master keys.
//!
//! ```text
//! SLUICE-KEYRING 1
//! key NAME VERSION BASE64(32 bytes)
//! ```
//!
//! The file is created 0600 (its directory 0700) and refused when group or others may read
//! it. Changes are written whole to a temporary file, synced and renamed into place. A
//! wrapped data key is `ver:u8 (=1) | version:u32 BE | nonce:[u8;12] | AES-256-GCM(master,
//! data key)` with AAD = the 17 header bytes ‖ the canonical encryption context (65 bytes).
//! Processes sharing the file (a running server and `sluice keys …`) see each other's
//! changes: the file is read again when its modification time changes.
//!
//! With a passphrase, the whole text is sealed: `SLUICE-KEYRING-SEALED 1 m=KIB t=T p=P`,
//! then the base64 salt, nonce and AES-256-GCM ciphertext on one line each; the key comes
//! from Argon2id(passphrase, salt) and the AAD is the header line. A copy of the file alone
//! (a backup, a leaked disk) then opens nothing.
//!
//! Size: about 480 lines of provider and 120 of unit tests kept beside it (file format,
//! permissions, wrap/unwrap and rotation are one unit of trust).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::provider::{DataKey, EncryptionContext, KeyInfo, KeyProvider, KmsError, PlainKey, ProviderFuture};
use super::random_bytes;

const MAGIC: &str = "SLUICE-KEYRING 1";
const SEALED_MAGIC: &str = "SLUICE-KEYRING-SEALED 1";
/// Argon2id parameters for a passphrase (OWASP's minimum: 19 MiB, 2 passes, 1 lane).
const ARGON_M_KIB: u32 = 19_456;
const ARGON_T: u32 = 2;
const ARGON_P: u32 = 1;
const WRAP_VERSION: u8 = 1;
const WRAP_HEADER: usize = 1 + 4 + 12;
/// The most versions one key keeps.
const MAX_VERSIONS: usize = 10_000;

/// Versions of one key: version → material.
type Versions = BTreeMap<u32, Zeroizing<[u8; 32]>>;

struct Loaded {
    /// (modification time, inode) of the file last read: a rename gives a new inode.
    modified: Option<(SystemTime, u64)>,
    keys: BTreeMap<String, Versions>,
}

/// A derived key with the salt and parameters it came from.
type Derived = (Vec<u8>, String, Zeroizing<[u8; 32]>);

/// The key that seals a keyring file under a passphrase, and the salt it came from.
struct Sealing {
    passphrase: secrecy::SecretString,
    derived: Mutex<Option<Derived>>,
}

impl Sealing {
    /// The key for `salt` and `params` (derived once, then reused).
    fn key(&self, salt: &[u8], params: &str) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        use secrecy::ExposeSecret;
        let mut cached = self.derived.lock().map_err(|_| KmsError::Config("lock poisoned".into()))?;
        if let Some((s, p, k)) = cached.as_ref()
            && s == salt
            && p == params
        {
            return Ok(k.clone());
        }
        let num = |name: &str| -> Result<u32, KmsError> {
            params
                .split(' ')
                .find_map(|kv| kv.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| KmsError::Config(format!("sealed keyring: bad parameters '{params}'")))
        };
        let p = argon2::Params::new(num("m=")?, num("t=")?, num("p=")?, Some(32))
            .map_err(|e| KmsError::Config(format!("sealed keyring: {e}")))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(self.passphrase.expose_secret().as_bytes(), salt, key.as_mut())
            .map_err(|e| KmsError::Config(format!("sealed keyring: {e}")))?;
        *cached = Some((salt.to_vec(), params.to_owned(), key.clone()));
        Ok(key)
    }
}

/// A keyring file.
pub struct Keyring {
    path: PathBuf,
    state: Mutex<Loaded>,
    sealing: Option<Sealing>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("path", &self.path).finish_non_exhaustive()
    }
}

fn config(path: &Path, reason: impl std::fmt::Display) -> KmsError {
    KmsError::Config(format!("keyring {}: {reason}", path.display()))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 256 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_.:-".contains(&b))
}

fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Versions>, KmsError> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(config(path, "is not a Sluice keyring"));
    }
    let mut keys: BTreeMap<String, Versions> = BTreeMap::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split(' ').collect();
        let bad = || config(path, format!("line {} is malformed", n + 2));
        let [kw, name, version, material] = parts[..] else { return Err(bad()) };
        if kw != "key" || !valid_name(name) {
            return Err(bad());
        }
        let version: u32 = version.parse().map_err(|_| bad())?;
        let raw = Zeroizing::new(B64.decode(material).map_err(|_| bad())?);
        let mut bytes = Zeroizing::new([0u8; 32]);
        if raw.len() != 32 {
            return Err(bad());
        }
        bytes.copy_from_slice(&raw);
        keys.entry(name.to_owned()).or_default().insert(version, bytes);
    }
    Ok(keys)
}

fn render(keys: &BTreeMap<String, Versions>) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::from(MAGIC));
    out.push('\n');
    for (name, versions) in keys {
        for (v, bytes) in versions {
            let encoded = Zeroizing::new(B64.encode(bytes.as_ref()));
            out.push_str(&format!("key {name} {v} {}\n", encoded.as_str()));
        }
    }
    out
}

impl Keyring {
    /// Opens the keyring at `path`, creating it (0600, with a `default` key) when missing.
    pub fn open_or_create(path: &Path) -> Result<Self, KmsError> {
        Self::open_or_create_with(path, None)
    }

    /// As `open_or_create`; with a passphrase, the file is sealed under a key derived from it
    /// (Argon2id), and an unsealed file is refused.
    pub fn open_or_create_with(path: &Path, passphrase: Option<secrecy::SecretString>) -> Result<Self, KmsError> {
        let sealing = passphrase.map(|p| Sealing { passphrase: p, derived: Mutex::new(None) });
        let ring = Self {
            path: path.to_owned(),
            state: Mutex::new(Loaded { modified: None, keys: BTreeMap::new() }),
            sealing,
        };
        if !path.exists() {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| config(path, e))?;
            }
            let mut keys = BTreeMap::new();
            keys.insert("default".to_owned(), Self::first_version()?);
            ring.write(&keys, true)?;
        }
        ring.refresh()?;
        Ok(ring)
    }

    /// The file's text for `keys`: plain, or sealed under the passphrase.
    fn encode(&self, keys: &BTreeMap<String, Versions>) -> Result<Zeroizing<String>, KmsError> {
        let text = render(keys);
        let Some(sealing) = &self.sealing else { return Ok(text) };
        let header = format!("{SEALED_MAGIC} m={ARGON_M_KIB} t={ARGON_T} p={ARGON_P}");
        let params = header[SEALED_MAGIC.len() + 1..].to_owned();
        // Keep the salt of the file (its key is derived already); a new file gets a new one.
        let salt = match std::fs::read_to_string(&self.path).ok().and_then(|t| {
            let mut l = t.lines();
            (l.next().is_some_and(|h| h.starts_with(SEALED_MAGIC))).then(|| l.next().map(str::to_owned)).flatten()
        }) {
            Some(s) => B64.decode(s).map_err(|_| config(&self.path, "sealed keyring: bad salt"))?,
            None => {
                let mut s = vec![0u8; 16];
                random_bytes(&mut s).map_err(|_| KmsError::Unavailable("no randomness".into()))?;
                s
            }
        };
        let key = sealing.key(&salt, &params)?;
        let mut nonce = [0u8; 12];
        random_bytes(&mut nonce).map_err(|_| KmsError::Unavailable("no randomness".into()))?;
        let cipher = Aes256Gcm::new(&(*key).into());
        let ct = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: text.as_bytes(), aad: header.as_bytes() })
            .map_err(|_| KmsError::Config("sealing the keyring failed".into()))?;
        Ok(Zeroizing::new(format!("{header}\n{}\n{}\n{}\n", B64.encode(salt), B64.encode(nonce), B64.encode(ct))))
    }

    /// The plain text of the file's contents (unsealing it with the passphrase).
    fn decode(&self, contents: Zeroizing<String>) -> Result<Zeroizing<String>, KmsError> {
        let mut lines = contents.lines();
        let header = lines.next().unwrap_or("");
        let sealed = header.starts_with(SEALED_MAGIC);
        match (&self.sealing, sealed) {
            (None, false) => return Ok(contents),
            (None, true) => {
                return Err(config(&self.path, "is sealed under a passphrase; configure keyring_passphrase_file"));
            }
            (Some(_), false) => {
                return Err(config(&self.path, "is not sealed, but a passphrase is configured; refusing to use it"));
            }
            (Some(_), true) => {}
        }
        let bad =
            || config(&self.path, "does not open with this passphrase (wrong passphrase, or the file is damaged)");
        let params = header.get(SEALED_MAGIC.len() + 1..).unwrap_or("");
        let mut field = || lines.next().and_then(|l| B64.decode(l).ok()).ok_or_else(bad);
        let (salt, nonce, ct) = (field()?, field()?, field()?);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| bad())?;
        let key = self.sealing.as_ref().ok_or_else(bad)?.key(&salt, params)?;
        let cipher = Aes256Gcm::new(&(*key).into());
        let plain = Zeroizing::new(
            cipher.decrypt(&Nonce::from(nonce), Payload { msg: &ct, aad: header.as_bytes() }).map_err(|_| bad())?,
        );
        Ok(Zeroizing::new(String::from_utf8(plain.to_vec()).map_err(|_| bad())?))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn first_version() -> Result<Versions, KmsError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        random_bytes(bytes.as_mut()).map_err(|_| KmsError::Unavailable("no randomness".into()))?;
        Ok(Versions::from([(1, bytes)]))
    }

    /// Writes the whole keyring: to a temporary file (0600), synced, then renamed over `path`
    /// (or linked, when `new` and another process might be creating it at the same time).
    fn write(&self, keys: &BTreeMap<String, Versions>, new: bool) -> Result<(), KmsError> {
        let path = self.path.as_path();
        let text = self.encode(keys)?;
        let mut suffix = [0u8; 8];
        random_bytes(&mut suffix).map_err(|_| KmsError::Unavailable("no randomness".into()))?;
        let tmp = path.with_extension(format!("tmp-{}", hex::encode(suffix)));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            if new { std::fs::hard_link(&tmp, path) } else { std::fs::rename(&tmp, path) }
        })();
        let _ = std::fs::remove_file(&tmp);
        match result {
            Ok(()) => Ok(()),
            Err(e) if new && e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(config(path, e)),
        }
    }

    /// Reads the file again if it changed since it was last read (or always, with `force`).
    fn refresh(&self) -> Result<(), KmsError> {
        self.reload(false)
    }

    fn reload(&self, force: bool) -> Result<(), KmsError> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.path).map_err(|e| config(&self.path, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(config(&self.path, "is readable by group or others; chmod 600 it"));
        }
        let modified = meta.modified().ok().map(|t| (t, meta.ino()));
        let mut state = self.state.lock().map_err(|_| config(&self.path, "lock poisoned"))?;
        if !force && state.modified.is_some() && state.modified == modified {
            return Ok(());
        }
        let text = Zeroizing::new(std::fs::read_to_string(&self.path).map_err(|e| config(&self.path, e))?);
        let text = self.decode(text)?;
        state.keys = parse(&self.path, &text)?;
        state.modified = modified;
        Ok(())
    }

    /// Changes the keyring and writes it, holding an exclusive lock on `PATH.lock` from the
    /// read to the write, so two processes (a server and `sluice keys …`) never lose each
    /// other's changes.
    fn change<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Versions>) -> Result<T, KmsError>) -> Result<T, KmsError> {
        use std::os::fd::AsRawFd;
        let lock_path = self.path.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| config(&lock_path, e))?;
        // SAFETY: flock on a descriptor this function owns; released when `lock` is closed.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(config(&lock_path, std::io::Error::last_os_error()));
        }
        self.reload(true)?;
        let mut state = self.state.lock().map_err(|_| config(&self.path, "lock poisoned"))?;
        let out = f(&mut state.keys)?;
        self.write(&state.keys, false)?;
        state.modified = std::fs::metadata(&self.path).ok().and_then(|m| {
            use std::os::unix::fs::MetadataExt;
            m.modified().ok().map(|t| (t, m.ino()))
        });
        drop(lock);
        Ok(out)
    }

    /// The key's current version and material (a copy, zeroized on drop).
    fn current(&self, name: &str) -> Result<(u32, Zeroizing<[u8; 32]>), KmsError> {
        self.refresh()?;
        let state = self.state.lock().map_err(|_| config(&self.path, "lock poisoned"))?;
        let versions = state.keys.get(name).ok_or_else(|| KmsError::NotFound(name.to_owned()))?;
        let (v, bytes) = versions.iter().next_back().ok_or_else(|| KmsError::NotFound(name.to_owned()))?;
        Ok((*v, bytes.clone()))
    }

    fn version(&self, name: &str, version: u32) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        let lookup = || -> Result<Option<Zeroizing<[u8; 32]>>, KmsError> {
            let state = self.state.lock().map_err(|_| config(&self.path, "lock poisoned"))?;
            let versions = state.keys.get(name).ok_or_else(|| KmsError::NotFound(name.to_owned()))?;
            Ok(versions.get(&version).cloned())
        };
        if let Ok(Some(k)) = lookup() {
            return Ok(k);
        }
        // Maybe another process rotated: read the file again.
        self.refresh()?;
        lookup()?.ok_or(KmsError::InvalidCiphertext)
    }

    fn info(&self, name: &str) -> Result<KeyInfo, KmsError> {
        let state = self.state.lock().map_err(|_| config(&self.path, "lock poisoned"))?;
        let versions = state.keys.get(name).ok_or_else(|| KmsError::NotFound(name.to_owned()))?;
        Ok(KeyInfo {
            provider: "local",
            master_key: name.to_owned(),
            current_version: versions.keys().next_back().map(|v| v.to_string()).unwrap_or_default(),
            versions: versions.len(),
        })
    }

    fn wrap(version: u32, master: &[u8; 32], dek: &[u8; 32], ctx: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
        let mut out = Vec::with_capacity(WRAP_HEADER + 48);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&version.to_be_bytes());
        let mut nonce = [0u8; 12];
        random_bytes(&mut nonce).map_err(|_| KmsError::Unavailable("no randomness".into()))?;
        out.extend_from_slice(&nonce);
        let mut aad = out.clone();
        aad.extend_from_slice(&ctx.canonical_bytes());
        let cipher = Aes256Gcm::new(&(*master).into());
        let ct = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: dek, aad: &aad })
            .map_err(|_| KmsError::Config("wrap failed".into()))?;
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap(&self, name: &str, wrapped: &[u8], ctx: &EncryptionContext) -> Result<PlainKey, KmsError> {
        if wrapped.len() != WRAP_HEADER + 48 || wrapped[0] != WRAP_VERSION {
            return Err(KmsError::InvalidCiphertext);
        }
        let version = u32::from_be_bytes([wrapped[1], wrapped[2], wrapped[3], wrapped[4]]);
        let master = self.version(name, version)?;
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&wrapped[5..17]);
        let mut aad = wrapped[..WRAP_HEADER].to_vec();
        aad.extend_from_slice(&ctx.canonical_bytes());
        let cipher = Aes256Gcm::new(&(*master).into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(&Nonce::from(nonce), Payload { msg: &wrapped[WRAP_HEADER..], aad: &aad })
                .map_err(|_| KmsError::InvalidCiphertext)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(PlainKey(key))
    }

    fn generate(&self, name: &str, ctx: &EncryptionContext) -> Result<DataKey, KmsError> {
        let (version, master) = self.current(name)?;
        let mut dek = Zeroizing::new([0u8; 32]);
        random_bytes(dek.as_mut()).map_err(|_| KmsError::Unavailable("no randomness".into()))?;
        let wrapped = Self::wrap(version, &master, &dek, ctx)?;
        Ok(DataKey { plaintext: PlainKey(dek), wrapped })
    }
}

impl KeyProvider for Keyring {
    fn id(&self) -> &'static str {
        "local"
    }

    fn generate_data_key<'a>(&'a self, master_key: &'a str, ctx: &'a EncryptionContext) -> ProviderFuture<'a, DataKey> {
        Box::pin(async move { self.generate(master_key, ctx) })
    }

    fn decrypt_data_key<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, PlainKey> {
        Box::pin(async move { self.unwrap(master_key, wrapped, ctx) })
    }

    fn rewrap<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let dek = self.unwrap(master_key, wrapped, ctx)?;
            let (version, master) = self.current(master_key)?;
            Self::wrap(version, &master, &dek.0, ctx)
        })
    }

    fn create_key<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        Box::pin(async move {
            if !valid_name(master_key) {
                return Err(KmsError::Config(format!("'{master_key}' is not a valid key name")));
            }
            self.change(|keys| {
                if !keys.contains_key(master_key) {
                    keys.insert(master_key.to_owned(), Self::first_version()?);
                }
                Ok(())
            })?;
            self.info(master_key)
        })
    }

    fn describe<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        Box::pin(async move {
            self.refresh()?;
            self.info(master_key)
        })
    }

    fn rotate<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        Box::pin(async move {
            self.change(|keys| {
                let versions = keys.get_mut(master_key).ok_or_else(|| KmsError::NotFound(master_key.to_owned()))?;
                if versions.len() >= MAX_VERSIONS {
                    return Err(KmsError::Denied(format!("{master_key} has {MAX_VERSIONS} versions")));
                }
                let next = versions.keys().next_back().map_or(1, |v| v + 1);
                let mut bytes = Zeroizing::new([0u8; 32]);
                random_bytes(bytes.as_mut()).map_err(|_| KmsError::Unavailable("no randomness".into()))?;
                versions.insert(next, bytes);
                Ok(())
            })?;
            self.info(master_key)
        })
    }

    fn destroy<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            self.change(|keys| {
                keys.remove(master_key).map(|_| ()).ok_or_else(|| KmsError::NotFound(master_key.to_owned()))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(q: &str) -> EncryptionContext {
        EncryptionContext::new().with("acct", "111111111111").with("qid", q)
    }

    fn block<T>(f: ProviderFuture<'_, T>) -> Result<T, KmsError> {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn data_keys_round_trip_only_with_their_context_and_survive_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/keyring");
        let ring = Keyring::open_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let dk = block(ring.generate_data_key("default", &ctx("q1"))).unwrap();
        assert_eq!(dk.wrapped.len(), 65);
        let back = block(ring.decrypt_data_key("default", &dk.wrapped, &ctx("q1"))).unwrap();
        assert_eq!(*back.0, *dk.plaintext.0);
        assert_eq!(
            block(ring.decrypt_data_key("default", &dk.wrapped, &ctx("q2"))).unwrap_err(),
            KmsError::InvalidCiphertext
        );
        let mut flipped = dk.wrapped.clone();
        flipped[30] ^= 1;
        assert_eq!(
            block(ring.decrypt_data_key("default", &flipped, &ctx("q1"))).unwrap_err(),
            KmsError::InvalidCiphertext
        );

        // Rotation: a new current version; old wraps still open; a rewrap moves to it.
        let info = block(ring.rotate("default")).unwrap();
        assert_eq!((info.current_version.as_str(), info.versions), ("2", 2));
        assert!(block(ring.decrypt_data_key("default", &dk.wrapped, &ctx("q1"))).is_ok());
        let re = block(ring.rewrap("default", &dk.wrapped, &ctx("q1"))).unwrap();
        assert_eq!(u32::from_be_bytes([re[1], re[2], re[3], re[4]]), 2);
        assert_eq!(*block(ring.decrypt_data_key("default", &re, &ctx("q1"))).unwrap().0, *dk.plaintext.0);

        // Another handle on the same file (another process) sees the rotation.
        let other = Keyring::open_or_create(&path).unwrap();
        assert_eq!(block(other.describe("default")).unwrap().current_version, "2");
        // Destroying a key makes what it wrapped unreadable for good.
        block(ring.create_key("acct-111111111111")).unwrap();
        let k2 = block(ring.generate_data_key("acct-111111111111", &ctx("q9"))).unwrap();
        block(ring.destroy("acct-111111111111")).unwrap();
        assert!(matches!(
            block(other.decrypt_data_key("acct-111111111111", &k2.wrapped, &ctx("q9"))),
            Err(KmsError::NotFound(_))
        ));
    }

    #[test]
    fn two_processes_changing_the_keyring_at_once_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring");
        Keyring::open_or_create(&path).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    // Each thread has its own handle, as each process would.
                    let ring = Keyring::open_or_create(&path).unwrap();
                    for i in 0..10 {
                        block(ring.create_key(&format!("k-{t}-{i}"))).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let ring = Keyring::open_or_create(&path).unwrap();
        for t in 0..4 {
            for i in 0..10 {
                assert!(block(ring.describe(&format!("k-{t}-{i}"))).is_ok(), "k-{t}-{i} was lost");
            }
        }
    }

    #[test]
    fn a_keyring_sealed_under_a_passphrase_opens_only_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring");
        let pass = |p: &str| Some(secrecy::SecretString::from(p.to_owned()));
        let ring = Keyring::open_or_create_with(&path, pass("correct horse")).unwrap();
        let dk = block(ring.generate_data_key("default", &ctx("q1"))).unwrap();
        block(ring.rotate("default")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(SEALED_MAGIC) && !text.contains("key default"), "sealed: {text}");
        // Reopened with the passphrase (as another process would), it has both versions.
        let again = Keyring::open_or_create_with(&path, pass("correct horse")).unwrap();
        assert_eq!(*block(again.decrypt_data_key("default", &dk.wrapped, &ctx("q1"))).unwrap().0, *dk.plaintext.0);
        assert_eq!(block(again.describe("default")).unwrap().versions, 2);
        for wrong in [pass("wrong"), None] {
            let err = Keyring::open_or_create_with(&path, wrong).unwrap_err();
            assert!(matches!(err, KmsError::Config(_)), "{err}");
        }
        // A plain keyring is not used when a passphrase is configured.
        let plain = dir.path().join("plain");
        Keyring::open_or_create(&plain).unwrap();
        assert!(Keyring::open_or_create_with(&plain, pass("x")).is_err());
    }

    #[test]
    fn a_keyring_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring");
        Keyring::open_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::open_or_create(&path).unwrap_err();
        assert!(matches!(&err, KmsError::Config(m) if m.contains("chmod 600")), "{err}");
        std::fs::write(dir.path().join("bad"), "not a keyring").unwrap();
        std::fs::set_permissions(dir.path().join("bad"), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Keyring::open_or_create(&dir.path().join("bad")).is_err());
    }
}
