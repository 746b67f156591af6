//! # rgi-tower: rgi and tower, both ways
//!
//! Four adapters, so that an rgi stack and the tower world (axum routers,
//! tower-http layers, hyper services) mount in one another:
//!
//! | you have | you want | use |
//! | --- | --- | --- |
//! | a tower `Service` (an axum `Router`) | an rgi app | [`TowerApp`] |
//! | an rgi app or stack | a tower `Service` (axum `nest_service`, hyper) | [`RgiService`] |
//! | a tower `Layer` (tower-http) | rgi middleware | [`TowerLayer`] → [`TowerMiddleware`] |
//! | rgi middleware | a tower `Layer` (axum `Router::layer`) | [`RgiLayer`] |
//!
//! Bodies stream both ways one chunk at a time: each adapter produces the
//! next chunk only when the far side has taken the last (rule `CORE-006`
//! holds through it as far as the tower code streams). The crate spawns no
//! task per request and depends on no framework; `tokio` is used only to
//! give an abandoned rgi call its grace period.
//!
//! ## What crosses, and what cannot
//!
//! (The normative list is `spec/tower.md`, rules `BRIDGE-001` to `BRIDGE-008`.)
//!
//! | | crosses | does not |
//! | --- | --- | --- |
//! | request | method, URI, version, headers (order, duplicates), body chunks as data frames, `scope.extensions` ↔ `Request::extensions` | request trailers (rgi has no event for them) |
//! | rest of the scope | as the [`ScopeParts`] extension: root path, path, scheme, addresses, lifespan state (read-only), capabilities, TLS | — |
//! | mount point | `root_path` comes off the URI for a mounted tower service ([`TowerApp`]) and goes back on for a mounted rgi app ([`RgiService::mounted_at`]) | — |
//! | client address | `ScopeParts::client`; axum's `ConnectInfo` via [`TowerApp::connect_info`]; back via [`RgiService::client_addr`] | — |
//! | response | status, headers, data frames as `Body` events, trailers (announced in `Start` when the response names them, comes from rgi, or can reach the client), `ResponseStart::extensions` ↔ `Response::extensions` | early hints: a tower body has no frame for them, so the capability is off (`EXT-002`); `send_file` only with a reader (`RgiService::read_files`: each `File` handed on as data frames), else off and apps send plain body chunks |
//! | errors | before the response: `500` / the error itself; after: a body error / an aborted connection | — |
//! | cancellation | a client that leaves drops the tower future or body; an rgi app whose tower response is dropped sees `Disconnect` for its grace period | — |
//! | WebSocket | — | rgi's message events: tower has no upgraded connection to carry them. [`TowerApp`] answers `Unsupported` (`403`, `WS-010`); [`TowerMiddleware`] passes them to its inner app untouched |
//! | lifespan | — | the lifespan call: a tower service has no startup or shutdown. [`TowerApp`] answers `Unsupported` (`LIFE-007`); [`TowerMiddleware`] passes it to its inner app; [`RgiService`] never makes one |
#![forbid(unsafe_code)]

mod files;
mod layer;
mod recycle;
mod request_body;
mod rules;
mod scope;
mod service;
mod tower_app;

pub use files::{FileReader, OpenFiles};
pub use layer::{RgiLayer, TowerLayer, TowerMiddleware};
pub use request_body::RequestBody;
pub use scope::{ScopeParts, Transport};
pub use service::{ResponseBody, ResponseFuture, RgiService, DEFAULT_GRACE};
pub use tower_app::TowerApp;
