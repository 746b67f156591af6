//! ordering: in an `rgi::Stack`, the first layer is the outermost (rule
//! `CORE-002`), with the middleware under test in the middle.

use std::sync::{Arc, Mutex, PoisonError};

use http::Method;
use rgi::{App, AppResult, BoxApp, Conn, HttpConn, HttpSend, InspectSend, Stack};

use crate::report::Row;
use crate::suite::ctx::Ctx;
use crate::suite::inner::{HttpPlan, LifePlan};
use crate::suite::Config;

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, entry: String) {
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(entry);
}

/// Logs `name:call` when called and `name:start` when the response start
/// passes through it on the way out.
struct Tracer {
    name: &'static str,
    log: Log,
    inner: BoxApp,
}

impl App for Tracer {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        push(&self.log, format!("{}:call", self.name));
        let (scope, receiver, sender) = http.into_parts();
        let (log, name) = (self.log.clone(), self.name);
        let mut sender = InspectSend::new(sender, move |event: &HttpSend| {
            if matches!(event, HttpSend::Start(_)) {
                push(&log, format!("{name}:start"));
            }
        });
        self.inner
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

fn tracer(name: &'static str, log: Log) -> impl Fn(BoxApp) -> BoxApp + Send + Sync + 'static {
    move |inner| {
        rgi::boxed(Tracer {
            name,
            log: log.clone(),
            inner,
        })
    }
}

/// `Stack [outer tracer, middleware, inner tracer]` around the app: calls go
/// outer → inner, the response start comes back inner → outer.
pub(crate) async fn stack(config: &Config) -> Vec<Row> {
    const NAME: &str = "ordering/stack";
    let mut ctx = Ctx::new(config);
    let log: Log = Arc::default();
    let layer = config.layer.clone();
    let tracer_log = log.clone();
    let h = ctx.harness_with(HttpPlan::Trace(log.clone()), LifePlan::Normal, move |app| {
        let layer = layer.clone();
        Stack::new()
            .push(tracer("outer", tracer_log.clone()))
            .push(move |inner: BoxApp| layer(inner))
            .push(tracer("inner", tracer_log.clone()))
            .build(app)
    });
    let result = h.client.send(ctx.rich_request(Method::GET)).await;
    let got = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let want = [
        "outer:call",
        "inner:call",
        "app:call",
        "app:start",
        "inner:start",
        "outer:start",
    ];
    let why = match result {
        Err(e) => Some(format!("the exchange through the stack failed: {e}")),
        Ok(_) if got == want => None,
        Ok(_) => Some(format!(
            "in Stack [outer tracer, middleware, inner tracer] the trace was {got:?}; expected {want:?} (the first layer pushed is the outermost)"
        )),
    };
    ctx.expect(NAME, "CORE-002", why);
    ctx.validated(NAME, &h, &[]);
    ctx.rows
}
