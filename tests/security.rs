//! Security properties of the built binary, each checked against real servers:
//!
//! - NATS authentication (user/password, token, nkey) and TLS (server CA, client
//!   certificates, required TLS) configured from `FLARE__NATS__*`: the right settings make a
//!   writer ready with its streams created; wrong ones make it exit non-zero within seconds
//!   with a message naming the problem and the settings to check, after exactly one login
//!   attempt (the nats-server log is the witness: no retry storm).
//! - Secrets (database password, NASA key, NATS password/token/nkey seed) never appear in
//!   stdout/stderr at debug level, in error messages, in `check-config` output or in
//!   `/metrics`, on the success paths and on failing ones (wrong database password, refused
//!   database, wrong NATS password, failing upstream).
//! - `/metrics` binds to loopback unless configured otherwise.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use support::procs::{http_get, metric_sum, Env, Proc};
use support::secure::{
    failed_logins, listening_addrs, parse_proc_addr, password_protected_database, stream_names,
    user_nkey, Pki,
};
use testkit::NatsServer;

const WRITER: &[&str] = &["run", "--role", "writer"];

/// A failing start must end within this: one connect attempt (5 s connect timeout at most)
/// plus process start-up. A retrying client would still be running.
const QUICK_EXIT: Duration = Duration::from_secs(10);

fn env(nats_url: &str, dir: &Path, extra: &[(&str, &str)]) -> Env {
    Env {
        nats_url: nats_url.to_string(),
        database_url: format!("sqlite://{}/flare.db", dir.display()),
        dir: dir.to_path_buf(),
        extra: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// Starts a writer, waits for /readyz 200, checks the server now holds the pipeline's
/// streams, and stops it cleanly.
fn assert_ready_with_streams(env: &Env, nats: &NatsServer, name: &str) {
    let mut writer = env.spawn(name, WRITER);
    writer.wait_ready(Duration::from_secs(60));
    let streams = stream_names(nats.monitor_port());
    for stream in ["OBS", "FEATURES", "DLQ", "KV_flare_checkpoints"] {
        assert!(
            streams.contains(stream),
            "{name}: stream {stream} missing, server has {streams:?}"
        );
    }
    assert_eq!(
        writer.terminate(),
        Some(0),
        "{name}:\n{}",
        writer.log_text()
    );
}

/// Starts a writer that must fail: exit code 1 within [`QUICK_EXIT`]. Returns its output.
fn assert_fails_quickly(env: &Env, name: &str) -> String {
    let started = Instant::now();
    let mut writer = env.spawn(name, WRITER);
    let status = writer.wait_exit(Duration::from_secs(60));
    let elapsed = started.elapsed();
    let log = writer.log_text();
    assert_eq!(status.code(), Some(1), "{name} exit status:\n{log}");
    assert!(
        elapsed < QUICK_EXIT,
        "{name} took {elapsed:?} to give up:\n{log}"
    );
    log
}

/// The last line of a failed run: what `main` printed.
fn final_error(log: &str) -> &str {
    log.lines()
        .rev()
        .find(|l| l.starts_with("flare-plus: "))
        .unwrap_or_else(|| panic!("no final error line in:\n{log}"))
}

/// Waits until the server logged `expected` refused logins in total (its log is written
/// asynchronously), then checks there are exactly that many.
fn assert_failed_logins(nats: &NatsServer, expected: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while failed_logins(&nats.log()) < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        failed_logins(&nats.log()),
        expected,
        "{what}: refused logins in the nats-server log:\n{}",
        nats.log()
    );
}

#[test]
fn user_password_auth_admits_the_right_user_and_refuses_others_after_one_attempt() {
    let nats = NatsServer::builder()
        .config(r#"authorization { user: "flare", password: "Right-pw-31" }"#)
        .start();
    let dir = tempfile::tempdir().unwrap();
    let good = env(
        &nats.url(),
        dir.path(),
        &[
            ("FLARE__NATS__USER", "flare"),
            ("FLARE__NATS__PASSWORD", "Right-pw-31"),
        ],
    );
    assert_ready_with_streams(&good, &nats, "writer-right-password");
    assert_failed_logins(&nats, 0, "the right password");

    let cases: [(&str, &[(&str, &str)]); 3] = [
        (
            "writer-wrong-password",
            &[
                ("FLARE__NATS__USER", "flare"),
                ("FLARE__NATS__PASSWORD", "Wrong-pw-32"),
            ],
        ),
        (
            "writer-wrong-user",
            &[
                ("FLARE__NATS__USER", "mallory"),
                ("FLARE__NATS__PASSWORD", "Right-pw-31"),
            ],
        ),
        ("writer-no-credentials", &[]),
    ];
    for (refused, (name, creds)) in cases.into_iter().enumerate() {
        let log = assert_fails_quickly(&env(&nats.url(), dir.path(), creds), name);
        assert_eq!(
            final_error(&log),
            format!(
                "flare-plus: cannot connect to NATS at {}: authentication failed: authorization \
                 violation: nats: authorization violation (check nats.user/password, token, \
                 nkey_seed or creds_file)",
                nats.url()
            ),
            "{name}"
        );
        assert!(
            !log.contains("Wrong-pw-32") && !log.contains("Right-pw-31"),
            "{log}"
        );
        assert_failed_logins(&nats, refused + 1, name);
    }
}

#[test]
fn token_auth_takes_a_number_like_token_verbatim_and_refuses_a_wrong_one_once() {
    // A token that parses as an integer: before the fix the environment loader turned
    // "0815004200" into 815004200 and the right token was refused.
    let token = "0815004200";
    let nats = NatsServer::builder()
        .config(&format!("authorization {{ token: \"{token}\" }}"))
        .start();
    let dir = tempfile::tempdir().unwrap();
    let good = env(&nats.url(), dir.path(), &[("FLARE__NATS__TOKEN", token)]);
    assert_ready_with_streams(&good, &nats, "writer-right-token");
    assert_failed_logins(&nats, 0, "the right token");

    let bad = env(
        &nats.url(),
        dir.path(),
        &[("FLARE__NATS__TOKEN", "Wrong-token-77")],
    );
    let log = assert_fails_quickly(&bad, "writer-wrong-token");
    assert!(
        final_error(&log).contains("authentication failed: authorization violation")
            && final_error(&log).contains("(check nats.user/password, token, nkey_seed"),
        "{log}"
    );
    assert!(
        !log.contains("Wrong-token-77") && !log.contains(token),
        "{log}"
    );
    assert_failed_logins(&nats, 1, "a wrong token");
}

#[test]
fn nkey_auth_admits_the_listed_key_and_refuses_an_unknown_or_malformed_seed() {
    let (seed, public) = user_nkey();
    let (other_seed, _) = user_nkey();
    let nats = NatsServer::builder()
        .config(&format!(
            "authorization {{ users = [ {{ nkey: \"{public}\" }} ] }}"
        ))
        .start();
    let dir = tempfile::tempdir().unwrap();
    let good = env(
        &nats.url(),
        dir.path(),
        &[("FLARE__NATS__NKEY_SEED", &seed)],
    );
    assert_ready_with_streams(&good, &nats, "writer-listed-nkey");
    assert_failed_logins(&nats, 0, "the listed nkey");

    let unknown = env(
        &nats.url(),
        dir.path(),
        &[("FLARE__NATS__NKEY_SEED", &other_seed)],
    );
    let log = assert_fails_quickly(&unknown, "writer-unknown-nkey");
    assert!(
        final_error(&log).contains("authentication failed: authorization violation")
            && final_error(&log).contains("(check nats.nkey_seed: it must be a user seed"),
        "{log}"
    );
    assert!(!log.contains(&other_seed) && !log.contains(&seed), "{log}");
    assert_failed_logins(&nats, 1, "an unknown nkey");

    // Not a seed at all: the client cannot sign the server's nonce and says so, without
    // sending a login the server would have to refuse.
    let malformed = "SUAMALFORMEDSEEDVALUE";
    let bad = env(
        &nats.url(),
        dir.path(),
        &[("FLARE__NATS__NKEY_SEED", malformed)],
    );
    let log = assert_fails_quickly(&bad, "writer-malformed-nkey");
    assert!(
        final_error(&log).contains("authentication failed: failed signing nonce")
            && final_error(&log).contains("check nats.nkey_seed"),
        "{log}"
    );
    assert!(!log.contains(malformed), "{log}");
    assert_failed_logins(&nats, 1, "a malformed seed sends no login");
}

const TLS_HINT: &str = "(check nats.tls_ca_file for the server's CA";

#[test]
fn tls_connects_with_the_servers_ca_and_fails_clearly_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path(), "good");
    let stranger = Pki::generate(dir.path(), "stranger");
    let nats = NatsServer::builder()
        .config(&pki.nats_tls_block(false))
        .start();
    let tls_url = format!("tls://127.0.0.1:{}", nats.port());
    let ca = pki.ca.to_str().unwrap();

    assert_ready_with_streams(
        &env(&tls_url, dir.path(), &[("FLARE__NATS__TLS_CA_FILE", ca)]),
        &nats,
        "writer-tls-url",
    );
    assert_ready_with_streams(
        &env(
            &nats.url(),
            dir.path(),
            &[
                ("FLARE__NATS__TLS_REQUIRED", "true"),
                ("FLARE__NATS__TLS_CA_FILE", ca),
            ],
        ),
        &nats,
        "writer-tls-required",
    );

    let stranger_ca = stranger.ca.to_str().unwrap();
    let cases: [(&str, &[(&str, &str)]); 2] = [
        ("writer-no-ca", &[]),
        (
            "writer-wrong-ca",
            &[("FLARE__NATS__TLS_CA_FILE", stranger_ca)],
        ),
    ];
    for (name, extra) in cases {
        let log = assert_fails_quickly(&env(&tls_url, dir.path(), extra), name);
        let error = final_error(&log);
        assert!(
            error.starts_with(&format!(
                "flare-plus: cannot connect to NATS at {tls_url}: TLS failed: "
            )) && error.contains("invalid peer certificate: UnknownIssuer")
                && error.contains(TLS_HINT),
            "{name}: {error}"
        );
        assert!(!error.contains("is nats-server running"), "{name}: {error}");
    }
}

#[test]
fn tls_client_certificates_are_presented_when_the_server_verifies_them() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path(), "verify");
    let nats = NatsServer::builder()
        .config(&pki.nats_tls_block(true))
        .start();
    let tls_url = format!("tls://127.0.0.1:{}", nats.port());
    let ca = pki.ca.to_str().unwrap();
    assert_ready_with_streams(
        &env(
            &tls_url,
            dir.path(),
            &[
                ("FLARE__NATS__TLS_CA_FILE", ca),
                (
                    "FLARE__NATS__TLS_CERT_FILE",
                    pki.client_cert.to_str().unwrap(),
                ),
                (
                    "FLARE__NATS__TLS_KEY_FILE",
                    pki.client_key.to_str().unwrap(),
                ),
            ],
        ),
        &nats,
        "writer-client-cert",
    );
    let log = assert_fails_quickly(
        &env(&tls_url, dir.path(), &[("FLARE__NATS__TLS_CA_FILE", ca)]),
        "writer-no-client-cert",
    );
    let error = final_error(&log);
    assert!(
        error.contains(": TLS failed: ")
            && error.contains("received fatal alert")
            && error.contains(TLS_HINT),
        "{error}"
    );
}

#[test]
fn required_tls_is_never_downgraded_to_plaintext() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let log = assert_fails_quickly(
        &env(
            &nats.url(),
            dir.path(),
            &[("FLARE__NATS__TLS_REQUIRED", "true")],
        ),
        "writer-tls-required-plain-server",
    );
    let error = final_error(&log);
    assert!(
        error.contains(": TLS failed: ") && error.contains(TLS_HINT),
        "{error}"
    );
    assert!(
        stream_names(nats.monitor_port()).is_empty(),
        "nothing was created over plaintext"
    );
}

// ---------------------------------------------------------------------------------------
// Secrets

const DB_PASSWORD: &str = "Db-pw-7f3a9c";
const WRONG_DB_PASSWORD: &str = "Wrong-db-pw-51e2";
const QUERY_DB_PASSWORD: &str = "Db-query-pw-11aa";
const NASA_KEY: &str = "Nasa-key-c0ffee42";
const NATS_PASSWORD: &str = "Nats-pw-9b8d7e";
const WRONG_NATS_PASSWORD: &str = "Wrong-nats-pw-3c4d";
const NATS_TOKEN: &str = "Nats-token-4d5e6f";
const URL_TOKEN: &str = "Url-token-8e9f";

/// Every fixed secret of these tests (the nkey seed is generated and checked separately).
const SECRETS: &[&str] = &[
    DB_PASSWORD,
    WRONG_DB_PASSWORD,
    QUERY_DB_PASSWORD,
    NASA_KEY,
    NATS_PASSWORD,
    WRONG_NATS_PASSWORD,
    NATS_TOKEN,
    URL_TOKEN,
];

fn assert_no_secret(text: &str, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} contains the secret {secret:?}:\n{text}"
        );
    }
}

fn check_config(extra: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = env("nats://127.0.0.1:4222", dir.path(), extra).command(9464, &["check-config"]);
    cmd.env_remove("FLARE__HTTP__LISTEN")
        .output()
        .expect("run check-config")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn check_config_never_prints_a_secret() {
    let (seed, _) = user_nkey();
    let db_url = format!("postgres://flare_app:{DB_PASSWORD}@db.internal:5432/flare");
    let nasa = ("FLARE__SOURCES__DONKI__API_KEY", NASA_KEY);
    type Vars<'a> = Vec<(&'a str, &'a str)>;
    let valid: [(&str, Vars, &[&str]); 4] = [
        (
            "user/password",
            vec![
                ("FLARE__DATABASE__URL", db_url.as_str()),
                ("FLARE__NATS__USER", "flare"),
                ("FLARE__NATS__PASSWORD", NATS_PASSWORD),
                nasa,
            ],
            &[
                "url = \"postgres://flare_app:***@db.internal:5432/flare\"",
                "password = \"***\"",
                "api_key = \"***\"",
            ],
        ),
        (
            "token",
            vec![("FLARE__NATS__TOKEN", NATS_TOKEN), nasa],
            &["token = \"***\""],
        ),
        (
            "nkey",
            vec![("FLARE__NATS__NKEY_SEED", seed.as_str())],
            &["nkey_seed = \"***\""],
        ),
        (
            "password in the query string",
            vec![(
                "FLARE__DATABASE__URL",
                "postgres://db.internal/flare?user=flare_app&password=Db-query-pw-11aa",
            )],
            &["url = \"postgres://db.internal/flare?user=flare_app&password=***\""],
        ),
    ];
    for (what, vars, shown) in valid {
        let output = check_config(&vars);
        let printed = text(&output);
        assert!(output.status.success(), "{what}: {printed}");
        assert_no_secret(&printed, SECRETS, what);
        assert!(
            !printed.contains(&seed),
            "{what}: the nkey seed leaked:\n{printed}"
        );
        for line in shown {
            assert!(
                printed.contains(line),
                "{what}: {line:?} not in:\n{printed}"
            );
        }
    }

    // Invalid configurations: the error lists the problems, never the values.
    let url_with_token = format!("nats://{URL_TOKEN}@127.0.0.1:4222");
    let url_with_password = format!("nats://flare:{NATS_PASSWORD}@127.0.0.1:4222");
    let invalid: [(&str, Vars, &str); 3] = [
        (
            "two auth methods",
            vec![
                ("FLARE__NATS__USER", "flare"),
                ("FLARE__NATS__PASSWORD", NATS_PASSWORD),
                ("FLARE__NATS__TOKEN", NATS_TOKEN),
                ("FLARE__NATS__NKEY_SEED", seed.as_str()),
            ],
            "nats: set only one of user/password, token, nkey_seed, creds_file",
        ),
        (
            "token in the NATS URL",
            vec![("FLARE__NATS__URL", url_with_token.as_str())],
            "nats.url \"nats://***@127.0.0.1:4222\" carries credentials: set nats.user and \
             nats.password, or nats.token, instead",
        ),
        (
            "password in the NATS URL",
            vec![("FLARE__NATS__URL", url_with_password.as_str())],
            "nats.url \"nats://flare:***@127.0.0.1:4222\" carries credentials",
        ),
    ];
    for (what, vars, problem) in invalid {
        let output = check_config(&vars);
        let printed = text(&output);
        assert_eq!(output.status.code(), Some(2), "{what}: {printed}");
        assert!(
            printed.contains(problem),
            "{what}: {problem:?} not in:\n{printed}"
        );
        assert_no_secret(&printed, SECRETS, what);
        assert!(!printed.contains(&seed), "{what}: the nkey seed leaked");
    }
}

#[test]
fn a_secret_that_is_not_utf8_is_a_clear_error_not_a_panic_printing_it() {
    use std::os::unix::ffi::OsStringExt;
    let dir = tempfile::tempdir().unwrap();
    let mut value = b"Latin1-secret-\xe9t\xe9-".to_vec();
    value.extend_from_slice(NATS_PASSWORD.as_bytes());
    let output = env("nats://127.0.0.1:4222", dir.path(), &[])
        .command(9464, &["check-config"])
        .env("FLARE__NATS__USER", "flare")
        .env("FLARE__NATS__PASSWORD", std::ffi::OsString::from_vec(value))
        .output()
        .unwrap();
    let printed = text(&output);
    assert_eq!(output.status.code(), Some(2), "{printed}");
    assert_eq!(
        printed.trim_end(),
        "flare-plus: cannot read the configuration: environment variable(s) \
         FLARE__NATS__PASSWORD not valid UTF-8 (value not shown)"
    );
    assert!(!printed.contains("Latin1-secret") && !printed.contains("panicked"));
}

/// Publishes one undecodable message to `flare.obs.xrs` as user `flare` (so the writer logs a
/// dead letter at debug level, the path that prints record details).
fn publish_garbage(nats_url: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::ConnectOptions::with_user_and_password(
            "flare".into(),
            NATS_PASSWORD.into(),
        )
        .connect(nats_url)
        .await
        .expect("test client connects");
        let js = async_nats::jetstream::new(client);
        js.publish("flare.obs.xrs", "not an observation".into())
            .await
            .expect("publish")
            .await
            .expect("stored on OBS");
    });
}

fn wait_for(what: &str, proc: &mut Proc, deadline: Duration, mut done: impl FnMut(&Proc) -> bool) {
    let until = Instant::now() + deadline;
    while !done(proc) {
        assert!(
            proc.child.is_running() && Instant::now() < until,
            "{what} did not happen:\n{}",
            proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn secrets_never_reach_logs_errors_or_metrics_at_debug_level() {
    let pg = testkit::Postgres::start();
    let db_url = password_protected_database(&pg, "flare_secrets", "flare_app", DB_PASSWORD);
    let nats = NatsServer::builder()
        .config(&format!(
            "authorization {{ user: \"flare\", password: \"{NATS_PASSWORD}\" }}"
        ))
        .start();
    let token_nats = NatsServer::builder()
        .config(&format!("authorization {{ token: \"{NATS_TOKEN}\" }}"))
        .start();
    let upstream = testkit::upstream::UpstreamServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let donki_url = upstream.url("/DONKI/FLR");
    let common = [
        ("RUST_LOG", "debug"),
        ("FLARE__SOURCES__DONKI__API_KEY", NASA_KEY),
        ("FLARE__DATABASE__ACQUIRE_TIMEOUT", "2000ms"),
    ];
    let nats_user = [
        ("FLARE__NATS__USER", "flare"),
        ("FLARE__NATS__PASSWORD", NATS_PASSWORD),
    ];
    let with = |url: &str, db: &str, extra: &[(&str, &str)]| {
        let mut e = env(url, dir.path(), &common);
        e.database_url = db.to_string();
        e.extra
            .extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        e
    };
    let mut scraped = Vec::new();

    // 1. A writer on PostgreSQL with a password and NATS user/password: ready, dead-letters
    // a record (logged), metrics scraped.
    let mut writer = with(&nats.url(), &db_url, &nats_user).spawn("writer-ok", WRITER);
    writer.wait_ready(Duration::from_secs(60));
    publish_garbage(&nats.url());
    wait_for(
        "the dead letter",
        &mut writer,
        Duration::from_secs(30),
        |w| metric_sum(&w.metrics(), "pipeline_records_dead_lettered_total", "") == 1.0,
    );
    scraped.push(("writer /metrics", writer.metrics()));
    assert_eq!(writer.terminate(), Some(0), "{}", writer.log_text());

    // 2. The wrong database password: refused by PostgreSQL, reported without either password.
    let wrong_db = db_url.replace(DB_PASSWORD, WRONG_DB_PASSWORD);
    let log = assert_fails_quickly(
        &with(&nats.url(), &wrong_db, &nats_user),
        "writer-wrong-db-password",
    );
    assert!(
        final_error(&log).contains("password authentication failed for user \"flare_app\""),
        "{log}"
    );

    // 3. A database that refuses connections.
    let refused = format!(
        "postgres://flare_app:{DB_PASSWORD}@127.0.0.1:{}/flare",
        testkit::free_port()
    );
    let mut down = with(&nats.url(), &refused, &nats_user).spawn("writer-db-down", WRITER);
    let status = down.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{}", down.log_text());
    assert!(
        final_error(&down.log_text()).contains("database: "),
        "{}",
        down.log_text()
    );

    // 4. The wrong NATS password.
    assert_fails_quickly(
        &with(
            &nats.url(),
            &db_url,
            &[
                ("FLARE__NATS__USER", "flare"),
                ("FLARE__NATS__PASSWORD", WRONG_NATS_PASSWORD),
            ],
        ),
        "writer-wrong-nats-password",
    );

    // 5. Ingest with a NATS token, polling DONKI (key in the query string) from an upstream
    // that fails twice, then serves a payload with a bad record.
    use testkit::upstream::Behavior;
    upstream.script("/DONKI/FLR", [Behavior::Status(500), Behavior::Status(503)]);
    upstream.set_payload(
        "/DONKI/FLR",
        r#"[{"flrID":"bad","beginTime":"soon","peakTime":"2024-05-01T00:05Z","classType":"M1.0"}]"#,
        None,
    );
    let mut ingest = with(
        &token_nats.url(),
        &db_url,
        &[
            ("FLARE__NATS__TOKEN", NATS_TOKEN),
            ("FLARE__SOURCES__XRAY__ENABLED", "false"),
            ("FLARE__SOURCES__REGIONS__ENABLED", "false"),
            ("FLARE__SOURCES__DONKI__URL", donki_url.as_str()),
            ("FLARE__SOURCES__DONKI__INTERVAL", "1s"),
            ("FLARE__HTTP_CLIENT__MAX_RETRIES", "1"),
            ("FLARE__HTTP_CLIENT__RETRY_BASE", "10ms"),
        ],
    )
    .spawn("ingest", &["run", "--role", "ingest"]);
    ingest.wait_ready(Duration::from_secs(60));
    wait_for("the good poll", &mut ingest, Duration::from_secs(30), |i| {
        metric_sum(&i.metrics(), "pipeline_records_dead_lettered_total", "") == 1.0
    });
    let requests = upstream.requests_to("/DONKI/FLR");
    assert!(requests.len() >= 3, "{} DONKI requests", requests.len());
    assert_eq!(
        requests[0].query_param("api_key").as_deref(),
        Some(NASA_KEY),
        "the key was sent (so it was in reach of every log line of the fetch)"
    );
    assert!(
        ingest.log_text().contains("poll failed"),
        "{}",
        ingest.log_text()
    );
    scraped.push(("ingest /metrics", ingest.metrics()));
    assert_eq!(ingest.terminate(), Some(0), "{}", ingest.log_text());

    // Every log of every process, and every scrape.
    let mut logs = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.contains("DEBUG"),
                "{} is not at debug level",
                path.display()
            );
            assert_no_secret(&text, SECRETS, &path.display().to_string());
            logs += 1;
        }
    }
    assert_eq!(logs, 5, "one log per process");
    for (what, text) in &scraped {
        assert!(text.contains("actor_messages_total"), "{what}: {text}");
        assert_no_secret(text, SECRETS, what);
    }
}

// ---------------------------------------------------------------------------------------
// Loopback default

#[test]
fn proc_net_addresses_parse() {
    assert_eq!(
        parse_proc_addr("0100007F:24F8"),
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(
        parse_proc_addr("00000000000000000000000001000000:0050"),
        Some("[::1]:80".parse().unwrap())
    );
    assert_eq!(
        parse_proc_addr("00000000:1F90"),
        Some("0.0.0.0:8080".parse().unwrap())
    );
}

#[test]
fn the_http_endpoint_listens_on_loopback_by_default() {
    let printed = text(&check_config(&[]));
    assert!(
        printed.contains("[http]\nlisten = \"127.0.0.1:9464\"\n"),
        "{printed}"
    );

    // A process started without http.listen: every socket it listens on is loopback, the
    // endpoint among them.
    let default_port = 9464;
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpListener::bind(("127.0.0.1", default_port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "port {default_port} stays busy: cannot start a process on the default address"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = env(&nats.url(), dir.path(), &[]).command(default_port, WRITER);
    cmd.env_remove("FLARE__HTTP__LISTEN");
    let log_path = dir.path().join("writer.log");
    let log = std::fs::File::create(&log_path).unwrap();
    cmd.stdout(log.try_clone().unwrap()).stderr(log);
    let mut writer = Proc {
        child: testkit::ChildGuard::spawn("writer-default-listen", &mut cmd),
        http_port: default_port,
        log: log_path,
    };
    writer.wait_ready(Duration::from_secs(60));
    let pid = writer.child.pid().unwrap();
    let listening = listening_addrs(pid);
    assert!(
        listening.contains(&"127.0.0.1:9464".parse().unwrap()),
        "{listening:?}"
    );
    assert!(
        listening.iter().all(|a| a.ip().is_loopback()),
        "non-loopback listeners: {listening:?}"
    );
    assert_eq!(
        http_get(default_port, "/healthz").map(|(s, _)| s),
        Some(200)
    );
    assert_eq!(writer.terminate(), Some(0), "{}", writer.log_text());
}

// ---------------------------------------------------------------------------------------
// SQL: static text, bound values

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The argument text of the call that starts right after `open` (up to the matching `)` or
/// the first top-level `,`).
fn first_argument(text: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return text[..i].trim(),
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => return text[..i].trim(),
            _ => {}
        }
    }
    text.trim()
}

/// Every SQL text handed to sqlx in `src/` is static: a string literal, a `const`, or a
/// `&'static str` parameter; values only ever go through `bind`/`push_bind`. Nothing builds
/// SQL with `format!`, and `raw_sql` (no parameters at all) is not used. The end-to-end test
/// in tests/hostile_input.rs stores SQL-looking text verbatim, the behavioural side of this.
#[test]
fn sql_text_is_static_and_values_are_bound() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let entry_points = [
        "sqlx::query(",
        "sqlx::query_as(",
        "sqlx::query_scalar(",
        "sqlx::query_with(",
        "sqlx::query_as_with(",
        "sqlx::query_scalar_with(",
    ];
    let keywords = [
        "SELECT ", "INSERT ", "UPDATE ", "DELETE ", " WHERE ", " FROM ",
    ];
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        assert!(
            !code.contains("raw_sql("),
            "{name}: sqlx::raw_sql takes no parameters"
        );
        // Variables holding a QueryBuilder: their `push` adds SQL text too.
        let builders: Vec<String> = code
            .match_indices("QueryBuilder::")
            .filter_map(|(i, _)| {
                let before = code[..i].rsplit_once("let mut ")?.1;
                let var = before.split('=').next()?.trim();
                Some(format!("{var}.push("))
            })
            .collect();
        let mut calls: Vec<String> = entry_points.iter().map(|s| s.to_string()).collect();
        calls.push("QueryBuilder::<Sqlite>::new(".into());
        calls.push("QueryBuilder::<Postgres>::new(".into());
        calls.push("QueryBuilder::new(".into());
        calls.extend(builders);
        for call in &calls {
            for (i, _) in code.match_indices(call.as_str()) {
                let arg = first_argument(&code[i + call.len()..]);
                let literal =
                    arg.starts_with('"') || arg.starts_with("r#\"") || arg.starts_with("r\"");
                let ident =
                    !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                let constant = ident && arg.chars().all(|c| !c.is_ascii_lowercase());
                let static_param = ident && code.contains(&format!("{arg}: &'static str"));
                assert!(
                    literal || constant || static_param,
                    "{name}: {call}{arg}) passes SQL text that is not static"
                );
                checked += 1;
            }
        }
        for (i, _) in code.match_indices("format!(") {
            let arg = first_argument(&code[i + "format!(".len()..]);
            assert!(
                !keywords
                    .iter()
                    .any(|k| arg.to_uppercase().contains(k) && arg.contains(k)),
                "{name}: format!({arg}) builds SQL text"
            );
        }
    }
    assert!(
        checked >= 20,
        "only {checked} SQL call sites found: is the scan still matching?"
    );
}
