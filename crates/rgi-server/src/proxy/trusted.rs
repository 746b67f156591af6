//! Which peers may speak for the client: addresses and CIDR ranges, or
//! `*` for every peer (`--forwarded-allow-ips`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies {
    any: bool,
    nets: Vec<Net>,
}

/// One address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl TrustedProxies {
    /// Every peer (`*`): only for a server that no client reaches
    /// directly (behind a firewall, on a private network or Unix socket).
    pub fn any() -> Self {
        Self {
            any: true,
            nets: Vec::new(),
        }
    }

    /// The loopback addresses, `127.0.0.1` and `::1`: the default, for a
    /// proxy on the same machine (uvicorn's and gunicorn's default).
    pub fn loopback() -> Self {
        "127.0.0.1,::1".parse().expect("literal")
    }

    /// Whether `ip` is trusted. An IPv4 address seen as IPv6
    /// (`::ffff:10.0.0.1`, on a dual-stack listener) is checked as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        if self.any {
            return true;
        }
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(ip))
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Net { addr, prefix })
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses, CIDR ranges and `*`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut trusted = TrustedProxies {
            any: false,
            nets: Vec::new(),
        };
        for entry in s.split(',').map(str::trim) {
            match entry {
                "" => {}
                "*" => trusted.any = true,
                _ => trusted.nets.push(entry.parse()?),
            }
        }
        if !trusted.any && trusted.nets.is_empty() {
            return Err("no address given (use `*` to trust every peer)".to_owned());
        }
        Ok(trusted)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if self.any {
            parts.push("*".into());
        }
        parts.extend(self.nets.iter().map(|n| format!("{}/{}", n.addr, n.prefix)));
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_and_ranges() {
        let t: TrustedProxies = "10.0.0.0/8, 192.168.1.7, 2001:db8::/32, ::1"
            .parse()
            .unwrap();
        assert!(t.contains(ip("10.255.0.1")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("2001:db8:ffff::1")));
        assert!(!t.contains(ip("2001:db9::1")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(!t.contains(ip("127.0.0.1")));
    }

    #[test]
    fn star_and_edges() {
        assert!(TrustedProxies::any().contains(ip("8.8.8.8")));
        assert!("*".parse::<TrustedProxies>().unwrap().contains(ip("::2")));
        let all4: TrustedProxies = "0.0.0.0/0".parse().unwrap();
        assert!(all4.contains(ip("1.2.3.4")) && !all4.contains(ip("::5")));
        let all6: TrustedProxies = "::/0".parse().unwrap();
        assert!(all6.contains(ip("2001::1")));
        assert!(TrustedProxies::loopback().contains(ip("127.0.0.1")));
        assert!(!TrustedProxies::loopback().contains(ip("127.0.0.2")));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "::/129",
            "1.2.3.4/x",
            "10.0.0.0/8,nope",
        ] {
            let err = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
        let err = "10.0.0.0/8,nope".parse::<TrustedProxies>().unwrap_err();
        assert!(err.contains("`nope`"), "{err}");
    }
}
