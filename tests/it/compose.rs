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
