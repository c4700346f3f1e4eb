//! Webhook rules (SPEC §10, Standard Webhooks): secrets, signatures, what an answer means, and when
//! to try again. Pure: no I/O, no clock.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The prefix Standard Webhooks gives a secret; what follows is base64 of the key.
pub const SECRET_PREFIX: &str = "whsec_";
/// 24 random bytes of key (SPEC §10).
pub const SECRET_BYTES: usize = 24;
/// An attempt that has no answer after this long failed.
pub const ATTEMPT_TIMEOUT_SECONDS: u64 = 15;
/// When the retries come, counted from the first failure: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
/// 20 h and 24 h. After the last one fails, the delivery is `failed`.
pub const RETRY_OFFSETS_SECONDS: [i64; 9] =
    [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600];
/// Jitter: up to this share of the gap since the previous retry, so receivers that failed together
/// are not all retried in the same second.
pub const JITTER_SHARE: f64 = 0.1;
/// A subscription whose deliveries have all failed for this long is disabled.
pub const DISABLE_AFTER_FAILING_DAYS: i64 = 5;
/// After a rotation, deliveries are signed with the old secret too for this long.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;
/// The longest `Retry-After` honoured; a longer one waits this long.
pub const MAX_RETRY_AFTER_SECONDS: i64 = 24 * 3600;

pub fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// The key a secret stands for: base64-decoded after `whsec_`.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    BASE64.decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret)).ok()
}

/// `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per live secret, space separated.
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| secret_key(s))
        .map(|key| signature(&key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a receiver's answer (or its silence) means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// 410: the receiver is gone; the subscription is disabled at once.
    Gone,
    /// 429 or 503 with a `Retry-After`: try again then.
    RetryAfter(i64),
    /// Anything else, a timeout or a refused connection: try again on the schedule.
    Failed,
}

pub fn verdict(status: Option<u16>, retry_after: Option<&str>, now: DateTime<Utc>) -> Verdict {
    match status {
        Some(code) if (200..300).contains(&code) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        Some(429 | 503) => match retry_after.and_then(|v| retry_after_seconds(v, now)) {
            Some(seconds) => Verdict::RetryAfter(seconds),
            None => Verdict::Failed,
        },
        _ => Verdict::Failed,
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, clamped to 1 s .. 24 h.
pub fn retry_after_seconds(value: &str, now: DateTime<Utc>) -> Option<i64> {
    let value = value.trim();
    let seconds = match value.parse::<i64>() {
        Ok(s) => s,
        Err(_) => (DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc) - now).num_seconds(),
    };
    Some(seconds.clamp(1, MAX_RETRY_AFTER_SECONDS))
}

/// When to try again after `failures` failed attempts (1 = the first failure), given when the first
/// failed and a jitter draw in `[0, 1)`; `None` when the schedule is spent.
pub fn next_retry(first_failed_at: DateTime<Utc>, failures: usize, jitter: f64) -> Option<DateTime<Utc>> {
    let offset = *RETRY_OFFSETS_SECONDS.get(failures.checked_sub(1)?)?;
    let previous = failures.checked_sub(2).map_or(0, |i| RETRY_OFFSETS_SECONDS[i]);
    let spread = ((offset - previous) as f64 * JITTER_SHARE * jitter.clamp(0.0, 1.0)) as i64;
    Some(first_failed_at + Duration::seconds(offset + spread))
}

/// Whether a subscription failing since `since` has failed long enough to be disabled.
pub fn failing_too_long(since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - since >= Duration::days(DISABLE_AFTER_FAILING_DAYS)
}

/// The longest subscriber URL, as sent and as stored.
pub const URL_MAX_CHARS: usize = 2048;

/// Subscriptions one principal (JWT `sub`) may have created and not deleted. An integration needs a
/// few receivers (and a staging copy of each); beyond that, a leaked or careless token would fan the
/// whole event stream, and the delivery worker's slots, out to as many URLs as it likes.
pub const MAX_SUBSCRIPTIONS_PER_PRINCIPAL: i64 = 20;

/// The widest window one replay covers. A month is what a receiver that was down catches up on in one
/// go; a longer outage is several calls, each after the previous one has drained.
pub const MAX_REPLAY_DAYS: i64 = 31;

/// A subscriber's URL, as one grammar the service and the OpenAPI document (`format: webhook-url`)
/// share to the letter: absolute http(s); a host that is a DNS name (its last label starts with a
/// letter), a dotted IPv4 address (no leading zeros) or a bracketed IPv6 address; an optional port
/// 0-65535; then any printable ASCII. No credentials, and no numeric spellings a resolver would read
/// as an address (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`): a receiver is named plainly,
/// so what is saved is what the address rules judge. Every string of this grammar is a URL the
/// WHATWG parser takes (a seeded test draws 20,000; a hypothesis run of 176,000 agreed), so a valid
/// request is never refused.
pub fn url_pattern() -> String {
    let h = "[0-9A-Fa-f]{1,4}";
    let ipv6 = [
        format!("({h}:){{7}}{h}"),
        format!("({h}:){{1,7}}:"),
        format!("({h}:){{1,6}}:{h}"),
        format!("({h}:){{1,5}}(:{h}){{1,2}}"),
        format!("({h}:){{1,4}}(:{h}){{1,3}}"),
        format!("({h}:){{1,3}}(:{h}){{1,4}}"),
        format!("({h}:){{1,2}}(:{h}){{1,5}}"),
        format!("{h}:(:{h}){{1,6}}"),
        format!(":((:{h}){{1,7}}|:)"),
    ]
    .join("|");
    let octet = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    let ipv4 = format!(r"{octet}(\.{octet}){{3}}");
    let domain = r"([A-Za-z0-9](-?[A-Za-z0-9])*\.)*[A-Za-z](-?[A-Za-z0-9])*\.?";
    let port = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)";
    format!(r"^https?://({domain}|{ipv4}|\[({ipv6})\])(:{port})?([/?#][!-~]*)?$")
}

pub fn valid_url(url: &str) -> bool {
    static GRAMMAR: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let grammar = GRAMMAR.get_or_init(|| regex::Regex::new(&url_pattern()).ok());
    url.len() <= URL_MAX_CHARS && grammar.as_ref().is_some_and(|g| g.is_match(url))
}

/// A valid subscriber URL in its one canonical (WHATWG) form, as stored: the host lower-cased, a
/// default port dropped, an IPv6 address compressed.
pub fn normalise_url(raw: &str) -> Option<url::Url> {
    if !valid_url(raw) {
        return None;
    }
    url::Url::parse(raw).ok().filter(|url| url.host().is_some())
}

/// IPv4 ranges no delivery goes to (the IANA special-purpose registry): anything but the public
/// internet is some operator's inside.
const REFUSED_V4: &[(Ipv4Addr, u32)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network": 0.0.0.0 reaches the host itself
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local, cloud metadata services among them
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, and the broadcast address
];

/// IPv6 ranges no delivery goes to. Forms that carry an IPv4 address are judged by that address
/// (`embedded_v4`), so `::ffff:127.0.0.1` is loopback.
const REFUSED_V6: &[(Ipv6Addr, u32)] = &[
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),     // discard-only
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32),    // Teredo: tunnels to an address it hides
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),     // unique-local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),    // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),    // site-local (deprecated, still routed inside some sites)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),     // multicast
];

fn in_range(address: u128, network: u128, prefix: u32, width: u32) -> bool {
    prefix == 0 || (address ^ network) >> (width - prefix) == 0
}

/// The IPv4 address an IPv6 one stands for: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from(bits as u32);
    if let Some(v4) = ip.to_ipv4() {
        Some(v4)
    } else if in_range(bits, u128::from(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)), 96, 128) {
        Some(low)
    } else if ip.segments()[0] == 0x2002 {
        Some(Ipv4Addr::from((bits >> 80) as u32))
    } else {
        None
    }
}

/// Whether deliveries may go to `ip`: public unicast only — never this host, a private or
/// link-local network, a multicast group or a reserved range, in any notation.
pub fn public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u128::from(u32::from(v4));
            !REFUSED_V4.iter().any(|(net, prefix)| in_range(bits, u128::from(u32::from(*net)), *prefix, 32))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            !REFUSED_V6.iter().any(|(net, prefix)| in_range(bits, u128::from(*net), *prefix, 128))
                && embedded_v4(v6).is_none_or(|v4| public_address(IpAddr::V4(v4)))
        }
    }
}

/// A receiver's host as far as it can be judged without DNS: an address by its range, and
/// `localhost` names as loopback, whatever a resolver says (RFC 6761). Other names are judged by
/// the addresses they resolve to (`address.rs`).
pub fn host_refused(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => !public_address(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => !public_address(IpAddr::V6(*ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).single().unwrap_or_default()
    }

    #[test]
    fn a_secret_is_whsec_and_24_bytes_of_base64() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret_key(&secret).map(|k| k.len()), Some(24));
        assert_ne!(new_secret(), secret);
    }

    #[test]
    fn the_signature_matches_the_standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks specification (and its reference libraries).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let key = secret_key(secret).unwrap_or_default();
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn during_a_rotation_both_secrets_sign() {
        let (old, new) = (new_secret(), new_secret());
        let header = signature_header(&[&new, &old], "id", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn answers_map_to_verdicts() {
        let now = t0();
        assert_eq!(verdict(Some(200), None, now), Verdict::Delivered);
        assert_eq!(verdict(Some(204), None, now), Verdict::Delivered);
        assert_eq!(verdict(Some(410), None, now), Verdict::Gone);
        assert_eq!(verdict(Some(429), Some("120"), now), Verdict::RetryAfter(120));
        assert_eq!(verdict(Some(503), Some("Mon, 23 Nov 2026 08:02:00 GMT"), now), Verdict::RetryAfter(120));
        assert_eq!(verdict(Some(429), None, now), Verdict::Failed);
        assert_eq!(verdict(Some(429), Some("soon"), now), Verdict::Failed);
        assert_eq!(verdict(Some(500), Some("120"), now), Verdict::Failed);
        assert_eq!(verdict(Some(301), None, now), Verdict::Failed);
        assert_eq!(verdict(None, None, now), Verdict::Failed);
        assert_eq!(retry_after_seconds("0", now), Some(1));
        assert_eq!(retry_after_seconds("999999", now), Some(24 * 3600));
    }

    #[test]
    fn retries_come_at_the_spec_offsets_from_the_first_failure_then_stop() {
        let expected = ["5s", "5m", "30m", "2h", "5h", "10h", "14h", "20h", "24h"];
        for (i, label) in expected.iter().enumerate() {
            let at = next_retry(t0(), i + 1, 0.0).unwrap_or_else(|| panic!("retry {label}"));
            assert_eq!((at - t0()).num_seconds(), RETRY_OFFSETS_SECONDS[i], "{label}");
        }
        assert_eq!(next_retry(t0(), 10, 0.0), None, "nine retries, then failed");
        assert_eq!(next_retry(t0(), 0, 0.0), None);
        // Jitter stays within a tenth of the gap, so the order of retries never changes.
        let late = next_retry(t0(), 2, 0.999).unwrap_or_default();
        assert!((late - t0()).num_seconds() <= 300 + 29, "{late}");
        assert!(next_retry(t0(), 1, 0.999) < next_retry(t0(), 2, 0.0));
    }

    #[test]
    fn five_days_of_failures_disable() {
        assert!(!failing_too_long(t0(), t0() + Duration::days(5) - Duration::seconds(1)));
        assert!(failing_too_long(t0(), t0() + Duration::days(5)));
    }

    #[test]
    fn urls_must_be_absolute_http_to_a_plainly_named_host() {
        for ok in [
            "https://erp.example.com/hooks/crm?x=1",
            "http://127.0.0.1:9000/",
            "https://163.com/h",
            "http://[2001:db8::1]:8443/h",
            "http://[::ffff:7f00:1]/",
            "http://LOCALHOST.:8080/x",
            "https://a-b.c0/%zz",
        ] {
            assert!(valid_url(ok), "{ok}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "https:///path",
            "/relative",
            "https://a b",
            "https://u:p@host/",
            "http://ejsI5L|HUFxrlF2Ira/)h",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://1.2.3.999/",
            "http://a--b.com/",
            "http://xn--abc.com/",
            "http://[::1/",
            "http://[:::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://a.com:65536/",
            "HTTP://a.com/",
        ] {
            assert!(!valid_url(bad), "{bad}");
        }
        assert!(!valid_url(&format!("https://x/{}", "a".repeat(2048))));
    }

    #[test]
    fn only_public_unicast_addresses_receive_deliveries() {
        let table = [
            // IPv4
            ("93.184.216.34", true),
            ("8.8.8.8", true),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("10.1.2.3", false),
            ("100.63.255.255", true),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("169.254.169.254", false),
            ("172.15.255.255", true),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            ("192.0.0.8", false),
            ("192.0.2.1", false),
            ("192.168.1.1", false),
            ("198.18.0.1", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("224.0.0.251", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("223.255.255.255", true),
            // IPv6
            ("2606:4700:4700::1111", true),
            ("::", false),
            ("::1", false),
            ("fe80::1", false),
            ("febf::1", false),
            ("fec0::1", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("ff02::1", false),
            ("2001:db8::1", false),
            ("2001::1", false),
            ("100::1", false),
            ("64:ff9b:1::1", false),
            // IPv6 forms of an IPv4 address: judged by the IPv4 address
            ("::ffff:127.0.0.1", false),
            ("::ffff:7f00:1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:0.0.0.0", false),
            ("::ffff:8.8.8.8", true),
            ("::127.0.0.1", false),
            ("::8.8.8.8", true),
            ("64:ff9b::127.0.0.1", false),
            ("64:ff9b::8.8.8.8", true),
            ("2002:7f00:1::", false),
            ("2002:a9fe:a9fe::1", false),
            ("2002:808:808::1", true),
        ];
        for (address, public) in table {
            let ip: IpAddr = address.parse().unwrap_or_else(|e| panic!("{address}: {e}"));
            assert_eq!(public_address(ip), public, "{address}");
        }
    }

    /// A URL of the grammar, drawn at random part by part (scheme, host form, port, rest).
    fn grammar_instance(rng: &mut impl rand::Rng) -> String {
        const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let pick = |rng: &mut dyn rand::RngCore, set: &[u8]| set[(rng.next_u32() as usize) % set.len()] as char;
        let label = |rng: &mut dyn rand::RngCore, first: &[u8]| {
            let mut l = pick(rng, first).to_string();
            for _ in 0..(rng.next_u32() % 8) {
                if rng.next_u32().is_multiple_of(3) {
                    l.push('-');
                }
                l.push(pick(rng, ALNUM));
            }
            l
        };
        let host = match rng.gen_range(0..3) {
            0 => {
                let mut labels: Vec<String> = (0..rng.gen_range(0..4)).map(|_| label(rng, ALNUM)).collect();
                labels.push(label(rng, &ALNUM[..52]));
                labels.join(".") + if rng.gen_bool(0.2) { "." } else { "" }
            }
            1 => (0..4).map(|_| rng.gen_range(0..=255u8).to_string()).collect::<Vec<_>>().join("."),
            _ => {
                let groups: Vec<String> = (0..8).map(|_| format!("{:x}", rng.gen_range(0..=0xffffu32))).collect();
                let ipv6 = if rng.gen_bool(0.7) {
                    let start = rng.gen_range(0..8);
                    let end = rng.gen_range(start + 1..=8);
                    format!("{}::{}", groups[..start].join(":"), groups[end..].join(":"))
                } else {
                    groups.join(":")
                };
                format!("[{ipv6}]")
            }
        };
        let port = if rng.gen_bool(0.3) { format!(":{}", rng.gen_range(0..=65535u32)) } else { String::new() };
        let rest = if rng.gen_bool(0.7) {
            let mut r = pick(rng, b"/?#").to_string();
            r.extend((0..rng.gen_range(0..20)).map(|_| rng.gen_range(0x21u8..=0x7e) as char));
            r
        } else {
            String::new()
        };
        format!("{}://{host}{port}{rest}", if rng.gen_bool(0.5) { "http" } else { "https" })
    }

    /// The grammar is the document's promise: whatever a client generator builds from it, the
    /// service takes (seeded, so CI is deterministic).
    #[test]
    fn every_url_of_the_grammar_is_one_the_whatwg_parser_takes() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_207);
        for _ in 0..20_000 {
            let url = grammar_instance(&mut rng);
            assert!(valid_url(&url), "{url} is of the grammar");
            assert!(normalise_url(&url).is_some(), "{url} parses");
        }
    }

    #[test]
    fn urls_are_stored_in_their_canonical_form() {
        for (raw, stored) in [
            ("http://LocalHost./x", "http://localhost./x"),
            ("http://[0:0:0:0:0:ffff:7f00:1]/", "http://[::ffff:7f00:1]/"),
            ("https://ERP.Example.com:443/hooks/crm?x=1", "https://erp.example.com/hooks/crm?x=1"),
            ("http://erp.example.com:8080", "http://erp.example.com:8080/"),
        ] {
            assert_eq!(normalise_url(raw).map(String::from).as_deref(), Some(stored), "{raw}");
        }
        for bad in
            ["ftp://x", "https://u:p@host/", "http://[::1/", "http://256.0.0.1/", "https:///path", "http://127.1/"]
        {
            assert!(normalise_url(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn loopback_names_and_internal_literals_are_refused_without_dns() {
        let refused = |raw: &str| normalise_url(raw).and_then(|u| u.host().map(|h| host_refused(&h)));
        for raw in [
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost:8080/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:7f00:1]/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            assert_eq!(refused(raw), Some(true), "{raw}");
        }
        for raw in ["https://erp.example.com/hooks", "https://8.8.8.8/", "https://localhost.example.com/"] {
            assert_eq!(refused(raw), Some(false), "{raw}");
        }
    }
}
