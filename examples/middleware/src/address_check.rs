//! Address check: only clients whose address is in an allow-list of
//! addresses and CIDR ranges get through; everyone else gets `403`.
//!
//! ```
//! # use rgi_middleware_examples::AddressCheck;
//! # fn demo(app: rgi::BoxApp) -> Result<(), rgi_middleware_examples::address_check::BadRange> {
//! let app = AddressCheck::new(app, ["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"])?;
//! # Ok(()) }
//! ```
//!
//! Ports seed 004's WSGI `AuthenticationMiddleware` (the onion's example:
//! `REMOTE_ADDR in allowed_addresses`, else `403 Forbidden`). Differences:
//!
//! * ranges as well as single addresses, IPv4 and IPv6; an IPv4 client
//!   seen as an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, from a
//!   dual-stack listener) matches its IPv4 entries;
//! * no client address at all (a transport without one) is refused: the
//!   check fails closed;
//! * the address is the connection's (`scope.client`), never a header a
//!   client can write (`X-Forwarded-For`); behind a proxy, put a
//!   middleware that rewrites `scope.client` from the proxy's header,
//!   for the proxy's own address only, in front of this one;
//! * WebSocket handshakes are checked the same way.

use std::net::IpAddr;

use rgi::http::StatusCode;
use rgi::{App, AppResult, Conn};

use crate::reject::Rejection;

/// An allow-list entry that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR range (like 10.0.0.0/8 or fd00::/8)")]
pub struct BadRange(pub String);

/// An address and prefix length: `10.0.0.0/8`, or `/32` for one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Whether `addr` is inside the range.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => same_prefix(
                u32::from(net).into(),
                u32::from(addr).into(),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                same_prefix(net.into(), addr.into(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the top `prefix` bits of two `width`-bit numbers agree.
fn same_prefix(a: u128, b: u128, width: u8, prefix: u8) -> bool {
    let shift = width - prefix;
    shift >= width || (a >> shift) == (b >> shift)
}

impl std::str::FromStr for IpRange {
    type Err = BadRange;

    fn from_str(text: &str) -> Result<Self, BadRange> {
        let bad = || BadRange(text.to_owned());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let network = network.to_canonical();
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(bad)?,
        };
        Ok(Self { network, prefix })
    }
}

/// Lets through only clients inside the allow-list.
#[derive(Debug, Clone)]
pub struct AddressCheck<A> {
    inner: A,
    allowed: Vec<IpRange>,
}

impl<A> AddressCheck<A> {
    /// `inner` for the clients in `allowed` (addresses and CIDR ranges).
    pub fn new<'a>(inner: A, allowed: impl IntoIterator<Item = &'a str>) -> Result<Self, BadRange> {
        let allowed = allowed
            .into_iter()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { inner, allowed })
    }

    /// Whether a client at `client` may pass.
    pub fn allows(&self, client: Option<IpAddr>) -> bool {
        client.is_some_and(|addr| self.allowed.iter().any(|range| range.contains(addr)))
    }
}

impl<A: App> App for AddressCheck<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let client = match &conn {
            Conn::Http(http) => http.scope.client,
            Conn::WebSocket(ws) => ws.scope.client,
            _ => return self.inner.call(conn).await,
        };
        if self.allows(client.map(|addr| addr.ip())) {
            return self.inner.call(conn).await;
        }
        let forbidden = Rejection::json(
            StatusCode::FORBIDDEN,
            "your address may not use this resource",
        );
        match conn {
            Conn::Http(mut http) => forbidden.send_http(&mut http).await,
            Conn::WebSocket(mut ws) => forbidden.send_websocket(&mut ws).await,
            other => self.inner.call(other).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use rgi_conformance::{Request, TestClient};

    use super::*;
    use crate::testing::Hello;

    fn from(client: &str) -> Request {
        let client: IpAddr = client.parse().unwrap();
        let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
        Request::get("/").addresses(SocketAddr::new(client, 5000), server)
    }

    fn client() -> TestClient {
        TestClient::new(
            AddressCheck::new(
                Hello,
                ["127.0.0.1", "10.0.0.0/8", "fd00::/8", "2001:db8::1"],
            )
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn lets_in_listed_addresses_and_ranges() {
        for addr in [
            "127.0.0.1",
            "10.0.0.1",
            "10.255.255.255",
            "fd12::3",
            "2001:db8::1",
            "::ffff:10.1.2.3",
        ] {
            let response = client().send(from(addr)).await.unwrap();
            assert_eq!(response.status(), Some(StatusCode::OK), "{addr}");
            assert_eq!(response.body(), "hello");
        }
    }

    #[tokio::test]
    async fn refuses_everyone_else_with_403() {
        for addr in [
            "127.0.0.2",
            "11.0.0.1",
            "9.255.255.255",
            "fe00::1",
            "2001:db8::2",
            "::1",
            "::ffff:11.0.0.1",
        ] {
            let response = client().send(from(addr)).await.unwrap();
            assert_eq!(response.status(), Some(StatusCode::FORBIDDEN), "{addr}");
            assert_eq!(response.header("content-type"), Some("application/json"));
        }
        // No address at all: refused.
        let response = client().get("/").await.unwrap();
        assert_eq!(response.status(), Some(StatusCode::FORBIDDEN));
    }

    #[tokio::test]
    async fn refuses_websocket_handshakes_too() {
        let session = client().connect(from("11.0.0.1")).await.unwrap();
        let handshake = session.finish().await.unwrap().handshake;
        assert_eq!(handshake.refusal_status(), Some(StatusCode::FORBIDDEN));
    }

    #[test]
    fn ranges_parse_and_match() {
        let range: IpRange = "192.168.1.0/24".parse().unwrap();
        assert!(range.contains("192.168.1.200".parse().unwrap()));
        assert!(!range.contains("192.168.2.1".parse().unwrap()));
        let everything: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains("8.8.8.8".parse().unwrap()));
        assert!(!everything.contains("::2".parse().unwrap()));
        let all_v6: IpRange = "::/0".parse().unwrap();
        assert!(all_v6.contains("2001:db8::1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "localhost",
            "",
            "10.0.0.0/",
            "10.0.0.0/-1",
        ] {
            assert_eq!(
                bad.parse::<IpRange>(),
                Err(BadRange(bad.to_owned())),
                "{bad}"
            );
        }
        assert!(AddressCheck::new((), ["10.0.0.0/8", "nope"]).is_err());
    }
}
