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
                    .header("x-long", &"Long-Value ".repeat(800))
                    .with_scope(|scope| scope.version = http::Version::HTTP_2)
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
            ctx.prepare(
                Request::get("//conformance//double//slash?x=%2F&y").with_scope(|scope| {
                    scope.version = http::Version::HTTP_10;
                    scope.scheme = http::uri::Scheme::HTTPS;
                }),
            ),
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
                Request::new(Method::PATCH, "/conformance/./dot/a+b;v=1/?")
                    .header("x-dup", "again")
                    .body("patch"),
            ),
            vec![
                start(413, vec![("retry-after", "10")]),
                Ev::Body(Bytes::new(), true),
                Ev::Body(large_chunk(1_048_583, 9), true),
                Ev::Body(Bytes::from_static(b"end"), false),
            ],
        ),
        (
            // An extension method, in mixed case: methods are case-sensitive.
            ctx.prepare(Request::new(
                Method::from_bytes(b"Purge").expect("a valid method token"),
                "/conformance/cache/%7Euser/",
            )),
            vec![
                start(202, vec![("content-length", "0")]),
                Ev::Body(Bytes::new(), false),
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

/// Two requests through one instance at the same time: the first stops
/// in the middle of its response (its inner app waits) while the second
/// runs from start to end; then the first finishes. Both must come back
/// whole and as the inner app answered each, with each scope as sent: the
/// same middleware value serves many calls concurrently (rule
/// `CORE-001`). A middleware that holds a lock across the inner call, or
/// keeps per-call values in a field of its own, fails here.
pub(crate) async fn concurrent_requests(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/concurrent-requests";
    let mut ctx = Ctx::new(config);
    let (gate, rx) = tokio::sync::mpsc::unbounded_channel();
    let h = ctx.harness(
        HttpPlan::FirstWaits(tokio::sync::Mutex::new(rx)),
        LifePlan::Normal,
    );
    let first = ctx.rich_request(Method::GET).events(Vec::new());
    let second = ctx.prepare(
        Request::post("/conformance/second/")
            .header("x-second", "Two")
            .body("second body"),
    );
    let scopes = [
        (
            ScopeSnapshot::of(first.scope()),
            first.scope().state.clone(),
        ),
        (
            ScopeSnapshot::of(second.scope()),
            second.scope().state.clone(),
        ),
    ];
    let mut exchange = h.client.open(first);
    // The first call is in the middle of its response: Start and a chunk
    // reached the client, the inner app waits at the gate.
    let _ = exchange.send_chunk("", false).await;
    let mut started = true;
    if !ctx.declared().has(&Declare::ChangesResponseBody) {
        for _ in 0..2 {
            started &= matches!(exchange.next_event().await, Ok(Some(_)));
        }
    }
    // (A body-changing middleware may hold the head back, or not: take
    // what comes until the inner app itself is at its gate.)
    let deadline = tokio::time::Instant::now() + ctx.timeout();
    while !h.record.get().gate_reached && tokio::time::Instant::now() < deadline {
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(5), exchange.next_event()).await;
    }
    started &= h.record.get().gate_reached;
    let calls = h.record.calls(rgi::ScopeKind::Http);
    let second = h.client.send(second).await;
    let answered_itself = h.record.calls(rgi::ScopeKind::Http) == calls
        && second
            .as_ref()
            .is_ok_and(|r| r.is_complete() && r.exit().is_ok());
    let _ = gate.send(());
    let first = exchange.finish().await;
    if answered_itself {
        // Not called for the second request, yet a complete answer: the
        // middleware limits concurrency and said so (a 503, say).
        ctx.skip(
            NAME,
            "CORE-001",
            "the middleware answered the second request itself while the first was in flight (a concurrency limit)",
        );
        drop(first);
        drop(h.outer.take());
        drop(h.inner.take());
        return ctx.rows;
    }
    if !started {
        // Held back, so the second request never ran beside a first one
        // in the middle of its response: a buffering fault, not one of
        // concurrency (forwards/streaming-response names it too).
        ctx.fail(
            NAME,
            "CORE-006",
            "the first request's Start and first chunk never reached the client while its inner app waited (the middleware holds the response back); expected them passed on as sent",
        );
        drop(first);
        drop(h.outer.take());
        drop(h.inner.take());
        return ctx.rows;
    }
    let mut why: Option<String> = None;
    for (what, result) in [
        ("the first request", first),
        (
            "the second request (sent while the first was in flight)",
            second,
        ),
    ] {
        if why.is_some() {
            break;
        }
        why = match result {
            Err(e) => Some(format!("{what} did not finish: {e} (the middleware serves one call at a time: a lock held across the inner call?)")),
            Ok(r) => response_difference(&standard_response(), &r, config)
                .map(|d| format!("{what}: {d}")),
        };
    }
    ctx.expect(NAME, "CORE-001", why);
    let seen = h.record.get().scopes.clone();
    let mut differences = Vec::new();
    for (k, ((sent, state), got)) in scopes.iter().zip(&seen).enumerate() {
        for (rule, why) in scope_differences(sent, state, got, ctx.declared()) {
            differences.push((rule, format!("request {k} of two at once: {why}")));
        }
    }
    ctx.scope_rows(NAME, "with two requests in flight", &differences, &[]);
    ctx.validated(NAME, &h, &["HTTP-020", "HTTP-022", "HTTP-024"]);
    ctx.rows
}
