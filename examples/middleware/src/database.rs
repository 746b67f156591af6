//! A lifespan resource: opens a SQLite [`Pool`] at startup, puts it in the
//! lifespan state for every request, and closes it at shutdown, after the
//! inner app has finished its own shutdown.
//!
//! ```no_run
//! # use rgi_middleware_examples::{Database, Pool};
//! # fn demo(app: rgi::BoxApp) {
//! const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)";
//! let app = Database::new(app, "data/app.db").init_sql(SCHEMA);
//! // In a request: `scope.state.get::<Pool>()`, then
//! // `pool.call(|db| db.query_row("SELECT count(*) FROM notes", [], |r| r.get::<_, i64>(0))).await`
//! # }
//! ```
//!
//! Ports seed 002's `DatabaseMiddleware` (and the pool behind seed 000's
//! MVC controller). The seed keeps the pool in `self.pool` and copies it
//! into each request's scope; here it goes into the typed lifespan state
//! once and every request reads `scope.state.get::<Pool>()`. Where the seed
//! stops intercepting after startup (so it never closes its pool when the
//! inner app handles shutdown), this one holds the inner app's shutdown
//! answer, closes the pool, then answers upstream.
//!
//! * If the database cannot open (an unwritable path, a file that is not
//!   a database, a failing `init_sql`), the server is told `StartupFailed`
//!   with SQLite's message and the path, and the inner app is never called
//!   (rule `LIFE-009`).
//! * If the inner app has no lifespan (`Error::Unsupported`), the
//!   middleware finishes the protocol itself so its pool still opens and
//!   closes (rule `LIFE-014`).
//!
//! The lifespan handling is shared with the event bus
//! (`lifespan_resource.rs`): a middleware that holds a resource only says
//! how to open and close it.
//!
//! SQLite through `rusqlite` is blocking: every statement runs on tokio's
//! blocking pool ([`Pool::call`] uses `spawn_blocking`), never on the
//! runtime's worker threads, so a slow query does not stall other requests.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rgi::{App, AppResult, Conn};
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::lifespan_resource::{hold, Resource};

/// Why a database call did not return a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// SQLite refused: a constraint, a syntax error, a locked database.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The pool was closed (the server is shutting down).
    #[error("the database is closed")]
    Closed,
    /// The closure panicked; the connection was rolled back and kept.
    #[error("the database call panicked")]
    Panicked,
}

/// A bounded pool of SQLite connections to one file. Clones share it.
///
/// At most `size` calls run at once, each on tokio's blocking pool with a
/// connection of its own; more wait their turn (fairly) without holding a
/// thread.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    path: PathBuf,
    size: usize,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    open: AtomicBool,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("path", &self.inner.path)
            .field("size", &self.inner.size)
            .field("open", &self.is_open())
            .finish()
    }
}

impl Pool {
    /// Opens `size` connections (at least 1) to the SQLite file at `path`,
    /// creating it if needed, and runs `init_sql` (a schema, say) once.
    /// Blocking: call it from `spawn_blocking`, as [`Database`] does.
    /// The error message names the path.
    pub fn open_blocking(path: &Path, size: usize, init_sql: &str) -> Result<Self, String> {
        let fail = |err: rusqlite::Error| format!("cannot open database {}: {err}", path.display());
        let size = size.max(1);
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            let conn = Connection::open(path).map_err(fail)?;
            // Many readers beside one writer, and a writer waits for the
            // lock instead of failing at once.
            conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(fail)?;
            conn.pragma_update(None, "foreign_keys", true)
                .map_err(fail)?;
            idle.push(conn);
        }
        if !init_sql.is_empty() {
            idle[0].execute_batch(init_sql).map_err(fail)?;
        }
        Ok(Self {
            inner: Arc::new(PoolInner {
                path: path.to_owned(),
                size,
                idle: Mutex::new(idle),
                permits: Arc::new(Semaphore::new(size)),
                open: AtomicBool::new(true),
            }),
        })
    }

    /// The file it opened.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether the pool is still open.
    pub fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Runs `f` with a connection on tokio's blocking pool and returns its
    /// result. If the caller's future is dropped, `f` still runs to its end
    /// and the connection goes back to the pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbError::Closed)?;
        let inner = self.inner.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = inner.lock_idle().pop().ok_or(DbError::Closed)?;
            // A panic unwinds out of `f` (an open transaction is rolled
            // back by its drop); the connection is still good to reuse.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut conn)));
            inner.lock_idle().push(conn);
            match result {
                Ok(result) => Ok(result?),
                Err(_) => Err(DbError::Panicked),
            }
        });
        task.await.unwrap_or(Err(DbError::Panicked))
    }

    /// Waits for the calls in flight, refuses new ones, and closes every
    /// connection, reporting SQLite's errors.
    pub async fn close(&self) -> Result<(), String> {
        let size = u32::try_from(self.inner.size).unwrap_or(u32::MAX);
        // Every permit: no call is in flight once we hold them all.
        let all = self.inner.permits.acquire_many(size).await;
        self.inner.permits.close();
        self.inner.open.store(false, Ordering::Release);
        drop(all);
        let conns = std::mem::take(&mut *self.inner.lock_idle());
        let closing = tokio::task::spawn_blocking(move || {
            let errors: Vec<String> = conns
                .into_iter()
                .filter_map(|conn| conn.close().err().map(|(_, err)| err.to_string()))
                .collect();
            errors
        });
        match closing.await {
            Ok(errors) if errors.is_empty() => Ok(()),
            Ok(errors) => Err(format!("closing the database: {}", errors.join("; "))),
            Err(_) => Err("closing the database panicked".to_owned()),
        }
    }
}

impl PoolInner {
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // Push and pop are single operations: a poisoned lock is consistent.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Opens a SQLite [`Pool`] for the inner app's lifetime.
#[derive(Debug, Clone)]
pub struct Database<A> {
    inner: A,
    path: PathBuf,
    connections: usize,
    init_sql: &'static str,
}

impl<A> Database<A> {
    /// A pool on the SQLite file at `path` (created on first run) for
    /// `inner`: four connections, no schema.
    pub fn new(inner: A, path: impl Into<PathBuf>) -> Self {
        Self {
            inner,
            path: path.into(),
            connections: 4,
            init_sql: "",
        }
    }

    /// SQL run once at startup, before any request: the schema.
    #[must_use]
    pub fn init_sql(mut self, sql: &'static str) -> Self {
        self.init_sql = sql;
        self
    }

    /// How many connections (and so concurrent calls) the pool has.
    #[must_use]
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n.max(1);
        self
    }

    async fn open(&self) -> Result<Pool, String> {
        let (path, size, sql) = (self.path.clone(), self.connections, self.init_sql);
        tokio::task::spawn_blocking(move || Pool::open_blocking(&path, size, sql))
            .await
            .unwrap_or_else(|_| Err("opening the database panicked".to_owned()))
    }
}

impl<A: App> App for Database<A> {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        match conn {
            Conn::Lifespan(lifespan) => hold(&self.inner, lifespan, self.open()).await,
            // Requests find the pool in `scope.state`.
            other => self.inner.call(other).await,
        }
    }
}

impl Resource for Pool {
    async fn close(&self) -> Result<(), String> {
        Pool::close(self).await
    }
}

#[cfg(test)]
mod tests {
    use rgi::http::{HeaderMap, StatusCode};
    use rgi_conformance::{ShutdownOutcome, StartupOutcome, TestClient};

    use super::*;
    use crate::testing::Hello;

    const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS hits (n INTEGER NOT NULL)";

    /// Counts its requests in the database and answers the count so far.
    struct CountsHits;

    impl App for CountsHits {
        async fn call(&self, conn: Conn<'_>) -> AppResult {
            let Conn::Http(mut http) = conn else {
                return conn.unsupported();
            };
            let Some(pool) = http.scope.state.get::<Pool>().cloned() else {
                return Ok(http
                    .respond(StatusCode::OK, HeaderMap::new(), "no pool")
                    .await?);
            };
            let count = pool
                .call(|db| {
                    db.execute("INSERT INTO hits (n) VALUES (1)", [])?;
                    db.query_row("SELECT count(*) FROM hits", [], |row| row.get::<_, i64>(0))
                })
                .await?;
            let body = format!("{count}");
            Ok(http.respond(StatusCode::OK, HeaderMap::new(), body).await?)
        }
    }

    #[tokio::test]
    async fn opens_shares_and_closes_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        // `Hello` answers lifespan itself; the pool wraps around it.
        let client = TestClient::new(Database::new(Hello, dir.path().join("a.db")));
        let mut lifespan = client.lifespan();
        let StartupOutcome::Complete(state) = lifespan.startup().await.unwrap() else {
            panic!("startup failed")
        };
        let pool = state.get::<Pool>().unwrap().clone();
        assert!(pool.is_open());
        assert_eq!(
            pool.call(|db| db.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0)))
                .await
                .unwrap(),
            42
        );
        assert_eq!(
            lifespan.shutdown().await.unwrap(),
            ShutdownOutcome::Complete
        );
        assert!(!pool.is_open());
        assert!(matches!(pool.call(|_| Ok(())).await, Err(DbError::Closed)));
        assert!(lifespan.finish().await.unwrap().exit.is_ok());
    }

    #[tokio::test]
    async fn requests_use_the_database_and_the_file_keeps_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hits.db");
        for expected in ["1", "2"] {
            // A fresh middleware each time: a restart of the server.
            let app = Database::new(CountsHits, &path).init_sql(SCHEMA);
            let client = TestClient::new(app);
            let mut lifespan = client.lifespan();
            // `CountsHits` has no lifespan: the middleware runs it alone.
            let StartupOutcome::Complete(state) = lifespan.startup().await.unwrap() else {
                panic!("startup failed")
            };
            client.set_state(state);
            let response = client.get("/").await.unwrap();
            assert_eq!(response.body(), expected);
            assert_eq!(
                lifespan.shutdown().await.unwrap(),
                ShutdownOutcome::Complete
            );
        }
    }

    #[tokio::test]
    async fn an_unwritable_path_fails_startup_with_sqlites_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("x.db");
        let client = TestClient::new(Database::new(Hello, &path));
        let mut lifespan = client.lifespan();
        let StartupOutcome::Failed(message) = lifespan.startup().await.unwrap() else {
            panic!("startup should fail")
        };
        assert!(message.contains("no-such-dir"), "{message}");
        assert!(
            message.contains("unable to open database file"),
            "{message}"
        );
        let transcript = lifespan.finish().await.unwrap();
        assert!(transcript.exit.is_ok());
    }

    #[tokio::test]
    async fn a_bad_schema_fails_startup() {
        let dir = tempfile::tempdir().unwrap();
        let app = Database::new(Hello, dir.path().join("s.db")).init_sql("CREATE TABLEX nope");
        let client = TestClient::new(app);
        let mut lifespan = client.lifespan();
        let StartupOutcome::Failed(message) = lifespan.startup().await.unwrap() else {
            panic!("startup should fail")
        };
        assert!(message.contains("syntax error"), "{message}");
    }

    #[tokio::test]
    async fn a_panicking_call_keeps_the_connection_and_the_pool_works() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::open_blocking(&dir.path().join("p.db"), 1, SCHEMA).unwrap();
        let failed = pool
            .call(|db| -> rusqlite::Result<()> {
                db.execute("INSERT INTO hits (n) VALUES (1)", [])?;
                panic!("in the middle")
            })
            .await;
        assert!(matches!(failed, Err(DbError::Panicked)));
        // One connection, still there.
        let count = pool
            .call(|db| db.query_row("SELECT count(*) FROM hits", [], |r| r.get::<_, i64>(0)))
            .await
            .unwrap();
        assert_eq!(count, 1);
        pool.close().await.unwrap();
    }

    #[tokio::test]
    async fn calls_run_off_the_runtime_thread() {
        // A current-thread runtime: its one thread is the test's.
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::open_blocking(&dir.path().join("t.db"), 1, "").unwrap();
        let runtime_thread = std::thread::current().id();
        let call_thread = pool
            .call(|_| Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(call_thread, runtime_thread);
        pool.close().await.unwrap();
    }

    #[tokio::test]
    async fn calls_beyond_the_pool_size_wait_and_all_finish() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::open_blocking(&dir.path().join("b.db"), 2, SCHEMA).unwrap();
        let calls = (0..16).map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.call(|db| db.execute("INSERT INTO hits (n) VALUES (1)", []))
                    .await
            })
        });
        for call in calls.collect::<Vec<_>>() {
            call.await.unwrap().unwrap();
        }
        let count = pool
            .call(|db| db.query_row("SELECT count(*) FROM hits", [], |r| r.get::<_, i64>(0)))
            .await
            .unwrap();
        assert_eq!(count, 16);
        assert_eq!(pool.inner.lock_idle().len(), 2);
        pool.close().await.unwrap();
    }
}
