//! The `date` header value, rendered at most once a second per thread.
//!
//! Formatting an IMF-fixdate per response is measurable at high request
//! rates; like hyper, each worker thread keeps the last rendering and
//! re-renders only when the second changes.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

struct CachedDate {
    bytes: [u8; DATE_LEN],
    /// The second the rendered value covers: `[start, next_update)`.
    start: SystemTime,
    next_update: SystemTime,
}

thread_local! {
    static CACHED: RefCell<CachedDate> = const {
        RefCell::new(CachedDate { bytes: [0; DATE_LEN], start: UNIX_EPOCH, next_update: UNIX_EPOCH })
    };
}

/// Appends the current date (IMF-fixdate) to `out`.
pub(crate) fn extend_with_date(out: &mut bytes::BytesMut) {
    CACHED.with(|cell| {
        let mut cached = cell.borrow_mut();
        let now = SystemTime::now();
        // Comparisons per response; the subtraction from the epoch only
        // once a second (it was a measurable part of every response).
        // `start`: a clock set back re-renders too.
        if now >= cached.next_update || now < cached.start {
            let second = now
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs();
            let start = UNIX_EPOCH + Duration::from_secs(second);
            // Written in place: no allocation, even once a second (a
            // `String` here made the allocation count of requests that
            // straddle a second depend on the clock).
            let mut slot = &mut cached.bytes[..];
            let _ = write!(slot, "{}", httpdate::HttpDate::from(start));
            cached.start = start;
            cached.next_update = cached.start + Duration::from_secs(1);
        }
        out.extend_from_slice(&cached.bytes);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_parseable_current_date() {
        let mut out = bytes::BytesMut::new();
        extend_with_date(&mut out);
        assert_eq!(out.len(), DATE_LEN);
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&out).unwrap()).unwrap();
        let age = SystemTime::now().duration_since(parsed).unwrap();
        assert!(age < Duration::from_secs(5), "date is {age:?} old");
    }
}
