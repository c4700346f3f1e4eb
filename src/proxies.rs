//! The caller's address behind load balancers (issue 22). Behind a proxy every request comes from
//! the proxy's address, so a limit per source address would lock out every till at once. With
//! `CRM_TRUSTED_PROXIES` (CIDRs) the address is read from `X-Forwarded-For`: each proxy appends the
//! address it was called from, so the right-most entry that is not one of ours is the caller —
//! everything left of it the caller wrote itself and may have made up.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use ipnet::IpNet;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of CIDRs (`10.0.0.0/8`) or single addresses (`192.0.2.7`).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("'{item}' is not an address or a CIDR such as 10.0.0.0/8"))?;
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The caller: the peer, unless the peer is a trusted proxy — then the right-most
    /// `X-Forwarded-For` entry that is not a trusted proxy (the left-most when all are). An entry
    /// that is not an address ends the walk at the proxy that passed it on.
    pub fn client_address(&self, peer: Option<IpAddr>, forwarded_for: &[&str]) -> Option<IpAddr> {
        let mut caller = peer?;
        if !self.trusts(caller) {
            return Some(caller);
        }
        let hops = forwarded_for.iter().flat_map(|header| header.split(',')).map(str::trim).rev();
        for hop in hops {
            let Some(address) = parse_hop(hop) else { return Some(caller) };
            caller = address;
            if !self.trusts(address) {
                break;
            }
        }
        Some(caller)
    }

    /// The caller of `req` (see `client_address`).
    pub fn of_request(&self, req: &HttpRequest) -> Option<IpAddr> {
        let headers: Vec<&str> = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).collect();
        self.client_address(req.peer_addr().map(|a| a.ip()), &headers)
    }
}

/// `192.0.2.1`, `2001:db8::1`, or either with a port (`192.0.2.1:5000`, `[2001:db8::1]:5000`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn the_right_most_untrusted_forwarded_address_is_the_caller() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap_or_default();
        let lb = Some(ip("10.1.1.1"));
        let cases: &[(Option<IpAddr>, &[&str], &str)] = &[
            // Not behind a proxy we trust: the header is the caller's own words.
            (Some(ip("203.0.113.9")), &["198.51.100.1"], "203.0.113.9"),
            (lb, &["198.51.100.1"], "198.51.100.1"),
            // A made-up entry left of the one our proxy wrote changes nothing.
            (lb, &["1.2.3.4, 198.51.100.1"], "198.51.100.1"),
            (lb, &["1.2.3.4", "198.51.100.1, 192.0.2.7"], "198.51.100.1"),
            (lb, &["198.51.100.1:5000"], "198.51.100.1"),
            (lb, &["[2001:db8::1]:443"], "2001:db8::1"),
            // Only proxies: the left-most; no header or garbage: the proxy itself.
            (lb, &["10.9.9.9, 192.0.2.7"], "10.9.9.9"),
            (lb, &[], "10.1.1.1"),
            (lb, &["unknown"], "10.1.1.1"),
            (lb, &["198.51.100.1, unknown"], "10.1.1.1"),
        ];
        for (peer, headers, expected) in cases {
            assert_eq!(proxies.client_address(*peer, headers), Some(ip(expected)), "{peer:?} {headers:?}");
        }
        let none = TrustedProxies::default();
        assert_eq!(none.client_address(lb, &["198.51.100.1"]), lb, "no trusted proxies: the peer");
        assert_eq!(none.client_address(None, &["198.51.100.1"]), None);
    }

    #[test]
    fn the_list_takes_cidrs_and_addresses_and_names_a_bad_item() {
        assert_eq!(TrustedProxies::parse(" ").map(|p| p.0.len()), Ok(0));
        assert_eq!(TrustedProxies::parse("10.0.0.0/8,::1,fd00::/8").map(|p| p.0.len()), Ok(3));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("lb.internal").unwrap_err().contains("lb.internal"));
    }
}
