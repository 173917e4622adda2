//! The audit trail: who changed what, when, from where, under which request id; never a
//! secret, never a refused or read-only call.

use aws_sdk_sqs::operation::RequestId;
use aws_sdk_sqs::types::QueueAttributeName as N;
use sluice::store::audit::AuditFilter;

use crate::harness::TestServer;
use crate::iam_api::{el, iam};

#[tokio::test]
async fn management_changes_are_recorded_with_actor_source_and_request_id_and_nothing_secret() {
    let s = TestServer::start().await;
    let (a, b) = (s.account().await, s.account().await);
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("audited").send().await.unwrap().queue_url().unwrap().to_owned();
    let set = sqs.set_queue_attributes().queue_url(&url).attributes(N::VisibilityTimeout, "45").send().await.unwrap();
    let set_request = set.request_id().unwrap().to_owned();
    sqs.get_queue_attributes().queue_url(&url).attribute_names(N::All).send().await.unwrap();
    sqs.send_message().queue_url(&url).message_body("not a management change").send().await.unwrap();
    let raw = s.raw(&a);
    assert_eq!(iam(&raw, "iam", &[("Action", "CreateUser"), ("UserName", "dev")]).await.status, 200);
    let key = iam(&raw, "iam", &[("Action", "CreateAccessKey"), ("UserName", "dev")]).await;
    let secret = el(&key.body, "SecretAccessKey").unwrap().to_owned();
    assert_eq!(iam(&raw, "iam", &[("Action", "ListUsers")]).await.status, 200);
    // Refused: another account cannot change A's queue, and nothing is recorded for it.
    let e = s.sqs(&b).set_queue_attributes().queue_url(&url).attributes(N::DelaySeconds, "5").send().await;
    assert!(e.is_err());

    let entries = s
        .tenancy
        .audit(&AuditFilter { account_id: Some(a.id.clone()), limit: 100, ..AuditFilter::default() })
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["sqs:CreateQueue", "sqs:SetQueueAttributes", "iam:CreateUser", "iam:CreateAccessKey"]);
    let root = format!("arn:aws:iam::{}:root", a.id);
    for e in &entries {
        assert_eq!(e.actor, root);
        assert_eq!(e.source_ip.as_deref(), Some("127.0.0.1"));
        assert!(e.request_id.is_some());
    }
    let set_entry = entries.iter().find(|e| e.action == "sqs:SetQueueAttributes").unwrap();
    assert_eq!(set_entry.request_id.as_deref(), Some(set_request.as_str()), "the id the client was given");
    assert_eq!(set_entry.resource, url);
    assert_eq!(set_entry.detail["AttributesChanged"], serde_json::json!(["VisibilityTimeout"]));
    let key_entry = entries.iter().find(|e| e.action == "iam:CreateAccessKey").unwrap();
    assert_eq!(key_entry.resource, "dev");
    let all = serde_json::to_string(&entries.iter().map(|e| &e.detail).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains(&secret), "no secret in the trail");
    let b_entries = s
        .tenancy
        .audit(&AuditFilter { account_id: Some(b.id.clone()), limit: 100, ..AuditFilter::default() })
        .await
        .unwrap();
    assert!(b_entries.is_empty(), "the refused change left no entry: {b_entries:?}");
    // Filters.
    let only = s
        .tenancy
        .audit(&AuditFilter {
            account_id: Some(a.id.clone()),
            action: Some("iam:CreateUser".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
}
