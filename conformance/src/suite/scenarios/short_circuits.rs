//! short-circuits: requests the middleware answers itself get a complete,
//! valid response; the inner app is not called (or is silenced); nothing
//! leaks after the answer.

use rgi::{ScopeKind, WebSocketReceive};

use crate::declare::Declare;
use crate::report::Row;
use crate::suite::ctx::Ctx;
use crate::suite::inner::{HttpPlan, LifePlan};
use crate::suite::Config;
use crate::Handshake;

const HTTP: &str = "short-circuits/http";
const WS: &str = "short-circuits/websocket";

/// Every declared short-circuiting request.
pub(crate) async fn http(config: &Config) -> Vec<Row> {
    let mut ctx = Ctx::new(config);
    if config.short_circuits.is_empty() {
        ctx.skip(
            HTTP,
            "CORE-007",
            "no request declared with .short_circuits(..)",
        );
        return ctx.rows;
    }
    let discards = ctx.declared().has(&Declare::CallsInnerThenDiscards);
    for (k, example) in config.short_circuits.iter().enumerate() {
        let h = ctx.harness(HttpPlan::Marked, LifePlan::Normal);
        let request = example();
        let what = format!(
            "example {} ({} {}{})",
            k + 1,
            request.scope().method,
            request.scope().uri,
            request
                .scope()
                .headers
                .get(http::header::AUTHORIZATION)
                .map_or(String::new(), |v| format!(", authorization: {v:?}"))
        );
        let result = h.client.send(request).await;
        let inner_calls = h.record.calls(ScopeKind::Http);
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                ctx.fail(
                    HTTP,
                    "CORE-031",
                    format!("for {what}, the middleware did not answer and return: {e}"),
                );
                continue;
            }
        };
        let leaked = response.header("x-inner-marker").is_some()
            || response.body().windows(12).any(|w| w == b"inner-output");
        let why = if leaked {
            Some(format!(
                "for {what}, which the middleware declared it answers itself, the inner app's response reached the client"
            ))
        } else if inner_calls > 0 && !discards {
            Some(format!(
                "for {what}, which the middleware declared it answers itself, the inner app was called {inner_calls} time(s); expected it not called (or declare CallsInnerThenDiscards)"
            ))
        } else {
            None
        };
        ctx.expect(HTTP, "CORE-007", why);
        let answered = response.is_complete() && response.exit().is_ok();
        ctx.expect(
            HTTP,
            "CORE-031",
            (!answered).then(|| {
                format!(
                    "for {what}, the middleware's answer was not a complete response it returned Ok from (the middleware {}; trace: {})",
                    response.exit(),
                    response.trace().summary()
                )
            }),
        );
        ctx.validated(
            HTTP,
            &h,
            &[
                "HTTP-020", "HTTP-021", "HTTP-022", "HTTP-023", "HTTP-024", "HTTP-025",
            ],
        );
    }
    ctx.rows
}

/// Every declared refused WebSocket handshake.
pub(crate) async fn websocket(config: &Config) -> Vec<Row> {
    let mut ctx = Ctx::new(config);
    if config.refuses_websocket.is_empty() {
        ctx.skip(
            WS,
            "WS-004",
            "no handshake declared with .refuses_websocket(..)",
        );
        return ctx.rows;
    }
    for example in &config.refuses_websocket {
        let h = ctx.harness(HttpPlan::Marked, LifePlan::Normal);
        let request = example();
        let what = format!("the WebSocket handshake for {}", request.scope().uri);
        match h.client.connect(request).await {
            Ok(session) => {
                let why = match session.handshake_outcome() {
                    Handshake::Closed(_) => None,
                    Handshake::Denied { complete: true, .. } => None,
                    Handshake::Denied { .. } => Some(format!(
                        "{what} was denied with an unfinished denial response"
                    )),
                    other => Some(format!(
                        "{what}, declared refused by the middleware, ended as {other:?}; expected Close before Accept (a 403) or a complete denial response"
                    )),
                };
                ctx.expect(WS, "WS-004", why);
                let _ = session.finish().await;
            }
            Err(e) => ctx.fail(WS, "WS-004", format!("{what} failed: {e}")),
        }
        let inner_saw = h
            .record
            .get()
            .ws_received
            .contains(&WebSocketReceive::Connect);
        ctx.expect(
            WS,
            "CORE-007",
            (inner_saw && !ctx.declared().has(&Declare::CallsInnerThenDiscards)).then(|| {
                format!("for {what}, which the middleware refuses itself, the inner app was called")
            }),
        );
        ctx.validated(WS, &h, &["WS-002", "WS-005", "WS-009", "WS-012"]);
    }
    ctx.rows
}
