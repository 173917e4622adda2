//! The `aws-kms` key provider: master keys in AWS KMS, or any endpoint speaking its API
//! (moto_server in tests).
//!
//! The service key is the configured key id (an id, ARN or alias). An account's key named
//! `NAME` is a KMS key with the alias `alias/sluice/NAME`. Data keys come from
//! GenerateDataKey (AES_256) with the encryption context given as KMS's encryption context,
//! so KMS binds and logs it; Decrypt pins the key id; a re-wrap is ReEncrypt, so the data
//! key never leaves KMS in clear for it. The plaintext of a data key is copied into a
//! zeroizing buffer and the SDK's copy wiped.

use std::collections::HashMap;

use aws_sdk_kms::Client;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::{Zeroize, Zeroizing};

use super::provider::{DataKey, EncryptionContext, KeyInfo, KeyProvider, KmsError, PlainKey, ProviderFuture};

/// A KMS endpoint and the service key in it.
pub struct AwsKmsProvider {
    client: Client,
    service_key: String,
}

impl std::fmt::Debug for AwsKmsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsProvider").field("service_key", &self.service_key).finish_non_exhaustive()
    }
}

/// How to reach KMS.
#[derive(Debug, Clone)]
pub struct AwsKmsOptions {
    pub region: String,
    /// An endpoint other than AWS's (an API-compatible service).
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: secrecy::SecretString,
    pub session_token: Option<secrecy::SecretString>,
    /// The service key: key id, key ARN or alias.
    pub service_key: String,
}

/// Maps an SDK failure: no answer (timeouts, connection failures) and 5xx answers are
/// `Unavailable`; KMS's own refusals are permanent.
fn map<E: ProvideErrorMetadata, R>(e: SdkError<E, R>) -> KmsError
where
    R: std::fmt::Debug,
{
    let server_fault = matches!(&e, SdkError::ServiceError(_)) && {
        let code = e.code().unwrap_or("");
        code.contains("Internal") || code.contains("Unavailable") || code.contains("Throttling")
    };
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return KmsError::Unavailable(format!("KMS did not answer: {e}"));
        }
        _ if server_fault => return KmsError::Unavailable(format!("KMS: {}", e.code().unwrap_or("error"))),
        _ => {}
    }
    let code = e.code().unwrap_or("Unknown").to_owned();
    let message = e.message().unwrap_or("").to_owned();
    match code.as_str() {
        "NotFoundException" => KmsError::NotFound(message),
        "InvalidCiphertextException" | "IncorrectKeyException" => KmsError::InvalidCiphertext,
        _ => KmsError::Denied(format!("{code}: {message}")),
    }
}

fn context_map(ctx: &EncryptionContext) -> HashMap<String, String> {
    ctx.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn plain(mut blob: Vec<u8>) -> Result<PlainKey, KmsError> {
    if blob.len() != 32 {
        blob.zeroize();
        return Err(KmsError::InvalidCiphertext);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&blob);
    blob.zeroize();
    Ok(PlainKey(key))
}

impl AwsKmsProvider {
    pub fn new(o: AwsKmsOptions) -> Self {
        use secrecy::ExposeSecret;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let credentials = aws_credential_types::Credentials::new(
            o.access_key_id,
            o.secret_access_key.expose_secret(),
            o.session_token.as_ref().map(|t| t.expose_secret().to_owned()),
            None,
            "sluice-config",
        );
        let mut conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(o.region))
            .credentials_provider(credentials)
            .http_client(http);
        if let Some(e) = o.endpoint {
            conf = conf.endpoint_url(e);
        }
        Self { client: Client::from_conf(conf.build()), service_key: o.service_key }
    }

    /// The KMS key id a provider key name stands for.
    fn key_id(&self, name: &str) -> String {
        if name == super::provider::SERVICE_KEY { self.service_key.clone() } else { format!("alias/sluice/{name}") }
    }
}

impl KeyProvider for AwsKmsProvider {
    fn id(&self) -> &'static str {
        "aws-kms"
    }

    fn generate_data_key<'a>(&'a self, master_key: &'a str, ctx: &'a EncryptionContext) -> ProviderFuture<'a, DataKey> {
        Box::pin(async move {
            let out = self
                .client
                .generate_data_key()
                .key_id(self.key_id(master_key))
                .key_spec(DataKeySpec::Aes256)
                .set_encryption_context(Some(context_map(ctx)))
                .send()
                .await
                .map_err(map)?;
            let wrapped = out.ciphertext_blob().map(|b| b.as_ref().to_vec()).ok_or(KmsError::InvalidCiphertext)?;
            let plaintext = plain(out.plaintext.map(Blob::into_inner).ok_or(KmsError::InvalidCiphertext)?)?;
            Ok(DataKey { plaintext, wrapped })
        })
    }

    fn decrypt_data_key<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, PlainKey> {
        Box::pin(async move {
            let out = self
                .client
                .decrypt()
                .key_id(self.key_id(master_key))
                .ciphertext_blob(Blob::new(wrapped))
                .set_encryption_context(Some(context_map(ctx)))
                .send()
                .await
                .map_err(map)?;
            plain(out.plaintext.map(Blob::into_inner).ok_or(KmsError::InvalidCiphertext)?)
        })
    }

    fn rewrap<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let key = self.key_id(master_key);
            let out = self
                .client
                .re_encrypt()
                .ciphertext_blob(Blob::new(wrapped))
                .source_key_id(&key)
                .set_source_encryption_context(Some(context_map(ctx)))
                .destination_key_id(&key)
                .set_destination_encryption_context(Some(context_map(ctx)))
                .send()
                .await
                .map_err(map)?;
            out.ciphertext_blob().map(|b| b.as_ref().to_vec()).ok_or(KmsError::InvalidCiphertext)
        })
    }

    fn create_key<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        Box::pin(async move {
            if let Ok(info) = self.describe(master_key).await {
                return Ok(info);
            }
            let out = self
                .client
                .create_key()
                .description(format!("Sluice master key {master_key}"))
                .send()
                .await
                .map_err(map)?;
            let id = out
                .key_metadata()
                .map(|m| m.key_id().to_owned())
                .ok_or_else(|| KmsError::Config("no key id".into()))?;
            self.client
                .create_alias()
                .alias_name(self.key_id(master_key))
                .target_key_id(id)
                .send()
                .await
                .map_err(map)?;
            self.describe(master_key).await
        })
    }

    fn describe<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        Box::pin(async move {
            let out = self.client.describe_key().key_id(self.key_id(master_key)).send().await.map_err(map)?;
            let arn = out.key_metadata().and_then(|m| m.arn()).unwrap_or_default().to_owned();
            // KMS keeps its key material versions to itself; a rotation keeps the key id.
            Ok(KeyInfo { provider: "aws-kms", master_key: arn, current_version: "kms".into(), versions: 1 })
        })
    }

    fn rotate<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        Box::pin(async move {
            // Rotation and deletion take a key id or ARN, not an alias.
            let arn = self.describe(master_key).await?.master_key;
            self.client.rotate_key_on_demand().key_id(arn).send().await.map_err(map)?;
            self.describe(master_key).await
        })
    }

    fn destroy<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            // KMS's shortest waiting period; the key is unusable from now on.
            let arn = self.describe(master_key).await?.master_key;
            self.client.schedule_key_deletion().key_id(arn).pending_window_in_days(7).send().await.map_err(map)?;
            Ok(())
        })
    }
}
