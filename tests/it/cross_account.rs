//! The first-form authorization gate: a caller acts only inside its own account, and a
//! refusal does not reveal whether the other account's queue exists.

use crate::harness::{TestServer, error_code};

#[tokio::test]
async fn another_accounts_queue_is_access_denied_whether_or_not_it_exists() {
    let s = TestServer::start().await;
    let owner = s.account().await;
    let intruder = s.account().await;
    let url = s.sqs(&owner).create_queue().queue_name("private").send().await.unwrap().queue_url().unwrap().to_owned();
    let missing = s.queue_url(&owner, "does-not-exist");
    let sqs = s.sqs(&intruder);

    let mut answers = Vec::new();
    for u in [&url, &missing] {
        let err = sqs.send_message().queue_url(u).message_body("x").send().await.unwrap_err();
        let raw = err.raw_response().map(|r| r.status().as_u16());
        answers.push((
            error_code(&err),
            raw,
            err.as_service_error().unwrap().meta().message().map(|m| m.replace(u.rsplit('/').next().unwrap(), "Q")),
        ));
        let err = sqs.receive_message().queue_url(u).send().await.unwrap_err();
        assert_eq!(error_code(&err), "AccessDenied");
        let err = sqs.delete_queue().queue_url(u).send().await.unwrap_err();
        assert_eq!(error_code(&err), "AccessDenied");
    }
    assert_eq!(answers[0].0, "AccessDenied");
    assert_eq!(answers[0].1, Some(403));
    assert_eq!(answers[0], answers[1], "existence must not leak");

    for name in ["private", "does-not-exist"] {
        let err = sqs.get_queue_url().queue_name(name).queue_owner_aws_account_id(&owner.id).send().await.unwrap_err();
        assert_eq!(error_code(&err), "AccessDenied", "{name}");
    }
    // Nothing was sent into the owner's queue.
    let got = s.sqs(&owner).receive_message().queue_url(&url).send().await.unwrap();
    assert!(got.messages().is_empty());
}
