//! SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch: whole-request checks,
//! and per-entry success or failure as SQS reports it.

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry as CvEntry, DeleteMessageBatchRequestEntry as DelEntry,
    MessageSystemAttributeName, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry as SendEntry,
};
use chrono::TimeDelta;

use crate::harness::{TestServer, error_code};

fn entry(id: &str, body: &str) -> SendEntry {
    SendEntry::builder().id(id).message_body(body).build().unwrap()
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue().queue_name(name).send().await.unwrap().queue_url().unwrap().to_owned()
}

#[tokio::test]
async fn send_batch_stores_good_entries_and_reports_bad_ones_without_failing_them() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&sqs, "sb").await;
    let out = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", "first"))
        .entries(entry("b", "bad \u{1} char"))
        .entries(SendEntry::builder().id("c").message_body("delayed").delay_seconds(901).build().unwrap())
        .entries(entry("d", "héllo"))
        .send()
        .await
        .unwrap();
    let ok: Vec<&str> = out.successful().iter().map(|e| e.id()).collect();
    assert_eq!(ok, ["a", "d"]);
    let d = &out.successful()[1];
    let expected = {
        use md5::{Digest, Md5};
        hex::encode(Md5::digest("héllo".as_bytes()))
    };
    assert_eq!(d.md5_of_message_body(), expected);
    let mut failed: Vec<(&str, &str, bool)> =
        out.failed().iter().map(|f| (f.id(), f.code(), f.sender_fault())).collect();
    failed.sort();
    assert_eq!(failed, [("b", "InvalidMessageContents", true), ("c", "InvalidParameterValue", true)]);
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let mut bodies: Vec<&str> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["first", "héllo"]);
}

#[tokio::test]
async fn malformed_batches_fail_whole_with_the_documented_error() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&sqs, "mb").await;
    let err = sqs.send_message_batch().queue_url(&url).set_entries(Some(vec![])).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_empty_batch_request(), "{err:?}");
    let eleven: Vec<SendEntry> = (0..11).map(|i| entry(&format!("e{i}"), "x")).collect();
    let err = sqs.send_message_batch().queue_url(&url).set_entries(Some(eleven)).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_too_many_entries_in_batch_request(), "{err:?}");
    let err = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("same", "1"))
        .entries(entry("same", "2"))
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_batch_entry_ids_not_distinct(), "{err:?}");
    let err = sqs.send_message_batch().queue_url(&url).entries(entry("bad id!", "1")).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_invalid_batch_entry_id(), "{err:?}");
    let big: Vec<SendEntry> = (0..2).map(|i| entry(&format!("e{i}"), &"x".repeat(600_000))).collect();
    let err = sqs.send_message_batch().queue_url(&url).set_entries(Some(big)).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_batch_request_too_long(), "{err:?}");
    assert_eq!(error_code(&err), "AWS.SimpleQueueService.BatchRequestTooLong");
    // Nothing of any refused batch was stored.
    assert!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
    let err = sqs
        .delete_message_batch()
        .queue_url(&url)
        .entries(DelEntry::builder().id("x").receipt_handle("h").build().unwrap())
        .entries(DelEntry::builder().id("x").receipt_handle("h").build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_batch_entry_ids_not_distinct(), "{err:?}");
    let err = sqs.change_message_visibility_batch().queue_url(&url).set_entries(Some(vec![])).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_empty_batch_request(), "{err:?}");
}

#[tokio::test]
async fn delete_batch_deletes_valid_handles_and_fails_bad_ones() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&sqs, "db").await;
    sqs.send_message_batch().queue_url(&url).entries(entry("1", "a")).entries(entry("2", "b")).send().await.unwrap();
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 2);
    let mut req = sqs.delete_message_batch().queue_url(&url);
    for (i, m) in got.messages().iter().enumerate() {
        req = req.entries(
            DelEntry::builder().id(format!("ok{i}")).receipt_handle(m.receipt_handle().unwrap()).build().unwrap(),
        );
    }
    let out = req
        .entries(DelEntry::builder().id("junk").receipt_handle("not-a-handle").build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.successful().len(), 2);
    assert_eq!(out.failed().len(), 1);
    assert_eq!((out.failed()[0].id(), out.failed()[0].code()), ("junk", "ReceiptHandleIsInvalid"));
    s.clock.advance(TimeDelta::seconds(31));
    assert!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
}

#[tokio::test]
async fn change_visibility_batch_applies_per_entry_rules() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&sqs, "cvb").await;
    sqs.send_message_batch()
        .queue_url(&url)
        .entries(entry("1", "a"))
        .entries(entry("2", "b"))
        .entries(entry("3", "c"))
        .send()
        .await
        .unwrap();
    let got =
        sqs.receive_message().queue_url(&url).max_number_of_messages(10).visibility_timeout(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 3);
    // Handles by body: a receive hands out messages of one batch in no particular order.
    let handle = |body: &str| {
        got.messages().iter().find(|m| m.body() == Some(body)).unwrap().receipt_handle().unwrap().to_owned()
    };
    let h = [handle("a"), handle("b"), handle("c")];
    let out = sqs
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(CvEntry::builder().id("release").receipt_handle(&h[0]).visibility_timeout(0).build().unwrap())
        .entries(CvEntry::builder().id("extend").receipt_handle(&h[1]).visibility_timeout(300).build().unwrap())
        .entries(CvEntry::builder().id("range").receipt_handle(&h[2]).visibility_timeout(43_201).build().unwrap())
        .entries(CvEntry::builder().id("junk").receipt_handle("junk").visibility_timeout(5).build().unwrap())
        .send()
        .await
        .unwrap();
    let mut ok: Vec<&str> = out.successful().iter().map(|e| e.id()).collect();
    ok.sort();
    assert_eq!(ok, ["extend", "release"]);
    let mut failed: Vec<(&str, &str)> = out.failed().iter().map(|f| (f.id(), f.code())).collect();
    failed.sort();
    assert_eq!(failed, [("junk", "ReceiptHandleIsInvalid"), ("range", "InvalidParameterValue")]);
    // Released at once; extended stays hidden past the original 10 s; the third comes back.
    assert_eq!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().len(), 1);
    s.clock.advance(TimeDelta::seconds(11));
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 1);
    assert_eq!(got.messages()[0].body(), Some("c"));
    // Not in flight any more.
    s.clock.advance(TimeDelta::seconds(400));
    let out = sqs
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(CvEntry::builder().id("late").receipt_handle(&h[1]).visibility_timeout(5).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed()[0].code(), "MessageNotInflight");
}

#[tokio::test]
async fn aws_trace_header_is_kept_returned_and_digested() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&sqs, "trace").await;
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let out = sqs
        .send_message()
        .queue_url(&url)
        .message_body("traced")
        .message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder().data_type("String").string_value(trace).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.md5_of_message_system_attributes(), Some("5ae4d5d7636402d80f4eb6d213245a88"));
    assert!(out.md5_of_message_attributes().is_none(), "system attributes are not user attributes");
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.attributes().unwrap()[&MessageSystemAttributeName::AwsTraceHeader], trace);
    assert!(m.md5_of_message_attributes().is_none());
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder().data_type("Number").string_value("1").build().unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
}
