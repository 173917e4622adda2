//! Data keys under a key provider the test controls: outages, shredding, and what the
//! provider is asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aws_sdk_sqs::types::{MessageSystemAttributeName as M, QueueAttributeName as N};
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
        "local"
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

    s.queues.keys().clear_caches();
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
    s.queues.keys().clear_caches();
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
