//! What every scenario uses: the harness (client → validator → middleware
//! → validator → scripted inner app), rows, and comparisons.

use std::time::Duration;

use http::{HeaderMap, Method};
use rgi::{BoxApp, Capabilities, State, StateBuilder};

use super::inner::{
    AfterCall, HttpPlan, Inner, LifePlan, OuterExtension, OuterState, Recorder, RequestTag, WsPlan,
};
use super::Config;
use crate::declare::{Declarations, ScopeField};
use crate::report::{Outcome, Row};
use crate::validator::{Side, Validator, ViolationLog};
use crate::{Request, TestClient};

/// The rows one scenario produces.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) rows: Vec<Row>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(config: &'a Config) -> Self {
        Self {
            config,
            rows: Vec::new(),
        }
    }

    pub(crate) fn declared(&self) -> &Declarations {
        &self.config.declared
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// Waits until `done()` holds, checking every 2 ms, for at most the
    /// suite's timeout; whether it came to hold. For what the suite can only
    /// observe, not await (a recorded event, a dropped reference).
    pub(crate) async fn eventually(&self, mut done: impl FnMut() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + self.timeout();
        loop {
            if done() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub(crate) fn pass(&mut self, scenario: &'static str, rule: &'static str) {
        self.rows.push(Row {
            rule,
            scenario,
            outcome: Outcome::Pass,
        });
    }

    pub(crate) fn fail(
        &mut self,
        scenario: &'static str,
        rule: &'static str,
        why: impl Into<String>,
    ) {
        self.rows.push(Row {
            rule,
            scenario,
            outcome: Outcome::Fail(why.into()),
        });
    }

    pub(crate) fn skip(&mut self, scenario: &'static str, rule: &'static str, why: &str) {
        self.rows.push(Row {
            rule,
            scenario,
            outcome: Outcome::Skip(why.to_owned()),
        });
    }

    /// A pass row, or a fail row with `why` when there is one.
    pub(crate) fn expect(
        &mut self,
        scenario: &'static str,
        rule: &'static str,
        why: Option<String>,
    ) {
        match why {
            None => self.pass(scenario, rule),
            Some(why) => self.fail(scenario, rule, why),
        }
    }

    /// The CORE-031 row: the middleware returned once the call was over
    /// (`after` says what ended it), or the error met waiting for it.
    pub(crate) fn returned<T, E: std::fmt::Display>(
        &mut self,
        scenario: &'static str,
        after: &str,
        finished: &Result<T, E>,
    ) {
        let why = finished
            .as_ref()
            .err()
            .map(|e| format!("{after}, the middleware did not return: {e}"));
        self.expect(scenario, "CORE-031", why);
    }

    /// Rows for a scope comparison ([`scope_differences`]): `CORE-004`
    /// with the first difference, then one row per rule in `rules` with the
    /// first difference that breaks it. `what` names the call.
    pub(crate) fn scope_rows(
        &mut self,
        scenario: &'static str,
        what: &str,
        differences: &[(&'static str, String)],
        rules: &[&'static str],
    ) {
        let first = |only: Option<&str>| {
            differences
                .iter()
                .find(|(r, _)| only.map_or(true, |o| o == *r))
                .map(|(_, why)| format!("{what}: {why}"))
        };
        self.expect(scenario, "CORE-004", first(None));
        for rule in rules {
            self.expect(scenario, rule, first(Some(rule)));
        }
    }

    /// Rows for what the two validators found: one per rule in `rules`
    /// (pass unless violated), plus a fail row for any other violation.
    pub(crate) fn validated(
        &mut self,
        scenario: &'static str,
        harness: &Harness,
        rules: &[&'static str],
    ) {
        self.validated_except(scenario, harness, rules, &[]);
    }

    /// As [`validated`](Self::validated), leaving out violations of the
    /// rules in `expected` (those the scenario's inner app breaks on
    /// purpose, and the middleware with it when it passes them on).
    pub(crate) fn validated_except(
        &mut self,
        scenario: &'static str,
        harness: &Harness,
        rules: &[&'static str],
        expected: &[&'static str],
    ) {
        let mut found: Vec<(&'static str, String)> = Vec::new();
        let taken = |log: &ViolationLog| {
            let mut all = log.take();
            all.retain(|v| !expected.contains(&v.rule));
            all
        };
        for v in taken(&harness.outer) {
            let who = match v.side {
                Side::App => "the middleware sent to the client",
                Side::Server => "the test client delivered (a suite bug)",
            };
            found.push((
                v.rule,
                format!("{who}: {}; expected {}", v.happened, v.expected),
            ));
        }
        for v in taken(&harness.inner) {
            let who = match v.side {
                Side::Server => "the middleware delivered to its inner app",
                Side::App => "the scripted inner app, in the scope the middleware gave it,",
            };
            found.push((
                v.rule,
                format!("{who}: {}; expected {}", v.happened, v.expected),
            ));
        }
        for rule in rules {
            match found.iter().position(|(r, _)| r == rule) {
                Some(i) => {
                    let (rule, why) = found.remove(i);
                    self.fail(scenario, rule, why);
                }
                None => self.pass(scenario, rule),
            }
        }
        for (rule, why) in found {
            self.fail(scenario, rule, why);
        }
    }

    /// The request the forwarding scenarios send: every scope field set to
    /// something recognisable, an outer extension and lifespan state, then
    /// the author's `with_request` adjustments. Chosen to break what
    /// middleware get wrong: a path with a trailing slash, `//`, dot
    /// segments and an encoded `/` and space, a query string; header values
    /// in mixed case and in UTF-8, names repeated (interleaved with others).
    pub(crate) fn rich_request(&self, method: Method) -> Request {
        self.rich_request_at(method, RICH_TARGET)
    }

    /// [`rich_request`](Self::rich_request) for another target.
    pub(crate) fn rich_request_at(&self, method: Method, target: &str) -> Request {
        let builder = StateBuilder::new();
        builder.insert(OuterState(3));
        let request = Request::new(method, target)
            .header("host", "Example.COM:8080")
            .header("x-conformance", "MiXeD Case, Value=\"Q\"")
            .header("x-dup", "first")
            .header("accept", "Text/HTML, */*;q=0.8")
            .header("x-dup", "Second")
            .header("x-empty", "")
            .header("x-dup", "third  with  spaces")
            .with_scope(|scope| {
                scope.headers.append(
                    "x-utf8",
                    http::HeaderValue::from_bytes("caf\u{e9} \u{2615} \u{fc}ber".as_bytes())
                        .expect("obs-text is a valid header value"),
                );
            })
            .capabilities(Capabilities::ALL)
            .state(builder.freeze())
            .extension(OuterExtension(7))
            .addresses(([10, 0, 0, 1], 40000).into(), ([10, 0, 0, 2], 8080).into());
        self.prepare(request)
    }

    /// Applies the author's `with_request` adjustments, and tags the
    /// request so the inner app can tell calls for it apart.
    pub(crate) fn prepare(&self, request: Request) -> Request {
        let request = request.extension(RequestTag::fresh());
        match &self.config.prepare {
            Some(prepare) => prepare(request),
            None => request,
        }
    }

    /// The middleware under test around a scripted inner app, both sides
    /// validated.
    pub(crate) fn harness(&self, http: HttpPlan, life: LifePlan) -> Harness {
        let layer = self.config.layer.clone();
        self.harness_with(http, life, move |inner| layer(inner))
    }

    /// As [`harness`](Self::harness) with another way to wrap the inner app
    /// (a stack, or a differently configured middleware).
    pub(crate) fn harness_with(
        &self,
        http: HttpPlan,
        life: LifePlan,
        wrap: impl Fn(BoxApp) -> BoxApp,
    ) -> Harness {
        self.harness_ws(http, life, WsPlan::ClientCloses, wrap)
    }

    /// As [`harness_with`](Self::harness_with), with a plan for WebSocket
    /// calls too.
    pub(crate) fn harness_ws(
        &self,
        http: HttpPlan,
        life: LifePlan,
        ws: WsPlan,
        wrap: impl Fn(BoxApp) -> BoxApp,
    ) -> Harness {
        let record = Recorder::default();
        let inner_log = ViolationLog::new();
        let inner = Validator::with_log(
            Inner::new(
                http,
                life,
                ws,
                record.clone(),
                self.timeout(),
                inner_log.clone(),
            ),
            inner_log.clone(),
        );
        let outer = Validator::new(wrap(rgi::boxed(inner)));
        let outer_log = outer.log();
        let outer = AfterCall {
            inner: rgi::boxed(outer),
            record: record.clone(),
        };
        Harness {
            client: TestClient::new(outer).timeout(self.timeout()),
            outer: outer_log,
            inner: inner_log,
            record,
        }
    }
}

/// The target of [`Ctx::rich_request`].
pub(crate) const RICH_TARGET: &str =
    "/conformance/Some%20Path/a%2Fb//c/./d/../e/?q=Mixed%20Case&b=two&b=&utf8=%C3%A9";

/// One middleware instance under test, with its scripted inner app.
pub(crate) struct Harness {
    pub(crate) client: TestClient,
    pub(crate) outer: ViolationLog,
    pub(crate) inner: ViolationLog,
    pub(crate) record: Recorder,
}

/// The first difference between the header fields sent and those that
/// arrived, ignoring the names `may_differ`. Compares the values of each
/// name in order, duplicates included (the order *between* names is not
/// kept by `HeaderMap` itself, so it is not compared).
pub(crate) fn header_difference(
    sent: &HeaderMap,
    got: &HeaderMap,
    may_differ: impl Fn(&str) -> bool,
) -> Option<String> {
    for name in sent.keys() {
        if may_differ(name.as_str()) {
            continue;
        }
        let want: Vec<_> = sent.get_all(name).iter().collect();
        let have: Vec<_> = got.get_all(name).iter().collect();
        if want != have {
            return Some(if have.is_empty() {
                format!("header {:?} ({want:?}) was dropped", name.as_str())
            } else {
                format!(
                    "header {:?} was {want:?} but arrived as {have:?}",
                    name.as_str()
                )
            });
        }
    }
    for name in got.keys() {
        if !may_differ(name.as_str()) && !sent.contains_key(name) {
            return Some(format!(
                "header {:?} ({:?}) was added",
                name.as_str(),
                got.get_all(name).iter().collect::<Vec<_>>()
            ));
        }
    }
    None
}

/// The scope rules a middleware keeps towards its inner app, one per part
/// of the scope: as a server to it, it must deliver the method, target,
/// path, headers, connection facts, tls and state as they came, unless it
/// declares that it changes them (`CORE-004` names every one of them).
pub(crate) const SCOPE_RULES: [&str; 8] = [
    "HTTP-001", "HTTP-002", "HTTP-003", "HTTP-005", "HTTP-006", "HTTP-008", "EXT-030", "LIFE-010",
];

/// Every part of the scope the middleware changed without declaring it,
/// each with the rule it breaks: (rule, what differs).
pub(crate) fn scope_differences(
    sent: &super::inner::ScopeSnapshot,
    sent_state: &State,
    got: &super::inner::ScopeSnapshot,
    declared: &Declarations,
) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    let mut field = |rule, field, name: &str, differs: Option<(String, String)>| {
        if let Some((was, saw)) = differs.filter(|_| !declared.scope_field(field)) {
            found.push((
                rule,
                format!("scope.{name} was {was} but the inner app saw {saw}"),
            ));
        }
    };
    field(
        "HTTP-001",
        ScopeField::Method,
        "method",
        differs(&sent.method, &got.method),
    );
    field(
        "HTTP-002",
        ScopeField::Uri,
        "uri",
        differs(&sent.uri, &got.uri),
    );
    field(
        "HTTP-003",
        ScopeField::Path,
        "path/root_path",
        differs((&sent.path, &sent.root_path), (&got.path, &got.root_path)),
    );
    field(
        "HTTP-006",
        ScopeField::Version,
        "version",
        differs(sent.version, got.version),
    );
    field(
        "HTTP-006",
        ScopeField::Scheme,
        "scheme",
        differs(&sent.scheme, &got.scheme),
    );
    field(
        "HTTP-006",
        ScopeField::Addresses,
        "client/server",
        differs((sent.client, sent.server), (got.client, got.server)),
    );
    field(
        "EXT-030",
        ScopeField::Tls,
        "tls",
        differs(sent.tls, got.tls),
    );
    let host = |h: &HeaderMap| {
        h.get_all(http::header::HOST)
            .iter()
            .cloned()
            .collect::<Vec<_>>()
    };
    if !declared.request_header("host") && host(&sent.headers) != host(&got.headers) {
        found.push((
            "HTTP-008",
            format!(
                "the request's host was {:?}, the inner app saw {:?}",
                host(&sent.headers),
                host(&got.headers)
            ),
        ));
    }
    if let Some(diff) =
        header_difference(&sent.headers, &got.headers, |n| declared.request_header(n))
    {
        found.push((
            "HTTP-005",
            format!("in the request headers the inner app saw, {diff}"),
        ));
    }
    if let Some(diff) = state_difference(sent_state, got, declared) {
        found.push(("LIFE-010", diff));
    }
    if got.extension != sent.extension {
        found.push((
            "EXT-040",
            "the per-request extension an outer layer set (scope.extensions) did not reach the inner app".to_owned(),
        ));
    }
    let (was, saw) = (sent.capabilities, got.capabilities);
    if was != saw
        && !declared.scope_field(ScopeField::Capabilities)
        && !declared.has(&crate::declare::Declare::ChangesResponseBody)
    {
        found.push((
            "CORE-004",
            format!("capabilities were {was:?}, the inner app saw {saw:?} (declare ChangesScope(Capabilities) if the middleware clears one it cannot pass on, EXT-002)"),
        ));
    }
    found
}

/// Both values, as the messages show them, when they differ.
fn differs<T: PartialEq + std::fmt::Debug>(sent: T, got: T) -> Option<(String, String)> {
    (sent != got).then(|| (format!("{sent:?}"), format!("{got:?}")))
}

/// The state of a snapshot, checked against the state the client sent.
pub(crate) fn state_difference(
    sent: &State,
    got: &super::inner::ScopeSnapshot,
    declared: &Declarations,
) -> Option<String> {
    if declared.scope_field(ScopeField::State) {
        return None;
    }
    if got.outer_state != sent.get::<OuterState>().copied() || got.state_len != sent.len() {
        return Some(format!(
            "the scope's state held {} value(s) including the outer layer's, the inner app saw {} value(s){}",
            sent.len(),
            got.state_len,
            if got.outer_state.is_none() {
                " without the outer layer's"
            } else {
                ""
            }
        ));
    }
    None
}
