//! AWS's answers, case by case. Each row is one request, written once in the AWS JSON
//! protocol and once as query-protocol parameters, with the HTTP status, error shape, legacy
//! code and text AWS answers it with; every row runs through both protocols. Adding a case is
//! adding a row.
//!
//! In the requests, `{url}` is a queue of the caller's, `{missing}` the URL of a queue the
//! caller does not have, `{acct}` the caller's account, `{kms}` a queue of the caller's whose
//! KmsMasterKeyId names no key (CreateQueue accepted it, as SQS does) and `{deep}` JSON
//! nested 70 levels.

use crate::harness::{RawClient, RawResponse, TestServer};

/// One request and AWS's answer to it.
struct Case {
    what: &'static str,
    action: &'static str,
    /// The JSON body.
    json: &'static str,
    /// The same request as query parameters (`Name=value&…`, values unencoded), or None where
    /// the case has no query form.
    query: Option<&'static str>,
    status: u16,
    /// `__type` in JSON (`com.amazonaws.sqs#<shape>`).
    shape: &'static str,
    /// The legacy code: `x-amzn-query-error` and the XML `<Code>`.
    code: &'static str,
    text: &'static str,
    /// The region the request is signed for.
    region: &'static str,
}

const NO_QUEUE: (u16, &str, &str, &str) =
    (400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.");

macro_rules! case {
    ($what:expr, $action:expr, $json:expr, $query:expr, $answer:expr) => {
        case!($what, $action, $json, $query, $answer, signed_for = crate::harness::REGION)
    };
    ($what:expr, $action:expr, $json:expr, $query:expr, $answer:expr, signed_for = $region:expr) => {
        Case {
            what: $what,
            action: $action,
            json: $json,
            query: $query,
            status: $answer.0,
            shape: $answer.1,
            code: $answer.2,
            text: $answer.3,
            region: $region,
        }
    };
}

fn cases() -> Vec<Case> {
    vec![
        // 1. A queue that does not exist, however it is named.
        case!(
            "GetQueueUrl of a missing name",
            "GetQueueUrl",
            r#"{"QueueName":"nope"}"#,
            Some("QueueName=nope"),
            NO_QUEUE
        ),
        case!(
            "GetQueueUrl of a missing name in the caller's own account, named",
            "GetQueueUrl",
            r#"{"QueueName":"nope","QueueOwnerAWSAccountId":"{acct}"}"#,
            Some("QueueName=nope&QueueOwnerAWSAccountId={acct}"),
            NO_QUEUE
        ),
        case!(
            "SendMessage to a missing queue",
            "SendMessage",
            r#"{"QueueUrl":"{missing}","MessageBody":"x"}"#,
            Some("QueueUrl={missing}&MessageBody=x"),
            NO_QUEUE
        ),
        case!(
            "SendMessage to text that is no URL",
            "SendMessage",
            r#"{"QueueUrl":"not a url at all","MessageBody":"x"}"#,
            Some("QueueUrl=not a url at all&MessageBody=x"),
            NO_QUEUE
        ),
        case!(
            "SendMessage to a bare queue name",
            "SendMessage",
            r#"{"QueueUrl":"nope","MessageBody":"x"}"#,
            Some("QueueUrl=nope&MessageBody=x"),
            NO_QUEUE
        ),
        case!(
            "ReceiveMessage from a URL of another host without an account",
            "ReceiveMessage",
            r#"{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/nope"}"#,
            Some("QueueUrl=https://sqs.us-east-1.amazonaws.com/nope"),
            NO_QUEUE
        ),
        case!(
            "ReceiveMessage from a URL of another host",
            "ReceiveMessage",
            r#"{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/{acct}/nope"}"#,
            Some("QueueUrl=https://sqs.us-east-1.amazonaws.com/{acct}/nope"),
            NO_QUEUE
        ),
        case!(
            "DeleteQueue of a URL with a path too long",
            "DeleteQueue",
            r#"{"QueueUrl":"https://localhost/{acct}/a/b"}"#,
            Some("QueueUrl=https://localhost/{acct}/a/b"),
            NO_QUEUE
        ),
        case!(
            "GetQueueAttributes of a name no queue can have",
            "GetQueueAttributes",
            r#"{"QueueUrl":"https://localhost/{acct}/bad name"}"#,
            Some("QueueUrl=https://localhost/{acct}/bad name"),
            NO_QUEUE
        ),
        case!(
            "SetQueueAttributes of a missing queue",
            "SetQueueAttributes",
            r#"{"QueueUrl":"{missing}","Attributes":{"DelaySeconds":"1"}}"#,
            Some("QueueUrl={missing}&Attribute.1.Name=DelaySeconds&Attribute.1.Value=1"),
            NO_QUEUE
        ),
        case!(
            "SendMessageBatch to a missing queue",
            "SendMessageBatch",
            r#"{"QueueUrl":"{missing}","Entries":[{"Id":"a","MessageBody":"x"}]}"#,
            Some("QueueUrl={missing}&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x"),
            NO_QUEUE
        ),
        case!(
            "PurgeQueue of a missing queue",
            "PurgeQueue",
            r#"{"QueueUrl":"{missing}"}"#,
            Some("QueueUrl={missing}"),
            NO_QUEUE
        ),
        case!(
            "ListQueueTags of a missing queue",
            "ListQueueTags",
            r#"{"QueueUrl":"{missing}"}"#,
            Some("QueueUrl={missing}"),
            NO_QUEUE
        ),
        case!(
            "TagQueue of a missing queue",
            "TagQueue",
            r#"{"QueueUrl":"{missing}","Tags":{"k":"v"}}"#,
            Some("QueueUrl={missing}&Tag.1.Key=k&Tag.1.Value=v"),
            NO_QUEUE
        ),
        case!(
            "ListDeadLetterSourceQueues of a missing queue",
            "ListDeadLetterSourceQueues",
            r#"{"QueueUrl":"{missing}"}"#,
            Some("QueueUrl={missing}"),
            NO_QUEUE
        ),
        // 2. Batches: an empty batch names the action called.
        case!(
            "SendMessageBatch without entries",
            "SendMessageBatch",
            r#"{"QueueUrl":"{url}","Entries":[]}"#,
            Some("QueueUrl={url}"),
            (
                400,
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                "There should be at least one SendMessageBatchRequestEntry in the request."
            )
        ),
        case!(
            "DeleteMessageBatch without entries",
            "DeleteMessageBatch",
            r#"{"QueueUrl":"{url}","Entries":[]}"#,
            Some("QueueUrl={url}"),
            (
                400,
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                "There should be at least one DeleteMessageBatchRequestEntry in the request."
            )
        ),
        case!(
            "ChangeMessageVisibilityBatch without entries",
            "ChangeMessageVisibilityBatch",
            r#"{"QueueUrl":"{url}","Entries":[]}"#,
            Some("QueueUrl={url}"),
            (
                400,
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                "There should be at least one ChangeMessageVisibilityBatchRequestEntry in the request."
            )
        ),
        // 4. A KmsMasterKeyId is checked when a send uses it.
        case!(
            "SendMessage to a queue whose KmsMasterKeyId names no key",
            "SendMessage",
            r#"{"QueueUrl":"{kms}","MessageBody":"x"}"#,
            Some("QueueUrl={kms}&MessageBody=x"),
            (400, "KmsNotFound", "KMS.NotFoundException", "Alias alias/nowhere is not found.")
        ),
        case!(
            "SendMessageBatch to a queue whose KmsMasterKeyId names no key",
            "SendMessageBatch",
            r#"{"QueueUrl":"{kms}","Entries":[{"Id":"a","MessageBody":"x"}]}"#,
            Some("QueueUrl={kms}&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x"),
            (400, "KmsNotFound", "KMS.NotFoundException", "Alias alias/nowhere is not found.")
        ),
        // 5. A deployment serves one region: a signature scoped to another is refused.
        case!(
            "ListQueues signed for another region",
            "ListQueues",
            r#"{}"#,
            Some(""),
            (
                403,
                "SignatureDoesNotMatch",
                "SignatureDoesNotMatch",
                "Credential should be scoped to a valid region, not 'us-east-1'. "
            ),
            signed_for = "us-east-1"
        ),
        case!(
            "SendMessage signed for another region",
            "SendMessage",
            r#"{"QueueUrl":"{url}","MessageBody":"x"}"#,
            Some("QueueUrl={url}&MessageBody=x"),
            (
                403,
                "SignatureDoesNotMatch",
                "SignatureDoesNotMatch",
                "Credential should be scoped to a valid region, not 'eu-west-1'. "
            ),
            signed_for = "eu-west-1"
        ),
        // 11. Nesting past the bound is refused before the body is parsed, even under a
        // member nobody reads.
        case!(
            "SendMessage nested 70 levels under an unknown member",
            "SendMessage",
            r#"{"QueueUrl":"{url}","MessageBody":"x","Unknown":{deep}}"#,
            None,
            (400, "InvalidParameterValue", "InvalidParameterValue", "The request body nests deeper than 64 levels.")
        ),
    ]
}

/// The placeholders of a request, filled for this caller.
struct Fill {
    url: String,
    kms: String,
    missing: String,
    account: String,
}

impl Fill {
    fn apply(&self, template: &str) -> String {
        let deep = format!("{}0{}", "[".repeat(70), "]".repeat(70));
        template
            .replace("{url}", &self.url)
            .replace("{kms}", &self.kms)
            .replace("{missing}", &self.missing)
            .replace("{acct}", &self.account)
            .replace("{deep}", &deep)
    }
}

fn query_params(fill: &Fill, query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), fill.apply(v))
        })
        .collect()
}

fn xml_text(body: &str, tag: &str) -> Option<String> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(
        body[start..end]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// What differs from the expected answer, if anything.
fn json_mismatch(c: &Case, r: &RawResponse) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    let shape = format!("com.amazonaws.sqs#{}", c.shape);
    let header = format!("{};Sender", c.code);
    let ok = r.status == c.status
        && v["__type"] == shape.as_str()
        && v["message"] == c.text
        && r.header("x-amzn-query-error") == Some(header.as_str());
    (!ok).then(|| format!("JSON: {} {:?} {}", r.status, r.header("x-amzn-query-error"), r.body))
}

fn query_mismatch(c: &Case, r: &RawResponse) -> Option<String> {
    let ok = r.status == c.status
        && xml_text(&r.body, "Code").as_deref() == Some(c.code)
        && xml_text(&r.body, "Message").as_deref() == Some(c.text)
        && xml_text(&r.body, "Type").as_deref() == Some("Sender");
    (!ok).then(|| format!("query: {} {}", r.status, r.body))
}

async fn run(raw: &RawClient, fill: &Fill, c: &Case) -> Vec<String> {
    let mut wrong = Vec::new();
    let r = raw.call_in(c.region, c.action, &fill.apply(c.json)).await;
    wrong.extend(json_mismatch(c, &r));
    if let Some(q) = c.query {
        let r = raw.query_in(c.region, c.action, &query_params(fill, q)).await;
        wrong.extend(query_mismatch(c, &r));
    }
    wrong
}

#[tokio::test]
async fn every_case_is_answered_as_aws_answers_it_in_both_protocols() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("answers").send().await.unwrap().queue_url().unwrap().to_owned();
    let kms = sqs
        .create_queue()
        .queue_name("answers-kms")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::KmsMasterKeyId, "alias/nowhere")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let fill = Fill { url, kms, missing: s.queue_url(&a, "nope"), account: a.id.clone() };
    let raw = s.raw(&a);
    let mut wrong = Vec::new();
    for c in cases() {
        for w in run(&raw, &fill, &c).await {
            wrong.push(format!("{}: expected {} {} {:?}; got {w}", c.what, c.status, c.code, c.text));
        }
    }
    // Nothing a refused case named came to exist.
    let listed = sqs.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls().len(), 2);
    assert!(wrong.is_empty(), "{} of {} cases differ:\n{}", wrong.len(), cases().len(), wrong.join("\n"));
}
