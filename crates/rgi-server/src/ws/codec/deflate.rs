//! permessage-deflate (RFC 7692): the server's answer to the client's
//! offers, and the per-message compressor and decompressor.
//!
//! Window sizes: the decompressor always has a 32 KiB window, which
//! inflates whatever window the client compresses with, so every
//! `client_max_window_bits` offer is accepted and left unanswered (the
//! client keeps its own choice, §7.1.2.2). `server_max_window_bits=N` is
//! honoured by compressing with a 2^N window (zlib-rs, 9 to 15); zlib
//! cannot compress raw deflate with 2^8, so under `server_max_window_bits=8`
//! the server sends every message uncompressed (RSV1 clear), which §6
//! allows and which keeps the promise.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use http::HeaderValue;

use super::CloseError;

/// The agreed parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeflateParams {
    /// The server resets its compressor after every message.
    pub(crate) server_no_context_takeover: bool,
    /// The client resets its compressor after every message (so the
    /// server may reset its decompressor).
    pub(crate) client_no_context_takeover: bool,
    /// The client asked for this limit on the server's window.
    pub(crate) server_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The `sec-websocket-extensions` value of the answer.
    pub(crate) fn response(&self) -> HeaderValue {
        let mut value = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            value.push_str("; server_max_window_bits=");
            value.push_str(itoa::Buffer::new().format(bits));
        }
        HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("permessage-deflate"))
    }
}

/// The first `permessage-deflate` offer among the request's
/// `sec-websocket-extensions` values that the server can honour (§5.1,
/// rule `WS-016`):
/// an offer with an unknown parameter, a repeated one, or a bad value is
/// declined and the next one considered.
pub(crate) fn negotiate<'a>(
    values: impl IntoIterator<Item = &'a HeaderValue>,
) -> Option<DeflateParams> {
    values
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(accept_offer)
}

fn accept_offer(offer: &str) -> Option<DeflateParams> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
    };
    let mut client_bits_seen = false;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
            None => (param, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !params.server_no_context_takeover => {
                params.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !params.client_no_context_takeover => {
                params.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) if params.server_max_window_bits.is_none() => {
                params.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", v) if !client_bits_seen => {
                client_bits_seen = true;
                if let Some(v) = v {
                    window_bits(v)?;
                }
            }
            _ => return None,
        }
    }
    Some(params)
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// `8` to `15`, digits only, no leading zero (§7.1.2.1).
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// The tail a sender strips and a receiver appends back (§7.2.1).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// Output grows in steps of at least this much while inflating.
const INFLATE_STEP: usize = 16 * 1024;

/// The receiving side: inflates one message at a time, bounded.
#[derive(Debug)]
pub(crate) struct Inflater {
    inner: Option<Decompress>,
    reset_after_message: bool,
}

impl Inflater {
    pub(crate) fn new(params: &DeflateParams) -> Self {
        Self {
            inner: None,
            reset_after_message: params.client_no_context_takeover,
        }
    }

    /// Inflates `input` (part of a compressed message) onto `out`;
    /// `last`: the message ends here. Fails with 1009 as soon as `out`
    /// would grow past `limit` (it never holds more than `limit + 1`
    /// bytes: a decompression bomb costs at most the limit), and with 1007
    /// on data that is not deflate.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), CloseError> {
        // Created on the first compressed message: a connection that never
        // sends one never pays for the ~40 KiB of inflate state.
        let inner = self.inner.get_or_insert_with(|| Decompress::new(false));
        let mut ended = inflate_into(inner, input, out, limit)?;
        if last {
            if !ended {
                ended = inflate_into(inner, &SYNC_TAIL, out, limit)?;
            }
            if ended || self.reset_after_message {
                inner.reset(false);
            }
        }
        // The buffer may hold more than was asked for it (its capacity is
        // the allocator's choice): the limit is checked on what came out,
        // not only when the buffer is full.
        if out.len() > limit {
            return Err(CloseError::too_big());
        }
        Ok(())
    }
}

/// Returns whether the deflate stream ended (a final block).
fn inflate_into(
    inner: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, CloseError> {
    loop {
        if out.len() == out.capacity() {
            if out.len() > limit {
                return Err(CloseError::too_big());
            }
            // Doubling, capped at one byte past the limit: that byte is
            // how a message over the limit is noticed. (Not `clamp`: it
            // panics when the limit is below one step, found by the
            // ws_inflate fuzz target.)
            let target = (out.capacity() * 2)
                .max(INFLATE_STEP)
                .min(limit.saturating_add(1));
            out.reserve_exact(target - out.len());
        }
        let (in_before, out_before) = (inner.total_in(), inner.total_out());
        let status = inner
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|_| CloseError::invalid_data("invalid compressed data"))?;
        let read = (inner.total_in() - in_before) as usize;
        input = &input[read..];
        if out.len() > limit {
            return Err(CloseError::too_big());
        }
        let produced = inner.total_out() != out_before;
        match status {
            Status::StreamEnd => {
                return if input.is_empty() {
                    Ok(true)
                } else {
                    Err(CloseError::invalid_data(
                        "data after the final deflate block",
                    ))
                }
            }
            _ if input.is_empty() && out.len() < out.capacity() => return Ok(false),
            Status::BufError if read == 0 && !produced => {
                return Err(CloseError::invalid_data("invalid compressed data"))
            }
            _ => {}
        }
    }
}

/// The sending side: compresses one message at a time.
#[derive(Debug)]
pub(crate) struct Deflater {
    inner: Option<Compress>,
    reset_after_message: bool,
    /// The window the client allows us, or `None`: send uncompressed.
    window_bits: Option<u8>,
}

impl Deflater {
    pub(crate) fn new(params: &DeflateParams) -> Self {
        Self {
            inner: None,
            reset_after_message: params.server_no_context_takeover,
            window_bits: match params.server_max_window_bits {
                Some(8) => None,
                Some(bits) => Some(bits),
                None => Some(15),
            },
        }
    }

    /// The compressed payload of a message, or `None` to send it as it is
    /// (RSV1 clear; RFC 7692 §6 lets the sender choose per message): an
    /// empty message, a window zlib cannot compress with, a message whose
    /// bytes look incompressible, or one that deflate did not make smaller.
    pub(crate) fn deflate(&mut self, input: &[u8]) -> Option<Vec<u8>> {
        let bits = self.window_bits?;
        if input.is_empty() || looks_incompressible(input) {
            return None;
        }
        let inner = self.inner.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::default(), false, bits)
        });
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let start_in = inner.total_in();
        loop {
            let consumed = (inner.total_in() - start_in) as usize;
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            if inner
                .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
                .is_err()
            {
                // zlib reports errors only for misuse; a message that
                // cannot be compressed can still be sent as it is, as long
                // as the stream state starts afresh.
                inner.reset();
                return None;
            }
            let consumed = (inner.total_in() - start_in) as usize;
            // Sync flush done: all input taken and room left over.
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&SYNC_TAIL) {
            out.truncate(out.len() - SYNC_TAIL.len());
        }
        if out.len() >= input.len() {
            // Not smaller (random or already compressed data): sent as it
            // is. The compressor's window took the message in, and the
            // client's decompressor never will, so the compressor starts
            // afresh: what it sends next cannot refer back to it (a reset
            // is always allowed; the client's window only keeps bytes that
            // are never referred to).
            inner.reset();
            return None;
        }
        if self.reset_after_message {
            inner.reset();
        }
        Some(out)
    }
}

/// Messages from this size on are sampled by [`looks_incompressible`];
/// shorter ones are cheap enough to just try.
const SAMPLED_FROM: usize = 4 * 1024;
/// The sample: this many runs of `SAMPLE_RUN` bytes, spread evenly.
const SAMPLE_RUNS: usize = 16;
const SAMPLE_RUN: usize = 256;

/// Whether `input` looks like bytes deflate cannot shrink (compressed,
/// encrypted or random data), judged from the byte frequencies of a 4 KiB
/// sample: deflating 64 KiB of random bytes costs as much as deflating
/// 64 KiB of text (~13 million instructions at the default level), only
/// for the message to go uncompressed after all; the sample costs about
/// 10,000. The measure is the chance that two sampled bytes are equal
/// (Rényi entropy of order 2): 1/256 for uniform bytes, about 1/64 for
/// base64, 1/16 or more for text; under 1.5/256 (over 7.4 bits per byte)
/// deflate has nothing to gain from byte frequencies. Data whose
/// redundancy is only in long repeats of random-looking blocks is missed,
/// and goes uncompressed.
fn looks_incompressible(input: &[u8]) -> bool {
    if input.len() < SAMPLED_FROM {
        return false;
    }
    let mut counts = [0u32; 256];
    let stride = input.len() / SAMPLE_RUNS;
    for run in 0..SAMPLE_RUNS {
        let start = run * stride;
        for &byte in &input[start..start + SAMPLE_RUN] {
            counts[usize::from(byte)] += 1;
        }
    }
    let n = (SAMPLE_RUNS * SAMPLE_RUN) as u64;
    let collisions: u64 = counts.iter().map(|&c| u64::from(c) * u64::from(c)).sum();
    // collisions / n² < 1.5 / 256
    collisions * 512 < n * n * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(v: &str) -> Option<DeflateParams> {
        negotiate([&HeaderValue::from_str(v).unwrap()])
    }

    #[test]
    fn offers_are_accepted_declined_and_answered() {
        let plain = offer("permessage-deflate").unwrap();
        assert_eq!(plain.response(), "permessage-deflate");
        let all = offer(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits",
        )
        .unwrap();
        assert_eq!(
            all.response(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10"
        );
        assert!(offer("permessage-deflate; client_max_window_bits=\"9\"").is_some());
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=20",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; unknown",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(offer(bad), None, "{bad}");
        }
        // A declined offer falls through to the next.
        let second =
            offer("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=12")
                .unwrap();
        assert_eq!(second.server_max_window_bits, Some(12));
    }

    fn round_trip(params: DeflateParams, messages: &[&[u8]]) {
        let mut deflater = Deflater::new(&params);
        let mut inflater = Inflater::new(&params);
        for message in messages {
            let mut out = Vec::new();
            match deflater.deflate(message) {
                Some(compressed) => inflater
                    .inflate(&compressed, true, &mut out, 1 << 20)
                    .unwrap(),
                None => out.extend_from_slice(message),
            }
            assert_eq!(&out, message);
        }
    }

    #[test]
    fn messages_round_trip_with_every_parameter() {
        let text = b"Hello, permessage-deflate! Hello, permessage-deflate! ".repeat(50);
        let messages: [&[u8]; 4] = [b"a", &text, &text, b""];
        for bits in [None, Some(8), Some(9), Some(12), Some(15)] {
            for (server_no, client_no) in [(false, false), (true, true)] {
                round_trip(
                    DeflateParams {
                        server_no_context_takeover: server_no,
                        client_no_context_takeover: client_no,
                        server_max_window_bits: bits,
                    },
                    &messages,
                );
            }
        }
    }

    /// `len` bytes that deflate cannot shrink (xorshift).
    fn noise(len: usize, mut state: u32) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect()
    }

    #[test]
    fn what_deflate_cannot_shrink_goes_uncompressed_and_the_context_stays_in_step() {
        let params = offer("permessage-deflate").unwrap();
        let mut deflater = Deflater::new(&params);
        // One inflater for the whole connection: context takeover.
        let mut inflater = Inflater::new(&params);
        let text = b"a compressible sentence, said again and again; ".repeat(40);
        for round in 0..4u32 {
            let compressed = deflater.deflate(&text).expect("text shrinks");
            assert!(compressed.len() < text.len() / 4, "round {round}");
            let mut out = Vec::new();
            inflater
                .inflate(&compressed, true, &mut out, 1 << 20)
                .unwrap();
            assert_eq!(out, text, "round {round}");
            // Noise comes back as None (sent as it is, RSV1 clear); the
            // inflater never sees it, and the next compressed message must
            // not refer to it.
            // (Under 4 KiB: not sampled, deflated, then given up.)
            assert_eq!(deflater.deflate(&noise(2000, 7 + round)), None);
        }
    }

    #[test]
    fn a_sample_tells_random_bytes_from_compressible_ones() {
        let params = offer("permessage-deflate").unwrap();
        assert!(looks_incompressible(&noise(64 * 1024, 3)));
        assert!(looks_incompressible(&noise(SAMPLED_FROM, 5)));
        let mut deflater = Deflater::new(&params);
        assert_eq!(deflater.deflate(&noise(64 * 1024, 3)), None);
        assert!(deflater.inner.is_none(), "the compressor never saw it");
        // A 64-symbol alphabet (base64) and text are compressed.
        let base64: Vec<u8> = noise(64 * 1024, 9)
            .iter()
            .map(|b| {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [usize::from(b % 64)]
            })
            .collect();
        assert!(!looks_incompressible(&base64));
        let compressed = deflater.deflate(&base64).expect("base64 shrinks");
        assert!(compressed.len() < base64.len() * 4 / 5);
        let text = b"plain words, not many of them, again. ".repeat(200);
        assert!(!looks_incompressible(&text));
        // Short messages are not sampled: tried (and given up on) instead.
        assert!(!looks_incompressible(&noise(SAMPLED_FROM - 1, 5)));
    }

    #[test]
    fn a_bomb_stops_at_the_limit_with_1009_and_bounded_memory() {
        let params = offer("permessage-deflate").unwrap();
        let zeros = vec![0u8; 8 << 20];
        let compressed = Deflater::new(&params).deflate(&zeros).unwrap();
        assert!(compressed.len() < 20_000, "{}", compressed.len());
        let mut out = Vec::new();
        let err = Inflater::new(&params)
            .inflate(&compressed, true, &mut out, 64 * 1024)
            .unwrap_err();
        assert_eq!(err.code, 1009);
        assert!(out.capacity() <= 64 * 1024 + 1, "{}", out.capacity());
    }

    #[test]
    fn a_limit_below_one_inflate_step_is_honoured_not_a_panic() {
        // Found by the ws_inflate fuzz target: the growth step was clamped
        // to [16 KiB, limit + 1], which panics for a limit under 16 KiB.
        let params = offer("permessage-deflate").unwrap();
        let mut deflater = Deflater::new(&params);
        let mut inflater = Inflater::new(&params);
        let hellos = b"hello hello hello hello hello";
        let small = deflater.deflate(hellos).unwrap();
        let mut out = Vec::new();
        inflater.inflate(&small, true, &mut out, 64).unwrap();
        assert_eq!(out, hellos);
        let big = deflater.deflate(&[b'a'; 1000]).unwrap();
        let mut out = Vec::new();
        let err = inflater.inflate(&big, true, &mut out, 64).unwrap_err();
        assert_eq!(err.code, 1009);
        assert!(out.capacity() <= 65, "{}", out.capacity());
    }

    #[test]
    fn garbage_is_1007() {
        let params = offer("permessage-deflate").unwrap();
        let mut out = Vec::new();
        let err = Inflater::new(&params)
            .inflate(&[0xFF; 16], true, &mut out, 1 << 20)
            .unwrap_err();
        assert_eq!(err.code, 1007);
    }
}
