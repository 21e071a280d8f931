//! Which address a request comes from, behind a reverse proxy or load balancer. The TCP peer is
//! the client unless it is one of the operator's `TRUSTED_PROXIES` (addresses or CIDR ranges):
//! then the client is the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy.
//! Entries left of it are the client's own claims and are never believed, so a client cannot
//! pick the address its limits are counted under. Connection caps, the rate limit and the logs
//! all count the address this answers.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// The operator's proxies.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Reads `10.0.0.0/8, 127.0.0.1, ::1` (empty: no proxy is trusted).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (address, bits) = match part.split_once('/') {
                Some((address, bits)) => (address, Some(bits)),
                None => (part, None),
            };
            let address: IpAddr = address
                .parse()
                .map_err(|_| format!("{part:?} is not an IP address or CIDR range"))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(bits) => bits
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{part:?}: the prefix must be 0-{max}"))?,
                None => max,
            };
            ranges.push((address, bits));
        }
        Ok(Self(ranges))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0
            .iter()
            .any(|(net, bits)| within(ip, canonical(*net), *bits))
    }

    /// The client of `req`, as described in the module header.
    pub fn client(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for entry in forwarded.iter().rev() {
            match entry.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => continue,
                Ok(ip) => return ip,
                // A garbled entry: nothing to its left can be believed.
                Err(_) => return peer,
            }
        }
        peer
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn within(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, forwarded: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(peer.parse().expect("an address"));
        for header in forwarded {
            req = req.insert_header(("x-forwarded-for", *header));
        }
        req.to_http_request()
    }

    #[test]
    fn the_rightmost_untrusted_forwarded_address_is_the_client_behind_a_trusted_proxy() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").expect("parses");
        let req = request("10.1.2.3:5000", &["6.6.6.6, 203.0.113.7, 10.9.9.9"]);
        assert_eq!(
            trusted.client(&req),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address_with_the_header() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").expect("parses");
        let req = request("198.51.100.4:5000", &["1.2.3.4"]);
        assert_eq!(
            trusted.client(&req),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
        let none = TrustedProxies::default();
        let req = request("10.1.2.3:5000", &["1.2.3.4"]);
        assert_eq!(none.client(&req), "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_garbled_or_missing_header_leaves_the_peer() {
        let trusted = TrustedProxies::parse("127.0.0.1").expect("parses");
        assert_eq!(
            trusted.client(&request("127.0.0.1:1", &["not-an-ip, 1.2.3.4"])),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            trusted.client(&request("127.0.0.1:1", &["1.2.3.4, bogus"])),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            trusted.client(&request("127.0.0.1:1", &[])),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn ranges_cover_ipv6_and_mapped_ipv4_and_bad_text_is_refused() {
        let trusted = TrustedProxies::parse("fd00::/8, 192.168.0.0/16").expect("parses");
        assert!(trusted.trusts("fd12::1".parse().unwrap()));
        assert!(trusted.trusts("::ffff:192.168.4.4".parse().unwrap()));
        assert!(!trusted.trusts("192.169.0.1".parse().unwrap()));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(TrustedProxies::parse("").expect("empty").0.is_empty());
    }
}
