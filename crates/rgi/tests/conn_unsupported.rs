//! `Conn::unsupported` and the error helpers servers use to classify an
//! app's outcome (rules `LIFE-007`, `WS-010`, `CORE-044`).

mod common;

use common::{run, Recorder, Script};
use rgi::http::{Method, Uri};
use rgi::{
    App, AppResult, BoxError, Conn, Error, HttpConn, HttpReceive, HttpScope, HttpSend,
    LifespanConn, LifespanReceive, LifespanScope, LifespanSend, ScopeKind, WebSocketConn,
    WebSocketReceive, WebSocketScope, WebSocketSend,
};

/// Supports nothing; touches no handle.
struct Nothing;

impl App for Nothing {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        conn.unsupported()
    }
}

fn request() -> HttpScope {
    HttpScope::new(Method::GET, Uri::from_static("/")).unwrap()
}

fn check(err: BoxError, kind: ScopeKind) {
    assert!(Error::is_unsupported(&*err));
    assert!(!Error::is_disconnect(&*err));
    match err.downcast_ref::<Error>() {
        Some(Error::Unsupported(k)) => assert_eq!(*k, kind),
        other => panic!("expected Unsupported({kind}), got {other:?}"),
    }
}

#[test]
fn unsupported_names_the_kind_and_touches_no_handle() {
    let mut rx = Script::<HttpReceive>::new([]);
    let mut tx = Recorder::<HttpSend>::new();
    let mut scope = request();
    let conn: Conn<'_> = HttpConn::new(&mut scope, &mut rx, &mut tx).into();
    assert_eq!(conn.kind(), ScopeKind::Http);
    check(run(Nothing.call(conn)).unwrap_err(), ScopeKind::Http);
    assert_eq!((rx.polls, tx.start_sends), (0, 0));

    let mut rx = Script::<WebSocketReceive>::new([]);
    let mut tx = Recorder::<WebSocketSend>::new();
    let mut scope = WebSocketScope::new(request(), Vec::new());
    let conn: Conn<'_> = WebSocketConn::new(&mut scope, &mut rx, &mut tx).into();
    assert_eq!(conn.kind(), ScopeKind::WebSocket);
    check(run(Nothing.call(conn)).unwrap_err(), ScopeKind::WebSocket);
    assert_eq!((rx.polls, tx.start_sends), (0, 0));

    let mut rx = Script::<LifespanReceive>::new([]);
    let mut tx = Recorder::<LifespanSend>::new();
    let mut scope = LifespanScope::default();
    let conn: Conn<'_> = LifespanConn::new(&mut scope, &mut rx, &mut tx).into();
    assert_eq!(conn.kind(), ScopeKind::Lifespan);
    check(run(Nothing.call(conn)).unwrap_err(), ScopeKind::Lifespan);
    assert_eq!((rx.polls, tx.start_sends), (0, 0));
}

#[test]
fn classifiers_tell_the_protocol_outcomes_apart() {
    let disconnected: BoxError = Error::Disconnected.into();
    assert!(Error::is_disconnect(&*disconnected));
    assert!(!Error::is_unsupported(&*disconnected));

    let protocol = Error::protocol("HTTP-022", "body after the final body");
    assert_eq!(protocol.rule(), Some("HTTP-022"));
    assert!(protocol.to_string().contains("HTTP-022"));
    let protocol: BoxError = protocol.into();
    assert!(!Error::is_disconnect(&*protocol));
    assert!(!Error::is_unsupported(&*protocol));

    assert_eq!(Error::Disconnected.rule(), None);
    let foreign: BoxError = "some app failure".into();
    assert!(!Error::is_disconnect(&*foreign));
    assert!(!Error::is_unsupported(&*foreign));
}

#[test]
fn scope_kinds_display_as_asgi_names() {
    assert_eq!(ScopeKind::Http.to_string(), "http");
    assert_eq!(ScopeKind::WebSocket.to_string(), "websocket");
    assert_eq!(ScopeKind::Lifespan.to_string(), "lifespan");
}
