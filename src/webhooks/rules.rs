//! Webhook rules (SPEC §10, Standard Webhooks): secrets, signatures, what an answer means, and when
//! to try again. Pure: no I/O, no clock.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
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

/// A subscriber's URL: absolute http(s), with a host, at most 2,048 characters.
pub fn valid_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    url.len() <= 2048
        && rest.is_some_and(|r| {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains('@') && r.chars().all(|c| c.is_ascii_graphic())
        })
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
    fn urls_must_be_absolute_http() {
        assert!(valid_url("https://erp.example.com/hooks/crm?x=1"));
        assert!(valid_url("http://127.0.0.1:9000/"));
        for bad in ["ftp://x", "https://", "https:///path", "/relative", "https://a b", "https://u:p@host/"] {
            assert!(!valid_url(bad), "{bad}");
        }
        assert!(!valid_url(&format!("https://x/{}", "a".repeat(2048))));
    }
}
