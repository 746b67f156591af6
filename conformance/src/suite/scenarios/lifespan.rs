//! lifespan: startup and shutdown reach the inner app and their answers come
//! back; failures propagate; state reaches requests.

use http::Method;
use rgi::{LifespanReceive, LifespanSend, ScopeKind, StateBuilder};

use crate::report::Row;
use crate::suite::ctx::Ctx;
use crate::suite::inner::{standard_response, HttpPlan, InnerState, LifePlan, OuterState};
use crate::suite::Config;
use crate::{ShutdownOutcome, StartupOutcome};

fn outer_builder() -> StateBuilder {
    let builder = StateBuilder::new();
    builder.insert(OuterState(3));
    builder
}

/// A full lifespan: startup, a request that must see the state, shutdown.
pub(crate) async fn forwarded(config: &Config) -> Vec<Row> {
    const NAME: &str = "lifespan/forwarded";
    const STARTUP: &str = "lifespan/startup";
    const REQUESTS: &str = "lifespan/state-in-requests";
    const SHUTDOWN: &str = "lifespan/shutdown";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(HttpPlan::Respond(standard_response()), LifePlan::Normal);
    let mut life = h.client.lifespan_with(outer_builder());
    let startup = life.startup().await;
    let got_startup = h
        .record
        .get()
        .life_received
        .contains(&LifespanReceive::Startup);
    ctx.expect(
        STARTUP,
        "LIFE-008",
        (!got_startup).then(|| {
            format!(
                "the inner app never received Startup (the middleware answered {startup:?} without passing the lifespan call on); expected every middleware to pass lifespan to its inner app"
            )
        }),
    );
    let state = match startup {
        Ok(StartupOutcome::Complete(state)) => {
            ctx.pass(STARTUP, "CORE-005");
            Some(state)
        }
        other if got_startup => {
            ctx.fail(
                STARTUP,
                "CORE-005",
                format!("the inner app answered StartupComplete, the client got {other:?}"),
            );
            None
        }
        _ => None,
    };
    if let Some(state) = state {
        let why = if state.get::<OuterState>().is_none() || state.get::<InnerState>().is_none() {
            Some(format!(
                "the state frozen at startup lacks {} (the middleware replaced the lifespan scope's state builder)",
                if state.get::<OuterState>().is_none() {
                    "the value an outer layer stored"
                } else {
                    "the value the inner app stored"
                }
            ))
        } else {
            None
        };
        ctx.expect(STARTUP, "CORE-004", why);
        // A request after startup must carry all of that state, the
        // middleware's own values included.
        let response = h
            .client
            .send(ctx.prepare(crate::Request::new(Method::GET, "/after-startup")))
            .await;
        let seen = h.record.get().scope.clone();
        let why = match (&response, seen) {
            (_, Some(seen)) if seen.state_len == state.len() && seen.inner_state.is_some() && seen.outer_state.is_some() => None,
            (_, Some(seen)) => Some(format!(
                "startup froze {} state value(s), a request's inner app saw {} (the middleware does not pass the lifespan state on to requests)",
                state.len(),
                seen.state_len
            )),
            (Ok(r), None) => Some(format!(
                "the request after startup never reached the inner app (status {:?})",
                r.status().map(|s| s.as_u16())
            )),
            (Err(e), None) => Some(format!("the request after startup failed: {e}")),
        };
        ctx.expect(REQUESTS, "LIFE-010", why);
        let shutdown = life.shutdown().await;
        let got_shutdown = h
            .record
            .get()
            .life_received
            .contains(&LifespanReceive::Shutdown);
        ctx.expect(
            SHUTDOWN,
            "LIFE-008",
            (!got_shutdown).then(|| {
                format!("the inner app never received Shutdown (the client got {shutdown:?})")
            }),
        );
        ctx.expect(
            SHUTDOWN,
            "CORE-005",
            (got_shutdown && !matches!(shutdown, Ok(ShutdownOutcome::Complete))).then(|| {
                format!("the inner app answered ShutdownComplete, the client got {shutdown:?}")
            }),
        );
        match life.finish().await {
            Ok(t) if t.exit.is_ok() => ctx.pass(SHUTDOWN, "LIFE-006"),
            Ok(t) => ctx.fail(
                SHUTDOWN,
                "LIFE-006",
                format!("after shutdown the middleware {}", t.exit),
            ),
            Err(e) => ctx.fail(
                SHUTDOWN,
                "LIFE-006",
                format!("after answering Shutdown the middleware did not return: {e}"),
            ),
        }
    }
    ctx.validated(NAME, &h, &["LIFE-001", "LIFE-002", "LIFE-004", "LIFE-005"]);
    ctx.rows
}

/// The inner app's startup failure comes back with its message.
pub(crate) async fn inner_fails(config: &Config) -> Vec<Row> {
    const NAME: &str = "lifespan/inner-fails";
    const MESSAGE: &str = "inner app: no database";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(
        HttpPlan::Respond(standard_response()),
        LifePlan::FailStartup(MESSAGE),
    );
    let mut life = h.client.lifespan();
    let startup = life.startup().await;
    let why = match &startup {
        Ok(StartupOutcome::Failed(m)) if m.contains(MESSAGE) => None,
        other => Some(format!(
            "the inner app answered StartupFailed({MESSAGE:?}), the client got {other:?}; expected the failure and its message to come back"
        )),
    };
    ctx.expect(NAME, "CORE-005", why);
    if let Err(e) = life.finish().await {
        ctx.fail(
            NAME,
            "CORE-031",
            format!("after a failed startup the middleware did not return: {e}"),
        );
    }
    let shutdown_sent = h
        .record
        .get()
        .life_received
        .contains(&LifespanReceive::Shutdown);
    ctx.expect(
        NAME,
        "LIFE-003",
        shutdown_sent.then(|| {
            "after the inner app's StartupFailed, the middleware sent it Shutdown; expected no Shutdown after a failed startup".to_owned()
        }),
    );
    ctx.validated(NAME, &h, &["LIFE-002"]);
    ctx.rows
}

/// An inner app without lifespan: `Unsupported` passes through, or a
/// middleware that acts on lifespan completes the protocol itself.
pub(crate) async fn inner_unsupported(config: &Config) -> Vec<Row> {
    const NAME: &str = "lifespan/inner-unsupported";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(
        HttpPlan::Respond(standard_response()),
        LifePlan::Unsupported,
    );
    let builder = StateBuilder::new();
    let mut life = h.client.lifespan_with(builder.clone());
    let startup = life.startup().await;
    let called = h.record.calls(ScopeKind::Lifespan) > 0;
    ctx.expect(
        NAME,
        "LIFE-008",
        (!called).then(|| "the inner app was never called for the lifespan".to_owned()),
    );
    match startup {
        Ok(StartupOutcome::Unsupported) => {
            ctx.pass(NAME, "LIFE-007");
            // Only right for a middleware that does nothing with lifespan.
            let stored = builder.freeze().len();
            ctx.expect(
                NAME,
                "LIFE-014",
                (stored > 0).then(|| {
                    format!(
                        "the middleware stored {stored} lifespan state value(s) but passed the inner app's Error::Unsupported upstream, so the server goes on without lifespan; expected it to complete the lifespan protocol itself"
                    )
                }),
            );
        }
        Ok(StartupOutcome::Complete(_)) => {
            let shutdown = life.shutdown().await;
            ctx.expect(
                NAME,
                "LIFE-014",
                (!matches!(shutdown, Ok(ShutdownOutcome::Complete))).then(|| {
                    format!("the middleware completed startup for an inner app without lifespan, then answered Shutdown with {shutdown:?}")
                }),
            );
        }
        other => ctx.fail(
            NAME,
            "LIFE-007",
            format!(
                "the inner app returned Error::Unsupported, the client got {other:?}; expected Unsupported passed on (or, from a middleware that acts on lifespan, a completed startup, LIFE-014)"
            ),
        ),
    }
    drop(life.finish().await);
    ctx.validated(NAME, &h, &["LIFE-002", "LIFE-005"]);
    ctx.rows
}

/// The middleware's own startup failure, when the author says how to cause it.
pub(crate) async fn own_failure(config: &Config) -> Vec<Row> {
    const NAME: &str = "lifespan/own-failure";
    let mut ctx = Ctx::new(config);
    let Some((layer, message)) = config.failing_startup.clone() else {
        ctx.skip(
            NAME,
            "LIFE-009",
            "no failing configuration declared with .fails_startup(..)",
        );
        return ctx.rows;
    };
    let h = ctx.harness_with(
        HttpPlan::Respond(standard_response()),
        LifePlan::Normal,
        move |inner| layer(inner),
    );
    let mut life = h.client.lifespan();
    let startup = life.startup().await;
    let why = match &startup {
        Ok(StartupOutcome::Failed(m)) if m.contains(&message) => None,
        other => Some(format!(
            "the middleware's own startup failure should reach the client as StartupFailed containing {message:?}; it got {other:?}"
        )),
    };
    ctx.expect(NAME, "LIFE-009", why);
    let inner_called = h.record.calls(ScopeKind::Lifespan) > 0
        && h.record
            .get()
            .life_received
            .contains(&LifespanReceive::Startup);
    ctx.expect(
        NAME,
        "LIFE-009",
        inner_called.then(|| {
            "after its own startup failure the middleware still passed Startup to the inner app"
                .to_owned()
        }),
    );
    drop(life.finish().await);
    ctx.validated(NAME, &h, &["LIFE-002"]);
    ctx.rows
}

/// An inner app that takes its time to answer each phase: the client gets
/// `StartupComplete` and `ShutdownComplete` only after the inner app sent
/// them (a middleware answers for its inner app only once it answered,
/// rules `LIFE-012` and `LIFE-013`, the router's rules for its one
/// mounted app).
pub(crate) async fn slow_answers(config: &Config) -> Vec<Row> {
    const NAME: &str = "lifespan/slow-answers";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(
        HttpPlan::Respond(standard_response()),
        LifePlan::Slow(std::time::Duration::from_millis(40)),
    );
    let mut life = h.client.lifespan_with(outer_builder());
    let startup = life.startup().await;
    let answered = |h: &crate::suite::ctx::Harness, answer: &LifespanSend| {
        h.record.get().life_answered.contains(answer)
    };
    let inner_started = answered(&h, &LifespanSend::StartupComplete);
    ctx.expect(
        NAME,
        "LIFE-012",
        match &startup {
            Ok(StartupOutcome::Complete(_)) if inner_started => None,
            Ok(StartupOutcome::Complete(_)) => Some(
                "the client got StartupComplete before the inner app (slow to start) had answered Startup; expected the middleware to answer only once its inner app completed startup".to_owned(),
            ),
            other => Some(format!(
                "the inner app answered StartupComplete after a delay, the client got {other:?}"
            )),
        },
    );
    if matches!(startup, Ok(StartupOutcome::Complete(_))) {
        let shutdown = life.shutdown().await;
        let inner_stopped = answered(&h, &LifespanSend::ShutdownComplete);
        ctx.expect(
            NAME,
            "LIFE-013",
            match &shutdown {
                Ok(ShutdownOutcome::Complete) if inner_stopped => None,
                Ok(ShutdownOutcome::Complete) => Some(
                    "the client got ShutdownComplete before the inner app (slow to stop) had answered Shutdown; expected the middleware to wait for its inner app".to_owned(),
                ),
                other => Some(format!(
                    "the inner app answered ShutdownComplete after a delay, the client got {other:?}"
                )),
            },
        );
    }
    drop(life.finish().await);
    ctx.validated(NAME, &h, &["LIFE-002", "LIFE-005", "LIFE-006"]);
    ctx.rows
}

/// The inner app's shutdown fails: the client gets `ShutdownFailed` with
/// its message (rules `CORE-005`, `LIFE-013`), not a `ShutdownComplete`.
pub(crate) async fn failing_shutdown(config: &Config) -> Vec<Row> {
    const NAME: &str = "lifespan/failing-shutdown";
    const MESSAGE: &str = "inner app: could not flush the journal";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(
        HttpPlan::Respond(standard_response()),
        LifePlan::FailShutdown(MESSAGE),
    );
    let mut life = h.client.lifespan_with(outer_builder());
    match life.startup().await {
        Ok(StartupOutcome::Complete(_)) => {
            let shutdown = life.shutdown().await;
            let why = match &shutdown {
                Ok(ShutdownOutcome::Failed(m)) if m.contains(MESSAGE) => None,
                other => Some(format!(
                    "the inner app answered ShutdownFailed({MESSAGE:?}), the client got {other:?}; expected the failure and its message to come back"
                )),
            };
            ctx.expect(NAME, "LIFE-013", why.clone());
            ctx.expect(NAME, "CORE-005", why);
        }
        other => ctx.fail(
            NAME,
            "CORE-005",
            format!("the inner app completed startup, the client got {other:?}"),
        ),
    }
    drop(life.finish().await);
    ctx.validated(NAME, &h, &["LIFE-002", "LIFE-005", "LIFE-006"]);
    ctx.rows
}

/// The inner app returns `Ok(())` before answering `Startup`: that is a
/// startup failure (rule `LIFE-015`), so the middleware must not report a
/// completed startup for it.
pub(crate) async fn inner_returns_early(config: &Config) -> Vec<Row> {
    const NAME: &str = "lifespan/inner-returns-early";
    let mut ctx = Ctx::new(config);
    for (plan, rule, returned) in [
        (LifePlan::ReturnsEarly, "LIFE-015", "Ok(())"),
        (
            LifePlan::ErrorBeforeAnswer,
            "LIFE-007",
            "an error other than Unsupported",
        ),
    ] {
        let h = ctx.harness(HttpPlan::Respond(standard_response()), plan);
        let mut life = h.client.lifespan_with(outer_builder());
        let startup = life.startup().await;
        ctx.expect(
            NAME,
            rule,
            match &startup {
                Ok(StartupOutcome::Complete(_) | StartupOutcome::Unsupported) => Some(format!(
                    "the inner app returned {returned} before answering Startup, a startup failure, yet the client got {startup:?}; expected the failure passed on (the early return, or StartupFailed)"
                )),
                Err(e) => Some(format!("the lifespan call did not end: {e}")),
                _ => None,
            },
        );
        drop(life.finish().await);
        // The inner app's early return is its own LIFE-002 violation, and
        // the middleware's when passed on.
        ctx.validated_except(NAME, &h, &[], &["LIFE-002"]);
    }
    ctx.rows
}
