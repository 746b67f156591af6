//! An rgi scope as `http::request::Parts` and back: the fields a request
//! has are moved, the rest of the scope travels as [`ScopeParts`], and the
//! mount point (`root_path`) is taken off or put back on the URI.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{HOST, TE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Extensions, HeaderMap, HeaderValue, Uri, Version};
use rgi::{Capabilities, HttpScope, State, TlsInfo};

use crate::service::Link;

/// The part of an rgi scope that `http::Request` has no field for, carried
/// across a tower boundary as a request extension.
///
/// Every request that [`TowerApp`](crate::TowerApp) or
/// [`TowerMiddleware`](crate::TowerMiddleware) hands to a tower service has
/// one, so a tower handler can read the lifespan state, the addresses or the
/// mount point (`req.extensions().get::<ScopeParts>()`, or axum's
/// `Extension<ScopeParts>`). [`RgiService`](crate::RgiService) takes it back
/// out, so an rgi app behind a tower layer gets its scope as it was.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScopeParts {
    /// The scope's URI as rgi had it, mount point included (axum calls this
    /// the `OriginalUri`).
    pub uri: Uri,
    /// The scope's percent-decoded path, mount point included.
    pub path: String,
    /// Where the app is mounted (`""` at the root).
    pub root_path: String,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The client's address, when the server knows it.
    pub client: Option<SocketAddr>,
    /// The address the request arrived on, when the server knows it.
    pub server: Option<SocketAddr>,
    /// The lifespan state frozen at startup, read-only.
    pub state: State,
    /// What the rgi server announced for this request.
    pub capabilities: Capabilities,
    /// TLS details; `None` on plain TCP.
    pub tls: Option<Arc<TlsInfo>>,
    /// What the crossing rgi call shares with an `RgiService` behind it.
    pub(crate) link: Option<Link>,
}

impl ScopeParts {
    /// The path below the mount point: what a mounted app routes on.
    pub fn route_path(&self) -> &str {
        self.path
            .strip_prefix(&self.root_path)
            .unwrap_or(&self.path)
    }
}

/// Inserts a value built from the client's address into a request's
/// extensions: how [`TowerApp::connect_info`](crate::TowerApp::connect_info)
/// gives axum its `ConnectInfo<SocketAddr>` without this crate naming axum.
pub(crate) type ConnectInfoFn = Arc<dyn Fn(SocketAddr, &mut Extensions) + Send + Sync>;

/// Reads the client's address from a request's extensions, for
/// [`RgiService::client_addr`](crate::RgiService::client_addr).
pub(crate) type ClientAddrFn = Arc<dyn Fn(&Extensions) -> Option<SocketAddr> + Send + Sync>;

/// The request half of `scope`, for a tower service. Headers and extensions
/// are moved out (the scope keeps empty maps), method, URI and version are
/// copied (no allocation), and the rest of the scope goes along as
/// [`ScopeParts`]. With `strip_mount`, the URI starts below `root_path`,
/// the way axum's `nest_service` hands a request to what it mounts.
pub(crate) fn request_parts(
    scope: &mut HttpScope,
    strip_mount: bool,
    link: Option<Link>,
) -> http::request::Parts {
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = scope.method.clone();
    parts.version = scope.version;
    parts.uri = if strip_mount && !scope.root_path.is_empty() {
        below_mount(&scope.uri, &scope.path, &scope.root_path)
    } else {
        scope.uri.clone()
    };
    parts.headers = std::mem::take(&mut scope.headers);
    parts.extensions = std::mem::take(&mut scope.extensions);
    parts.extensions.insert(ScopeParts {
        uri: scope.uri.clone(),
        path: scope.path.clone(),
        root_path: scope.root_path.clone(),
        scheme: scope.scheme.clone(),
        client: scope.client,
        server: scope.server,
        state: scope.state.clone(),
        capabilities: scope.capabilities,
        tls: scope.tls.clone(),
        link,
    });
    parts
}

/// How [`scope_from_request`] places a request that did not come from rgi.
#[derive(Clone, Default)]
pub(crate) struct Placement {
    /// The mount point to put back on the URI (`RgiService::mounted_at`).
    pub(crate) mount: Option<Arc<str>>,
    pub(crate) client_addr: Option<ClientAddrFn>,
    /// What the server knows of the connection (`RgiService::on_transport`).
    pub(crate) transport: Option<Arc<Transport>>,
}

/// What a server that runs an [`RgiService`](crate::RgiService) on its own
/// connections knows and `http::Request` does not carry: the addresses,
/// the scheme, TLS and the lifespan state. `rgi-hyper` gives one per
/// connection ([`RgiService::on_transport`](crate::RgiService::on_transport)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Transport {
    /// The client's address.
    pub client: Option<SocketAddr>,
    /// The address the connection arrived on.
    pub server: Option<SocketAddr>,
    /// `https` on TLS, else `http`.
    pub scheme: Scheme,
    /// TLS details; `None` on plain TCP.
    pub tls: Option<Arc<TlsInfo>>,
    /// The lifespan state frozen at startup.
    pub state: State,
}

impl Transport {
    /// A plain-TCP transport with the given addresses and empty state.
    pub fn new(client: Option<SocketAddr>, server: Option<SocketAddr>) -> Self {
        Self {
            client,
            server,
            scheme: Scheme::HTTP,
            tls: None,
            state: State::new(),
        }
    }

    /// With TLS details (and scheme `https`).
    #[must_use]
    pub fn with_tls(mut self, tls: Arc<TlsInfo>) -> Self {
        self.scheme = Scheme::HTTPS;
        self.tls = Some(tls);
        self
    }

    /// With the lifespan state.
    #[must_use]
    pub fn with_state(mut self, state: State) -> Self {
        self.state = state;
        self
    }
}

/// The rgi scope for a request from tower, and the link to the rgi call it
/// came from, if any. `None` when its path does not decode to UTF-8
/// (rule `HTTP-003`) or an HTTP/2 request names two different hosts (rule
/// `HTTP-037`): both are answered 400.
pub(crate) fn scope_from_request(
    parts: http::request::Parts,
    placement: &Placement,
) -> Option<(HttpScope, Option<Link>)> {
    let mut scope = HttpScope::default();
    let link = fill_scope(&mut scope, parts, placement)?;
    Some((scope, link))
}

/// [`scope_from_request`] into `scope`, a cleared one ([`HttpScope::clear`])
/// whose allocations are reused: the path's string, and the header map's
/// when the request's own would have to grow for `host`.
#[inline]
pub(crate) fn fill_scope(
    scope: &mut HttpScope,
    mut parts: http::request::Parts,
    placement: &Placement,
) -> Option<Option<Link>> {
    let mut from_rgi = parts.extensions.remove::<ScopeParts>();
    let link = from_rgi.as_mut().and_then(|rgi| rgi.link.take());
    let client = match (&from_rgi, &placement.client_addr) {
        (Some(_), _) => None,
        (None, Some(read)) => read(&parts.extensions),
        (None, None) => None,
    };
    if from_rgi.is_none() {
        if let Some(mount) = &placement.mount {
            parts.uri = above_mount(&parts.uri, mount)?;
        }
    }
    if !rgi::decode_path_into(parts.uri.path(), &mut scope.path) {
        return None;
    }
    // One `host` lookup at most, and none for an origin-form target
    // (HTTP/1.1).
    let mut headers = parts.headers;
    if let Some(authority) = parts.uri.authority() {
        headers = with_host(headers, authority, parts.version, &mut scope.headers)?;
    }
    scope.scheme = parts.uri.scheme().cloned().unwrap_or(Scheme::HTTP);
    scope.method = parts.method;
    scope.uri = parts.uri;
    scope.version = parts.version;
    scope.headers = headers;
    scope.extensions = parts.extensions;
    match from_rgi {
        Some(rgi) => restore(scope, rgi),
        None => {
            if let Some(mount) = &placement.mount {
                let mount = rgi::decode_path(mount.as_bytes())?;
                if scope.path.starts_with(&mount) {
                    scope.root_path = mount;
                }
            }
            scope.client = client;
            if let Some(transport) = &placement.transport {
                scope.client = scope.client.or(transport.client);
                scope.server = transport.server;
                scope.scheme = transport.scheme.clone();
                scope.tls = transport.tls.clone();
                scope.state = transport.state.clone();
            }
            scope.capabilities.trailers = scope.version >= Version::HTTP_2
                || scope.headers.get_all(TE).iter().any(|te| {
                    te.as_bytes()
                        .windows(8)
                        .any(|w| w.eq_ignore_ascii_case(b"trailers"))
                });
        }
    }
    Some(link)
}

/// `fields` with the `host` that `authority` names, when they have none
/// (HTTP/2 has `:authority` instead, rule `HTTP-008`); `None` when an
/// HTTP/2 request names two different hosts, in any of its `host` fields
/// (rule `HTTP-037`, RFC 9113 §8.3.1).
///
/// h2 sizes a request's map to the fields it expects, so it is often
/// full, and growing it would reallocate and rehash it; `room` (a kept
/// scope's cleared map) is used instead when it has room: the fields move
/// there, in order, and the `host` fields among them are found and
/// checked on the way, without a lookup of their own. (A loop: `Extend`
/// costs four times as much.)
fn with_host(
    fields: HeaderMap,
    authority: &Authority,
    version: Version,
    room: &mut HeaderMap,
) -> Option<HeaderMap> {
    let same_host = |host: &HeaderValue| {
        version < Version::HTTP_2
            || host
                .as_bytes()
                .eq_ignore_ascii_case(authority.as_str().as_bytes())
    };
    let (mut headers, has_host) =
        if fields.len() < fields.capacity() || room.capacity() <= fields.len() {
            // Every `host` field: a second one may name another host.
            let mut has_host = false;
            for host in &fields.get_all(HOST) {
                if !same_host(host) {
                    return None;
                }
                has_host = true;
            }
            (fields, has_host)
        } else {
            let mut headers = std::mem::take(room);
            let mut has_host = false;
            let mut last = None;
            let mut in_host = false;
            for (name, value) in fields {
                // `None`: a further value of the last name.
                if let Some(name) = name {
                    in_host = name == HOST;
                    last = Some(name);
                }
                if in_host {
                    if !same_host(&value) {
                        return None;
                    }
                    has_host = true;
                }
                if let Some(name) = &last {
                    headers.append(name, value);
                }
            }
            (headers, has_host)
        };
    if !has_host {
        if let Ok(host) = HeaderValue::try_from(authority.as_str()) {
            headers.insert(HOST, host);
        }
    }
    Some(headers)
}

/// Gives a request that crossed from rgi and back its scope again.
fn restore(scope: &mut HttpScope, rgi: ScopeParts) {
    if scope.path == rgi.path {
        // The tower side saw the whole URI (a layer around an rgi app).
        scope.root_path = rgi.root_path;
    } else if !rgi.root_path.is_empty()
        && below(&rgi.path, &rgi.root_path) == scope.path
        && scope.uri.query() == rgi.uri.query()
    {
        // The tower side saw it below the mount point (`TowerApp`).
        scope.uri = rgi.uri;
        scope.path = rgi.path;
        scope.root_path = rgi.root_path;
    }
    // Otherwise a layer rewrote the URI: the request is mounted nowhere.
    scope.scheme = rgi.scheme;
    scope.client = rgi.client;
    scope.server = rgi.server;
    scope.state = rgi.state;
    scope.tls = rgi.tls;
    // A tower body has no frame for a file or an early hint (rule EXT-002);
    // an `RgiService` that reads files itself announces `send_file` again
    // (`read_files`).
    scope.capabilities = rgi.capabilities;
    scope.capabilities.early_hints = false;
    scope.capabilities.send_file = false;
}

/// `path` below `root_path`, as a tower service sees it: `/` for the mount
/// point itself.
fn below<'p>(path: &'p str, root_path: &str) -> &'p str {
    match path.strip_prefix(root_path) {
        Some("") => "/",
        Some(rest) => rest,
        None => path,
    }
}

/// `uri` with the mount point taken off its path. The path is cut in its
/// raw (percent-encoded) form, where its decoded form passes `root_path`,
/// so escapes below the mount point reach the service as the client sent
/// them.
fn below_mount(uri: &Uri, path: &str, root_path: &str) -> Uri {
    let raw = uri.path();
    let rest = match mount_cut(raw, root_path) {
        Some(cut) if cut == raw.len() => "/".to_owned(),
        Some(cut) => raw[cut..].to_owned(),
        // A middleware rewrote `path` without `uri`: `path` wins.
        None => encode_path(below(path, root_path)),
    };
    with_path(uri, rest).unwrap_or_else(|| uri.clone())
}

/// `uri` with `mount` (a raw path, `/api`) put before its path.
fn above_mount(uri: &Uri, mount: &str) -> Option<Uri> {
    let raw = uri.path();
    if !raw.starts_with('/') {
        return Some(uri.clone()); // `*`
    }
    let path = if raw == "/" {
        mount.to_owned()
    } else {
        format!("{mount}{raw}")
    };
    with_path(uri, path)
}

fn with_path(uri: &Uri, mut path: String) -> Option<Uri> {
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path).ok()?);
    Uri::from_parts(parts).ok()
}

/// Where the raw path `raw` stops decoding to `root_path`, when that is a
/// segment boundary. Decodes the way `rgi::decode_path` does.
fn mount_cut(raw: &str, root_path: &str) -> Option<usize> {
    let (raw, want) = (raw.as_bytes(), root_path.as_bytes());
    let (mut i, mut n) = (0, 0);
    while n < want.len() {
        let (byte, step) = match *raw.get(i)? {
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => (h << 4 | l, 3),
                _ => (b'%', 1),
            },
            b => (b, 1),
        };
        if byte != want[n] {
            return None;
        }
        n += 1;
        i += step;
    }
    (i == raw.len() || raw[i] == b'/').then_some(i)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes what a path segment may not hold (RFC 3986 `pchar`).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(uri: &'static str, root_path: &str) -> HttpScope {
        let mut scope = HttpScope::new(http::Method::GET, Uri::from_static(uri)).unwrap();
        scope.root_path = root_path.into();
        scope
    }

    #[test]
    fn the_mount_point_comes_off_the_raw_path() {
        for (uri, root, seen) in [
            ("/api/users?x=1", "/api", "/users?x=1"),
            ("/api", "/api", "/"),
            ("/api?q", "/api", "/?q"),
            ("/a%20b/c%2Fd", "/a b", "/c%2Fd"),
            ("/a%2Fb/c", "/a/b", "/c"),
            ("/x/y", "", "/x/y"),
        ] {
            let mut scope = scope(uri, root);
            let parts = request_parts(&mut scope, true, None);
            assert_eq!(parts.uri, seen, "{uri} under {root}");
            let (back, _) = scope_from_request(parts, &Placement::default()).unwrap();
            assert_eq!(
                (back.uri.to_string(), back.root_path.as_str()),
                (uri.to_owned(), root)
            );
        }
    }

    /// An HTTP/2 request's `:authority` becomes `host` (rule `HTTP-008`),
    /// and one that names two hosts is refused (rule `HTTP-037`): whether
    /// its map has room for `host`, or is full and moves into a kept one.
    #[test]
    fn an_h2_authority_is_the_host_and_a_second_host_is_refused() {
        let mut kept = HttpScope::default();
        kept.headers = HeaderMap::with_capacity(20);
        let room = kept.headers.capacity();
        for exact in [false, true] {
            let fields = [("accept", "*/*"), ("x-a", "1"), ("x-a", "2")];
            let parts = h2_request(&fields, exact);
            assert!(!exact || parts.headers.len() == parts.headers.capacity());
            let mut scope = kept.clone();
            fill_scope(&mut scope, parts, &Placement::default()).expect("one host");
            assert_eq!(scope.headers["host"], "example.com:8080", "full: {exact}");
            assert_eq!(scope.headers.len(), 4);
            let x_a: Vec<_> = scope.headers.get_all("x-a").iter().collect();
            assert_eq!(x_a, ["1", "2"], "full: {exact}");
            if exact {
                assert_eq!(scope.headers.capacity(), room, "moved into the kept map");
            }

            let same = [("host", "EXAMPLE.com:8080"), ("x-a", "1")];
            let mut scope = kept.clone();
            fill_scope(&mut scope, h2_request(&same, exact), &Placement::default())
                .expect("the same host twice");
            assert_eq!(scope.headers.get_all("host").iter().count(), 1);

            let two = [("x-a", "1"), ("host", "other.example"), ("accept", "*/*")];
            let mut scope = kept.clone();
            assert!(
                fill_scope(&mut scope, h2_request(&two, exact), &Placement::default()).is_none(),
                "two hosts, full: {exact}"
            );
        }
    }

    /// The head of an HTTP/2 request for `http://example.com:8080/x` with
    /// `fields`, in a map that is full (`exact`, as h2 sizes it) or has room.
    fn h2_request(fields: &[(&'static str, &'static str)], exact: bool) -> http::request::Parts {
        let mut request = http::Request::new(());
        *request.version_mut() = Version::HTTP_2;
        *request.uri_mut() = Uri::from_static("http://example.com:8080/x");
        // As h2 makes it: sized to the fields, so full.
        let mut map = HeaderMap::with_capacity(if exact { fields.len() } else { 20 });
        for (name, value) in fields {
            map.append(
                http::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        *request.headers_mut() = map;
        request.into_parts().0
    }

    /// Rule `HTTP-037` holds for every `host` field, not only the first:
    /// an HTTP/2 request whose first `host` agrees with `:authority` and
    /// whose second names another host is refused too, on both paths
    /// (the map used as it is, or moved into a kept one).
    #[test]
    fn an_h2_request_whose_second_host_field_names_another_host_is_refused() {
        let mut kept = HttpScope::default();
        kept.headers = HeaderMap::with_capacity(20);
        for exact in [false, true] {
            let fields = [
                ("host", "example.com:8080"),
                ("x-a", "1"),
                ("host", "other.example"),
            ];
            let mut scope = kept.clone();
            assert!(
                fill_scope(
                    &mut scope,
                    h2_request(&fields, exact),
                    &Placement::default()
                )
                .is_none(),
                "a second host naming another authority, full: {exact}"
            );

            let agreeing = [("host", "example.com:8080"), ("host", "EXAMPLE.COM:8080")];
            let mut scope = kept.clone();
            fill_scope(
                &mut scope,
                h2_request(&agreeing, exact),
                &Placement::default(),
            )
            .expect("two host fields that agree with :authority");
            assert_eq!(scope.headers.get_all("host").iter().count(), 2);
        }
    }

    #[test]
    fn a_rewritten_path_wins_over_the_uri() {
        let mut scope = scope("/old/x", "/api");
        scope.path = "/api/n é".into();
        let parts = request_parts(&mut scope, true, None);
        assert_eq!(parts.uri, "/n%20%C3%A9");
    }

    #[test]
    fn a_mount_is_put_back_for_requests_from_tower() {
        let placement = Placement {
            mount: Some("/api".into()),
            client_addr: None,
            transport: None,
        };
        let request = http::Request::get("/users?a=b").body(()).unwrap();
        let (scope, _) = scope_from_request(request.into_parts().0, &placement).unwrap();
        assert_eq!(scope.uri, "/api/users?a=b");
        assert_eq!(
            (scope.path.as_str(), scope.root_path.as_str()),
            ("/api/users", "/api")
        );
        assert_eq!(scope.route_path(), "/users");
    }

    #[test]
    fn bad_utf8_is_refused_not_panicked() {
        let request = http::Request::get("/%FF").body(()).unwrap();
        assert!(scope_from_request(request.into_parts().0, &Placement::default()).is_none());
    }
}
