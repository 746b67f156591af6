//! Numeric query parameters, read straight from the raw query string.

/// A query parameter that is present but not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadParam(pub(crate) &'static str);

/// The value of the numeric parameter `name` in `query` (the raw query
/// string, without `?`): `default` when absent, at most `max`. The first
/// occurrence wins. A value that is empty or holds anything but ASCII digits
/// is an error; a value too large for `u64` is simply clamped.
pub(crate) fn number(
    query: &str,
    name: &'static str,
    default: u64,
    max: u64,
) -> Result<u64, BadParam> {
    let Some(value) = query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find_map(|(key, value)| (key == name).then_some(value))
    else {
        return Ok(default);
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadParam(name));
    }
    // Only digits remain, so the one way to fail is overflow: clamp it.
    Ok(value.parse::<u64>().map_or(max, |n| n.min(max)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_defaults_and_clamps() {
        assert_eq!(number("", "n", 7, 100), Ok(7));
        assert_eq!(number("size=3", "n", 7, 100), Ok(7));
        assert_eq!(number("size=3&n=42", "n", 7, 100), Ok(42));
        assert_eq!(number("n=1&n=2", "n", 7, 100), Ok(1));
        assert_eq!(number("n=1000", "n", 7, 100), Ok(100));
        assert_eq!(number("n=99999999999999999999999", "n", 7, 100), Ok(100));
        assert_eq!(number("nn=5", "n", 7, 100), Ok(7));
    }

    #[test]
    fn refuses_what_is_not_digits() {
        for query in ["n=", "n", "n=-1", "n=+1", "n=1.5", "n=abc", "n=%31", "n= 1"] {
            assert_eq!(number(query, "n", 7, 100), Err(BadParam("n")), "{query}");
        }
    }
}
