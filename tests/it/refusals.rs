//! A refused request changes nothing: message rows (count, receive counts, visibility) and
//! queue attributes (LastModifiedTimestamp included) are the same before and after each
//! refusal.

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName as N};
use base64::prelude::*;

use crate::harness::{TestServer, error_code};

#[derive(Debug, PartialEq)]
struct Snapshot {
    attributes: std::collections::BTreeMap<String, String>,
    rows: Vec<(uuid::Uuid, i32, chrono::DateTime<chrono::Utc>)>,
}

async fn snapshot(s: &TestServer, sqs: &aws_sdk_sqs::Client, account: &str, name: &str, url: &str) -> Snapshot {
    let out = sqs.get_queue_attributes().queue_url(url).attribute_names(N::All).send().await.unwrap();
    let attributes = out.attributes().unwrap().iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect();
    let rows = sqlx::query_as(
        "SELECT m.id, m.receive_count, m.visible_at FROM messages m JOIN queues q ON q.id = m.queue_id
         WHERE q.account_id = $1 AND q.name = $2 ORDER BY m.id",
    )
    .bind(account)
    .bind(name)
    .fetch_all(s.store.pool())
    .await
    .unwrap();
    Snapshot { attributes, rows }
}

fn string_attr(dt: &str, v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type(dt).string_value(v).build().unwrap()
}

#[tokio::test]
async fn every_refused_request_leaves_queue_and_messages_unchanged() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs
        .create_queue()
        .queue_name("guarded")
        .attributes(N::MaximumMessageSize, "1024")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let other = sqs.create_queue().queue_name("other").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.send_message().queue_url(&url).message_body("waiting").send().await.unwrap();
    sqs.send_message().queue_url(&url).message_body("in flight").send().await.unwrap();
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    let handle = got.messages()[0].receipt_handle().unwrap().to_owned();
    sqs.send_message().queue_url(&other).message_body("x").send().await.unwrap();
    let other_handle = sqs.receive_message().queue_url(&other).send().await.unwrap().messages()[0]
        .receipt_handle()
        .unwrap()
        .to_owned();
    let mut flipped = BASE64_URL_SAFE_NO_PAD.decode(&handle).unwrap();
    flipped[30] ^= 0x01;
    let flipped = BASE64_URL_SAFE_NO_PAD.encode(flipped);
    let truncated = handle[..handle.len() - 4].to_owned();
    let intruder = s.sqs(&s.account().await);

    let before = snapshot(&s, &sqs, &a.id, "guarded", &url).await;
    let mut refusals: Vec<(&str, String)> = Vec::new();
    macro_rules! refused {
        ($what:expr, $call:expr) => {{
            let err = $call.send().await.expect_err($what);
            refusals.push(($what, error_code(&err)));
            assert_eq!(snapshot(&s, &sqs, &a.id, "guarded", &url).await, before, "{} changed state", $what);
        }};
    }
    let send = || sqs.send_message().queue_url(&url);
    refused!("control character", send().message_body("a\u{0}b"));
    refused!("too large", send().message_body("x".repeat(1025)));
    refused!(
        "too large with attributes",
        send().message_body("x".repeat(1000)).message_attributes("a", string_attr("String", &"v".repeat(30)))
    );
    refused!("empty body", send().message_body(""));
    refused!("delay", send().message_body("x").delay_seconds(901));
    refused!("attribute name", send().message_body("x").message_attributes("AWS.reserved", string_attr("String", "v")));
    refused!("attribute type", send().message_body("x").message_attributes("a", string_attr("Float", "1")));
    refused!("attribute number", send().message_body("x").message_attributes("a", string_attr("Number", "1e")));
    refused!("dedup id on a standard queue", send().message_body("x").message_deduplication_id("d"));
    refused!(
        "eleven attributes",
        (0..11)
            .fold(send().message_body("x"), |r, i| r.message_attributes(format!("a{i}"), string_attr("String", "v")))
    );
    refused!("receive max", sqs.receive_message().queue_url(&url).max_number_of_messages(11));
    refused!("receive visibility", sqs.receive_message().queue_url(&url).visibility_timeout(43_201));
    refused!("receive wait", sqs.receive_message().queue_url(&url).wait_time_seconds(21));
    for (what, h) in
        [("flipped handle", &flipped), ("truncated handle", &truncated), ("other queue's handle", &other_handle)]
    {
        refused!(what, sqs.delete_message().queue_url(&url).receipt_handle(h));
        refused!(what, sqs.change_message_visibility().queue_url(&url).receipt_handle(h).visibility_timeout(0));
    }
    refused!(
        "visibility range",
        sqs.change_message_visibility().queue_url(&url).receipt_handle(&handle).visibility_timeout(-1)
    );
    refused!("set attributes", sqs.set_queue_attributes().queue_url(&url).attributes(N::DelaySeconds, "1000"));
    refused!("create with other attributes", sqs.create_queue().queue_name("guarded").attributes(N::DelaySeconds, "5"));
    refused!("another account", intruder.send_message().queue_url(&url).message_body("x"));
    refused!("another account purge", intruder.purge_queue().queue_url(&url));

    for (what, code) in &refusals {
        let expected = match *what {
            "control character" => "InvalidMessageContents",
            "empty body" => "MissingParameter",
            "flipped handle" | "truncated handle" | "other queue's handle" => "ReceiptHandleIsInvalid",
            "set attributes" => "InvalidAttributeValue",
            "create with other attributes" => "QueueAlreadyExists",
            "another account" | "another account purge" => "AccessDenied",
            _ => "InvalidParameterValue",
        };
        assert_eq!(code, expected, "{what}");
    }
}
