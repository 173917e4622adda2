//! Round trips with `@aws-sdk/client-sqs` under Node, whose MD5 checks are on by default: a
//! standard queue's, and a FIFO queue's with group and deduplication ids.

use std::path::PathBuf;
use std::process::Command;

use secrecy::ExposeSecret;

use crate::harness::TestServer;

fn node_modules() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("SLUICE_TEST_NODE_MODULES")?);
    dir.join("@aws-sdk/client-sqs").is_dir().then_some(dir)
}

#[tokio::test]
async fn javascript_sdk_round_trips_pass_its_md5_checks_on_standard_and_fifo_queues() {
    let Some(modules) = node_modules() else {
        assert!(
            std::env::var("SLUICE_REQUIRE_NODE_SDK").is_err(),
            "SLUICE_REQUIRE_NODE_SDK is set but SLUICE_TEST_NODE_MODULES has no @aws-sdk/client-sqs"
        );
        eprintln!("skipping: no @aws-sdk/client-sqs (.ci/run installs it)");
        return;
    };
    let s = TestServer::start().await;
    let a = s.account().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/roundtrip.cjs");
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .env("NODE_PATH", &modules)
        .env("NODE_EXTRA_CA_CERTS", s.data_dir.path().join("ca.pem"))
        .env("NODE_NO_WARNINGS", "1")
        .env("SLUICE_ENDPOINT", &s.url)
        .env("AWS_ACCESS_KEY_ID", &a.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", a.secret_access_key.expose_secret())
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    // Off the test's runtime: the server's database connections live on it.
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run node")).await.unwrap();
    assert!(
        out.status.success(),
        "node: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("node round trip ok") && stdout.contains("node fifo ok"), "{stdout}");
}
