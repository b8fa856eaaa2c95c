//! Log output of `sources::fetch`: one warn per failed fetch, the redacted URL, never the key.
//!
//! A file of its own: `tracing::subscriber::with_default` is thread-scoped, and other tests
//! running in parallel in the same binary would cache "no subscriber is interested" for the
//! fetcher's callsites, so the captured log would come out empty.

use std::time::Duration;

use chrono::NaiveDate;
use flare_plus::sources::fetch::{donki_url, FetchConfig, FetchErrorKind, Fetcher, Validators};
use testkit::upstream::{Behavior, UpstreamServer};
use tokio_util::sync::CancellationToken;

fn test_config() -> FetchConfig {
    FetchConfig {
        timeout: Duration::from_millis(300),
        max_response_bytes: 1024 * 1024,
        max_retries: 1,
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        user_agent: "flare-plus-test/1".to_string(),
    }
}

/// A `MakeWriter` that appends every log line to a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[test]
fn logs_show_the_redacted_url_once_per_failure_and_never_the_key() {
    const KEY: &str = "LOGSEKRIT-987";
    let server = UpstreamServer::start().expect("starts");
    server.set_payload("/DONKI/FLR", &b"[]"[..], None);
    server.script("/DONKI/FLR", [Behavior::Status(502), Behavior::Status(503)]);
    let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
    let donki = donki_url(&server.url("/DONKI/FLR"), day(1), day(2), KEY).unwrap();
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fetcher = Fetcher::new(test_config()).expect("client builds");
    let cancel = CancellationToken::new();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let err = fetcher
                .get(&donki, &Validators::default(), &cancel)
                .await
                .expect_err("502 then 503");
            assert_eq!(err.kind(), FetchErrorKind::Status(503));
            let ok = fetcher
                .get(&donki, &Validators::default(), &cancel)
                .await
                .expect("then the payload");
            assert_eq!(ok.attempts(), 1);
        })
    });
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!text.contains(KEY), "key leaked into logs:\n{text}");
    let warns: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warns.len(), 1, "{text}");
    assert!(warns[0].contains("api_key=***"), "{}", warns[0]);
    assert!(
        warns[0].contains("http_5xx") && warns[0].contains("attempts=2"),
        "{}",
        warns[0]
    );
    // One debug line per attempt (two for the failed fetch, one for the successful one).
    let attempts = text
        .lines()
        .filter(|l| l.contains("fetch attempt attempt="))
        .count();
    assert_eq!(attempts, 3, "{text}");
}
