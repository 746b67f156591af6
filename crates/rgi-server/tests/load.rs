//! 1,000 sequential and 200 concurrent keep-alive connections, all answered
//! correctly, bounded in time.

mod common;

use std::time::Duration;

use common::*;

const BOUND: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sequential_connections() {
    let server = start(PathEcho).await;
    let run = async {
        for i in 0..1000 {
            let mut client = server.connect().await;
            // Two requests each, to exercise keep-alive too.
            let r = client.request(&get(&format!("/seq/{i}"))).await;
            assert_eq!((r.status, r.text()), (200, format!("/seq/{i}").as_str()));
            let body = format!("body {i}");
            let r = client.request(&post("/echo", body.as_bytes())).await;
            assert_eq!(r.text(), body);
        }
    };
    tokio::time::timeout(BOUND, run).await.expect("bounded");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_keep_alive_connections() {
    let server = start(PathEcho).await;
    let addr = server.addr;
    let clients = (0..200).map(|c| {
        tokio::spawn(async move {
            let mut client = Client::connect(addr).await;
            for i in 0..10 {
                let path = format!("/c{c}/r{i}");
                let r = client.request(&get(&path)).await;
                assert_eq!(r.text(), path);
                let body = format!("payload {c} {i}").repeat(i + 1);
                let r = client.request(&post("/echo", body.as_bytes())).await;
                assert_eq!(r.text(), body);
            }
        })
    });
    let all = futures_util::future::join_all(clients);
    for result in tokio::time::timeout(BOUND, all).await.expect("bounded") {
        result.expect("client task");
    }
    server.stop().await.unwrap();
}
