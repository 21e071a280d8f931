//! Where a webhook may point: with private targets disallowed, never at this machine or a
//! private network.

use std::net::IpAddr;

/// Whether a callback URL names this machine or a private network: `localhost`, or an IP
/// literal that is loopback, private, link-local, unspecified or unique-local. Host names are
/// not resolved here.
pub fn is_private_target(url: &str) -> bool {
    let Ok(uri) = url.parse::<awc::http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_loopback_targets_are_recognised() {
        for url in [
            "http://localhost:8080/x",
            "http://127.0.0.1/x",
            "https://10.1.2.3/x",
            "http://192.168.0.5/x",
            "http://172.16.0.1/x",
            "http://169.254.169.254/latest",
            "http://[::1]:9/x",
            "http://[fd00::1]/x",
            "http://0.0.0.0/x",
        ] {
            assert!(is_private_target(url), "{url}");
        }
        for url in [
            "https://example.com/hook",
            "http://8.8.8.8/x",
            "https://[2001:db8::1]/x",
        ] {
            assert!(!is_private_target(url), "{url}");
        }
    }
}
