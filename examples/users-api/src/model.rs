//! The model: users in SQLite. Every query runs through [`Pool::call`],
//! so on tokio's blocking pool, never on a worker thread.

use rgi_middleware_examples::{DbError, Pool};
use rusqlite::{params, ErrorCode, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

/// The schema, shared with the blocking rusqlite example (issue 19): one
/// `users` table, email unique.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL DEFAULT (datetime('now')))";

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its email, unique among users.
    pub email: String,
    /// When it was created (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub created_at: String,
}

/// The fields of a user a client sends: both to create or replace, either
/// to change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFields {
    /// The name.
    pub name: Option<String>,
    /// The email.
    pub email: Option<String>,
}

/// One page of users, and how many there are in all.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The users on this page, by id.
    pub users: Vec<User>,
    /// How many users there are.
    pub total: i64,
    /// The page size asked for.
    pub limit: i64,
    /// How many users come before this page.
    pub offset: i64,
}

/// Why a model call failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Another user has this email.
    #[error("a user with email {0:?} already exists")]
    DuplicateEmail(String),
    /// Anything else from the database: a 500.
    #[error(transparent)]
    Db(#[from] DbError),
}

const COLUMNS: &str = "id, name, email, created_at";

fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        email: row.get(2)?,
        created_at: row.get(3)?,
    })
}

/// The users, a page at a time (by id).
pub async fn list(pool: &Pool, limit: i64, offset: i64) -> Result<Page, ModelError> {
    let page = pool
        .call(move |db| {
            let total = db.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
            let mut stmt = db.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM users ORDER BY id LIMIT ?1 OFFSET ?2"
            ))?;
            let users = stmt
                .query_map(params![limit, offset], user)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Page {
                users,
                total,
                limit,
                offset,
            })
        })
        .await?;
    Ok(page)
}

/// The user with `id`, if there is one.
pub async fn get(pool: &Pool, id: i64) -> Result<Option<User>, ModelError> {
    let found = pool
        .call(move |db| {
            db.query_row(
                &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user,
            )
            .optional()
        })
        .await?;
    Ok(found)
}

/// Creates a user.
pub async fn create(pool: &Pool, name: String, email: String) -> Result<User, ModelError> {
    let result = pool
        .call({
            let email = email.clone();
            move |db| {
                db.query_row(
                    &format!("INSERT INTO users (name, email) VALUES (?1, ?2) RETURNING {COLUMNS}"),
                    params![name, email],
                    user,
                )
            }
        })
        .await;
    duplicate_email(result, email)
}

/// Changes the fields given of user `id`; `None` if there is no such user.
pub async fn update(pool: &Pool, id: i64, fields: UserFields) -> Result<Option<User>, ModelError> {
    let email = fields.email.clone().unwrap_or_default();
    let result = pool
        .call(move |db| {
            db.query_row(
                &format!(
                    "UPDATE users SET name = coalesce(?2, name), email = coalesce(?3, email) \
                     WHERE id = ?1 RETURNING {COLUMNS}"
                ),
                params![id, fields.name, fields.email],
                user,
            )
            .optional()
        })
        .await;
    duplicate_email(result, email)
}

/// Deletes user `id`; whether there was one.
pub async fn delete(pool: &Pool, id: i64) -> Result<bool, ModelError> {
    let deleted = pool
        .call(move |db| db.execute("DELETE FROM users WHERE id = ?1", [id]))
        .await?;
    Ok(deleted > 0)
}

/// A unique-constraint failure (the only unique column is `email`) as
/// [`ModelError::DuplicateEmail`].
fn duplicate_email<T>(result: Result<T, DbError>, email: String) -> Result<T, ModelError> {
    match result {
        Err(DbError::Sqlite(rusqlite::Error::SqliteFailure(err, _)))
            if err.code == ErrorCode::ConstraintViolation
                && err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            Err(ModelError::DuplicateEmail(email))
        }
        other => Ok(other?),
    }
}
