//! Request and response shapes for customers, and their validation.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::rules;
use super::store::{Customer, ProfileChanges};
use crate::error::{ApiResult, Violations};
use crate::http::patch::{double_option, trimmed};
use crate::stores::{SalesChannel, UNKNOWN_CHANNEL};

#[derive(Deserialize, ToSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "wechat_openid", "value": "wx8a7b6c5d:oAbC123xyz"}))]
pub struct IdentityInput {
    /// `phone`, `email`, `member_card`, `wechat_openid` (`<app id>:<openid>`), `wechat_unionid`, `tmall_ouid`,
    /// `jd_pin` or `external:<system>`.
    pub kind: String,
    #[schema(min_length = 1, max_length = 128)]
    pub value: String,
}

/// Profile fields for create, PATCH, upsert and bulk. On PATCH an absent field is left alone and
/// `null` clears it.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "张三", "gender": "male", "birthday": "1990-05-12", "phone": "13812345678",
    "email": "zhang.san@example.com", "city": "北京", "district": "朝阳区", "source_channel": "pos",
    "consents": {"marketing_sms": true}, "tags": ["vip"], "attributes": {"erp_code": "C-001"}}))]
pub struct CustomerInput {
    /// Blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub name: Option<Option<String>>,
    /// `male`, `female` or `unknown`.
    #[schema(value_type = Option<rules::Gender>)]
    pub gender: Option<String>,
    /// `YYYY-MM-DD`, from 1900-01-01 up to today (in `CRM_TIMEZONE`).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>, pattern = "^(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub birthday: Option<Option<NaiveDate>>,
    /// Mainland mobile (`13812345678`, spaces and dashes allowed) or E.164; stored as E.164.
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = "phone")]
    pub phone: Option<Option<String>>,
    /// Stored in lower case. `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    pub email: Option<Option<String>>,
    /// Blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub city: Option<Option<String>>,
    /// Blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub district: Option<Option<String>>,
    /// Blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 300)]
    pub address: Option<Option<String>>,
    /// The channel the customer first came from.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = "channel")]
    pub source_channel: Option<Option<String>>,
    /// An existing store.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub home_store_id: Option<Option<Uuid>>,
    /// `{"marketing_sms": true, "marketing_email": false}`.
    #[schema(value_type = Option<Object>)]
    pub consents: Option<Map<String, Value>>,
    /// Free JSON for integrator data (an object, at most 16 KiB).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    /// Replaces the manual tags: at most 100, each 1-64 characters and not blank.
    #[schema(max_items = 100, min_length = 1, max_length = 64, format = "non-blank")]
    pub tags: Option<Vec<String>>,
    /// Extra identities to attach (create and upsert only).
    pub identities: Option<Vec<IdentityInput>>,
}

/// A validated input: stored columns plus what lives in other tables.
#[derive(Debug, Clone, Default)]
pub struct ValidInput {
    pub profile: ProfileChanges,
    pub consents: Option<Map<String, Value>>,
    pub tags: Option<Vec<String>>,
    pub identities: Vec<(String, String)>,
}

pub fn validate_tags(tags: &[String], v: &mut Violations) -> Vec<String> {
    let mut out: Vec<String> = tags.iter().map(|t| t.trim().to_string()).collect();
    if out.len() > 100 {
        v.add("tags", "at most 100 tags");
    }
    if tags.iter().any(|t| t.trim().is_empty() || t.chars().count() > 64) {
        v.add("tags", "tags are 1-64 characters");
    }
    out.sort();
    out.dedup();
    out
}

impl CustomerInput {
    pub fn validate(self, today: NaiveDate, field_prefix: &str) -> ApiResult<ValidInput> {
        let mut v = Violations::new();
        let f = |name: &str| format!("{field_prefix}{name}");
        // Lengths count what was sent, as the document's `maxLength` does.
        for (name, value, max) in [
            ("name", &self.name, 100),
            ("city", &self.city, 100),
            ("district", &self.district, 100),
            ("address", &self.address, 300),
        ] {
            if let Some(Some(text)) = value {
                v.check(text.chars().count() <= max, &f(name), &format!("must be at most {max} characters"));
            }
        }
        // A blank phone or email is a mistake, not a way to clear it (that is `null`).
        for (name, value) in [("phone", &self.phone), ("email", &self.email)] {
            if let Some(Some(text)) = value {
                v.check(!text.trim().is_empty(), &f(name), "must not be blank: send null to clear it");
            }
        }
        // The word exactly as sent: " pos " is not a channel.
        let source_channel = match self.source_channel {
            Some(Some(raw)) => Some(v.known::<SalesChannel>(&f("source_channel"), &raw, UNKNOWN_CHANNEL)),
            Some(None) => Some(None),
            None => None,
        };
        let mut profile = ProfileChanges {
            name: trimmed(self.name),
            gender: None,
            birthday: self.birthday,
            city: trimmed(self.city),
            district: trimmed(self.district),
            address: trimmed(self.address),
            source_channel,
            home_store_id: self.home_store_id,
            ..Default::default()
        };
        if let Some(g) = &self.gender {
            profile.gender = rules::Gender::parse(g);
            v.check(profile.gender.is_some(), &f("gender"), "must be male, female or unknown");
        }
        if let Some(Some(b)) = profile.birthday {
            if let Err(msg) = rules::validate_birthday(b, today) {
                v.add(f("birthday"), msg);
            }
        }
        profile.phone = match trimmed(self.phone) {
            Some(Some(raw)) => match rules::normalize_phone(&raw) {
                Ok(p) => Some(Some(p)),
                Err(msg) => {
                    v.add(f("phone"), msg);
                    None
                }
            },
            Some(None) => Some(None),
            None => None,
        };
        profile.email = match trimmed(self.email) {
            Some(Some(raw)) => match rules::normalize_email(&raw) {
                Ok(e) => Some(Some(e)),
                Err(msg) => {
                    v.add(f("email"), msg);
                    None
                }
            },
            Some(None) => Some(None),
            None => None,
        };
        if let Some(consents) = &self.consents {
            if let Err(msg) = rules::apply_consents(&Value::Null, consents, DateTime::UNIX_EPOCH) {
                v.add(f("consents"), msg);
            }
        }
        if let Some(attributes) = &self.attributes {
            let size = serde_json::to_string(attributes).map(|s| s.len()).unwrap_or(usize::MAX);
            v.check(size <= 16 * 1024, &f("attributes"), "must be at most 16 KiB of JSON");
            profile.attributes = Some(Value::Object(attributes.clone()));
        }
        let tags = self.tags.map(|t| validate_tags(&t, &mut v));
        let mut identities = Vec::new();
        for (i, identity) in self.identities.unwrap_or_default().iter().enumerate() {
            match rules::normalize_identity(&identity.kind, &identity.value) {
                Ok(pair) => identities.push(pair),
                Err(msg) => v.add(format!("{field_prefix}identities[{i}]"), msg),
            }
        }
        v.into_result()?;
        Ok(ValidInput { profile, consents: self.consents, tags, identities })
    }
}

#[derive(Serialize, ToSchema, Clone, Debug)]
#[schema(example = json!({"kind": "phone", "value": "138****5678", "created_at": "2026-11-23T08:00:00Z"}))]
pub struct IdentityView {
    pub kind: String,
    /// Masked for phone and email without `customers:pii`.
    pub value: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema, Clone, Debug)]
#[schema(example = json!({"granted": true, "granted_at": "2026-11-23T08:00:00Z", "revoked_at": null}))]
pub struct ConsentView {
    pub granted: bool,
    pub granted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn masked_view_example() -> Value {
    view_example(true)
}

/// A whole `CustomerView` as the document shows it, masked or not: every schema that embeds a
/// profile shows this one, so each example stays valid against its schema as the view grows.
pub fn view_example(masked: bool) -> Value {
    let (birthday, phone, email) = if masked {
        ("****-05-12", "138****5678", "z***@example.com")
    } else {
        ("1990-05-12", "+8613812345678", "zhangsan@example.com")
    };
    serde_json::json!({
        "id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "name": "张三", "gender": "male", "birthday": birthday,
        "phone": phone, "email": email, "city": "北京", "district": "朝阳区", "address": null,
        "source_channel": "pos", "home_store_id": null,
        "consents": {"marketing_sms": {"granted": true, "granted_at": "2026-11-23T08:00:00Z", "revoked_at": null}},
        "tags": ["vip"], "attributes": {}, "identities": [{"kind": "phone", "value": phone, "created_at": "2026-11-23T08:00:00Z"}],
        "status": "active", "merged_into": null, "lifecycle_stage": "active",
        "rfm": {"r": 5, "f": 4, "m": 4, "segment": "champions", "recency_days": 6, "frequency": 9,
                "monetary": "4820.00", "as_of": "2026-11-23", "rfm_map": "v1"},
        "pii_masked": masked, "version": 1,
        "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"})
}

#[derive(Serialize, ToSchema, Clone, Debug)]
#[schema(example = masked_view_example)]
pub struct CustomerView {
    pub id: Uuid,
    pub name: Option<String>,
    pub gender: rules::Gender,
    /// `YYYY-MM-DD`, or `****-MM-DD` when masked.
    pub birthday: Option<String>,
    /// E.164 (`+8613812345678`), or `138****5678` when masked.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub address: Option<String>,
    pub source_channel: Option<SalesChannel>,
    pub home_store_id: Option<Uuid>,
    pub consents: std::collections::BTreeMap<String, ConsentView>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub identities: Vec<IdentityView>,
    pub status: super::rules::CustomerStatus,
    pub merged_into: Option<Uuid>,
    /// Where the customer stands today, from their order history (SPEC §9; it follows orders
    /// within a minute).
    pub lifecycle_stage: super::lifecycle::LifecycleStage,
    /// RFM scores and segment in the latest daily snapshot (SPEC §13); null for a customer without
    /// orders in its 365 days, or before the first snapshot.
    pub rfm: Option<super::rfm::Scores>,
    /// True when phone, email, address and birthday are masked (the token lacks `customers:pii`).
    pub pii_masked: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CustomerView {
    pub fn build(
        c: Customer, tags: Vec<String>, identities: Vec<(String, String, DateTime<Utc>)>,
        lifecycle_stage: super::lifecycle::LifecycleStage, rfm: Option<super::rfm::Scores>, unmasked: bool,
    ) -> CustomerView {
        let mask = |value: Option<String>, f: fn(&str) -> String| value.map(|v| if unmasked { v } else { f(&v) });
        let consents = c
            .consents
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let view = ConsentView {
                            granted: v.get("granted")?.as_bool()?,
                            granted_at: v.get("granted_at").and_then(|t| serde_json::from_value(t.clone()).ok()),
                            revoked_at: v.get("revoked_at").and_then(|t| serde_json::from_value(t.clone()).ok()),
                        };
                        Some((k.clone(), view))
                    })
                    .collect()
            })
            .unwrap_or_default();
        CustomerView {
            id: c.id,
            name: c.name,
            gender: c.gender,
            birthday: c.birthday.map(|b| if unmasked { b.to_string() } else { rules::mask_birthday(b) }),
            phone: mask(c.phone, rules::mask_phone),
            email: mask(c.email, rules::mask_email),
            city: c.city,
            district: c.district,
            address: mask(c.address, rules::mask_address),
            source_channel: c.source_channel,
            home_store_id: c.home_store_id,
            consents,
            tags,
            attributes: c.attributes,
            identities: identities
                .into_iter()
                .map(|(kind, value, created_at)| IdentityView {
                    value: if unmasked { value } else { rules::mask_identity_value(&kind, &value) },
                    kind,
                    created_at,
                })
                .collect(),
            status: c.status,
            merged_into: c.merged_into,
            lifecycle_stage,
            rfm,
            pii_masked: !unmasked,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}
