//! No thread is leaked: the pool's threads, counted by the kernel
//! (`/proc/self/task/*/comm`), never exceed its size, match its stats, and
//! are gone once the server and every pool handle are dropped. Alone in its
//! test binary so no other pool is counted.

mod common;

use std::time::Duration;

use common::{eventually, get, serve, Client};
use http::{HeaderMap, StatusCode};
use rgi_blocking::{Blocking, Pool, PoolConfig, Request, Response};

/// Threads of this process whose name starts with the pool's prefix.
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
                .filter(|name| name.starts_with("rgi-blocking"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_pool_never_exceeds_its_size_and_its_threads_end_with_it() {
    if !std::path::Path::new("/proc/self/task").exists() {
        println!("skipped: no /proc/self/task on this system");
        return;
    }
    let pool = Pool::new(PoolConfig::with_size(4).wait(Duration::from_secs(20)));
    let handler = |_: Request, response: &mut Response| -> std::io::Result<()> {
        std::thread::sleep(Duration::from_millis(50));
        response.send(StatusCode::OK, HeaderMap::new(), "ok")
    };
    let server = serve(Blocking::with_pool(handler, pool.clone()));
    let clients: Vec<_> = (0..12)
        .map(|_| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                client.send(&get("/"));
                client.response().unwrap().status
            })
        })
        .collect();
    eventually("the pool full", || pool.stats().busy == 4);
    assert_eq!(pool_threads(), 4);
    for client in clients {
        assert_eq!(client.join().unwrap(), 200);
    }
    eventually("the pool idle", || pool.stats().busy == 0);
    let stats = pool.stats();
    assert_eq!((stats.threads, stats.idle), (4, 4));
    assert_eq!(pool_threads(), 4);

    drop(server);
    drop(pool);
    eventually("every pool thread ended", || pool_threads() == 0);
}
