//! The keys the service opens at start: the server master key (refused when missing in front
//! of sealed data) and the key provider that wraps queues' data keys (local keyring, PKCS#11,
//! AWS KMS).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::store::PgStore;

/// Loads the master key, creating it only for a database that holds nothing sealed yet: a
/// missing key file in front of existing data is an error (a new key could open nothing),
/// not a reason to start over silently.
pub async fn open_master_key(config: &Config, store: &PgStore) -> Result<MasterKey, AppError> {
    let path = config.master_key_path();
    if !path.exists() && store.holds_sealed_data().await? {
        return Err(AppError::Crypto(crate::crypto::CryptoError::KeyFile {
            path: path.display().to_string(),
            reason: "is missing, but the database holds data sealed under a master key; restore the key file (or point master_key_file at it)".into(),
        }));
    }
    Ok(MasterKey::load_or_create(&path)?)
}

/// Opens the key provider: the keyring, created only for a database that holds no data key
/// yet (a missing keyring in front of wrapped keys is an error, as for the master key).
pub async fn open_key_provider(
    config: &Config,
    store: &PgStore,
) -> Result<Arc<dyn crate::crypto::provider::KeyProvider>, AppError> {
    let fail = |what: &str, why: String| {
        AppError::Crypto(crate::crypto::CryptoError::KeyFile { path: what.to_owned(), reason: why })
    };
    match config.key_provider.as_str() {
        "local" => {
            let path = config.keyring_path();
            if !path.exists() && store.data_key_counts().await?.iter().any(|(p, _, _)| p == "local") {
                return Err(fail(
                    &path.display().to_string(),
                    "is missing, but the database holds data keys wrapped under it; restore the keyring (or point keyring_file at it)".into(),
                ));
            }
            let passphrase = match &config.keyring_passphrase_file {
                Some(f) => Some(read_secret_file(f).map_err(|e| fail(&f.display().to_string(), e))?),
                None => None,
            };
            let ring = crate::crypto::keyring::Keyring::open_or_create_with(&path, passphrase)
                .map_err(|e| fail(&path.display().to_string(), e.to_string()))?;
            Ok(Arc::new(ring))
        }
        #[cfg(feature = "pkcs11")]
        "pkcs11" => {
            let (Some(module), Some(label), Some(pin_file)) =
                (&config.pkcs11_module, &config.pkcs11_token_label, &config.pkcs11_pin_file)
            else {
                return Err(fail("pkcs11", "needs pkcs11_module, pkcs11_token_label and pkcs11_pin_file".into()));
            };
            let pin = read_secret_file(pin_file).map_err(|e| fail(&pin_file.display().to_string(), e))?;
            let p = crate::crypto::pkcs11::Pkcs11Provider::open(module, label, pin)
                .map_err(|e| fail(&module.display().to_string(), e.to_string()))?;
            // The service key exists from the first start on.
            use crate::crypto::provider::KeyProvider;
            p.create_key(crate::keys::SERVICE_KEY).await.map_err(|e| fail("pkcs11", e.to_string()))?;
            Ok(Arc::new(p))
        }
        #[cfg(feature = "aws-kms")]
        "aws-kms" => {
            let (Some(key), Ok(id), Ok(secret)) =
                (&config.aws_kms_key_id, std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY"))
            else {
                return Err(fail(
                    "aws-kms",
                    "needs aws_kms_key_id, and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment".into(),
                ));
            };
            let p = crate::crypto::aws_kms::AwsKmsProvider::new(crate::crypto::aws_kms::AwsKmsOptions {
                region: config.aws_kms_region.clone().unwrap_or_else(|| "us-east-1".into()),
                endpoint: config.aws_kms_endpoint.clone(),
                access_key_id: id,
                secret_access_key: secret.into(),
                session_token: std::env::var("AWS_SESSION_TOKEN").ok().map(Into::into),
                service_key: key.clone(),
            });
            use crate::crypto::provider::KeyProvider;
            p.describe(crate::keys::SERVICE_KEY).await.map_err(|e| fail("aws-kms service key", e.to_string()))?;
            Ok(Arc::new(p))
        }
        other => {
            Err(fail("key_provider", format!("'{other}' is not a key provider of this build (local, pkcs11, aws-kms)")))
        }
    }
}

/// Reads a one-line secret from a file that only its owner may read.
pub(super) fn read_secret_file(path: &Path) -> Result<secrecy::SecretString, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err("is readable by group or others; chmod 600 it".into());
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| e.to_string())?);
    Ok(secrecy::SecretString::from(text.trim_end_matches(['\n', '\r']).to_owned()))
}
