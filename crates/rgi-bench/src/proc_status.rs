//! A process's memory from `/proc/<pid>/status` (Linux).

use std::io;

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident size so far.
    pub peak_kib: u64,
}

/// Reads `/proc/<pid>/status`.
pub fn read(pid: u32) -> io::Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse(&text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS/VmHWM"))
}

/// Parses the `VmRSS` and `VmHWM` lines of a status file.
pub fn parse(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            value.trim().strip_suffix("kB")?.trim().parse().ok()
        })
    };
    Some(Memory {
        rss_kib: field("VmRSS")?,
        peak_kib: field("VmHWM")?,
    })
}

/// CPU time a process has used (user + system), from `/proc/<pid>/stat`,
/// in clock ticks (`USER_HZ`, 100 a second on Linux).
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no utime/stime"))
}

/// `utime + stime` of a stat line (fields 14 and 15; the command name in
/// parentheses may hold spaces, so fields are counted after its `)`).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of [`cpu_ticks`] (Linux's `USER_HZ`).
pub const TICKS_PER_SECOND: u64 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t2\n";
        assert_eq!(
            parse(status),
            Some(Memory {
                rss_kib: 1024,
                peak_kib: 2048
            })
        );
        assert_eq!(parse("VmRSS: 1 kB\n"), None);
    }

    #[test]
    fn parses_cpu_ticks_after_the_name() {
        let stat = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(10));
        assert_eq!(parse_cpu_ticks("42 (x) S 1"), None);
        assert!(cpu_ticks(std::process::id()).is_ok());
    }

    #[test]
    fn reads_this_process() {
        let memory = read(std::process::id()).unwrap();
        assert!(memory.rss_kib > 0 && memory.peak_kib >= memory.rss_kib);
    }
}
