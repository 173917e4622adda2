//! TagQueue, UntagQueue, ListQueueTags, and tags on CreateQueue.

use crate::harness::{TestServer, error_code};

#[tokio::test]
async fn tags_are_added_overwritten_listed_and_removed() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs
        .create_queue()
        .queue_name("tagged")
        .tags("team", "payments")
        .tags("env", "dev")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().len(), 2);
    sqs.tag_queue().queue_url(&url).tags("env", "prod").tags("cost", "").send().await.unwrap();
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    let t = tags.tags().unwrap();
    assert_eq!((t["env"].as_str(), t["cost"].as_str(), t.len()), ("prod", "", 3));
    sqs.untag_queue().queue_url(&url).tag_keys("env").tag_keys("absent").send().await.unwrap();
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().len(), 2);
    sqs.untag_queue().queue_url(&url).tag_keys("team").tag_keys("cost").send().await.unwrap();
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert!(tags.tags().is_none_or(|t| t.is_empty()));
}

#[tokio::test]
async fn tag_limits_are_enforced_and_refusals_change_nothing() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("limits").send().await.unwrap().queue_url().unwrap().to_owned();
    let mut req = sqs.tag_queue().queue_url(&url);
    for i in 0..50 {
        req = req.tags(format!("k{i}"), "v");
    }
    req.send().await.unwrap();
    let err = sqs.tag_queue().queue_url(&url).tags("one-more", "v").send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    // Overwriting an existing key stays within the limit.
    sqs.tag_queue().queue_url(&url).tags("k0", "changed").send().await.unwrap();
    for (k, v) in [("aws:reserved", "v"), ("", "v"), (&"k".repeat(129)[..], "v"), ("k1", &"v".repeat(257)[..])] {
        let err = sqs.tag_queue().queue_url(&url).tags(k, v).send().await.unwrap_err();
        assert_eq!(error_code(&err), "InvalidParameterValue", "{k}");
    }
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().len(), 50);
    assert_eq!(tags.tags().unwrap()["k0"], "changed");
    assert_eq!(tags.tags().unwrap()["k1"], "v");
    let err = sqs.create_queue().queue_name("bad-tags").tags("aws:x", "v").send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    let err = sqs.get_queue_url().queue_name("bad-tags").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_does_not_exist(), "a refused create makes no queue");
}
