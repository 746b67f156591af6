//! A users table on SQLite through rusqlite, written the blocking way: a
//! plain function per route, a connection checked out for the request,
//! queries that block their thread (the adapter keeps them off the
//! server's runtime). The schema and file are the `users-api` example's.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /users?limit=N&offset=M` | `200`, a JSON array, by id |
//! | `GET /users/ID` | `200` the user, `404` |
//! | `POST /users` `{"name", "email"}` | `201` the user, `400` bad JSON or field, `409` email taken, `413` over 64 KiB |
//! | `DELETE /users/ID` | `204`, `404` |

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use rgi::BoxError;
use rgi_blocking::{Handler, Request, Response};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

/// The schema the `users-api` example uses: the same file serves both.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL DEFAULT (datetime('now')))";

/// The largest request body read, in bytes.
pub const MAX_BODY: u64 = 64 * 1024;

/// The users routes, as a blocking [`Handler`] (mounted at `/users`).
#[derive(Debug)]
pub struct Users {
    path: PathBuf,
    /// Connections not in use. At most one per pool thread is ever open,
    /// since a request holds one only while it runs.
    idle: Mutex<Vec<Connection>>,
}

impl Users {
    /// Opens (creating if needed) the database at `path` and its table.
    pub fn open(path: impl Into<PathBuf>) -> rusqlite::Result<Self> {
        let path = path.into();
        let conn = open(&path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            path,
            idle: Mutex::new(vec![conn]),
        })
    }

    fn checkout(&self) -> rusqlite::Result<Checkout<'_>> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open(&self.path)?,
        };
        Ok(Checkout {
            users: self,
            conn: Some(conn),
        })
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // Another connection writing makes this one wait, not fail.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// A connection back in the idle list when the request is done.
struct Checkout<'a> {
    users: &'a Users,
    conn: Option<Connection>,
}

impl std::ops::Deref for Checkout<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Only `drop` takes it out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self
                .users
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            idle.push(conn);
        }
    }
}

impl Handler for Users {
    fn handle(&self, mut request: Request, response: &mut Response) -> Result<(), BoxError> {
        let conn = self.checkout()?;
        let path = request.scope.route_path().trim_end_matches('/');
        let id = path.strip_prefix('/').map(str::parse::<i64>);
        let (status, body) = match (&request.scope.method, id) {
            (&Method::GET, None) => list(&conn, request.scope.query_string())?,
            (&Method::POST, None) => match read_json(&mut request)? {
                Ok(value) => create(&conn, &value)?,
                Err(answer) => answer,
            },
            (&Method::GET, Some(Ok(id))) => match get(&conn, id)? {
                Some(user) => (StatusCode::OK, user),
                None => not_found(id),
            },
            (&Method::DELETE, Some(Ok(id))) => {
                match conn.execute("DELETE FROM users WHERE id = ?1", params![id])? {
                    0 => not_found(id),
                    _ => (StatusCode::NO_CONTENT, Value::Null),
                }
            }
            (_, Some(Err(_))) => (StatusCode::NOT_FOUND, json!({"error": "no such route"})),
            _ => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"error": "method not allowed"}),
            ),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body)?
        };
        response.send(status, headers, body)?;
        Ok(())
    }
}

type Answer = (StatusCode, Value);

fn not_found(id: i64) -> Answer {
    (
        StatusCode::NOT_FOUND,
        json!({"error": format!("no user {id}")}),
    )
}

fn user(row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": row.get::<_, i64>(0)?,
        "name": row.get::<_, String>(1)?,
        "email": row.get::<_, String>(2)?,
        "created_at": row.get::<_, String>(3)?,
    }))
}

fn list(conn: &Connection, query: &[u8]) -> rusqlite::Result<Answer> {
    let query = String::from_utf8_lossy(query);
    let param = |name: &str, default: i64, max: i64| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.parse::<i64>().ok())
            .map_or(default, |n| n.clamp(0, max))
    };
    let (limit, offset) = (param("limit", 50, 500), param("offset", 0, i64::MAX));
    let mut statement = conn.prepare_cached(
        "SELECT id, name, email, created_at FROM users ORDER BY id LIMIT ?1 OFFSET ?2",
    )?;
    let users = statement
        .query_map(params![limit, offset], user)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((StatusCode::OK, Value::Array(users)))
}

fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Value>> {
    conn.query_row(
        "SELECT id, name, email, created_at FROM users WHERE id = ?1",
        params![id],
        user,
    )
    .optional()
}

fn create(conn: &Connection, value: &Value) -> rusqlite::Result<Answer> {
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::trim);
    let (Some(name), Some(email)) = (field("name"), field("email")) else {
        return Ok((
            StatusCode::BAD_REQUEST,
            json!({"error": "name and email are required strings"}),
        ));
    };
    if name.is_empty() || !email.contains('@') {
        return Ok((
            StatusCode::BAD_REQUEST,
            json!({"error": "a non-empty name and an email with @ are required"}),
        ));
    }
    let inserted = conn.execute(
        "INSERT INTO users (name, email) VALUES (?1, ?2)",
        params![name, email],
    );
    match inserted {
        Ok(_) => {
            let created = get(conn, conn.last_insert_rowid())?.unwrap_or(Value::Null);
            Ok((StatusCode::CREATED, created))
        }
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Ok((
                StatusCode::CONFLICT,
                json!({"error": format!("{email} is already taken")}),
            ))
        }
        Err(e) => Err(e),
    }
}

/// The body as JSON, or the answer for a body that is too large or not
/// JSON. Reads at most [`MAX_BODY`] + 1 bytes, whatever the client sends.
fn read_json(request: &mut Request) -> std::io::Result<Result<Value, Answer>> {
    let mut body = Vec::new();
    (&mut request.body)
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)?;
    if body.len() as u64 > MAX_BODY {
        let error = json!({"error": format!("the body is over {MAX_BODY} bytes")});
        return Ok(Err((StatusCode::PAYLOAD_TOO_LARGE, error)));
    }
    Ok(serde_json::from_slice(&body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            json!({"error": format!("malformed JSON: {e}")}),
        )
    }))
}
