//! TLS: the development CA and certificate made on first start, and a certificate that is
//! served again from its files when they are renewed (no restart).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::{Clock, SystemClock};

/// The development CA and server certificate (localhost, 127.0.0.1, ::1), made with rcgen
/// on first start and reused after. Returns (certificate chain PEM, key PEM).
pub fn dev_certificates(data_dir: &Path) -> Result<(PathBuf, PathBuf), AppError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_pem = data_dir.join("ca.pem");
    let cert = data_dir.join("server.pem");
    let key = data_dir.join("server.key");
    if ca_pem.exists() && cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let tls = |e: rcgen::Error| AppError::Tls(e.to_string());
    let ca_key = KeyPair::generate().map_err(tls)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "Sluice development CA");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let year = chrono::Datelike::year(&SystemClock.now());
    ca_params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(tls)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()])
        .map_err(tls)?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let server_cert = params.signed_by(&server_key, &issuer).map_err(tls)?;

    write_file(&key, server_key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&cert, format!("{}{}", server_cert.pem(), ca_cert.pem()).as_bytes(), 0o644)?;
    write_file(&ca_pem, ca_cert.pem().as_bytes(), 0o644)?;
    Ok((cert, key))
}

/// Reads a certificate chain and its key into a key rustls can serve.
fn load_certified_key(
    cert: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<rustls::sign::CertifiedKey, AppError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let tls = |e: &dyn std::fmt::Display| AppError::Tls(e.to_string());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls(&format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls(&format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls(&format!("{}: {e}", key.display())))?;
    rustls::sign::CertifiedKey::from_der(certs, key, provider).map_err(|e| tls(&e))
}

/// The server's certificate, read again when its files change (checked at most once a
/// second, on a handshake), so a renewed certificate is served without a restart. A file
/// that does not load (say, half written) leaves the current certificate in place.
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>,
    checked: std::sync::Mutex<(std::time::Instant, Option<(std::time::SystemTime, std::time::SystemTime)>)>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert").field("cert", &self.cert).finish_non_exhaustive()
    }
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl rustls::server::ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        if let Ok(mut checked) = self.checked.lock()
            && checked.0.elapsed() >= Duration::from_secs(1)
        {
            checked.0 = std::time::Instant::now();
            let stamps = modified(&self.cert).zip(modified(&self.key));
            if stamps.is_some() && stamps != checked.1 {
                match load_certified_key(&self.cert, &self.key, &self.provider) {
                    Ok(k) => {
                        if let Ok(mut current) = self.current.write() {
                            *current = Arc::new(k);
                        }
                        checked.1 = stamps;
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the changed TLS certificate does not load; keeping the current one")
                    }
                }
            }
        }
        self.current.read().ok().map(|c| c.clone())
    }
}

pub(super) fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, AppError> {
    let tls = |e: &dyn std::fmt::Display| AppError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let first = load_certified_key(cert, key, &provider)?;
    let resolver = ReloadingCert {
        cert: cert.to_owned(),
        key: key.to_owned(),
        provider: provider.clone(),
        current: std::sync::RwLock::new(Arc::new(first)),
        checked: std::sync::Mutex::new((std::time::Instant::now(), modified(cert).zip(modified(key)))),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
