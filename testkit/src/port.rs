use std::net::TcpListener;

/// A loopback TCP port that was free a moment ago (the OS picked it). A race with another
/// process is possible but rare; servers started on it fail loudly if it was taken.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("testkit: cannot find a free loopback port: {e}"))
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
pub(crate) fn is_listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::time::Duration::from_millis(200),
    )
    .is_ok()
}
