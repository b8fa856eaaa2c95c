//! A programmable fake upstream (SWPC / DONKI stand-in) for tests of the real HTTP client.
//!
//! [`UpstreamServer::start`] binds `127.0.0.1:0` and serves HTTP/1.1 from its own thread with
//! its own tokio runtime, so the same server works from `#[tokio::test]` (either flavour) and
//! from a plain `#[test]`; dropping it stops the thread.
//!
//! Each path has a **payload** (the current version of the feed, with an optional ETag /
//! Last-Modified, answered with 304 to a matching conditional request) and a **script**: a queue
//! of [`Behavior`]s consumed one per request, in order; when the script is empty the payload is
//! served. A path with neither answers 404.
//!
//! The server is a hand-written HTTP/1.1 responder on raw TCP rather than axum or hyper because
//! the faults we need (a body shorter than its Content-Length, a TCP reset mid-body, a body that
//! never ends) are exactly what a correct HTTP library refuses to produce. Every response closes
//! its connection (`Connection: close`), so each client attempt is one connection and one
//! recorded request.
//!
//! Every request is recorded ([`RecordedRequest`]: path, query, headers, arrival time, and how
//! much of the response body was written), so tests assert attempt counts, conditional headers
//! and waits from the server's side instead of sleeping and hoping.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Largest request head accepted; a test client never sends more.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A `Retry-After` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAfter {
    /// Delta-seconds: `Retry-After: 1`.
    Secs(u64),
    /// An HTTP-date: `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
    Date(SystemTime),
    /// Any text, verbatim (for malformed values).
    Raw(String),
}

impl RetryAfter {
    fn header_value(&self) -> String {
        match self {
            RetryAfter::Secs(n) => n.to_string(),
            RetryAfter::Date(at) => httpdate::fmt_http_date(*at),
            RetryAfter::Raw(text) => text.clone(),
        }
    }
}

/// A complete response. Also the form of a path's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Respond {
    pub status: u16,
    pub body: Bytes,
    /// Extra headers, sent verbatim (may override nothing: Content-Length is always computed).
    pub headers: Vec<(String, String)>,
    /// Sent as `ETag`; a request whose `If-None-Match` matches gets 304 (when `status` is 200).
    pub etag: Option<String>,
    /// Sent as `Last-Modified`; a request without `If-None-Match` whose `If-Modified-Since`
    /// equals it gets 304 (when `status` is 200).
    pub last_modified: Option<String>,
    /// Compress the body with gzip when the request's `Accept-Encoding` allows it.
    pub gzip: bool,
}

impl Respond {
    /// 200 with a JSON body.
    pub fn json(body: impl Into<Bytes>) -> Respond {
        Respond {
            status: 200,
            body: body.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            etag: None,
            last_modified: None,
            gzip: false,
        }
    }

    pub fn with_status(mut self, status: u16) -> Respond {
        self.status = status;
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Respond {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_etag(mut self, etag: &str) -> Respond {
        self.etag = Some(etag.to_string());
        self
    }

    pub fn with_last_modified(mut self, value: &str) -> Respond {
        self.last_modified = Some(value.to_string());
        self
    }

    pub fn gzipped(mut self) -> Respond {
        self.gzip = true;
        self
    }
}

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// This exact response (conditional rules apply as for a payload).
    Respond(Respond),
    /// This status with a short text body.
    Status(u16),
    /// 429 with a `Retry-After` header.
    TooManyRequests { retry_after: RetryAfter },
    /// Wait this long, then serve the path's payload (use a delay longer than the client timeout).
    Delay(Duration),
    /// Declare `Content-Length: declared_len`, send only `sent`, then close the connection.
    Truncated { declared_len: u64, sent: Bytes },
    /// 200 with `Content-Type: text/html` and this page (an upstream error page).
    Html(String),
    /// Declare the payload's full length, send half of it, then reset the connection (TCP RST).
    ResetMidBody,
    /// 200 with a chunked body (no Content-Length) repeating `chunk` until `total` bytes are sent
    /// or the client goes away; `body_bytes_sent` then shows how much the client let through.
    Stream { chunk: Bytes, total: u64 },
    /// Serve the path's payload (the same as an empty script; useful mid-script).
    Payload,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Header names lower-cased, values verbatim, in arrival order.
    pub headers: Vec<(String, String)>,
    /// When the request head had been read.
    pub received_at: Instant,
    /// The status sent (0 until the response head is written). Recorded before the head leaves
    /// the server, so it is final once the client has the response.
    pub status: u16,
    /// Response body bytes handed to the socket (after compression, without chunk framing),
    /// counted before the response's end is sent.
    pub body_bytes_sent: u64,
    /// Whether the server has finished with this request (response written or abandoned). For a
    /// client that stopped reading, only true once the server's next write failed; see
    /// [`UpstreamServer::wait_idle`].
    pub completed: bool,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| percent_decode(v))
    }
}

#[derive(Default)]
struct PathState {
    script: VecDeque<Behavior>,
    payload: Option<Respond>,
}

#[derive(Default)]
struct Shared {
    paths: Mutex<HashMap<String, PathState>>,
    log: Mutex<Vec<RecordedRequest>>,
}

/// Locks, recovering from a poisoned mutex (a panicking test thread must not hide the log).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn next_behavior(&self, path: &str) -> Behavior {
        let mut paths = lock(&self.paths);
        let state = paths.entry(path.to_string()).or_default();
        state.script.pop_front().unwrap_or(Behavior::Payload)
    }

    fn payload(&self, path: &str) -> Option<Respond> {
        lock(&self.paths).get(path).and_then(|s| s.payload.clone())
    }

    fn record(&self, request: RecordedRequest) -> usize {
        let mut log = lock(&self.log);
        log.push(request);
        log.len() - 1
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut RecordedRequest)) {
        if let Some(r) = lock(&self.log).get_mut(index) {
            f(r);
        }
    }
}

/// The fake upstream. See the module docs.
pub struct UpstreamServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl UpstreamServer {
    /// Binds a free loopback port and starts serving on a dedicated thread. Callable from any
    /// context (inside or outside a tokio runtime).
    pub fn start() -> std::io::Result<UpstreamServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared::default());
        let (shutdown, mut stop) = oneshot::channel::<()>();
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("upstream-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("upstream: cannot register the listener: {e}");
                            return;
                        }
                    };
                    loop {
                        tokio::select! {
                            _ = &mut stop => break,
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    tokio::spawn(handle(stream, Arc::clone(&serving)));
                                }
                            }
                        }
                    }
                });
                // Dropping the runtime here abandons in-flight responses (e.g. a long Delay).
            })?;
        Ok(UpstreamServer {
            addr,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT{path}`; `path` starts with `/` and may carry a query.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Replaces the payload at `path` (a new version of the feed), as 200 JSON with this ETag.
    pub fn set_payload(&self, path: &str, body: impl Into<Bytes>, etag: Option<&str>) {
        let mut respond = Respond::json(body);
        respond.etag = etag.map(str::to_string);
        self.set_response(path, respond);
    }

    /// Replaces the payload at `path` with any response (gzip, Last-Modified, extra headers).
    pub fn set_response(&self, path: &str, respond: Respond) {
        lock(&self.shared.paths)
            .entry(path.to_string())
            .or_default()
            .payload = Some(respond);
    }

    /// Appends behaviours to the script of `path`; each request consumes one.
    pub fn script(&self, path: &str, behaviors: impl IntoIterator<Item = Behavior>) {
        lock(&self.shared.paths)
            .entry(path.to_string())
            .or_default()
            .script
            .extend(behaviors);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Requests to `path` (query ignored), in arrival order.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Whether the server has finished with every request so far.
    pub fn is_idle(&self) -> bool {
        lock(&self.shared.log).iter().all(|r| r.completed)
    }

    /// Waits (polling every 5 ms) until all requests so far are completed, for at most
    /// `timeout`; returns whether they are. Use it before reading `body_bytes_sent`: the server
    /// notices a client that went away only on its next write. Async on purpose: the client's
    /// connection task must keep running (to close its socket) while a `#[tokio::test]` waits.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_idle() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The parsed request line and headers.
struct Head {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    let index = shared.record(RecordedRequest {
        method: head.method.clone(),
        path: head.path.clone(),
        query: head.query.clone(),
        headers: head.headers.clone(),
        received_at: Instant::now(),
        status: 0,
        body_bytes_sent: 0,
        completed: false,
    });
    let behavior = shared.next_behavior(&head.path);
    let mut conn = Conn {
        stream,
        shared: &shared,
        index,
    };
    serve(&mut conn, &head, behavior).await;
    shared.update(index, |r| r.completed = true);
    // `conn` (and with it the socket) is dropped here: FIN, or RST after `set_zero_linger`.
}

/// One connection and its log entry. Status and body bytes are recorded *before* the client
/// can see the response end, so a test that has its response can read them without racing.
struct Conn<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    index: usize,
}

impl Conn<'_> {
    /// Records `status`, then writes the head; false if the client has gone.
    async fn head(&mut self, status: u16, head_text: &str) -> bool {
        self.shared.update(self.index, |r| r.status = status);
        self.stream.write_all(head_text.as_bytes()).await.is_ok()
    }

    /// Writes body bytes in 16 KiB pieces, counting what the socket accepted; false if the
    /// client has gone.
    async fn body(&mut self, body: &[u8]) -> bool {
        for piece in body.chunks(16 * 1024) {
            if self.stream.write_all(piece).await.is_err() {
                return false;
            }
            let n = piece.len() as u64;
            self.shared.update(self.index, |r| r.body_bytes_sent += n);
        }
        true
    }

    /// Raw bytes that are not body (chunk framing).
    async fn raw(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Flushes and half-closes (FIN): the end of a response.
    async fn close(&mut self) {
        let _ = self.stream.flush().await;
        let _ = self.stream.shutdown().await;
    }

    /// A complete response with Content-Length, then a clean close.
    async fn send(&mut self, status: u16, headers: &[(String, String)], body: &[u8]) {
        // 304 carries no body and no Content-Length of its own.
        let length = (status != 304).then_some(body.len() as u64);
        if self
            .head(status, &response_head(status, headers, length, false))
            .await
        {
            self.body(body).await;
        }
        self.close().await;
    }
}

/// Reads up to the blank line ending the head; `None` on EOF, garbage or an oversized head.
async fn read_head(stream: &mut TcpStream) -> Option<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return None;
        }
    };
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Head {
        method,
        path,
        query,
        headers,
    })
}

/// Serves one behaviour.
async fn serve(conn: &mut Conn<'_>, head: &Head, behavior: Behavior) {
    match behavior {
        Behavior::Respond(respond) => send_respond(conn, head, &respond).await,
        Behavior::Payload => serve_payload(conn, head).await,
        Behavior::Status(status) => {
            let body = format!("status {status}\n");
            conn.send(status, &[text_plain()], body.as_bytes()).await;
        }
        Behavior::TooManyRequests { retry_after } => {
            let headers = [
                text_plain(),
                ("Retry-After".to_string(), retry_after.header_value()),
            ];
            conn.send(429, &headers, b"slow down\n").await;
        }
        Behavior::Delay(delay) => {
            tokio::time::sleep(delay).await;
            serve_payload(conn, head).await;
        }
        Behavior::Truncated { declared_len, sent } => {
            let head_text = response_head(200, &[json_type()], Some(declared_len), false);
            if conn.head(200, &head_text).await {
                conn.body(&sent).await;
            }
            conn.close().await;
        }
        Behavior::Html(page) => {
            let headers = [("Content-Type".to_string(), "text/html".to_string())];
            conn.send(200, &headers, page.as_bytes()).await;
        }
        Behavior::ResetMidBody => {
            let body = conn
                .shared
                .payload(&head.path)
                .map(|p| p.body)
                .filter(|b| b.len() >= 2)
                .unwrap_or_else(|| Bytes::from(vec![b'x'; 4096]));
            let head_text = response_head(200, &[json_type()], Some(body.len() as u64), false);
            if conn.head(200, &head_text).await {
                conn.body(&body[..body.len() / 2]).await;
            }
            let _ = conn.stream.flush().await;
            // Linger 0: dropping the socket sends RST instead of FIN.
            let _ = conn.stream.set_zero_linger();
        }
        Behavior::Stream { chunk, total } => {
            let head_text = response_head(200, &[json_type()], None, true);
            if chunk.is_empty() || !conn.head(200, &head_text).await {
                conn.close().await;
                return;
            }
            let mut written = 0u64;
            while written < total {
                let take = usize::try_from((total - written).min(chunk.len() as u64))
                    .unwrap_or(chunk.len());
                if !conn.raw(format!("{take:x}\r\n").as_bytes()).await
                    || !conn.body(&chunk[..take]).await
                    || !conn.raw(b"\r\n").await
                {
                    return;
                }
                written += take as u64;
            }
            conn.raw(b"0\r\n\r\n").await;
            conn.close().await;
        }
    }
}

async fn serve_payload(conn: &mut Conn<'_>, head: &Head) {
    match conn.shared.payload(&head.path) {
        Some(respond) => send_respond(conn, head, &respond).await,
        None => conn.send(404, &[text_plain()], b"no such path\n").await,
    }
}

/// Sends `respond`, or 304 when the request's validators match it.
async fn send_respond(conn: &mut Conn<'_>, head: &Head, respond: &Respond) {
    let mut headers = respond.headers.clone();
    if let Some(etag) = &respond.etag {
        headers.push(("ETag".into(), etag.clone()));
    }
    if let Some(lm) = &respond.last_modified {
        headers.push(("Last-Modified".into(), lm.clone()));
    }
    if respond.status == 200 && not_modified(head, respond) {
        let validators: Vec<(String, String)> = headers
            .into_iter()
            .filter(|(n, _)| {
                n.eq_ignore_ascii_case("etag") || n.eq_ignore_ascii_case("last-modified")
            })
            .collect();
        return conn.send(304, &validators, b"").await;
    }
    let accepts_gzip = head
        .header("accept-encoding")
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if respond.gzip && accepts_gzip {
        headers.push(("Content-Encoding".into(), "gzip".into()));
        let body = gzip(&respond.body);
        return conn.send(respond.status, &headers, &body).await;
    }
    conn.send(respond.status, &headers, &respond.body).await
}

/// RFC 9110 13.1: If-None-Match wins; If-Modified-Since only when there is no If-None-Match.
/// Dates are compared as text: the client echoes the server's Last-Modified verbatim.
fn not_modified(head: &Head, respond: &Respond) -> bool {
    if let Some(inm) = head.header("if-none-match") {
        return match &respond.etag {
            Some(etag) => inm
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag)),
            None => false,
        };
    }
    match (head.header("if-modified-since"), &respond.last_modified) {
        (Some(ims), Some(lm)) => ims == lm,
        _ => false,
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

fn text_plain() -> (String, String) {
    ("Content-Type".to_string(), "text/plain".to_string())
}

fn json_type() -> (String, String) {
    ("Content-Type".to_string(), "application/json".to_string())
}

fn response_head(
    status: u16,
    headers: &[(String, String)],
    content_length: Option<u64>,
    chunked: bool,
) -> String {
    let mut text = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    text.push_str(&format!(
        "Date: {}\r\n",
        httpdate::fmt_http_date(SystemTime::now())
    ));
    text.push_str("Connection: close\r\n");
    if let Some(len) = content_length {
        text.push_str(&format!("Content-Length: {len}\r\n"));
    }
    if chunked {
        text.push_str("Transfer-Encoding: chunked\r\n");
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
