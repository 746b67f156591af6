//! rgi and axum mounted in one another, both ways.
//!
//! * [`rgi_front`]: the reference server's app. An rgi router mounts, under
//!   `/api`, a stack from the catalogue (request id, access log, bearer
//!   auth, gzip) in front of an axum [`Router`](axum::Router) with JSON
//!   routes ([`api`]), and a native rgi app ([`Home`]) at `/`.
//! * [`axum_front`]: the reverse, for `axum::serve`. The same axum routes
//!   behind the same rgi middleware, applied as tower layers
//!   ([`RgiLayer`]), and the native rgi app nested at `/rgi`
//!   ([`RgiService`]).
//!
//! ```sh
//! cargo run -p axum-mount              # rgi server: http://127.0.0.1:8000/ and /api/...
//! cargo run -p axum-mount -- axum      # axum::serve: http://127.0.0.1:8000/api/... and /rgi
//! curl -H 'authorization: Bearer secret' http://127.0.0.1:8000/api/users
//! ```
//!
//! What crosses, visible in the responses: the user the rgi bearer auth
//! verified reaches the axum handler as a request extension
//! (`Extension<Authenticated<String>>`), so does the request id; axum sees
//! `/users` for `/api/users` on the rgi server (`root_path` comes off the
//! URI) and its `ConnectInfo` has the client's address.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use rgi::http::header::CONTENT_TYPE;
use rgi::http::{HeaderMap, HeaderValue};
use rgi::{App, AppResult, BoxApp, Conn, Stack};
use rgi_middleware_examples::bearer_auth::Authenticated;
use rgi_middleware_examples::{AccessLog, BearerAuth, Gzip, RequestId, SetRequestId};
use rgi_tower::{RgiLayer, RgiService, TowerApp};
use serde_json::{json, Value};

/// The token the examples accept (`API_TOKEN` in the environment, or
/// `secret`).
pub fn token() -> String {
    std::env::var("API_TOKEN").unwrap_or_else(|_| "secret".to_owned())
}

const USERS: [(&str, &str); 3] = [("1", "ada"), ("2", "grace"), ("3", "barbara")];

/// The axum side: JSON routes, written as any axum app is.
pub fn api() -> Router {
    Router::new()
        .route("/users", get(users))
        .route("/users/{id}", get(user))
        .route("/whoami", get(whoami))
}

async fn users() -> Json<Value> {
    let list: Vec<Value> = USERS
        .iter()
        .map(|(id, name)| json!({ "id": id, "name": name, "bio": format!("{name} wrote programs that changed how we write programs") }))
        .collect();
    Json(json!({ "users": list }))
}

async fn user(Path(id): Path<String>) -> Result<Json<Value>, StatusCode> {
    let (id, name) = USERS
        .iter()
        .find(|(known, _)| *known == id)
        .ok_or(StatusCode::NOT_FOUND)?;
    Ok(Json(json!({ "id": id, "name": name })))
}

/// What crossed from rgi: the verified user, the request id, the client.
async fn whoami(
    user: Option<Extension<Authenticated<String>>>,
    id: Option<Extension<RequestId>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    uri: axum::http::Uri,
) -> Json<Value> {
    Json(json!({
        "user": user.map(|Extension(Authenticated(user))| user),
        "request_id": id.and_then(|Extension(RequestId(id))| id.to_str().ok().map(str::to_owned)),
        "client": client.map(|Extension(ConnectInfo(addr))| addr.to_string()),
        "uri": uri.to_string(),
    }))
}

/// A native rgi app: says where it is mounted.
#[derive(Debug, Clone, Copy)]
pub struct Home;

impl App for Home {
    async fn call(&self, conn: Conn<'_>) -> AppResult {
        let Conn::Http(mut http) = conn else {
            return conn.unsupported();
        };
        let body = json!({
            "app": "rgi",
            "path": http.scope.path,
            "root_path": http.scope.root_path,
        })
        .to_string();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(http
            .respond(rgi::http::StatusCode::OK, headers, body)
            .await?)
    }
}

fn verify(expected: String) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    move |token: &str| {
        rgi_middleware_examples::bearer_auth::constant_time_eq(
            token.as_bytes(),
            expected.as_bytes(),
        )
        .then(|| "api-user".to_owned())
    }
}

fn bearer(inner: BoxApp) -> BoxApp {
    rgi::boxed(BearerAuth::new(inner, verify(token())))
}

/// The catalogue stack, outermost first.
fn catalogue() -> Stack {
    Stack::new()
        .push(|inner: BoxApp| rgi::boxed(SetRequestId::new(inner)))
        .push(|inner: BoxApp| rgi::boxed(AccessLog::new(inner)))
        .push(bearer)
        .push(|inner: BoxApp| rgi::boxed(Gzip::new(inner).minimum_size(64)))
}

/// For the reference server: the catalogue stack in front of the axum
/// routes under `/api`, the native app at `/`.
pub fn rgi_front() -> BoxApp {
    let api = TowerApp::new(api()).connect_info(ConnectInfo::<SocketAddr>);
    let router = rgi_middleware_examples::Router::new()
        .mount("/api", catalogue().build(rgi::boxed(api)))
        .mount("/", Home);
    rgi::boxed(router)
}

/// For `axum::serve`: the same rgi middleware as tower layers on the axum
/// routes under `/api` (axum's `layer` runs the last one added first, so
/// they are added innermost first), the native rgi app at `/rgi`.
pub fn axum_front() -> Router {
    let api = api()
        .layer(RgiLayer::new(|inner: BoxApp| {
            rgi::boxed(Gzip::new(inner).minimum_size(64))
        }))
        .layer(RgiLayer::new(bearer))
        .layer(RgiLayer::new(|inner: BoxApp| {
            rgi::boxed(AccessLog::new(inner))
        }))
        .layer(RgiLayer::new(|inner: BoxApp| {
            rgi::boxed(SetRequestId::new(inner))
        }));
    let home = RgiService::new(Home)
        .mounted_at("/rgi")
        .client_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0));
    Router::new().nest("/api", api).nest_service("/rgi", home)
}
