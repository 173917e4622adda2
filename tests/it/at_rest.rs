//! At rest: after a scripted session, the database dump, every file of the cluster directory
//! (pg_wal included) and the server's log hold no access-key secret and no message body.

use std::path::Path;

use base64::prelude::*;

use crate::harness::sluice_bin;

fn forms(secret: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        ("raw".into(), secret.as_bytes().to_vec()),
        ("hex".into(), hex::encode(secret).into_bytes()),
        ("HEX".into(), hex::encode_upper(secret).into_bytes()),
        ("base64".into(), BASE64_STANDARD.encode(secret).into_bytes()),
        ("base64url".into(), BASE64_URL_SAFE_NO_PAD.encode(secret).into_bytes()),
    ]
}

fn byte_forms(what: &str, secret: &[u8]) -> Vec<(String, Vec<u8>)> {
    vec![
        (format!("{what} (raw)"), secret.to_vec()),
        (format!("{what} (hex)"), hex::encode(secret).into_bytes()),
        (format!("{what} (HEX)"), hex::encode_upper(secret).into_bytes()),
        (format!("{what} (base64)"), BASE64_STANDARD.encode(secret).into_bytes()),
        (format!("{what} (base64url)"), BASE64_URL_SAFE_NO_PAD.encode(secret).into_bytes()),
    ]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

fn scan(path: &Path, needles: &[(String, Vec<u8>)], found: &mut Vec<String>, files: &mut usize) {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return };
    if meta.is_dir() {
        for e in std::fs::read_dir(path).unwrap().flatten() {
            scan(&e.path(), needles, found, files);
        }
    } else if meta.is_file() {
        *files += 1;
        let data = std::fs::read(path).unwrap_or_default();
        for (what, n) in needles {
            if contains(&data, n) {
                found.push(format!("{what} in {}", path.display()));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_and_bodies_are_not_in_the_dump_the_cluster_files_or_the_log() {
    let scratch = crate::harness::Scratch::new();
    let (data, log) = (scratch.data.clone(), scratch.log.clone());
    let mut served = scratch.serve();
    let (_, bootstrap_secret) = served.key();

    // A second account made by the operator command while the server runs.
    let out = std::process::Command::new(sluice_bin())
        .args(["admin", "account", "create", "team-rest", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let profile = String::from_utf8(out.stdout).unwrap();
    let team_secret = profile
        .lines()
        .find_map(|l| l.strip_prefix("aws_secret_access_key = "))
        .expect("the profile shows the secret once")
        .to_owned();
    assert!(profile.starts_with("[team-rest]"));

    let sqs = served.sqs();
    let body = format!("confidential-body-{}", uuid::Uuid::new_v4().simple());
    let attr_value = format!("confidential-attribute-{}", uuid::Uuid::new_v4().simple());
    let binary_value = format!("confidential-binary-{}", uuid::Uuid::new_v4().simple());
    let url = sqs.create_queue().queue_name("rest").send().await.unwrap().queue_url().unwrap().to_owned();
    for _ in 0..3 {
        sqs.send_message()
            .queue_url(&url)
            .message_body(&body)
            .message_attributes(
                "note",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(&attr_value)
                    .build()
                    .unwrap(),
            )
            .message_attributes(
                "raw",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(aws_sdk_sqs::primitives::Blob::new(binary_value.as_bytes()))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some(body.as_str()));

    // Refused calls: a wrong secret, and a session token. Their signatures and the token
    // must not reach the log either.
    let ca = std::fs::read(served.data_dir.join("ca.pem")).unwrap();
    let (key, _) = served.key();
    let wrong = crate::harness::sqs_client(&served.endpoint(), &ca, &key, "wrong-secret-wrong-secret-wrong-secret!");
    assert!(wrong.list_queues().send().await.is_err());
    let token = format!("session-token-{}", uuid::Uuid::new_v4().simple());
    let raw = crate::harness::RawClient {
        url: served.endpoint(),
        http: crate::harness::http_client(&ca),
        key: key.clone(),
        secret: bootstrap_secret.clone(),
    };
    let headers = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "AmazonSQS.ListQueues"),
        ("x-amz-security-token", token.as_str()),
    ];
    let signed = raw.sign("/", &headers, b"{}", std::time::SystemTime::now(), &bootstrap_secret, "sqs");
    assert_eq!(raw.send_raw("/", &signed, b"{}".to_vec()).await.status, 403);

    // Temporary credentials: a role session's secret and token are not stored in clear.
    use crate::iam_api::{el, iam};
    let r = iam(&raw, "iam", &[("Action", "CreateUser"), ("UserName", "rest-dev")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = iam(&raw, "iam", &[("Action", "CreateAccessKey"), ("UserName", "rest-dev")]).await;
    let dev = crate::harness::RawClient {
        key: el(&r.body, "AccessKeyId").unwrap().to_owned(),
        secret: el(&r.body, "SecretAccessKey").unwrap().to_owned(),
        url: raw.url.clone(),
        http: raw.http.clone(),
    };
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/rest-dev"},"Action":"sts:AssumeRole"}]}"#;
    let r =
        iam(&raw, "iam", &[("Action", "CreateRole"), ("RoleName", "rest-role"), ("AssumeRolePolicyDocument", trust)])
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = iam(
        &dev,
        "sts",
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", "arn:aws:iam::000000000000:role/rest-role"),
            ("RoleSessionName", "rest"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let session_secret = el(&r.body, "SecretAccessKey").unwrap().to_owned();
    let session_token = el(&r.body, "SessionToken").unwrap().to_owned();
    let session = crate::harness::sqs_session_client(
        &served.endpoint(),
        &ca,
        el(&r.body, "AccessKeyId").unwrap(),
        &session_secret,
        Some(&session_token),
    );
    // The role has no policy: authenticated, then refused.
    let e = session.list_queues().send().await.unwrap_err();
    assert_eq!(crate::harness::error_code(&e), "AccessDenied");

    // The data keys that sealed the bodies, unwrapped here with the keyring: none may
    // appear in clear anywhere.
    let cluster = sluice::store::local_pg::default_cluster_dir(&data);
    let pool = sqlx::PgPool::connect(&format!(
        "postgresql://postgres@localhost:5432/postgres?host={}",
        cluster.join("sock").display()
    ))
    .await
    .unwrap();
    let rows: Vec<(i64, uuid::Uuid, String, String, Vec<u8>)> =
        sqlx::query_as("SELECT id, queue_id, account_id, master_key, wrapped FROM queue_data_keys")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(!rows.is_empty(), "bodies are sealed under data keys");
    let ring = sluice::crypto::keyring::Keyring::open_or_create(&scratch.dir.path().join("data-keyring")).unwrap();
    let mut data_keys = Vec::new();
    for (id, queue, account, master, wrapped) in &rows {
        use sluice::crypto::provider::KeyProvider;
        let ctx = sluice::keys::context(account, *queue, *id as u64);
        data_keys.push(ring.decrypt_data_key(master, wrapped, &ctx).await.unwrap().0.to_vec());
    }

    // A stored body altered behind Sluice's back: the receive leaves it out, counts it and
    // logs its id.
    let victim = sqs.send_message().queue_url(&url).message_body("to be tampered with").send().await.unwrap();
    let victim = victim.message_id().unwrap().to_owned();
    sqlx::query(
        "UPDATE messages SET body_sealed = set_byte(body_sealed, 30, get_byte(body_sealed, 30) # 1) WHERE id = $1",
    )
    .bind(uuid::Uuid::parse_str(&victim).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    // A plaintext planted in the database on purpose: the scans below must find it, or they
    // prove nothing about what they do not find.
    let planted = format!("planted-plaintext-{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("COMMENT ON TABLE accounts IS '{planted}'"))).execute(&pool).await.unwrap();
    pool.close().await;
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert!(!got.messages().is_empty(), "the untouched messages are returned");
    assert!(got.messages().iter().all(|m| m.message_id() != Some(victim.as_str())));

    // pg_dump of the live database.
    let bin = sluice::store::local_pg::find_bin_dir().unwrap();
    let dump = std::process::Command::new(bin.join("pg_dump"))
        .args(["-h"])
        .arg(cluster.join("sock"))
        .args(["-p", "5432", "-U", "postgres", "postgres"])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    assert!(contains(&dump.stdout, b"access_keys"), "the dump covers the key table");

    assert!(served.terminate().success());

    let mut needles = Vec::new();
    for s in [&bootstrap_secret, &team_secret] {
        needles.extend(forms(s));
    }
    for (what, v) in
        [("message body", &body), ("attribute value", &attr_value), ("binary attribute value", &binary_value)]
    {
        for (form, bytes) in forms(v) {
            needles.push((format!("{what} ({form})"), bytes));
        }
    }
    needles.push(("session token".into(), token.into_bytes()));
    for (i, k) in data_keys.iter().enumerate() {
        needles.extend(byte_forms(&format!("data key {i}"), k));
    }
    for (form, bytes) in forms(&session_secret) {
        needles.push((format!("role session secret ({form})"), bytes));
    }
    for (form, bytes) in forms(&session_token) {
        needles.push((format!("role session token ({form})"), bytes));
    }
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("denied"), "refusals are logged");
    assert!(
        log_text.lines().any(|l| l.contains("did not open") && l.contains(&victim)),
        "the tampered message is logged by id"
    );
    for (i, _) in log_text.match_indices("Signature=") {
        let next = log_text[i + 10..].chars().next().unwrap_or(' ');
        assert!(
            !next.is_ascii_hexdigit(),
            "a signature reached the log: {}",
            &log_text[i..(i + 80).min(log_text.len())]
        );
    }
    let mut found = Vec::new();
    for (what, n) in &needles {
        if contains(&dump.stdout, n) {
            found.push(format!("{what} in pg_dump"));
        }
    }
    let mut files = 0;
    scan(&cluster, &needles, &mut found, &mut files);
    scan(&log, &needles, &mut found, &mut files);
    assert!(files > 100, "scanned only {files} files");
    assert!(cluster.join("data/pg_wal").is_dir());
    assert!(found.is_empty(), "found in clear: {found:?}");
    // The same scans find the planted plaintext: in the dump and in the cluster's files.
    let planted_needles = forms(&planted);
    assert!(contains(&dump.stdout, planted.as_bytes()), "the dump scan misses a planted plaintext");
    let (mut caught, mut n) = (Vec::new(), 0);
    scan(&cluster, &planted_needles, &mut caught, &mut n);
    assert!(caught.iter().any(|f| f.contains("pg_wal")), "the file scan misses a planted plaintext: {caught:?}");
}

#[tokio::test]
async fn tampered_rows_do_not_open_are_set_aside_and_the_rest_of_the_receive_is_returned() {
    let s = crate::harness::TestServer::start().await;
    let a = s.account().await;
    let b = s.account().await;
    let (sqs_a, sqs_b) = (s.sqs(&a), s.sqs(&b));
    let qa = sqs_a.create_queue().queue_name("source").send().await.unwrap().queue_url().unwrap().to_owned();
    let qa2 = sqs_a.create_queue().queue_name("second").send().await.unwrap().queue_url().unwrap().to_owned();
    let qb = sqs_b.create_queue().queue_name("target").send().await.unwrap().queue_url().unwrap().to_owned();
    let id = |o: aws_sdk_sqs::operation::send_message::SendMessageOutput| {
        uuid::Uuid::parse_str(o.message_id().unwrap()).unwrap()
    };
    let send = |sqs: &aws_sdk_sqs::Client, url: &str, body: &'static str| {
        sqs.send_message().queue_url(url).message_body(body).send()
    };
    let a1 = id(send(&sqs_a, &qa, "account A's secret").await.unwrap());
    let a2 = id(send(&sqs_a, &qa, "A's second").await.unwrap());
    let a3 = id(send(&sqs_a, &qa, "A's third, untouched").await.unwrap());
    let q2 = id(send(&sqs_a, &qa2, "in A's other queue").await.unwrap());
    let q2ok = id(send(&sqs_a, &qa2, "A's other queue, untouched").await.unwrap());
    let b1 = id(send(&sqs_b, &qb, "B's own").await.unwrap());
    let b2 = id(send(&sqs_b, &qb, "B's untouched").await.unwrap());
    let copy = |from: uuid::Uuid, to: uuid::Uuid| {
        sqlx::query("UPDATE messages SET body_sealed = (SELECT body_sealed FROM messages WHERE id = $1) WHERE id = $2")
            .bind(from)
            .bind(to)
            .execute(s.store.pool())
    };
    // Between two accounts, two queues, two rows of one queue; and one flipped byte.
    copy(a1, b1).await.unwrap();
    copy(a1, q2).await.unwrap();
    copy(a1, a2).await.unwrap();
    sqlx::query(
        "UPDATE messages SET body_sealed = set_byte(body_sealed, 29, get_byte(body_sealed, 29) # 1) WHERE id = $1",
    )
    .bind(a1)
    .execute(s.store.pool())
    .await
    .unwrap();

    let before = s.queues.unopenable_count();
    for (sqs, url, good) in [(&sqs_a, &qa, a3), (&sqs_a, &qa2, q2ok), (&sqs_b, &qb, b2)] {
        let got = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
        let ids: Vec<String> = got.messages().iter().map(|m| m.message_id().unwrap().to_owned()).collect();
        assert_eq!(ids, [good.to_string()], "only the untouched message is returned");
        assert!(got.messages().iter().all(|m| !m.body().unwrap().contains("secret")));
    }
    assert_eq!(s.queues.unopenable_count() - before, 4, "each tampered message is counted once");
    // Set aside: never handed out again (the visibility timeout passing changes nothing).
    s.clock.advance(chrono::TimeDelta::seconds(31));
    let again = sqs_a.receive_message().queue_url(&qa).max_number_of_messages(10).send().await.unwrap();
    let ids: Vec<String> = again.messages().iter().map(|m| m.message_id().unwrap().to_owned()).collect();
    assert_eq!(ids, [a3.to_string()]);
    assert_eq!(s.queues.unopenable_count() - before, 4);
}

#[tokio::test]
async fn a_missing_master_key_in_front_of_sealed_data_is_refused_not_replaced() {
    let s = crate::harness::TestServer::start().await;
    s.account().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let missing = elsewhere.path().join("master.key");
    let config = sluice::Config {
        data_dir: elsewhere.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: Some(crate::harness::database_url().into()),
        master_key_file: Some(missing.clone()),
        bootstrap: Some(false),
        ..sluice::Config::default()
    };
    let err = sluice::build(config, sluice::BuildOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("is missing"), "{err}");
    assert!(!missing.exists(), "no new key was made");
}

/// A served session under another key provider: bodies go in, and neither they nor the
/// unwrapped data keys (unwrapped here through `provider`) are anywhere in clear.
async fn no_data_key_in_clear_under(env: &[(&str, String)], provider: &dyn sluice::crypto::provider::KeyProvider) {
    let scratch = crate::harness::Scratch::new();
    let (data, log) = (scratch.data.clone(), scratch.log.clone());
    let mut served = scratch.serve_with_env(env);
    let sqs = served.sqs();
    let body = format!("confidential-body-{}", uuid::Uuid::new_v4().simple());
    let url = sqs.create_queue().queue_name("rest").send().await.unwrap().queue_url().unwrap().to_owned();
    for _ in 0..3 {
        sqs.send_message().queue_url(&url).message_body(&body).send().await.unwrap();
    }
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some(body.as_str()));

    let cluster = sluice::store::local_pg::default_cluster_dir(&data);
    let pool = sqlx::PgPool::connect(&format!(
        "postgresql://postgres@localhost:5432/postgres?host={}",
        cluster.join("sock").display()
    ))
    .await
    .unwrap();
    let rows: Vec<(i64, uuid::Uuid, String, String, String, Vec<u8>)> =
        sqlx::query_as("SELECT id, queue_id, account_id, provider, master_key, wrapped FROM queue_data_keys")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(!rows.is_empty());
    let mut needles = forms(&body);
    for (id, queue, account, p, master, wrapped) in &rows {
        assert_eq!(p, provider.id());
        let key = provider.decrypt_data_key(master, wrapped, &sluice::keys::context(account, *queue, *id as u64)).await;
        needles.extend(byte_forms(&format!("data key {id}"), &key.unwrap().0[..]));
    }
    let bin = sluice::store::local_pg::find_bin_dir().unwrap();
    let dump = std::process::Command::new(bin.join("pg_dump"))
        .args(["-h"])
        .arg(cluster.join("sock"))
        .args(["-p", "5432", "-U", "postgres", "postgres"])
        .output()
        .unwrap();
    assert!(dump.status.success());
    assert!(served.terminate().success());
    let mut found: Vec<String> =
        needles.iter().filter(|(_, n)| contains(&dump.stdout, n)).map(|(w, _)| format!("{w} in pg_dump")).collect();
    let mut files = 0;
    scan(&cluster, &needles, &mut found, &mut files);
    scan(&log, &needles, &mut found, &mut files);
    assert!(files > 100, "scanned only {files} files");
    assert!(found.is_empty(), "found in clear: {found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_pkcs11_no_data_key_or_body_is_at_rest_in_clear() {
    let Some(token) = crate::keys::softhsm_token() else { return };
    let env = [
        ("SLUICE_KEY_PROVIDER", "pkcs11".to_owned()),
        ("SLUICE_PKCS11_MODULE", token.module.display().to_string()),
        ("SLUICE_PKCS11_TOKEN_LABEL", token.label.clone()),
        ("SLUICE_PKCS11_PIN_FILE", token.pin_file.display().to_string()),
    ];
    let pin = secrecy::SecretString::from("user-pin-1".to_owned());
    let provider = sluice::crypto::pkcs11::Pkcs11Provider::open(&token.module, &token.label, pin).unwrap();
    no_data_key_in_clear_under(&env, &provider).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_aws_kms_no_data_key_or_body_is_at_rest_in_clear() {
    use sluice::crypto::provider::KeyProvider;
    let Some(m) = crate::keys::moto() else { return };
    let provider = crate::keys::kms_provider(&m);
    provider.create_key("default").await.unwrap();
    let env = [
        ("SLUICE_KEY_PROVIDER", "aws-kms".to_owned()),
        ("SLUICE_AWS_KMS_KEY_ID", "alias/sluice/default".to_owned()),
        ("SLUICE_AWS_KMS_ENDPOINT", m.url.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    no_data_key_in_clear_under(&env, &provider).await;
}
