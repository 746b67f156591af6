//! What parsing a request head costs: httparse alone (the floor: it only
//! finds the slices) against rgi-server's parser, which also validates the
//! framing and `Host`, builds the `Uri`, the `HeaderMap` (values are slices
//! of the head, not copies) and fills the `HttpScope` (with the
//! percent-decoded path), then clears it. The head's `BytesMut` is made
//! outside the timed part. And what rgi-hyper adds to a head hyper parsed:
//! the same target and Host rules, on its header map.
//!
//! `cargo bench -p rgi-bench --bench heads`

// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rgi_server::bench_support::HeadParser;
use rgi_server::shared::{check_target_and_host, count_hosts};

/// What Chrome sends for a page (15 fields, 620 bytes).
const BROWSER: &[u8] = b"GET /docs/getting-started?lang=en HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example.com/\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en;q=0.9\r\n\r\n";

/// What `curl` sends.
const CURL: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

fn httparse_only(head: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(len)) => len + request.headers.len(),
        _ => panic!("the sample head parses"),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("head");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for (name, head) in [("browser", BROWSER), ("curl", CURL)] {
        assert!(httparse_only(head) > 0);
        group.bench_function(format!("{name}/httparse only"), |b| {
            b.iter(|| httparse_only(black_box(head)));
        });
        // A fresh scope per head: the first request of a connection.
        group.bench_function(format!("{name}/rgi-server, first request"), |b| {
            b.iter_batched(
                || (BytesMut::from(head), HeadParser::new()),
                |(mut buf, mut parser)| {
                    let scope = parser.parse(&mut buf).expect("the sample head parses");
                    black_box(&scope);
                    parser
                },
                BatchSize::SmallInput,
            );
        });
        // The scope cleared after each head and parsed into again, as a
        // keep-alive connection does.
        group.bench_function(format!("{name}/rgi-server, keep-alive"), |b| {
            let mut parser = HeadParser::new();
            b.iter_batched(
                || BytesMut::from(head),
                |mut buf| {
                    let scope = parser.parse(&mut buf).expect("the sample head parses");
                    black_box(&scope);
                    parser.clear();
                },
                BatchSize::SmallInput,
            );
        });
        // What rgi-hyper adds to each HTTP/1 request hyper parsed:
        // rgi-server's target and Host rules (one lookup of `host`, its
        // bytes checked), on the head's method, URI and header map.
        let mut buf = BytesMut::from(head);
        let mut parser = HeadParser::new();
        let scope = parser.parse(&mut buf).expect("the sample head parses");
        let (method, uri, version) = (scope.method.clone(), scope.uri.clone(), scope.version);
        let mut headers = scope.headers.clone();
        group.bench_function(format!("{name}/rgi-hyper's target and Host rules"), |b| {
            b.iter(|| {
                let hosts = count_hosts(black_box(&headers)).expect("one valid Host");
                check_target_and_host(&method, black_box(&uri), version, &mut headers, hosts)
                    .expect("an origin-form GET passes");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
