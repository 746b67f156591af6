//! The controller: routes a request to its action, reads and checks the
//! input, calls the model, renders with the view (the seed's `Controller`,
//! with update and delete added).

use rgi::http::header::{ALLOW, CONTENT_TYPE, LOCATION};
use rgi::http::{HeaderMap, HeaderValue, Method, StatusCode};
use rgi::{App, AppResult, Conn, Error, HttpConn};
use rgi_middleware_examples::Pool;
use serde_json::Value;

use crate::model::{self, ModelError, UserFields};
use crate::view;

/// The largest request body read, in bytes; larger is a 413.
pub const MAX_BODY: usize = 16 * 1024;
/// The page size when the client gives none, and the largest it may ask.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest page.
pub const MAX_LIMIT: i64 = 100;

/// The users API app: `/users` and `/users/{id}`, and `/health`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Controller;

/// What a request asks for.
enum Route {
    Health,
    Users,
    User(i64),
    NotFound,
}

fn route(path: &str) -> Route {
    match path.trim_end_matches('/') {
        "/health" => Route::Health,
        "/users" => Route::Users,
        rest => match rest.strip_prefix("/users/").map(str::parse) {
            Some(Ok(id)) => Route::User(id),
            _ => Route::NotFound,
        },
    }
}

/// A finished answer: status, JSON body, extra headers.
struct Reply {
    status: StatusCode,
    body: Option<Value>,
    headers: HeaderMap,
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: HeaderMap::new(),
        }
    }

    fn error(status: StatusCode, message: &str) -> Self {
        Self::json(status, view::error(message))
    }

    fn not_found() -> Self {
        Self::error(StatusCode::NOT_FOUND, "not found")
    }

    fn header(mut self, name: rgi::http::HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::try_from(value) {
            self.headers.insert(name, value);
        }
        self
    }
}

impl App for Controller {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            // Lifespan is the database middleware's; no WebSocket here.
            return conn.unsupported();
        };
        let reply = handle(&mut http).await?;
        let mut headers = reply.headers;
        let body = match reply.body {
            Some(body) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                body.to_string()
            }
            None => String::new(),
        };
        Ok(http.respond(reply.status, headers, body).await?)
    }
}

/// Routes and runs one request. `Err` is a failure for the error boundary
/// (a 500, or 413 for a body over [`MAX_BODY`]).
async fn handle(http: &mut HttpConn<'_>) -> Result<Reply, rgi::BoxError> {
    let method = http.scope.method.clone();
    let route = route(http.scope.route_path());
    if let Route::Health = route {
        return Ok(Reply::json(
            StatusCode::OK,
            serde_json::json!({ "status": "ok" }),
        ));
    }
    if let Route::NotFound = route {
        return Ok(Reply::not_found());
    }
    let pool = http
        .scope
        .state
        .get::<Pool>()
        .cloned()
        .ok_or("no database pool in the lifespan state (is the Database middleware there?)")?;
    let reply = match (route, method) {
        (Route::Users, Method::GET | Method::HEAD) => {
            let (limit, offset) = match pagination(http.scope.query_string()) {
                Ok(page) => page,
                Err(message) => return Ok(Reply::error(StatusCode::BAD_REQUEST, message)),
            };
            let page = model::list(&pool, limit, offset).await?;
            Reply::json(StatusCode::OK, view::page(&page))
        }
        (Route::Users, Method::POST) => {
            let fields = match read_fields(http).await? {
                Ok(fields) => fields,
                Err(reply) => return Ok(reply),
            };
            let (Some(name), Some(email)) = (fields.name, fields.email) else {
                return Ok(Reply::error(
                    StatusCode::BAD_REQUEST,
                    "a user needs both \"name\" and \"email\"",
                ));
            };
            match model::create(&pool, name, email).await {
                Ok(user) => Reply::json(StatusCode::CREATED, view::user(&user))
                    .header(LOCATION, &format!("/users/{}", user.id)),
                Err(err) => model_error(err)?,
            }
        }
        (Route::User(id), Method::GET | Method::HEAD) => match model::get(&pool, id).await? {
            Some(user) => Reply::json(StatusCode::OK, view::user(&user)),
            None => Reply::not_found(),
        },
        (Route::User(id), method @ (Method::PUT | Method::PATCH)) => {
            let fields = match read_fields(http).await? {
                Ok(fields) => fields,
                Err(reply) => return Ok(reply),
            };
            if method == Method::PUT && (fields.name.is_none() || fields.email.is_none()) {
                return Ok(Reply::error(
                    StatusCode::BAD_REQUEST,
                    "PUT replaces the user: it needs both \"name\" and \"email\"",
                ));
            }
            match model::update(&pool, id, fields).await {
                Ok(Some(user)) => Reply::json(StatusCode::OK, view::user(&user)),
                Ok(None) => Reply::not_found(),
                Err(err) => model_error(err)?,
            }
        }
        (Route::User(id), Method::DELETE) => match model::delete(&pool, id).await? {
            true => Reply {
                status: StatusCode::NO_CONTENT,
                body: None,
                headers: HeaderMap::new(),
            },
            false => Reply::not_found(),
        },
        (Route::Users, _) => Reply::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            .header(ALLOW, "GET, HEAD, POST"),
        (_, _) => Reply::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            .header(ALLOW, "GET, HEAD, PUT, PATCH, DELETE"),
    };
    Ok(reply)
}

/// A duplicate email is the client's 409; anything else goes to the error
/// boundary.
fn model_error(err: ModelError) -> Result<Reply, rgi::BoxError> {
    match err {
        ModelError::DuplicateEmail(_) => Ok(Reply::error(StatusCode::CONFLICT, &err.to_string())),
        ModelError::Db(err) => Err(err.into()),
    }
}

/// The request body as user fields: `Ok(Err(reply))` is the client's 400
/// (not JSON, not an object of `name`/`email` strings, empty or invalid
/// values); `Err` is a body over [`MAX_BODY`] or a client gone.
async fn read_fields(http: &mut HttpConn<'_>) -> Result<Result<UserFields, Reply>, Error> {
    let body = http.read_body(MAX_BODY).await?;
    let bad = |message: String| Ok(Err(Reply::error(StatusCode::BAD_REQUEST, &message)));
    let fields: UserFields = match serde_json::from_slice(&body) {
        Ok(fields) => fields,
        Err(err) if err.is_data() => return bad(format!("invalid user: {err}")),
        Err(err) => return bad(format!("malformed JSON: {err}")),
    };
    if fields
        .name
        .as_deref()
        .is_some_and(|name| name.trim().is_empty())
    {
        return bad("\"name\" must not be empty".to_owned());
    }
    if let Some(email) = fields.email.as_deref() {
        let valid = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !valid {
            return bad(format!("{email:?} is not an email address"));
        }
    }
    Ok(Ok(fields))
}

/// `limit` and `offset` from the query string, checked.
fn pagination(query: &[u8]) -> Result<(i64, i64), &'static str> {
    let (mut limit, mut offset) = (DEFAULT_LIMIT, 0);
    let query = std::str::from_utf8(query).map_err(|_| "the query string is not UTF-8")?;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or("limit must be an integer from 1 to 100")?;
            }
            "offset" => {
                offset = value
                    .parse()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or("offset must be a non-negative integer")?;
            }
            _ => {}
        }
    }
    Ok((limit, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_is_checked() {
        assert_eq!(pagination(b""), Ok((DEFAULT_LIMIT, 0)));
        assert_eq!(pagination(b"limit=5&offset=10&x=y"), Ok((5, 10)));
        for bad in [
            &b"limit=0"[..],
            b"limit=101",
            b"limit=x",
            b"offset=-1",
            b"offset=",
        ] {
            assert!(pagination(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routes() {
        assert!(matches!(route("/users"), Route::Users));
        assert!(matches!(route("/users/"), Route::Users));
        assert!(matches!(route("/users/42"), Route::User(42)));
        assert!(matches!(route("/users/x"), Route::NotFound));
        assert!(matches!(route("/users/1/2"), Route::NotFound));
        assert!(matches!(route("/"), Route::NotFound));
    }
}
