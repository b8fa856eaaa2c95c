//! `ConnectOptions` from [`NatsConfig`]: URLs, credentials, TLS, timeouts.

use async_nats::{ConnectErrorKind, ConnectOptions};

use super::config::NatsConfig;
use super::error::{BusError, BusErrorKind};

/// Connects with the configured servers and credentials. `name` shows in the server's
/// connection list (the role).
///
/// One attempt per configured server, no retry loop: a refused credential or a failed TLS
/// handshake cannot get better by repeating it, and repeating it would hammer the server (and
/// fill its log) with failed logins. The caller exits with the message, which names the
/// problem and the settings to check but never a secret: URLs are shown with any userinfo
/// masked, and credentials are never part of the client's error text.
pub async fn connect(cfg: &NatsConfig, name: &str) -> Result<async_nats::Client, BusError> {
    let options = options(cfg, name).await?;
    let urls = cfg.urls();
    let shown = cfg.url.redacted();
    let addrs: Vec<async_nats::ServerAddr> = urls
        .iter()
        .map(|u| u.parse::<async_nats::ServerAddr>())
        .collect::<Result<_, _>>()
        .map_err(|e| BusError::new(BusErrorKind::Other, format!("nats.url {shown:?}: {e}")))?;
    options.connect(addrs).await.map_err(|e| {
        let kind = classify(&e);
        let (what, hint) = match kind {
            BusErrorKind::Unauthorized if !cfg.nkey_seed.is_empty() => (
                "authentication failed",
                " (check nats.nkey_seed: it must be a user seed, SU..., whose public key the server lists)",
            ),
            BusErrorKind::Unauthorized => (
                "authentication failed",
                " (check nats.user/password, token, nkey_seed or creds_file)",
            ),
            BusErrorKind::Tls => (
                "TLS failed",
                " (check nats.tls_ca_file for the server's CA, nats.tls_cert_file/tls_key_file if the server verifies clients, and the URL's host name against the certificate)",
            ),
            BusErrorKind::Unreachable => ("unreachable", " (is nats-server running with JetStream?)"),
            _ => ("error", ""),
        };
        BusError::new(
            kind,
            format!("cannot connect to NATS at {shown}: {what}: {e}{hint}"),
        )
    })
}

/// Maps the client's error to what the operator has to fix. async-nats reports a failed TLS
/// handshake (unknown CA, bad or missing client certificate, host name mismatch) as a plain
/// I/O error whose source is the rustls error; without looking there it would read
/// "unreachable", and `run` would even try to start an embedded server on the port.
fn classify(e: &async_nats::ConnectError) -> BusErrorKind {
    match e.kind() {
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
            BusErrorKind::Unauthorized
        }
        ConnectErrorKind::Tls => BusErrorKind::Tls,
        ConnectErrorKind::ServerParse => BusErrorKind::Other,
        _ if caused_by_tls(e) => BusErrorKind::Tls,
        _ => BusErrorKind::Unreachable,
    }
}

/// Whether a rustls error is anywhere in `e`'s source chain (directly, or inside an
/// `io::Error`, whose `source()` skips the error it wraps).
fn caused_by_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return true;
            }
        }
        next = err.source();
    }
    false
}

async fn options(cfg: &NatsConfig, name: &str) -> Result<ConnectOptions, BusError> {
    let mut options = ConnectOptions::new()
        .name(format!("flare-plus-{name}"))
        .connection_timeout(cfg.connect_timeout)
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Connected => tracing::info!("NATS connected"),
                async_nats::Event::Disconnected => {
                    tracing::warn!("NATS disconnected; reconnecting")
                }
                async_nats::Event::ServerError(e) => {
                    tracing::warn!(error = %e, "NATS server error")
                }
                other => tracing::debug!(event = %other, "NATS event"),
            }
        });
    if !cfg.user.is_empty() {
        options = options.user_and_password(cfg.user.clone(), cfg.password.expose().to_string());
    }
    if !cfg.token.is_empty() {
        options = options.token(cfg.token.expose().to_string());
    }
    if !cfg.nkey_seed.is_empty() {
        options = options.nkey(cfg.nkey_seed.expose().to_string());
    }
    if !cfg.creds_file.is_empty() {
        options = options
            .credentials_file(&cfg.creds_file)
            .await
            .map_err(|e| {
                BusError::new(
                    BusErrorKind::Unauthorized,
                    format!("nats.creds_file {}: {e}", cfg.creds_file),
                )
            })?;
    }
    if cfg.tls_required {
        options = options.require_tls(true);
    }
    if !cfg.tls_ca_file.is_empty() {
        options = options.add_root_certificates(cfg.tls_ca_file.clone().into());
    }
    if !cfg.tls_cert_file.is_empty() {
        options = options.add_client_certificate(
            cfg.tls_cert_file.clone().into(),
            cfg.tls_key_file.clone().into(),
        );
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_nats::ConnectError;

    #[test]
    fn a_failed_handshake_is_a_tls_error_not_an_unreachable_server() {
        let handshake = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let e = ConnectError::with_source(ConnectErrorKind::Io, handshake);
        assert_eq!(classify(&e), BusErrorKind::Tls);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = ConnectError::with_source(ConnectErrorKind::Io, refused);
        assert_eq!(classify(&e), BusErrorKind::Unreachable);
        let e = ConnectError::new(ConnectErrorKind::AuthorizationViolation);
        assert_eq!(classify(&e), BusErrorKind::Unauthorized);
        let e = ConnectError::new(ConnectErrorKind::TimedOut);
        assert_eq!(classify(&e), BusErrorKind::Unreachable);
    }
}
