//! The response rules an rgi app's events are checked against where they
//! leave rgi for a tower body (rule `CORE-012`): what a server would refuse,
//! refused here with the same rule id, before anything reaches the body.

use http::header::{CONNECTION, CONTENT_LENGTH, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, Method, StatusCode};
use rgi::{Error, HttpSend};

/// Where a response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    BeforeStart,
    Body,
    AwaitingTrailers,
    Complete,
}

/// The response state machine of one call.
#[derive(Debug)]
pub(crate) struct ResponseRules {
    stage: Stage,
    head: bool,
    bodiless: bool,
    trailers: bool,
    length: Option<u64>,
    sent: u64,
}

/// Connection-specific fields: the server's, never the app's (`HTTP-023`).
/// Names, not strings: a `&str` key is parsed into a name on every lookup
/// (six parses per response were ~750 instructions in rgi-hyper).
static CONNECTION_FIELDS: [HeaderName; 6] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    TRANSFER_ENCODING,
    UPGRADE,
    HeaderName::from_static("proxy-connection"),
    TE,
];

impl ResponseRules {
    pub(crate) fn new(method: &Method) -> Self {
        Self {
            stage: Stage::BeforeStart,
            head: method == Method::HEAD,
            bodiless: method == Method::HEAD,
            trailers: false,
            length: None,
            sent: 0,
        }
    }

    /// Whether the final event was accepted.
    pub(crate) fn complete(&self) -> bool {
        self.stage == Stage::Complete
    }

    /// Checks that a `File` may be sent now (it then goes on as `Body`
    /// chunks, each checked by [`accept`](Self::accept)).
    pub(crate) fn check_file(&self) -> Result<(), Error> {
        self.check_body("a File", true)
    }

    /// Whether `what` (a `Body`, a `File`) may be sent now: after `Start`
    /// and before the final body (rules `HTTP-020`, `HTTP-022`), and, when
    /// it has `bytes`, only in a response that may have a body (`HTTP-025`).
    fn check_body(&self, what: &str, bytes: bool) -> Result<(), Error> {
        match self.stage {
            Stage::BeforeStart => Err(Error::protocol("HTTP-020", format!("{what} before Start"))),
            Stage::AwaitingTrailers | Stage::Complete => Err(Error::protocol(
                "HTTP-022",
                format!("{what} after the final body"),
            )),
            Stage::Body if self.bodiless && bytes => Err(Error::protocol(
                "HTTP-025",
                format!("{what} with bytes in a response to HEAD, or a 204 or 304"),
            )),
            Stage::Body => Ok(()),
        }
    }

    /// Checks `event` and, when it is allowed, moves on. A refused event
    /// changes nothing.
    pub(crate) fn accept(&mut self, event: &HttpSend) -> Result<(), Error> {
        match event {
            HttpSend::Start(start) => {
                if self.stage != Stage::BeforeStart {
                    return Err(Error::protocol("HTTP-020", "a second Start"));
                }
                if !(200..=599).contains(&start.status.as_u16()) {
                    return Err(Error::protocol(
                        "HTTP-021",
                        format!("Start with status {}, not a final status", start.status),
                    ));
                }
                check_connection_fields(&start.headers)?;
                let bodiless = self.head
                    || start.status == StatusCode::NO_CONTENT
                    || start.status == StatusCode::NOT_MODIFIED;
                let length = match start.headers.get(CONTENT_LENGTH) {
                    None => None,
                    Some(v) => Some(v.to_str().ok().and_then(|v| v.parse().ok()).ok_or_else(
                        || Error::protocol("HTTP-024", "a content-length that is not a number"),
                    )?),
                };
                self.bodiless = bodiless;
                self.trailers = start.trailers;
                // HEAD and 304 keep the representation's length without bytes.
                self.length = if self.head || start.status == StatusCode::NOT_MODIFIED {
                    None
                } else {
                    length
                };
                self.stage = Stage::Body;
                Ok(())
            }
            HttpSend::Body { data, more } => {
                self.check_body("a Body", !data.is_empty())?;
                let sent = self.sent + data.len() as u64;
                if let Some(length) = self.length {
                    if sent > length || (!more && sent != length) {
                        return Err(Error::protocol(
                            "HTTP-024",
                            format!("{sent} body bytes for a content-length of {length}"),
                        ));
                    }
                }
                self.sent = sent;
                if !more {
                    self.stage = if self.trailers {
                        Stage::AwaitingTrailers
                    } else {
                        Stage::Complete
                    };
                }
                Ok(())
            }
            HttpSend::Trailers(_) => {
                if self.stage != Stage::AwaitingTrailers {
                    return Err(Error::protocol(
                        "HTTP-030",
                        "Trailers not announced, or not after the final body, or twice",
                    ));
                }
                self.stage = Stage::Complete;
                Ok(())
            }
            // Early hints, files, and whatever a later spec adds: a tower
            // body has no frame for them, so the scope never announces them.
            _ => Err(Error::protocol(
                "EXT-001",
                "an extension event the scope does not announce (a tower body carries only data and trailers)",
            )),
        }
    }
}

/// `HTTP-023`, with `connection: close` allowed (`HTTP-036`).
pub(crate) fn check_connection_fields(headers: &HeaderMap) -> Result<(), Error> {
    // One pass over the response's few names rather than six lookups.
    for name in headers.keys() {
        if !CONNECTION_FIELDS.contains(name) {
            continue;
        }
        for value in headers.get_all(name) {
            if name == CONNECTION && value.as_bytes().eq_ignore_ascii_case(b"close") {
                continue;
            }
            return Err(Error::protocol(
                "HTTP-023",
                format!("the connection-specific field `{name}` in Start"),
            ));
        }
    }
    Ok(())
}

/// Removes the connection-specific fields a tower service may leave in a
/// response (hyper frames the message itself and drops them), keeping a
/// lone `connection: close` (`HTTP-036`).
pub(crate) fn strip_connection_fields(headers: &mut HeaderMap) {
    let close = headers
        .get(CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
        && headers.get_all(CONNECTION).iter().count() == 1;
    for name in &CONNECTION_FIELDS {
        if !(close && name == CONNECTION) {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rgi::ResponseStart;

    use super::*;

    fn rule(result: Result<(), Error>) -> Option<&'static str> {
        result.err().and_then(|e| e.rule())
    }

    #[test]
    fn order_and_lengths_are_checked() {
        let mut rules = ResponseRules::new(&Method::GET);
        assert_eq!(rule(rules.accept(&HttpSend::chunk("x"))), Some("HTTP-020"));
        let start = ResponseStart::new(StatusCode::OK).header(CONTENT_LENGTH, "3");
        rules.accept(&HttpSend::Start(start)).unwrap();
        assert_eq!(
            rule(rules.accept(&HttpSend::chunk("abcd"))),
            Some("HTTP-024")
        );
        rules.accept(&HttpSend::chunk("ab")).unwrap();
        assert_eq!(rule(rules.accept(&HttpSend::body(""))), Some("HTTP-024"));
        rules.accept(&HttpSend::body("c")).unwrap();
        assert!(rules.complete());
        assert_eq!(
            rule(rules.accept(&HttpSend::body(Bytes::new()))),
            Some("HTTP-022")
        );
        assert_eq!(
            rule(rules.accept(&HttpSend::Trailers(HeaderMap::new()))),
            Some("HTTP-030")
        );
    }

    #[test]
    fn head_and_connection_fields() {
        let mut rules = ResponseRules::new(&Method::HEAD);
        let bad =
            ResponseStart::new(StatusCode::OK).header(http::header::TRANSFER_ENCODING, "chunked");
        assert_eq!(rule(rules.accept(&HttpSend::Start(bad))), Some("HTTP-023"));
        assert_eq!(
            rule(rules.accept(&HttpSend::Start(ResponseStart::new(StatusCode::CONTINUE)))),
            Some("HTTP-021")
        );
        let start = ResponseStart::new(StatusCode::OK)
            .header(CONTENT_LENGTH, "10")
            .header(CONNECTION, "close");
        rules.accept(&HttpSend::Start(start)).unwrap();
        assert_eq!(rule(rules.accept(&HttpSend::body("x"))), Some("HTTP-025"));
        rules.accept(&HttpSend::body("")).unwrap();
        assert!(rules.complete());
    }

    #[test]
    fn every_connection_field_is_refused_among_others() {
        for name in &CONNECTION_FIELDS {
            let start = ResponseStart::new(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "text/plain")
                .header(name.clone(), "x")
                .header(HeaderName::from_static("x-after"), "1");
            let mut rules = ResponseRules::new(&Method::GET);
            assert_eq!(
                rule(rules.accept(&HttpSend::Start(start))),
                Some("HTTP-023"),
                "{name}"
            );
        }
        let mut headers = HeaderMap::new();
        headers.append(CONNECTION, "close".parse().unwrap());
        headers.append(CONNECTION, "upgrade".parse().unwrap());
        assert!(check_connection_fields(&headers).is_err(), "a second value");
        headers.remove(CONNECTION);
        headers.insert(CONNECTION, "Close".parse().unwrap());
        check_connection_fields(&headers).unwrap();
    }

    #[test]
    fn stripping_keeps_a_lone_close() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, "close".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        strip_connection_fields(&mut headers);
        assert_eq!(headers.len(), 1);
        headers.insert(CONNECTION, "keep-alive".parse().unwrap());
        strip_connection_fields(&mut headers);
        assert!(headers.is_empty());
    }
}
