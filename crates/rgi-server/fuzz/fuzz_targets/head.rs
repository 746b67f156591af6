//! The request-head parser on arbitrary bytes.
//!
//! Invariants, beyond "no panic":
//! * a refusal is one of the statuses the server documents;
//! * an accepted head consumed a prefix of the input and left the rest;
//! * no shorter prefix of that head is accepted (a head is only taken
//!   once complete);
//! * the accepted head, re-encoded from the scope, parses back to the same
//!   method, target, version, path, fields (in order) and framing.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rgi::HttpScope;
use rgi_server::fuzz_support::{parse_head, Head};
use rgi_server::Config;

const STATUSES: [u16; 7] = [400, 413, 414, 431, 501, 505, 408];

fn config() -> Config {
    // Small limits, so that the fuzzer reaches them.
    let mut config = Config::default();
    config.max_head_bytes = 2048;
    config.max_target_bytes = 512;
    config.max_headers = 16;
    config.max_body_bytes = Some(1 << 20);
    config
}

fn parse(input: &[u8], config: &Config) -> (Result<Option<Head>, u16>, HttpScope, usize) {
    let mut buf = BytesMut::from(input);
    let mut scope = HttpScope::default();
    let result = parse_head(&mut buf, config, &mut Vec::new(), &mut scope);
    let rest = buf.len();
    (result, scope, rest)
}

/// The head as a client would send it, from what reached the scope.
fn encode(scope: &HttpScope) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(scope.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(scope.uri.to_string().as_bytes());
    out.extend_from_slice(match scope.version {
        http::Version::HTTP_10 => b" HTTP/1.0\r\n",
        _ => b" HTTP/1.1\r\n",
    });
    for (name, value) in &scope.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn fields(scope: &HttpScope) -> Vec<(&str, &[u8])> {
    scope
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect()
}

fuzz_target!(|input: &[u8]| {
    let config = config();
    let (result, scope, rest) = parse(input, &config);
    let head = match result {
        Ok(Some(head)) => head,
        Ok(None) => {
            assert!(
                input.len() < config.max_head_bytes,
                "an over-long head is refused, not awaited"
            );
            return;
        }
        Err(status) => {
            assert!(STATUSES.contains(&status), "undocumented status {status}");
            return;
        }
    };
    let consumed = input.len() - rest;
    assert!(consumed > 0 && consumed <= config.max_head_bytes);
    // Only complete heads are taken: one byte less is never a head.
    let (shorter, _, _) = parse(&input[..consumed - 1], &config);
    assert!(
        !matches!(shorter, Ok(Some(_))),
        "a head accepted before its end"
    );

    let again = encode(&scope);
    // Re-encoding adds a space after each colon, an HTTP/1.0 head
    // without Host got an empty `host` field, and an absolute-form target
    // without a path (`http://a`) is written with one (`http://a/`, as
    // `http::Uri` prints it): allow for all three.
    let mut roomy = config.clone();
    roomy.max_head_bytes *= 2;
    roomy.max_headers += 1;
    roomy.max_target_bytes += 1;
    let (result, reparsed, rest) = parse(&again, &roomy);
    let Ok(Some(head_again)) = result else {
        panic!(
            "the re-encoded head is refused ({result:?}): {:?}",
            String::from_utf8_lossy(&again)
        );
    };
    assert_eq!(rest, 0, "the re-encoded head is consumed whole");
    assert_eq!(head_again, head);
    assert_eq!(reparsed.method, scope.method);
    assert_eq!(reparsed.uri, scope.uri);
    assert_eq!(reparsed.version, scope.version);
    assert_eq!(reparsed.path, scope.path);
    assert_eq!(fields(&reparsed), fields(&scope));
});
