//! Campaign rules (SPEC §9), pure: the status machine, template variables, the control group,
//! the contact policy's decision for one customer, quiet hours and ROI.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

crate::vocabulary! {
    /// Where a campaign is in its life: only an active one sends.
    pub enum CampaignStatus {
        Draft = "draft",
        Active = "active",
        Paused = "paused",
        /// Final.
        Completed = "completed",
    }
}

/// What a marketer asks of a campaign's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Activate,
    Pause,
    Complete,
}

/// draft → active ⇄ paused → completed; active → completed. Anything else is not a move.
pub fn transition(from: CampaignStatus, by: Move) -> Option<CampaignStatus> {
    use CampaignStatus::*;
    match (from, by) {
        (Draft | Paused, Move::Activate) => Some(Active),
        (Active, Move::Pause) => Some(Paused),
        (Active | Paused, Move::Complete) => Some(Completed),
        _ => None,
    }
}

/// Only a draft or a paused campaign may be changed: an active one is sending.
pub fn editable(status: CampaignStatus) -> bool {
    matches!(status, CampaignStatus::Draft | CampaignStatus::Paused)
}

/// The variables a message template may use (SPEC §9).
pub const VARIABLES: &[&str] = &[
    "name",
    "tier",
    "points",
    "coupon_code",
    "coupon_name",
    "store_name",
    "usual_categories",
    "recommended_categories",
];

/// The variables a template names, in order; an unknown one is an error naming it.
pub fn variables_of(template: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("a '{{' is never closed with '}}'".into());
        };
        let name = after[..end].trim();
        if !VARIABLES.contains(&name) {
            return Err(format!("unknown variable '{{{{{name}}}}}': use {}", VARIABLES.join(", ")));
        }
        found.push(name.to_string());
        rest = &after[end + 2..];
    }
    Ok(found)
}

/// A category name a message may show: 1-20 Latin or Chinese letters and digits, with spaces and
/// `- & · ( ) （ ）` between them (a closing bracket may end it). The OpenAPI document states the
/// same pattern (`format: category-name`), so a client generator and the service agree to the letter.
pub const CATEGORY_NAME_PATTERN: &str = r"^[0-9A-Za-z\u3400-\u4DBF\u4E00-\u9FFF]([0-9A-Za-z\u3400-\u4DBF\u4E00-\u9FFF &()·（）-]{0,18}[0-9A-Za-z\u3400-\u4DBF\u4E00-\u9FFF)）])?$";

/// Why a name cannot enter the category catalogue that `{{usual_categories}}` and
/// `{{recommended_categories}}` render from, or `None` when it can. Category names arrive on
/// order lines from every till and channel, so a message names only catalogued ones — and a
/// catalogued name is letters, digits and a few joiners: no dot, colon or slash can make it a
/// link, and no length can make it a sentence.
pub fn category_name_problem(name: &str) -> Option<&'static str> {
    static NAME: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let valid =
        NAME.get_or_init(|| regex::Regex::new(CATEGORY_NAME_PATTERN).ok()).as_ref().is_some_and(|r| r.is_match(name));
    (!valid).then_some(
        "must be 1-20 letters (Latin or Chinese) or digits, with spaces and - & · ( ) between them: never a link or punctuation",
    )
}

/// The template with each variable replaced; a variable without a value becomes empty text.
pub fn render(template: &str, values: &HashMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(values.get(after[..end].trim()).map(String::as_str).unwrap_or(""));
                rest = &after[end + 2..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a customer is in the campaign's control group: a stable pseudo-random share of the
/// audience, by a hash of the campaign and the customer, so re-runs and other instances agree.
pub fn in_holdout(campaign: Uuid, customer: Uuid, percent: i32) -> bool {
    if percent <= 0 {
        return false;
    }
    let digest = Sha256::new().chain_update(campaign.as_bytes()).chain_update(customer.as_bytes()).finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % 100) < percent as u64
}

/// The contact policy's settings (`/v1/marketing/settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub frequency_max: i32,
    pub frequency_days: i32,
    /// Local start and end of quiet hours; `None`: none.
    pub quiet: Option<(NaiveTime, NaiveTime)>,
}

/// What the policy knows of one customer at send time.
#[derive(Debug, Clone, Default)]
pub struct Contact {
    pub live: bool,
    /// The message channel's consent is granted.
    pub consented: bool,
    /// The message channel's address, if any.
    pub address: Option<String>,
    /// Marketing messages to this customer in the policy's window, every campaign counted.
    pub recent_messages: i64,
}

crate::vocabulary! {
    /// Why a customer was not reached.
    pub enum SuppressReason {
        /// Erased or merged away.
        NotLive = "not_live",
        /// No consent to the message's channel.
        NoConsent = "no_consent",
        /// No address on the message's channel.
        NoAddress = "no_address",
        FrequencyCap = "frequency_cap",
        BudgetExhausted = "budget_exhausted",
        /// The coupon's template could not issue them one (its limits, or it stopped issuing).
        CouponUnavailable = "coupon_unavailable",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Reach,
    Holdout,
    Suppress(SuppressReason),
}

crate::vocabulary! {
    /// What a run decided for a customer, as `campaign_recipients` keeps it.
    pub enum RecipientOutcome {
        Reached = "reached",
        /// In the control group: nothing was sent.
        Holdout = "holdout",
        Suppressed = "suppressed",
    }
}

impl Decision {
    /// The decision as stored: its outcome and, when suppressed, the reason.
    pub fn outcome(self) -> (RecipientOutcome, Option<SuppressReason>) {
        match self {
            Decision::Reach => (RecipientOutcome::Reached, None),
            Decision::Holdout => (RecipientOutcome::Holdout, None),
            Decision::Suppress(reason) => (RecipientOutcome::Suppressed, Some(reason)),
        }
    }
}

/// The one check at send time, in this order: never reach an erased or merged customer; the
/// control group gets nothing; a message needs the channel's consent, an address on it and room
/// under the frequency cap; then the budget.
pub fn decide(contact: &Contact, messages: bool, holdout: bool, policy: &Policy, within_budget: bool) -> Decision {
    if !contact.live {
        return Decision::Suppress(SuppressReason::NotLive);
    }
    if holdout {
        return Decision::Holdout;
    }
    if messages {
        if !contact.consented {
            return Decision::Suppress(SuppressReason::NoConsent);
        }
        if contact.address.is_none() {
            return Decision::Suppress(SuppressReason::NoAddress);
        }
        if contact.recent_messages >= i64::from(policy.frequency_max) {
            return Decision::Suppress(SuppressReason::FrequencyCap);
        }
    }
    if !within_budget {
        return Decision::Suppress(SuppressReason::BudgetExhausted);
    }
    Decision::Reach
}

/// When a message decided at `now` may go out: `now`, or the end of quiet hours (local time in
/// `zone`) when `now` falls within them. Quiet hours may span midnight (21:00–09:00).
pub fn send_at(now: DateTime<Utc>, quiet: Option<(NaiveTime, NaiveTime)>, zone: Tz) -> DateTime<Utc> {
    let Some((start, end)) = quiet else { return now };
    let local = now.with_timezone(&zone).naive_local();
    let time = local.time();
    let quiet_now = if start <= end { start <= time && time < end } else { time >= start || time < end };
    if !quiet_now {
        return now;
    }
    let day = if start > end && time >= start { local.date().succ_opt().unwrap_or(local.date()) } else { local.date() };
    let resume = NaiveDateTime::new(day, end);
    // A gap in local time (no such zone here, but any zone is configurable) resumes an hour on.
    zone.from_local_datetime(&resume)
        .earliest()
        .or_else(|| zone.from_local_datetime(&(resume + chrono::Duration::hours(1))).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now)
}

/// ROI as SPEC §9 writes it: revenue / cost, and the "1:16" a marketer reads.
pub fn roi(revenue: Decimal, cost: Decimal) -> Option<(Decimal, String)> {
    if cost <= Decimal::ZERO {
        return None;
    }
    let ratio = (revenue / cost).round_dp(2);
    let label = format!("1:{}", ratio.round_dp(1).normalize());
    Some((ratio, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_category_names_enter_the_catalogue() {
        for ok in ["童装", "女装", "Kids & Baby", "T恤-短袖", "美妆（护肤）", "3C数码", "母婴·用品"]
        {
            assert_eq!(category_name_problem(ok), None, "{ok}");
        }
        let long = "长".repeat(21);
        for bad in [
            "",
            " 童装",
            "童装 ",
            "t.cn/x",
            "http://evil.example",
            "加微信: abc",
            "回复TD退订!",
            "a\nb",
            "=cmd|' /C calc'!A0",
            "点击领取，立减20元",
            long.as_str(),
        ] {
            assert!(category_name_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(category_name_problem(&"长".repeat(20)), None);
        assert_eq!(category_name_problem("长"), None);
        assert!(category_name_problem("童装-").is_some() && category_name_problem("(童装").is_some());
    }

    #[test]
    fn the_status_machine_allows_only_its_moves() {
        use CampaignStatus::*;
        use Move::*;
        let table = [
            (Draft, Activate, Some(Active)),
            (Draft, Pause, None),
            (Draft, Complete, None),
            (Active, Activate, None),
            (Active, Pause, Some(Paused)),
            (Active, Complete, Some(Completed)),
            (Paused, Activate, Some(Active)),
            (Paused, Pause, None),
            (Paused, Complete, Some(Completed)),
            (Completed, Activate, None),
            (Completed, Pause, None),
            (Completed, Complete, None),
        ];
        for (from, by, to) in table {
            assert_eq!(transition(from, by), to, "{from:?} {by:?}");
        }
    }

    #[test]
    fn templates_name_known_variables_only_and_render() {
        assert_eq!(variables_of("{{name}}，生日快乐！券码{{ coupon_code }}").unwrap(), vec!["name", "coupon_code"]);
        assert!(variables_of("{{nickname}} 你好").unwrap_err().contains("nickname"));
        assert!(variables_of("{{name").is_err());
        let values: HashMap<&str, String> = [("name", "张三".to_string()), ("coupon_code", "K7M4".to_string())].into();
        assert_eq!(render("{{name}}，券码{{ coupon_code }}，{{tier}}", &values), "张三，券码K7M4，");
    }

    #[test]
    fn the_control_group_is_stable_and_near_its_share() {
        let campaign = Uuid::from_u128(42);
        let held = (0..10_000u128).filter(|i| in_holdout(campaign, Uuid::from_u128(*i), 10)).count();
        assert!((900..1100).contains(&held), "{held} of 10,000 at 10%");
        assert_eq!(in_holdout(campaign, Uuid::from_u128(7), 10), in_holdout(campaign, Uuid::from_u128(7), 10));
        assert!(!(0..1000u128).any(|i| in_holdout(campaign, Uuid::from_u128(i), 0)));
    }

    #[test]
    fn the_policy_checks_in_order() {
        let policy = Policy { frequency_max: 3, frequency_days: 7, quiet: None };
        let ok = Contact { live: true, consented: true, address: Some("+8613800000000".into()), recent_messages: 2 };
        assert_eq!(decide(&ok, true, false, &policy, true), Decision::Reach);
        assert_eq!(
            decide(&Contact { live: false, ..ok.clone() }, true, true, &policy, true),
            Decision::Suppress(SuppressReason::NotLive)
        );
        assert_eq!(decide(&ok, true, true, &policy, true), Decision::Holdout);
        assert_eq!(
            decide(&Contact { consented: false, ..ok.clone() }, true, false, &policy, true),
            Decision::Suppress(SuppressReason::NoConsent)
        );
        assert_eq!(
            decide(&Contact { address: None, ..ok.clone() }, true, false, &policy, true),
            Decision::Suppress(SuppressReason::NoAddress)
        );
        assert_eq!(
            decide(&Contact { recent_messages: 3, ..ok.clone() }, true, false, &policy, true),
            Decision::Suppress(SuppressReason::FrequencyCap)
        );
        // Without a message, consent, address and the cap do not apply.
        let silent = Contact { live: true, ..Contact::default() };
        assert_eq!(decide(&silent, false, false, &policy, true), Decision::Reach);
        assert_eq!(decide(&ok, true, false, &policy, false), Decision::Suppress(SuppressReason::BudgetExhausted));
    }

    #[test]
    fn quiet_hours_defer_to_the_morning_and_never_drop() {
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        let quiet = Some((NaiveTime::from_hms_opt(21, 0, 0).unwrap(), NaiveTime::from_hms_opt(9, 0, 0).unwrap()));
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 20:59 local sends now; 21:00 and 23:30 wait for 09:00 the next day; 08:59 for 09:00 today.
        assert_eq!(send_at(at("2026-06-15T20:59:00+08:00"), quiet, zone), at("2026-06-15T20:59:00+08:00"));
        assert_eq!(send_at(at("2026-06-15T21:00:00+08:00"), quiet, zone), at("2026-06-16T09:00:00+08:00"));
        assert_eq!(send_at(at("2026-06-15T23:30:00+08:00"), quiet, zone), at("2026-06-16T09:00:00+08:00"));
        assert_eq!(send_at(at("2026-06-16T08:59:00+08:00"), quiet, zone), at("2026-06-16T09:00:00+08:00"));
        assert_eq!(send_at(at("2026-06-16T09:00:00+08:00"), quiet, zone), at("2026-06-16T09:00:00+08:00"));
        assert_eq!(send_at(at("2026-06-15T23:30:00+08:00"), None, zone), at("2026-06-15T23:30:00+08:00"));
    }

    #[test]
    fn roi_reads_as_one_to_n() {
        let (ratio, label) = roi(Decimal::from(800_000), Decimal::from(50_000)).unwrap();
        assert_eq!((ratio, label.as_str()), (Decimal::from(16), "1:16"));
        assert_eq!(roi(Decimal::from(165), Decimal::from(10)).unwrap().1, "1:16.5");
        assert_eq!(roi(Decimal::from(5), Decimal::ZERO), None);
    }
}
