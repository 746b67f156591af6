//! The smallest rgi server, in process: one empty request body, a sender
//! that counts bytes and is always ready. Shared by `benches/crossing.rs`
//! and `tests/allocations.rs`, so both measure the same call.
#![allow(dead_code, unreachable_pub)]

use std::task::{Context, Poll};

use bytes::Bytes;
use rgi::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use rgi::{
    App, AppResult, Conn, Error, HttpConn, HttpReceive, HttpScope, HttpSend, Receiver, Sender,
};

pub struct OneEmptyBody(bool);

impl Receiver<HttpReceive> for OneEmptyBody {
    fn poll_receive(&mut self, _: &mut Context<'_>) -> Poll<HttpReceive> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Pending
        } else {
            Poll::Ready(HttpReceive::Body {
                data: Bytes::new(),
                more: false,
            })
        }
    }
}

pub struct Sink(pub usize);

impl Sender<HttpSend> for Sink {
    fn start_send(&mut self, event: HttpSend) -> Result<(), Error> {
        if let HttpSend::Body { data, .. } = &event {
            self.0 += data.len();
        }
        Ok(())
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}

/// `GET /` with a host.
pub fn scope() -> HttpScope {
    let mut scope = HttpScope::new(Method::GET, Uri::from_static("/")).unwrap();
    scope
        .headers
        .insert(header::HOST, HeaderValue::from_static("bench"));
    scope
}

/// One call of `app` on a copy of `template`; the body bytes it sent.
pub async fn call_rgi(app: &impl App, template: &HttpScope) -> usize {
    let mut scope = template.clone();
    let (mut receiver, mut sender) = (OneEmptyBody(false), Sink(0));
    app.call(HttpConn::new(&mut scope, &mut receiver, &mut sender).into())
        .await
        .unwrap();
    sender.0
}

/// `hello`, with `respond`.
pub struct Hello;

impl App for Hello {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        Ok(http
            .respond(StatusCode::OK, HeaderMap::new(), "hello")
            .await?)
    }
}
