//! `Stack` builds outermost first (rule `CORE-002`): the first layer pushed
//! sees the call first and the response last.

mod common;

use common::{run, Log, Recorder, Script};
use rgi::http::{Method, StatusCode, Uri};
use rgi::{
    App, AppResult, BoxApp, Conn, HttpConn, HttpReceive, HttpScope, HttpSend, InspectSend,
    ResponseStart, Stack,
};

/// Logs `"<name> in"` when called and `"<name> saw start"` when the
/// response's `Start` passes through it on the way out.
struct Tracer {
    name: &'static str,
    log: Log,
    inner: BoxApp,
}

impl App for Tracer {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        self.log.push(format!("{} in", self.name));
        let Conn::Http(http) = conn else {
            return self.inner.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let (name, log) = (self.name, self.log.clone());
        let mut sender = InspectSend::new(sender, move |event: &HttpSend| {
            if matches!(event, HttpSend::Start(_)) {
                log.push(format!("{name} saw start"));
            }
        });
        self.inner
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

struct Leaf(Log);

impl App for Leaf {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        self.0.push("leaf");
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        http.send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .await?;
        Ok(http.send(HttpSend::body("")).await?)
    }
}

fn tracer(name: &'static str, log: &Log) -> impl Fn(BoxApp) -> BoxApp + Send + Sync + 'static {
    let log = log.clone();
    move |inner| {
        rgi::boxed(Tracer {
            name,
            log: log.clone(),
            inner,
        })
    }
}

fn call(app: &BoxApp) -> Recorder<HttpSend> {
    let mut scope = HttpScope::new(Method::GET, Uri::from_static("/")).unwrap();
    let mut receiver = Script::new([HttpReceive::Body {
        data: Default::default(),
        more: false,
    }]);
    let mut sender = Recorder::new();
    run(app.call(HttpConn::new(&mut scope, &mut receiver, &mut sender).into())).unwrap();
    sender
}

#[test]
fn first_layer_pushed_is_outermost() {
    let log = Log::default();
    let app = Stack::new()
        .push(tracer("first", &log))
        .push(tracer("second", &log))
        .push(tracer("third", &log))
        .build(rgi::boxed(Leaf(log.clone())));
    let sender = call(&app);
    assert_eq!(
        log.entries(),
        [
            "first in",
            "second in",
            "third in",
            "leaf",
            "third saw start",
            "second saw start",
            "first saw start",
        ]
    );
    assert_eq!(
        sender.events.len(),
        2,
        "the response reached the server whole"
    );
}

#[test]
fn stack_equals_hand_nesting() {
    let by_stack = Log::default();
    let app = Stack::new()
        .push(tracer("a", &by_stack))
        .push(tracer("b", &by_stack))
        .build(rgi::boxed(Leaf(by_stack.clone())));
    call(&app);

    let by_hand = Log::default();
    let app = tracer("a", &by_hand)(tracer("b", &by_hand)(rgi::boxed(Leaf(by_hand.clone()))));
    call(&app);

    assert_eq!(by_stack.entries(), by_hand.entries());
}

#[test]
fn empty_stack_is_the_app_itself() {
    let log = Log::default();
    let stack = Stack::new();
    assert!(stack.is_empty());
    assert_eq!(stack.len(), 0);
    let app = stack.build(rgi::boxed(Leaf(log.clone())));
    call(&app);
    assert_eq!(log.entries(), ["leaf"]);
}

#[test]
fn len_counts_layers() {
    let log = Log::default();
    let stack = Stack::new().push(tracer("a", &log)).push(tracer("b", &log));
    assert_eq!(stack.len(), 2);
    assert!(!stack.is_empty());
}

#[test]
fn non_http_calls_pass_every_layer() {
    let log = Log::default();
    let app = Stack::new()
        .push(tracer("a", &log))
        .push(tracer("b", &log))
        .build(rgi::boxed(Leaf(log.clone())));
    let mut receiver = Script::<rgi::LifespanReceive>::new([]);
    let mut sender = Recorder::<rgi::LifespanSend>::new();
    let mut scope = rgi::LifespanScope::default();
    let conn = rgi::LifespanConn::new(&mut scope, &mut receiver, &mut sender);
    let err = run(app.call(conn.into())).unwrap_err();
    assert!(
        rgi::Error::is_unsupported(&*err),
        "the leaf's answer came back up unchanged"
    );
    assert_eq!(log.entries(), ["a in", "b in", "leaf"]);
}
