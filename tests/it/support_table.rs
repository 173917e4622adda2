//! The README's support table is true: every action it lists as supported never answers
//! UnsupportedOperation, and every other one always does.

use crate::harness::TestServer;

fn readme_table() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = text.find("## What is supported").expect("support section");
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| Action"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_owned(), cells[2].starts_with("supported"))
        })
        .collect()
}

#[tokio::test]
async fn readme_support_table_matches_what_every_action_answers() {
    let table = readme_table();
    let mut listed: Vec<&str> = table.iter().map(|(a, _)| a.as_str()).collect();
    listed.sort();
    let mut all: Vec<&str> = sluice::api::table::SQS.iter().map(|a| a.name).collect();
    all.sort();
    assert_eq!(listed, all, "the table lists every SQS action exactly once");

    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    raw.call("CreateQueue", r#"{"QueueName":"table"}"#).await;
    let url = s.queue_url(&a, "table");
    let arn = format!("arn:aws:sqs:local:{}:table", a.id);
    for (action, supported) in &table {
        // Minimal inputs: enough to reach the handler; errors other than
        // UnsupportedOperation are fine here.
        let body = format!(
            r#"{{"QueueUrl":"{url}","QueueName":"table","SourceArn":"{arn}","TaskHandle":"x","Label":"l","AWSAccountIds":["{id}"],"Actions":["SendMessage"],"Entries":[{{"Id":"a","MessageBody":"b","ReceiptHandle":"h"}}],"Tags":{{"k":"v"}},"TagKeys":["k"],"Attributes":{{"DelaySeconds":"0"}},"MessageBody":"b","ReceiptHandle":"h","VisibilityTimeout":0}}"#,
            id = a.id
        );
        let r = raw.call(action, &body).await;
        let unsupported = r
            .header("x-amzn-query-error")
            .is_some_and(|h| h.starts_with("AWS.SimpleQueueService.UnsupportedOperation"))
            && r.body.contains("not supported by this Sluice version");
        assert_eq!(!unsupported, *supported, "{action}: {} {}", r.status, r.body);
    }
}

/// Every row of the action table, of every service, is routed to a handler (it never answers
/// InvalidAction), and a name that is not a row is refused before any handler runs.
#[tokio::test]
async fn every_row_of_the_action_table_is_routed_and_nothing_else_is() {
    use sluice::api::table::{IAM, SQS, STS};
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let invalid_action = |r: &crate::harness::RawResponse| {
        r.header("x-amzn-query-error").is_some_and(|h| h.starts_with("InvalidAction;"))
            || r.body.contains("<Code>InvalidAction</Code>")
    };
    for row in SQS {
        let r = raw.call(row.name, "{}").await;
        assert!(!invalid_action(&r), "{}: {}", row.name, r.body);
    }
    for (service, rows) in [("iam", IAM), ("sts", STS)] {
        for row in rows {
            let r = crate::iam_api::iam(&raw, service, &[("Action", row.name)]).await;
            assert!(!invalid_action(&r), "{service} {}: {}", row.name, r.body);
        }
    }
    // Names that are not rows, each with what a handler would act on: refused, nothing made.
    let r = raw.call("CreateQueues", r#"{"QueueName":"never"}"#).await;
    assert!(invalid_action(&r), "{}", r.body);
    let r = crate::iam_api::iam(&raw, "iam", &[("Action", "CreateUsers"), ("UserName", "never")]).await;
    assert!(invalid_action(&r), "{}", r.body);
    assert!(crate::iam_api::el(&r.body, "Message").unwrap().contains("The IAM action CreateUsers is not provided"));
    let r = crate::iam_api::iam(&raw, "sts", &[("Action", "AssumeRoles")]).await;
    assert!(invalid_action(&r), "{}", r.body);
    // A row of one service is not an action of another.
    let r = crate::iam_api::iam(&raw, "iam", &[("Action", "SendMessage")]).await;
    assert!(invalid_action(&r), "{}", r.body);
    assert!(s.tenancy.user(&a.id, "never").await.is_err());
    let got = s.sqs(&a).list_queues().send().await.unwrap();
    assert!(got.queue_urls().is_empty());
}
