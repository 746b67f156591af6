//! Parsing the forwarding headers: the de-facto `X-Forwarded-*` trio and
//! RFC 7239 `Forwarded`. Malformed values are never an error for the
//! request: they only mean that nothing is believed.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use super::{client_hop, host_of, scheme_of, Forwarded, TrustedProxies};

/// `X-Forwarded-For` (every line, in order, as one list), and the
/// rightmost value of `X-Forwarded-Proto` and `X-Forwarded-Host`: the one
/// the nearest proxy, which is trusted, wrote.
pub(super) fn from_x_forwarded(trusted: &TrustedProxies, headers: &HeaderMap) -> Forwarded {
    let mut hops: Vec<&str> = Vec::new();
    let mut malformed = false;
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(list) => hops.extend(list.split(',').map(str::trim)),
            Err(_) => malformed = true,
        }
    }
    let client = if malformed {
        None
    } else {
        client_hop(trusted, &hops, |hop| parse_node(hop).map(|a| a.ip()))
            .ok()
            .flatten()
            .and_then(|i| parse_node(hops[i]))
    };
    let last = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|list| list.rsplit(',').next())
    };
    Forwarded {
        client,
        scheme: last("x-forwarded-proto").and_then(scheme_of),
        host: last("x-forwarded-host").and_then(host_of),
    }
}

/// One element of a `Forwarded` list.
#[derive(Debug, Default)]
struct Element {
    r#for: Option<String>,
    proto: Option<String>,
    host: Option<String>,
}

/// RFC 7239 `Forwarded`: the element whose `for` is the client (walking
/// from the right past trusted proxies) gives the client, and its `proto`
/// and `host` the scheme and host the client used.
pub(super) fn from_rfc7239(trusted: &TrustedProxies, headers: &HeaderMap) -> Forwarded {
    let mut elements = Vec::new();
    for value in headers.get_all(http::header::FORWARDED) {
        let Some(parsed) = value.to_str().ok().and_then(parse_elements) else {
            return Forwarded::default();
        };
        elements.extend(parsed);
    }
    let hop = client_hop(trusted, &elements, |e| {
        e.r#for.as_deref().and_then(parse_node).map(|a| a.ip())
    });
    let Ok(Some(i)) = hop else {
        return Forwarded::default();
    };
    let element = &elements[i];
    Forwarded {
        client: element.r#for.as_deref().and_then(parse_node),
        scheme: element.proto.as_deref().and_then(scheme_of),
        host: element.host.as_deref().and_then(host_of),
    }
}

/// `element *( "," element )`, each `[pair] *( ";" [pair] )`, a pair
/// `token "=" ( token / quoted-string )`. `None` when malformed (a pair
/// without `=`, an unterminated quote, a parameter twice in one element).
fn parse_elements(value: &str) -> Option<Vec<Element>> {
    let mut elements = vec![Element::default()];
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        match chars.peek() {
            None => return Some(elements),
            Some(',') => {
                chars.next();
                elements.push(Element::default());
                continue;
            }
            Some(';') => {
                chars.next();
                continue;
            }
            Some(_) => {}
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| is_tchar(*c)) {
            name.push(c.to_ascii_lowercase());
        }
        if name.is_empty() || chars.next() != Some('=') {
            return None;
        }
        let mut val = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => val.push(chars.next()?),
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| is_tchar(*c)) {
                val.push(c);
            }
            if val.is_empty() {
                return None;
            }
        }
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        if !matches!(chars.peek(), None | Some(',' | ';')) {
            return None;
        }
        let element = elements.last_mut()?;
        let slot = match name.as_str() {
            "for" => &mut element.r#for,
            "proto" => &mut element.proto,
            "host" => &mut element.host,
            _ => continue, // `by` and extensions
        };
        if slot.replace(val).is_some() {
            return None;
        }
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~:[]".contains(c)
}

/// A hop's address: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:80`; the port is 0 when absent.
/// `unknown`, obfuscated names (`_hidden`) and anything else: `None`.
fn parse_node(node: &str) -> Option<SocketAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr);
    }
    let inner = node.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|ip| SocketAddr::new(ip.into(), 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes() {
        assert_eq!(
            parse_node("192.0.2.1"),
            Some("192.0.2.1:0".parse().unwrap())
        );
        assert_eq!(
            parse_node("192.0.2.1:8"),
            Some("192.0.2.1:8".parse().unwrap())
        );
        assert_eq!(parse_node("[::1]"), Some("[::1]:0".parse().unwrap()));
        assert_eq!(parse_node("[::1]:7"), Some("[::1]:7".parse().unwrap()));
        assert_eq!(parse_node("::1"), Some("[::1]:0".parse().unwrap()));
        for bad in ["unknown", "_x", "", "[1.2.3.4]", "::1:80:", "1.2.3.4:99999"] {
            assert_eq!(parse_node(bad), None, "{bad}");
        }
    }

    #[test]
    fn elements() {
        let e = parse_elements(r#"for=a;proto=http, for="[::1]:4";host="h\"x", ,by=z"#).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].r#for.as_deref(), Some("a"));
        assert_eq!(e[0].proto.as_deref(), Some("http"));
        assert_eq!(e[1].r#for.as_deref(), Some("[::1]:4"));
        assert_eq!(e[1].host.as_deref(), Some("h\"x"));
        assert!(e[2].r#for.is_none() && e[3].r#for.is_none());
        for bad in [
            "for",
            "for=",
            "=x",
            "for=\"a",
            "for=a b",
            "for=a;for=b",
            "for=a\"b\"",
        ] {
            assert!(parse_elements(bad).is_none(), "{bad}");
        }
    }
}
