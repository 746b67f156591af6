//! The [`App`] trait, boxed apps, and stacks built at run time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::conn::Conn;
use crate::error::AppResult;

/// An rgi application, and equally a middleware: a middleware is an app
/// that holds an inner app and calls it.
///
/// The server calls [`call`](App::call) once per connection-scope (one HTTP
/// request, one WebSocket, one lifespan), concurrently from many tasks, so
/// an app is `Send + Sync` and shared (rule `CORE-001`). The returned
/// future is `Send`, and dropping it is cancellation (rule `CORE-030`).
///
/// Implement it with a plain `async fn`. Nothing is boxed: a stack of
/// middleware composed by type (`Timing<Auth<Router>>`) is one future, as
/// cheap as the code it runs. For stacks assembled at run time, any app is
/// also a [`DynApp`], and [`BoxApp`] (`Arc<dyn DynApp>`) is an app: one box
/// per call at each type-erased boundary, nowhere else.
///
/// ```
/// use rgi::{App, AppResult, Conn};
///
/// /// The do-nothing middleware.
/// struct Noop<A>(A);
///
/// impl<A: App> App for Noop<A> {
///     async fn call(&self, conn: Conn<'_>) -> AppResult {
///         self.0.call(conn).await
///     }
/// }
/// ```
pub trait App: Send + Sync + 'static {
    /// Handles one connection-scope to the end. `Ok(())` once the scope is
    /// complete (the response fully sent, the socket closed, the lifespan
    /// shut down); `Err` otherwise (see `spec/README.md`, "Errors").
    ///
    /// Written `async fn call(&self, conn: Conn<'_>) -> AppResult` in an
    /// impl; the compiler checks that the future is `Send`.
    fn call(&self, conn: Conn<'_>) -> impl Future<Output = AppResult> + Send;
}

/// The object-safe form of [`App`], for apps chosen at run time: every app
/// is one, and `dyn DynApp` is an app again. Use it through [`BoxApp`];
/// there is nothing to implement.
pub trait DynApp: Send + Sync + 'static {
    /// [`App::call`] with its future boxed, so that it has one type for
    /// every app.
    fn call_boxed<'s, 'c, 'f>(&'s self, conn: Conn<'c>) -> BoxFuture<'f, AppResult>
    where
        's: 'f,
        'c: 'f;
}

impl<A: App> DynApp for A {
    fn call_boxed<'s, 'c, 'f>(&'s self, conn: Conn<'c>) -> BoxFuture<'f, AppResult>
    where
        's: 'f,
        'c: 'f,
    {
        Box::pin(self.call(conn))
    }
}

impl App for dyn DynApp {
    // An `async fn`, not the box itself: the box's one lifetime cannot name
    // both the app's and the call's, and the wrapper is a pointer and a
    // state byte.
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        self.call_boxed(conn).await
    }
}

/// A shared, type-erased app: what stacks built at run time are made of.
pub type BoxApp = Arc<dyn DynApp>;

/// The future a [`DynApp`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

// Forwarding impls hand back the inner future as it is: no box, no wrapper.
impl<A: App + ?Sized> App for Arc<A> {
    fn call<'s, 'c>(
        &'s self,
        conn: Conn<'c>,
    ) -> impl Future<Output = AppResult> + Send + use<'s, 'c, A> {
        (**self).call(conn)
    }
}

impl<A: App + ?Sized> App for Box<A> {
    fn call<'s, 'c>(
        &'s self,
        conn: Conn<'c>,
    ) -> impl Future<Output = AppResult> + Send + use<'s, 'c, A> {
        (**self).call(conn)
    }
}

/// Turns any app into a [`BoxApp`].
pub fn boxed(app: impl App) -> BoxApp {
    Arc::new(app)
}

/// Something that wraps an app in a middleware, chosen at run time. Any
/// `Fn(BoxApp) -> BoxApp` is a layer.
pub trait Layer: Send + Sync {
    /// Wraps `inner`.
    fn wrap(&self, inner: BoxApp) -> BoxApp;
}

impl<F: Fn(BoxApp) -> BoxApp + Send + Sync> Layer for F {
    fn wrap(&self, inner: BoxApp) -> BoxApp {
        self(inner)
    }
}

/// A middleware stack assembled at run time from a list, like Django's
/// `MIDDLEWARE`: **the first layer is the outermost**. It sees the request
/// first and the response last (rule `CORE-002`).
///
/// ```
/// use rgi::{App, AppResult, BoxApp, Conn, Stack};
///
/// struct Hello;
/// impl App for Hello {
///     async fn call(&self, conn: Conn<'_>) -> AppResult { conn.unsupported() }
/// }
/// struct Noop(BoxApp);
/// impl App for Noop {
///     async fn call(&self, conn: Conn<'_>) -> AppResult { self.0.call(conn).await }
/// }
///
/// let names = ["noop", "noop"]; // from a config file, say
/// let mut stack = Stack::new();
/// for name in names {
///     match name {
///         "noop" => stack = stack.push(|inner: BoxApp| rgi::boxed(Noop(inner))),
///         _ => unreachable!(),
///     }
/// }
/// let app: BoxApp = stack.build(rgi::boxed(Hello));
/// ```
#[derive(Default)]
pub struct Stack {
    layers: Vec<Box<dyn Layer>>,
}

impl Stack {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer inside every layer already pushed.
    #[must_use]
    pub fn push(mut self, layer: impl Layer + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// How many layers the stack has.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the stack has no layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Wraps `app` in every layer, the first pushed outermost.
    pub fn build(self, app: BoxApp) -> BoxApp {
        self.layers
            .iter()
            .rev()
            .fold(app, |inner, layer| layer.wrap(inner))
    }
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("layers", &self.layers.len())
            .finish()
    }
}
