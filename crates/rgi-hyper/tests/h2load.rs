//! h2load (nghttp2) against the testbed on rgi-hyper: 100,000 requests over
//! 10 connections × 100 concurrent streams, none failed. `.ci/run` installs
//! h2load; locally the test skips without it unless RGI_REQUIRE_EXTERNAL=1.

mod common;

use std::process::Command;
use std::time::Duration;

use common::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2load_100k_requests_none_failed() {
    if Command::new("h2load").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("RGI_REQUIRE_EXTERNAL").is_none(),
            "h2load is required (RGI_REQUIRE_EXTERNAL is set): apt-get install nghttp2-client"
        );
        eprintln!("skipped: h2load is not installed (apt-get install nghttp2-client)");
        return;
    }
    let server = start(testbed::Testbed).await;
    let url = format!("http://{}/", server.addr);
    let run = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args([
                "120", "h2load", "-n", "100000", "-c", "10", "-m", "100", &url,
            ])
            .output()
            .expect("run h2load")
    });
    let output = tokio::time::timeout(Duration::from_secs(150), run)
        .await
        .expect("h2load finishes")
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    let requests = report
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no summary from h2load: {report}"));
    assert!(
        requests.contains("100000 succeeded, 0 failed, 0 errored"),
        "{requests}"
    );
    let codes = report
        .lines()
        .find(|l| l.starts_with("status codes:"))
        .unwrap();
    assert!(codes.contains("100000 2xx"), "{codes}");
}
