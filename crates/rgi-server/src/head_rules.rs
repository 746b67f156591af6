//! What an HTTP/1 request's target and `Host` must be before an app sees
//! the request (RFC 9112 §3.2), beyond the syntax a parser checks. Both
//! servers apply these rules: rgi-server's parser, and rgi-hyper, whose
//! hyper accepts what they refuse.
//!
//! * HTTP/1.1 needs one `Host`, HTTP/1.0 at most one; each is
//!   `uri-host [":" port]`. An HTTP/1.0 request without one gets an empty
//!   `host`: the scope always has one (rule `HTTP-008`).
//! * `CONNECT` is 501: there are no tunnels.
//! * The asterisk form (`*`) is only for `OPTIONS`, the authority form only
//!   for `CONNECT`.
//! * An absolute-form target's authority becomes the `host`, in place of
//!   the client's (rule `HTTP-033`).

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

/// A request head the server refuses: the status to answer, and why. The
/// connection closes after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeadError {
    /// The status of the answer.
    pub status: StatusCode,
    /// What was wrong, for a log or a plain-text body.
    pub reason: &'static str,
}

impl HeadError {
    pub(crate) const fn new(status: StatusCode, reason: &'static str) -> Self {
        Self { status, reason }
    }

    pub(crate) const fn bad(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }
}

/// A `Host` value that [`is_valid_host`] refuses.
pub(crate) const INVALID_HOST: HeadError = HeadError::bad("invalid Host header");

/// Counts the `Host` fields in `headers`, each checked to be
/// `uri-host [":" port]`: the `hosts` of [`check_target_and_host`], for a
/// server whose parser did not count them on its way through the fields.
#[inline]
pub fn count_hosts(headers: &HeaderMap) -> Result<usize, HeadError> {
    let mut hosts = 0;
    for host in &headers.get_all(header::HOST) {
        if !is_valid_host(host.as_bytes()) {
            return Err(INVALID_HOST);
        }
        hosts += 1;
    }
    Ok(hosts)
}

/// Checks an HTTP/1 request's target and `Host` fields, and settles the
/// `host` the app sees: the target's authority for the absolute form, an
/// empty one for an HTTP/1.0 request without any. `hosts` is how many
/// `Host` fields `headers` holds, each already checked (by
/// [`count_hosts`], or by the parser as it went). HTTP/2 has none of
/// this; of these rules only [`check_no_tunnel`] applies to it.
#[inline]
pub fn check_target_and_host(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &mut HeaderMap,
    hosts: usize,
) -> Result<(), HeadError> {
    if version == Version::HTTP_11 && hosts == 0 {
        return Err(HeadError::bad("missing Host header"));
    }
    if hosts > 1 {
        return Err(HeadError::bad("more than one Host header"));
    }
    check_target_form(method, uri, headers)?;
    // `hosts` counted the client's Host fields; only without one can the
    // map lack it (the absolute form may have inserted the authority).
    if hosts == 0 && !headers.contains_key(header::HOST) {
        // HTTP/1.0 without Host: the scope always has one (rule HTTP-008);
        // empty is what RFC 9112 §3.2 sends for "no authority known".
        headers.append(header::HOST, HeaderValue::from_static(""));
    }
    Ok(())
}

/// Refuses `CONNECT` with 501. No tunnels here: an app answering 2xx
/// would turn the connection (or the HTTP/2 stream) into a tunnel for the
/// client (RFC 9110 §9.3.6) that no one serves. (RFC 8441's extended
/// `CONNECT`, a WebSocket over HTTP/2, is a server's to recognise first.)
#[inline]
pub fn check_no_tunnel(method: &Method) -> Result<(), HeadError> {
    if method == Method::CONNECT {
        return Err(HeadError::new(
            StatusCode::NOT_IMPLEMENTED,
            "CONNECT is not supported",
        ));
    }
    Ok(())
}

/// Checks the request-target form against the method (RFC 9112 §3.2) and,
/// for the absolute form, makes `host` the target's authority.
fn check_target_form(method: &Method, uri: &Uri, headers: &mut HeaderMap) -> Result<(), HeadError> {
    check_no_tunnel(method)?;
    match (uri.scheme(), uri.authority()) {
        // Origin form, or asterisk form (`*`, only for OPTIONS, §3.2.4).
        (None, None) if uri.path() == "*" && method != Method::OPTIONS => {
            Err(HeadError::bad("asterisk-form target is only for OPTIONS"))
        }
        (None, None) => Ok(()),
        // Authority form is only for CONNECT (§3.2.3).
        (None, Some(_)) => Err(HeadError::bad("authority-form target without CONNECT")),
        (Some(_), authority) => {
            // Absolute form: the server MUST ignore Host and use the
            // target's authority (§3.2.2), so that the app routes on the
            // host the request line names. Userinfo is refused with it
            // (RFC 9110 §4.2.4).
            let authority = authority.map_or("", |a| a.as_str());
            if !is_valid_host(authority.as_bytes()) {
                return Err(HeadError::bad("invalid authority in absolute-form target"));
            }
            let host = HeaderValue::from_str(authority)
                .map_err(|_| HeadError::bad("invalid authority in absolute-form target"))?;
            headers.insert(header::HOST, host);
            Ok(())
        }
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2): an
/// IP literal in brackets or a reg-name (unreserved, pct-encoded,
/// sub-delims), then an optional port of digits. Empty is allowed.
pub(crate) fn is_valid_host(value: &[u8]) -> bool {
    // The usual Host, a plain name with or without a port (`localhost`,
    // `127.0.0.1:8080`, what curl and wrk send), is settled by one pass
    // over the table; IP literals and percent-escapes take the full
    // grammar below. (A port sent every request down the full grammar:
    // ~280 instructions a request.)
    let name_end = value
        .iter()
        .position(|&b| !is_unreserved_or_sub_delim(b))
        .unwrap_or(value.len());
    match &value[name_end..] {
        [] => return true,
        [b':', port @ ..] if port.iter().all(u8::is_ascii_digit) => return true,
        _ => {}
    }
    let rest = if let Some(literal) = value.strip_prefix(b"[") {
        let Some(close) = literal.iter().position(|&b| b == b']') else {
            return false;
        };
        let inside = &literal[..close];
        if inside.is_empty()
            || !inside
                .iter()
                .all(|&b| is_unreserved_or_sub_delim(b) || b == b':')
        {
            return false;
        }
        &literal[close + 1..]
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        let (name, rest) = value.split_at(end);
        let mut i = 0;
        while i < name.len() {
            match name[i] {
                b'%' if name.len() > i + 2
                    && name[i + 1].is_ascii_hexdigit()
                    && name[i + 2].is_ascii_hexdigit() =>
                {
                    i += 3;
                }
                b if is_unreserved_or_sub_delim(b) => i += 1,
                _ => return false,
            }
        }
        rest
    };
    match rest {
        [] => true,
        [b':', port @ ..] => port.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

fn is_unreserved_or_sub_delim(b: u8) -> bool {
    HOST_BYTES[usize::from(b)]
}

/// `is_unreserved_or_sub_delim` as a table: every request's `Host` is
/// checked byte by byte, and searching the delimiter list per byte cost
/// about 30 instructions a byte.
static HOST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        i += 1;
    }
    table
};
