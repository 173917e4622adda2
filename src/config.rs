//! Typed configuration, filled from defaults, then an optional TOML file (unknown keys are
//! refused), then `SLUICE_*` environment variables, then command-line flags.
//!
//! Size: about 480 lines of one flat settings struct with its defaults, layering and
//! validation, and 220 of unit tests beside it; splitting the struct would split the table
//! users read in docs/configuration.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Every setting of Sluice. Each field `x` is also read from the environment as `SLUICE_X`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where Sluice keeps its state: the managed cluster (unless `database_url` is set), the
    /// dev certificates, the master key and the bootstrap credentials.
    pub data_dir: PathBuf,
    /// Address to listen on (HTTPS).
    pub listen: SocketAddr,
    /// The metrics and health listener: plain HTTP on a loopback address; elsewhere HTTPS
    /// with `/metrics` behind the bearer token of `metrics_token_file` (required then).
    pub metrics_listen: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_token_file: Option<PathBuf>,
    /// Load balancers and proxies (CIDRs) whose `X-Forwarded-For` is believed: for a
    /// request from one of them, `aws:SourceIp` is the nearest address in that header that
    /// is not itself a trusted proxy. Empty: the peer address, always.
    pub trusted_proxies: Vec<String>,
    /// Public base URL of the endpoint, used in queue URLs. Default: from `listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Region named in ARNs and written in the bootstrap `config` profile. The default,
    /// `local`, is outside AWS's region list on purpose: the aws CLI v1 replaces a configured
    /// `endpoint_url` for SQS with AWS's own host in every region it knows. Requests signed
    /// for any region are accepted.
    pub region: String,
    /// PostgreSQL URL. When unset, Sluice runs a private cluster in the data directory.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_secret")]
    pub database_url: Option<SecretString>,
    pub database_max_connections: u32,
    /// Server binaries for the managed cluster; found automatically when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Where the managed cluster archives its WAL (point-in-time recovery with a base
    /// backup); unset: no archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_archive_dir: Option<PathBuf>,
    /// TLS certificate chain and key (PEM). When unset, a development CA and a certificate
    /// for localhost are created in the data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<PathBuf>,
    /// The server master key file (created 0600 on first start). Default: DATA_DIR/master.key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// The `local` key provider's keyring: the versioned master keys that wrap queues' data
    /// keys (created 0600 on first start). Default: DATA_DIR-keyring, beside the data
    /// directory, not inside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyring_file: Option<PathBuf>,
    /// A file (0600) holding a passphrase that seals the keyring (Argon2id, AES-256-GCM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyring_passphrase_file: Option<PathBuf>,
    /// Where master keys live: `local` (the keyring file) or `pkcs11` (a PKCS#11 token).
    pub key_provider: String,
    /// The PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so), token label, and a file
    /// (0600) holding the user PIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs11_module: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "de_opt_text")]
    pub pkcs11_token_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs11_pin_file: Option<PathBuf>,
    /// AWS KMS (`key_provider = "aws-kms"`): the service key (id, ARN or alias), the region,
    /// and an endpoint other than AWS's. Credentials come from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_kms_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_kms_endpoint: Option<String>,
    /// Default per-account limits (each account may have its own: `sluice admin account
    /// limits`): requests a second per action family (per instance), queues, and stored
    /// messages and bytes (measured by the sweep).
    pub limit_requests_per_second: u32,
    pub limit_queues_per_account: i64,
    pub limit_stored_messages_per_account: i64,
    pub limit_stored_bytes_per_account: i64,
    /// Open long polls per account (per instance; `max_long_polls` bounds them all).
    pub limit_long_polls_per_account: u32,
    /// Requests of one account served at once, receives aside (per instance; the rest wait
    /// their turn): 0 means half the database pool, so one account's load always leaves
    /// connections for the others.
    pub limit_concurrent_requests_per_account: usize,
    /// Create the bootstrap account on first start and write its `credentials` (once: an
    /// existing file is never rewritten) and `config`. Unset: on with the managed database,
    /// off with an external one (`database_url`), where it must be asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<bool>,
    /// Read as text even from a variable of digits (`SLUICE_BOOTSTRAP_ACCOUNT_ID=123456789012`).
    #[serde(deserialize_with = "de_text")]
    pub bootstrap_account_id: String,
    #[serde(deserialize_with = "de_text")]
    pub bootstrap_account_name: String,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    /// Largest request body accepted, in bytes (sized for 1 MiB messages after JSON escaping).
    pub max_request_bytes: usize,
    /// Seconds a client has to send the request head, and the whole body.
    pub request_timeout_seconds: u64,
    /// Seconds a TLS handshake may take.
    pub tls_handshake_timeout_seconds: u64,
    /// Seconds an idle keep-alive connection is kept.
    pub idle_timeout_seconds: u64,
    /// Most concurrent connections per worker.
    pub max_connections_per_worker: usize,
    /// Longest `X-Amz-Expires` a presigned request may carry (AWS allows 7 days; a presigned
    /// URL is a bearer secret, so the default is one hour).
    pub presign_max_expires_seconds: u64,
    /// Longest lifetime of a service integration's bearer token (seconds; at most 90 days).
    /// Tokens that live longer are neither issued nor accepted, those issued before included.
    pub integration_token_max_lifetime_seconds: i64,
    /// Seconds a verified key and a user's parsed policies are cached (at most 30): the bound
    /// within which a deactivated key, a disabled account or a changed policy takes effect
    /// on every instance.
    pub cache_ttl_seconds: u64,
    /// Most long polls open at once on this instance; past it, RequestThrottled.
    pub max_long_polls: usize,
    /// Most in-flight messages per queue (SQS: about 120,000); past it a short poll gets
    /// OverLimit and a long poll finds nothing.
    pub max_inflight_per_queue: i64,
    /// Seconds between sweeps that delete expired messages.
    pub sweep_interval_seconds: u64,
    pub log_format: LogFormat,
}

/// How a setting is read from its `SLUICE_*` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Text (names, URLs, paths, ids): verbatim, never as a number, boolean or list.
    Text,
    /// Numbers, booleans, addresses, lists: as TOML would read the value.
    Typed,
}

/// Every setting, in the order of docs/configuration.md, and how its variable is read.
const SETTINGS: &[(&str, Read)] = &[
    ("data_dir", Read::Text),
    ("listen", Read::Typed),
    ("public_url", Read::Text),
    ("metrics_listen", Read::Typed),
    ("metrics_token_file", Read::Text),
    ("trusted_proxies", Read::Typed),
    ("region", Read::Text),
    ("database_url", Read::Text),
    ("database_max_connections", Read::Typed),
    ("pg_bin_dir", Read::Text),
    ("wal_archive_dir", Read::Text),
    ("tls_cert_file", Read::Text),
    ("tls_key_file", Read::Text),
    ("master_key_file", Read::Text),
    ("keyring_file", Read::Text),
    ("keyring_passphrase_file", Read::Text),
    ("key_provider", Read::Text),
    ("pkcs11_module", Read::Text),
    ("pkcs11_token_label", Read::Text),
    ("pkcs11_pin_file", Read::Text),
    ("aws_kms_key_id", Read::Text),
    ("aws_kms_region", Read::Text),
    ("aws_kms_endpoint", Read::Text),
    ("limit_requests_per_second", Read::Typed),
    ("limit_queues_per_account", Read::Typed),
    ("limit_stored_messages_per_account", Read::Typed),
    ("limit_stored_bytes_per_account", Read::Typed),
    ("limit_long_polls_per_account", Read::Typed),
    ("limit_concurrent_requests_per_account", Read::Typed),
    ("bootstrap", Read::Typed),
    ("bootstrap_account_id", Read::Text),
    ("bootstrap_account_name", Read::Text),
    ("workers", Read::Typed),
    ("max_request_bytes", Read::Typed),
    ("request_timeout_seconds", Read::Typed),
    ("tls_handshake_timeout_seconds", Read::Typed),
    ("idle_timeout_seconds", Read::Typed),
    ("max_connections_per_worker", Read::Typed),
    ("presign_max_expires_seconds", Read::Typed),
    ("integration_token_max_lifetime_seconds", Read::Typed),
    ("cache_ttl_seconds", Read::Typed),
    ("max_long_polls", Read::Typed),
    ("max_inflight_per_queue", Read::Typed),
    ("sweep_interval_seconds", Read::Typed),
    ("log_format", Read::Typed),
];

/// Text that a TOML file may have written as a number (figment reads `123` as one).
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    Words(String),
    Unsigned(u64),
    Signed(i64),
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        match t {
            Text::Words(s) => s,
            Text::Unsigned(n) => n.to_string(),
            Text::Signed(n) => n.to_string(),
        }
    }
}

fn de_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Text::deserialize(d).map(String::from)
}

fn de_opt_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<Text>::deserialize(d).map(|t| t.map(String::from))
}

fn ser_secret<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    match v {
        Some(v) => s.serialize_some(v.expose_secret()),
        None => s.serialize_none(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".sluice"),
            listen: SocketAddr::from(([127, 0, 0, 1], 9324)),
            public_url: None,
            metrics_listen: "127.0.0.1:9325".parse().expect("a literal address"),
            metrics_token_file: None,
            trusted_proxies: Vec::new(),
            region: "local".into(),
            database_url: None,
            database_max_connections: 32,
            pg_bin_dir: None,
            wal_archive_dir: None,
            tls_cert_file: None,
            tls_key_file: None,
            master_key_file: None,
            keyring_file: None,
            keyring_passphrase_file: None,
            key_provider: "local".into(),
            pkcs11_module: None,
            pkcs11_token_label: None,
            pkcs11_pin_file: None,
            aws_kms_key_id: None,
            aws_kms_region: None,
            aws_kms_endpoint: None,
            limit_requests_per_second: 1_000,
            limit_queues_per_account: 1_000,
            limit_stored_messages_per_account: 100_000_000,
            limit_stored_bytes_per_account: 100 * 1024 * 1024 * 1024,
            limit_long_polls_per_account: 1_000,
            limit_concurrent_requests_per_account: 0,
            bootstrap: None,
            bootstrap_account_id: "000000000000".into(),
            bootstrap_account_name: "default".into(),
            workers: 0,
            max_request_bytes: 6 * 1024 * 1024 + 64 * 1024,
            request_timeout_seconds: 30,
            tls_handshake_timeout_seconds: 10,
            idle_timeout_seconds: 75,
            max_connections_per_worker: 4096,
            presign_max_expires_seconds: 3600,
            integration_token_max_lifetime_seconds: crate::crypto::token::DEFAULT_MAX_LIFETIME_SECONDS,
            cache_ttl_seconds: 30,
            max_long_polls: 10_000,
            max_inflight_per_queue: 120_000,
            sweep_interval_seconds: 60,
            log_format: LogFormat::Human,
        }
    }
}

/// Levenshtein distance (for naming the setting a mistyped variable meant).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// The names of every setting (the TOML keys; `SLUICE_` + upper case for the environment).
    pub fn keys() -> Vec<&'static str> {
        SETTINGS.iter().map(|(k, _)| *k).collect()
    }

    /// Whether `key` is a text setting (see `Read`).
    fn is_text(key: &str) -> bool {
        SETTINGS.iter().any(|(k, read)| *read == Read::Text && k.eq_ignore_ascii_case(key))
    }

    /// The `SLUICE_*` variables among `vars` that name no setting, each with the setting whose
    /// variable is closest (a typo is the usual cause): a mistyped variable would otherwise be
    /// ignored without a word, while a mistyped TOML key is refused. The command line's own
    /// `SLUICE_CONFIG` and the variables of the project's tests, CI and scripts are not settings.
    pub fn unknown_env_vars(vars: impl Iterator<Item = String>) -> Vec<(String, Option<String>)> {
        const OTHERS: &[&str] = &["SLUICE_CONFIG"];
        const OTHER_PREFIXES: &[&str] = &["SLUICE_TEST_", "SLUICE_REQUIRE_", "SLUICE_CI_", "SLUICE_BENCH_"];
        let known: Vec<String> = Self::keys().iter().map(|k| format!("SLUICE_{}", k.to_uppercase())).collect();
        let mut out = Vec::new();
        for var in vars {
            let upper = var.to_ascii_uppercase();
            if !upper.starts_with("SLUICE_")
                || known.contains(&upper)
                || OTHERS.contains(&upper.as_str())
                || OTHER_PREFIXES.iter().any(|p| upper.starts_with(p))
            {
                continue;
            }
            let closest = known
                .iter()
                .map(|k| (edit_distance(&upper, k), k))
                .min()
                .filter(|(d, k)| *d <= 3.max(k.len() / 4))
                .map(|(_, k)| k.clone());
            out.push((var, closest));
        }
        out
    }

    /// Loads the configuration: defaults, then `file` (if given), then `SLUICE_*` variables,
    /// then `overrides` (flags that were given).
    pub fn load(file: Option<&Path>, overrides: impl Serialize) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError::Invalid(format!("config file {} does not exist", f.display())));
            }
            fig = fig.merge(Toml::file_exact(f));
        }
        let keys = Self::keys();
        // Text settings are taken from the environment as written; figment would read
        // `000000000001` as the number 1 and `2024` as a number where a path is meant.
        let text: std::collections::BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| {
                let key = k.to_str()?.strip_prefix("SLUICE_")?.to_ascii_lowercase();
                Self::is_text(&key).then_some((key, v.into_string().ok()?))
            })
            .collect();
        fig = fig
            .merge(Env::prefixed("SLUICE_").filter(move |k| {
                keys.iter().any(|known| k.as_str().eq_ignore_ascii_case(known)) && !Self::is_text(k.as_str())
            }))
            .merge(Serialized::defaults(text))
            .merge(Serialized::defaults(overrides));
        let c: Config = fig.extract().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if crate::domain::AccountId::parse(&self.bootstrap_account_id).is_none() {
            return Err(ConfigError::Invalid("bootstrap_account_id must be 12 digits".into()));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(ConfigError::Invalid("tls_cert_file and tls_key_file go together".into()));
        }
        if let Some(url) = &self.public_url
            && !url.starts_with("https://")
        {
            return Err(ConfigError::Invalid("public_url must be an https:// URL".into()));
        }
        if self.cache_ttl_seconds > 30 {
            return Err(ConfigError::Invalid("cache_ttl_seconds must be at most 30".into()));
        }
        if !(1..=604_800).contains(&self.presign_max_expires_seconds) {
            return Err(ConfigError::Invalid("presign_max_expires_seconds must be between 1 and 604800".into()));
        }
        if !(60..=crate::crypto::token::MAX_LIFETIME_SECONDS).contains(&self.integration_token_max_lifetime_seconds) {
            return Err(ConfigError::Invalid(
                "integration_token_max_lifetime_seconds must be between 60 and 7776000 (90 days)".into(),
            ));
        }
        if self.max_long_polls == 0 || self.sweep_interval_seconds == 0 || self.max_inflight_per_queue < 1 {
            return Err(ConfigError::Invalid("max_long_polls and sweep_interval_seconds must be at least 1".into()));
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError::Invalid("database_max_connections must be at least 1".into()));
        }
        Ok(())
    }

    /// Whether this start makes the bootstrap account (see `bootstrap`).
    pub fn bootstraps(&self) -> bool {
        self.bootstrap.unwrap_or(self.database_url.is_none())
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file.clone().unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The keyring: by default beside the data directory, not in it (`DATA_DIR-keyring`), so
    /// that a copy of the data directory (the database cluster lives there) does not carry
    /// the keys that open its messages.
    pub fn limit_defaults(&self) -> crate::queue::quotas::Defaults {
        crate::queue::quotas::Defaults {
            requests_per_second: self.limit_requests_per_second.max(1),
            max_queues: self.limit_queues_per_account,
            max_stored_messages: self.limit_stored_messages_per_account,
            max_stored_bytes: self.limit_stored_bytes_per_account,
            max_long_polls: self.limit_long_polls_per_account,
        }
    }

    /// The trusted proxies, parsed.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|c| {
                c.parse::<ipnet::IpNet>()
                    .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("trusted_proxies: '{c}' is not an address or CIDR"))
            })
            .collect()
    }

    /// Requests of one account served at once (see `limit_concurrent_requests_per_account`).
    pub fn concurrent_requests_per_account(&self) -> usize {
        match self.limit_concurrent_requests_per_account {
            0 => (self.database_max_connections as usize / 2).max(1),
            n => n,
        }
    }

    pub fn keyring_path(&self) -> PathBuf {
        if let Some(f) = &self.keyring_file {
            return f.clone();
        }
        match self.data_dir.file_name() {
            Some(name) => {
                let mut sibling = name.to_os_string();
                sibling.push("-keyring");
                self.data_dir.with_file_name(sibling)
            }
            None => self.data_dir.join("keyring"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;

    #[derive(Serialize, Default)]
    struct NoFlags {}

    /// docs/configuration.md lists every key once, with its variable, its flag (where one
    /// exists) and its default as the struct has it.
    #[test]
    fn the_configuration_reference_matches_the_struct() {
        let doc = include_str!("../docs/configuration.md");
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let flags = [
            "data_dir",
            "database_url",
            "listen",
            "metrics_listen",
            "public_url",
            "region",
            "tls_cert_file",
            "tls_key_file",
            "workers",
            "log_format",
        ];
        let mut seen = Vec::new();
        for line in doc.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split(" | ").map(|c| c.trim_matches(|ch| ch == '|' || ch == ' ')).collect();
            let key = cells[0].trim_matches('`');
            seen.push(key.to_owned());
            assert_eq!(cells[1], format!("`SLUICE_{}`", key.to_uppercase()), "{key}: variable");
            let flag = format!("`--{}`", key.replace('_', "-"));
            assert_eq!(cells[2] == flag, flags.contains(&key), "{key}: flag column '{}'", cells[2]);
            let want = match defaults.get(key) {
                None | Some(serde_json::Value::Null) => "unset".to_owned(),
                Some(serde_json::Value::String(s)) => format!("`{s}`"),
                Some(serde_json::Value::Array(a)) if a.is_empty() => "`[]`".to_owned(),
                Some(v) => format!("`{v}`"),
            };
            assert_eq!(cells[3], want, "{key}: default");
        }
        let mut keys: Vec<String> = Config::keys().iter().map(|k| (*k).to_owned()).collect();
        keys.sort();
        let mut listed = seen.clone();
        listed.sort();
        listed.dedup();
        assert_eq!(listed.len(), seen.len(), "a key is listed twice");
        assert_eq!(listed, keys, "keys missing from (or unknown to) docs/configuration.md");
    }

    #[test]
    fn keys_list_every_field_of_the_struct() {
        let c = Config {
            public_url: Some("https://x".into()),
            database_url: Some("postgres://x".into()),
            pg_bin_dir: Some("/x".into()),
            wal_archive_dir: Some("/x".into()),
            tls_cert_file: Some("/x".into()),
            tls_key_file: Some("/x".into()),
            master_key_file: Some("/x".into()),
            keyring_file: Some("/x".into()),
            keyring_passphrase_file: Some("/x".into()),
            metrics_token_file: Some("/x".into()),
            pkcs11_module: Some("/x".into()),
            pkcs11_token_label: Some("x".into()),
            pkcs11_pin_file: Some("/x".into()),
            aws_kms_key_id: Some("x".into()),
            aws_kms_region: Some("x".into()),
            aws_kms_endpoint: Some("x".into()),
            bootstrap: Some(true),
            ..Default::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        let mut keys = Config::keys();
        keys.sort();
        assert_eq!(fields, keys);
    }

    #[test]
    fn file_then_environment_then_flags_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sluice.toml");
        std::fs::write(&file, "region = \"eu-west-1\"\nworkers = 3\nlisten = \"127.0.0.1:1\"\n").unwrap();
        #[derive(Serialize)]
        struct Flags {
            listen: &'static str,
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_WORKERS", "5");
            jail.set_env("SLUICE_UNRELATED_TEST_SETTING", "ignored");
            let c = Config::load(Some(&file), Flags { listen: "127.0.0.1:2" }).unwrap();
            assert_eq!(c.region, "eu-west-1");
            assert_eq!(c.workers, 5);
            assert_eq!(c.listen.port(), 2);
            assert_eq!(c.bootstrap_account_name, "default");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sluice.toml");
        std::fs::write(&file, "regoin = \"eu-west-1\"\n").unwrap();
        let err = Config::load(Some(&file), NoFlags::default()).unwrap_err();
        assert!(err.to_string().contains("regoin"), "{err}");
    }

    #[test]
    fn bootstrap_is_on_with_the_managed_database_and_opt_in_with_an_external_one() {
        let managed = Config::default();
        assert!(managed.bootstraps());
        let external = Config { database_url: Some("postgres://db/sluice".into()), ..Config::default() };
        assert!(!external.bootstraps());
        assert!(Config { bootstrap: Some(true), ..external.clone() }.bootstraps());
        assert!(!Config { bootstrap: Some(false), ..managed }.bootstraps());
    }

    #[test]
    fn a_mistyped_variable_is_reported_with_the_setting_it_meant() {
        let vars = [
            "SLUICE_REGOIN",
            "SLUICE_REGION",
            "SLUICE_DATABSE_URL",
            "SLUICE_LIMIT_REQUEST_PER_SECOND",
            "SLUICE_TEST_DATABASE_URL",
            "SLUICE_REQUIRE_AWS_CLI",
            "SLUICE_CONFIG",
            "SLUICE_SOMETHING_ELSE_ENTIRELY",
            "PATH",
        ];
        let got = Config::unknown_env_vars(vars.iter().map(|v| (*v).to_owned()));
        let got: Vec<(&str, Option<&str>)> = got.iter().map(|(v, k)| (v.as_str(), k.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                ("SLUICE_REGOIN", Some("SLUICE_REGION")),
                ("SLUICE_DATABSE_URL", Some("SLUICE_DATABASE_URL")),
                ("SLUICE_LIMIT_REQUEST_PER_SECOND", Some("SLUICE_LIMIT_REQUESTS_PER_SECOND")),
                ("SLUICE_SOMETHING_ELSE_ENTIRELY", None),
            ]
        );
    }

    #[test]
    fn an_account_id_or_label_of_digits_in_the_environment_stays_text() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_BOOTSTRAP_ACCOUNT_ID", "123456789012");
            jail.set_env("SLUICE_PKCS11_TOKEN_LABEL", "4242");
            let c = Config::load(None, NoFlags::default()).unwrap();
            assert_eq!(c.bootstrap_account_id, "123456789012");
            assert_eq!(c.pkcs11_token_label.as_deref(), Some("4242"));
            Ok(())
        });
    }

    /// Every variable of docs/configuration.md, set once (with its partner where a setting
    /// needs one), lands in its setting as written; text settings keep digits and leading
    /// zeros.
    #[test]
    fn every_documented_variable_is_read_as_written() {
        let doc = include_str!("../docs/configuration.md");
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let keys: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("| `"))
            .filter_map(|l| l.trim_start_matches("| `").split('`').next())
            .collect();
        assert_eq!(keys.len(), Config::keys().len());
        for key in keys {
            // (value to set, the setting as it serializes afterwards)
            let (value, want): (String, serde_json::Value) = match key {
                "listen" | "metrics_listen" => ("127.0.0.2:4321".into(), "127.0.0.2:4321".into()),
                "trusted_proxies" => (r#"["10.0.0.0/8"]"#.into(), serde_json::json!(["10.0.0.0/8"])),
                "public_url" => ("https://0123.example:4443".into(), "https://0123.example:4443".into()),
                "database_url" => ("postgres://h/0123".into(), serde_json::Value::Null),
                "key_provider" => ("pkcs11".into(), "pkcs11".into()),
                "bootstrap_account_id" => ("000000000001".into(), "000000000001".into()),
                "bootstrap" => ("false".into(), false.into()),
                "log_format" => ("json".into(), "json".into()),
                // Text: strings and paths (unset options included).
                _ if defaults.get(key).is_none_or(|d| d.is_string() || d.is_null()) => ("0123".into(), "0123".into()),
                _ => {
                    let n = defaults[key].as_u64().unwrap_or_else(|| panic!("{key}: no sample value"));
                    let v = if n > 1 { n - 1 } else { n + 1 };
                    (v.to_string(), v.into())
                }
            };
            figment::Jail::expect_with(|jail| {
                jail.set_env(format!("SLUICE_{}", key.to_uppercase()), &value);
                if key == "tls_cert_file" {
                    jail.set_env("SLUICE_TLS_KEY_FILE", "k");
                } else if key == "tls_key_file" {
                    jail.set_env("SLUICE_TLS_CERT_FILE", "c");
                }
                let c = Config::load(None, NoFlags::default()).map_err(|e| format!("{key}={value}: {e}"))?;
                if key == "database_url" {
                    use secrecy::ExposeSecret;
                    assert_eq!(c.database_url.as_ref().map(|u| u.expose_secret().to_owned()), Some(value.clone()));
                } else {
                    assert_eq!(serde_json::to_value(&c).unwrap()[key], want, "{key}={value}");
                }
                Ok(())
            });
        }
    }

    #[test]
    fn bad_values_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_BOOTSTRAP_ACCOUNT_ID", "12");
            assert!(Config::load(None, NoFlags::default()).is_err());
            Ok(())
        });
    }
}
