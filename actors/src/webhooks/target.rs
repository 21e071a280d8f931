//! Where a webhook may point. With private targets disallowed (the default in production), a
//! delivery never reaches this machine, a private network, or any special-use address.
//!
//! The decision is made on the **resolved address, at connect time**, on every attempt: every
//! address the host name resolves to must be allowed (a name with one public and one loopback
//! address is refused), IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms are unwrapped to the
//! IPv4 address they carry, and the connection goes to the very address that was checked, so a
//! second lookup cannot answer differently. At creation the URL's host is checked as well, as far
//! as it can be without a lookup: IP literals in every form a resolver accepts (`127.1`,
//! `0x7f000001`, `2130706433`, `0177.0.0.1`, `0`) and `localhost` names are refused at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use awc::http::Uri;

/// Why a target is refused: the address and the range it falls in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} is {why}")]
pub struct Refused {
    pub host: String,
    pub why: String,
}

/// The special-use range `ip` falls in, or `None` for an address on the public internet.
pub fn special_use(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "\"this network\" (0.0.0.0/8)",
        (10, ..) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "shared address space (100.64.0.0/10)",
        (127, ..) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, ..) => "multicast (224.0.0.0/4)",
        (240..=255, ..) => "reserved or broadcast (240.0.0.0/4)",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return Some(special_v4(v4).unwrap_or("an IPv4 address in an IPv6 transition form"));
    }
    let s = ip.segments();
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified (::)",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback (::1)",
        [0x100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [0x2001, 0xdb8, ..] => "documentation (2001:db8::/32)",
        [0x2001, 0x0..=0x1ff, ..] => "IETF protocol assignments (2001::/23)",
        [0x3fff, 0..=0xfff, ..] => "documentation (3fff::/20)",
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 transition form carries: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`) and 6to4
/// (`2002::/16`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] | [0, 0, 0, 0, 0, 0, ..] => Some(tail()),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] | [0x64, 0xff9b, 1, ..] => Some(tail()),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        _ => None,
    }
}

/// An IPv4 address the way `inet_aton` (and so every system resolver) reads one: one to four
/// parts, each decimal, octal (leading `0`) or hex (`0x`), the last filling the remaining bytes.
pub fn parse_v4_loosely(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        numbers
            .push(u32::from_str_radix(if digits.is_empty() { "0" } else { digits }, radix).ok()?);
    }
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|&n| n > 255) {
        return None;
    }
    let spare_bits = 8 * (4 - leading.len() as u32);
    if spare_bits < 32 && *last >= 1 << spare_bits {
        return None;
    }
    let high = leading
        .iter()
        .enumerate()
        .fold(0u32, |acc, (i, &n)| acc | (n << (24 - 8 * i as u32)));
    Some(Ipv4Addr::from(high | last))
}

/// The host of a callback URL (brackets of an IPv6 literal removed).
fn host_of(url: &str) -> Option<String> {
    let uri = url.parse::<Uri>().ok()?;
    let host = uri.host()?;
    Some(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
}

/// What can be said of a URL before any lookup: refused when its host is a special-use IP
/// literal (in any form a resolver accepts) or a `localhost` name.
pub fn check_url(url: &str) -> Result<(), Refused> {
    let Some(host) = host_of(url) else {
        return Ok(());
    };
    let refused = |why: &str| Refused {
        host: host.clone(),
        why: why.to_owned(),
    };
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return Err(refused("this machine (localhost)"));
    }
    let literal = host
        .parse::<IpAddr>()
        .ok()
        .or_else(|| parse_v4_loosely(&host).map(IpAddr::V4));
    match literal.and_then(special_use) {
        Some(why) => Err(refused(why)),
        None => Ok(()),
    }
}

/// Resolves the URL's host and checks every address it has; answers the one to connect to.
pub async fn resolve_allowed(url: &str) -> Result<SocketAddr, Refused> {
    let uri = url.parse::<Uri>().map_err(|e| Refused {
        host: url.to_owned(),
        why: format!("not a URL ({e})"),
    })?;
    check_url(url)?;
    let host = host_of(url).unwrap_or_default();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let refused = |why: String| Refused {
        host: host.clone(),
        why,
    };
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| refused(format!("not resolvable ({e})")))?
        .collect();
    first_allowed(&host, &addresses)
}

/// The address to connect to when every one of `addresses` is allowed.
fn first_allowed(host: &str, addresses: &[SocketAddr]) -> Result<SocketAddr, Refused> {
    let refused = |why: String| Refused {
        host: host.to_owned(),
        why,
    };
    if let Some((address, why)) = addresses
        .iter()
        .find_map(|a| special_use(a.ip()).map(|why| (a, why)))
    {
        return Err(refused(format!("{} which is {why}", address.ip())));
    }
    addresses
        .first()
        .copied()
        .ok_or_else(|| refused("without any address".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_of_loopback_and_every_special_use_literal_is_refused_at_creation() {
        for url in [
            "http://localhost:8080/x",
            "http://LOCALHOST./x",
            "http://hooks.localhost/x",
            "http://127.0.0.1/x",
            "http://127.1/x",
            "http://0x7f000001/x",
            "http://2130706433/x",
            "http://0177.0.0.1/x",
            "http://0/x",
            "http://0.0.0.0/x",
            "http://[::1]:9/x",
            "http://[::ffff:7f00:1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[::ffff:169.254.169.254]/x",
            "http://[::127.0.0.1]/x",
            "http://[64:ff9b::7f00:1]/x",
            "http://[2002:7f00:1::]/x",
            "http://[fd00::1]/x",
            "http://[fe80::1]/x",
            "http://[ff02::1]/x",
            "https://10.1.2.3/x",
            "http://172.16.0.1/x",
            "http://192.168.0.5/x",
            "http://169.254.169.254/latest",
            "http://100.64.0.1/x",
            "http://198.18.0.1/x",
            "http://192.0.0.1/x",
            "http://224.0.0.1/x",
            "http://239.255.255.250/x",
            "http://255.255.255.255/x",
        ] {
            assert!(check_url(url).is_err(), "{url} must be refused");
        }
    }

    #[test]
    fn host_names_wait_for_their_lookup() {
        assert_eq!(check_url("https://hooks.example/kills"), Ok(()));
    }

    #[test]
    fn loose_ipv4_forms_read_as_a_resolver_reads_them() {
        let ip = |t: &str| parse_v4_loosely(t).map(|a| a.to_string());
        assert_eq!(ip("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("0x7f000001").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("2130706433").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("0177.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("0").as_deref(), Some("0.0.0.0"));
        assert_eq!(ip("10.1.65535").as_deref(), Some("10.1.255.255"));
        assert_eq!(ip("256.1"), None);
        assert_eq!(ip("hooks"), None);
        assert_eq!(ip("1.2.3.4.5"), None);
    }

    #[test]
    fn one_special_address_among_a_names_addresses_refuses_the_name() {
        let public: SocketAddr = "8.8.8.8:443".parse().expect("an address");
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:443".parse().expect("an address");

        let refused = first_allowed("hooks", &[public, mapped]).expect_err("refused");

        assert!(refused.why.contains("loopback"), "{refused}");
        assert!(first_allowed("hooks", &[]).is_err(), "no address at all");
    }

    #[actix::test]
    async fn a_name_is_judged_by_every_address_it_resolves_to() {
        let refused = resolve_allowed("http://localhost:9/hook")
            .await
            .expect_err("localhost is refused");
        assert!(refused.to_string().contains("localhost"), "{refused}");
    }
}
