//! Tried as an older client would: boto3 1.34.89 (the last release that sent SQS calls in
//! the query protocol) completes a round trip, its requests checked to be form-encoded; and
//! FIFO calls as boto3 programs make them, under that botocore and the current one.

use std::path::PathBuf;
use std::process::Command;

use secrecy::ExposeSecret;

use crate::harness::TestServer;

/// The Python named by `var` (skipping the test without one unless `require` is set).
fn python(var: &str, require: &str, what: &str) -> Option<PathBuf> {
    let found = std::env::var_os(var).map(PathBuf::from);
    if found.is_none() {
        assert!(std::env::var(require).is_err(), "{require} is set but {var} is not");
        eprintln!("skipping: no Python with {what} (.ci/run installs one)");
    }
    found
}

/// Runs `script` (under tests/python) with `python` against a new account on a test server;
/// returns its output once it succeeded.
async fn run(python: PathBuf, script: &str) -> String {
    let s = TestServer::start().await;
    let a = s.account().await;
    let mut cmd = Command::new(python);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg(format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR")))
        .env("SLUICE_ENDPOINT", &s.url)
        .env("SLUICE_CA", s.data_dir.path().join("ca.pem"))
        .env("AWS_ACCESS_KEY_ID", &a.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", a.secret_access_key.expose_secret())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    // Off the test's runtime: the server's database connections live on it.
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run python")).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test]
async fn boto3_1_34_89_round_trip_over_the_query_protocol() {
    let Some(python) = python("SLUICE_TEST_QUERY_PYTHON", "SLUICE_REQUIRE_QUERY_PYTHON", "boto3 1.34.89") else {
        return;
    };
    let stdout = run(python, "query_roundtrip.py").await;
    assert!(stdout.contains("botocore 1.34.89"), "{stdout}");
}

#[tokio::test]
async fn boto3_fifo_calls_work_over_the_query_protocol_and_the_json_protocol() {
    for (var, require, what) in [
        ("SLUICE_TEST_QUERY_PYTHON", "SLUICE_REQUIRE_QUERY_PYTHON", "boto3 1.34.89"),
        ("SLUICE_TEST_PYTHON", "SLUICE_REQUIRE_PYTHON", "current boto3"),
    ] {
        let Some(python) = python(var, require, what) else { continue };
        let stdout = run(python, "fifo_calls.py").await;
        for line in ["send: sequence numbers grow", "receive: in order", "delete: the queue is empty"] {
            assert!(stdout.contains(line), "{what}: {stdout}");
        }
    }
}
