//! docker-compose.yml uses the configuration names the code reads.

#[test]
fn docker_compose_environment_names_are_configuration_keys() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let env = &doc["services"]["sluice"]["environment"];
    let names: Vec<String> = match env {
        serde_yaml_ng::Value::Mapping(m) => m.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
        serde_yaml_ng::Value::Sequence(s) => {
            s.iter().filter_map(|v| v.as_str()).map(|v| v.split('=').next().unwrap_or("").to_owned()).collect()
        }
        _ => panic!("services.sluice.environment is missing"),
    };
    let keys = sluice::Config::keys();
    let mut checked = 0;
    for name in &names {
        let Some(key) = name.strip_prefix("SLUICE_") else { continue };
        assert!(keys.contains(&key.to_ascii_lowercase().as_str()), "{name} is not a configuration key");
        checked += 1;
    }
    assert!(checked >= 4, "expected SLUICE_* settings in docker-compose.yml, found {names:?}");
    assert!(names.iter().any(|n| n == "SLUICE_DATABASE_URL"), "compose must point Sluice at its PostgreSQL");
}

/// The runtime stage of the Dockerfile: its text from the last `FROM` on.
fn runtime_stage(dockerfile: &str) -> &str {
    let at = dockerfile.rfind("\nFROM ").expect("a runtime stage") + 1;
    &dockerfile[at..]
}

/// The compose file's `sluice` service: its environment and its writable volume targets.
fn sluice_service() -> (Vec<(String, String)>, Vec<String>) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let service = &doc["services"]["sluice"];
    let env = service["environment"]
        .as_mapping()
        .expect("environment as a mapping")
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_yaml_ng::Value::String(s) => s.clone(),
                other => serde_yaml_ng::to_string(other).unwrap().trim().to_owned(),
            };
            (k.as_str().unwrap().to_owned(), v)
        })
        .collect();
    let writable = service["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|v| !v.ends_with(":ro"))
        .map(|v| v.split(':').nth(1).unwrap().to_owned())
        .collect();
    (env, writable)
}

/// Every directory the service writes into, by the configuration the compose file gives it.
fn written_dirs(config: &sluice::Config) -> Vec<std::path::PathBuf> {
    let mut dirs = vec![
        config.data_dir.clone(),
        config.master_key_path().parent().unwrap().to_path_buf(),
        config.keyring_path().parent().unwrap().to_path_buf(),
    ];
    dirs.extend(config.wal_archive_dir.clone());
    dirs
}

#[test]
fn the_image_trusts_public_cas_and_every_path_the_service_writes_is_a_volume_its_user_owns() {
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let runtime = runtime_stage(&dockerfile);
    assert!(
        runtime.lines().any(|l| l.contains("apt-get install") && l.contains("ca-certificates")),
        "the runtime stage installs ca-certificates:\n{runtime}"
    );
    let user = runtime.lines().find_map(|l| l.strip_prefix("USER ")).expect("the image runs as a user").trim();
    assert_ne!(user, "root");
    // Directories the runtime stage makes and gives to that user (a named volume starts with
    // the image directory's owner).
    let owned: Vec<&str> = runtime
        .split("chown ")
        .skip(1)
        .flat_map(|rest| rest.split(['\n', '&']).next().unwrap_or("").split_whitespace().skip(1))
        .filter(|w| w.starts_with('/'))
        .collect();
    let (env, writable) = sluice_service();
    let config = figment_config(&env);
    for dir in written_dirs(&config) {
        let dir = dir.to_str().unwrap().to_owned();
        assert!(writable.contains(&dir), "{dir} is written by the service but is not a writable volume ({writable:?})");
        assert!(owned.contains(&dir.as_str()), "{dir} is a volume the image's user {user} does not own ({owned:?})");
    }
    assert!(
        config.keyring_path().starts_with("/keys"),
        "the keyring is not beside the data: {:?}",
        config.keyring_path()
    );
}

/// The configuration the service reads from these variables alone (no file, no flags).
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
fn figment_config(env: &[(String, String)]) -> sluice::Config {
    let mut config = None;
    figment::Jail::expect_with(|jail| {
        for (k, v) in env {
            jail.set_env(k, v);
        }
        config = Some(sluice::Config::load(None, serde_json::json!({})).map_err(|e| e.to_string())?);
        Ok(())
    });
    config.unwrap()
}

/// The compose service's own command and environment, run natively as an unprivileged user in a
/// sandbox where only its volumes are writable: every absolute path of the environment moved
/// under the sandbox, the database and the listening addresses replaced by the test's.
#[test]
fn the_compose_service_starts_natively_as_an_unprivileged_user_with_only_its_volumes_writable() {
    use std::io::BufRead;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let entry = runtime_stage(&dockerfile).lines().find_map(|l| l.strip_prefix("ENTRYPOINT ")).expect("ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(entry).unwrap();
    assert_eq!(entry[0], "/usr/local/bin/sluice");
    let (env, writable) = sluice_service();
    let url = crate::harness::database_url();
    // As root, the service runs as the user the test cluster runs as (it reaches its socket);
    // otherwise as this (unprivileged) user.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let socket_dir = url.split("host=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let meta = std::fs::metadata(&socket_dir).unwrap();
    let (uid, gid) = (meta.uid(), meta.gid());

    let sandbox = tempfile::tempdir().unwrap();
    let base = sandbox.path().to_path_buf();
    let inside = |p: &str| base.join(p.trim_start_matches('/'));
    // The image's tree: read-only for the service but for its volumes.
    for v in &writable {
        std::fs::create_dir_all(inside(v)).unwrap();
        std::fs::set_permissions(inside(v), std::fs::Permissions::from_mode(0o700)).unwrap();
        if root {
            std::os::unix::fs::chown(inside(v), Some(uid), Some(gid)).unwrap();
        }
    }
    // Read-only mounts: the certificate.
    let certs = inside("/certs");
    std::fs::create_dir_all(&certs).unwrap();
    sluice::boot::dev_certificates(&certs).unwrap();
    for f in ["server.pem", "server.key", "ca.pem"] {
        std::fs::set_permissions(certs.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            let v = if v.starts_with('/') { inside(v).display().to_string() } else { v.clone() };
            (k.clone(), v)
        })
        .collect();
    for (k, v) in [
        ("SLUICE_DATABASE_URL", url.clone()),
        ("SLUICE_LISTEN", "127.0.0.1:0".into()),
        ("SLUICE_METRICS_LISTEN", "127.0.0.1:0".into()),
        ("SLUICE_BOOTSTRAP_ACCOUNT_ID", format!("{}", 200_000_000_000u64 + u64::from(std::process::id()))),
        ("SLUICE_BOOTSTRAP_ACCOUNT_NAME", format!("compose-{}", std::process::id())),
    ] {
        vars.retain(|(n, _)| n != k);
        vars.push((k.into(), v));
    }
    // The deployment's key files, where its configuration says they are (the test database
    // holds data sealed under them).
    let config = figment_config(&vars);
    let test_key = crate::harness::master_key_file();
    for (from, to) in
        [(test_key.clone(), config.master_key_path()), (test_key.with_file_name("keyring"), config.keyring_path())]
    {
        assert!(writable.iter().any(|v| to.starts_with(inside(v))), "{} is not on a volume", to.display());
        std::fs::copy(&from, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
        if root {
            std::os::unix::fs::chown(&to, Some(uid), Some(gid)).unwrap();
        }
    }
    // Nothing else of the sandbox is writable by the service.
    for dir in [base.join("var/lib"), base.join("var"), base.clone(), certs.clone()] {
        if dir.exists() {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
    }

    let log = base.join("..").join(format!("compose-{}.log", std::process::id()));
    let mut cmd = std::process::Command::new(crate::harness::sluice_bin());
    cmd.args(&entry[1..]);
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&base)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    if root {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut ready = false;
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(60)) {
        if line.starts_with("export AWS_SHARED_CREDENTIALS_FILE=") {
            ready = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    for dir in [base.join("var/lib"), base.join("var"), base.clone(), certs] {
        if dir.exists() {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    assert!(ready, "the compose service did not start:\n{text}");
    assert!(inside("/var/lib/sluice/credentials").exists(), "the bootstrap credentials are on the data volume");
}
