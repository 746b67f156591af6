//! The chat app through its whole middleware stack, in process with the
//! conformance suite's test client: the page, the guarded handshake, the
//! room's broadcast, and what happens to a member that does not read.

use std::sync::Arc;

use chat::{Room, MAX_MESSAGE};
use rgi::http::StatusCode;
use rgi::{Capabilities, CloseFrame, Message, WebSocketSend};
use rgi_conformance::{Handshake, Request, TestClient, WebSocketSession};
use serde_json::{json, Value};

fn client(room: &Arc<Room>) -> TestClient {
    TestClient::from_boxed(chat::stack(room.clone()))
}

/// Logs `name` in; the `cookie` header value that carries its session.
async fn login(client: &TestClient, name: &str) -> String {
    let response = client
        .send(Request::post("/login").body(name.to_owned()))
        .await
        .unwrap();
    assert_eq!(response.status(), Some(StatusCode::OK), "{name}");
    let set = response.header("set-cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_owned()
}

async fn join(client: &TestClient, cookie: &str) -> WebSocketSession {
    let session = client
        .connect(Request::get("/ws").header("cookie", cookie))
        .await
        .unwrap();
    let Handshake::Accepted { headers, .. } = session.handshake_outcome() else {
        panic!("not accepted: {:?}", session.handshake_outcome());
    };
    // The request id middleware marks the 101 too.
    assert!(headers.contains_key("x-request-id"), "{headers:?}");
    session
}

async fn event(session: &mut WebSocketSession) -> Value {
    match session.recv_message().await.unwrap() {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("binary from the room: {other:?}"),
    }
}

async fn closed_with(session: WebSocketSession) -> CloseFrame {
    let transcript = session.finish().await.unwrap();
    assert!(transcript.exit.is_ok(), "{}", transcript.exit);
    let frame = transcript.trace.from_app().find_map(|event| match event {
        WebSocketSend::Close(frame) => Some(frame.clone()),
        _ => None,
    });
    frame.expect("a close frame")
}

#[tokio::test]
async fn the_page_is_self_contained() {
    let room = Arc::new(Room::new(10, 8));
    let response = client(&room).get("/").await.unwrap();
    assert_eq!(response.status(), Some(StatusCode::OK));
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    let page = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(page.contains("new WebSocket("));
    for external in ["http://", "https://", "src=", "href=", "@import"] {
        assert!(!page.contains(external), "the page loads {external}…");
    }
}

#[tokio::test]
async fn the_handshake_is_guarded_by_the_session() {
    let room = Arc::new(Room::new(10, 8));
    let client = client(&room);
    // No session: a bare 403 where the server has no denial responses...
    let refused = client.connect(Request::get("/ws")).await.unwrap();
    assert_eq!(
        refused.handshake_outcome().refusal_status(),
        Some(StatusCode::FORBIDDEN)
    );
    refused.finish().await.unwrap();
    // ...and the JSON 401 where it has.
    let request = Request::get("/ws").capabilities(Capabilities::ALL);
    let denied = client.connect(request).await.unwrap();
    let Handshake::Denied { status, body, .. } = denied.handshake_outcome().clone() else {
        panic!("not denied: {:?}", denied.handshake_outcome());
    };
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, r#"{"error":"log in first"}"#);
    denied.finish().await.unwrap();
    // A forged cookie is no session either.
    let forged =
        Request::get("/ws").header("cookie", "session_id=0123456789abcdef0123456789abcdef");
    let refused = client.connect(forged).await.unwrap();
    assert!(!refused.handshake_outcome().is_accepted());
    refused.finish().await.unwrap();
    assert!(room.is_empty());

    // Names are checked.
    for bad in ["", "   ", &"x".repeat(25), "a\u{7}b"] {
        let response = client
            .send(Request::post("/login").body(bad.to_owned()))
            .await
            .unwrap();
        assert_eq!(response.status(), Some(StatusCode::BAD_REQUEST), "{bad:?}");
    }
    let cookie = login(&client, "  alice ").await;
    let me = client
        .send(Request::get("/me").header("cookie", &cookie))
        .await
        .unwrap();
    assert_eq!(me.body(), r#"{"name":"alice"}"#);
}

#[tokio::test]
async fn a_message_reaches_every_member() {
    let room = Arc::new(Room::new(10, 8));
    let client = client(&room);
    let (alice, bob) = (login(&client, "alice").await, login(&client, "bob").await);
    let mut a = join(&client, &alice).await;
    assert_eq!(
        event(&mut a).await,
        json!({"type": "welcome", "you": "alice", "members": ["alice"]})
    );
    let mut b = join(&client, &bob).await;
    assert_eq!(
        event(&mut b).await,
        json!({"type": "welcome", "you": "bob", "members": ["alice", "bob"]})
    );
    assert_eq!(event(&mut a).await, json!({"type": "join", "name": "bob"}));

    a.send_text("hello <b>bob</b> \u{1f600}").await.unwrap();
    let said = json!({"type": "message", "from": "alice", "text": "hello <b>bob</b> \u{1f600}"});
    assert_eq!(event(&mut b).await, said);
    assert_eq!(event(&mut a).await, said);

    b.close(CloseFrame::new(1001));
    b.finish().await.unwrap();
    assert_eq!(event(&mut a).await, json!({"type": "leave", "name": "bob"}));
    assert_eq!(room.names(), ["alice"]);
}

#[tokio::test]
async fn binary_and_oversized_messages_close_the_socket() {
    let room = Arc::new(Room::new(10, 8));
    let client = client(&room);
    let cookie = login(&client, "carol").await;

    let mut s = join(&client, &cookie).await;
    event(&mut s).await;
    s.send_binary(&b"\x00"[..]).await.unwrap();
    assert_eq!(closed_with(s).await.code, 1003);

    let mut s = join(&client, &cookie).await;
    event(&mut s).await;
    s.send_text(&"x".repeat(MAX_MESSAGE + 1)).await.unwrap();
    assert_eq!(closed_with(s).await.code, 1009);
    assert!(room.is_empty());
}

#[tokio::test]
async fn a_member_that_does_not_read_is_dropped_and_the_others_go_on() {
    let room = Arc::new(Room::new(10, 4));
    let client = client(&room);
    let (fast, slow) = (login(&client, "fast").await, login(&client, "slow").await);
    let mut f = join(&client, &fast).await;
    event(&mut f).await;
    // `slow` never reads: its app blocks on its first send (the test
    // client's queue holds one event), then its room queue (4) fills.
    let s = join(&client, &slow).await;
    assert_eq!(event(&mut f).await["type"], "join");
    let mut dropped = false;
    for n in 0..20 {
        f.send_text(&format!("m{n}")).await.unwrap();
        assert_eq!(event(&mut f).await["text"], format!("m{n}"));
        if room.len() == 1 && !dropped {
            dropped = true;
            let left = event(&mut f).await;
            assert_eq!(
                left,
                json!({"type": "leave", "name": "slow", "why": "too slow"})
            );
        }
    }
    assert_eq!(room.names(), ["fast"], "the slow member is still in");
    // The slow one gets what had been queued, then a 1008.
    let frame = closed_with(s).await;
    assert_eq!(frame.code, 1008);
    assert!(frame.reason.starts_with("too slow"), "{frame:?}");
}
