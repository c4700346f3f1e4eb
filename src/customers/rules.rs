//! Pure rules for customer data: normalisation, validation, masking, consents, search.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};

pub use crate::phone::{mask_phone, normalize_phone};

crate::vocabulary! {
    /// A customer's gender as the profile records it.
    #[schema(example = "female")]
    pub enum Gender {
        Male = "male",
        Female = "female",
        /// Not given (the default, and what an erasure leaves).
        Unknown = "unknown",
    }
}

crate::vocabulary! {
    /// Where a customer profile stands.
    #[schema(example = "active")]
    pub enum CustomerStatus {
        Active = "active",
        /// Merged into another profile (`merged_into`), which is now the party to its sales.
        Merged = "merged",
        /// Erased: the person is forgotten, the row stays for the records that point at it.
        Erased = "erased",
    }
}
crate::vocabulary! {
    /// A marketing consent a customer grants or revokes, one per message channel.
    #[schema(example = "marketing_sms")]
    pub enum ConsentKind { MarketingSms = "marketing_sms", MarketingEmail = "marketing_email", MarketingWechat = "marketing_wechat" }
}

crate::vocabulary! {
    /// The identities the service knows how to normalise; any other system's are `external:<system>`.
    #[schema(example = "phone")]
    pub enum IdentityKind {
        Phone = "phone", Email = "email", MemberCard = "member_card", WechatOpenid = "wechat_openid",
        WechatUnionid = "wechat_unionid", TmallOuid = "tmall_ouid", JdPin = "jd_pin",
    }
}

pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.len() > 254 || !validator::ValidateEmail::validate_email(&email) {
        return Err("not a valid email address".into());
    }
    Ok(email)
}

pub fn validate_birthday(birthday: NaiveDate, today: NaiveDate) -> Result<(), String> {
    if birthday > today {
        return Err("must not be in the future".into());
    }
    if birthday < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
        return Err("must be after 1900-01-01".into());
    }
    Ok(())
}

/// Validates an identity kind and normalises its value so the same person always maps to the same key.
pub fn normalize_identity(kind: &str, value: &str) -> Result<(String, String), String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 128 || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("identity values are 1-128 characters without spaces".into());
    }
    let normalized = match kind {
        "phone" => normalize_phone(value)?,
        "email" => normalize_email(value)?,
        "member_card" => {
            if value.len() != 16 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err("a member card number has 16 digits".into());
            }
            value.to_string()
        }
        "wechat_openid" => match value.split_once(':') {
            Some((app, openid)) if !app.is_empty() && !openid.is_empty() => value.to_string(),
            _ => return Err("a wechat_openid is '<app id>:<openid>'".into()),
        },
        "wechat_unionid" | "tmall_ouid" | "jd_pin" => value.to_string(),
        other => match other.strip_prefix("external:") {
            Some(system)
                if (1..=32).contains(&system.len())
                    && system
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') =>
            {
                value.to_string()
            }
            _ => {
                return Err(format!(
                    "unknown identity kind '{other}': use one of {} or external:<system>",
                    IdentityKind::NAMES.join(", ")
                ))
            }
        },
    };
    Ok((kind.to_string(), normalized))
}

/// `z***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// Keeps the start (district, street) and hides the rest.
pub fn mask_address(address: &str) -> String {
    let keep = (address.chars().count() / 3).min(6);
    let head: String = address.chars().take(keep).collect();
    format!("{head}****")
}

/// The year is hidden; month and day stay for birthday greetings.
pub fn mask_birthday(birthday: NaiveDate) -> String {
    format!("****-{}", birthday.format("%m-%d"))
}

pub fn mask_identity_value(kind: &str, value: &str) -> String {
    match kind {
        "phone" => mask_phone(value),
        "email" => mask_email(value),
        _ => value.to_string(),
    }
}

/// Applies `{"marketing_sms": true}`-style changes, keeping when each consent was granted or revoked.
pub fn apply_consents(current: &Value, changes: &Map<String, Value>, now: DateTime<Utc>) -> Result<Value, String> {
    let mut out = current.as_object().cloned().unwrap_or_default();
    for (kind, granted) in changes {
        if ConsentKind::parse(kind).is_none() {
            return Err(format!("unknown consent '{kind}': use {}", ConsentKind::NAMES.join(", ")));
        }
        let Some(granted) = granted.as_bool() else {
            return Err(format!("consent '{kind}' must be true or false"));
        };
        let previous = out.get(kind).cloned().unwrap_or(Value::Null);
        let was_granted = previous.get("granted").and_then(Value::as_bool).unwrap_or(false);
        if was_granted == granted && !previous.is_null() {
            continue;
        }
        let entry = if granted {
            json!({"granted": true, "granted_at": now, "revoked_at": null})
        } else {
            json!({"granted": false, "granted_at": previous.get("granted_at").cloned().unwrap_or(Value::Null), "revoked_at": now})
        };
        out.insert(kind.clone(), entry);
    }
    Ok(Value::Object(out))
}

/// What a search `q` most likely is, so each kind uses its own index.
#[derive(Debug, PartialEq)]
pub enum SearchTerm {
    Last4(String),
    Phone(String),
    Email(String),
    MemberCard(String),
    Name(String),
}

pub fn classify_query(q: &str) -> SearchTerm {
    let q = q.trim();
    let all_digits = !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit());
    if all_digits && q.len() == 4 {
        return SearchTerm::Last4(q.to_string());
    }
    if all_digits && q.len() == 16 {
        return SearchTerm::MemberCard(q.to_string());
    }
    if q.contains('@') {
        if let Ok(email) = normalize_email(q) {
            return SearchTerm::Email(email);
        }
    }
    if let Ok(phone) = normalize_phone(q) {
        return SearchTerm::Phone(phone);
    }
    SearchTerm::Name(q.to_string())
}

/// Escapes LIKE wildcards in user input.
pub fn like_pattern(term: &str) -> String {
    let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        for raw in ["13812345678", "+8613812345678", "8613812345678", "+86 138-1234-5678", " 138 1234 5678 "] {
            assert_eq!(normalize_phone(raw).as_deref(), Ok("+8613812345678"), "{raw}");
        }
        assert_eq!(normalize_phone("+44 7911 123456").as_deref(), Ok("+447911123456"));
        for bad in ["12812345678", "1381234567", "abc", "", "+86 10 1234 5678", "0044123", "++8613812345678"] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_follow_the_spec_examples() {
        assert_eq!(mask_phone("+8613812345678"), "138****5678");
        assert_eq!(mask_email("zhang.san@example.com"), "z***@example.com");
        assert_eq!(mask_birthday(NaiveDate::from_ymd_opt(1990, 5, 12).unwrap_or_default()), "****-05-12");
        assert!(!mask_address("北京市朝阳区建国路88号").contains("88"));
        assert_eq!(mask_phone("+447911123456"), "+447****3456");
    }

    #[test]
    fn birthdays_cannot_be_in_the_future() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        assert!(validate_birthday(today, today).is_ok());
        assert!(validate_birthday(today.succ_opt().unwrap_or_default(), today).is_err());
        assert!(validate_birthday(NaiveDate::from_ymd_opt(1899, 12, 31).unwrap_or_default(), today).is_err());
    }

    #[test]
    fn identities_validate_by_kind() {
        assert_eq!(normalize_identity("phone", "13812345678").ok(), Some(("phone".into(), "+8613812345678".into())));
        assert_eq!(normalize_identity("email", "Z@Example.COM").ok().map(|x| x.1), Some("z@example.com".into()));
        assert!(normalize_identity("member_card", "123").is_err());
        assert!(normalize_identity("member_card", "1234567890123456").is_ok());
        assert!(normalize_identity("wechat_openid", "oABC").is_err());
        assert!(normalize_identity("wechat_openid", "wx1234:oABC").is_ok());
        assert!(normalize_identity("external:erp", "C-001").is_ok());
        assert!(normalize_identity("external:", "C-001").is_err());
        assert!(normalize_identity("myspace", "x").is_err());
        assert!(normalize_identity("jd_pin", "has space").is_err());
    }

    #[test]
    fn consents_record_grant_and_revoke_times() {
        let t1 =
            DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        let t2 =
            DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        let mut changes = Map::new();
        changes.insert("marketing_sms".into(), json!(true));
        let granted = apply_consents(&json!({}), &changes, t1).unwrap_or_default();
        assert_eq!(granted["marketing_sms"]["granted"], json!(true));
        // granting again keeps the original time
        let again = apply_consents(&granted, &changes, t2).unwrap_or_default();
        assert_eq!(again["marketing_sms"]["granted_at"], granted["marketing_sms"]["granted_at"]);
        changes.insert("marketing_sms".into(), json!(false));
        let revoked = apply_consents(&again, &changes, t2).unwrap_or_default();
        assert_eq!(revoked["marketing_sms"]["granted"], json!(false));
        assert_eq!(revoked["marketing_sms"]["granted_at"], granted["marketing_sms"]["granted_at"]);
        assert!(revoked["marketing_sms"]["revoked_at"].is_string());
        let mut bad = Map::new();
        bad.insert("carrier_pigeon".into(), json!(true));
        assert!(apply_consents(&json!({}), &bad, t1).is_err());
    }

    #[test]
    fn search_terms_are_classified() {
        assert_eq!(classify_query("5678"), SearchTerm::Last4("5678".into()));
        assert_eq!(classify_query("13812345678"), SearchTerm::Phone("+8613812345678".into()));
        assert_eq!(classify_query("Z@example.com"), SearchTerm::Email("z@example.com".into()));
        assert_eq!(classify_query("1234567890123456"), SearchTerm::MemberCard("1234567890123456".into()));
        assert_eq!(classify_query("王芳"), SearchTerm::Name("王芳".into()));
        assert_eq!(like_pattern("50%_off"), "%50\\%\\_off%");
    }
}
