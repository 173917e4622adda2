//! `sluice admin …`: accounts and their limits and usage, the database (dumps, backups,
//! restores, recovery), service integrations, role sessions and the audit trail. Every change
//! an operator makes is recorded in the audit trail.

use std::path::PathBuf;

use super::*;
use crate::boot::{self, Database};
use crate::config::{Config, LogFormat};
use crate::tenancy::Tenancy;

pub(super) async fn admin(file: Option<PathBuf>, common: CommonArgs, command: AdminCommand) -> Result<(), CliError> {
    let config = Config::load(file.as_deref(), &common)?;
    init_logging(LogFormat::Human);
    warn_unknown_env();
    let mut config = config;
    config.data_dir = boot::ensure_data_dir(&config)?;
    if let AdminCommand::Db(DbCommand::Pitr { base, until }) = &command {
        boot::point_in_time_recovery(&config, base, until).await?;
        println!("recovered to {until}; start sluice serve");
        return Ok(());
    }
    let database = Database::open(&config).await?;
    if let AdminCommand::Db(db) = &command {
        let done = match db {
            DbCommand::Dump { out } => {
                database.dump(&config, out).map(|()| println!("database written to {}", out.display()))
            }
            DbCommand::Restore { from } => {
                database.restore(&config, from).map(|()| println!("database restored from {}", from.display()))
            }
            DbCommand::BaseBackup { out } => {
                database.base_backup(&config, out).map(|()| println!("base backup written to {}", out.display()))
            }
            DbCommand::Pitr { .. } => Ok(()),
            DbCommand::Url => {
                println!("{}", database.url());
                Ok(())
            }
        };
        database.close(false).await;
        return Ok(done?);
    }
    let master = boot::open_master_key(&config, &database.store).await?;
    let sealer = std::sync::Arc::new(crate::crypto::Sealer::new(master));
    let tenancy = Tenancy::new(database.store.clone(), sealer, std::sync::Arc::new(crate::clock::SystemClock))
        .with_max_token_lifetime(config.integration_token_max_lifetime_seconds);
    // What an operator command changes, for the audit trail: (action, account, resource).
    let audited: Option<(String, Option<String>, String)> = match &command {
        AdminCommand::Account(c) => match c {
            AccountCommand::Create { name, id } => Some(("admin:account-create".into(), id.clone(), name.clone())),
            AccountCommand::Disable { id } => Some(("admin:account-disable".into(), Some(id.clone()), id.clone())),
            AccountCommand::Enable { id } => Some(("admin:account-enable".into(), Some(id.clone()), id.clone())),
            AccountCommand::Delete { id, .. } => Some(("admin:account-delete".into(), Some(id.clone()), id.clone())),
            AccountCommand::RotateRootKey { id } => {
                Some(("admin:account-rotate-root-key".into(), Some(id.clone()), id.clone()))
            }
            AccountCommand::Limits { id, .. } => Some(("admin:account-limits".into(), Some(id.clone()), id.clone())),
            AccountCommand::List | AccountCommand::Usage { .. } => None,
        },
        AdminCommand::Integration(c) => match c {
            IntegrationCommand::Create { account, service, .. } => {
                Some(("admin:integration-create".into(), Some(account.clone()), service.clone()))
            }
            IntegrationCommand::Token { account, id, .. } => {
                Some(("admin:integration-token".into(), Some(account.clone()), id.clone()))
            }
            IntegrationCommand::Revoke { account, id } => {
                Some(("admin:integration-revoke".into(), Some(account.clone()), id.clone()))
            }
            IntegrationCommand::RevokeToken { account, token } => {
                // The audit names the token by its id, never by its text.
                let id = crate::crypto::token::unverified_claims(token).map_or_else(|| token.clone(), |c| c.jti);
                Some(("admin:integration-revoke-token".into(), Some(account.clone()), id))
            }
            IntegrationCommand::RotateKey { account } | IntegrationCommand::RetireOldKeys { account } => {
                Some(("admin:integration-signing-keys".into(), Some(account.clone()), account.clone()))
            }
            IntegrationCommand::List { .. } => None,
        },
        AdminCommand::Role(RoleCommand::RevokeSessions { account, role }) => {
            Some(("admin:role-revoke-sessions".into(), Some(account.clone()), role.clone()))
        }
        AdminCommand::Audit { .. } | AdminCommand::Db(_) => None,
    };
    let result = match command {
        AdminCommand::Db(_) => Ok(()),
        AdminCommand::Audit { account, action, since, limit } => {
            let since = match since.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
                Some(Ok(t)) => Some(t.to_utc()),
                Some(Err(_)) => {
                    database.close(false).await;
                    return Err(CliError::Other("--since must be an RFC 3339 time".into()));
                }
                None => None,
            };
            let filter = crate::store::audit::AuditFilter { account_id: account, action, since, limit };
            tenancy.audit(&filter).await.map(|entries| {
                println!("{:<27}{:<14}{:<36}{:<50}{:<18}DETAIL", "AT", "ACCOUNT", "ACTION", "ACTOR", "FROM");
                for e in entries {
                    println!(
                        "{:<27}{:<14}{:<36}{:<50}{:<18}{} {}",
                        e.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                        e.account_id.unwrap_or_default(),
                        e.action,
                        e.actor,
                        e.source_ip.unwrap_or_else(|| "-".into()),
                        e.resource,
                        e.detail
                    );
                }
            })
        }
        AdminCommand::Account(AccountCommand::Create { name, id }) => {
            tenancy.create_account(&name, id.as_deref()).await.map(|a| print!("{}", a.credentials_profile(&name)))
        }
        AdminCommand::Account(AccountCommand::List) => tenancy.list_accounts().await.map(|accounts| {
            println!("{:<14}{:<10}{:<27}NAME", "ID", "STATUS", "CREATED");
            for a in accounts {
                println!("{:<14}{:<10}{:<27}{}", a.id, a.status, a.created_at.format("%Y-%m-%dT%H:%M:%SZ"), a.name);
            }
        }),
        AdminCommand::Account(AccountCommand::Disable { id }) => {
            tenancy.set_account_enabled(&id, false).await.map(|()| println!("account {id} disabled"))
        }
        AdminCommand::Account(AccountCommand::Enable { id }) => {
            tenancy.set_account_enabled(&id, true).await.map(|()| println!("account {id} enabled"))
        }
        AdminCommand::Account(AccountCommand::Delete { id, yes }) => {
            if !yes {
                database.close(false).await;
                return Err(CliError::Other(format!("deleting account {id} cannot be undone; repeat with --yes")));
            }
            let provider = boot::open_key_provider(&config, &database.store).await?;
            let clock: std::sync::Arc<dyn crate::clock::Clock> = std::sync::Arc::new(crate::clock::SystemClock);
            let keys = crate::keys::DataKeys::new(database.store.clone(), provider, clock);
            match boot::delete_account(&tenancy, &keys, &id).await {
                Ok(n) => {
                    println!("account {id} deleted ({n} master key(s) destroyed)");
                    Ok(())
                }
                Err(e) => {
                    database.close(false).await;
                    return Err(e.into());
                }
            }
        }
        AdminCommand::Account(AccountCommand::RotateRootKey { id }) => {
            tenancy.rotate_root_key(&id).await.map(|a| print!("{}", a.credentials_profile(&a.name)))
        }
        AdminCommand::Account(AccountCommand::Limits {
            id,
            requests_per_second,
            max_queues,
            max_stored_messages,
            max_stored_bytes,
            max_long_polls,
        }) => {
            let o = crate::store::limits::LimitOverrides {
                requests_per_second,
                max_queues,
                max_stored_messages,
                max_stored_bytes,
                max_long_polls,
            };
            tenancy.set_account_limits(&id, &o).await.map(|()| println!("limits of account {id} set"))
        }
        AdminCommand::Account(AccountCommand::Usage { id }) => usage(&config, &database, &tenancy, id).await,
        AdminCommand::Integration(command) => integration(&tenancy, command).await,
        AdminCommand::Role(RoleCommand::RevokeSessions { account, role }) => {
            tenancy.revoke_role_sessions(&account, &role).await.map(|at| {
                println!("sessions of role {role} issued before {} are revoked", at.format("%Y-%m-%dT%H:%M:%SZ"))
            })
        }
    };
    if result.is_ok()
        && let Some((action, account, resource)) = audited
        && let Err(e) = tenancy.record(&tenancy.operator_entry(account.as_deref(), &action, &resource)).await
    {
        database.close(false).await;
        return Err(e.into());
    }
    database.close(false).await;
    Ok(result?)
}

/// Prints each account's use against its limits.
async fn usage(
    config: &Config,
    database: &Database,
    tenancy: &Tenancy,
    id: Option<String>,
) -> Result<(), crate::tenancy::TenancyError> {
    let store = &database.store;
    store.measure_usage(crate::clock::Clock::now(&crate::clock::SystemClock)).await?;
    let accounts = match id {
        Some(id) => vec![id],
        None => tenancy.list_accounts().await?.into_iter().map(|a| a.id).collect(),
    };
    let defaults = config.limit_defaults();
    println!("{:<14}{:>12}{:>20}{:>24}{:>30}", "ACCOUNT", "REQ/S", "QUEUES", "STORED MESSAGES", "STORED BYTES");
    for a in accounts {
        let limits = defaults.with(&store.limit_overrides(&a).await?);
        let u = store.usage(&a).await?;
        println!(
            "{:<14}{:>12}{:>20}{:>24}{:>30}",
            a,
            limits.requests_per_second,
            format!("{}/{}", u.queues, limits.max_queues),
            format!("{}/{}", u.stored_messages, limits.max_stored_messages),
            format!("{}/{}", u.stored_bytes, limits.max_stored_bytes)
        );
    }
    Ok(())
}

async fn integration(tenancy: &Tenancy, command: IntegrationCommand) -> Result<(), crate::tenancy::TenancyError> {
    use secrecy::ExposeSecret;
    let print_token = |t: crate::tenancy::integrations::IssuedToken| {
        println!("integration: {}", t.integration_id);
        println!("token id: {}", t.token_id);
        println!("expires: {}", t.expires_at.format("%Y-%m-%dT%H:%M:%SZ"));
        println!("token: {}", t.token.expose_secret());
    };
    let lifetime = |l: Option<i64>| l.unwrap_or(tenancy.max_token_lifetime());
    match command {
        IntegrationCommand::Create { account, service, sources, lifetime_seconds } => {
            let i = tenancy.create_integration(&account, &service, &sources).await?;
            print_token(tenancy.issue_integration_token(&account, &i.id, lifetime(lifetime_seconds)).await?);
        }
        IntegrationCommand::List { account } => {
            println!("{:<22}{:<20}{:<10}SOURCES", "ID", "SERVICE", "STATUS");
            for i in tenancy.list_integrations(&account).await? {
                let status = if i.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{:<22}{:<20}{:<10}{}", i.id, i.service, status, i.sources.join(","));
            }
        }
        IntegrationCommand::Token { account, id, lifetime_seconds } => {
            print_token(tenancy.issue_integration_token(&account, &id, lifetime(lifetime_seconds)).await?);
        }
        IntegrationCommand::RevokeToken { account, token } => {
            let r = tenancy.revoke_integration_token(&account, &token).await?;
            let state = if r.already { "was already revoked" } else { "revoked" };
            println!("token {} {state} (kept until {})", r.token_id, r.expires_at.format("%Y-%m-%dT%H:%M:%SZ"));
        }
        IntegrationCommand::Revoke { account, id } => {
            tenancy.revoke_integration(&account, &id).await?;
            println!("integration {id} revoked");
        }
        IntegrationCommand::RotateKey { account } => {
            println!("signing key {} now signs new tokens", tenancy.rotate_signing_key(&account).await?);
        }
        IntegrationCommand::RetireOldKeys { account } => {
            println!("{} signing key(s) retired", tenancy.retire_old_signing_keys(&account).await?);
        }
    }
    Ok(())
}
