//! The bootstrap account of a first start and the files that let the aws CLI and boto3 reach
//! it (`credentials`, written once; `config`).

use std::path::PathBuf;

use secrecy::ExposeSecret;

use super::*;
use crate::config::Config;
use crate::tenancy::Tenancy;

/// What the aws CLI, boto3 and the SDKs need to reach the bootstrap account, as files.
#[derive(Debug, Clone)]
pub struct BootstrapFiles {
    /// `AWS_CONFIG_FILE`: region, endpoint, and the CA bundle when the dev CA is in use.
    pub config: PathBuf,
    /// `AWS_SHARED_CREDENTIALS_FILE`: the root key.
    pub credentials: PathBuf,
    /// The dev CA (`ca.pem`), when the service uses the certificate it made itself. A
    /// machine-wide `AWS_CA_BUNDLE` outranks the config file's `ca_bundle`, so `serve` prints
    /// this one for `AWS_CA_BUNDLE` too.
    pub ca_bundle: Option<PathBuf>,
}

/// Creates the bootstrap account the first time and writes its `credentials` file if there
/// is none (an existing one is never rewritten: it may be the operator's, or hold a key rotated
/// since); (re)writes `config`.
pub(super) async fn bootstrap(
    config: &Config,
    tenancy: &Tenancy,
    public_url: &str,
) -> Result<BootstrapFiles, AppError> {
    let dir = &config.data_dir;
    let id = &config.bootstrap_account_id;
    let credentials = dir.join("credentials");
    let root = tenancy.root_key(id).await?;
    let written = std::fs::symlink_metadata(&credentials).is_ok();
    if written {
        let current = root.as_ref().map(|(k, _)| k.as_str());
        let named = std::fs::read_to_string(&credentials).ok().and_then(|text| {
            text.lines().find_map(|l| {
                l.split_once('=').filter(|(k, _)| k.trim() == "aws_access_key_id").map(|(_, v)| v.trim().to_owned())
            })
        });
        if current.is_some() && named.as_deref() != current {
            tracing::warn!(
                file = %credentials.display(),
                "the credentials file does not hold the bootstrap account's current root key; it is left as it is"
            );
        }
    }
    let (key_id, secret) = match root {
        Some(k) => k,
        None => {
            let a = tenancy.create_account(&config.bootstrap_account_name, Some(id)).await?;
            tracing::info!(account = %a.id, "created the bootstrap account");
            (a.access_key_id, a.secret_access_key)
        }
    };
    if !written {
        let contents = zeroize::Zeroizing::new(format!(
            "[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {}\n",
            secret.expose_secret()
        ));
        write_file(&credentials, contents.as_bytes(), 0o600)?;
    }
    let ca = dir.join("ca.pem");
    let aws_config = dir.join("config");
    let ca_bundle = (ca.exists() && config.tls_cert_file.is_none()).then_some(ca);
    let ca_line = ca_bundle.as_ref().map(|ca| format!("ca_bundle = {}\n", ca.display())).unwrap_or_default();
    write_file(
        &aws_config,
        format!("[default]\nregion = {}\nendpoint_url = {public_url}\n{ca_line}", config.region).as_bytes(),
        0o644,
    )?;
    Ok(BootstrapFiles { config: aws_config, credentials, ca_bundle })
}
