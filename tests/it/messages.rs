//! SendMessage, ReceiveMessage, DeleteMessage through the SDK.

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use chrono::TimeDelta;

use crate::harness::{TestServer, WaitEnd, error_code};

/// MD5OfMessageAttributes computed from the reference's definition (sqs-api.md §5.2),
/// independently of the server's code: (name, data type, transport byte, value bytes).
fn md5_of_attributes(attrs: &[(&str, &str, u8, &[u8])]) -> String {
    use md5::{Digest, Md5};
    let mut sorted = attrs.to_vec();
    sorted.sort_by_key(|a| a.0);
    let mut buf = Vec::new();
    for (name, dt, transport, value) in sorted {
        buf.extend_from_slice(&(name.len() as u32).to_be_bytes());
        buf.extend_from_slice(name.as_bytes());
        buf.extend_from_slice(&(dt.len() as u32).to_be_bytes());
        buf.extend_from_slice(dt.as_bytes());
        buf.push(transport);
        buf.extend_from_slice(&(value.len() as u32).to_be_bytes());
        buf.extend_from_slice(value);
    }
    hex::encode(Md5::digest(&buf))
}

#[tokio::test]
async fn md5s_match_an_independent_computation_for_custom_types_binary_cr_and_non_ascii() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "md5").await;
    let body = "first\r\nsecond\rthird ünïcødé 😀 \u{E000}";
    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body(body)
        .message_attributes(
            "zeta.note",
            MessageAttributeValue::builder().data_type("String.json").string_value("{\"a\":\"\r\"}").build().unwrap(),
        )
        .message_attributes(
            "amount",
            MessageAttributeValue::builder().data_type("Number.float").string_value("-1.50").build().unwrap(),
        )
        .message_attributes(
            "img",
            MessageAttributeValue::builder()
                .data_type("Binary.png")
                .binary_value(Blob::new(vec![0, 255, 13, 10]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let all = md5_of_attributes(&[
        ("zeta.note", "String.json", 1, b"{\"a\":\"\r\"}"),
        ("amount", "Number.float", 1, b"-1.50"),
        ("img", "Binary.png", 2, &[0, 255, 13, 10]),
    ]);
    assert_eq!(sent.md5_of_message_body(), Some(md5_hex(body).as_str()));
    assert_eq!(sent.md5_of_message_attributes(), Some(all.as_str()));
    let got = sqs.receive_message().queue_url(&url).message_attribute_names("All").send().await.unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.body(), Some(body));
    assert_eq!(m.md5_of_body(), Some(md5_hex(body).as_str()));
    assert_eq!(m.md5_of_message_attributes(), Some(all.as_str()));
    assert_eq!(m.message_attributes().unwrap()["amount"].string_value(), Some("-1.50"), "numbers come back as sent");
    // Filtered by name and prefix: the digest covers exactly what is returned.
    s.clock.advance(TimeDelta::seconds(31));
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("img")
        .message_attribute_names("zeta.*")
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    let expected = md5_of_attributes(&[
        ("zeta.note", "String.json", 1, b"{\"a\":\"\r\"}"),
        ("img", "Binary.png", 2, &[0, 255, 13, 10]),
    ]);
    assert_eq!(m.md5_of_message_attributes(), Some(expected.as_str()));
    assert_eq!(m.message_attributes().unwrap().len(), 2);
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(s.as_bytes()))
}

async fn queue(s: &TestServer, sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    let _ = s;
    sqs.create_queue().queue_name(name).send().await.unwrap().queue_url().unwrap().to_owned()
}

#[tokio::test]
async fn send_receive_delete_round_trip_with_md5s_and_attributes() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "rt").await;
    let body = "héllo € wörld\r\n";
    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body(body)
        .message_attributes(
            "city",
            MessageAttributeValue::builder().data_type("String").string_value("Any City").build().unwrap(),
        )
        .message_attributes(
            "count",
            MessageAttributeValue::builder().data_type("Number").string_value("42").build().unwrap(),
        )
        .message_attributes(
            "blob",
            MessageAttributeValue::builder()
                .data_type("Binary.gz")
                .binary_value(Blob::new(vec![1, 2, 3]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sent.md5_of_message_body().unwrap(), md5_hex(body));
    assert_eq!(sent.md5_of_message_attributes().unwrap(), "92f8c1cdb08bda33c2bebec6be7950bb");
    let id = sent.message_id().unwrap().to_owned();

    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let msgs = got.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.message_id(), Some(id.as_str()));
    assert_eq!(m.body(), Some(body));
    assert_eq!(m.md5_of_body().unwrap(), md5_hex(body));
    assert_eq!(m.md5_of_message_attributes().unwrap(), "92f8c1cdb08bda33c2bebec6be7950bb");
    let attrs = m.message_attributes().unwrap();
    assert_eq!(attrs["blob"].binary_value().unwrap().as_ref(), &[1, 2, 3]);
    assert_eq!(attrs["count"].data_type(), "Number");
    let sys = m.attributes().unwrap();
    assert_eq!(sys[&MessageSystemAttributeName::ApproximateReceiveCount], "1");
    assert_eq!(sys[&MessageSystemAttributeName::SenderId], a.id);
    assert!(sys.contains_key(&MessageSystemAttributeName::SentTimestamp));

    // Hidden while in flight.
    let again = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(again.messages().is_empty());
    sqs.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
    // Deleted: it does not come back after the visibility timeout.
    s.clock.advance(TimeDelta::seconds(31));
    assert!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
}

#[tokio::test]
async fn receive_returns_no_attributes_unless_asked_and_filters_by_prefix() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "filter").await;
    let attr = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build().unwrap();
    sqs.send_message()
        .queue_url(&url)
        .message_body("b")
        .message_attributes("bar.x", attr("1"))
        .message_attributes("foo", attr("2"))
        .send()
        .await
        .unwrap();
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    let m = &got.messages()[0];
    assert!(m.attributes().is_none() && m.message_attributes().is_none() && m.md5_of_message_attributes().is_none());
    s.clock.advance(TimeDelta::seconds(31));
    let got = sqs.receive_message().queue_url(&url).message_attribute_names("bar.*").send().await.unwrap();
    let m = &got.messages()[0];
    let names: Vec<_> = m.message_attributes().unwrap().keys().cloned().collect();
    assert_eq!(names, ["bar.x"]);
    // The MD5 covers what was returned, recomputed here independently.
    assert_eq!(m.md5_of_message_attributes(), Some(md5_of_attributes(&[("bar.x", "String", 1, b"1")]).as_str()));
}

#[tokio::test]
async fn visibility_timeout_hides_a_received_message_until_it_expires() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "vis").await;
    sqs.send_message().queue_url(&url).message_body("m").send().await.unwrap();
    let first = sqs.receive_message().queue_url(&url).visibility_timeout(10).send().await.unwrap();
    assert_eq!(first.messages().len(), 1);
    s.clock.advance(TimeDelta::seconds(5));
    assert!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
    s.clock.advance(TimeDelta::seconds(6));
    let second = sqs
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let m = &second.messages()[0];
    assert_eq!(m.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount], "2");
    assert_ne!(m.receipt_handle(), first.messages()[0].receipt_handle(), "a new handle on every receive");
    // The older handle still deletes, as on AWS.
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(first.messages()[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    s.clock.advance(TimeDelta::seconds(31));
    assert!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
}

#[tokio::test]
async fn delayed_message_is_invisible_until_its_delay_passes() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "delay").await;
    sqs.send_message().queue_url(&url).message_body("later").delay_seconds(60).send().await.unwrap();
    assert!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
    s.clock.advance(TimeDelta::seconds(61));
    assert_eq!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().len(), 1);
}

#[tokio::test]
async fn receive_returns_up_to_max_number_of_messages() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "many").await;
    for i in 0..12 {
        sqs.send_message().queue_url(&url).message_body(format!("m{i}")).send().await.unwrap();
    }
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 10);
    let rest = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(rest.messages().len(), 2);
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_a_message_arrives() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "lp").await;
    let wait_end = WaitEnd::after_seconds(10);
    let poll = tokio::spawn({
        let (sqs, url) = (sqs.clone(), url.clone());
        async move { sqs.receive_message().queue_url(url).wait_time_seconds(10).send().await.unwrap() }
    });
    s.until_long_polls_open(1).await;
    sqs.send_message().queue_url(&url).message_body("wake").send().await.unwrap();
    let got = wait_end.answered_before("the poll after a send", poll).await.unwrap();
    assert_eq!(got.messages().len(), 1);
}

#[tokio::test]
async fn send_message_validates_body_size_delay_and_attributes() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs
        .create_queue()
        .queue_name("small")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let send = |body: String| sqs.send_message().queue_url(&url).message_body(body);
    let err = send("a\u{1}b".into()).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_invalid_message_contents(), "{err:?}");
    let err = send("x".repeat(1025)).send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    send("x".repeat(1024)).send().await.unwrap();
    let err = send("x".into()).delay_seconds(901).send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    let err = send(String::new()).send().await.unwrap_err();
    assert_eq!(error_code(&err), "MissingParameter");
    let bad = MessageAttributeValue::builder().data_type("Float").string_value("1").build().unwrap();
    let err = send("x".into()).message_attributes("a", bad).send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    let reserved = MessageAttributeValue::builder().data_type("String").string_value("1").build().unwrap();
    let err = send("x".into()).message_attributes("AWS.x", reserved).send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    // Only the one valid message was stored.
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 1);
}

#[tokio::test]
async fn receive_validates_its_parameters() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "rv").await;
    for (max, vis, wait) in [(11, 0, 0), (0, 0, 0), (1, 43_201, 0), (1, 0, 21)] {
        let err = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(max)
            .visibility_timeout(vis)
            .wait_time_seconds(wait)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&err), "InvalidParameterValue", "{max} {vis} {wait}");
    }
}

#[tokio::test]
async fn receipt_handles_are_refused_on_another_queue_forged_or_after_recreation() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let q1 = queue(&s, &sqs, "h1").await;
    let q2 = queue(&s, &sqs, "h2").await;
    sqs.send_message().queue_url(&q1).message_body("m").send().await.unwrap();
    let got = sqs.receive_message().queue_url(&q1).send().await.unwrap();
    let handle = got.messages()[0].receipt_handle().unwrap().to_owned();

    let err = sqs.delete_message().queue_url(&q2).receipt_handle(&handle).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_receipt_handle_is_invalid(), "{err:?}");
    let mut forged = handle.clone().into_bytes();
    let i = forged.len() / 2;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let err = sqs
        .delete_message()
        .queue_url(&q1)
        .receipt_handle(String::from_utf8(forged).unwrap())
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_receipt_handle_is_invalid(), "{err:?}");
    let err = sqs.delete_message().queue_url(&q1).receipt_handle("garbage").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_receipt_handle_is_invalid());

    // Another account's server-issued handle for a same-named queue is useless here too.
    let b = s.account().await;
    let sqs_b = s.sqs(&b);
    let qb = queue(&s, &sqs_b, "h1").await;
    let err = sqs_b.delete_message().queue_url(&qb).receipt_handle(&handle).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_receipt_handle_is_invalid());

    // A recreated queue of the same name does not accept the old queue's handle.
    sqs.delete_queue().queue_url(&q1).send().await.unwrap();
    let q1 = queue(&s, &sqs, "h1").await;
    let err = sqs.delete_message().queue_url(&q1).receipt_handle(&handle).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_receipt_handle_is_invalid());
}

#[tokio::test]
async fn default_maximum_message_size_is_one_mebibyte_counting_attributes() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "mib").await;
    let mib = 1_048_576;
    sqs.send_message().queue_url(&url).message_body("x".repeat(mib)).send().await.unwrap();
    let err = sqs.send_message().queue_url(&url).message_body("x".repeat(mib + 1)).send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    // Name ("a"), type ("String") and value ("v") count too.
    let attr = MessageAttributeValue::builder().data_type("String").string_value("v").build().unwrap();
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x".repeat(mib - 7))
        .message_attributes("a", attr.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    sqs.send_message()
        .queue_url(&url)
        .message_body("x".repeat(mib - 8))
        .message_attributes("a", attr)
        .send()
        .await
        .unwrap();
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 2);
    assert_eq!(got.messages().iter().map(|m| m.body().unwrap().len()).max(), Some(mib));
}

#[tokio::test]
async fn legacy_attribute_names_parameter_also_selects_system_attributes() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue(&s, &sqs, "legacy").await;
    sqs.send_message().queue_url(&url).message_body("m").send().await.unwrap();
    #[allow(deprecated)]
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = got.messages()[0].attributes().unwrap();
    for name in [
        MessageSystemAttributeName::SenderId,
        MessageSystemAttributeName::SentTimestamp,
        MessageSystemAttributeName::ApproximateReceiveCount,
        MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
    ] {
        assert!(attrs.contains_key(&name), "{name:?}");
    }
    let sent: i64 = attrs[&MessageSystemAttributeName::SentTimestamp].parse().unwrap();
    assert!((chrono::Utc::now().timestamp_millis() - sent).abs() < 60_000, "milliseconds since the epoch");
}
