//! Bytes copied out of a request for its log line.
//!
//! An entry must not keep the request's `Uri` or header values: they are
//! slices of the connection's read buffer, and a slice held by the queue
//! keeps the connection from reusing that buffer for the next request
//! (it allocates a new one instead). Short values, nearly all of them,
//! are copied inline; longer ones to the heap.

/// Bytes kept inline up to this length.
const INLINE: usize = 94;

/// A copy of a short byte string.
#[derive(Clone)]
pub(super) enum LogText {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl LogText {
    pub(super) fn new(bytes: &[u8]) -> Self {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE => {
                let mut inline = [0; INLINE];
                inline[..bytes.len()].copy_from_slice(bytes);
                LogText::Inline { len, bytes: inline }
            }
            _ => LogText::Heap(bytes.into()),
        }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            LogText::Inline { len, bytes } => &bytes[..usize::from(*len)],
            LogText::Heap(bytes) => bytes,
        }
    }
}

impl std::fmt::Debug for LogText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_inline_long_on_the_heap() {
        for len in [0, 1, INLINE, INLINE + 1, 5000] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let text = LogText::new(&bytes);
            assert_eq!(text.as_bytes(), bytes);
            assert_eq!(matches!(text, LogText::Inline { .. }), len <= INLINE);
        }
    }
}
