//! Phone numbers as every domain stores and shows them (customers, staff, lead contacts): E.164 in,
//! masked out. Foundation: it knows no domain.

/// E.164. Mainland mobiles may come as `13812345678`, `8613812345678`, `+86 138-1234-5678`;
/// other countries need their `+` and country code.
pub fn normalize_phone(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let has_plus = trimmed.starts_with('+');
    let digits: String = trimmed.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '+')).collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || trimmed[1..].contains('+') {
        return Err("not a phone number".into());
    }
    let is_mainland_mobile = |national: &str| {
        national.len() == 11 && national.starts_with('1') && matches!(national.as_bytes()[1], b'3'..=b'9')
    };
    if !has_plus && digits.len() == 11 {
        return if is_mainland_mobile(&digits) {
            Ok(format!("+86{digits}"))
        } else {
            Err("not a valid mainland mobile number".into())
        };
    }
    if let Some(national) = digits.strip_prefix("86") {
        if digits.len() == 13 || has_plus {
            return if is_mainland_mobile(national) {
                Ok(format!("+{digits}"))
            } else {
                Err("not a valid mainland mobile number".into())
            };
        }
    }
    if has_plus && (8..=15).contains(&digits.len()) && !digits.starts_with('0') {
        return Ok(format!("+{digits}"));
    }
    Err("not a valid phone number: use a mainland mobile or +<country code><number>".into())
}

/// `138****5678` for mainland mobiles; other numbers keep their first four and last four characters.
pub fn mask_phone(e164: &str) -> String {
    if let Some(national) = e164.strip_prefix("+86").filter(|n| n.len() == 11) {
        return format!("{}****{}", &national[..3], &national[7..]);
    }
    let chars: Vec<char> = e164.chars().collect();
    if chars.len() <= 8 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}
