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
/// The trait is object-safe: `Arc<dyn App>` is an app ([`BoxApp`]).
///
/// ```
/// use rgi::{App, AppResult, Conn};
///
/// /// The do-nothing middleware.
/// struct Noop<A>(A);
///
/// #[rgi::async_trait]
/// impl<A: App> App for Noop<A> {
///     async fn call(&self, conn: Conn<'_>) -> AppResult {
///         self.0.call(conn).await
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait App: Send + Sync + 'static {
    /// Handles one connection-scope to the end. `Ok(())` once the scope is
    /// complete (the response fully sent, the socket closed, the lifespan
    /// shut down); `Err` otherwise (see `spec/README.md`, "Errors").
    async fn call(&self, conn: Conn<'_>) -> AppResult;
}

/// A shared, type-erased app: what stacks built at run time are made of.
pub type BoxApp = Arc<dyn App>;

/// The future an [`App`] returns once type-erased.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

// Forwarding impls hand back the inner future as it is: no second box.
impl<A: App + ?Sized> App for Arc<A> {
    fn call<'s, 'c, 'f>(&'s self, conn: Conn<'c>) -> BoxFuture<'f, AppResult>
    where
        's: 'f,
        'c: 'f,
        Self: 'f,
    {
        (**self).call(conn)
    }
}

impl<A: App + ?Sized> App for Box<A> {
    fn call<'s, 'c, 'f>(&'s self, conn: Conn<'c>) -> BoxFuture<'f, AppResult>
    where
        's: 'f,
        'c: 'f,
        Self: 'f,
    {
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
/// #[rgi::async_trait]
/// impl App for Hello {
///     async fn call(&self, conn: Conn<'_>) -> AppResult { conn.unsupported() }
/// }
/// struct Noop(BoxApp);
/// #[rgi::async_trait]
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
