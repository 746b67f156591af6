//! Property tests: random legal event traces go through an identity
//! middleware unchanged in both directions, and a short-circuiting
//! middleware always answers validly.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use proptest::prelude::*;
use rgi::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use rgi::{App, AppResult, BoxApp, Conn, HttpReceive, HttpSend, ResponseStart};
use rgi_conformance::{Request, TestClient, Validator};

/// A legal response: a start, body chunks (the last final), maybe trailers.
#[derive(Debug, Clone)]
struct Script {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    chunks: Vec<Vec<u8>>,
    trailers: Option<Vec<(&'static str, &'static str)>>,
}

fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (n, v) in pairs {
        m.append(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    m
}

impl Script {
    fn events(&self) -> Vec<HttpSend> {
        let mut start = ResponseStart::new(StatusCode::from_u16(self.status).unwrap());
        start.headers = map(&self.headers);
        start.trailers = self.trailers.is_some();
        let mut out = vec![HttpSend::Start(start)];
        let n = self.chunks.len();
        for (i, c) in self.chunks.iter().enumerate() {
            out.push(HttpSend::Body {
                data: Bytes::from(c.clone()),
                more: i + 1 < n,
            });
        }
        if n == 0 {
            out.push(HttpSend::body(""));
        }
        if let Some(t) = &self.trailers {
            out.push(HttpSend::Trailers(map(t)));
        }
        out
    }
}

/// Comparable form of a response event.
fn key(e: &HttpSend) -> String {
    match e {
        HttpSend::Start(s) => format!("start {} {:?} {}", s.status, s.headers, s.trailers),
        HttpSend::Body { data, more } => format!("body {data:?} {more}"),
        HttpSend::Trailers(t) => format!("trailers {t:?}"),
        other => format!("{other:?}"),
    }
}

/// Records the request events, then plays the script.
struct Inner {
    script: Script,
    seen: Arc<Mutex<Vec<HttpReceive>>>,
}

impl App for Inner {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        loop {
            let ev = http.recv().await;
            self.seen.lock().unwrap().push(ev.clone());
            match ev {
                HttpReceive::Body { more: true, .. } => {}
                _ => break,
            }
        }
        for e in self.script.events() {
            http.send(e).await?;
        }
        Ok(())
    }
}

struct Identity(BoxApp);

impl App for Identity {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        self.0.call(conn).await
    }
}

/// Answers every HTTP request itself, without reading the body.
struct Refuse(BoxApp);

impl App for Refuse {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return self.0.call(conn).await;
        };
        Ok(http
            .respond(StatusCode::FORBIDDEN, HeaderMap::new(), "forbidden")
            .await?)
    }
}

fn script() -> impl Strategy<Value = Script> {
    let header = prop::sample::select(vec![
        ("content-type", "text/plain"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("x-thing", "x"),
        ("cache-control", "no-store"),
    ]);
    (
        prop::sample::select(vec![200u16, 201, 404, 500, 503]),
        prop::collection::vec(header, 0..4),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 0..6),
        prop::option::of(Just(vec![("x-checksum", "abc")])),
    )
        .prop_map(|(status, headers, chunks, trailers)| Script {
            status,
            headers,
            chunks,
            trailers,
        })
}

fn request_chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 0..6)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn identity_forwards_random_traces_unchanged() {
    let rt = runtime();
    let config = ProptestConfig::with_cases(48);
    proptest!(config, |(chunks in request_chunks(), script in script())| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let inner = rgi::boxed(Inner { script: script.clone(), seen: seen.clone() });
        let validator = Validator::new(Identity(inner));
        let log = validator.log();
        let request = Request::post("/").chunks(chunks.iter().cloned().map(Bytes::from));
        let sent_request = request.body_events().to_vec();
        let response = rt.block_on(TestClient::new(validator).send(request)).unwrap();
        prop_assert_eq!(&*seen.lock().unwrap(), &sent_request);
        let got: Vec<String> = response.events().map(key).collect();
        let want: Vec<String> = script.events().iter().map(key).collect();
        prop_assert_eq!(got, want);
        prop_assert!(response.exit().is_ok());
        prop_assert!(log.is_clean(), "{:?}", log.violations());
    });
}

#[test]
fn short_circuit_answers_validly_for_random_requests() {
    let rt = runtime();
    let config = ProptestConfig::with_cases(48);
    proptest!(config, |(chunks in request_chunks(), script in script())| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let inner = rgi::boxed(Inner { script, seen: seen.clone() });
        let validator = Validator::new(Refuse(inner));
        let log = validator.log();
        let request = Request::post("/").chunks(chunks.into_iter().map(Bytes::from));
        let response = rt.block_on(TestClient::new(validator).send(request)).unwrap();
        prop_assert!(response.is_complete());
        prop_assert_eq!(response.status(), Some(StatusCode::FORBIDDEN));
        prop_assert_eq!(response.body(), Bytes::from_static(b"forbidden"));
        prop_assert!(response.exit().is_ok());
        prop_assert!(seen.lock().unwrap().is_empty(), "the inner app was called");
        prop_assert!(log.is_clean(), "{:?}", log.violations());
    });
}
