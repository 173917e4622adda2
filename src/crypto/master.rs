//! The server master key: 32 random bytes in a file created with mode 0600.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use super::{CryptoError, random_bytes};

/// Magic prefix of the key file, so a wrong file is refused rather than used.
const HEADER: &[u8; 8] = b"SLUICEK1";

/// A 256-bit master key with its version (the key reference stored in sealed values).
pub struct MasterKey {
    pub(crate) version: u64,
    pub(crate) bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("version", &self.version).finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A key from raw bytes (tests, and providers that hand out key material).
    pub fn from_bytes(version: u64, bytes: [u8; 32]) -> Self {
        Self { version, bytes: Zeroizing::new(bytes) }
    }

    /// A fresh random key.
    pub fn generate(version: u64) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        random_bytes(bytes.as_mut())?;
        Ok(Self { version, bytes })
    }

    /// Loads the key file, or creates it (0600, parents 0700) when it does not exist.
    /// A key file readable by group or others is refused.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        let err = |reason: String| CryptoError::KeyFile { path: path.display().to_string(), reason };
        match std::fs::metadata(path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(err("is readable by group or others; chmod 600 it".into()));
                }
                let data = Zeroizing::new(std::fs::read(path).map_err(|e| err(e.to_string()))?);
                if data.len() != HEADER.len() + 8 + 32 || &data[..8] != HEADER {
                    return Err(err("is not a Sluice master key file".into()));
                }
                let mut version = [0u8; 8];
                version.copy_from_slice(&data[8..16]);
                let mut bytes = Zeroizing::new([0u8; 32]);
                bytes.copy_from_slice(&data[16..48]);
                Ok(Self { version: u64::from_be_bytes(version), bytes })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
                }
                let key = Self::generate(1)?;
                let mut data = Zeroizing::new(Vec::with_capacity(48));
                data.extend_from_slice(HEADER);
                data.extend_from_slice(&key.version.to_be_bytes());
                data.extend_from_slice(key.bytes.as_ref());
                // Written whole under a temporary name, then linked into place: another
                // process never sees a half-written key, and an existing key is never replaced.
                let mut suffix = [0u8; 8];
                random_bytes(&mut suffix)?;
                let tmp = path.with_extension(format!("tmp-{}", hex::encode(suffix)));
                let written = (|| {
                    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
                    file.write_all(&data)?;
                    file.sync_all()?;
                    std::fs::hard_link(&tmp, path)
                })();
                let _ = std::fs::remove_file(&tmp);
                match written {
                    Ok(()) => {}
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Self::load_or_create(path),
                    Err(e) => return Err(err(e.to_string())),
                }
                Ok(key)
            }
            Err(e) => Err(err(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_0600_and_reloads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.bytes.as_ref(), b.bytes.as_ref());
        assert_eq!(a.version, b.version);
    }

    #[test]
    fn group_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(MasterKey::load_or_create(&path), Err(CryptoError::KeyFile { .. })));
    }
}
