//! `sluice keys …`: master keys (create, list, rotate, destroy, status) and backups of the key
//! files, kept apart from the database's.

use std::path::PathBuf;

use super::*;
use crate::boot::{self, Database};
use crate::config::{Config, LogFormat};

const BACKUP_MAGIC: &str = "SLUICE-KEY-BACKUP 1";

/// Writes a backup of the key files: `SLUICE-KEY-BACKUP 1`, then `NAME BASE64` per file.
fn backup_keys(config: &Config, out: &std::path::Path) -> Result<(), CliError> {
    use base64::Engine;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = zeroize::Zeroizing::new(format!("{BACKUP_MAGIC}\n"));
    for (name, path) in [("master.key", config.master_key_path()), ("keyring", config.keyring_path())] {
        let data = zeroize::Zeroizing::new(
            std::fs::read(&path).map_err(|e| CliError::Other(format!("reading {}: {e}", path.display())))?,
        );
        let encoded = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(data.as_slice()));
        text.push_str(&format!("{name} {}\n", encoded.as_str()));
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| CliError::Other(format!("creating {}: {e}", out.display())))?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| CliError::Other(e.to_string()))?;
    Ok(())
}

/// Puts the key files of a backup back in place (0600).
fn restore_keys(config: &Config, from: &std::path::Path, force: bool) -> Result<(), CliError> {
    use base64::Engine;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(from).map_err(|e| CliError::Other(format!("reading {}: {e}", from.display())))?,
    );
    let mut lines = text.lines();
    if lines.next() != Some(BACKUP_MAGIC) {
        return Err(CliError::Other(format!("{} is not a Sluice key backup", from.display())));
    }
    let mut files = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, data) = line.split_once(' ').ok_or_else(|| CliError::Other("malformed key backup".into()))?;
        let path = match name {
            "master.key" => config.master_key_path(),
            "keyring" => config.keyring_path(),
            _ => return Err(CliError::Other(format!("unknown file {name} in the key backup"))),
        };
        let bytes = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| CliError::Other("malformed key backup".into()))?,
        );
        files.push((path, bytes));
    }
    for (path, _) in &files {
        if path.exists() && !force {
            return Err(CliError::Other(format!("{} exists; repeat with --force to replace it", path.display())));
        }
    }
    for (path, bytes) in files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| CliError::Other(e.to_string()))?;
        }
        let tmp = path.with_extension("restore-tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| CliError::Other(format!("creating {}: {e}", tmp.display())))?;
        f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| CliError::Other(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| CliError::Other(e.to_string()))?;
        println!("restored {}", path.display());
    }
    Ok(())
}

pub(super) async fn keys(file: Option<PathBuf>, common: CommonArgs, command: KeysCommand) -> Result<(), CliError> {
    let mut config = Config::load(file.as_deref(), &common)?;
    init_logging(LogFormat::Human);
    warn_unknown_env();
    config.data_dir = boot::ensure_data_dir(&config)?;
    // Files only: no database needed.
    match &command {
        KeysCommand::Backup { out } => {
            backup_keys(&config, out)?;
            println!("key files written to {} (keep it apart from the database backup)", out.display());
            return Ok(());
        }
        KeysCommand::Restore { from, force } => return restore_keys(&config, from, *force),
        _ => {}
    }
    let database = Database::open(&config).await?;
    let provider = boot::open_key_provider(&config, &database.store).await?;
    let clock: std::sync::Arc<dyn crate::clock::Clock> = std::sync::Arc::new(crate::clock::SystemClock);
    let keys = crate::keys::DataKeys::new(database.store.clone(), provider.clone(), clock);
    let fail = |e: crate::keys::KeysError| CliError::Other(e.to_string());
    let audited: Option<(String, Option<String>, String)> = match &command {
        KeysCommand::Create { account, alias } => {
            Some(("keys:create".into(), Some(account.clone()), alias.clone().unwrap_or_default()))
        }
        KeysCommand::Destroy { account, id, .. } => Some(("keys:destroy".into(), Some(account.clone()), id.clone())),
        KeysCommand::Rotate { key, account } => {
            Some(("keys:rotate".into(), account.clone(), key.clone().unwrap_or_else(|| "service key".into())))
        }
        _ => None,
    };
    let result = async {
        match command {
            KeysCommand::Create { account, alias } => {
                let k = keys.create_master_key(&account, alias.as_deref()).await.map_err(fail)?;
                println!("key: {}", k.id);
                println!("arn: arn:aws:kms:{}:{account}:key/{}", config.region, k.id);
                if let Some(a) = k.alias {
                    println!("alias: {a}");
                }
            }
            KeysCommand::List { account } => {
                println!("{:<38}{:<27}ALIAS", "KEY", "CREATED");
                for k in keys.master_keys(&account).await.map_err(fail)? {
                    let created = k.created_at.format("%Y-%m-%dT%H:%M:%SZ");
                    println!("{:<38}{:<27}{}", k.id, created, k.alias.unwrap_or_default());
                }
            }
            KeysCommand::Destroy { account, id, yes } => {
                if !yes {
                    return Err(CliError::Other(format!(
                        "destroying key {id} makes every message sealed under it unreadable, for good; repeat with --yes"
                    )));
                }
                keys.destroy_master_key(&account, &id).await.map_err(fail)?;
                println!("key {id} destroyed");
            }
            KeysCommand::Rotate { key, account } => {
                let provider_key = match (key, account) {
                    (Some(k), Some(a)) => keys.resolve_master_key(&a, &k).await.map_err(fail)?,
                    (Some(_), None) => return Err(CliError::Other("--key needs --account".into())),
                    _ => crate::keys::SERVICE_KEY.to_owned(),
                };
                let info = provider.rotate(&provider_key).await.map_err(|e| CliError::Other(e.to_string()))?;
                println!("{} is now at version {}", info.master_key, info.current_version);
                let (n, skipped) = keys.rewrap_all().await.map_err(fail)?;
                println!("{n} data key(s) re-wrapped under current versions");
                if skipped > 0 {
                    println!("{skipped} data key(s) skipped: their master key is gone (see the log)");
                }
            }
            KeysCommand::Status => {
                println!("{:<10}{:<60}{:<10}{:<10}DATA KEYS", "PROVIDER", "MASTER KEY", "VERSION", "VERSIONS");
                let counts = database.store.data_key_counts().await.map_err(|e| CliError::Other(e.to_string()))?;
                let mut seen = std::collections::BTreeSet::new();
                for (p, key, n) in &counts {
                    seen.insert(key.clone());
                    let info = provider.describe(key).await;
                    let (v, vs) = match &info {
                        Ok(i) => (i.current_version.clone(), i.versions.to_string()),
                        Err(e) => (format!("({e})"), String::new()),
                    };
                    println!("{p:<10}{key:<60}{v:<10}{vs:<10}{n}");
                }
                if !seen.contains(crate::keys::SERVICE_KEY)
                    && let Ok(i) = provider.describe(crate::keys::SERVICE_KEY).await
                {
                    println!("{:<10}{:<60}{:<10}{:<10}0", provider.id(), i.master_key, i.current_version, i.versions);
                }
            }
            KeysCommand::Backup { .. } | KeysCommand::Restore { .. } => {}
        }
        Ok(())
    }
    .await;
    if result.is_ok()
        && let Some((action, account, resource)) = audited
    {
        let entry = crate::store::audit::AuditEntry {
            at: crate::clock::Clock::now(&crate::clock::SystemClock),
            account_id: account,
            actor: "operator".into(),
            action,
            resource,
            source_ip: None,
            request_id: None,
            detail: serde_json::json!({}),
        };
        if let Err(e) = database.store.record_audit(&entry).await {
            database.close(false).await;
            return Err(CliError::Other(e.to_string()));
        }
    }
    database.close(false).await;
    result
}
