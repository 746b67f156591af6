//! The seeds' WSGI middleware as blocking handlers, driven in process
//! through the adapter with the conformance validator in front of it.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use rgi_blocking::{Blocking, Handler};
use rgi_blocking_examples::wsgi::{hello, AllowAddresses, Capitalize, LogScope, Reverse};
use rgi_conformance::{Request, TestClient, Validator, ViolationLog};

fn client(handler: impl Handler) -> (TestClient, ViolationLog) {
    let validator = Validator::new(Blocking::new(handler));
    let log = validator.log();
    (
        TestClient::new(validator).timeout(Duration::from_secs(10)),
        log,
    )
}

fn from(client: &str) -> Request {
    let server: SocketAddr = "127.0.0.1:8000".parse().unwrap();
    Request::get("/").addresses(client.parse().unwrap(), server)
}

#[tokio::test]
async fn the_onion_lets_allowed_addresses_through_and_forbids_the_rest() {
    let allowed = ["127.0.0.1".parse().unwrap()];
    let (client, log) = client(AllowAddresses::new(hello, allowed));

    let ok = client.send(from("127.0.0.1:5000")).await.unwrap();
    assert_eq!(ok.status(), Some(StatusCode::OK));
    assert_eq!(ok.body(), "Hello World!\n");

    // The same client through a dual-stack listener.
    let mapped = client.send(from("[::ffff:127.0.0.1]:5000")).await.unwrap();
    assert_eq!(mapped.status(), Some(StatusCode::OK));

    let other = client.send(from("10.0.0.9:5000")).await.unwrap();
    assert_eq!(other.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(other.body(), "You are forbidden to view this resource");
    assert_eq!(other.header("content-type"), Some("text/html"));

    let unknown = client.get("/").await.unwrap();
    assert_eq!(
        unknown.status(),
        Some(StatusCode::FORBIDDEN),
        "no address, no entry"
    );
    log.assert_clean();
}

#[tokio::test]
async fn reverse_once_reverses_and_twice_gives_the_original() {
    let (once, log_once) = client(Reverse(hello));
    let reversed = once.get("/").await.unwrap();
    assert_eq!(reversed.body(), "\n!dlroW olleH");
    assert_eq!(reversed.header("content-type"), Some("text/plain"));

    let (twice, log_twice) = client(Reverse(Reverse(hello)));
    assert_eq!(twice.get("/").await.unwrap().body(), "Hello World!\n");

    let head = twice.send(Request::head("/")).await.unwrap();
    assert_eq!(head.status(), Some(StatusCode::OK));
    assert!(head.body().is_empty());
    assert_eq!(head.header("content-length"), Some("13"));
    log_once.assert_clean();
    log_twice.assert_clean();
}

#[tokio::test]
async fn capitalize_and_the_scope_logger_compose() {
    let (client, log) = client(LogScope(Capitalize(hello)));
    let response = client.get("/").await.unwrap();
    assert_eq!(response.status(), Some(StatusCode::OK));
    assert_eq!(response.body(), "HELLO WORLD!\n");
    log.assert_clean();
}

#[tokio::test]
async fn a_post_processor_over_a_handler_that_never_starts_is_a_500() {
    let nothing = |_: rgi_blocking::Request,
                   _: &mut rgi_blocking::Response|
     -> std::io::Result<()> { Ok(()) };
    let (client, log) = client(Reverse(nothing));
    let response = client.get("/").await.unwrap();
    // The adapter's error; a server answers it with 500 (CORE-042).
    assert!(response.status().is_none());
    assert!(matches!(response.exit(), rgi_conformance::AppExit::Err(_)));
    log.assert_clean();
}
