//! forwards/several-requests: one middleware instance, several different
//! requests one after the other, each compared in full at both ends. The
//! requests differ in method, path shape, headers and body; the responses
//! in status (2xx, 3xx, 4xx, 5xx), headers, body sizes and framing. A
//! middleware that keeps something of one call for the next (a header, a
//! path, a status, a body length) shows it on a later request (rule
//! `CORE-009` on the middleware's side: the scope it hands on carries
//! nothing of an earlier call).

use bytes::Bytes;
use http::Method;
use rgi::HttpReceive;

use crate::declare::Declare;
use crate::report::Row;
use crate::suite::ctx::{scope_differences, Ctx, SCOPE_RULES};
use crate::suite::inner::{large_chunk, standard_response, Ev, HttpPlan, LifePlan, ScopeSnapshot};
use crate::suite::scenarios::forwards::response_difference;
use crate::suite::Config;
use crate::Request;

const NAME: &str = "forwards/several-requests";

fn start(status: u16, headers: Vec<(&'static str, &'static str)>) -> Ev {
    Ev::Start {
        status,
        headers,
        trailers: false,
    }
}

/// The requests and the inner app's answer to each, in order.
fn script(ctx: &Ctx<'_>) -> Vec<(Request, Vec<Ev>)> {
    vec![
        (ctx.rich_request(Method::GET), standard_response()),
        (
            ctx.prepare(
                Request::post("/conformance/upload/")
                    .header("content-type", "Application/Octet-Stream")
                    .chunks([
                        large_chunk(70_001, 3),
                        Bytes::new(),
                        Bytes::from_static(b"x"),
                    ]),
            ),
            vec![
                start(
                    404,
                    vec![("content-type", "text/plain"), ("content-length", "9")],
                ),
                Ev::Body(Bytes::from_static(b"not "), true),
                Ev::Body(Bytes::from_static(b"found"), false),
            ],
        ),
        (
            ctx.prepare(Request::get("//conformance//double//slash?x=%2F&y")),
            vec![
                start(
                    500,
                    vec![
                        ("content-type", "Application/JSON"),
                        ("content-length", "27"),
                        ("x-error-id", "E-42 \u{2603}"),
                        // The one connection field an app may set (HTTP-036).
                        ("connection", "close"),
                    ],
                ),
                Ev::Body(
                    Bytes::from_static(b"{\"error\":\"inner app fail\"}\n"),
                    false,
                ),
            ],
        ),
        (
            ctx.prepare(Request::head("/conformance/Item%2F7/..")),
            vec![
                start(200, vec![("content-length", "1234"), ("x-head", "Yes")]),
                Ev::Body(Bytes::new(), false),
            ],
        ),
        (
            ctx.prepare(Request::new(Method::PUT, "/").header("if-none-match", "\"v1\"")),
            vec![
                start(304, vec![("etag", "\"v1\""), ("content-length", "77")]),
                Ev::Body(Bytes::new(), false),
            ],
        ),
        (
            ctx.prepare(
                Request::new(Method::PATCH, "/conformance/./dot/?")
                    .header("x-dup", "again")
                    .body("patch"),
            ),
            vec![
                start(413, vec![("retry-after", "10")]),
                Ev::Body(Bytes::new(), true),
                Ev::Body(large_chunk(65_537, 9), true),
                Ev::Body(Bytes::from_static(b"end"), false),
            ],
        ),
        (
            ctx.prepare(Request::new(Method::OPTIONS, "/conformance/x")),
            vec![
                start(204, vec![("allow", "GET, HEAD")]),
                Ev::Body(Bytes::new(), false),
            ],
        ),
    ]
}

/// Several different requests through one instance, compared one by one.
pub(crate) async fn several_requests(config: &Config) -> Vec<Row> {
    let mut ctx = Ctx::new(config);
    let script = script(&ctx);
    let responses: Vec<Vec<Ev>> = script.iter().map(|(_, r)| r.clone()).collect();
    let h = ctx.harness(HttpPlan::Script(responses), LifePlan::Normal);
    let declared = ctx.declared().clone();
    let mut first_clean = None;
    let mut rows_for: Vec<(&'static str, String)> = Vec::new();
    let mut calls_seen = 0;
    for (k, (request, response)) in script.into_iter().enumerate() {
        let what = format!(
            "request {k} ({} {})",
            request.scope().method,
            request.scope().uri
        );
        let sent = ScopeSnapshot::of(request.scope());
        let sent_state = request.scope().state.clone();
        let sent_events: Vec<HttpReceive> = request.body_events().to_vec();
        let received_before = h.record.get().http_received.len();
        let calls_before = h.record.calls(rgi::ScopeKind::Http);
        let result = h.client.send(request).await;
        let calls = h.record.calls(rgi::ScopeKind::Http) - calls_before;
        if calls > 1 {
            rows_for.push((
                "CORE-001",
                format!("{what}: the middleware called its inner app {calls} times for one request; expected once per call"),
            ));
        }
        let record = h.record.get();
        let got = record.scopes.get(calls_seen).cloned();
        let received = record.http_received[received_before..].to_vec();
        drop(record);
        let Some(got) = got else {
            rows_for.push((
                "CORE-004",
                format!("{what}: the inner app was not called for it"),
            ));
            continue;
        };
        calls_seen += 1;
        let differences = scope_differences(&sent, &sent_state, &got, &declared);
        if k == 0 {
            first_clean = Some(differences.is_empty());
        }
        for (rule, why) in &differences {
            rows_for.push((rule, format!("{what}: {why}")));
            if k > 0 && first_clean == Some(true) {
                rows_for.push((
                    "CORE-009",
                    format!("{what}: {why}, while request 0 through the same instance arrived unchanged (the middleware keeps something of an earlier call)"),
                ));
            }
        }
        if !declared.has(&Declare::ChangesRequestBody) && received != sent_events {
            rows_for.push((
                "CORE-005",
                format!(
                    "{what}: the client sent the body as {} event(s) of {} byte(s), the inner app received {} event(s) of {} byte(s)",
                    sent_events.len(),
                    body_len(&sent_events),
                    received.len(),
                    body_len(&received)
                ),
            ));
        }
        match result {
            Ok(r) => {
                if let Some(why) = response_difference(&response, &r, config) {
                    let asks_close = matches!(&response[0], Ev::Start { headers, .. } if headers.contains(&("connection", "close")));
                    if asks_close && why.contains("\"connection\"") {
                        rows_for.push(("HTTP-036", format!("{what}: {why}")));
                    }
                    rows_for.push(("CORE-005", format!("{what}: {why}")));
                }
                if !r.exit().is_ok() {
                    rows_for.push(("CORE-031", format!("{what}: the middleware {}", r.exit())));
                }
            }
            Err(e) => rows_for.push((
                "CORE-031",
                format!("{what}: the exchange did not finish: {e}"),
            )),
        }
    }
    for rule in [
        "CORE-001", "CORE-004", "CORE-005", "CORE-009", "CORE-031", "HTTP-036",
    ]
    .into_iter()
    .chain(SCOPE_RULES)
    .chain(["EXT-040"])
    {
        let why = rows_for
            .iter()
            .find(|(r, _)| *r == rule)
            .map(|(_, w)| w.clone());
        let why = match rule {
            // CORE-004 fails with the first difference of any part.
            "CORE-004" => why.or_else(|| {
                rows_for
                    .iter()
                    .find(|(r, _)| SCOPE_RULES.contains(r) || *r == "EXT-040")
                    .map(|(_, w)| w.clone())
            }),
            _ => why,
        };
        ctx.expect(NAME, rule, why);
    }
    ctx.validated(
        NAME,
        &h,
        &[
            "HTTP-004", "HTTP-010", "HTTP-016", "HTTP-020", "HTTP-022", "HTTP-024", "HTTP-025",
        ],
    );
    ctx.rows
}

fn body_len(events: &[HttpReceive]) -> usize {
    events
        .iter()
        .map(|e| match e {
            HttpReceive::Body { data, .. } => data.len(),
            _ => 0,
        })
        .sum()
}
