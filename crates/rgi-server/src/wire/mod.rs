//! Bytes on the socket, shared by the HTTP connection (`conn/`) and the
//! WebSocket one (`ws/`): the bounded write buffer and socket reads
//! (`io.rs`), the write-stall clock (`stall.rs`), HTTP/1 response heads
//! (`encode.rs`).

pub(crate) mod encode;
pub(crate) mod io;
pub(crate) mod stall;
