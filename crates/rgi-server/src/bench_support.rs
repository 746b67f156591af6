//! Internals exposed for the benchmarks in `crates/rgi-bench` (request-head
//! parsing); hidden from the docs and not part of the stable API.

use bytes::BytesMut;
use rgi::HttpScope;

use crate::config::Config;
use crate::conn::parse::{parse_head_into, FieldRanges};

/// The server's request-head parser with its reusable scratch space and
/// scope, as one connection holds them.
#[derive(Debug)]
pub struct HeadParser {
    config: Config,
    fields: Vec<FieldRanges>,
    scope: HttpScope,
}

impl Default for HeadParser {
    fn default() -> Self {
        Self::new()
    }
}

impl HeadParser {
    /// A parser with the default [`Config`].
    pub fn new() -> Self {
        Self {
            config: Config::default(),
            fields: Vec::new(),
            scope: HttpScope::default(),
        }
    }

    /// Parses and validates the head at the start of `buf` into the
    /// parser's scope, exactly as a connection does (the head's bytes are
    /// split off `buf`). `None` when the head is incomplete or refused.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Option<&mut HttpScope> {
        match parse_head_into(buf, &self.config, &mut self.fields, &mut self.scope) {
            Ok(Some(_)) => Some(&mut self.scope),
            _ => None,
        }
    }

    /// Clears the scope for the next parse, as a connection does when a
    /// request is done.
    pub fn clear(&mut self) {
        self.scope.clear();
    }
}
