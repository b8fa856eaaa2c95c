//! `ConnectOptions` from [`NatsConfig`]: URLs, credentials, TLS, timeouts.

use async_nats::{ConnectErrorKind, ConnectOptions};

use super::error::{BusError, BusErrorKind};
use crate::config::NatsConfig;

/// Connects with the configured servers and credentials. `name` shows in the server's
/// connection list (the role). Authentication and TLS failures are reported as such, once,
/// instead of being retried.
pub async fn connect(cfg: &NatsConfig, name: &str) -> Result<async_nats::Client, BusError> {
    let options = options(cfg, name).await?;
    let urls = cfg.urls();
    let addrs: Vec<async_nats::ServerAddr> = urls
        .iter()
        .map(|u| u.parse::<async_nats::ServerAddr>())
        .collect::<Result<_, _>>()
        .map_err(|e| BusError::new(BusErrorKind::Other, format!("nats.url {:?}: {e}", cfg.url)))?;
    options.connect(addrs).await.map_err(|e| {
        let kind = match e.kind() {
            ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                BusErrorKind::Unauthorized
            }
            ConnectErrorKind::Tls => BusErrorKind::Tls,
            ConnectErrorKind::ServerParse => BusErrorKind::Other,
            _ => BusErrorKind::Unreachable,
        };
        let hint = match kind {
            BusErrorKind::Unauthorized => {
                " (check nats.user/password, token, nkey_seed or creds_file)"
            }
            BusErrorKind::Tls => " (check nats.tls_* settings)",
            BusErrorKind::Unreachable => " (is nats-server running with JetStream?)",
            _ => "",
        };
        BusError::new(
            kind,
            format!("cannot connect to NATS at {}: {e}{hint}", urls.join(",")),
        )
    })
}

async fn options(cfg: &NatsConfig, name: &str) -> Result<ConnectOptions, BusError> {
    let mut options = ConnectOptions::new()
        .name(format!("flare-plus-{name}"))
        .connection_timeout(cfg.connect_timeout())
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
