//! Scope types: what the server knows about one connection-scope before the
//! first event (spec: `spec/http.md`, `spec/websocket.md`, `spec/lifespan.md`).

use std::net::SocketAddr;
use std::sync::Arc;

use http::uri::Scheme;
use http::{Extensions, HeaderMap, Method, Uri, Version};

use crate::state::{State, StateBuilder};

/// Optional capabilities a server announces in every HTTP and WebSocket
/// scope (spec: `spec/extensions.md`). An app may only send an extension
/// event whose capability is `true` (rule `EXT-001`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The server sends [`HttpSend::Trailers`](crate::HttpSend::Trailers)
    /// to the client (HTTP/2, or HTTP/1.1 with `TE: trailers` in the
    /// request). Apps that announced trailers send them either way
    /// (rule `HTTP-031`).
    pub trailers: bool,
    /// The server forwards [`HttpSend::EarlyHints`](crate::HttpSend::EarlyHints)
    /// as `103 Early Hints`.
    pub early_hints: bool,
    /// The server accepts [`HttpSend::File`](crate::HttpSend::File) and
    /// reads the file itself.
    pub send_file: bool,
    /// The server accepts an HTTP response instead of a WebSocket handshake
    /// ([`WebSocketSend::DenyStart`](crate::WebSocketSend::DenyStart)).
    pub websocket_denial: bool,
}

impl Capabilities {
    /// No optional capability: the base protocol only.
    pub const NONE: Self = Self {
        trailers: false,
        early_hints: false,
        send_file: false,
        websocket_denial: false,
    };

    /// Every capability this version of the spec defines (for test clients).
    pub const ALL: Self = Self {
        trailers: true,
        early_hints: true,
        send_file: true,
        websocket_denial: true,
    };
}

/// What a TLS-terminating server knows about the connection
/// (spec: `spec/extensions.md`, "TLS"). Never present on plain TCP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version as its 16-bit code (`0x0304` for TLS 1.3).
    pub version: Option<u16>,
    /// The IANA cipher-suite number (`0x1301` for TLS_AES_128_GCM_SHA256).
    pub cipher_suite: Option<u16>,
    /// The server's certificate, PEM.
    pub server_cert: Option<String>,
    /// The client's certificate chain, PEM, leaf first; empty when none.
    pub client_cert_chain: Vec<String>,
    /// The client certificate's subject (RFC 4514), when verified.
    pub client_cert_name: Option<String>,
    /// Why the client certificate was rejected, when it was.
    pub client_cert_error: Option<String>,
}

/// One HTTP request (spec: `spec/http.md`, "The scope").
///
/// Fields are public: a middleware changes the scope it was lent in place
/// before handing it on, and finds it as the inner app left it once the
/// inner call returns (rule `CORE-008`). `Clone` gives a copy to hand an
/// inner app instead (a fallback that calls a second app, say); `Default`
/// is `GET /`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpScope {
    /// The request method.
    pub method: Method,
    /// The request target exactly as received (origin-form for HTTP/1.1).
    /// [`raw_path`](Self::raw_path) and [`query_string`](Self::query_string)
    /// read from it, without copying.
    pub uri: Uri,
    /// `HTTP/1.0`, `HTTP/1.1`, `HTTP/2.0`.
    pub version: Version,
    /// `http` or `https` (`ws` / `wss` are not used: a WebSocket scope says
    /// what it is by its kind).
    pub scheme: Scheme,
    /// The path, percent-decoded and UTF-8; it always starts with
    /// [`root_path`](Self::root_path), at a segment boundary (rules
    /// `HTTP-004`, `HTTP-016`).
    pub path: String,
    /// The mount point of the app, `""` at the root. A router that mounts an
    /// app at `/api` sets `root_path = "/api"` and leaves `path` whole.
    pub root_path: String,
    /// The request headers in the order received, duplicates kept; always
    /// with a `host` (rules `HTTP-005`, `HTTP-008`).
    pub headers: HeaderMap,
    /// The client's address, when the transport has one.
    pub client: Option<SocketAddr>,
    /// The address the request arrived on, when the transport has one.
    pub server: Option<SocketAddr>,
    /// The lifespan state created at startup (empty without lifespan).
    pub state: State,
    /// Per-request values that middleware pass down to inner layers (user,
    /// request id). Values going back up travel in
    /// [`ResponseStart::extensions`](crate::ResponseStart::extensions).
    pub extensions: Extensions,
    /// What the server supports beyond the base protocol.
    pub capabilities: Capabilities,
    /// TLS details; `None` on plain TCP.
    pub tls: Option<Arc<TlsInfo>>,
}

impl Default for HttpScope {
    /// `GET /`, every other field as [`new`](Self::new) sets it.
    fn default() -> Self {
        Self::new(Method::GET, Uri::default()).expect("`/` is a path")
    }
}

impl HttpScope {
    /// A scope for `method` and `uri` with every other field at its default:
    /// HTTP/1.1, scheme `http`, no headers, empty state. Returns `None` when
    /// the URI's path does not percent-decode to UTF-8 (a server answers 400).
    pub fn new(method: Method, uri: Uri) -> Option<Self> {
        let path = decode_path(uri.path().as_bytes())?;
        Some(Self {
            method,
            uri,
            version: Version::HTTP_11,
            scheme: Scheme::HTTP,
            path,
            root_path: String::new(),
            headers: HeaderMap::new(),
            client: None,
            server: None,
            state: State::new(),
            extensions: Extensions::new(),
            capabilities: Capabilities::NONE,
            tls: None,
        })
    }

    /// A scope from the parts of an `http::Request`, moving the method, URI,
    /// headers and extensions (nothing is copied or re-parsed). The scheme is
    /// the URI's when it has one.
    #[inline]
    pub fn from_parts(parts: http::request::Parts) -> Option<Self> {
        // Built whole, not through `new` and then assigned: no empty maps
        // made and dropped, no scope moved twice. (A server that serves
        // many requests fills a kept scope instead: rgi-server's parser,
        // rgi-tower's `fill_scope`.)
        let path = decode_path(parts.uri.path().as_bytes())?;
        Some(Self {
            scheme: parts.uri.scheme().cloned().unwrap_or(Scheme::HTTP),
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            path,
            root_path: String::new(),
            headers: parts.headers,
            client: None,
            server: None,
            state: State::new(),
            extensions: parts.extensions,
            capabilities: Capabilities::NONE,
            tls: None,
        })
    }

    /// The parts of an `http::Request` with this scope's method, URI,
    /// version, headers and extensions, moved. Addresses, state and
    /// capabilities are dropped; keep them in `extensions` first if needed.
    pub fn into_parts(self) -> http::request::Parts {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = self.method;
        parts.uri = self.uri;
        parts.version = self.version;
        parts.headers = self.headers;
        parts.extensions = self.extensions;
        parts
    }

    /// Empties the scope for the next request on the same connection: every
    /// field as [`new`](Self::new)`(GET, "/")` sets it, but `path`,
    /// `root_path`, `headers` and `extensions` keep their allocations. A
    /// server that keeps one scope per connection calls it when a request
    /// is done (rule `CORE-009`), so that nothing of one request reaches the
    /// next, and the buffers that the request's URI and header values
    /// shared are let go.
    pub fn clear(&mut self) {
        // Destructured without `..`: a field added to the scope does not
        // compile here until it is reset too.
        let HttpScope {
            method,
            uri,
            version,
            scheme,
            path,
            root_path,
            headers,
            client,
            server,
            state,
            extensions,
            capabilities,
            tls,
        } = self;
        *method = Method::GET;
        *uri = Uri::default();
        *version = Version::HTTP_11;
        *scheme = Scheme::HTTP;
        path.clear();
        path.push('/');
        root_path.clear();
        headers.clear();
        *client = None;
        *server = None;
        *state = State::new();
        extensions.clear();
        *capabilities = Capabilities::NONE;
        *tls = None;
    }

    /// The path as received, still percent-encoded, query excluded.
    pub fn raw_path(&self) -> &[u8] {
        self.uri.path().as_bytes()
    }

    /// The query string as received (percent-encoded), without the `?`;
    /// empty when there is none.
    pub fn query_string(&self) -> &[u8] {
        self.uri.query().unwrap_or("").as_bytes()
    }

    /// The path below [`root_path`](Self::root_path): what a mounted app
    /// routes on. Always starts with `/` or is empty.
    pub fn route_path(&self) -> &str {
        self.path
            .strip_prefix(&self.root_path)
            .unwrap_or(&self.path)
    }
}

/// One WebSocket connection (spec: `spec/websocket.md`). It is the handshake
/// request's scope plus the subprotocols the client offered; it dereferences
/// to [`HttpScope`] so `scope.path` and `scope.headers` read the same.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebSocketScope {
    /// The handshake request.
    pub request: HttpScope,
    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in
    /// order.
    pub subprotocols: Vec<String>,
}

impl WebSocketScope {
    /// A WebSocket scope for a handshake request.
    pub fn new(request: HttpScope, subprotocols: Vec<String>) -> Self {
        Self {
            request,
            subprotocols,
        }
    }
}

impl std::ops::Deref for WebSocketScope {
    type Target = HttpScope;
    fn deref(&self) -> &HttpScope {
        &self.request
    }
}

impl std::ops::DerefMut for WebSocketScope {
    fn deref_mut(&mut self) -> &mut HttpScope {
        &mut self.request
    }
}

/// The server's lifespan (spec: `spec/lifespan.md`).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LifespanScope {
    /// Where startup stores values for every later request scope.
    pub state: StateBuilder,
}

impl LifespanScope {
    /// A lifespan scope around `state`.
    pub fn new(state: StateBuilder) -> Self {
        Self { state }
    }
}

/// Percent-decodes a request path. `None` when the result is not UTF-8.
/// A `%` not followed by two hex digits is kept as it is (as browsers and
/// uvicorn do). Allocates once, and only the string itself.
pub fn decode_path(raw: &[u8]) -> Option<String> {
    if !raw.contains(&b'%') {
        return std::str::from_utf8(raw).ok().map(str::to_owned);
    }
    let mut out = String::new();
    decode_escapes_into(raw, &mut out).then_some(out)
}

/// [`decode_path`] of a URI's path (`Uri::path`, already a `&str`) into
/// `out`, cleared first and reusing its allocation: what a server that
/// keeps one scope per connection uses. `false`, with `out` left empty,
/// when the result is not UTF-8.
pub fn decode_path_into(raw: &str, out: &mut String) -> bool {
    out.clear();
    if !raw.as_bytes().contains(&b'%') {
        // Nothing to decode, and a `&str` needs no UTF-8 check.
        out.push_str(raw);
        return true;
    }
    decode_escapes_into(raw.as_bytes(), out)
}

/// Decodes `%XX` escapes of `raw` into the empty `out`.
fn decode_escapes_into(raw: &[u8], out: &mut String) -> bool {
    let mut bytes = std::mem::take(out).into_bytes();
    bytes.reserve(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                bytes.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        bytes.push(raw[i]);
        i += 1;
    }
    match String::from_utf8(bytes) {
        Ok(decoded) => {
            *out = decoded;
            true
        }
        Err(e) => {
            // Keep the allocation for the next call.
            let mut bytes = e.into_bytes();
            bytes.clear();
            *out = String::from_utf8(bytes).unwrap_or_default();
            false
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(decode_path(b"/a%20b").unwrap(), "/a b");
        assert_eq!(decode_path(b"/caf%C3%A9").unwrap(), "/café");
        assert_eq!(decode_path(b"/100%").unwrap(), "/100%");
        assert_eq!(decode_path(b"/%zz").unwrap(), "/%zz");
        assert_eq!(decode_path(b"/%4").unwrap(), "/%4");
        assert_eq!(decode_path(b"/%41").unwrap(), "/A");
        assert!(decode_path(b"/%FF").is_none());
    }

    #[test]
    fn parts_round_trip_moves_everything() {
        let req = http::Request::builder()
            .method("POST")
            .uri("/p%20q?x=1")
            .header("a", "1")
            .header("a", "2")
            .extension(7u32)
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let scope = HttpScope::from_parts(parts).unwrap();
        assert_eq!(scope.path, "/p q");
        assert_eq!(scope.raw_path(), b"/p%20q");
        assert_eq!(scope.query_string(), b"x=1");
        assert_eq!(scope.headers.get_all("a").iter().count(), 2);
        let parts = scope.into_parts();
        assert_eq!(parts.method, Method::POST);
        assert_eq!(parts.uri, "/p%20q?x=1");
        assert_eq!(parts.extensions.get::<u32>(), Some(&7));
    }

    #[test]
    fn decode_path_into_reuses_and_agrees_with_decode_path() {
        let mut out = String::with_capacity(64);
        for raw in ["/a%20b", "/plain", "/%zz", "/%41", "/caf%C3%A9"] {
            assert!(decode_path_into(raw, &mut out));
            assert_eq!(Some(out.clone()), decode_path(raw.as_bytes()));
            assert!(out.capacity() >= 64, "the allocation is kept");
        }
        assert!(!decode_path_into("/%FF", &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn clear_leaves_nothing_of_the_last_request() {
        let mut scope = HttpScope::new(Method::POST, Uri::from_static("/a%20b?q=1")).unwrap();
        scope.version = Version::HTTP_10;
        scope.scheme = Scheme::HTTPS;
        scope.root_path.push_str("/a");
        scope.headers.insert("x-a", "1".parse().unwrap());
        scope.client = Some(([127, 0, 0, 1], 1).into());
        scope.server = Some(([127, 0, 0, 1], 2).into());
        let builder = crate::StateBuilder::new();
        builder.insert(7u8);
        scope.state = builder.freeze();
        scope.extensions.insert(5u32);
        scope.capabilities = Capabilities::ALL;
        scope.tls = Some(Arc::new(TlsInfo::default()));
        scope.clear();
        let fresh = HttpScope::new(Method::GET, Uri::default()).unwrap();
        assert_eq!(format!("{scope:?}"), format!("{fresh:?}"));
        // Their `Debug` does not show their contents.
        assert_eq!(scope.extensions.get::<u32>(), None);
        assert_eq!(scope.state.get::<u8>(), None);
    }

    #[test]
    fn route_path_strips_root() {
        let mut scope = HttpScope::new(Method::GET, Uri::from_static("/api/users")).unwrap();
        scope.root_path = "/api".into();
        assert_eq!(scope.route_path(), "/users");
    }
}
