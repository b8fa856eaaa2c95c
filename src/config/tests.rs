use super::*;

#[derive(Debug, serde::Deserialize)]
struct Shutdown {
    #[serde(with = "humantime_serde")]
    limit: std::time::Duration,
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn old_numeric_duration_keys_name_their_replacement() {
    let err = load_with_env::<toml::Table>(None, env(&[("FLARE__SHUTDOWN__LIMIT_SECS", "5")]))
        .expect_err("renamed key");
    let text = err.to_string();
    assert!(
        text.contains("shutdown.limit_secs is now shutdown.limit"),
        "{text}"
    );
}

#[test]
fn nasa_api_key_sits_between_the_files_and_the_flare_variable() {
    let key = |vars: &[(&str, &str)]| {
        let t: toml::Table = load_with_env(None, env(vars)).expect("loads");
        t["sources"]["donki"]["api_key"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(
        key(&[("NASA_API_KEY", "from-nasa")]).as_deref(),
        Some("from-nasa")
    );
    assert_eq!(
        key(&[
            ("NASA_API_KEY", "from-nasa"),
            ("FLARE__SOURCES__DONKI__API_KEY", "from-flare")
        ])
        .as_deref(),
        Some("from-flare")
    );
}

#[test]
fn embedded_sections_deserialize() {
    let shutdown: Shutdown = embedded_section("shutdown");
    assert!(shutdown.limit.as_secs() > 0);
}
