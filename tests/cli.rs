//! The binary's configuration handling as a user meets it.

use std::process::Command;

fn flare_plus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flare-plus"))
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_redacted() {
    let out = flare_plus()
        .arg("check-config")
        .env(
            "FLARE__DATABASE__URL",
            "postgres://flare:hunter2@db:5432/flare",
        )
        .env("FLARE__SOURCES__DONKI__API_KEY", "nasa-secret-key")
        .output()
        .expect("run flare-plus");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("postgres://flare:***@db:5432/flare"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("nasa-secret-key"),
        "secret leaked:\n{text}"
    );
    assert!(
        text.contains("[writer]") && text.contains("batch_max_messages"),
        "{text}"
    );
}

#[test]
fn a_bad_config_file_is_a_clear_error_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[http]\nlisten = \"nowhere\"\n[writer]\nbatch_max_messages = 0\n",
    )
    .unwrap();
    let out = flare_plus()
        .args(["--config"])
        .arg(&bad)
        .arg("check-config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid configuration"), "{err}");
    assert!(err.contains("http.listen \"nowhere\""), "{err}");
    assert!(err.contains("writer batch limits"), "{err}");

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[http\nlisten = ").unwrap();
    let out = flare_plus()
        .arg("--config")
        .arg(&broken)
        .arg("check-config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the configuration"));

    let out = flare_plus()
        .args(["--config", "/nonexistent/flare.toml", "check-config"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
