//! What a reverse proxy in front changes about a request: the client's
//! address, scheme and host from `Forwarded` (RFC 7239) or
//! `X-Forwarded-For` / `-Proto` / `-Host`, believed only from trusted
//! peers ([`Config::proxy_headers`]), and the mount point
//! ([`Config::root_path`]).
//!
//! The chain of addresses is walked from the right (the hop nearest to
//! us) and the walk stops at the first address that is not a trusted
//! proxy: that is the client, as with uvicorn's `--forwarded-allow-ips`
//! and nginx's `real_ip_recursive on`. Everything left of it was written
//! by the client or an untrusted hop and could be forged. When every hop
//! is trusted, the leftmost is the client. A malformed hop, or an
//! obfuscated one (`for=unknown`, `for=_secret`), ends the walk without a
//! client: the peer's address stays.
//!
//! A Unix-socket peer has no address; whoever can open the socket file is
//! a local process its permissions let in, so its headers are believed
//! (as gunicorn does).
//!
//! Nothing here knows about a connection: it works on an [`HttpScope`],
//! so every rgi server can call it.

mod forwarded;
mod trusted;

use std::net::{IpAddr, SocketAddr};

use http::header::HOST;
use http::uri::{Authority, Scheme};
use http::HeaderValue;
use rgi::HttpScope;

pub use self::trusted::TrustedProxies;
use crate::Config;

/// Applies the proxy settings of `config` to a request's scope, whose
/// `client` is the peer's address: once per request, before the app.
pub(crate) fn adjust_scope(config: &Config, scope: &mut HttpScope) {
    if let Some(trusted) = &config.proxy_headers {
        apply_forwarded(trusted, scope);
    }
    if !config.root_path.is_empty() {
        apply_root_path(&config.root_path, scope);
    }
}

/// What the forwarding headers say about the client, once trust is
/// settled.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// The client's address (port 0 when the header gave none).
    pub client: Option<SocketAddr>,
    /// The scheme the client used.
    pub scheme: Option<Scheme>,
    /// The host the client asked for.
    pub host: Option<HeaderValue>,
}

/// Reads the forwarding headers of `scope` if its peer (`scope.client`,
/// `None` for a Unix socket) is trusted, and sets its `client`, `scheme`
/// and `host` header from them.
pub fn apply_forwarded(trusted: &TrustedProxies, scope: &mut HttpScope) {
    let forwarded = resolve(trusted, scope.client, &scope.headers);
    if let Some(client) = forwarded.client {
        scope.client = Some(client);
    }
    if let Some(scheme) = forwarded.scheme {
        scope.scheme = scheme;
    }
    if let Some(host) = forwarded.host {
        scope.headers.insert(HOST, host);
    }
}

/// The client, scheme and host that trusted proxies vouch for, given the
/// peer's address and the request headers. Empty when the peer is not
/// trusted.
pub fn resolve(
    trusted: &TrustedProxies,
    peer: Option<SocketAddr>,
    headers: &http::HeaderMap,
) -> Forwarded {
    if let Some(peer) = peer {
        if !trusted.contains(peer.ip()) {
            return Forwarded::default();
        }
    }
    if headers.contains_key(http::header::FORWARDED) {
        forwarded::from_rfc7239(trusted, headers)
    } else {
        forwarded::from_x_forwarded(trusted, headers)
    }
}

/// Which hop of a chain is the client: walks `hops` from the right,
/// skipping trusted proxies. `Ok(Some(i))`: hop `i` is the client;
/// `Ok(None)`: the chain is empty; `Err(())`: a hop that is not an address
/// ended the walk.
fn client_hop<T>(
    trusted: &TrustedProxies,
    hops: &[T],
    addr: impl Fn(&T) -> Option<IpAddr>,
) -> Result<Option<usize>, ()> {
    for (i, hop) in hops.iter().enumerate().rev() {
        let ip = addr(hop).ok_or(())?;
        if i == 0 || !trusted.contains(ip) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// `http`/`https` (and `ws`/`wss`, which an HTTP scope spells as
/// `http`/`https`); anything else is ignored.
fn scheme_of(proto: &str) -> Option<Scheme> {
    match proto.trim().to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(Scheme::HTTP),
        "https" | "wss" => Some(Scheme::HTTPS),
        _ => None,
    }
}

/// A host value that is a valid authority (`example.com`, `a.b:8443`,
/// `[::1]:80`); anything else is ignored.
fn host_of(host: &str) -> Option<HeaderValue> {
    let host = host.trim();
    let authority: Authority = host.parse().ok()?;
    if authority.as_str().contains('@') || host.is_empty() {
        return None;
    }
    HeaderValue::from_str(host).ok()
}

/// `--root-path`: the app is mounted at `root` by a proxy that strips it.
/// `root_path` is set, and `path` gets the prefix when it lacks it, so
/// that `path` always starts with `root_path` (rule HTTP-016).
fn apply_root_path(root: &str, scope: &mut HttpScope) {
    let has_prefix = scope
        .path
        .strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !has_prefix {
        scope.path.insert_str(0, root);
    }
    scope.root_path.clear();
    scope.root_path.push_str(root);
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, Method};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    fn trusted(s: &str) -> TrustedProxies {
        s.parse().unwrap()
    }

    fn client(f: &Forwarded) -> Option<String> {
        f.client.map(|c| c.ip().to_string())
    }

    #[test]
    fn x_forwarded_from_a_trusted_peer() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "example.com:8443"),
        ]);
        let f = resolve(&trusted("127.0.0.1"), peer("127.0.0.1:5000"), &h);
        assert_eq!(client(&f).as_deref(), Some("203.0.113.9"));
        assert_eq!(f.client.unwrap().port(), 0);
        assert_eq!(f.scheme, Some(Scheme::HTTPS));
        assert_eq!(f.host.unwrap(), "example.com:8443");
    }

    #[test]
    fn spoofed_headers_from_an_untrusted_peer_change_nothing() {
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=1.1.1.1;proto=https;host=evil"),
        ]);
        let f = resolve(&trusted("127.0.0.1"), peer("198.51.100.4:5000"), &h);
        assert_eq!(f, Forwarded::default());
    }

    #[test]
    fn the_chain_is_walked_from_the_right_to_the_first_untrusted_hop() {
        let t = trusted("10.0.0.0/8, 127.0.0.1");
        // client, then two trusted proxies.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, 10.1.1.1, 10.2.2.2")]);
        let f = resolve(&t, peer("127.0.0.1:1"), &h);
        assert_eq!(client(&f).as_deref(), Some("198.51.100.7"));
        // A forged entry left of an untrusted hop is not believed: the
        // client wrote "6.6.6.6" itself, the untrusted hop is the client.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.2.2.2")]);
        let f = resolve(&t, peer("127.0.0.1:1"), &h);
        assert_eq!(client(&f).as_deref(), Some("198.51.100.7"));
        // An untrusted hop in the middle stops the walk there.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 8.8.8.8, 10.2.2.2")]);
        let f = resolve(&t, peer("127.0.0.1:1"), &h);
        assert_eq!(client(&f).as_deref(), Some("8.8.8.8"));
        // Every hop trusted: the leftmost is the client.
        let h = headers(&[("x-forwarded-for", "10.3.3.3, 10.2.2.2")]);
        let f = resolve(&t, peer("127.0.0.1:1"), &h);
        assert_eq!(client(&f).as_deref(), Some("10.3.3.3"));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let t = trusted("10.0.0.0/8");
        let h = headers(&[
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-for", "10.0.0.2"),
        ]);
        let f = resolve(&t, peer("10.0.0.1:1"), &h);
        assert_eq!(client(&f).as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn ipv6_hops() {
        let t = trusted("::1, 2001:db8::/32");
        let h = headers(&[(
            "x-forwarded-for",
            "2001:db9::5, [2001:db8::1]:443, 2001:db8::2",
        )]);
        let f = resolve(&t, peer("[::1]:9"), &h);
        assert_eq!(client(&f).as_deref(), Some("2001:db9::5"));
        let h = headers(&[(
            "forwarded",
            r#"for="[2001:db9::5]:4711";proto=https, for="[2001:db8::1]""#,
        )]);
        let f = resolve(&t, peer("[::1]:9"), &h);
        assert_eq!(f.client, Some("[2001:db9::5]:4711".parse().unwrap()));
        assert_eq!(f.scheme, Some(Scheme::HTTPS));
    }

    #[test]
    fn malformed_values_keep_the_peer() {
        let t = trusted("127.0.0.1");
        for bad in ["not-an-ip", "1.2.3.4.5", "", " , ", "[::1", "300.1.1.1"] {
            let h = headers(&[("x-forwarded-for", bad)]);
            let f = resolve(&t, peer("127.0.0.1:1"), &h);
            assert_eq!(f.client, None, "{bad:?}");
        }
        for bad in [
            "for",
            "for=",
            r#"for="1.2.3.4"#,
            "for=unknown",
            "for=_hidden",
            "for=1.2.3.4;for=5.6.7.8",
            "proto=https",
            ";;,",
        ] {
            let h = headers(&[("forwarded", bad)]);
            let f = resolve(&t, peer("127.0.0.1:1"), &h);
            assert_eq!(f.client, None, "{bad:?}");
        }
        // A bad proto or host is ignored, the client still taken.
        let h = headers(&[
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "a b"),
        ]);
        let f = resolve(&t, peer("127.0.0.1:1"), &h);
        assert_eq!(client(&f).as_deref(), Some("192.0.2.1"));
        assert_eq!((f.scheme, f.host), (None, None));
    }

    #[test]
    fn rfc7239_takes_proto_and_host_from_the_client_hop() {
        let t = trusted("127.0.0.1, 10.0.0.0/8");
        let h = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=https;host="shop.example";by=10.0.0.1, for=10.0.0.1;proto=http"#,
        )]);
        let f = resolve(&t, peer("127.0.0.1:1"), &h);
        assert_eq!(client(&f).as_deref(), Some("192.0.2.60"));
        assert_eq!(f.scheme, Some(Scheme::HTTPS));
        assert_eq!(f.host.unwrap(), "shop.example");
        // Case-insensitive parameter names, quoted values with escapes.
        let h = headers(&[("forwarded", r#"For="192.0.2.61";Proto=HTTPS"#)]);
        let f = resolve(&t, peer("127.0.0.1:1"), &h);
        assert_eq!(client(&f).as_deref(), Some("192.0.2.61"));
        assert_eq!(f.scheme, Some(Scheme::HTTPS));
    }

    #[test]
    fn a_unix_socket_peer_is_trusted() {
        let h = headers(&[("x-forwarded-for", "192.0.2.1")]);
        let f = resolve(&trusted("127.0.0.1"), None, &h);
        assert_eq!(client(&f).as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn the_scope_is_adjusted() {
        let config = Config {
            proxy_headers: Some(TrustedProxies::loopback()),
            root_path: "/api".into(),
            ..Config::default()
        };
        let mut scope = HttpScope::new(Method::GET, "/users".parse().unwrap()).unwrap();
        scope.client = peer("127.0.0.1:4000");
        scope
            .headers
            .insert("x-forwarded-for", HeaderValue::from_static("192.0.2.8"));
        scope
            .headers
            .insert("x-forwarded-proto", HeaderValue::from_static("https"));
        scope
            .headers
            .insert(HOST, HeaderValue::from_static("inner"));
        scope.headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("outer.example"),
        );
        adjust_scope(&config, &mut scope);
        assert_eq!(scope.client, Some("192.0.2.8:0".parse().unwrap()));
        assert_eq!(scope.scheme, Scheme::HTTPS);
        assert_eq!(scope.headers[HOST], "outer.example");
        assert_eq!(
            (scope.root_path.as_str(), scope.path.as_str()),
            ("/api", "/api/users")
        );
        // A path that already has the prefix keeps it once; a path that
        // only starts with its letters gets it.
        for (path, expect) in [
            ("/api/x", "/api/x"),
            ("/api", "/api"),
            ("/apix", "/api/apix"),
        ] {
            let mut scope = HttpScope::new(Method::GET, path.parse().unwrap()).unwrap();
            adjust_scope(&config, &mut scope);
            assert_eq!(scope.path, expect);
        }
    }
}
