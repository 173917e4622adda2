//! Tried as an older client would: boto3 1.34.89 (the last release that sent SQS calls in
//! the query protocol) completes a round trip, its requests checked to be form-encoded.

use std::path::PathBuf;
use std::process::Command;

use secrecy::ExposeSecret;

use crate::harness::TestServer;

#[tokio::test]
async fn boto3_1_34_89_round_trip_over_the_query_protocol() {
    let Some(python) = std::env::var_os("SLUICE_TEST_QUERY_PYTHON").map(PathBuf::from) else {
        assert!(
            std::env::var("SLUICE_REQUIRE_QUERY_PYTHON").is_err(),
            "SLUICE_REQUIRE_QUERY_PYTHON is set but SLUICE_TEST_QUERY_PYTHON is not"
        );
        eprintln!("skipping: no Python with boto3 1.34.89 (.ci/run installs one)");
        return;
    };
    let s = TestServer::start().await;
    let a = s.account().await;
    let mut cmd = Command::new(python);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/query_roundtrip.py"))
        .env("SLUICE_ENDPOINT", &s.url)
        .env("SLUICE_CA", s.data_dir.path().join("ca.pem"))
        .env("AWS_ACCESS_KEY_ID", &a.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", a.secret_access_key.expose_secret())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    // Off the test's runtime: the server's database connections live on it.
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run python")).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("botocore 1.34.89"), "{stdout}");
}
