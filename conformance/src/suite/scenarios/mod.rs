//! The scenario groups, one file each.

pub(crate) mod errors;
pub(crate) mod forwards;
pub(crate) mod lifespan;
pub(crate) mod ordering;
pub(crate) mod short_circuits;
pub(crate) mod varied;
