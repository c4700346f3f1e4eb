//! Where deliveries may go (issue 22): `rules::public_address` applied to real addresses, twice.
//! When a subscription is saved, its host is judged by what it resolves to then, so a mistake is
//! told at once. When a delivery connects, the addresses actually dialled are judged again, and the
//! connection's peer after it: a name can resolve elsewhere by then (DNS rebinding), and a
//! subscription may predate the rule. Without these checks the deliveries log would report what
//! any internal service answered, a port scanner for whoever holds `webhooks:write`.
//!
//! `CRM_WEBHOOK_ALLOW_PRIVATE=1` turns both checks off, for tests and on-premise receivers.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use actix_service::Service;
use actix_tls::connect::{tcp::TcpConnectorService, ConnectError, ConnectInfo, Connection};
use actix_web::rt::net::TcpStream;
use awc::http::Uri;
use futures_util::future::LocalBoxFuture;

use super::rules;

/// What a refused attempt records. The same words whether or not anything listens there: nothing
/// is dialled, so nothing about the address leaks.
pub const REFUSED: &str = "refused: address not allowed";

/// Why a connection was refused, carried inside the connector's I/O error so the worker can tell it
/// from a receiver that is down.
#[derive(Debug)]
pub struct AddressRefused;

impl std::fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REFUSED)
    }
}

impl std::error::Error for AddressRefused {}

fn refused() -> ConnectError {
    ConnectError::Io(io::Error::new(io::ErrorKind::PermissionDenied, AddressRefused))
}

/// Whether a failed send is this policy's refusal.
pub fn is_refusal(error: &awc::error::SendRequestError) -> bool {
    match error {
        awc::error::SendRequestError::Connect(awc::error::ConnectError::Io(e)) => {
            e.get_ref().is_some_and(|inner| inner.is::<AddressRefused>())
        }
        _ => false,
    }
}

/// The addresses `host` stands for now; an address literal (bracketed IPv6 included) as it is.
async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(tokio::net::lookup_host((host, port)).await?.collect())
}

/// How long saving a subscription waits for DNS before leaving the check to each delivery's.
const SAVE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The check when a subscription is saved: whether `url` points where deliveries may not go. A name
/// that does not resolve (yet, or in time) passes: a receiver may be registered before its DNS
/// record exists, and every connection is checked anyway.
pub async fn refused_at_save(url: &url::Url, allow_private: bool) -> bool {
    if allow_private {
        return false;
    }
    let Some(host) = url.host() else { return true };
    if rules::host_refused(&host) {
        return true;
    }
    let url::Host::Domain(name) = host else { return false };
    let port = url.port_or_known_default().unwrap_or(443);
    match actix_web::rt::time::timeout(SAVE_LOOKUP_TIMEOUT, resolve(name, port)).await {
        Ok(Ok(addresses)) => addresses.iter().any(|a| !rules::public_address(a.ip())),
        _ => false,
    }
}

/// awc's TCP connector with the policy in front (plain and TLS connections both start here): it
/// resolves the host itself, dials only public addresses, and checks the peer it got.
#[derive(Clone, Copy, Debug)]
pub struct GuardedConnector {
    pub allow_private: bool,
}

impl GuardedConnector {
    async fn connect(self, req: ConnectInfo<Uri>) -> Result<Connection<Uri, TcpStream>, ConnectError> {
        let preset: Vec<SocketAddr> = req.addrs().collect();
        let found = if preset.is_empty() {
            resolve(req.hostname(), req.port()).await.map_err(|e| ConnectError::Resolver(Box::new(e)))?
        } else {
            preset
        };
        if found.is_empty() {
            return Err(ConnectError::NoRecords);
        }
        let allowed: Vec<SocketAddr> =
            found.into_iter().filter(|a| self.allow_private || rules::public_address(a.ip())).collect();
        if allowed.is_empty() {
            return Err(refused());
        }
        let connection = TcpConnectorService::default().call(req.set_addrs(allowed)).await?;
        let peer_allowed = connection.io_ref().peer_addr().is_ok_and(|a| rules::public_address(a.ip()));
        if !self.allow_private && !peer_allowed {
            return Err(refused());
        }
        Ok(connection)
    }
}

impl Service<ConnectInfo<Uri>> for GuardedConnector {
    type Response = Connection<Uri, TcpStream>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    actix_service::always_ready!();

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        Box::pin(self.connect(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(url: &str) -> ConnectInfo<Uri> {
        ConnectInfo::new(url.parse::<Uri>().unwrap_or_else(|e| panic!("{url}: {e}")))
    }

    /// A listener on loopback that counts the connections it accepts.
    async fn listener() -> (u16, tokio::net::TcpListener) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        (port, listener)
    }

    async fn accepted_one(listener: &tokio::net::TcpListener) -> bool {
        actix_web::rt::time::timeout(Duration::from_millis(200), listener.accept()).await.is_ok()
    }

    #[actix_rt::test]
    async fn loopback_is_refused_before_anything_is_dialled() {
        let (port, listener) = listener().await;
        let guarded = GuardedConnector { allow_private: false };
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
            format!("http://2130706433:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            match guarded.call(info(&url)).await {
                Err(ConnectError::Io(e)) => assert_eq!(e.to_string(), REFUSED, "{url}"),
                other => panic!("{url}: {:?}", other.map(|_| "connected")),
            }
        }
        assert!(!accepted_one(&listener).await, "no connection reached the listener");

        let open = GuardedConnector { allow_private: true };
        assert!(open.call(info(&format!("http://127.0.0.1:{port}/"))).await.is_ok());
        assert!(accepted_one(&listener).await, "allowed, it connects");
    }
}
