//! The binary as a user and an orchestrator meet it: configuration handling and readiness.

mod support;

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
        text.contains("[writer]") && text.contains("batch_max_records"),
        "{text}"
    );
}

#[test]
fn a_bad_config_file_is_a_clear_error_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[http]\nlisten = \"nowhere\"\n[writer]\nbatch_max_records = 0\n",
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

/// /readyz answers 503 from the moment the endpoint serves until the roles have started: an
/// orchestrator must not route work to a process that is still connecting. The stand-in
/// "server" accepts the TCP connection and never speaks, so the process stays in its NATS
/// connect for as long as the test looks.
#[test]
fn a_process_still_connecting_to_nats_is_not_ready() {
    use std::sync::mpsc;
    use std::time::Duration;

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nats_url = format!("nats://{}", silent.local_addr().unwrap());
    let (accepted, connected) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
            let _ = accepted.send(());
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let env = support::procs::Env {
        nats_url,
        database_url: format!("sqlite://{}", dir.path().join("flare.db").display()),
        dir: dir.path().to_path_buf(),
        extra: vec![("FLARE__NATS__CONNECT_TIMEOUT".into(), "60000ms".into())],
    };
    let mut writer = env.spawn("writer", &["run", "--role", "writer"]);
    connected
        .recv_timeout(Duration::from_secs(60))
        .expect("the writer opened a connection to the stand-in server");
    // The endpoint is up before NATS is dialled; its port is in the log by now.
    let port = writer.port();
    assert_ne!(port, 0, "log:\n{}", writer.log_text());
    let (status, body) = support::procs::http_get(port, "/readyz").expect("/readyz answers");
    assert_eq!(status, 503, "body: {body}");
    assert!(body.contains("roles started"), "body: {body}");
    assert!(writer.child.is_running());
}

/// `flare-plus features columns` prints the names a subscriber zips the vector arrays with,
/// and docs/VECTORS.md lists the same ones, in order.
#[test]
fn the_vector_columns_are_printed_and_documented_as_the_code_has_them() {
    use flare_plus::features::{covariate_columns, feature_columns};
    let out = flare_plus()
        .args(["features", "columns"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(printed["features"], serde_json::json!(feature_columns()));
    assert_eq!(
        printed["covariates"],
        serde_json::json!(covariate_columns())
    );

    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/VECTORS.md"))
        .expect("docs/VECTORS.md");
    let listed = |heading: &str| -> Vec<String> {
        doc.split(heading)
            .nth(1)
            .unwrap_or_else(|| panic!("no {heading:?} section"))
            .lines()
            .skip_while(|l| !l.starts_with("| 0 |"))
            .take_while(|l| l.starts_with("| "))
            .map(|l| l.split('`').nth(1).expect("a `name` cell").to_string())
            .collect()
    };
    assert_eq!(listed("### features"), feature_columns().to_vec());
    assert_eq!(listed("### covariates"), covariate_columns().to_vec());
}
