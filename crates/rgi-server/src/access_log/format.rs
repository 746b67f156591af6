//! The line formats: Common Log Format, Combined (with referer and user
//! agent, as Apache and nginx write it) and JSON lines.

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Entry;

/// How access-log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AccessLogFormat {
    /// `client - - [time] "METHOD target VERSION" status bytes`
    #[default]
    Common,
    /// Common, then `"referer" "user-agent"`.
    Combined,
    /// One JSON object per line: time, client, method, path, version,
    /// status, bytes, duration_ms, referer, user_agent.
    Json,
}

impl AccessLogFormat {
    /// Whether lines show request headers.
    pub(super) fn wants_headers(self) -> bool {
        self != AccessLogFormat::Common
    }

    /// The formats' names, as the command line takes them.
    pub const NAMES: [&'static str; 3] = ["common", "combined", "json"];
}

impl FromStr for AccessLogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "common" => Ok(Self::Common),
            "combined" => Ok(Self::Combined),
            "json" => Ok(Self::Json),
            _ => Err(format!(
                "`{s}` is not an access log format (one of: {})",
                Self::NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for AccessLogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Common => "common",
            Self::Combined => "combined",
            Self::Json => "json",
        })
    }
}

/// Formats entries; keeps the last rendered second, since a batch is
/// mostly entries of the same second.
pub(super) struct Formatter {
    format: AccessLogFormat,
    second: u64,
    clf_time: String,
    iso_time: String,
    /// A wall-clock time and the instant it was read at: entries carry
    /// only their start instant, and their wall time is placed from it.
    clock: (SystemTime, Instant),
}

impl Formatter {
    pub(super) fn new(format: AccessLogFormat) -> Self {
        Self {
            format,
            second: u64::MAX,
            clf_time: String::new(),
            iso_time: String::new(),
            clock: (SystemTime::now(), Instant::now()),
        }
    }

    /// Sets the wall-clock reading entries are placed from.
    pub(super) fn set_clock(&mut self, wall: SystemTime, at: Instant) {
        self.clock = (wall, at);
    }

    pub(super) fn write(&mut self, entry: &Entry, out: &mut Vec<u8>) {
        let (wall, at) = self.clock;
        let time = wall
            .checked_sub(at.saturating_duration_since(entry.pending.started))
            .unwrap_or(wall);
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        self.render_time(since_epoch.as_secs());
        match self.format {
            AccessLogFormat::Common | AccessLogFormat::Combined => self.write_clf(entry, out),
            AccessLogFormat::Json => self.write_json(entry, since_epoch.subsec_millis(), out),
        }
        out.push(b'\n');
    }

    fn render_time(&mut self, second: u64) {
        if second == self.second {
            return;
        }
        self.second = second;
        let (y, mo, d, h, mi, s) = civil(second);
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        self.clf_time = format!(
            "{d:02}/{}/{y:04}:{h:02}:{mi:02}:{s:02} +0000",
            MONTHS[(mo - 1) as usize]
        );
        self.iso_time = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    }

    fn write_clf(&self, entry: &Entry, out: &mut Vec<u8>) {
        let p = &entry.pending;
        match p.client {
            Some(client) => write_ip(client.ip(), out),
            None => out.push(b'-'),
        }
        out.extend_from_slice(b" - - [");
        out.extend_from_slice(self.clf_time.as_bytes());
        out.extend_from_slice(b"] \"");
        match &p.request {
            Some(r) => {
                escape_clf(r.method.as_str().as_bytes(), out);
                out.push(b' ');
                escape_clf(r.target.as_bytes(), out);
                out.push(b' ');
                out.extend_from_slice(version(r.version).as_bytes());
            }
            None => out.push(b'-'),
        }
        let mut number = itoa::Buffer::new();
        out.extend_from_slice(b"\" ");
        out.extend_from_slice(number.format(entry.status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(number.format(entry.bytes).as_bytes());
        if self.format == AccessLogFormat::Combined {
            for value in [&p.referer, &p.user_agent] {
                out.extend_from_slice(b" \"");
                match value {
                    Some(v) => escape_clf(v.as_bytes(), out),
                    None => out.push(b'-'),
                }
                out.push(b'"');
            }
        }
    }

    fn write_json(&self, entry: &Entry, millis: u32, out: &mut Vec<u8>) {
        let p = &entry.pending;
        let _ = write!(
            out,
            "{{\"time\":\"{}.{millis:03}Z\",\"client\":",
            self.iso_time
        );
        match p.client {
            Some(client) => {
                let _ = write!(out, "\"{client}\"");
            }
            None => out.extend_from_slice(b"null"),
        }
        match &p.request {
            Some(r) => {
                out.extend_from_slice(b",\"method\":");
                escape_json(r.method.as_str().as_bytes(), out);
                out.extend_from_slice(b",\"path\":");
                escape_json(r.target.as_bytes(), out);
                let _ = write!(out, ",\"version\":\"{}\"", version(r.version));
            }
            None => out.extend_from_slice(b",\"method\":null,\"path\":null,\"version\":null"),
        }
        let _ = write!(
            out,
            ",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3}",
            entry.status,
            entry.bytes,
            entry.duration.as_secs_f64() * 1000.0
        );
        for (name, value) in [("referer", &p.referer), ("user_agent", &p.user_agent)] {
            let _ = write!(out, ",\"{name}\":");
            match value {
                Some(v) => escape_json(v.as_bytes(), out),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
    }
}

/// The version as a request line spells it.
fn version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

/// An address without the formatting machinery for the common case, IPv4.
fn write_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => {
            let mut number = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(number.format(octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Writes `bytes` for a quoted CLF field: `"` and `\` escaped, bytes
/// outside printable ASCII as `\xHH` (as nginx does), so a request cannot
/// forge a log line.
fn escape_clf(bytes: &[u8], out: &mut Vec<u8>) {
    let plain = |b: &u8| matches!(b, 0x20..=0x7e) && *b != b'"' && *b != b'\\';
    if bytes.iter().all(plain) {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0x20..=0x7e => out.push(b),
            _ => {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
    }
}

/// Writes `bytes` as a JSON string; bytes that are not UTF-8 text become
/// U+FFFD.
fn escape_json(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// UTC calendar fields of a Unix time (days-to-civil, H. Hinnant).
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use http::{Method, Version};

    use super::super::{LogText, PendingEntry, RequestLine};
    use super::*;

    fn entry(target: &str, referer: Option<&'static [u8]>) -> Entry {
        Entry {
            pending: PendingEntry {
                started: Instant::now(),
                request: Some(RequestLine {
                    method: Method::GET,
                    target: LogText::new(target.as_bytes()),
                    version: Version::HTTP_11,
                }),
                client: Some("[2001:db8::1]:443".parse().unwrap()),
                referer: referer.map(LogText::new),
                user_agent: Some(LogText::new(b"curl/8.5")),
            },
            duration: Duration::from_micros(1500),
            status: 200,
            bytes: 2326,
        }
    }

    fn line(format: AccessLogFormat, entry: &Entry) -> String {
        let mut out = Vec::new();
        let mut formatter = Formatter::new(format);
        // 2000-10-10T13:55:36.250Z (Apache's documentation example) when
        // the entry started.
        let wall = UNIX_EPOCH + Duration::from_millis(971_186_136_250);
        formatter.set_clock(wall, entry.pending.started);
        formatter.write(entry, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn common_and_combined_read_like_apache() {
        let e = entry("/apache_pb.gif?a=1", Some(b"http://x/\"q\"\xff"));
        assert_eq!(
            line(AccessLogFormat::Common, &e),
            "2001:db8::1 - - [10/Oct/2000:13:55:36 +0000] \"GET /apache_pb.gif?a=1 HTTP/1.1\" 200 2326\n"
        );
        assert_eq!(
            line(AccessLogFormat::Combined, &e),
            "2001:db8::1 - - [10/Oct/2000:13:55:36 +0000] \"GET /apache_pb.gif?a=1 HTTP/1.1\" 200 2326 \"http://x/\\\"q\\\"\\xFF\" \"curl/8.5\"\n"
        );
    }

    #[test]
    fn json_is_one_parseable_object() {
        let e = entry("/p", Some(b"a\"b"));
        let text = line(AccessLogFormat::Json, &e);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["time"], "2000-10-10T13:55:36.250Z");
        assert_eq!(v["client"], "[2001:db8::1]:443");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/p");
        assert_eq!(v["version"], "HTTP/1.1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["bytes"], 2326);
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["referer"], "a\"b");
    }

    #[test]
    fn a_refused_request_has_a_dash_for_its_line() {
        let mut e = entry("/", None);
        e.pending.request = None;
        e.pending.client = None;
        e.status = 400;
        e.bytes = 0;
        assert_eq!(
            line(AccessLogFormat::Combined, &e),
            "- - - [10/Oct/2000:13:55:36 +0000] \"-\" 400 0 \"-\" \"curl/8.5\"\n"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(4_102_444_799), (2099, 12, 31, 23, 59, 59));
    }

    #[test]
    fn format_names_round_trip() {
        for name in AccessLogFormat::NAMES {
            assert_eq!(name.parse::<AccessLogFormat>().unwrap().to_string(), name);
        }
        assert!("apache".parse::<AccessLogFormat>().is_err());
    }
}
