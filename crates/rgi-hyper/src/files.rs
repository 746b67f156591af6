//! `HttpSend::File` on hyper: `RgiService` hands each `File` on as data
//! frames (`rgi_tower::OpenFiles`), read here with the reference server's
//! [`FileSend`]: the same opening, range checks and 64 KiB reads as on
//! rgi-server.

use std::task::{Context, Poll};

use bytes::Bytes;
use rgi::FileBody;
use rgi_server::shared::FileSend;
use rgi_tower::{FileReader, OpenFiles};

/// Opens files with rgi-server's reader.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerFiles;

impl OpenFiles for ServerFiles {
    fn open(&self, file: FileBody) -> Box<dyn FileReader> {
        Box::new(Reader(FileSend::new(file.path, file.range, file.more)))
    }
}

struct Reader(FileSend);

impl FileReader for Reader {
    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        self.0.poll_open(cx).map_ok(|_| ())
    }

    fn is_open(&self) -> bool {
        self.0.is_open()
    }

    fn remaining(&self) -> u64 {
        self.0.remaining()
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bytes, String>> {
        self.0.poll_read(cx).map_ok(Bytes::copy_from_slice)
    }
}
