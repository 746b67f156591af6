//! errors and cancellation: inner failures propagate (or become a valid
//! response, if declared); a panic does not break the middleware; dropping
//! the middleware's future drops everything it holds.

use std::sync::Arc;

use http::Method;
use rgi::{HttpSend, ScopeKind};

use crate::declare::Declare;
use crate::report::Row;
use crate::suite::ctx::{Ctx, Harness};
use crate::suite::inner::{standard_response, HttpPlan, LifePlan};
use crate::suite::scenarios::forwards::response_difference;
use crate::suite::Config;
use crate::ClientError;

/// Why a call after a failed or cancelled one is not the inner app's own
/// answer: it must reach the inner app (one more call) and come back as
/// the inner app sent it, not as a response the middleware made up.
async fn recovery(ctx: &Ctx<'_>, h: &Harness, after: &str, attempt: usize) -> Option<String> {
    let calls = h.record.calls(ScopeKind::Http);
    let result: Result<crate::Response, ClientError> =
        h.client.send(ctx.rich_request(Method::GET)).await;
    let reached = h.record.calls(ScopeKind::Http) > calls;
    match result {
        Err(e) => Some(format!(
            "after {after}, call {attempt} through the same middleware failed: {e} (the middleware leaked something it holds per call)"
        )),
        Ok(_) if !reached => Some(format!(
            "after {after}, call {attempt} through the same middleware never reached the inner app (the middleware answered it itself); expected the inner app's own answer"
        )),
        Ok(r) if !(r.is_complete() && r.exit().is_ok()) => Some(format!(
            "after {after}, call {attempt} through the same middleware did not complete: it {}; trace: {}",
            r.exit(),
            r.trace().summary()
        )),
        Ok(r) => response_difference(&standard_response(), &r, ctx.config).map(|why| {
            format!("after {after}, call {attempt} did not come back as the inner app answered: {why}")
        }),
    }
}

/// The inner app fails before `Start`.
pub(crate) async fn before_start(config: &Config) -> Vec<Row> {
    const NAME: &str = "errors/before-start";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(HttpPlan::FailBeforeStart, LifePlan::Normal);
    let handles = ctx.declared().has(&Declare::HandlesErrors);
    let why = match h.client.send(ctx.rich_request(Method::GET)).await {
        Err(e) => Some(format!("the exchange did not finish: {e}")),
        Ok(r) if handles => (!(r.is_complete() && r.exit().is_ok())).then(|| {
            format!(
                "the middleware declares HandlesErrors but answered the inner app's error with an incomplete response (it {}; trace: {})",
                r.exit(),
                r.trace().summary()
            )
        }),
        Ok(r) if r.exit().error().is_some() && r.start().is_none() => None,
        Ok(r) => Some(format!(
            "the inner app failed before starting its response; the middleware {} and the client got {} (expected the error propagated so the server answers 500, or declare HandlesErrors)",
            r.exit(),
            r.trace().summary()
        )),
    };
    ctx.expect(NAME, "CORE-040", why);
    ctx.validated(NAME, &h, &["HTTP-020", "HTTP-022", "CORE-031"]);
    ctx.rows
}

/// The inner app fails after `Start` and one chunk.
pub(crate) async fn after_start(config: &Config) -> Vec<Row> {
    const NAME: &str = "errors/after-start";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(HttpPlan::FailAfterStart, LifePlan::Normal);
    let why = match h.client.send(ctx.rich_request(Method::GET)).await {
        Err(e) => Some(format!("the exchange did not finish: {e}")),
        Ok(r) if r.exit().error().is_some() => None,
        Ok(r) if r.is_complete() && ctx.declared().has(&Declare::ChangesResponseBody) => None,
        Ok(r) => Some(format!(
            "the inner app failed in the middle of its response; the middleware {} (expected the error propagated so the server aborts the connection instead of passing a truncated body as whole)",
            r.exit()
        )),
    };
    ctx.expect(NAME, "CORE-041", why);
    ctx.validated(NAME, &h, &["HTTP-022", "CORE-031"]);
    ctx.rows
}

/// A panic in the inner app does not break the next call.
pub(crate) async fn panic(config: &Config) -> Vec<Row> {
    const NAME: &str = "errors/panic";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(HttpPlan::PanicOnce, LifePlan::Normal);
    // The first call panics inside the inner app; whatever the middleware
    // makes of it is its business (propagate, or answer 500).
    let first = h.client.send(ctx.rich_request(Method::GET)).await;
    let after = format!(
        "the inner app panicked in one call (the middleware {})",
        first
            .as_ref()
            .map_or("hung".to_owned(), |f| f.exit().to_string())
    );
    let why = recovery(&ctx, &h, &after, 1).await;
    ctx.expect(NAME, "CORE-043", why);
    // The panicking call legitimately leaves its response unfinished.
    drop(h.outer.take());
    drop(h.inner.take());
    ctx.rows
}

/// Dropping the middleware's future mid-stream drops the inner app's
/// future and leaks nothing that would block later calls.
pub(crate) async fn cancel(config: &Config) -> Vec<Row> {
    const NAME: &str = "errors/cancel";
    let mut ctx = Ctx::new(config);
    let token = Arc::new(());
    let h = ctx.harness(HttpPlan::HangOnce(token.clone()), LifePlan::Normal);
    // The test and the inner app's plan hold one each; the inner app's
    // running future holds one more.
    let idle = Arc::strong_count(&token);
    let mut exchange = h.client.open(ctx.rich_request(Method::GET));
    let streaming = !ctx.declared().has(&Declare::ChangesResponseBody);
    if streaming {
        // Up to the partial chunk, so the middleware is mid-stream.
        for _ in 0..2 {
            if !matches!(
                exchange.next_event().await,
                Ok(Some(HttpSend::Start(_) | HttpSend::Body { .. }))
            ) {
                break;
            }
        }
    } else {
        ctx.eventually(|| Arc::strong_count(&token) > idle).await;
    }
    let was_alive = Arc::strong_count(&token) > idle;
    drop(exchange.cancel().await);
    // The abort completed, so the middleware's future is gone; whatever it
    // held of the inner app must be gone with it (allow a moment for a
    // middleware that hands the drop to another task).
    let leaked = !ctx.eventually(|| Arc::strong_count(&token) <= idle).await;
    ctx.expect(
        NAME,
        "CORE-030",
        (was_alive && leaked).then(|| {
            "after the middleware's future was dropped mid-stream, the inner app's future was still alive (the middleware keeps it beyond its own future); expected dropping the middleware to drop the inner app".to_owned()
        }),
    );
    let mut why = None;
    for attempt in 1..=3 {
        why = recovery(&ctx, &h, "a call was cancelled mid-stream", attempt).await;
        if why.is_some() {
            break;
        }
    }
    ctx.expect(NAME, "CORE-030", why);
    // The cancelled call legitimately ends unfinished.
    drop(h.outer.take());
    drop(h.inner.take());
    ctx.rows
}

/// The inner app fails before `Start` with a typed error of the protocol
/// (`Error::BodyTooLarge`, what a body-limited app returns): the error
/// comes back with its type, so the server can tell it from an app failure
/// (rule `CORE-044`), unless the middleware declares it answers errors.
pub(crate) async fn typed(config: &Config) -> Vec<Row> {
    const NAME: &str = "errors/typed";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(
        HttpPlan::FailTyped(|| rgi::Error::BodyTooLarge { limit: 1024 }),
        LifePlan::Normal,
    );
    let handles = ctx.declared().has(&Declare::HandlesErrors);
    let why = match h.client.send(ctx.rich_request(Method::GET)).await {
        Err(e) => Some(format!("the exchange did not finish: {e}")),
        Ok(r) if handles && r.is_complete() && r.exit().is_ok() => None,
        Ok(r) => match r.exit().error() {
            Some(e) if matches!(e.downcast_ref::<rgi::Error>(), Some(rgi::Error::BodyTooLarge { limit: 1024 })) => None,
            _ => Some(format!(
                "the inner app returned Error::BodyTooLarge {{ limit: 1024 }} before starting its response; the middleware {} (expected that error passed back with its type, not wrapped, converted or turned into Ok; or declare HandlesErrors)",
                r.exit()
            )),
        },
    };
    ctx.expect(NAME, "CORE-044", why);
    ctx.validated(NAME, &h, &["HTTP-020", "HTTP-022"]);
    ctx.rows
}

/// The inner app returns `Ok(())` without starting a response: the
/// middleware passes that on as it is (no response of its own), so the
/// server answers 500 (rule `CORE-042`), unless it declares it answers
/// errors.
pub(crate) async fn no_response(config: &Config) -> Vec<Row> {
    const NAME: &str = "errors/no-response";
    let mut ctx = Ctx::new(config);
    let h = ctx.harness(HttpPlan::ReturnsEarly, LifePlan::Normal);
    let handles = ctx.declared().has(&Declare::HandlesErrors);
    let why = match h.client.send(ctx.rich_request(Method::GET)).await {
        Err(e) => Some(format!("the exchange did not finish: {e}")),
        Ok(r) if r.start().is_none() => None,
        Ok(r) if handles && r.is_complete() => None,
        Ok(r) => Some(format!(
            "the inner app returned Ok(()) without a response; the client got {} (a response the middleware made up hides the inner app's bug from the server, which answers 500); expected no Start, or declare HandlesErrors",
            r.trace().summary()
        )),
    };
    ctx.expect(NAME, "CORE-042", why);
    // The early Ok is the inner app's violation, and, passed on as it
    // is, the middleware's: both expected here.
    ctx.validated_except(NAME, &h, &[], &["CORE-031"]);
    ctx.rows
}
