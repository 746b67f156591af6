//! The opening handshake's checks (RFC 6455 §4.2.1) and the
//! `Sec-WebSocket-Accept` value (§4.2.2), on `http` types only.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Version};
use sha1::{Digest, Sha1};

use super::deflate::{self, DeflateParams};

/// The GUID every accept key is hashed with (§1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What a valid upgrade request asks for.
#[derive(Debug)]
pub(crate) struct UpgradeRequest {
    /// The `Sec-WebSocket-Accept` value that answers its key; `None` over
    /// HTTP/2, which has no key (RFC 8441 §5).
    pub(crate) accept: Option<HeaderValue>,
    /// The subprotocols offered, in order.
    pub(crate) subprotocols: Vec<String>,
    /// The permessage-deflate offer the server takes, if any.
    pub(crate) deflate: Option<DeflateParams>,
}

/// Why an upgrade request is refused (rule `WS-015`): `426` (with
/// `Sec-WebSocket-Version: 13`) for a version other than 13, `400` for the
/// rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

impl Refusal {
    const fn bad(reason: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            reason,
        }
    }
}

/// Whether the request asks for a WebSocket (`Upgrade: websocket`). Other
/// upgrades (`h2c`) are ignored, as RFC 9110 §7.8 allows.
pub(crate) fn wants_websocket(upgrade: &HeaderValue) -> bool {
    has_token(upgrade, "websocket")
}

fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Checks an upgrade request; `deflate`: whether the server offers
/// permessage-deflate at all. Over HTTP/2 the request is an extended
/// `CONNECT` (RFC 8441; its `:protocol websocket` is the caller's to
/// check): no `Connection` and no key, but version 13 all the same.
pub(crate) fn check_request(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    deflate: bool,
) -> Result<UpgradeRequest, Refusal> {
    let http2 = version == Version::HTTP_2;
    if http2 {
        if method != Method::CONNECT {
            return Err(Refusal::bad(
                "a WebSocket over HTTP/2 is an extended CONNECT",
            ));
        }
    } else {
        if method != Method::GET {
            return Err(Refusal::bad("a WebSocket handshake must be a GET"));
        }
        if version != Version::HTTP_11 {
            return Err(Refusal::bad("a WebSocket handshake needs HTTP/1.1"));
        }
        if !headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| has_token(v, "upgrade"))
        {
            return Err(Refusal::bad(
                "a WebSocket handshake needs Connection: upgrade",
            ));
        }
    }
    let mut versions = headers.get_all(header::SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v == "13" => {}
        _ => {
            return Err(Refusal {
                status: StatusCode::UPGRADE_REQUIRED,
                reason: "only WebSocket version 13 is supported",
            })
        }
    }
    let accept = if http2 {
        None
    } else {
        let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
        match (keys.next(), keys.next()) {
            (Some(key), None) if is_valid_key(key.as_bytes()) => Some(accept_key(key.as_bytes())),
            _ => return Err(Refusal::bad("missing or malformed Sec-WebSocket-Key")),
        }
    };
    let mut subprotocols = Vec::new();
    for value in headers.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        let value = value
            .to_str()
            .map_err(|_| Refusal::bad("malformed Sec-WebSocket-Protocol"))?;
        subprotocols.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(UpgradeRequest {
        accept,
        subprotocols,
        deflate: if deflate {
            deflate::negotiate(headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS))
        } else {
            None
        },
    })
}

/// [`check_request`] for a request that may have framed a body
/// (`has_body`): a handshake has none (rule `WS-015`).
pub(crate) fn check_upgrade(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    has_body: bool,
    deflate: bool,
) -> Result<UpgradeRequest, Refusal> {
    let upgrade = check_request(method, version, headers, deflate)?;
    if has_body {
        return Err(Refusal::bad("a WebSocket handshake has no body"));
    }
    Ok(upgrade)
}

/// A key is 16 random bytes in base64: 24 characters (§4.1).
fn is_valid_key(key: &[u8]) -> bool {
    key.len() == 24 && STANDARD.decode(key).is_ok_and(|bytes| bytes.len() == 16)
}

/// `base64(SHA-1(key ++ GUID))`.
pub(crate) fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    let encoded = STANDARD.encode(sha.finalize());
    // Base64 is always a valid header value.
    HeaderValue::from_str(&encoded).unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ] {
            if !extra.iter().any(|(n, _)| *n == name) {
                headers.insert(name, HeaderValue::from_static(value));
            }
        }
        for (name, value) in extra {
            if !value.is_empty() {
                headers.append(*name, HeaderValue::from_str(value).unwrap());
            }
        }
        headers
    }

    fn check(headers: &HeaderMap) -> Result<UpgradeRequest, u16> {
        check_request(&Method::GET, Version::HTTP_11, headers, true).map_err(|r| r.status.as_u16())
    }

    #[test]
    fn the_rfc_example_key_gets_the_rfc_accept() {
        let ok = check(&request(&[])).unwrap();
        assert_eq!(ok.accept.unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(ok.subprotocols.is_empty());
        assert!(ok.deflate.is_none());
    }

    #[test]
    fn subprotocols_and_deflate_are_read() {
        let ok = check(&request(&[
            ("sec-websocket-protocol", "chat, superchat"),
            ("sec-websocket-protocol", "v3"),
            (
                "sec-websocket-extensions",
                "permessage-deflate; client_max_window_bits",
            ),
        ]))
        .unwrap();
        assert_eq!(ok.subprotocols, ["chat", "superchat", "v3"]);
        assert!(ok.deflate.is_some());
    }

    #[test]
    fn bad_requests_get_400_and_other_versions_426() {
        assert_eq!(
            check(&request(&[("sec-websocket-version", "")])).unwrap_err(),
            426
        );
        assert_eq!(
            check(&request(&[("sec-websocket-version", "8")])).unwrap_err(),
            426
        );
        assert_eq!(
            check(&request(&[("sec-websocket-key", "")])).unwrap_err(),
            400
        );
        assert_eq!(
            check(&request(&[("sec-websocket-key", "short")])).unwrap_err(),
            400
        );
        assert_eq!(
            check(&request(&[(
                "sec-websocket-key",
                "dGhlIHNhbXBsZSBub25jZQ==x"
            )]))
            .unwrap_err(),
            400
        );
        assert_eq!(
            check(&request(&[("connection", "keep-alive")])).unwrap_err(),
            400
        );
        let headers = request(&[]);
        let refuse = |m: &Method, v| check_request(m, v, &headers, true).unwrap_err().status;
        assert_eq!(refuse(&Method::POST, Version::HTTP_11), 400);
        assert_eq!(refuse(&Method::GET, Version::HTTP_10), 400);
    }

    #[test]
    fn http2_is_an_extended_connect_without_a_key() {
        let mut headers = HeaderMap::new();
        headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
        let ok = check_request(&Method::CONNECT, Version::HTTP_2, &headers, true).unwrap();
        assert!(ok.accept.is_none());
        let refuse = |m: &Method, h: &HeaderMap| {
            check_request(m, Version::HTTP_2, h, true)
                .unwrap_err()
                .status
        };
        assert_eq!(refuse(&Method::GET, &headers), 400);
        assert_eq!(refuse(&Method::CONNECT, &HeaderMap::new()), 426);
    }
}
