//! `HttpScope::from_parts` / `into_parts`: fields move, nothing is copied or
//! re-parsed; the path, raw path, query and root path accessors (rules
//! `HTTP-002` to `HTTP-005`, `HTTP-016`).

use rgi::bytes::Bytes;
use rgi::http::{self, HeaderValue, Method, Uri, Version};
use rgi::{Capabilities, HttpScope, WebSocketScope};

#[derive(Clone, Debug, PartialEq)]
struct RequestId(u64);

fn parts(uri: &str) -> (http::request::Parts, Bytes) {
    let shared = Bytes::from_static(b"a shared header value");
    let value = HeaderValue::from_maybe_shared(shared.clone()).unwrap();
    let req = http::Request::builder()
        .method("PATCH")
        .uri(uri)
        .version(Version::HTTP_2)
        .header("x-b", "1")
        .header("x-a", value)
        .header("x-b", "2")
        .extension(RequestId(42))
        .body(())
        .unwrap();
    (req.into_parts().0, shared)
}

#[test]
fn from_parts_moves_every_field() {
    let (parts, shared) = parts("/caf%C3%A9/x%20y?q=%20&r");
    let scope = HttpScope::from_parts(parts).unwrap();
    assert_eq!(scope.method, Method::PATCH);
    assert_eq!(scope.version, Version::HTTP_2);
    assert_eq!(scope.path, "/café/x y");
    assert_eq!(scope.raw_path(), b"/caf%C3%A9/x%20y");
    assert_eq!(scope.query_string(), b"q=%20&r");
    let b: Vec<_> = scope.headers.get_all("x-b").iter().collect();
    assert_eq!(b, ["1", "2"], "duplicates kept in order");
    assert_eq!(
        scope.headers["x-a"].as_bytes().as_ptr(),
        shared.as_ptr(),
        "header values are moved, not copied"
    );
    assert_eq!(scope.extensions.get::<RequestId>(), Some(&RequestId(42)));
    // The defaults of everything `Parts` does not have.
    assert_eq!(scope.scheme, http::uri::Scheme::HTTP);
    assert_eq!(scope.root_path, "");
    assert_eq!(scope.client, None);
    assert_eq!(scope.server, None);
    assert!(scope.state.is_empty());
    assert_eq!(scope.capabilities, Capabilities::NONE);
    assert!(scope.tls.is_none());
}

#[test]
fn from_parts_takes_the_scheme_of_an_absolute_uri() {
    let (parts, _) = parts("https://example.com/x");
    let scope = HttpScope::from_parts(parts).unwrap();
    assert_eq!(scope.scheme, http::uri::Scheme::HTTPS);
    assert_eq!(scope.path, "/x");
}

#[test]
fn from_parts_refuses_a_path_that_is_not_utf8() {
    let (parts, _) = parts("/%FF");
    assert!(HttpScope::from_parts(parts).is_none());
}

#[test]
fn into_parts_round_trips() {
    let (original, shared) = parts("/p%20q?x=1");
    let uri = original.uri.clone();
    let parts = HttpScope::from_parts(original).unwrap().into_parts();
    assert_eq!(parts.method, Method::PATCH);
    assert_eq!(parts.uri, uri);
    assert_eq!(parts.version, Version::HTTP_2);
    let names: Vec<_> = parts.headers.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["x-b", "x-a"]);
    assert_eq!(parts.headers.get_all("x-b").iter().count(), 2);
    assert_eq!(parts.headers["x-a"].as_bytes().as_ptr(), shared.as_ptr());
    assert_eq!(parts.extensions.get::<RequestId>(), Some(&RequestId(42)));
}

#[test]
fn new_sets_the_documented_defaults() {
    let scope = HttpScope::new(Method::GET, Uri::from_static("/")).unwrap();
    assert_eq!(scope.version, Version::HTTP_11);
    assert_eq!(scope.scheme, http::uri::Scheme::HTTP);
    assert!(scope.headers.is_empty());
    assert!(scope.extensions.get::<RequestId>().is_none());
    assert_eq!(scope.query_string(), b"");
}

#[test]
fn route_path_is_what_follows_the_root_path() {
    let mut scope = HttpScope::new(Method::GET, Uri::from_static("/api/v1/users")).unwrap();
    assert_eq!(scope.route_path(), "/api/v1/users");
    scope.root_path = "/api".into();
    assert_eq!(scope.route_path(), "/v1/users");
    scope.root_path = "/api/v1/users".into();
    assert_eq!(scope.route_path(), "");
    assert_eq!(scope.path, "/api/v1/users", "path stays whole");
}

#[test]
fn websocket_scope_reads_like_its_request() {
    let request = HttpScope::new(Method::GET, Uri::from_static("/chat?room=1")).unwrap();
    let mut scope = WebSocketScope::new(request, vec!["v2".into(), "v1".into()]);
    assert_eq!(scope.path, "/chat");
    assert_eq!(scope.query_string(), b"room=1");
    scope.root_path = "/ws".into(); // DerefMut reaches the request
    assert_eq!(scope.request.root_path, "/ws");
    assert_eq!(scope.subprotocols, ["v2", "v1"]);
}
