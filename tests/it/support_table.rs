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
    let mut all: Vec<&str> = sluice::api::ACTIONS.iter().map(|a| a.name).collect();
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
