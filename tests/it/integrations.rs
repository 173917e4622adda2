//! Service integrations: registration, the sources they may claim, and their bearer tokens.

use secrecy::ExposeSecret;
use sluice::crypto::token::TokenError;
use sluice::tenancy::TenancyError;

use crate::harness::TestServer;

fn bucket() -> String {
    format!("uploads-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn integrations_claim_only_their_own_accounts_sources() {
    let s = TestServer::start().await;
    let (a, b) = (s.account().await, s.account().await);
    let bucket = bucket();
    let i = s.tenancy.create_integration(&a.id, "s3.amazonaws.com", std::slice::from_ref(&bucket)).await.unwrap();
    assert_eq!((i.account_id.as_str(), i.sources.as_slice()), (a.id.as_str(), std::slice::from_ref(&bucket)));
    // A second integration of the same account may share the bucket; another account may not.
    s.tenancy.create_integration(&a.id, "s3.amazonaws.com", std::slice::from_ref(&bucket)).await.unwrap();
    let err = s.tenancy.create_integration(&b.id, "s3.amazonaws.com", std::slice::from_ref(&bucket)).await.unwrap_err();
    assert!(matches!(&err, TenancyError::InvalidInput(m) if m.contains("another account")), "{err}");
    // All or nothing: B's refused registration claimed none of its other buckets either.
    let other = self::bucket();
    let err = s.tenancy.create_integration(&b.id, "s3.amazonaws.com", &[other.clone(), bucket.clone()]).await;
    assert!(err.is_err());
    s.tenancy.create_integration(&a.id, "s3.amazonaws.com", std::slice::from_ref(&other)).await.unwrap();
    assert!(s.tenancy.list_integrations(&b.id).await.unwrap().is_empty());
    assert_eq!(s.tenancy.list_integrations(&a.id).await.unwrap().len(), 3);

    // Topics: only ARNs of the registering account.
    let own = format!("arn:aws:sns:local:{}:orders", a.id);
    s.tenancy.create_integration(&a.id, "sns.amazonaws.com", &[own]).await.unwrap();
    let foreign = format!("arn:aws:sns:local:{}:orders", b.id);
    let err = s.tenancy.create_integration(&a.id, "sns.amazonaws.com", &[foreign]).await.unwrap_err();
    assert!(matches!(err, TenancyError::InvalidInput(_)));
    // Bad input.
    for (service, sources) in [
        ("lambda.amazonaws.com", vec![bucket.clone()]),
        ("s3.amazonaws.com", vec![]),
        ("s3.amazonaws.com", vec!["Not_A_Bucket".to_owned()]),
    ] {
        let err = s.tenancy.create_integration(&a.id, service, &sources).await.unwrap_err();
        assert!(matches!(err, TenancyError::InvalidInput(_)), "{service} {sources:?}: {err}");
    }
    let err = s.tenancy.create_integration("999999999990", "s3.amazonaws.com", &[self::bucket()]).await.unwrap_err();
    assert!(matches!(err, TenancyError::NoSuchEntity(_)));
}

#[tokio::test]
async fn integration_tokens_overlap_on_rotation_and_end_with_revocation_or_key_retirement() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let i = s.tenancy.create_integration(&a.id, "s3.amazonaws.com", &[bucket()]).await.unwrap();
    let t1 = s.tenancy.issue_integration_token(&a.id, &i.id, 3600).await.unwrap();
    let now = sluice::clock::Clock::now(s.clock.as_ref()).timestamp();
    let v = s.tenancy.token_verifier().await.unwrap();
    let c = v.verify(t1.token.expose_secret(), now).unwrap();
    assert_eq!((c.sub.as_str(), c.acct.as_str(), c.svc.as_str()), (i.id.as_str(), a.id.as_str(), "s3.amazonaws.com"));
    assert_eq!(c.exp, t1.expires_at.timestamp());
    assert_eq!(v.verify(t1.token.expose_secret(), now + 3600), Err(TokenError::Expired));

    // A second token (rotation) while the first stays valid.
    let t2 = s.tenancy.issue_integration_token(&a.id, &i.id, 7200).await.unwrap();
    assert!(v.verify(t1.token.expose_secret(), now).is_ok() && v.verify(t2.token.expose_secret(), now).is_ok());

    // A new signing key: old tokens verify until the old key is retired.
    s.tenancy.rotate_signing_key(&a.id).await.unwrap();
    let t3 = s.tenancy.issue_integration_token(&a.id, &i.id, 3600).await.unwrap();
    let v = s.tenancy.token_verifier().await.unwrap();
    assert!(v.verify(t1.token.expose_secret(), now).is_ok() && v.verify(t3.token.expose_secret(), now).is_ok());
    assert_eq!(s.tenancy.retire_old_signing_keys(&a.id).await.unwrap(), 1);
    let v = s.tenancy.token_verifier().await.unwrap();
    assert_eq!(v.verify(t1.token.expose_secret(), now), Err(TokenError::UnknownKey));
    assert!(v.verify(t3.token.expose_secret(), now).is_ok());

    // Lifetimes are bounded; a revoked integration gets no new token.
    assert!(s.tenancy.issue_integration_token(&a.id, &i.id, 91 * 24 * 3600).await.is_err());
    s.tenancy.revoke_integration(&a.id, &i.id).await.unwrap();
    let err = s.tenancy.issue_integration_token(&a.id, &i.id, 3600).await.unwrap_err();
    assert!(matches!(err, TenancyError::NoSuchEntity(_)));
    assert!(s.tenancy.revoke_integration(&a.id, &i.id).await.is_err(), "already revoked");

    // The private key is sealed at rest.
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT private_sealed FROM integration_signing_keys WHERE account_id = $1")
            .bind(&a.id)
            .fetch_all(s.store.pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 2);
    for sealed in stored {
        assert!(!String::from_utf8_lossy(&sealed).contains("PRIVATE KEY"));
    }
}

#[tokio::test]
async fn deleting_an_account_removes_its_integrations_keys_and_bucket_claims() {
    let s = TestServer::start().await;
    let (a, b) = (s.account().await, s.account().await);
    let bucket = bucket();
    let i = s.tenancy.create_integration(&a.id, "s3.amazonaws.com", std::slice::from_ref(&bucket)).await.unwrap();
    let t = s.tenancy.issue_integration_token(&a.id, &i.id, 3600).await.unwrap();
    let now = sluice::clock::Clock::now(s.clock.as_ref()).timestamp();
    s.tenancy.delete_account(&a.id).await.unwrap();
    // Its signing keys are gone, so its tokens name a key nobody knows.
    let v = s.tenancy.token_verifier().await.unwrap();
    assert_eq!(v.verify(t.token.expose_secret(), now), Err(TokenError::UnknownKey));
    // The bucket is free for another account.
    s.tenancy.create_integration(&b.id, "s3.amazonaws.com", &[bucket]).await.unwrap();
}
