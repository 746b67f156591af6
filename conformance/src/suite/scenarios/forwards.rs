//! forwards: what the middleware does not declare it changes reaches the
//! other side unchanged, in order, and as it happens.

use bytes::Bytes;
use http::Method;
use rgi::{CloseFrame, HttpReceive, HttpSend, Message, ScopeKind, WebSocketReceive};
use tokio::sync::mpsc;

use crate::declare::Declare;
use crate::report::Row;
use crate::suite::ctx::{header_difference, scope_differences, Ctx, SCOPE_RULES};
use crate::suite::inner::{
    accept_headers, client_messages, extension_response, inner_messages, standard_response, Ev,
    HttpPlan, InnerResponseExtension, LifePlan, ScopeSnapshot, WsPlan, LARGE_CHUNK,
};
use crate::suite::Config;
use crate::{ClientError, Handshake, Request, Response};

/// The request body of the main exchange: many chunks, empty ones, a large
/// one (past the 64 KiB a fixed buffer tends to hold).
fn request_chunks() -> Vec<Bytes> {
    let sizes = [5, 0, 1, LARGE_CHUNK, 0, 3, 7, 0, 100, 1, 1, 4];
    sizes
        .iter()
        .enumerate()
        .map(|(i, n)| Bytes::from(vec![b'a' + (i as u8 % 26); *n]))
        .collect()
}

/// The first difference between the response the inner app sent and the
/// one the client got, within what the middleware did not declare.
pub(crate) fn response_difference(sent: &[Ev], got: &Response, config: &Config) -> Option<String> {
    let declared = &config.declared;
    let changes_body = declared.has(&Declare::ChangesResponseBody);
    let mut got_events = got.events();
    for (i, ev) in sent.iter().enumerate() {
        match ev {
            Ev::EarlyHints(pairs) => {
                let Some(HttpSend::EarlyHints(h)) = got_events.next() else {
                    return Some(format!(
                        "response event {i}: the inner app sent {}, the client did not get it next (the middleware drops or reorders EarlyHints); expected every EarlyHints passed on, before Start",
                        ev.summary()
                    ));
                };
                let want = crate::suite::inner::header_map(pairs);
                if let Some(diff) =
                    header_difference(&want, h, |n| declared.response_header(n))
                {
                    return Some(format!("in EarlyHints (response event {i}), {diff}"));
                }
            }
            Ev::Start { status, headers, .. } => {
                let start = match got_events.next() {
                    Some(HttpSend::Start(start)) => start,
                    other => {
                        return Some(format!(
                            "response event {i}: the inner app sent {}, the client got {}",
                            ev.summary(),
                            other.map_or("nothing more".to_owned(), crate::client::Summary::summary)
                        ))
                    }
                };
                if !declared.has(&Declare::ChangesStatus) && start.status.as_u16() != *status {
                    return Some(format!(
                        "the inner app sent status {status}, the client got {}",
                        start.status.as_u16()
                    ));
                }
                let want = crate::suite::inner::header_map(headers);
                if let Some(diff) = header_difference(&want, &start.headers, |n| {
                    declared.response_header(n)
                }) {
                    return Some(format!("in the response, {diff}"));
                }
            }
            Ev::Body(..) if changes_body => {}
            Ev::Body(data, more) => match got_events.next() {
                Some(HttpSend::Body { data: d, more: m }) if d == data && m == more => {}
                Some(other) => {
                    return Some(format!(
                        "response event {i}: the inner app sent Body({} bytes, more: {more}), the client got {}",
                        data.len(),
                        crate::client::Summary::summary(other)
                    ))
                }
                None => {
                    return Some(format!(
                        "response event {i}: the inner app sent Body({} bytes, more: {more}), the client got nothing more",
                        data.len()
                    ))
                }
            },
            Ev::File(_) if changes_body => {}
            Ev::File(file) => match got_events.next() {
                Some(HttpSend::File(f)) if f == file => {}
                other => {
                    return Some(format!(
                        "response event {i}: the inner app sent {}, the client got {}; expected the File passed on as it is (same path, range and more)",
                        ev.summary(),
                        other.map_or("nothing more".to_owned(), crate::client::Summary::summary)
                    ))
                }
            },
            Ev::Trailers(_) if changes_body => {}
            Ev::Trailers(pairs) => {
                let Some(HttpSend::Trailers(t)) = got_events.next() else {
                    return Some("the inner app's Trailers did not reach the client".to_owned());
                };
                let want = crate::suite::inner::header_map(pairs);
                if let Some(diff) = header_difference(&want, t, |_| false) {
                    return Some(format!("in the trailers, {diff}"));
                }
            }
        }
    }
    if changes_body {
        // The bytes may differ; the response must still end.
        if !got.is_complete() {
            return Some("the response never completed".to_owned());
        }
        return None;
    }
    got_events.next().map(|extra| {
        format!(
            "the client got {} after everything the inner app sent",
            crate::client::Summary::summary(extra)
        )
    })
}

/// One full exchange: a rich request with a chunked body, the standard
/// response. Rows for the scope, the request events and the response events.
pub(crate) async fn exchange(config: &Config) -> Vec<Row> {
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(HttpPlan::Respond(standard_response()), LifePlan::Normal);
    let request = ctx.rich_request(Method::POST).chunks(request_chunks());
    let sent_scope = ScopeSnapshot::of(request.scope());
    let sent_state = request.scope().state.clone();
    let sent_events = request.body_events().to_vec();
    let result = h.client.send(request).await;
    let got_scope = h.record.get().scope.clone();
    let declared = ctx.declared().clone();

    const SCOPE: &str = "forwards/request-scope";
    const HEADERS: &str = "forwards/request-headers";
    const STATE: &str = "forwards/request-state";
    const EXTENSIONS: &str = "forwards/request-extensions";
    const CAPS: &str = "forwards/request-capabilities";
    const BODY: &str = "forwards/request-body";
    const RESPONSE: &str = "forwards/response-events";
    const AFTER: &str = "forwards/scope-after-the-call";
    let Some(got_scope) = got_scope else {
        let why = match &result {
            Ok(r) => format!(
                "the inner app was never called for a request the middleware should forward (the client got status {:?}); if it answers this request itself, adjust it with .with_request()",
                r.status().map(|s| s.as_u16())
            ),
            Err(e) => format!("the inner app was never called: {e}"),
        };
        ctx.fail(SCOPE, "CORE-004", why);
        return ctx.rows;
    };
    // The scope.
    let differences = scope_differences(&sent_scope, &sent_state, &got_scope, &declared);
    let of = |rules: &[&str]| {
        differences
            .iter()
            .find(|(r, _)| rules.contains(r))
            .map(|(_, why)| why.clone())
    };
    const FIELDS: [&str; 5] = ["HTTP-001", "HTTP-002", "HTTP-003", "HTTP-006", "EXT-030"];
    ctx.expect(SCOPE, "CORE-004", of(&FIELDS));
    for rule in FIELDS {
        ctx.expect(SCOPE, rule, of(&[rule]));
    }
    let around = h.record.get().root_path_around.clone();
    ctx.expect(
        AFTER,
        "CORE-008",
        match around {
            None => Some("the call never returned to its caller".to_owned()),
            Some((before, after)) => (before != after).then(|| {
                format!(
                    "scope.root_path was {before:?} when the middleware was called and {after:?} when it returned; expected the mount point restored, so that a caller going on with the scope (a fallback, a retry) finds it as it was"
                )
            }),
        },
    );
    for (name, rule) in [(HEADERS, "HTTP-005"), (STATE, "LIFE-010")] {
        ctx.expect(name, "CORE-004", of(&[rule]));
        ctx.expect(name, rule, of(&[rule]));
    }
    ctx.expect(EXTENSIONS, "EXT-040", of(&["EXT-040"]));
    let caps = (sent_scope.capabilities, got_scope.capabilities);
    let added = [
        (caps.1.trailers && !caps.0.trailers, "trailers"),
        (caps.1.early_hints && !caps.0.early_hints, "early_hints"),
        (caps.1.send_file && !caps.0.send_file, "send_file"),
        (
            caps.1.websocket_denial && !caps.0.websocket_denial,
            "websocket_denial",
        ),
    ];
    ctx.expect(
        CAPS,
        "HTTP-007",
        added.iter().find(|(a, _)| *a).map(|(_, name)| {
            format!(
                "the inner app's scope announces the capability {name}, which the server did not"
            )
        }),
    );
    ctx.expect(CAPS, "CORE-004", of(&["CORE-004"]));
    // The request body.
    if declared.has(&Declare::ChangesRequestBody) {
        ctx.skip(BODY, "CORE-005", "declared ChangesRequestBody");
    } else {
        let got: Vec<HttpReceive> = h.record.get().http_received.clone();
        let why = if got == sent_events {
            None
        } else {
            let first = sent_events
                .iter()
                .zip(got.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(sent_events.len().min(got.len()));
            let show = |e: Option<&HttpReceive>| {
                e.map_or("nothing".to_owned(), crate::client::Summary::summary)
            };
            Some(format!(
                "request event {first}: the client sent {}, the inner app received {} ({} events sent, {} received); expected every chunk as sent, empty ones included",
                show(sent_events.get(first)),
                show(got.get(first)),
                sent_events.len(),
                got.len()
            ))
        };
        ctx.expect(BODY, "CORE-005", why);
        let early = got.iter().position(|e| *e == HttpReceive::Disconnect);
        ctx.expect(
            BODY,
            "HTTP-012",
            early.map(|at| {
                format!(
                    "the inner app received Disconnect as request event {at} while the client, still there, had sent {} event(s); expected the body first",
                    sent_events.len()
                )
            }),
        );
    }
    ctx.expect(HEADERS, "HTTP-008", of(&["HTTP-008"]));
    // The response.
    match result {
        Ok(response) => {
            ctx.expect(
                RESPONSE,
                "CORE-005",
                response_difference(&standard_response(), &response, config),
            );
            ctx.expect(
                RESPONSE,
                "EXT-040",
                response
                    .start()
                    .is_some_and(|s| s.extensions.get::<InnerResponseExtension>().is_none())
                    .then(|| {
                        "the value the inner app put in ResponseStart.extensions did not reach the client (the middleware rebuilt the Start without them); expected extensions it did not put there to pass through".to_owned()
                    }),
            );
            ctx.expect(
                RESPONSE,
                "CORE-031",
                (!response.exit().is_ok()).then(|| {
                    format!(
                        "the middleware's future {} after a normal exchange",
                        response.exit()
                    )
                }),
            );
        }
        Err(e) => ctx.fail(
            RESPONSE,
            "CORE-031",
            format!("the exchange did not finish: {e}"),
        ),
    }
    ctx.validated(
        RESPONSE,
        &h,
        &[
            "HTTP-010", "HTTP-011", "HTTP-020", "HTTP-021", "HTTP-022", "HTTP-023", "HTTP-024",
            "HTTP-030",
        ],
    );
    ctx.rows
}

/// `EarlyHints` and `File` pass through: with a scope announcing
/// `early_hints` and `send_file`, the inner app sends two `EarlyHints`,
/// `Start`, a chunk, a `File` range and the final chunk, and the client gets
/// the same events, in order, with the same content. The inner app sends
/// only what the scope it got announces (a middleware may clear a
/// capability it cannot pass on, EXT-002; forwards/request-capabilities
/// checks that it declared so); with `ChangesResponseBody` only the hints
/// and the `Start` are compared.
pub(crate) async fn extension_events(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/extension-events";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(
        HttpPlan::RespondWithinCapabilities(extension_response()),
        LifePlan::Normal,
    );
    let request = ctx.rich_request(Method::GET);
    let announced = request.scope().capabilities;
    let result = h.client.send(request).await;
    let record = h.record.get();
    let Some(seen) = record.scope.as_ref().map(|s| s.capabilities) else {
        drop(record);
        ctx.fail(
            NAME,
            "CORE-004",
            "the inner app was never called for a request the middleware should forward; if it answers this request itself, adjust it with .with_request()",
        );
        return ctx.rows;
    };
    let sent = record.response_sent.clone();
    drop(record);
    for (cleared, name, event) in [
        (
            announced.early_hints && !seen.early_hints,
            "early_hints",
            "sent no EarlyHints",
        ),
        (
            announced.send_file && !seen.send_file,
            "send_file",
            "sent the File's bytes as a Body",
        ),
    ] {
        if cleared {
            ctx.skip(
                NAME,
                "EXT-002",
                &format!("the middleware cleared {name} for its inner app, which so {event}"),
            );
        }
    }
    match result {
        Ok(response) => {
            let why = response_difference(&sent, &response, config);
            // What the inner app sent under a capability the middleware
            // left on must reach the client: one it cannot pass on, it
            // clears (EXT-002).
            ctx.expect(
                NAME,
                "EXT-002",
                why.as_ref().map(|w| {
                    format!("{w} (the middleware left the capability on for its inner app; one it cannot pass on, it clears)")
                }),
            );
            ctx.expect(NAME, "CORE-005", why);
            ctx.expect(
                NAME,
                "CORE-031",
                (!response.exit().is_ok())
                    .then(|| format!("the middleware's future {}", response.exit())),
            );
        }
        Err(e) => ctx.fail(
            NAME,
            "CORE-031",
            format!("the exchange did not finish: {e}"),
        ),
    }
    ctx.validated(
        NAME,
        &h,
        &[
            "EXT-001", "EXT-010", "EXT-020", "HTTP-020", "HTTP-022", "HTTP-024",
        ],
    );
    ctx.rows
}

/// The request body streams: the inner app gets chunk k before the client
/// sends chunk k+1.
pub(crate) async fn streaming_request(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/streaming-request";
    let mut ctx = Ctx::new(config);
    if ctx.declared().has(&Declare::ChangesRequestBody) {
        ctx.skip(NAME, "CORE-006", "declared ChangesRequestBody");
        return ctx.rows;
    }
    let (tx, mut got) = mpsc::unbounded_channel();
    let h = ctx.harness(HttpPlan::SignalChunks(tx), LifePlan::Normal);
    let mut exchange = h
        .client
        .open(ctx.rich_request(Method::POST).events(Vec::new()));
    let chunks = 3;
    let mut why = None;
    for k in 0..chunks {
        let more = k + 1 < chunks;
        if let Err(e) = exchange.send_chunk(format!("part {k};"), more).await {
            why = Some(format!("the client could not send request chunk {k}: {e}"));
            break;
        }
        if !more {
            break;
        }
        match tokio::time::timeout(ctx.timeout(), got.recv()).await {
            Ok(Some(n)) if n == k => {}
            Ok(other) => {
                why = Some(format!(
                    "the inner app reported chunk {other:?} where chunk {k} was expected"
                ));
                break;
            }
            Err(_) => {
                why = Some(format!(
                    "the inner app got no request chunk {k} within {:?}, before the client sent chunk {} (the middleware buffers the request body); expected each chunk to pass through as it is sent",
                    ctx.timeout(),
                    k + 1
                ));
                break;
            }
        }
    }
    let finished = exchange.finish().await;
    ctx.expect(NAME, "CORE-006", why);
    if let Err(e) = finished {
        ctx.fail(
            NAME,
            "CORE-031",
            format!("the exchange did not finish: {e}"),
        );
    }
    ctx.validated(NAME, &h, &["HTTP-010"]);
    ctx.rows
}

/// The response body streams: the client gets chunk k before the inner app
/// sends chunk k+1.
pub(crate) async fn streaming_response(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/streaming-response";
    let mut ctx = Ctx::new(config);
    if ctx.declared().has(&Declare::ChangesResponseBody) {
        ctx.skip(NAME, "CORE-006", "declared ChangesResponseBody");
        return ctx.rows;
    }
    let (gate, rx) = mpsc::unbounded_channel();
    let chunks = 3;
    let h = ctx.harness(
        HttpPlan::LockStep {
            chunks,
            gate: tokio::sync::Mutex::new(rx),
        },
        LifePlan::Normal,
    );
    let mut exchange = h.client.open(ctx.rich_request(Method::GET));
    let mut why = None;
    let mut k = 0;
    while k < chunks {
        match exchange.next_event().await {
            Ok(Some(HttpSend::Body { data, .. })) if data.is_empty() => {}
            Ok(Some(HttpSend::Body { .. })) => {
                let _ = gate.send(k);
                k += 1;
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                why = Some(format!(
                    "the middleware returned after {k} of {chunks} response chunks"
                ));
                break;
            }
            Err(ClientError::Timeout { .. }) => {
                why = Some(format!(
                    "the client got no chunk {k} within {:?}, before the inner app sent chunk {} (the middleware buffers the response body); expected each chunk to pass through as it is sent",
                    ctx.timeout(),
                    k + 1
                ));
                break;
            }
            Err(e) => {
                why = Some(format!("the exchange failed at chunk {k}: {e}"));
                break;
            }
        }
    }
    drop(exchange.finish().await);
    // The client may still see chunk k in time when the inner app gave up
    // waiting first and sent chunk k+1, which released it (a middleware
    // that holds one chunk back): the inner app's side of the race counts.
    let held_back = h.record.get().gate_timeouts.first().copied();
    let why = why.or_else(|| {
        held_back.map(|k| format!(
            "the inner app waited {:?} for the client to get chunk {k} and gave up; the client got it only after the inner app sent chunk {} (the middleware holds the response body back); expected each chunk to pass through as it is sent",
            ctx.timeout(),
            k + 1
        ))
    });
    ctx.expect(NAME, "CORE-006", why);
    ctx.validated(NAME, &h, &["HTTP-020", "HTTP-022"]);
    ctx.rows
}

/// A client disconnect mid-body reaches the inner app, and everything
/// returns.
pub(crate) async fn disconnect(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/disconnect";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(HttpPlan::UntilDisconnect, LifePlan::Normal);
    let mut exchange = h
        .client
        .open(ctx.rich_request(Method::POST).events(Vec::new()));
    let sent = exchange.send_chunk("part 0;", true).await;
    exchange.disconnect();
    let reached = ctx
        .eventually(|| {
            h.record
                .get()
                .http_received
                .contains(&HttpReceive::Disconnect)
        })
        .await;
    ctx.expect(
        NAME,
        "CORE-005",
        (!reached).then(|| {
            format!(
                "the client disconnected mid-body but the inner app received no Disconnect within {:?} (it got {:?}); expected the disconnect to reach it",
                ctx.timeout(),
                h.record.get().http_received.iter().map(crate::client::Summary::summary).collect::<Vec<_>>()
            )
        }).or_else(|| sent.err().map(|e| format!("the client could not send the first chunk: {e}"))),
    );
    let finished = exchange.finish().await;
    ctx.returned(NAME, "after the client disconnected", &finished);
    ctx.validated(NAME, &h, &["HTTP-011"]);
    ctx.rows
}

/// After the client is gone, the inner app's send fails with
/// `Disconnected`.
pub(crate) async fn send_error(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/send-error";
    let mut ctx = Ctx::new(config);
    let (gate, rx) = mpsc::unbounded_channel();
    let h = ctx.harness(
        HttpPlan::SendAfterGate(tokio::sync::Mutex::new(rx)),
        LifePlan::Normal,
    );
    let mut exchange = h
        .client
        .open(ctx.rich_request(Method::GET).events(Vec::new()));
    // The whole (empty) request body goes in first, so the inner app gets
    // to respond before the disconnect.
    let _ = exchange.send_chunk("", false).await;
    if ctx.declared().has(&Declare::ChangesResponseBody) {
        // A body-changing middleware may hold the stream back: wait until
        // the inner app's Start and first chunk were taken by it.
        ctx.eventually(|| h.record.get().send_results.len() >= 2)
            .await;
    } else {
        // Start and the first chunk reach the client: the disconnect then
        // comes mid-stream.
        let _ = exchange.next_event().await;
        let _ = exchange.next_event().await;
    }
    exchange.disconnect();
    let _ = gate.send(());
    let finished = exchange.finish().await;
    let results = h.record.get().send_results.clone();
    let failed = results.iter().any(|r| {
        r.as_ref()
            .err()
            .is_some_and(|e| e == &rgi::Error::Disconnected.to_string())
    });
    // A middleware that holds the body back (declared) may only meet the
    // disconnect after its inner app is done; then it must report it
    // upstream instead of the inner app seeing it.
    let surfaced = ctx.declared().has(&Declare::ChangesResponseBody)
        && finished.as_ref().is_ok_and(|r| r.exit().is_disconnect());
    ctx.expect(
        NAME,
        "CORE-032",
        (!failed && !surfaced).then(|| {
            "after the client disconnected, the inner app's sends kept succeeding; expected every send after the disconnect to fail with Error::Disconnected".to_owned()
        }),
    );
    ctx.expect(
        NAME,
        "CORE-011",
        (!failed && !surfaced).then(|| {
            format!(
                "after the client disconnected mid-stream, all {} of the inner app's sends returned Ok(()) (the middleware swallows Error::Disconnected); expected Error::Disconnected from the first send after the disconnect",
                results.len()
            )
        }),
    );
    ctx.returned(NAME, "after the client disconnected", &finished);
    // The inner app returned the Disconnected its send gave it: what comes
    // back is still that error (or Ok), never an app failure.
    if failed {
        ctx.expect(
            NAME,
            "CORE-044",
            finished.as_ref().ok().and_then(|r| {
                let e = r.exit().error()?;
                (!rgi::Error::is_disconnect(&**e)).then(|| {
                    format!(
                        "the inner app returned Error::Disconnected, the middleware returned Err({e}), which is not Error::Disconnected (a server reports it as an app failure); expected the error passed back as it is, or Ok"
                    )
                })
            }),
        );
    }
    ctx.validated(NAME, &h, &["CORE-010"]);
    ctx.rows
}

/// HEAD, 204 and 304 responses stay bodiless, and everything else about
/// them is compared as for any response: the method the inner app saw
/// (a HEAD stays a HEAD), the whole scope, the status and the headers
/// (`content-length` of the HEAD and the 304 included).
pub(crate) async fn bodiless(config: &Config) -> Vec<Row> {
    let mut ctx = Ctx::new(config);
    let start = |status, headers| Ev::Start {
        status,
        headers,
        trailers: false,
    };
    let head = vec![
        start(
            200,
            vec![
                ("content-type", "Text/Plain"),
                ("content-length", "5"),
                ("etag", "\"Abc\""),
            ],
        ),
        Ev::Body(Bytes::new(), false),
    ];
    let no_content = vec![
        start(204, vec![("x-inner", "No Content")]),
        Ev::Body(Bytes::new(), false),
    ];
    let not_modified = vec![
        start(
            304,
            vec![
                ("etag", "\"Abc\""),
                ("content-length", "1234"),
                ("cache-control", "Max-Age=60"),
            ],
        ),
        Ev::Body(Bytes::new(), false),
    ];
    for (name, method, events, conditional) in [
        ("forwards/head-response", Method::HEAD, head, false),
        ("forwards/204-response", Method::DELETE, no_content, false),
        ("forwards/304-response", Method::GET, not_modified, true),
    ] {
        let h = ctx.harness(HttpPlan::Respond(events.clone()), LifePlan::Normal);
        let mut request = ctx.rich_request(method);
        if conditional {
            request = request.header("if-none-match", "\"Abc\"");
        }
        let sent = ScopeSnapshot::of(request.scope());
        let sent_state = request.scope().state.clone();
        match h.client.send(request).await {
            Ok(r) if r.is_complete() => {
                ctx.expect(name, "CORE-005", response_difference(&events, &r, config));
            }
            Ok(r) => ctx.fail(
                name,
                "CORE-031",
                format!("the response was not complete: {}", r.trace().summary()),
            ),
            Err(e) => ctx.fail(
                name,
                "CORE-031",
                format!("the exchange did not finish: {e}"),
            ),
        }
        let got = h.record.get().scope.clone();
        match got {
            Some(got) => {
                let differences = scope_differences(&sent, &sent_state, &got, ctx.declared());
                ctx.scope_rows(name, "the request", &differences, &["HTTP-001"]);
            }
            None => ctx.fail(
                name,
                "CORE-004",
                "the inner app was never called for a request the middleware should forward",
            ),
        }
        ctx.validated(name, &h, &["HTTP-004", "HTTP-016", "HTTP-024", "HTTP-025"]);
    }
    ctx.rows
}

/// The inner app's `send` takes as long as the client takes to read
/// (rule `CORE-020`): with the client reading nothing, the inner app's
/// sends stop completing after a few events. A middleware that queues
/// without bound (a spawned forwarder behind an unbounded channel) lets
/// all of them complete. A middleware that declares it changes the
/// response body may collect it, so it is not checked.
pub(crate) async fn backpressure(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/backpressure";
    /// Events a middleware may hold in bounded buffers of its own.
    const SLACK: usize = 16;
    let chunks = 64;
    let mut ctx = Ctx::new(config);
    if ctx.declared().has(&Declare::ChangesResponseBody) {
        ctx.skip(
            NAME,
            "CORE-020",
            "declared ChangesResponseBody (it may collect the body)",
        );
        return ctx.rows;
    }
    let h = ctx.harness(HttpPlan::Flood { chunks }, LifePlan::Normal);
    let mut exchange = h
        .client
        .open(ctx.rich_request(Method::GET).events(Vec::new()));
    let _ = exchange.send_chunk("", false).await;
    // Wait (bounded) for the sends to stop or to run past the slack.
    let mut last = usize::MAX;
    let mut still = 0;
    let deadline =
        tokio::time::Instant::now() + ctx.timeout().min(std::time::Duration::from_millis(400));
    loop {
        let sent = h.record.get().flood_sent;
        if sent > SLACK || tokio::time::Instant::now() >= deadline {
            break;
        }
        still = if sent == last { still + 1 } else { 0 };
        if still >= 10 {
            break;
        }
        last = sent;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let sent = h.record.get().flood_sent;
    ctx.expect(
        NAME,
        "CORE-020",
        (sent > SLACK).then(|| {
            format!(
                "the client read nothing, yet {sent} of the inner app's {} sends completed (the middleware queues the response without bound); expected send to wait until the client takes the event (a few events of bounded buffer at most)",
                chunks + 1
            )
        }),
    );
    // Then the client reads it all: the whole body must arrive.
    match exchange.finish().await {
        Ok(r) => {
            let want: usize = 4096 * chunks;
            let got = r.body().len();
            ctx.expect(
                NAME,
                "CORE-005",
                (got != want || !r.is_complete()).then(|| {
                    format!("the inner app sent {chunks} chunks of 4096 bytes ({want} bytes), the client got {got} bytes ({})", r.trace().summary())
                }),
            );
        }
        Err(e) => ctx.fail(
            NAME,
            "CORE-031",
            format!("the exchange did not finish: {e}"),
        ),
    }
    ctx.validated(NAME, &h, &[]);
    ctx.rows
}

const WS_SCOPE: &str = "forwards/websocket-scope";

/// The handshake of the WebSocket scenarios: the rich request's scope
/// (headers, state, extensions, addresses) on a path with an encoded
/// slash and a query, offering two subprotocols.
fn websocket_request(ctx: &Ctx<'_>) -> Request {
    ctx.rich_request_at(Method::GET, "/conformance/ws/Chat%2FRoom/?token=Abc&x")
        .subprotocol("chat")
        .subprotocol("v2")
}

/// The inner app closes the WebSocket itself, with a code and a reason:
/// the client gets that close frame as sent, and the inner app the
/// client's answering close.
pub(crate) async fn websocket_app_close(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/websocket-app-close";
    let mut ctx = Ctx::new(config);
    let mut frame = CloseFrame::new(4001);
    frame.reason = "Inner App: caf\u{e9} closes".to_owned();
    let layer = config.layer.clone();
    let h = ctx.harness_ws(
        HttpPlan::Respond(standard_response()),
        LifePlan::Normal,
        WsPlan::AppCloses(frame.clone()),
        move |inner| layer(inner),
    );
    let why = async {
        let mut session = h
            .client
            .connect(websocket_request(&ctx))
            .await
            .map_err(|e| format!("the WebSocket handshake failed: {e}"))?;
        if !session.handshake_outcome().is_accepted() {
            return Err(format!(
                "the inner app accepted, the client got {:?}",
                session.handshake_outcome()
            ));
        }
        for _ in inner_messages() {
            session
                .recv_message()
                .await
                .map_err(|e| format!("the inner app sent three messages, the client got: {e}"))?;
        }
        session
            .send_text("please close")
            .await
            .map_err(|e| format!("sending a text message: {e}"))?;
        let transcript = session.finish().await.map_err(|e| {
            format!("after the inner app closed, the middleware did not return: {e}")
        })?;
        let closes: Vec<&CloseFrame> = transcript
            .trace
            .from_app()
            .filter_map(|e| match e {
                rgi::WebSocketSend::Close(f) => Some(f),
                _ => None,
            })
            .collect();
        match closes.as_slice() {
            [got] if **got == frame => Ok(()),
            other => Err(format!(
                "the inner app closed with {frame:?}, the client got the close frame(s) {other:?}"
            )),
        }
    }
    .await
    .err();
    let received = h.record.get().ws_received.clone();
    let why = why.or_else(|| {
        (received.last() != Some(&WebSocketReceive::Disconnect(frame.clone()))).then(|| {
            format!(
                "after its close the inner app received {:?}; expected the client's answering close {frame:?} as Disconnect",
                received.last().map(crate::client::Summary::summary)
            )
        })
    });
    ctx.expect(NAME, "CORE-005", why.clone());
    ctx.expect(
        NAME,
        "WS-014",
        why.filter(|w| w.starts_with("after its close")),
    );
    ctx.validated(NAME, &h, &["WS-003", "WS-005", "WS-007", "WS-008"]);
    ctx.rows
}

/// WebSocket events pass both ways; the middleware passes the kind on.
pub(crate) async fn websocket(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/websocket";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(HttpPlan::Respond(standard_response()), LifePlan::Normal);
    let request = websocket_request(&ctx);
    let sent = ScopeSnapshot::of(request.scope());
    let sent_state = request.scope().state.clone();
    let outcome = run_websocket(&h.client, request, config).await;
    let got = h.record.get().ws_scope.clone();
    if let Some(got) = got {
        let differences = scope_differences(&sent, &sent_state, &got, ctx.declared());
        ctx.scope_rows(
            WS_SCOPE,
            "the WebSocket handshake",
            &differences,
            &SCOPE_RULES,
        );
    }
    let record = h.record.get();
    let called = record.calls.contains(&ScopeKind::WebSocket);
    ctx.expect(
        NAME,
        "CORE-003",
        (!called).then(|| {
            "the inner app was never called for a WebSocket scope (the middleware drops kinds it does not handle); expected it passed on unchanged".to_owned()
        }),
    );
    let want_in: Vec<WebSocketReceive> = std::iter::once(WebSocketReceive::Connect)
        .chain(client_messages().into_iter().map(WebSocketReceive::Message))
        .chain([WebSocketReceive::Disconnect(CloseFrame::new(1000))])
        .collect();
    let why = match outcome {
        Err(why) => Some(why),
        Ok(()) if called && record.ws_received != want_in => Some(format!(
            "the inner app received {:?}; expected {:?}",
            record
                .ws_received
                .iter()
                .map(crate::client::Summary::summary)
                .collect::<Vec<_>>(),
            want_in
                .iter()
                .map(crate::client::Summary::summary)
                .collect::<Vec<_>>()
        )),
        Ok(()) if called && record.ws_subprotocols != ["chat", "v2"] => Some(format!(
            "the client offered subprotocols [\"chat\", \"v2\"], the inner app saw {:?}",
            record.ws_subprotocols
        )),
        Ok(()) => None,
    };
    drop(record);
    if called {
        ctx.expect(NAME, "CORE-005", why);
    }
    ctx.validated(
        NAME,
        &h,
        &["WS-001", "WS-002", "WS-003", "WS-005", "WS-006", "WS-008"],
    );
    ctx.rows
}

async fn run_websocket(
    client: &crate::TestClient,
    request: Request,
    config: &Config,
) -> Result<(), String> {
    let mut session = client
        .connect(request)
        .await
        .map_err(|e| format!("the WebSocket handshake failed: {e}"))?;
    match session.handshake_outcome() {
        Handshake::Accepted {
            subprotocol,
            headers,
        } if subprotocol.as_deref() == Some("chat") => {
            let want = crate::suite::inner::header_map(&accept_headers());
            if let Some(diff) =
                header_difference(&want, headers, |n| config.declared.response_header(n))
            {
                return Err(format!("in the inner app's Accept headers, {diff}"));
            }
        }
        other => {
            return Err(format!(
                "the inner app accepted with subprotocol \"chat\", the client got {other:?}"
            ))
        }
    }
    let show =
        |m: &Message| crate::client::Summary::summary(&rgi::WebSocketSend::Message(m.clone()));
    for want in inner_messages() {
        match session.recv_message().await {
            Ok(got) if got == want => {}
            Ok(got) => {
                return Err(format!(
                    "the inner app sent {}, the client got {}",
                    show(&want),
                    show(&got)
                ))
            }
            Err(e) => {
                return Err(format!(
                    "the inner app sent {}, the client got: {e}",
                    show(&want)
                ))
            }
        }
    }
    for message in client_messages() {
        session
            .send(message)
            .await
            .map_err(|e| format!("sending a message: {e}"))?;
    }
    session.close(CloseFrame::normal());
    match session.finish().await {
        Ok(t) if t.exit.is_ok() => Ok(()),
        Ok(t) => Err(format!(
            "after the client closed, the middleware {}",
            t.exit
        )),
        Err(e) => Err(format!(
            "after the client closed, the middleware did not return: {e}"
        )),
    }
}

/// The inner app streams while it awaits `receive` to watch for a
/// disconnect; the client reads nothing and then disconnects. The
/// receiver must deliver the disconnect while the send is still pending:
/// the two handles work independently (rule `CORE-022`).
pub(crate) async fn receive_while_sending(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/receive-while-sending";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(HttpPlan::WatchWhileSending, LifePlan::Normal);
    let mut exchange = h
        .client
        .open(ctx.rich_request(Method::GET).events(Vec::new()));
    let _ = exchange.send_chunk("", false).await;
    let _ = exchange.next_event().await;
    // Let the inner app's sends fill every queue on the way.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    exchange.disconnect();
    let done = ctx.eventually(|| h.record.get().watched.is_some()).await;
    let watched = h.record.get().watched;
    if watched == Some(Err(true)) {
        // Every send completed at once: nothing was pending to wait on
        // (a body-collecting middleware; forwards/backpressure judges it).
        ctx.skip(
            NAME,
            "CORE-022",
            "the middleware took every send at once, so none was pending",
        );
        drop(exchange.finish().await);
        drop(h.outer.take());
        drop(h.inner.take());
        return ctx.rows;
    }
    ctx.expect(
        NAME,
        "CORE-022",
        match watched {
            Some(Ok(())) => None,
            Some(Err(_)) => Some(
                "the client disconnected while the inner app's send was pending and it awaited receive; the send ended first and receive had not returned the disconnect (the middleware makes receive wait for send); expected receive to return Disconnect on its own".to_owned(),
            ),
            None => Some(format!(
                "the client disconnected while the inner app's send was pending and it awaited receive; neither returned within {:?}{}",
                ctx.timeout(),
                if done { "" } else { " (the middleware makes receive wait for send)" }
            )),
        },
    );
    drop(exchange.finish().await);
    drop(h.outer.take());
    drop(h.inner.take());
    ctx.rows
}

/// The inner app returns `Error::Unsupported` before answering `Connect`:
/// the middleware passes that on, so the server refuses the handshake with
/// 403 (rule `WS-010`); it does not accept on the inner app's behalf.
pub(crate) async fn websocket_unsupported(config: &Config) -> Vec<Row> {
    const NAME: &str = "forwards/websocket-unsupported";
    let mut ctx = Ctx::new(config);
    let layer = config.layer.clone();
    let h = ctx.harness_ws(
        HttpPlan::Respond(standard_response()),
        LifePlan::Normal,
        WsPlan::Unsupported,
        move |inner| layer(inner),
    );
    let why = match h.client.connect(websocket_request(&ctx)).await {
        Err(e) => Some(format!("the WebSocket handshake failed: {e}")),
        Ok(session) => {
            let outcome = session.handshake_outcome().clone();
            match session.finish().await {
                Ok(t) if outcome == Handshake::NoAnswer && t.exit.is_unsupported() => None,
                Ok(t) => Some(format!(
                    "the inner app returned Error::Unsupported before answering Connect; the client saw {outcome:?} and the middleware {} (expected no answer and Error::Unsupported passed on, so the server refuses with 403)",
                    t.exit
                )),
                Err(e) => Some(format!("the middleware did not return: {e}")),
            }
        }
    };
    ctx.expect(NAME, "WS-010", why);
    ctx.validated(NAME, &h, &["WS-002"]);
    ctx.rows
}
