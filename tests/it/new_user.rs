//! Tried as a new user would: `sluice serve` with no configuration, in a fresh directory
//! (under /root when running as root, the CI case: /root is 0700), then the aws CLI with
//! only the two printed `export` lines.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::harness::{ClusterGuard, Served};

/// The aws CLI (`SLUICE_TEST_AWS_CLI`, or `aws` on `PATH`); None skips the test, unless
/// `SLUICE_REQUIRE_AWS_CLI` says it must run.
fn aws_cli() -> Option<PathBuf> {
    let found = std::env::var_os("SLUICE_TEST_AWS_CLI").map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("aws")).find(|p| p.is_file()))
    });
    if found.is_none() {
        assert!(
            std::env::var("SLUICE_REQUIRE_AWS_CLI").is_err(),
            "SLUICE_REQUIRE_AWS_CLI is set but no aws CLI was found (set SLUICE_TEST_AWS_CLI)"
        );
        eprintln!("skipping: no aws CLI on PATH (.ci/run installs one)");
    }
    found
}

/// A Python with boto3 (`SLUICE_TEST_PYTHON`); None skips the test, unless
/// `SLUICE_REQUIRE_PYTHON` says it must run.
fn python_with_boto3() -> Option<PathBuf> {
    let found = std::env::var_os("SLUICE_TEST_PYTHON").map(PathBuf::from);
    if found.is_none() {
        assert!(
            std::env::var("SLUICE_REQUIRE_PYTHON").is_err(),
            "SLUICE_REQUIRE_PYTHON is set but SLUICE_TEST_PYTHON is not"
        );
        eprintln!("skipping: no Python with boto3 (.ci/run installs one)");
    }
    found
}

/// `program` with none of this machine's `AWS_*` variables: each test says what it sets.
fn clean(program: &std::path::Path) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn zero_config_serve_works_with_the_aws_cli_and_only_the_printed_exports() {
    let Some(aws) = aws_cli() else { return };
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let home = if root { tempfile::tempdir_in("/root").unwrap() } else { tempfile::tempdir().unwrap() };
    let clone = home.path().join("sluice-clone");
    std::fs::create_dir(&clone).unwrap();
    let log = home.path().join("sluice.log");
    std::fs::create_dir(clone.join(".sluice")).unwrap();
    let _cluster = ClusterGuard(clone.join(".sluice"));
    let mut served = Served::start(&clone, None, &log);
    assert_eq!(served.data_dir, clone.join(".sluice").canonicalize().unwrap());

    let run = |args: &[&str]| -> serde_json::Value {
        let mut cmd = clean(&aws);
        let out = cmd
            .args(args)
            .env("AWS_CONFIG_FILE", &served.config_file)
            .env("AWS_SHARED_CREDENTIALS_FILE", &served.credentials_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        if text.trim().is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text).unwrap() }
    };
    let created = run(&["sqs", "create-queue", "--queue-name", "newbie"]);
    let url = created["QueueUrl"].as_str().unwrap().to_owned();
    let sent = run(&["sqs", "send-message", "--queue-url", &url, "--message-body", "hello from the CLI"]);
    let expected_md5 = {
        use md5::{Digest, Md5};
        hex::encode(Md5::digest(b"hello from the CLI"))
    };
    assert_eq!(sent["MD5OfMessageBody"], expected_md5.as_str());
    let got = run(&["sqs", "receive-message", "--queue-url", &url]);
    let m = &got["Messages"][0];
    assert_eq!(m["Body"], "hello from the CLI");
    run(&["sqs", "delete-message", "--queue-url", &url, "--receipt-handle", m["ReceiptHandle"].as_str().unwrap()]);
    let listed = run(&["sqs", "list-queues"]);
    assert_eq!(listed["QueueUrls"][0], url);

    // A FIFO queue, as the CLI's FIFO options make it.
    let created = run(&["sqs", "create-queue", "--queue-name", "newbie.fifo", "--attributes", "FifoQueue=true"]);
    let fifo = created["QueueUrl"].as_str().unwrap().to_owned();
    let mut seqs = Vec::new();
    for (body, dedup) in [("first", "d1"), ("second", "d2")] {
        let sent = run(&[
            "sqs",
            "send-message",
            "--queue-url",
            &fifo,
            "--message-body",
            body,
            "--message-group-id",
            "g",
            "--message-deduplication-id",
            dedup,
        ]);
        seqs.push(sent["SequenceNumber"].as_str().unwrap().to_owned());
    }
    assert!(seqs[0] < seqs[1], "{seqs:?}");
    let got = run(&[
        "sqs",
        "receive-message",
        "--queue-url",
        &fifo,
        "--max-number-of-messages",
        "10",
        "--attribute-names",
        "All",
    ]);
    let bodies: Vec<&str> = got["Messages"].as_array().unwrap().iter().map(|m| m["Body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["first", "second"]);
    assert_eq!(got["Messages"][0]["Attributes"]["SequenceNumber"], seqs[0].as_str());
    assert_eq!(got["Messages"][0]["Attributes"]["MessageGroupId"], "g");

    assert!(served.terminate().success());
}

#[test]
fn a_machine_wide_aws_ca_bundle_is_overridden_by_the_printed_exports() {
    let Some(aws) = aws_cli() else { return };
    let scratch = crate::harness::Scratch::new();
    // The machine trusts some other CA bundle, machine-wide.
    let elsewhere = scratch.dir.path().join("machine-bundle.pem");
    let other_ca = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    std::fs::write(&elsewhere, other_ca.pem()).unwrap();
    let mut served = scratch.serve_with_env(&[("AWS_CA_BUNDLE", elsewhere.display().to_string())]);
    let printed = served.ca_bundle.clone().expect("serve prints export AWS_CA_BUNDLE=… with the dev CA");
    assert_eq!(printed, served.data_dir.join("ca.pem"));
    let log = std::fs::read_to_string(&served.log_file).unwrap();
    assert!(log.contains("AWS_CA_BUNDLE points elsewhere"), "{log}");
    let list = |ca_bundle: &std::path::Path| {
        let mut cmd = clean(&aws);
        cmd.args(["sqs", "list-queues"])
            .env("AWS_CA_BUNDLE", ca_bundle)
            .env("AWS_CONFIG_FILE", &served.config_file)
            .env("AWS_SHARED_CREDENTIALS_FILE", &served.credentials_file)
            .output()
            .unwrap()
    };
    let refused = list(&elsewhere);
    assert!(!refused.status.success(), "the machine-wide bundle outranks the config file's ca_bundle");
    let out = list(&printed);
    assert!(out.status.success(), "with the printed exports: {}", String::from_utf8_lossy(&out.stderr));
    assert!(served.terminate().success());
}

#[test]
fn an_operator_made_account_manages_users_with_aws_iam_and_a_user_sends_with_its_own_key() {
    let Some(aws) = aws_cli() else { return };
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let log = home.path().join("sluice.log");
    let _cluster = crate::harness::ClusterGuard(data.clone());
    let mut served = Served::start(home.path(), Some(&data), &log);
    let out = Command::new(crate::harness::sluice_bin())
        .args(["admin", "account", "create", "team-iam", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let profile = String::from_utf8(out.stdout).unwrap();
    let account = profile.lines().find_map(|l| l.strip_prefix("# account_id = ")).unwrap().to_owned();
    // The operator's profile for the new account, with the endpoint of the printed config.
    let config = std::fs::read_to_string(&served.config_file).unwrap().replace("[default]", "[profile team-iam]");
    let config_file = home.path().join("config");
    std::fs::write(
        &config_file,
        format!("{config}[profile app]\n{}", config.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n"),
    )
    .unwrap();
    let credentials_file = home.path().join("credentials");
    std::fs::write(&credentials_file, &profile).unwrap();

    let run = |profile: &str, args: &[&str]| -> serde_json::Value {
        let mut cmd = clean(&aws);
        let out = cmd
            .args(args)
            .args(["--profile", profile])
            .env("AWS_CONFIG_FILE", &config_file)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws {profile} {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&config_file).unwrap_or_default()
        );
        let text = String::from_utf8(out.stdout).unwrap();
        if text.trim().is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text).unwrap() }
    };
    let user = run("team-iam", &["iam", "create-user", "--user-name", "app"]);
    assert_eq!(user["User"]["Arn"], format!("arn:aws:iam::{account}:user/app"));
    let key = run("team-iam", &["iam", "create-access-key", "--user-name", "app"]);
    let (id, secret) =
        (key["AccessKey"]["AccessKeyId"].as_str().unwrap(), key["AccessKey"]["SecretAccessKey"].as_str().unwrap());
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:SendMessage","sqs:GetQueueUrl"],"Resource":"*"}]}"#;
    run(
        "team-iam",
        &["iam", "put-user-policy", "--user-name", "app", "--policy-name", "send", "--policy-document", policy],
    );
    let url =
        run("team-iam", &["sqs", "create-queue", "--queue-name", "jobs"])["QueueUrl"].as_str().unwrap().to_owned();
    std::fs::write(
        &credentials_file,
        format!("{profile}\n[app]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    let me = run("app", &["sts", "get-caller-identity"]);
    assert_eq!(me["Arn"], format!("arn:aws:iam::{account}:user/app"));
    assert_eq!(me["Account"], account);
    let sent = run("app", &["sqs", "send-message", "--queue-url", &url, "--message-body", "from the app user"]);
    assert!(sent["MessageId"].is_string());
    // What the policy does not grant is refused.
    let mut cmd = clean(&aws);
    let denied = cmd
        .args(["sqs", "receive-message", "--queue-url", &url, "--profile", "app"])
        .env("AWS_CONFIG_FILE", &config_file)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials_file)
        .output()
        .unwrap();
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("AccessDenied"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    assert!(served.terminate().success());
}

#[test]
fn a_new_user_wires_minio_events_to_a_queue_and_reads_s3s_format_with_boto3() {
    let Some(python) = python_with_boto3() else { return };
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let log = home.path().join("sluice.log");
    let _cluster = crate::harness::ClusterGuard(data.clone());
    let mut served = Served::start(home.path(), Some(&data), &log);
    let boto3 = |args: &[&str]| -> String {
        let mut cmd = clean(&python);
        let out = cmd
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/s3_events_newuser.py"))
            .args(args)
            .env("AWS_CONFIG_FILE", &served.config_file)
            .env("AWS_SHARED_CREDENTIALS_FILE", &served.credentials_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "boto3 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    // AWS's S3-event queue policy as the S3 user guide prints it, its placeholders (account,
    // region) filled in: queue uploads-events, bucket example-uploads-bucket.
    let policy =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/queue-s3-event-notifications.json"))
            .unwrap()
            .replace("444455556666", "000000000000")
            .replace("us-east-1", "local");
    let policy_file = home.path().join("policy.json");
    std::fs::write(&policy_file, policy).unwrap();
    boto3(&["setup", policy_file.to_str().unwrap()]);

    // The operator registers MinIO's webhook as an integration of the bucket's account.
    let out = Command::new(crate::harness::sluice_bin())
        .args(["admin", "integration", "create", "--account", "000000000000", "--service", "s3.amazonaws.com"])
        .args(["--source", "example-uploads-bucket", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let token = printed.lines().find_map(|l| l.strip_prefix("token: ")).unwrap().to_owned();

    // MinIO posts its webhook body with `auth_token` as a bearer token.
    let body =
        crate::service_events::minio_body(&[("example-uploads-bucket", "incoming/cat+photo.jpg")], "17F0AB12CD34EF56");
    sluice::install_crypto_provider();
    let endpoint = served.endpoint();
    let ca = std::fs::read(served.data_dir.join("ca.pem")).unwrap();
    let status = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let r = crate::harness::http_client(&ca)
            .post(format!("{endpoint}/events/s3/000000000000/uploads-events"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(body)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    });
    assert_eq!(status, 200, "log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());

    let received: serde_json::Value = serde_json::from_str(&boto3(&["receive"])).unwrap();
    let r = &received["Records"][0];
    assert_eq!(r["eventVersion"], "2.1");
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    assert_eq!(r["s3"]["bucket"]["name"], "example-uploads-bucket");
    assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::example-uploads-bucket");
    assert_eq!(r["s3"]["object"]["key"], "incoming/cat+photo.jpg");
    assert_eq!(r["responseElements"]["x-amz-request-id"], "17F0AB12CD34EF56");
    assert!(served.terminate().success());
}

#[test]
fn boto3_sees_aws_answers_for_missing_queues_and_a_batch_with_one_bad_entry() {
    let Some(python) = python_with_boto3() else { return };
    let scratch = crate::harness::Scratch::new();
    let mut served = scratch.serve();
    let mut cmd = clean(&python);
    let out = cmd
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/aws_answers.py"))
        .env("AWS_CA_BUNDLE", served.ca_bundle.clone().unwrap())
        .env("AWS_CONFIG_FILE", &served.config_file)
        .env("AWS_SHARED_CREDENTIALS_FILE", &served.credentials_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("get_queue_url: QueueDoesNotExist"), "{stdout}");
    assert!(stdout.contains("send_message: QueueDoesNotExist"), "{stdout}");
    assert!(stdout.contains("send_message_batch: Successful ['ok'] Failed late InvalidParameterValue"), "{stdout}");
    assert!(served.terminate().success());
}

/// The Python of `SLUICE_TEST_PYTHON` if it also has Celery with its SQS broker (celery,
/// kombu, pycurl); None skips the test, unless `SLUICE_REQUIRE_CELERY` says it must run.
fn python_with_celery() -> Option<PathBuf> {
    let python = python_with_boto3()?;
    let ok =
        Command::new(&python).args(["-c", "import celery, kombu, pycurl"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("SLUICE_REQUIRE_CELERY").is_err(),
            "SLUICE_REQUIRE_CELERY is set but {} has no celery, kombu or pycurl",
            python.display()
        );
        eprintln!("skipping: no Celery beside boto3 (.ci/run installs it)");
        return None;
    }
    Some(python)
}

#[test]
fn a_celery_worker_runs_tasks_through_sluice_and_a_killed_workers_task_reappears() {
    let Some(python) = python_with_celery() else { return };
    let scratch = crate::harness::Scratch::new();
    let mut served = scratch.serve();
    let out = clean(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/celery_check.py"))
        .env("AWS_CA_BUNDLE", served.ca_bundle.clone().unwrap())
        .env("AWS_CONFIG_FILE", &served.config_file)
        .env("AWS_SHARED_CREDENTIALS_FILE", &served.credentials_file)
        .env_remove("CELERY_BROKER_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("100 tasks: each ran once, no message left"), "{stdout}");
    assert!(stdout.contains("killed worker: the task ran again after its visibility timeout"), "{stdout}");
    assert!(served.terminate().success());
}

#[test]
fn boto3_assumes_a_role_from_a_profile_with_role_arn_and_source_profile() {
    let Some(python) = python_with_boto3() else { return };
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let log = home.path().join("sluice.log");
    let _cluster = crate::harness::ClusterGuard(data.clone());
    let mut served = Served::start(home.path(), Some(&data), &log);
    let run = |args: &[&str], config: &std::path::Path, credentials: &std::path::Path| -> String {
        let mut cmd = clean(&python);
        let out = cmd
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/assume_role_profile.py"))
            .args(args)
            .env("AWS_CONFIG_FILE", config)
            .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "boto3 {args:?}: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let printed = run(&["setup"], &served.config_file, &served.credentials_file);
    let (key, secret) = printed.split_once(' ').unwrap();

    // The profile a user writes: the role, and where its source credentials come from.
    let config = std::fs::read_to_string(&served.config_file).unwrap();
    let settings: Vec<&str> = config.lines().skip(1).collect();
    let config_file = home.path().join("config");
    std::fs::write(
        &config_file,
        format!(
            "[profile worker]\nrole_arn = arn:aws:iam::000000000000:role/worker\nsource_profile = dev\nduration_seconds = 7200\n{}\n[profile dev]\n{}\n",
            settings.join("\n"),
            settings.join("\n")
        ),
    )
    .unwrap();
    let credentials_file = home.path().join("credentials");
    std::fs::write(&credentials_file, format!("[dev]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"))
        .unwrap();
    let out = run(&["use"], &config_file, &credentials_file);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("arn:aws:sts::000000000000:assumed-role/worker/"), "{out}");
    assert_eq!(lines[1], "receive: AccessDenied", "the role's policy decides: {out}");

    // The message arrived, sent by the role session.
    let sqs = served.sqs();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sender = rt.block_on(async {
        let url = sqs.get_queue_url().queue_name("jobs").send().await.unwrap().queue_url().unwrap().to_owned();
        let got = sqs
            .receive_message()
            .queue_url(url)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::SenderId)
            .send()
            .await
            .unwrap();
        assert_eq!(got.messages()[0].body(), Some("sent by the role session"));
        got.messages()[0].attributes().unwrap()[&aws_sdk_sqs::types::MessageSystemAttributeName::SenderId].clone()
    });
    assert!(sender.starts_with("AROA") && sender.contains(':'), "{sender}");

    // An operator revokes the role's active sessions: a session issued before stops working.
    sluice::install_crypto_provider();
    let ca = std::fs::read(served.data_dir.join("ca.pem")).unwrap();
    let dev = crate::harness::RawClient {
        url: served.endpoint(),
        http: crate::harness::http_client(&ca),
        key: key.to_owned(),
        secret: secret.to_owned(),
    };
    let (session, url) = rt.block_on(async {
        let form = [
            ("Action", "AssumeRole"),
            ("RoleArn", "arn:aws:iam::000000000000:role/worker"),
            ("RoleSessionName", "before"),
        ];
        let r = crate::iam_api::iam(&dev, "sts", &form).await;
        let el = |t: &str| crate::iam_api::el(&r.body, t).unwrap().to_owned();
        let session = crate::harness::sqs_session_client(
            &served.endpoint(),
            &ca,
            &el("AccessKeyId"),
            &el("SecretAccessKey"),
            Some(&el("SessionToken")),
        );
        let url = sqs.get_queue_url().queue_name("jobs").send().await.unwrap().queue_url().unwrap().to_owned();
        session.send_message().queue_url(&url).message_body("before").send().await.unwrap();
        (session, url)
    });
    let out = Command::new(crate::harness::sluice_bin())
        .args(["admin", "role", "revoke-sessions", "--account", "000000000000", "worker", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The admin command runs in another process: the server learns through the change
    // notification (or its cache TTL, 30 s at most).
    rt.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(35);
        loop {
            match session.send_message().queue_url(&url).message_body("after").send().await {
                Err(e) => {
                    assert_eq!(crate::harness::error_code(&e), "InvalidClientTokenId");
                    break;
                }
                Ok(_) => assert!(std::time::Instant::now() < deadline, "the revoked session still works"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    assert!(served.terminate().success());
}

#[test]
fn a_new_user_backs_up_database_and_keys_wipes_everything_restores_both_and_reads_the_messages() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let log = home.path().join("sluice.log");
    let _cluster = crate::harness::ClusterGuard(data.clone());
    let sluice = |args: &[&str]| {
        let out = Command::new(crate::harness::sluice_bin()).args(args).arg("--data-dir").arg(&data).output().unwrap();
        assert!(out.status.success(), "sluice {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let mut served = Served::start(home.path(), Some(&data), &log);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // A queue under the service key, and one under an account key of its own.
    let created = sluice(&["keys", "create", "--account", "000000000000", "--alias", "alias/backups"]);
    assert!(created.contains("alias: alias/backups"), "{created}");
    let sqs = served.sqs();
    rt.block_on(async {
        for (name, key) in [("plain", None), ("kms", Some("alias/backups"))] {
            let mut req = sqs.create_queue().queue_name(name);
            if let Some(k) = key {
                req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::KmsMasterKeyId, k);
            }
            let url = req.send().await.unwrap().queue_url().unwrap().to_owned();
            for i in 0..3 {
                sqs.send_message()
                    .queue_url(&url)
                    .message_body(format!("{name} message {i}"))
                    .message_attributes(
                        "n",
                        aws_sdk_sqs::types::MessageAttributeValue::builder()
                            .data_type("Number")
                            .string_value(i.to_string())
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
                    .unwrap();
            }
        }
    });

    // The two backups, taken while the server runs.
    let keys_backup = home.path().join("keys.bak");
    let db_backup = home.path().join("db.dump");
    sluice(&["keys", "backup", "--out", keys_backup.to_str().unwrap()]);
    sluice(&["admin", "db", "dump", "--out", db_backup.to_str().unwrap()]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&keys_backup).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(served.terminate().success());

    // Disaster: the data directory, its cluster and the keyring beside it are gone.
    let cluster = sluice::store::local_pg::default_cluster_dir(&data);
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::remove_file(home.path().join("data-keyring")).unwrap();
    let _ = std::fs::remove_dir_all(&cluster);

    // Restore the keys, then the database, then serve again.
    sluice(&["keys", "restore", "--from", keys_backup.to_str().unwrap()]);
    sluice(&["admin", "db", "restore", "--from", db_backup.to_str().unwrap()]);
    let mut served = Served::start(home.path(), Some(&data), &log);
    let sqs = served.sqs();
    rt.block_on(async {
        for name in ["plain", "kms"] {
            let url = sqs.get_queue_url().queue_name(name).send().await.unwrap().queue_url().unwrap().to_owned();
            let got = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let mut bodies: Vec<(String, String)> = got
                .messages()
                .iter()
                .map(|m| {
                    let n = m.message_attributes().unwrap()["n"].string_value().unwrap().to_owned();
                    (m.body().unwrap().to_owned(), n)
                })
                .collect();
            bodies.sort();
            let want: Vec<(String, String)> = (0..3).map(|i| (format!("{name} message {i}"), i.to_string())).collect();
            assert_eq!(bodies, want, "{name}: every message intact");
        }
    });
    assert!(served.terminate().success());
}

#[test]
fn an_operator_lowers_an_accounts_limits_and_sees_them_in_usage_and_in_the_refusals() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let log = home.path().join("sluice.log");
    let _cluster = crate::harness::ClusterGuard(data.clone());
    let sluice = |args: &[&str]| {
        let out = Command::new(crate::harness::sluice_bin()).args(args).arg("--data-dir").arg(&data).output().unwrap();
        assert!(out.status.success(), "sluice {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let mut served = Served::start(home.path(), Some(&data), &log);
    let sqs = served.sqs();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = rt.block_on(async {
        let url = sqs.create_queue().queue_name("first").send().await.unwrap().queue_url().unwrap().to_owned();
        sqs.send_message().queue_url(&url).message_body("one").send().await.unwrap();
        url
    });
    sluice(&["admin", "account", "limits", "000000000000", "--max-queues", "1", "--max-stored-messages", "1"]);
    let usage = sluice(&["admin", "account", "usage", "000000000000"]);
    let line = usage.lines().find(|l| l.starts_with("000000000000")).unwrap();
    assert!(line.contains("1/1") && line.split_whitespace().nth(3) == Some("1/1"), "{usage}");
    // The running server applies them (within its cache bound; the change notification
    // makes it at once): no second queue, and no more messages until the stored one goes.
    rt.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match sqs.create_queue().queue_name("second").send().await {
                Err(e) => {
                    assert_eq!(crate::harness::error_code(&e), "OverLimit");
                    break;
                }
                Ok(_) => {
                    assert!(std::time::Instant::now() < deadline, "the new limit is not applied");
                    sqs.delete_queue().queue_url(served.endpoint() + "/000000000000/second").send().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let e = sqs.send_message().queue_url(&url).message_body("two").send().await.unwrap_err();
        assert_eq!(crate::harness::error_code(&e), "OverLimit");
        // The metrics listener the log names counts the refusals by account and reason.
        let text = std::fs::read_to_string(&log).unwrap();
        let at = text.find("metrics and health on http://").expect("the log names the metrics listener");
        let rest = &text[at + "metrics and health on ".len()..];
        let url: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '\x1b').collect();
        let base = url.trim_end_matches("/metrics").to_owned();
        sluice::install_crypto_provider();
        let page = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
        assert!(
            page.lines().any(|l| l.starts_with(r#"sluice_refusals_total{account="000000000000",reason="OverLimit"}"#)),
            "{page}"
        );
    });
    // curl on the metrics listener shows every series the README names.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("The\nseries:").expect("the README names the series")..];
    let named: Vec<&str> =
        section[..section.find("```").unwrap()].split('`').filter(|w| w.starts_with("sluice_")).collect();
    assert!(named.len() >= 10, "{named:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let at = text.find("metrics and health on http://").unwrap();
    let url: String = text[at + "metrics and health on ".len()..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\x1b')
        .collect();
    let curl = Command::new("curl").args(["-s", &url]).output().expect("curl");
    let page = String::from_utf8(curl.stdout).unwrap();
    for series in named {
        assert!(page.lines().any(|l| l.starts_with(series)), "{series} is not served:\n{page}");
    }
    // Who changed what: the operator's limits and the account's own queue.
    let trail = sluice(&["admin", "audit", "--account", "000000000000"]);
    assert!(trail.lines().any(|l| l.contains("admin:account-limits") && l.contains("operator")), "{trail}");
    assert!(
        trail.lines().any(|l| l.contains("sqs:CreateQueue") && l.contains("arn:aws:iam::000000000000:root")),
        "{trail}"
    );
    assert!(served.terminate().success());
}

#[test]
fn point_in_time_recovery_from_a_base_backup_and_the_wal_archive_keeps_what_came_before_the_instant() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let archive = home.path().join("wal-archive");
    let log = home.path().join("sluice.log");
    let _cluster = crate::harness::ClusterGuard(data.clone());
    let env = [("SLUICE_WAL_ARCHIVE_DIR", archive.display().to_string())];
    let sluice = |args: &[&str]| {
        let out = Command::new(crate::harness::sluice_bin())
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env("SLUICE_WAL_ARCHIVE_DIR", &archive)
            .output()
            .unwrap();
        assert!(out.status.success(), "sluice {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let mut served = Served::start_with_env(home.path(), Some(&data), &log, &env);
    let sqs = served.sqs();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = rt.block_on(async {
        let url = sqs.create_queue().queue_name("history").send().await.unwrap().queue_url().unwrap().to_owned();
        sqs.send_message().queue_url(&url).message_body("before the backup").send().await.unwrap();
        url
    });
    let base = home.path().join("base");
    sluice(&["admin", "db", "base-backup", "--out", base.to_str().unwrap()]);
    let until = rt.block_on(async {
        sqs.send_message().queue_url(&url).message_body("after the backup, before the instant").send().await.unwrap();
        // The instant: after that send was committed (and answered), before the next one
        // starts; the next commit carries a later time once the clock has passed it.
        let until = chrono::Utc::now();
        while chrono::Utc::now() <= until {
            tokio::task::yield_now().await;
        }
        sqs.send_message().queue_url(&url).message_body("after the instant").send().await.unwrap();
        until.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    });
    // Close the current WAL segment so it is archived, then stop.
    let cluster = sluice::store::local_pg::default_cluster_dir(&data);
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&format!(
            "postgresql://postgres@localhost:5432/postgres?host={}",
            cluster.join("sock").display()
        ))
        .await
        .unwrap();
        let archived = || std::fs::read_dir(&archive).map(|d| d.count()).unwrap_or(0);
        let before = archived();
        sqlx::query("SELECT pg_switch_wal()").execute(&pool).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while archived() <= before {
            assert!(std::time::Instant::now() < deadline, "the WAL segment was not archived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        pool.close().await;
    });
    assert!(served.terminate().success());

    let out = sluice(&["admin", "db", "pitr", "--base", base.to_str().unwrap(), "--until", &until]);
    assert!(out.contains("recovered"), "{out}");
    let mut served = Served::start_with_env(home.path(), Some(&data), &log, &env);
    let sqs = served.sqs();
    let bodies = rt.block_on(async {
        let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
        let mut b: Vec<String> = got.messages().iter().map(|m| m.body().unwrap().to_owned()).collect();
        b.sort();
        b
    });
    assert_eq!(bodies, ["after the backup, before the instant", "before the backup"]);
    assert!(served.terminate().success());
}
