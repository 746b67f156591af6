//! Internals exposed for the benchmarks in `crates/rgi-bench` (request-head
//! parsing); hidden from the docs and not part of the stable API.

use bytes::BytesMut;
use http::HeaderMap;
use rgi::HttpScope;

use crate::config::Config;
use crate::conn::parse::{parse_head_reusing, FieldRanges};

/// The server's request-head parser with its reusable scratch space, as one
/// connection holds it.
#[derive(Debug, Default)]
pub struct HeadParser {
    config: Config,
    fields: Vec<FieldRanges>,
    spare: HeaderMap,
}

impl HeadParser {
    /// A parser with the default [`Config`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses and validates the head at the start of `buf` into a scope,
    /// exactly as a connection does (the head's bytes are split off `buf`).
    /// `None` when the head is incomplete or refused.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Option<HttpScope> {
        parse_head_reusing(buf, &self.config, &mut self.fields, &mut self.spare)
            .ok()
            .flatten()
            .map(|head| head.scope)
    }

    /// Hands back a header map for the next parse, as a connection does
    /// with the last response's map.
    pub fn recycle(&mut self, mut headers: HeaderMap) {
        headers.clear();
        self.spare = headers;
    }
}
