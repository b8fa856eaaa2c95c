//! The test kit's own tests: servers start, answer, stop, restart with their data, and vanish.

use std::net::TcpStream;

use testkit::{NatsServer, Postgres};

fn connects(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn nats_server_starts_restarts_and_cleans_up() {
    let mut nats = NatsServer::start();
    let port = nats.port();
    let dir = nats.dir().to_path_buf();
    assert!(connects(port), "nats-server should accept connections");
    nats.kill();
    assert!(
        !connects(port),
        "a killed nats-server must not accept connections"
    );
    nats.restart();
    assert!(connects(port), "restarted on the same port");
    drop(nats);
    assert!(!dir.exists(), "store directory removed on drop");
}

#[test]
fn postgres_starts_creates_databases_and_restarts() {
    let mut pg = Postgres::start();
    let port = pg.port();
    let url = pg.create_database("flare_kit");
    assert!(url.ends_with("/flare_kit"));
    pg.stop();
    assert!(
        !connects(port),
        "a stopped cluster must not accept connections"
    );
    pg.start_again();
    assert!(connects(port));
    let dir = pg.dir().to_path_buf();
    drop(pg);
    assert!(!dir.exists(), "data directory removed on drop");
}
