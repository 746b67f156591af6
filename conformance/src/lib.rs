//! The rgi conformance suite (work in progress).
