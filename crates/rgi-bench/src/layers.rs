//! The middleware the micro-benchmarks measure, and the minimal app they
//! wrap. Each layer does as little as its kind allows, so a bench sees the
//! interface's cost and not the layer's work.

use std::hint::black_box;

use bytes::Bytes;
use http::StatusCode;
use rgi::{
    App, AppResult, BoxApp, Conn, HttpConn, HttpSend, InspectSend, MapSend, ResponseStart,
    SenderExt, Stack,
};

/// The smallest complete HTTP app: a `200` with no headers and a static
/// body, two events, no allocation of its own.
#[derive(Debug, Default, Clone, Copy)]
pub struct MinimalApp;

impl App for MinimalApp {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return conn.unsupported();
        };
        http.sender
            .send(HttpSend::Start(ResponseStart::new(StatusCode::OK)))
            .await?;
        http.sender
            .send(HttpSend::body(Bytes::from_static(b"ok")))
            .await?;
        Ok(())
    }
}

/// A pass-through layer written the usual way, with `async fn`. Composed by
/// type (`PassThrough<PassThrough<MinimalApp>>`, see [`nested`](crate::nested))
/// it is not boxed; in a run-time [`Stack`] each layer's inner app is a
/// [`BoxApp`], which boxes the inner call's future.
#[derive(Debug)]
pub struct PassThrough<A>(pub A);

impl<A: App> App for PassThrough<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        self.0.call(conn).await
    }
}

/// A layer that watches every response event through [`InspectSend`] (the
/// timing / access-log shape).
#[derive(Debug)]
pub struct InspectLayer<A>(pub A);

impl<A: App> App for InspectLayer<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = InspectSend::new(sender, |event: &HttpSend| {
            black_box(event);
        });
        self.0
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

/// A layer that rewrites every response event through [`MapSend`] (the
/// header-adding shape), here with a map that returns the event unchanged.
#[derive(Debug)]
pub struct MapLayer<A>(pub A);

impl<A: App> App for MapLayer<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(http) = conn else {
            return self.0.call(conn).await;
        };
        let (scope, receiver, sender) = http.into_parts();
        let mut sender = MapSend::new(sender, |event: HttpSend| black_box(event));
        self.0
            .call(HttpConn::new(scope, receiver, &mut sender).into())
            .await
    }
}

/// `app` wrapped in one `$layer` (a tuple struct) per token after the `;`,
/// composed by type: `nested!(PassThrough, MinimalApp; x x)` is
/// `PassThrough(PassThrough(MinimalApp))`. A depth must be written out
/// because each depth is its own type.
#[macro_export]
macro_rules! nested {
    ($layer:ident, $app:expr; ) => { $app };
    ($layer:ident, $app:expr; $_one:tt $($rest:tt)*) => {
        $layer($crate::nested!($layer, $app; $($rest)*))
    };
}

/// A function that wraps an app in one layer.
pub type LayerFn = fn(BoxApp) -> BoxApp;

/// `app` wrapped in `depth` layers made by `layer`, as a run-time
/// [`Stack`] builds it (every layer holds a [`BoxApp`]).
pub fn stack_of(depth: usize, layer: LayerFn, app: BoxApp) -> BoxApp {
    (0..depth)
        .fold(Stack::new(), |stack, _| stack.push(layer))
        .build(app)
}

/// Wraps in a [`PassThrough`].
pub fn pass_through(inner: BoxApp) -> BoxApp {
    rgi::boxed(PassThrough(inner))
}

/// Wraps in an [`InspectLayer`].
pub fn inspect_layer(inner: BoxApp) -> BoxApp {
    rgi::boxed(InspectLayer(inner))
}

/// Wraps in a [`MapLayer`].
pub fn map_layer(inner: BoxApp) -> BoxApp {
    rgi::boxed(MapLayer(inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{run_http, CountingSender, ScriptedReceiver};
    use http::{Method, Uri};
    use rgi::HttpScope;

    #[test]
    fn every_layer_kind_passes_the_response_through() {
        let layers: [(&str, LayerFn); 3] = [
            ("pass_through", pass_through),
            ("inspect", inspect_layer),
            ("map", map_layer),
        ];
        for (name, layer) in layers {
            for depth in [0, 1, 10] {
                let app = stack_of(depth, layer, rgi::boxed(MinimalApp));
                let scope = HttpScope::new(Method::GET, Uri::from_static("/")).unwrap();
                let mut sender = CountingSender::default();
                run_http(&*app, scope, &mut ScriptedReceiver::empty(), &mut sender)
                    .expect("completes in one poll")
                    .unwrap();
                assert_eq!(sender.status, Some(StatusCode::OK), "{name} x{depth}");
                assert_eq!(
                    (sender.events, sender.body_bytes),
                    (2, 2),
                    "{name} x{depth}"
                );
            }
        }
    }

    #[test]
    fn layers_composed_by_type_pass_the_response_through() {
        fn check(app: &impl App, what: &str) {
            let scope = HttpScope::new(Method::GET, Uri::from_static("/")).unwrap();
            let mut sender = CountingSender::default();
            run_http(app, scope, &mut ScriptedReceiver::empty(), &mut sender)
                .expect("completes in one poll")
                .unwrap();
            assert_eq!((sender.events, sender.body_bytes), (2, 2), "{what}");
        }
        check(
            &crate::nested!(PassThrough, MinimalApp; x x x),
            "pass-through x3",
        );
        check(
            &crate::nested!(InspectLayer, MinimalApp; x x x),
            "inspect x3",
        );
        check(&crate::nested!(MapLayer, MinimalApp; x x x), "map x3");
    }
}
