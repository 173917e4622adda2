//! Data keys under a key provider the test controls: outages, shredding, and what the
//! provider is asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aws_sdk_sqs::types::{MessageSystemAttributeName as M, QueueAttributeName as N, SendMessageBatchRequestEntry};
use chrono::TimeDelta;
use sluice::crypto::keyring::Keyring;
use sluice::crypto::provider::{DataKey, EncryptionContext, KeyInfo, KeyProvider, KmsError, PlainKey, ProviderFuture};

use crate::harness::{TestServer, error_code};

/// A keyring that can be switched off (every call `Unavailable`), and counts its calls.
pub struct FakeProvider {
    ring: Keyring,
    _dir: tempfile::TempDir,
    pub down: AtomicBool,
    pub generated: AtomicUsize,
    pub decrypted: AtomicUsize,
}

impl FakeProvider {
    pub fn new() -> Arc<Self> {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open_or_create(&dir.path().join("keyring")).unwrap();
        Arc::new(Self {
            ring,
            _dir: dir,
            down: AtomicBool::new(false),
            generated: AtomicUsize::new(0),
            decrypted: AtomicUsize::new(0),
        })
    }

    fn check(&self) -> Result<(), KmsError> {
        if self.down.load(Ordering::SeqCst) {
            Err(KmsError::Unavailable("switched off by the test".into()))
        } else {
            Ok(())
        }
    }
}

impl KeyProvider for FakeProvider {
    fn id(&self) -> &'static str {
        "fake"
    }

    fn generate_data_key<'a>(&'a self, master_key: &'a str, ctx: &'a EncryptionContext) -> ProviderFuture<'a, DataKey> {
        Box::pin(async move {
            self.check()?;
            self.generated.fetch_add(1, Ordering::SeqCst);
            self.ring.generate_data_key(master_key, ctx).await
        })
    }

    fn decrypt_data_key<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, PlainKey> {
        Box::pin(async move {
            self.check()?;
            self.decrypted.fetch_add(1, Ordering::SeqCst);
            self.ring.decrypt_data_key(master_key, wrapped, ctx).await
        })
    }

    fn rewrap<'a>(
        &'a self,
        master_key: &'a str,
        wrapped: &'a [u8],
        ctx: &'a EncryptionContext,
    ) -> ProviderFuture<'a, Vec<u8>> {
        Box::pin(async move {
            self.check()?;
            self.ring.rewrap(master_key, wrapped, ctx).await
        })
    }

    fn create_key<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        Box::pin(async move {
            self.check()?;
            self.ring.create_key(master_key).await
        })
    }

    fn describe<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        Box::pin(async move {
            self.check()?;
            self.ring.describe(master_key).await
        })
    }

    fn rotate<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, KeyInfo> {
        Box::pin(async move {
            self.check()?;
            self.ring.rotate(master_key).await
        })
    }

    fn destroy<'a>(&'a self, master_key: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            self.check()?;
            self.ring.destroy(master_key).await
        })
    }
}

#[tokio::test]
async fn cached_data_keys_keep_serving_while_the_provider_is_down() {
    let fake = FakeProvider::new();
    let s = TestServer::start_with_provider(fake.clone()).await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("jobs").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.send_message().queue_url(&url).message_body("before").send().await.unwrap();
    // One key made, verified by unwrapping it once, then reused.
    assert_eq!((fake.generated.load(Ordering::SeqCst), fake.decrypted.load(Ordering::SeqCst)), (1, 1));
    sqs.send_message().queue_url(&url).message_body("reused").send().await.unwrap();
    assert_eq!(fake.generated.load(Ordering::SeqCst), 1);

    fake.down.store(true, Ordering::SeqCst);
    sqs.send_message().queue_url(&url).message_body("during").send().await.unwrap();
    // Past the reuse period the provider would be asked again; it is down, so the cached
    // key keeps serving.
    s.clock.advance(TimeDelta::seconds(301));
    sqs.send_message().queue_url(&url).message_body("later").send().await.unwrap();
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let mut bodies: Vec<&str> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["before", "during", "later", "reused"]);
    // Readiness says degraded, not unready.
    let ready = reqwest::get(format!("{}/health/ready", s.metrics_url)).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert!(ready.text().await.unwrap().starts_with("degraded"));

    // Back up: the next send past the reuse period makes a new key.
    fake.down.store(false, Ordering::SeqCst);
    sqs.send_message().queue_url(&url).message_body("after").send().await.unwrap();
    assert_eq!(fake.generated.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn with_a_cold_cache_an_outage_fails_with_a_kms_error_and_moves_no_receive_count() {
    let fake = FakeProvider::new();
    let s = TestServer::start_with_provider(fake.clone()).await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let dlq = sqs.create_queue().queue_name("dead").send().await.unwrap().queue_url().unwrap().to_owned();
    let url = sqs.create_queue().queue_name("jobs").send().await.unwrap().queue_url().unwrap().to_owned();
    let redrive = format!(r#"{{"deadLetterTargetArn":"arn:aws:sqs:local:{}:dead","maxReceiveCount":"2"}}"#, a.id);
    sqs.set_queue_attributes().queue_url(&url).attributes(N::RedrivePolicy, redrive).send().await.unwrap();
    sqs.send_message().queue_url(&url).message_body("kept safe").send().await.unwrap();

    s.keys.clear_caches();
    fake.down.store(true, Ordering::SeqCst);
    let e = sqs.send_message().queue_url(&url).message_body("refused").send().await.unwrap_err();
    assert_eq!(error_code(&e), "KMS.ThrottlingException");
    for _ in 0..4 {
        let e = sqs.receive_message().queue_url(&url).send().await.unwrap_err();
        assert_eq!(error_code(&e), "KMS.ThrottlingException");
    }

    fake.down.store(false, Ordering::SeqCst);
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(M::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.body(), Some("kept safe"));
    assert_eq!(m.attributes().unwrap()[&M::ApproximateReceiveCount], "1", "the failed receives did not count");
    let dead = sqs.receive_message().queue_url(&dlq).send().await.unwrap();
    assert!(dead.messages().is_empty(), "nothing drained into the dead-letter queue");
    let all = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(N::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    assert_eq!(all.attributes().unwrap()[&N::ApproximateNumberOfMessages], "0", "the refused send stored nothing");
}

#[tokio::test]
async fn deleting_a_queue_shreds_its_data_keys_but_keeps_those_of_messages_in_its_dead_letter_queue() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let dlq = sqs.create_queue().queue_name("dead").send().await.unwrap().queue_url().unwrap().to_owned();
    let url = sqs.create_queue().queue_name("jobs").send().await.unwrap().queue_url().unwrap().to_owned();
    let redrive = format!(r#"{{"deadLetterTargetArn":"arn:aws:sqs:local:{}:dead","maxReceiveCount":"1"}}"#, a.id);
    sqs.set_queue_attributes().queue_url(&url).attributes(N::RedrivePolicy, redrive).send().await.unwrap();
    sqs.send_message().queue_url(&url).message_body("will die").send().await.unwrap();
    // Received once, then moved to the dead-letter queue by the next receive.
    sqs.receive_message().queue_url(&url).visibility_timeout(0).send().await.unwrap();
    sqs.receive_message().queue_url(&url).send().await.unwrap();
    // A second key for the queue, sealing a message that stays in it.
    s.clock.advance(TimeDelta::seconds(301));
    sqs.send_message().queue_url(&url).message_body("dies with the queue").send().await.unwrap();
    let keys_of = |id: uuid::Uuid| {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM queue_data_keys WHERE queue_id = $1")
            .bind(id)
            .fetch_one(s.store.pool())
    };
    let queue_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM queues WHERE account_id = $1 AND name = 'jobs'")
        .bind(&a.id)
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(keys_of(queue_id).await.unwrap(), 2);

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    assert_eq!(keys_of(queue_id).await.unwrap(), 1, "only the key sealing the dead letter is left");
    s.keys.clear_caches();
    let got = sqs.receive_message().queue_url(&dlq).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("will die"), "the dead letter still opens");
    // Its last message deleted, the dead-letter queue's deletion takes that key too.
    sqs.delete_queue().queue_url(&dlq).send().await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM queue_data_keys WHERE account_id = $1")
        .bind(&a.id)
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "the key kept for the moved message goes with the last message that needed it");
}

#[tokio::test]
async fn sse_attributes_select_the_accounts_own_master_keys_only() {
    let s = TestServer::start().await;
    let (a, b) = (s.account().await, s.account().await);
    let (sqs_a, sqs_b) = (s.sqs(&a), s.sqs(&b));
    let url = sqs_a.create_queue().queue_name("orders").send().await.unwrap().queue_url().unwrap().to_owned();
    let attrs = |sqs: aws_sdk_sqs::Client, url: String| async move {
        sqs.get_queue_attributes()
            .queue_url(url)
            .attribute_names(N::All)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()
            .clone()
    };
    let got = attrs(sqs_a.clone(), url.clone()).await;
    assert_eq!(got[&N::SqsManagedSseEnabled], "true", "SSE-SQS by default");
    assert!(!got.contains_key(&N::KmsMasterKeyId));

    let team = s.keys.create_master_key(&a.id, Some("alias/team")).await.unwrap();
    sqs_a.set_queue_attributes().queue_url(&url).attributes(N::KmsMasterKeyId, "alias/team").send().await.unwrap();
    let got = attrs(sqs_a.clone(), url.clone()).await;
    assert_eq!(got[&N::KmsMasterKeyId], "alias/team");
    assert_eq!(got[&N::SqsManagedSseEnabled], "false", "one SSE mode at a time");
    assert_eq!(got[&N::KmsDataKeyReusePeriodSeconds], "300");
    sqs_a.send_message().queue_url(&url).message_body("under the team key").send().await.unwrap();
    let wrapped_under: Vec<String> = sqlx::query_scalar(
        "SELECT k.master_key FROM queue_data_keys k JOIN queues q ON q.id = k.queue_id WHERE q.account_id = $1",
    )
    .bind(&a.id)
    .fetch_all(s.store.pool())
    .await
    .unwrap();
    assert_eq!(wrapped_under, [format!("acct-{}-{}", a.id, team.id)]);
    // The key id and its ARN name it too.
    let arn = format!("arn:aws:kms:local:{}:key/{}", a.id, team.id);
    for k in [team.id.as_str(), arn.as_str()] {
        sqs_a.set_queue_attributes().queue_url(&url).attributes(N::KmsMasterKeyId, k).send().await.unwrap();
    }

    // Another account may name it, as on SQS, but cannot use it: every send answers the
    // Kms* error and stores nothing; a name that exists nowhere is not found.
    let other = sqs_b.create_queue().queue_name("theirs").send().await.unwrap().queue_url().unwrap().to_owned();
    for (k, want) in [
        (arn.as_str(), "KMS.AccessDeniedException"),
        (team.id.as_str(), "KMS.AccessDeniedException"),
        ("alias/team", "KMS.NotFoundException"),
        ("alias/nowhere", "KMS.NotFoundException"),
    ] {
        sqs_b.set_queue_attributes().queue_url(&other).attributes(N::KmsMasterKeyId, k).send().await.unwrap();
        assert_eq!(attrs(sqs_b.clone(), other.clone()).await[&N::KmsMasterKeyId], k, "kept as written");
        let e = sqs_b.send_message().queue_url(&other).message_body("x").send().await.unwrap_err();
        assert_eq!(error_code(&e), want, "{k}");
        let e = sqs_b
            .send_message_batch()
            .queue_url(&other)
            .entries(SendMessageBatchRequestEntry::builder().id("a").message_body("x").build().unwrap())
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), want, "{k}: a batch");
    }
    let got = attrs(sqs_b.clone(), other.clone()).await;
    assert_eq!(got[&N::ApproximateNumberOfMessages], "0", "no refused send stored anything");
    // A key made after the queue named it serves the queue's next send.
    sqs_b.set_queue_attributes().queue_url(&other).attributes(N::KmsMasterKeyId, "alias/later").send().await.unwrap();
    let e = sqs_b.send_message().queue_url(&other).message_body("x").send().await.unwrap_err();
    assert_eq!(error_code(&e), "KMS.NotFoundException");
    let later = s.keys.create_master_key(&b.id, Some("alias/later")).await.unwrap();
    sqs_b.send_message().queue_url(&other).message_body("now sealed").send().await.unwrap();
    let wrapped_under: Vec<String> = sqlx::query_scalar(
        "SELECT k.master_key FROM queue_data_keys k JOIN queues q ON q.id = k.queue_id WHERE q.account_id = $1",
    )
    .bind(&b.id)
    .fetch_all(s.store.pool())
    .await
    .unwrap();
    assert_eq!(wrapped_under, [later.provider_key]);
    let got = sqs_b.receive_message().queue_url(&other).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("now sealed"));

    // Bad values.
    for (name, v) in [(N::KmsDataKeyReusePeriodSeconds, "59"), (N::SqsManagedSseEnabled, "yes")] {
        let e = sqs_a.set_queue_attributes().queue_url(&url).attributes(name, v).send().await.unwrap_err();
        assert_eq!(error_code(&e), "InvalidAttributeValue");
    }
    let e = sqs_a
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(N::SqsManagedSseEnabled, "true")
        .attributes(N::KmsMasterKeyId, "alias/team")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "InvalidAttributeValue");

    // SSE off: the attribute says so; bodies are sealed all the same (under the service key).
    sqs_a.set_queue_attributes().queue_url(&url).attributes(N::KmsMasterKeyId, "").send().await.unwrap();
    sqs_a.set_queue_attributes().queue_url(&url).attributes(N::SqsManagedSseEnabled, "false").send().await.unwrap();
    let got = attrs(sqs_a.clone(), url.clone()).await;
    assert_eq!(got[&N::SqsManagedSseEnabled], "false");
    assert!(!got.contains_key(&N::KmsMasterKeyId));
    s.clock.advance(TimeDelta::seconds(301));
    sqs_a.send_message().queue_url(&url).message_body("sse off").send().await.unwrap();
    let unsealed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN queues q ON q.id = m.queue_id WHERE q.account_id = $1 AND m.dek_id IS NULL",
    )
    .bind(&a.id)
    .fetch_one(s.store.pool())
    .await
    .unwrap();
    assert_eq!(unsealed, 0, "every body is sealed under a data key");
    let got = sqs_a.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 2);
}

#[tokio::test]
async fn rotating_a_master_key_rewraps_data_keys_and_old_messages_still_open_while_destroying_it_shreds_them() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("orders").send().await.unwrap().queue_url().unwrap().to_owned();
    let key = s.keys.create_master_key(&a.id, None).await.unwrap();
    sqs.set_queue_attributes().queue_url(&url).attributes(N::KmsMasterKeyId, &key.id).send().await.unwrap();
    sqs.send_message().queue_url(&url).message_body("before rotation").send().await.unwrap();
    let wrapped_version = || async {
        let w: Vec<u8> = sqlx::query_scalar("SELECT wrapped FROM queue_data_keys WHERE master_key = $1")
            .bind(&key.provider_key)
            .fetch_one(s.store.pool())
            .await
            .unwrap();
        u32::from_be_bytes([w[1], w[2], w[3], w[4]])
    };
    assert_eq!(wrapped_version().await, 1);

    let info = s.keys.provider().rotate(&key.provider_key).await.unwrap();
    assert_eq!(info.current_version, "2");
    let (rewrapped, _) = s.keys.rewrap_all().await.unwrap();
    assert!(rewrapped >= 1);
    assert_eq!(wrapped_version().await, 2, "the data key is wrapped under the new version");
    s.keys.clear_caches();
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("before rotation"), "bodies were not touched");

    // Destroying the key: what it sealed never opens again, and nothing new is sealed.
    sqs.send_message().queue_url(&url).message_body("lost for good").send().await.unwrap();
    let before = s.queues.unopenable_count();
    s.keys.destroy_master_key(&a.id, &key.id).await.unwrap();
    let e = sqs.send_message().queue_url(&url).message_body("refused").send().await.unwrap_err();
    assert_eq!(error_code(&e), "KMS.NotFoundException");
    s.clock.advance(TimeDelta::seconds(31));
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert!(got.messages().is_empty());
    assert_eq!(s.queues.unopenable_count() - before, 2, "both messages are set aside as unreadable");
}

#[tokio::test]
async fn deleting_an_account_destroys_its_master_keys_and_its_data_keys() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("orders").send().await.unwrap().queue_url().unwrap().to_owned();
    let key = s.keys.create_master_key(&a.id, Some("alias/gone")).await.unwrap();
    sqs.set_queue_attributes().queue_url(&url).attributes(N::KmsMasterKeyId, "alias/gone").send().await.unwrap();
    sqs.send_message().queue_url(&url).message_body("x").send().await.unwrap();
    let destroyed = sluice::boot::delete_account(&s.tenancy, &s.keys, &a.id).await.unwrap();
    assert_eq!(destroyed, 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM queue_data_keys WHERE account_id = $1")
        .bind(&a.id)
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    let e = s.keys.provider().describe(&key.provider_key).await.unwrap_err();
    assert!(matches!(e, KmsError::NotFound(_)), "{e}");
}

#[tokio::test]
async fn messages_sealed_under_the_master_key_before_data_keys_existed_still_open() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("old").send().await.unwrap().queue_url().unwrap().to_owned();
    let queue_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM queues WHERE account_id = $1 AND name = 'old'")
        .bind(&a.id)
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    // A row as the foundation wrote it: sealed format 1 under the service master key.
    let master = sluice::crypto::MasterKey::load_or_create(&crate::harness::master_key_file()).unwrap();
    let sealer = sluice::crypto::Sealer::new(master);
    let id = uuid::Uuid::new_v4();
    let ctx = sluice::crypto::Context::new("message-body").with(&a.id).with(queue_id.as_bytes()).with(id.as_bytes());
    let sealed = sealer.seal(b"written before data keys", &ctx).unwrap();
    sqlx::query(
        "INSERT INTO messages (queue_id, id, body_sealed, sender_id, sent_at, visible_at) VALUES ($1, $2, $3, $4, now(), now())",
    )
    .bind(queue_id)
    .bind(id)
    .bind(sealed)
    .bind(&a.id)
    .execute(s.store.pool())
    .await
    .unwrap();
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("written before data keys"));
}

/// A fresh SoftHSM2 token for this test (in the SoftHSM2 configuration in effect:
/// `SOFTHSM2_CONF`, which `.ci/run` points at a throwaway directory). None when SoftHSM2 is
/// not installed, which CI refuses (`SLUICE_REQUIRE_SOFTHSM`).
pub struct SoftHsmToken {
    pub module: std::path::PathBuf,
    pub label: String,
    pub pin_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SoftHsmToken {
    fn drop(&mut self) {
        let _ = std::process::Command::new("softhsm2-util").args(["--delete-token", "--token", &self.label]).output();
    }
}

pub fn softhsm_token() -> Option<SoftHsmToken> {
    let module = std::path::PathBuf::from("/usr/lib/softhsm/libsofthsm2.so");
    let util = std::process::Command::new("softhsm2-util").arg("--version").output();
    if !module.exists() || util.is_err() {
        assert!(
            std::env::var("SLUICE_REQUIRE_SOFTHSM").is_err(),
            "SLUICE_REQUIRE_SOFTHSM is set but SoftHSM2 is not installed"
        );
        eprintln!("skipping: SoftHSM2 is not installed (.ci/run installs it)");
        return None;
    }
    let label = format!("sluice-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let out = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", &label, "--so-pin", "so-secret-1", "--pin", "user-pin-1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "softhsm2-util: {}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, "user-pin-1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    Some(SoftHsmToken { module, label, pin_file, _dir: dir })
}

#[tokio::test]
async fn the_pkcs11_provider_wraps_in_the_token_rotates_and_destroys() {
    use sluice::crypto::pkcs11::Pkcs11Provider;
    let Some(token) = softhsm_token() else { return };
    let pin = secrecy::SecretString::from("user-pin-1".to_owned());
    let p = Pkcs11Provider::open(&token.module, &token.label, pin).unwrap();
    let ctx = |q: &str| EncryptionContext::new().with("acct", "111111111111").with("qid", q);
    p.create_key("default").await.unwrap();
    let dk = p.generate_data_key("default", &ctx("q1")).await.unwrap();
    assert_eq!(dk.wrapped.len(), 65);
    assert_eq!(*p.decrypt_data_key("default", &dk.wrapped, &ctx("q1")).await.unwrap().0, *dk.plaintext.0);
    assert_eq!(p.decrypt_data_key("default", &dk.wrapped, &ctx("q2")).await.unwrap_err(), KmsError::InvalidCiphertext);
    let mut flipped = dk.wrapped.clone();
    flipped[40] ^= 1;
    assert_eq!(p.decrypt_data_key("default", &flipped, &ctx("q1")).await.unwrap_err(), KmsError::InvalidCiphertext);
    // Rotation: old wraps still open; a rewrap moves to the new version.
    assert_eq!(p.rotate("default").await.unwrap().current_version, "2");
    assert!(p.decrypt_data_key("default", &dk.wrapped, &ctx("q1")).await.is_ok());
    let re = p.rewrap("default", &dk.wrapped, &ctx("q1")).await.unwrap();
    assert_eq!(u32::from_be_bytes([re[1], re[2], re[3], re[4]]), 2);
    assert_eq!(*p.decrypt_data_key("default", &re, &ctx("q1")).await.unwrap().0, *dk.plaintext.0);
    // Destroyed: nothing it wrapped opens again.
    p.destroy("default").await.unwrap();
    assert!(matches!(p.decrypt_data_key("default", &re, &ctx("q1")).await, Err(KmsError::NotFound(_))));
}

#[tokio::test]
async fn a_server_configured_for_pkcs11_seals_messages_under_the_token() {
    let Some(token) = softhsm_token() else { return };
    let (module, label, pin_file) = (token.module.clone(), token.label.clone(), token.pin_file.clone());
    let s = TestServer::start_with(move |c| {
        c.key_provider = "pkcs11".into();
        c.pkcs11_module = Some(module);
        c.pkcs11_token_label = Some(label);
        c.pkcs11_pin_file = Some(pin_file);
    })
    .await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("hsm").send().await.unwrap().queue_url().unwrap().to_owned();
    let key = s.keys.create_master_key(&a.id, Some("alias/hsm")).await.unwrap();
    assert_eq!(key.provider, "pkcs11");
    sqs.send_message().queue_url(&url).message_body("under the service key in the token").send().await.unwrap();
    sqs.set_queue_attributes().queue_url(&url).attributes(N::KmsMasterKeyId, "alias/hsm").send().await.unwrap();
    s.clock.advance(TimeDelta::seconds(301));
    sqs.send_message().queue_url(&url).message_body("under the account's key").send().await.unwrap();
    let providers: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT k.provider FROM queue_data_keys k JOIN queues q ON q.id = k.queue_id WHERE q.account_id = $1",
    )
    .bind(&a.id)
    .fetch_all(s.store.pool())
    .await
    .unwrap();
    assert_eq!(providers, ["pkcs11"]);
    s.keys.clear_caches();
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let mut bodies: Vec<&str> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["under the account's key", "under the service key in the token"]);
}

/// A moto_server (AWS KMS's API) on a free loopback port, stopped when dropped. None when
/// moto is not installed, which CI refuses (`SLUICE_REQUIRE_MOTO`).
pub struct Moto {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn moto() -> Option<Moto> {
    let Some(bin) = std::env::var_os("SLUICE_TEST_MOTO_SERVER") else {
        assert!(
            std::env::var("SLUICE_REQUIRE_MOTO").is_err(),
            "SLUICE_REQUIRE_MOTO is set but SLUICE_TEST_MOTO_SERVER is not"
        );
        eprintln!("skipping: no moto_server (.ci/run installs one)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto_server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Some(Moto { child, url: format!("http://127.0.0.1:{port}") })
}

pub fn kms_provider(m: &Moto) -> sluice::crypto::aws_kms::AwsKmsProvider {
    sluice::crypto::aws_kms::AwsKmsProvider::new(sluice::crypto::aws_kms::AwsKmsOptions {
        region: "us-east-1".into(),
        endpoint: Some(m.url.clone()),
        access_key_id: "testing".into(),
        secret_access_key: secrecy::SecretString::from("testing".to_owned()),
        session_token: None,
        service_key: "alias/sluice/default".into(),
    })
}

#[tokio::test]
async fn the_aws_kms_provider_round_trips_binds_its_context_and_survives_rotation() {
    let Some(m) = moto() else { return };
    let p = kms_provider(&m);
    let ctx = |q: &str| EncryptionContext::new().with("acct", "111111111111").with("qid", q);
    assert!(matches!(p.describe("default").await, Err(KmsError::NotFound(_))));
    let info = p.create_key("default").await.unwrap();
    assert!(info.master_key.starts_with("arn:aws:kms:us-east-1:"), "{info:?}");
    let dk = p.generate_data_key("default", &ctx("q1")).await.unwrap();
    assert_eq!(*p.decrypt_data_key("default", &dk.wrapped, &ctx("q1")).await.unwrap().0, *dk.plaintext.0);
    assert_eq!(p.decrypt_data_key("default", &dk.wrapped, &ctx("q2")).await.unwrap_err(), KmsError::InvalidCiphertext);
    p.rotate("default").await.unwrap();
    assert_eq!(*p.decrypt_data_key("default", &dk.wrapped, &ctx("q1")).await.unwrap().0, *dk.plaintext.0);
    let re = p.rewrap("default", &dk.wrapped, &ctx("q1")).await.unwrap();
    assert_eq!(*p.decrypt_data_key("default", &re, &ctx("q1")).await.unwrap().0, *dk.plaintext.0);
    // An endpoint that does not answer is an outage, not a refusal.
    drop(m);
    assert!(matches!(p.generate_data_key("default", &ctx("q1")).await, Err(KmsError::Unavailable(_))));
}

#[tokio::test]
async fn a_server_on_aws_kms_seals_under_the_service_key_and_account_keys() {
    let Some(m) = moto() else { return };
    let p = kms_provider(&m);
    p.create_key("default").await.unwrap();
    let s = TestServer::start_with_provider(Arc::new(p)).await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("kms").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.send_message().queue_url(&url).message_body("under the service key").send().await.unwrap();
    let key = s.keys.create_master_key(&a.id, Some("alias/orders")).await.unwrap();
    assert_eq!(key.provider, "aws-kms");
    sqs.set_queue_attributes().queue_url(&url).attributes(N::KmsMasterKeyId, "alias/orders").send().await.unwrap();
    s.clock.advance(TimeDelta::seconds(301));
    sqs.send_message().queue_url(&url).message_body("under the account's key").send().await.unwrap();
    s.keys.clear_caches();
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let mut bodies: Vec<&str> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["under the account's key", "under the service key"]);
    let (rewrapped, _) = s.keys.rewrap_all().await.unwrap();
    assert!(rewrapped >= 2, "ReEncrypt re-wraps every aws-kms data key");
}

#[tokio::test]
async fn a_server_with_a_passphrase_sealed_keyring_works_and_its_file_holds_no_key_in_clear() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (ring, pass) = (dir.path().join("keyring"), dir.path().join("passphrase"));
    std::fs::write(&pass, "a long passphrase for the keyring\n").unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Made before the server starts: the shared test database already holds other servers'
    // data keys, and a server refuses to make a new keyring in front of wrapped keys.
    let phrase = secrecy::SecretString::from("a long passphrase for the keyring".to_owned());
    Keyring::open_or_create_with(&ring, Some(phrase)).unwrap();
    let (r, p) = (ring.clone(), pass.clone());
    let s = TestServer::start_with(move |c| {
        c.keyring_file = Some(r);
        c.keyring_passphrase_file = Some(p);
    })
    .await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("sealed").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.send_message().queue_url(&url).message_body("behind a passphrase").send().await.unwrap();
    s.keys.clear_caches();
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("behind a passphrase"));
    let text = std::fs::read_to_string(&ring).unwrap();
    assert!(text.starts_with("SLUICE-KEYRING-SEALED 1") && !text.contains("key default"), "{text}");
    // The same file without the passphrase does not open.
    assert!(Keyring::open_or_create(&ring).is_err());
}

/// `sluice keys …` on a data directory, as an operator runs it beside a running server.
fn keys_cli(data: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(crate::harness::sluice_bin())
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("SLUICE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "sluice keys {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sluice_keys_rotate_rewraps_every_data_key_of_the_service_and_an_account_key_and_messages_still_open() {
    let scratch = crate::harness::Scratch::new();
    let data = scratch.data.clone();
    let mut served = scratch.serve();
    let sqs = served.sqs();
    let plain = sqs.create_queue().queue_name("plain").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.send_message().queue_url(&plain).message_body("under the service key").send().await.unwrap();
    let created = keys_cli(&data, &["create", "--account", "000000000000"]);
    let key_id = created.lines().find_map(|l| l.strip_prefix("key: ")).unwrap().to_owned();
    let own = sqs
        .create_queue()
        .queue_name("own")
        .attributes(N::KmsMasterKeyId, &key_id)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    sqs.send_message().queue_url(&own).message_body("under the account's key").send().await.unwrap();

    let out = keys_cli(&data, &["rotate"]);
    assert!(out.contains("is now at version 2"), "{out}");
    assert!(out.contains("data key(s) re-wrapped under current versions"), "{out}");
    let out = keys_cli(&data, &["rotate", "--key", &key_id, "--account", "000000000000"]);
    assert!(out.contains("is now at version 2"), "{out}");

    // Every data key is wrapped under version 2 now (the version follows the format byte).
    let cluster = sluice::store::local_pg::default_cluster_dir(&data);
    let pool = sqlx::PgPool::connect(&format!(
        "postgresql://postgres@localhost:5432/postgres?host={}",
        cluster.join("sock").display()
    ))
    .await
    .unwrap();
    let wrapped: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT wrapped FROM queue_data_keys").fetch_all(&pool).await.unwrap();
    pool.close().await;
    assert!(wrapped.len() >= 2, "{} data keys", wrapped.len());
    for w in &wrapped {
        assert_eq!(u32::from_be_bytes([w[1], w[2], w[3], w[4]]), 2);
    }
    let status = keys_cli(&data, &["status"]);
    assert!(status.lines().filter(|l| l.contains(" 2 ")).count() >= 2, "{status}");

    // A fresh start (no cached data key) opens what was sealed before the rotation.
    assert!(served.terminate().success());
    let served = scratch.serve();
    let sqs = served.sqs();
    for (url, body) in [(&plain, "under the service key"), (&own, "under the account's key")] {
        let got = sqs.receive_message().queue_url(url).send().await.unwrap();
        assert_eq!(got.messages()[0].body(), Some(body));
    }
}
