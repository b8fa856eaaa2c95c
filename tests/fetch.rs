//! The real reqwest path of `sources::fetch` against the fake upstream (`testkit::upstream`).
//!
//! Waits are measured from the server's recorded request arrival times, not from sleeps, and
//! every test uses millisecond-scale timeouts and backoffs so the file runs in a few seconds.

use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use chrono::NaiveDate;
use flare_plus::sources::fetch::{
    donki_url, FetchConfig, FetchErrorKind, FetchOutcome, Fetcher, Url, Validators,
};
use testkit::upstream::{Behavior, Respond, RetryAfter, UpstreamServer};
use tokio_util::sync::CancellationToken;

const FEED: &str = "/json/goes/primary/xrays-7-day.json";
const PAYLOAD: &[u8] =
    br#"[{"time_tag":"2024-05-10T12:00:00Z","satellite":18,"flux":3.02e-06,"energy":"0.1-0.8nm"}]"#;

/// Small timings so the whole file stays fast: 300 ms per attempt, 20 ms backoff base.
fn test_config() -> FetchConfig {
    FetchConfig {
        timeout: Duration::from_millis(300),
        max_response_bytes: 1024 * 1024,
        max_retries: 3,
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        user_agent: "flare-plus-test/1".to_string(),
    }
}

fn fetcher(cfg: FetchConfig) -> Fetcher {
    Fetcher::new(cfg).expect("client builds")
}

fn url(server: &UpstreamServer, path: &str) -> Url {
    Url::parse(&server.url(path)).expect("server URL parses")
}

fn server_with_feed() -> UpstreamServer {
    let server = UpstreamServer::start().expect("fake upstream starts");
    server.set_payload(FEED, PAYLOAD, Some("\"v1\""));
    server
}

fn fresh_body(outcome: &FetchOutcome) -> &Bytes {
    match outcome {
        FetchOutcome::Fresh { body, .. } => body,
        FetchOutcome::NotModified { .. } => panic!("expected a fresh body, got {outcome:?}"),
    }
}

/// Gap between the arrival of request `i` and request `i + 1` at the server.
fn gap(server: &UpstreamServer, i: usize) -> Duration {
    let requests = server.requests();
    requests[i + 1].received_at - requests[i].received_at
}

#[tokio::test]
async fn status_500_then_200_takes_two_attempts() {
    let server = server_with_feed();
    server.script(FEED, [Behavior::Status(500)]);
    let outcome = fetcher(test_config())
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("second attempt succeeds");
    assert_eq!(fresh_body(&outcome).as_ref(), PAYLOAD);
    assert_eq!(outcome.attempts(), 2);
    let requests = server.requests_to(FEED);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].status, 500);
    assert_eq!(requests[1].status, 200);
    assert_eq!(requests[0].header("user-agent"), Some("flare-plus-test/1"));
}

#[tokio::test]
async fn every_retryable_status_is_retried_until_the_budget_is_spent() {
    let server = server_with_feed();
    server.script(
        FEED,
        [502, 503, 504, 500, 200].map(|s| match s {
            200 => Behavior::Payload,
            s => Behavior::Status(s),
        }),
    );
    // max_retries 3: four attempts, all failing (the fifth behaviour is never reached).
    let err = fetcher(test_config())
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect_err("four failures exhaust the budget");
    assert_eq!(err.kind(), FetchErrorKind::Status(500));
    assert_eq!(err.attempts(), 4);
    assert_eq!(server.requests_to(FEED).len(), 4);
    // Backoff never exceeds retry_max (100 ms) plus scheduling slack.
    for i in 0..3 {
        assert!(
            gap(&server, i) < Duration::from_millis(400),
            "gap {i}: {:?}",
            gap(&server, i)
        );
    }
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let server = server_with_feed();
    server.script(
        FEED,
        [Behavior::TooManyRequests {
            retry_after: RetryAfter::Secs(1),
        }],
    );
    let cfg = FetchConfig {
        retry_max: Duration::from_secs(2),
        ..test_config()
    };
    let outcome = fetcher(cfg)
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("succeeds after the wait");
    assert_eq!(outcome.attempts(), 2);
    assert_eq!(fresh_body(&outcome).as_ref(), PAYLOAD);
    let waited = gap(&server, 0);
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert!(waited < Duration::from_millis(2500), "waited {waited:?}");
}

#[tokio::test]
async fn retry_after_beyond_retry_max_is_capped() {
    let server = server_with_feed();
    let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
    server.script(
        FEED,
        [
            Behavior::TooManyRequests {
                retry_after: RetryAfter::Secs(3600),
            },
            Behavior::TooManyRequests {
                retry_after: RetryAfter::Date(in_an_hour),
            },
        ],
    );
    let cfg = FetchConfig {
        retry_max: Duration::from_millis(250),
        ..test_config()
    };
    let outcome = fetcher(cfg)
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("succeeds on the third attempt");
    assert_eq!(outcome.attempts(), 3);
    for i in 0..2 {
        let waited = gap(&server, i);
        // Exactly retry_max (no jitter on an upstream-imposed wait), never the hour asked for.
        assert!(waited >= Duration::from_millis(250), "gap {i}: {waited:?}");
        assert!(waited < Duration::from_millis(700), "gap {i}: {waited:?}");
    }
}

#[tokio::test]
async fn service_unavailable_retry_after_is_honoured_too() {
    let server = server_with_feed();
    let respond = Respond::json("busy")
        .with_status(503)
        .with_header("Retry-After", "0");
    server.script(FEED, [Behavior::Respond(respond)]);
    // A base so large that a jittered backoff would (almost surely) exceed the 0 s asked for.
    let cfg = FetchConfig {
        retry_base: Duration::from_secs(5),
        retry_max: Duration::from_secs(5),
        ..test_config()
    };
    let outcome = fetcher(cfg)
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("succeeds at once after Retry-After: 0");
    assert_eq!(outcome.attempts(), 2);
    assert!(
        gap(&server, 0) < Duration::from_millis(500),
        "{:?}",
        gap(&server, 0)
    );
}

#[tokio::test]
async fn slow_responses_time_out_on_every_attempt() {
    let server = server_with_feed();
    server.script(
        FEED,
        std::iter::repeat_n(Behavior::Delay(Duration::from_secs(5)), 4),
    );
    let cfg = FetchConfig {
        max_retries: 2,
        ..test_config()
    };
    let started = Instant::now();
    let err = fetcher(cfg)
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect_err("every attempt is slower than the timeout");
    assert_eq!(err.kind(), FetchErrorKind::Timeout, "{err}");
    assert_eq!(err.code(), "timeout");
    assert_eq!(err.attempts(), 3);
    assert_eq!(server.requests_to(FEED).len(), 3);
    // Each attempt ran its full 300 ms (client-side clock: arrival gaps at the server can be a
    // little shorter, since connect latency varies under load). 3 x 300 ms plus at most
    // 2 x 100 ms of backoff, plus slack for a loaded machine; waiting out even one 5 s delay
    // would blow the upper bound.
    assert!(
        err.elapsed() >= Duration::from_millis(900),
        "{:?}",
        err.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn truncated_body_is_retried() {
    let server = server_with_feed();
    server.script(
        FEED,
        [Behavior::Truncated {
            declared_len: 10_000,
            sent: Bytes::from_static(b"[{\"time_tag\":"),
        }],
    );
    let outcome = fetcher(test_config())
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("second attempt succeeds");
    assert_eq!(outcome.attempts(), 2);
    assert_eq!(fresh_body(&outcome).as_ref(), PAYLOAD);
}

#[tokio::test]
async fn truncated_body_is_a_body_error_when_it_persists() {
    let server = server_with_feed();
    let cut = Behavior::Truncated {
        declared_len: 10_000,
        sent: Bytes::from_static(b"[{\"time_tag\":"),
    };
    server.script(FEED, std::iter::repeat_n(cut, 4));
    let err = fetcher(test_config())
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect_err("always cut off");
    assert_eq!(err.kind(), FetchErrorKind::Body, "{err}");
    assert_eq!(err.attempts(), 4);
}

#[tokio::test]
async fn reset_mid_body_is_retried() {
    let server = server_with_feed();
    server.set_payload(FEED, vec![b' '; 200_000], Some("\"big\""));
    server.script(FEED, [Behavior::ResetMidBody]);
    let outcome = fetcher(test_config())
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("second attempt succeeds");
    assert_eq!(outcome.attempts(), 2);
    assert_eq!(fresh_body(&outcome).len(), 200_000);
    let requests = server.requests_to(FEED);
    assert_eq!(requests[0].body_bytes_sent, 100_000);
}

#[tokio::test]
async fn html_error_page_with_200_is_fresh() {
    // The fetcher does not judge payloads: the source's parser rejects non-JSON.
    let server = server_with_feed();
    let page = "<!DOCTYPE html><html><body>Service maintenance</body></html>";
    server.script(FEED, [Behavior::Html(page.to_string())]);
    let outcome = fetcher(test_config())
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("a 200 is a success at this layer");
    assert_eq!(fresh_body(&outcome).as_ref(), page.as_bytes());
    assert_eq!(outcome.attempts(), 1);
}

#[tokio::test]
async fn unchanged_feed_is_not_modified_and_a_new_version_is_fresh() {
    let server = server_with_feed();
    let fetcher = fetcher(test_config());
    let cancel = CancellationToken::new();
    let feed = url(&server, FEED);

    let first = fetcher
        .get(&feed, &Validators::default(), &cancel)
        .await
        .expect("first");
    let FetchOutcome::Fresh { validators, .. } = &first else {
        panic!("expected fresh, got {first:?}");
    };
    assert_eq!(validators.etag.as_deref(), Some("\"v1\""));

    let second = fetcher
        .get(&feed, validators, &cancel)
        .await
        .expect("second");
    assert!(
        matches!(second, FetchOutcome::NotModified { attempts: 1, .. }),
        "{second:?}"
    );

    server.set_payload(FEED, &b"[]"[..], Some("\"v2\""));
    let third = fetcher
        .get(&feed, validators, &cancel)
        .await
        .expect("third");
    assert_eq!(fresh_body(&third).as_ref(), b"[]");
    let FetchOutcome::Fresh { validators: v2, .. } = &third else {
        unreachable!()
    };
    assert_eq!(v2.etag.as_deref(), Some("\"v2\""));

    let requests = server.requests_to(FEED);
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].header("if-none-match"), None);
    assert_eq!(requests[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(requests[1].status, 304);
    assert_eq!(requests[1].body_bytes_sent, 0);
    assert_eq!(requests[2].header("if-none-match"), Some("\"v1\""));
    assert_eq!(requests[2].status, 200);
}

#[tokio::test]
async fn last_modified_is_sent_back_as_if_modified_since() {
    let server = UpstreamServer::start().expect("starts");
    let stamp = "Fri, 10 May 2024 12:00:00 GMT";
    server.set_response(FEED, Respond::json(PAYLOAD).with_last_modified(stamp));
    let fetcher = fetcher(test_config());
    let cancel = CancellationToken::new();
    let first = fetcher
        .get(&url(&server, FEED), &Validators::default(), &cancel)
        .await
        .expect("first");
    let FetchOutcome::Fresh { validators, .. } = first else {
        panic!("expected fresh");
    };
    assert_eq!(
        validators,
        Validators {
            etag: None,
            last_modified: Some(stamp.to_string())
        }
    );
    let second = fetcher
        .get(&url(&server, FEED), &validators, &cancel)
        .await
        .expect("second");
    assert!(
        matches!(second, FetchOutcome::NotModified { .. }),
        "{second:?}"
    );
    assert_eq!(
        server.requests()[1].header("if-modified-since"),
        Some(stamp)
    );
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let server = UpstreamServer::start().expect("starts");
    let err = fetcher(test_config())
        .get(
            &url(&server, "/missing.json"),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect_err("404");
    assert_eq!(err.kind(), FetchErrorKind::Status(404));
    assert_eq!(err.code(), "http_4xx");
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn declared_length_over_the_cap_is_rejected_up_front() {
    let server = UpstreamServer::start().expect("starts");
    server.set_payload(FEED, vec![b'1'; 4096], None);
    // A body that declares a terabyte and sends a few bytes: reading it would give a Body
    // error after a retry; rejecting on the header gives TooLarge at once.
    server.script(
        FEED,
        [
            Behavior::Payload,
            Behavior::Truncated {
                declared_len: 1 << 40,
                sent: Bytes::from_static(b"[1,2,3"),
            },
        ],
    );
    let cfg = FetchConfig {
        max_response_bytes: 1024,
        ..test_config()
    };
    let fetcher = fetcher(cfg);
    for _ in 0..2 {
        let err = fetcher
            .get(
                &url(&server, FEED),
                &Validators::default(),
                &CancellationToken::new(),
            )
            .await
            .expect_err("over the cap");
        assert_eq!(
            err.kind(),
            FetchErrorKind::TooLarge { limit: 1024 },
            "{err}"
        );
        assert_eq!(err.attempts(), 1);
    }
    assert_eq!(server.requests_to(FEED).len(), 2);
}

#[tokio::test]
async fn chunked_body_over_the_cap_is_abandoned_while_streaming() {
    let server = UpstreamServer::start().expect("starts");
    let total: u64 = 1 << 30; // 1 GiB offered
    server.script(
        FEED,
        [Behavior::Stream {
            chunk: Bytes::from(vec![b'7'; 16 * 1024]),
            total,
        }],
    );
    let cap: u64 = 64 * 1024;
    let cfg = FetchConfig {
        max_response_bytes: cap,
        timeout: Duration::from_secs(5),
        ..test_config()
    };
    let started = Instant::now();
    let err = fetcher(cfg)
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect_err("over the cap");
    let took = started.elapsed();
    assert_eq!(err.kind(), FetchErrorKind::TooLarge { limit: cap }, "{err}");
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests_to(FEED).len(), 1);
    assert!(
        server.wait_idle(Duration::from_secs(5)).await,
        "server still writing"
    );
    let sent = server.requests_to(FEED)[0].body_bytes_sent;
    eprintln!("chunked over cap: client gave up after {took:?}; server wrote {sent} bytes");
    // What the server got rid of is bounded by the cap plus the socket buffers on both ends
    // (a few MiB on loopback), not by the body: the client stopped reading and closed.
    assert!(sent > cap, "server wrote only {sent} bytes");
    assert!(sent < 32 * 1024 * 1024, "server wrote {sent} bytes");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn gzip_body_is_decoded() {
    let server = UpstreamServer::start().expect("starts");
    let body: Vec<u8> = PAYLOAD.repeat(200);
    server.set_response(
        FEED,
        Respond::json(body.clone()).gzipped().with_etag("\"gz\""),
    );
    let outcome = fetcher(test_config())
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("gzip decodes");
    assert_eq!(fresh_body(&outcome).as_ref(), body.as_slice());
    let request = &server.requests()[0];
    assert!(
        request
            .header("accept-encoding")
            .is_some_and(|v| v.contains("gzip")),
        "{:?}",
        request.headers
    );
    // It really went compressed: far fewer bytes on the wire than decoded.
    assert!(
        request.body_bytes_sent < body.len() as u64 / 10,
        "{}",
        request.body_bytes_sent
    );
}

#[tokio::test]
async fn the_cap_applies_to_decoded_bytes() {
    let server = UpstreamServer::start().expect("starts");
    let bomb = vec![b'0'; 4 * 1024 * 1024];
    server.set_response(FEED, Respond::json(bomb).gzipped());
    let cap = 64 * 1024;
    let cfg = FetchConfig {
        max_response_bytes: cap,
        ..test_config()
    };
    let err = fetcher(cfg)
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect_err("decoded size exceeds the cap");
    assert_eq!(err.kind(), FetchErrorKind::TooLarge { limit: cap }, "{err}");
    let wire = server.requests()[0].body_bytes_sent;
    assert!(wire < cap, "compressed size {wire} should be under the cap");
}

#[tokio::test]
async fn corrupt_gzip_is_a_decode_error_and_not_retried() {
    let server = UpstreamServer::start().expect("starts");
    let mut garbage = gzip(PAYLOAD);
    let mid = garbage.len() / 2;
    garbage[10..mid].fill(0xAB);
    let respond = Respond::json(garbage).with_header("Content-Encoding", "gzip");
    server.set_response(FEED, respond);
    let err = fetcher(test_config())
        .get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        )
        .await
        .expect_err("bad gzip");
    assert_eq!(err.kind(), FetchErrorKind::Decode, "{err}");
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn connection_refused_is_a_connect_error_after_all_attempts() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = Url::parse(&format!("http://127.0.0.1:{port}/x?api_key=NOPE123")).unwrap();
    let err = fetcher(test_config())
        .get(&url, &Validators::default(), &CancellationToken::new())
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), FetchErrorKind::Connect, "{err}");
    assert_eq!(err.attempts(), 4);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("NOPE123"), "{shown}");
    assert!(err.detail().is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn cancellation_during_backoff_returns_promptly() {
    let server = server_with_feed();
    // Retry-After 10 s (under retry_max): the fetcher will sleep 10 s unless cancelled.
    server.script(
        FEED,
        [Behavior::TooManyRequests {
            retry_after: RetryAfter::Secs(10),
        }],
    );
    let cfg = FetchConfig {
        retry_max: Duration::from_secs(30),
        ..test_config()
    };
    let fetcher = fetcher(cfg);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = fetcher
        .get(&url(&server, FEED), &Validators::default(), &cancel)
        .await
        .expect_err("cancelled");
    assert_eq!(err.kind(), FetchErrorKind::Cancelled);
    assert_eq!(err.attempts(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn cancellation_interrupts_an_attempt_in_flight() {
    let server = server_with_feed();
    server.script(FEED, [Behavior::Delay(Duration::from_secs(5))]);
    let cfg = FetchConfig {
        timeout: Duration::from_secs(10),
        ..test_config()
    };
    let fetcher = fetcher(cfg);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = fetcher
        .get(&url(&server, FEED), &Validators::default(), &cancel)
        .await
        .expect_err("cancelled");
    assert_eq!(err.kind(), FetchErrorKind::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Already cancelled: no request at all.
    let err = fetcher
        .get(&url(&server, FEED), &Validators::default(), &cancel)
        .await
        .expect_err("cancelled before starting");
    assert_eq!(err.kind(), FetchErrorKind::Cancelled);
    assert_eq!(err.attempts(), 0);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors() {
    const KEY: &str = "SEKRIT-abc123XYZ";
    let server = UpstreamServer::start().expect("starts");
    let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
    let donki = donki_url(&server.url("/DONKI/FLR"), day(1), day(8), KEY).unwrap();
    let fetcher = fetcher(FetchConfig {
        max_retries: 1,
        ..test_config()
    });
    let cancel = CancellationToken::new();

    // 404 (no payload), 500 twice, timeout twice, cut-off body twice: every error path.
    let mut errors = vec![fetcher
        .get(&donki, &Validators::default(), &cancel)
        .await
        .expect_err("404")];
    server.set_payload("/DONKI/FLR", &b"[]"[..], None);
    server.script("/DONKI/FLR", [Behavior::Status(500), Behavior::Status(500)]);
    errors.push(
        fetcher
            .get(&donki, &Validators::default(), &cancel)
            .await
            .expect_err("500"),
    );
    server.script(
        "/DONKI/FLR",
        std::iter::repeat_n(Behavior::Delay(Duration::from_secs(2)), 2),
    );
    errors.push(
        fetcher
            .get(&donki, &Validators::default(), &cancel)
            .await
            .expect_err("slow"),
    );
    let cut = Behavior::Truncated {
        declared_len: 100,
        sent: Bytes::from_static(b"[{"),
    };
    server.script("/DONKI/FLR", [cut.clone(), cut]);
    errors.push(
        fetcher
            .get(&donki, &Validators::default(), &cancel)
            .await
            .expect_err("cut"),
    );

    let kinds: Vec<FetchErrorKind> = errors.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            FetchErrorKind::Status(404),
            FetchErrorKind::Status(500),
            FetchErrorKind::Timeout,
            FetchErrorKind::Body
        ]
    );
    for err in &errors {
        for shown in [format!("{err}"), format!("{err:?}"), format!("{err:#?}")] {
            assert!(!shown.contains(KEY), "key leaked: {shown}");
            assert!(shown.contains("api_key=***"), "no redacted URL in: {shown}");
        }
        if let Some(url) = err.url() {
            assert!(!url.as_str().contains(KEY));
        }
    }
    // ... while the key did reach the server, with the dates.
    let request = &server.requests()[0];
    assert_eq!(request.path, "/DONKI/FLR");
    assert_eq!(request.query_param("api_key").as_deref(), Some(KEY));
    assert_eq!(
        request.query_param("startDate").as_deref(),
        Some("2024-01-01")
    );
    assert_eq!(
        request.query_param("endDate").as_deref(),
        Some("2024-01-08")
    );
}

#[test]
fn a_zero_timeout_is_rejected_at_construction() {
    let err = Fetcher::new(FetchConfig {
        timeout: Duration::ZERO,
        ..test_config()
    })
    .expect_err("zero timeout");
    assert_eq!(err.kind(), FetchErrorKind::Client);
    assert_eq!(err.attempts(), 0);
}

#[test]
fn works_from_a_plain_test_with_its_own_runtime() {
    let server = server_with_feed();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime
        .block_on(fetcher(test_config()).get(
            &url(&server, FEED),
            &Validators::default(),
            &CancellationToken::new(),
        ))
        .expect("fetch");
    assert_eq!(fresh_body(&outcome).as_ref(), PAYLOAD);
}
