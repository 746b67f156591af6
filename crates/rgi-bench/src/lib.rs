//! Benchmarks for rgi (issue 5): the reference server against hyper, and the
//! interface's own costs.
//!
//! * [`routes`]: the load app's routes and their parameters, shared by both
//!   peers so they answer byte for byte the same bodies.
//! * [`rgi_app`]: the load app as an rgi [`App`](rgi::App) (served by the
//!   `rgi-peer` binary on `rgi_server`).
//! * [`hyper_app`]: the same routes as a hyper 1.x service (the `hyper-peer`
//!   binary), the baseline.
//! * [`blocking_app`]: the plaintext and echo routes as blocking handlers
//!   (the `blocking-peer` binary, on `rgi-blocking`), and a `/sleep` route.
//! * [`driver`]: an in-process, allocation-free driver that runs an app on
//!   plain structs, for the criterion benches and the tests.
//! * [`layers`]: the middleware whose cost the benches measure.
//! * [`client`], [`stats`], [`proc_status`], [`cli`]: the small load clients'
//!   tools (`conn-per-request`, `idle-conns`, `big-uploads`).
//! * [`ws_peers`]: the WebSocket baselines (`tungstenite-peer`,
//!   `fastwebsockets-peer`); [`ws_client`]: the WebSocket load client's
//!   protocol side (`ws-load`, `load/ws.sh`).
//!
//! `load/run.sh` runs the whole load comparison; `BENCHMARKS.md` at the repo
//! root holds the figures.

pub mod blocking_app;
pub mod cli;
pub mod client;
pub mod driver;
pub mod hyper_app;
pub mod layers;
pub mod proc_status;
pub mod rgi_app;
pub mod routes;
pub mod stats;
pub mod ws_client;
pub mod ws_peers;
