//! What a middleware declares it changes. Everything not declared must pass
//! through unchanged (rules `CORE-004`, `CORE-005`, `CORE-006`).

/// A field of the HTTP scope a middleware may declare it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScopeField {
    /// `method` (a method-override middleware).
    Method,
    /// `uri` (a rewriting middleware).
    Uri,
    /// `path` and `root_path` (a router or prefix-stripping middleware).
    Path,
    /// `version`.
    Version,
    /// `scheme` (a proxy-headers middleware).
    Scheme,
    /// `client` and `server` (a proxy-headers middleware).
    Addresses,
    /// `state` (a middleware that gives requests their own state).
    State,
    /// `capabilities` (a middleware that clears one it cannot pass on,
    /// rule `EXT-002`; adding one is never allowed).
    Capabilities,
    /// `tls`.
    Tls,
}

/// One thing a middleware legitimately changes, so the suite does not
/// count it as a failure. Pass them to [`Check::declare`](crate::Check::declare).
///
/// | middleware | declarations |
/// | --- | --- |
/// | request id | `AddsRequestHeader("x-request-id")`, `AddsResponseHeader("x-request-id")` |
/// | gzip | `ChangesResponseBody`, `AddsResponseHeader("content-encoding")`, `AddsResponseHeader("vary")` |
/// | bearer auth | `RemovesRequestHeader("authorization")` (if it strips it), plus `.short_circuits(..)` |
/// | CORS | `AddsResponseHeader("access-control-allow-origin")`, ..., plus `.short_circuits(preflight)` |
/// | error boundary | `HandlesErrors`, `ChangesStatus` |
/// | rate limit | `AddsResponseHeader("x-ratelimit-remaining")`, plus `.short_circuits(..)` when over the limit |
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Declare {
    /// Adds (or overwrites) this request header on the way in.
    AddsRequestHeader(&'static str),
    /// Removes this request header on the way in.
    RemovesRequestHeader(&'static str),
    /// Adds (or overwrites) this response header on the way out.
    AddsResponseHeader(&'static str),
    /// Removes this response header on the way out.
    RemovesResponseHeader(&'static str),
    /// Changes the request body (bytes or chunking), so it may also read it
    /// ahead of the inner app.
    ChangesRequestBody,
    /// Changes the response body (bytes or chunking, trailers), so it may
    /// also buffer it; `content-length` may change with it.
    ChangesResponseBody,
    /// Changes the response status.
    ChangesStatus,
    /// Changes this scope field.
    ChangesScope(ScopeField),
    /// Turns an inner app's error before the response started into a
    /// complete response of its own (an error boundary).
    HandlesErrors,
    /// When it answers a request itself, it still calls the inner app but
    /// discards everything the inner app sends (rule `CORE-007`).
    CallsInnerThenDiscards,
}

/// The set of declarations of one check.
#[derive(Debug, Clone, Default)]
pub(crate) struct Declarations {
    list: Vec<Declare>,
}

impl Declarations {
    pub(crate) fn add(&mut self, declare: Declare) {
        if !self.list.contains(&declare) {
            self.list.push(declare);
        }
    }

    pub(crate) fn has(&self, declare: &Declare) -> bool {
        self.list.contains(declare)
    }

    pub(crate) fn scope_field(&self, field: ScopeField) -> bool {
        self.has(&Declare::ChangesScope(field))
    }

    /// Whether the request header `name` may differ.
    pub(crate) fn request_header(&self, name: &str) -> bool {
        self.list.iter().any(|d| match d {
            Declare::AddsRequestHeader(n) | Declare::RemovesRequestHeader(n) => {
                n.eq_ignore_ascii_case(name)
            }
            _ => false,
        })
    }

    /// Whether the response header `name` may differ.
    pub(crate) fn response_header(&self, name: &str) -> bool {
        if self.has(&Declare::ChangesResponseBody) && name == "content-length" {
            return true;
        }
        self.list.iter().any(|d| match d {
            Declare::AddsResponseHeader(n) | Declare::RemovesResponseHeader(n) => {
                n.eq_ignore_ascii_case(name)
            }
            _ => false,
        })
    }
}
