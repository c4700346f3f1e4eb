//! The template request bodies and what each field may say on its own (422, every bad field at
//! once). A change to a template is `template_patch`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::coupons::model::{CouponTemplateKind as Kind, CouponTemplateStatus as Status};
use crate::coupons::templates::{
    NewTemplate, MAX_DESCRIPTION_CHARS, MAX_ENTRY_CHARS, MAX_LIST, MAX_NAME_CHARS, MAX_VALID_DAYS,
};
use crate::error::{ApiError, ApiResult, Violations};

/// A new coupon template.
///
/// Each `kind` takes its own fields and no others: `amount_off` (满减) `threshold` and `discount`
/// (discount ≤ threshold); `percent_off` `discount_rate` and optionally `max_discount`; `cash` (无门槛)
/// `discount`; `gift` `gift_sku`. Validity needs `valid_to` or `valid_days_after_issue` (both: the
/// earlier end wins); `valid_to` must be in the future and after `valid_from`.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "满300减50", "description": "冬季会员专享", "kind": "amount_off",
    "threshold": "300.00", "discount": "50.00", "valid_days_after_issue": 30, "total_quantity": 10000,
    "per_customer_limit": 1, "channels": ["pos", "wechat_mini_program"], "categories": ["童装"],
    "stackable": false, "unit_cost": "5.00", "status": "active"}))]
pub struct TemplateCreate {
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 100, format = "non-blank")]
    pub name: Option<String>,
    /// Blank or `null`: none.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Fixed once created.
    #[schema(value_type = Kind, required = true, nullable = false)]
    pub kind: Option<String>,
    /// `amount_off`: the eligible amount the basket must reach (满 300).
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "300.00")]
    pub threshold: Option<Decimal>,
    /// `amount_off` and `cash`: the amount taken off, more than 0 (减 50).
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "50.00")]
    pub discount: Option<Decimal>,
    /// `percent_off`: the share paid, in (0, 1) with at most 4 decimals ("0.90" is 9折).
    #[schema(pattern = r"^0\.([1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])$")]
    pub discount_rate: Option<String>,
    /// `percent_off`: the most it takes off, more than 0.
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "100.00")]
    pub max_discount: Option<Decimal>,
    /// `gift`: the SKU given free (one unit).
    #[schema(min_length = 1, max_length = 64, format = "non-blank")]
    pub gift_sku: Option<String>,
    /// Coupons cannot be used before this.
    pub valid_from: Option<DateTime<Utc>>,
    /// Coupons cannot be used after this; in the future, after `valid_from`.
    pub valid_to: Option<DateTime<Utc>>,
    /// Each coupon stays valid through local day D + N (business time zone) of the day it becomes valid.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 3650)]
    pub valid_days_after_issue: Option<i32>,
    /// How many coupons may ever be issued; `null`: unlimited.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 0)]
    pub total_quantity: Option<i32>,
    /// How many (not voided) coupons one customer may hold from this template; `null`: unlimited.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 1)]
    pub per_customer_limit: Option<i32>,
    /// Stores where it applies (existing store ids); empty: all.
    #[schema(max_items = 200)]
    pub stores: Option<Vec<Uuid>>,
    /// Channels where it applies; empty: all.
    #[schema(max_items = 200, format = "channel")]
    pub channels: Option<Vec<String>>,
    /// Product categories it applies to; empty: all.
    #[schema(max_items = 200, min_length = 1, max_length = 64, format = "non-blank")]
    pub categories: Option<Vec<String>>,
    /// SKUs it applies to; empty: all.
    #[schema(max_items = 200, min_length = 1, max_length = 64, format = "non-blank")]
    pub skus: Option<Vec<String>>,
    /// Usable together with other coupons (the tier discount always applies). Default false.
    #[schema(default = false)]
    pub stackable: Option<bool>,
    /// What one redeemed coupon costs the business, for ROI. Default 0.
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "5.00")]
    pub unit_cost: Option<Decimal>,
    /// `draft` (default) or `active`.
    #[schema(pattern = "^(draft|active)$", default = "draft")]
    pub status: Option<String>,
}

/// At most 200 entries, each non-blank and at most 64 characters; trimmed, duplicates dropped.
fn text_list(v: &mut Violations, field: &str, list: Option<Vec<String>>) -> Vec<String> {
    let list = list.unwrap_or_default();
    v.check(list.len() <= MAX_LIST, field, "at most 200 entries");
    v.check(
        list.iter().all(|s| !s.trim().is_empty() && s.chars().count() <= MAX_ENTRY_CHARS),
        field,
        "each entry must be 1-64 characters, not blank",
    );
    let mut out: Vec<String> = Vec::new();
    for s in list {
        let s = s.trim().to_string();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// An amount that must be more than 0 (or at least 0) and fit NUMERIC(14, 2).
pub(super) fn amount(v: &mut Violations, field: &str, value: Option<Decimal>, zero_allowed: bool) {
    if let Some(a) = value {
        let low = if zero_allowed { a >= Decimal::ZERO } else { a > Decimal::ZERO };
        let message = if zero_allowed { "must not be negative" } else { "must be more than 0" };
        v.check(low, field, message);
        v.check(a < crate::money::MAX_AMOUNT, field, "is too large");
    }
}

fn required_for(v: &mut Violations, field: &str, present: bool, kind: Kind) {
    v.check(present, field, &format!("is required for kind '{kind}'"));
}

fn unused_by(v: &mut Violations, field: &str, present: bool, kind: Kind) {
    v.check(!present, field, &format!("is not used by kind '{kind}'"));
}

impl TemplateCreate {
    /// Every rule of a new template; all bad fields are reported at once (422).
    pub fn validate(self, now: DateTime<Utc>) -> ApiResult<NewTemplate> {
        let mut v = Violations::new();
        match &self.name {
            Some(name) => v.text("name", name, MAX_NAME_CHARS),
            None => v.add("name", "is required"),
        }
        if let Some(d) = &self.description {
            v.check(d.chars().count() <= MAX_DESCRIPTION_CHARS, "description", "must be at most 500 characters");
        }
        let kind = v.word::<Kind>("kind", self.kind.as_deref());
        if self.kind.is_none() {
            v.add("kind", "is required");
        }
        amount(&mut v, "threshold", self.threshold, true);
        amount(&mut v, "discount", self.discount, false);
        amount(&mut v, "max_discount", self.max_discount, false);
        amount(&mut v, "unit_cost", self.unit_cost, true);
        let discount_rate = match self.discount_rate.as_deref() {
            Some(raw) => match crate::money::rate::parse_within(raw, 4, Decimal::ZERO, false, Decimal::ONE) {
                Ok(rate) if rate < Decimal::ONE => Some(rate),
                Ok(_) => {
                    v.add("discount_rate", "must be in (0, 1): a share of the price paid, e.g. \"0.90\"");
                    None
                }
                Err(message) => {
                    v.add("discount_rate", message);
                    None
                }
            },
            None => None,
        };
        if let Some(sku) = &self.gift_sku {
            v.text("gift_sku", sku, MAX_ENTRY_CHARS);
        }
        let (has_threshold, has_discount) = (self.threshold.is_some(), self.discount.is_some());
        let (has_rate, has_max, has_gift) =
            (self.discount_rate.is_some(), self.max_discount.is_some(), self.gift_sku.is_some());
        match kind {
            Some(kind @ Kind::AmountOff) => {
                required_for(&mut v, "threshold", has_threshold, kind);
                required_for(&mut v, "discount", has_discount, kind);
                if let (Some(t), Some(d)) = (self.threshold, self.discount) {
                    v.check(d <= t, "discount", "must not be above threshold");
                }
                unused_by(&mut v, "discount_rate", has_rate, kind);
                unused_by(&mut v, "max_discount", has_max, kind);
                unused_by(&mut v, "gift_sku", has_gift, kind);
            }
            Some(kind @ Kind::PercentOff) => {
                required_for(&mut v, "discount_rate", has_rate, kind);
                unused_by(&mut v, "threshold", has_threshold, kind);
                unused_by(&mut v, "discount", has_discount, kind);
                unused_by(&mut v, "gift_sku", has_gift, kind);
            }
            Some(kind @ Kind::Cash) => {
                required_for(&mut v, "discount", has_discount, kind);
                unused_by(&mut v, "threshold", has_threshold, kind);
                unused_by(&mut v, "discount_rate", has_rate, kind);
                unused_by(&mut v, "max_discount", has_max, kind);
                unused_by(&mut v, "gift_sku", has_gift, kind);
            }
            Some(kind @ Kind::Gift) => {
                required_for(&mut v, "gift_sku", has_gift, kind);
                unused_by(&mut v, "threshold", has_threshold, kind);
                unused_by(&mut v, "discount", has_discount, kind);
                unused_by(&mut v, "discount_rate", has_rate, kind);
                unused_by(&mut v, "max_discount", has_max, kind);
            }
            None => {}
        }
        if self.valid_to.is_none() && self.valid_days_after_issue.is_none() {
            v.add("valid_to", "valid_to or valid_days_after_issue is required");
        }
        if let Some(to) = self.valid_to {
            v.check(to > now, "valid_to", "must be in the future");
            if let Some(from) = self.valid_from {
                v.check(from < to, "valid_to", "must be after valid_from");
            }
        }
        if let Some(days) = self.valid_days_after_issue {
            v.check((1..=MAX_VALID_DAYS).contains(&days), "valid_days_after_issue", "must be 1-3650");
        }
        if let Some(q) = self.total_quantity {
            v.check(q >= 0, "total_quantity", "must not be negative");
        }
        if let Some(l) = self.per_customer_limit {
            v.check(l >= 1, "per_customer_limit", "must be at least 1");
        }
        let stores = self.stores.unwrap_or_default();
        v.check(stores.len() <= MAX_LIST, "stores", "at most 200 entries");
        let mut store_ids: Vec<Uuid> = Vec::with_capacity(stores.len());
        for s in stores {
            if !store_ids.contains(&s) {
                store_ids.push(s);
            }
        }
        let channels = text_list(&mut v, "channels", self.channels);
        v.check(
            channels.iter().all(|c| crate::stores::SalesChannel::parse(c).is_some()),
            "channels",
            "each must be a known channel",
        );
        let categories = text_list(&mut v, "categories", self.categories);
        let skus = text_list(&mut v, "skus", self.skus);
        // A template is created to be prepared or to issue at once; it pauses and ends later.
        let status = match self.status.as_deref() {
            None => Some(Status::Draft),
            Some(text) => Status::parse(text).filter(|s| matches!(s, Status::Draft | Status::Active)),
        };
        v.check(status.is_some(), "status", "must be draft or active");
        v.into_result()?;
        let (Some(kind), Some(status)) = (kind, status) else {
            return Err(ApiError::internal("a template without kind or status passed validation"));
        };
        Ok(NewTemplate {
            name: crate::http::clean(self.name).unwrap_or_default(),
            description: crate::http::clean(self.description),
            kind,
            threshold: self.threshold,
            discount: self.discount,
            discount_rate,
            max_discount: self.max_discount,
            gift_sku: crate::http::clean(self.gift_sku),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            valid_days_after_issue: self.valid_days_after_issue,
            total_quantity: self.total_quantity,
            per_customer_limit: self.per_customer_limit,
            store_ids,
            channels,
            categories,
            skus,
            stackable: self.stackable.unwrap_or(false),
            unit_cost: self.unit_cost.unwrap_or(Decimal::ZERO),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::{json, Value};

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).single().unwrap_or_default()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    fn body(extra: Value) -> TemplateCreate {
        let mut base = json!({"name": "满300减50", "kind": "amount_off", "threshold": "300.00", "discount": "50.00",
            "valid_days_after_issue": 30});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::from_value(base).unwrap_or_else(|e| panic!("test body: {e}"))
    }

    /// The base body turned into another kind: its amount_off fields removed, `extra` added.
    fn as_kind(kind: &str, extra: Value) -> Value {
        let mut b = json!({"kind": kind, "threshold": null, "discount": null});
        if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        b
    }

    /// The fields a body is rejected for (empty when it is accepted).
    fn rejected(extra: Value) -> Vec<String> {
        match body(extra).validate(now()) {
            Ok(_) => vec![],
            Err(e) => {
                let mut fields: Vec<String> = e.problem().errors.into_iter().map(|f| f.field).collect();
                fields.dedup();
                fields
            }
        }
    }

    #[test]
    fn the_seed_template_manjian_300_minus_50_is_valid() {
        let t = body(json!({})).validate(now()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.threshold, t.discount, t.status), (Some(d("300")), Some(d("50")), Status::Draft));
        assert!(!t.stackable);
        assert_eq!(t.unit_cost, Decimal::ZERO);
    }

    #[test]
    fn name_and_kind_are_required_and_kind_is_one_of_four() {
        assert_eq!(rejected(json!({"name": null})), ["name"]);
        assert_eq!(rejected(json!({"name": "   "})), ["name"]);
        assert_eq!(rejected(json!({"name": "x".repeat(101)})), ["name"]);
        assert_eq!(rejected(json!({"kind": null, "threshold": null, "discount": null})), ["kind"]);
        assert_eq!(rejected(json!({"kind": "bogo", "threshold": null, "discount": null})), ["kind"]);
    }

    #[test]
    fn amount_off_needs_threshold_and_a_discount_not_above_it() {
        assert_eq!(rejected(json!({"threshold": null})), ["threshold"]);
        assert_eq!(rejected(json!({"discount": null})), ["discount"]);
        assert_eq!(rejected(json!({"discount": "0"})), ["discount"]);
        assert_eq!(rejected(json!({"threshold": "-1"})), ["threshold", "discount"]);
        assert_eq!(rejected(json!({"threshold": "30.00", "discount": "50.00"})), ["discount"]);
        assert!(rejected(json!({"threshold": "50.00", "discount": "50.00"})).is_empty());
    }

    #[test]
    fn amount_off_takes_no_rate_cap_or_gift() {
        assert_eq!(rejected(json!({"discount_rate": "0.9"})), ["discount_rate"]);
        assert_eq!(rejected(json!({"max_discount": "10"})), ["max_discount"]);
        assert_eq!(rejected(json!({"gift_sku": "SKU-1"})), ["gift_sku"]);
    }

    #[test]
    fn percent_off_needs_a_rate_strictly_between_0_and_1() {
        let p = |extra: Value| rejected(as_kind("percent_off", extra));
        assert!(p(json!({"discount_rate": "0.90"})).is_empty());
        assert!(p(json!({"discount_rate": "0.8755", "max_discount": "100"})).is_empty());
        assert_eq!(p(json!({})), ["discount_rate"]);
        for bad in ["0", "1", "1.0", "0.12345", "-0.5", "abc", "0.0000"] {
            assert_eq!(p(json!({"discount_rate": bad})), ["discount_rate"], "{bad}");
        }
        assert_eq!(p(json!({"discount_rate": "0.9", "max_discount": "0"})), ["max_discount"]);
        assert_eq!(p(json!({"discount_rate": "0.9", "threshold": "100"})), ["threshold"]);
        assert_eq!(p(json!({"discount_rate": "0.9", "discount": "10"})), ["discount"]);
        assert_eq!(p(json!({"discount_rate": "0.9", "gift_sku": "G"})), ["gift_sku"]);
    }

    #[test]
    fn cash_needs_a_discount_and_no_threshold() {
        let c = json!({"kind": "cash", "threshold": null, "discount": "20.00"});
        assert!(rejected(c.clone()).is_empty());
        assert_eq!(rejected(json!({"kind": "cash", "threshold": null, "discount": null})), ["discount"]);
        assert_eq!(rejected(json!({"kind": "cash", "threshold": "100", "discount": "20"})), ["threshold"]);
        assert_eq!(
            rejected(json!({"kind": "cash", "threshold": null, "discount": "20", "max_discount": "5"})),
            ["max_discount"]
        );
    }

    #[test]
    fn gift_needs_a_sku_and_no_money() {
        let g = |extra: Value| rejected(as_kind("gift", extra));
        assert!(g(json!({"gift_sku": "MUG-01"})).is_empty());
        assert_eq!(g(json!({})), ["gift_sku"]);
        assert_eq!(g(json!({"gift_sku": " "})), ["gift_sku"]);
        assert_eq!(g(json!({"gift_sku": "x".repeat(65)})), ["gift_sku"]);
        assert_eq!(g(json!({"gift_sku": "MUG-01", "discount": "5"})), ["discount"]);
        assert_eq!(g(json!({"gift_sku": "MUG-01", "threshold": "5"})), ["threshold"]);
        assert_eq!(g(json!({"gift_sku": "MUG-01", "discount_rate": "0.5"})), ["discount_rate"]);
    }

    #[test]
    fn validity_needs_an_end_in_the_future_after_the_start() {
        assert_eq!(rejected(json!({"valid_days_after_issue": null})), ["valid_to"]);
        assert!(rejected(json!({"valid_days_after_issue": null, "valid_to": "2026-12-31T16:00:00Z"})).is_empty());
        assert_eq!(rejected(json!({"valid_to": "2026-11-01T00:00:00Z"})), ["valid_to"], "in the past");
        assert_eq!(
            rejected(json!({"valid_from": "2027-01-10T00:00:00Z", "valid_to": "2027-01-01T00:00:00Z"})),
            ["valid_to"]
        );
        assert_eq!(
            rejected(json!({"valid_from": "2027-01-01T00:00:00Z", "valid_to": "2027-01-01T00:00:00Z"})),
            ["valid_to"]
        );
        assert_eq!(rejected(json!({"valid_days_after_issue": 0})), ["valid_days_after_issue"]);
        assert_eq!(rejected(json!({"valid_days_after_issue": 3651})), ["valid_days_after_issue"]);
        assert!(rejected(json!({"valid_days_after_issue": 3650})).is_empty());
    }

    #[test]
    fn limits_are_zero_or_more_and_at_least_one_per_customer() {
        assert!(rejected(json!({"total_quantity": 0, "per_customer_limit": 1})).is_empty());
        assert_eq!(rejected(json!({"total_quantity": -1})), ["total_quantity"]);
        assert_eq!(rejected(json!({"per_customer_limit": 0})), ["per_customer_limit"]);
    }

    #[test]
    fn amounts_fit_numeric_14_2() {
        // money::parse refuses 1e12 while decoding; the rule holds for any value that gets here.
        let mut t = body(json!({}));
        t.threshold = Some(crate::money::MAX_AMOUNT);
        t.discount = Some(crate::money::MAX_AMOUNT);
        let fields: Vec<String> = t
            .validate(now())
            .err()
            .map(|e| e.problem().errors)
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["threshold", "discount"]);
        assert_eq!(rejected(json!({"unit_cost": "-0.01"})), ["unit_cost"]);
    }

    #[test]
    fn scope_lists_are_bounded_and_channels_known() {
        assert!(rejected(json!({"channels": ["pos", "tmall"], "categories": ["童装"], "skus": ["A1"]})).is_empty());
        assert_eq!(rejected(json!({"channels": ["carrier_pigeon"]})), ["channels"]);
        assert_eq!(rejected(json!({"categories": [""]})), ["categories"]);
        assert_eq!(rejected(json!({"skus": ["x".repeat(65)]})), ["skus"]);
        let many: Vec<String> = (0..201).map(|i| format!("S{i}")).collect();
        assert_eq!(rejected(json!({"skus": many})), ["skus"]);
        let stores: Vec<Uuid> = (0..201).map(|_| Uuid::now_v7()).collect();
        assert_eq!(rejected(json!({"stores": stores})), ["stores"]);
        let t = body(json!({"skus": [" A1 ", "A1", "B2"]})).validate(now()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.skus, ["A1", "B2"], "trimmed, duplicates dropped");
    }

    #[test]
    fn a_new_template_is_draft_or_active() {
        assert!(rejected(json!({"status": "active"})).is_empty());
        assert_eq!(rejected(json!({"status": "paused"})), ["status"]);
        assert_eq!(rejected(json!({"status": "ended"})), ["status"]);
    }
}
