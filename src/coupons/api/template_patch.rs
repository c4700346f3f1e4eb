//! A change to a coupon template (`PATCH /v1/coupon-templates/{id}`): its fields on their own
//! (422); what needs the template as it stands is `templates::TemplateChanges::refusal`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;

use super::template_body::amount;
use crate::coupons::model::CouponTemplateStatus as Status;
use crate::coupons::templates::{TemplateChanges, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use crate::error::{ApiResult, Violations};
use crate::http::patch::double_option;

fn whole_patch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i32>>, D::Error> {
    crate::http::whole_number(d).map(Some)
}

/// Changes to a template: absent fields stay, `null` clears where a field may be empty. The pricing
/// terms (kind, amounts, scope, stackable) never change: coupons already issued carry them.
#[derive(Deserialize, ToSchema, Default, Debug)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "paused", "total_quantity": 20000}))]
pub struct TemplatePatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    pub name: Option<String>,
    /// Blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    /// draft → active | ended; active → paused | ended; paused → active | ended; ended is final
    /// (anything else is 409 `invalid_transition`).
    #[schema(value_type = Option<Status>)]
    pub status: Option<String>,
    /// Not below the coupons already issued; `null`: unlimited.
    #[serde(default, deserialize_with = "whole_patch")]
    #[schema(value_type = Option<i32>, minimum = 0)]
    pub total_quantity: Option<Option<i32>>,
    /// Applies to later issues; `null`: unlimited.
    #[serde(default, deserialize_with = "whole_patch")]
    #[schema(value_type = Option<i32>, minimum = 1)]
    pub per_customer_limit: Option<Option<i32>>,
    /// In the future and after `valid_from`; applies to coupons issued from now on. `null` clears it
    /// when `valid_days_after_issue` is set.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub valid_to: Option<Option<DateTime<Utc>>>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "5.00")]
    pub unit_cost: Option<Decimal>,
}

impl TemplatePatch {
    /// The fields on their own (422); `TemplateChanges::refusal` does the rest.
    pub fn validate(self) -> ApiResult<TemplateChanges> {
        let mut v = Violations::new();
        if let Some(name) = &self.name {
            v.text("name", name, MAX_NAME_CHARS);
        }
        if let Some(Some(d)) = &self.description {
            v.check(d.chars().count() <= MAX_DESCRIPTION_CHARS, "description", "must be at most 500 characters");
        }
        let status = v.word::<Status>("status", self.status.as_deref());
        if let Some(Some(q)) = self.total_quantity {
            v.check(q >= 0, "total_quantity", "must not be negative");
        }
        if let Some(Some(l)) = self.per_customer_limit {
            v.check(l >= 1, "per_customer_limit", "must be at least 1");
        }
        amount(&mut v, "unit_cost", self.unit_cost, true);
        v.into_result()?;
        Ok(TemplateChanges {
            name: crate::http::clean(self.name),
            description: self.description.map(crate::http::clean),
            status,
            total_quantity: self.total_quantity,
            per_customer_limit: self.per_customer_limit,
            valid_to: self.valid_to,
            unit_cost: self.unit_cost,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::{json, Value};

    use super::*;
    use crate::coupons::model::Template;
    use crate::coupons::templates::Refusal;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).single().unwrap_or_default()
    }

    fn template(extra: impl FnOnce(&mut Template)) -> Template {
        crate::coupons::templates::sample_template(now(), extra)
    }

    #[test]
    fn a_patch_checks_transitions_quantity_and_end_against_the_template() {
        let t = template(|t| {
            t.issued_count = 7;
            t.valid_from = Some(now() + chrono::Duration::days(10));
        });
        let changes = |b: Value| -> TemplateChanges {
            let p: TemplatePatch = serde_json::from_value(b).unwrap_or_else(|e| panic!("{e}"));
            p.validate().unwrap_or_else(|e| panic!("{e}"))
        };
        let refusal = |b: Value| changes(b).refusal(&t, now());
        let fields = |b: Value| -> Vec<&'static str> {
            match refusal(b) {
                Some(Refusal::Fields(fields)) => fields.into_iter().map(|(f, _)| f).collect(),
                _ => vec![],
            }
        };
        assert_eq!(refusal(json!({"status": "paused"})), None);
        assert_eq!(refusal(json!({"status": "active"})), None, "unchanged status is no transition");
        assert_eq!(
            refusal(json!({"status": "draft"})),
            Some(Refusal::Transition { from: Status::Active, to: Status::Draft })
        );
        assert_eq!(refusal(json!({"total_quantity": 7})), None);
        assert_eq!(refusal(json!({"total_quantity": null})), None);
        assert_eq!(fields(json!({"total_quantity": 6})), ["total_quantity"]);
        assert_eq!(refusal(json!({"valid_to": "2026-12-31T00:00:00Z"})), None);
        assert_eq!(fields(json!({"valid_to": "2026-12-01T00:00:00Z"})), ["valid_to"], "before valid_from");
        assert_eq!(refusal(json!({"valid_to": null})), None, "days after issue remain");
        let fixed = template(|t| {
            t.valid_days_after_issue = None;
            t.valid_to = Some(now() + chrono::Duration::days(30));
        });
        assert!(changes(json!({"valid_to": null})).refusal(&fixed, now()).is_some());
        let p: TemplatePatch =
            serde_json::from_value(json!({"name": " ", "per_customer_limit": 0})).unwrap_or_default();
        let fields: Vec<String> =
            p.validate().err().map(|e| e.problem().errors).unwrap_or_default().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["name", "per_customer_limit"]);
        let ended = template(|t| t.status = Status::Ended);
        assert!(changes(json!({"status": "active"})).refusal(&ended, now()).is_some());
    }
}
