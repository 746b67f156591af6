//! The reference rgi server (work in progress).
