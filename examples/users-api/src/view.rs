//! The view: how users and errors look as JSON (the seed's `View`).

use serde_json::{json, Value};

use crate::model::{Page, User};

/// `{"user": {...}}`.
pub fn user(user: &User) -> Value {
    json!({ "user": user })
}

/// `{"users": [...], "total": n, "limit": n, "offset": n}`.
pub fn page(page: &Page) -> Value {
    json!(page)
}

/// `{"error": message}`.
pub fn error(message: &str) -> Value {
    json!({ "error": message })
}
