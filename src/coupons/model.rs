//! Coupon templates and coupons as stored, and the terms pricing reads from them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::schema::{coupon_templates as ct, coupons as c};

crate::vocabulary! {
    /// What a coupon template gives (SPEC §8); fixed once created.
    pub enum CouponTemplateKind {
        /// 满减: `discount` off once the eligible lines reach `threshold`.
        AmountOff = "amount_off",
        /// 折扣: the eligible lines at `discount_rate`, the discount at most `max_discount`.
        PercentOff = "percent_off",
        /// 无门槛: `discount` off, no threshold.
        Cash = "cash",
        /// 赠品: one unit of `gift_sku` free.
        Gift = "gift",
    }
}

crate::vocabulary! {
    /// Where a coupon template is in its life: coupons are issued from `active` templates only.
    pub enum CouponTemplateStatus {
        Draft = "draft",
        Active = "active",
        Paused = "paused",
        /// Final: its coupons can no longer be used.
        Ended = "ended",
    }
}

crate::vocabulary! {
    /// A coupon's status as a customer sees it.
    pub enum CouponStatus {
        Available = "available",
        Redeemed = "redeemed",
        /// Never stored: an available coupon past `expires_at` (expiry needs no job).
        Expired = "expired",
        Voided = "voided",
    }
}

crate::vocabulary! {
    /// How a coupon came to be.
    pub enum CouponSource {
        /// Issued by staff (`POST /v1/coupon-templates/{id}/issue`).
        Manual = "manual",
        /// Claimed by the customer (领券).
        Claim = "claim",
        /// Issued by a campaign (its id is the coupon's `source_ref`).
        Campaign = "campaign",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ct)]
pub struct Template {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub kind: CouponTemplateKind,
    pub threshold: Option<Decimal>,
    pub discount: Option<Decimal>,
    pub discount_rate: Option<Decimal>,
    pub max_discount: Option<Decimal>,
    pub gift_sku: Option<String>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    pub valid_days_after_issue: Option<i32>,
    pub total_quantity: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub store_ids: Vec<Uuid>,
    pub channels: Vec<String>,
    pub categories: Vec<String>,
    pub skus: Vec<String>,
    pub stackable: bool,
    pub unit_cost: Decimal,
    pub status: CouponTemplateStatus,
    pub issued_count: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = c)]
pub struct Coupon {
    pub code: String,
    pub template_id: Uuid,
    pub customer_id: Uuid,
    pub source: CouponSource,
    pub source_ref: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub valid_from: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: CouponStatus,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
    pub reserved_by: Option<Uuid>,
    pub reserved_until: Option<DateTime<Utc>>,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl Coupon {
    /// `available`, `redeemed`, `voided`, or `expired` (an available coupon past its time: expiry
    /// needs no job, it is a fact of the clock).
    pub fn status_at(&self, now: DateTime<Utc>) -> CouponStatus {
        if self.status == CouponStatus::Available && self.expires_at <= now {
            CouponStatus::Expired
        } else {
            self.status
        }
    }

    /// The reservation holding this coupon at `now`, if any.
    pub fn held_by(&self, now: DateTime<Utc>) -> Option<Uuid> {
        match (self.reserved_by, self.reserved_until) {
            (Some(r), Some(until)) if until > now => Some(r),
            _ => None,
        }
    }
}

/// An available coupon of `owner`, valid from a day before `now` to a day after, as tests start from.
#[cfg(test)]
pub(crate) fn sample_coupon(owner: Uuid, now: DateTime<Utc>) -> Coupon {
    Coupon {
        code: "K7M4P9QX2HTR".into(),
        template_id: Uuid::nil(),
        customer_id: owner,
        source: CouponSource::Manual,
        source_ref: None,
        issued_at: now,
        valid_from: now - chrono::Duration::days(1),
        expires_at: now + chrono::Duration::days(1),
        status: CouponStatus::Available,
        redeemed_at: None,
        voided_at: None,
        void_reason: None,
        reserved_by: None,
        reserved_until: None,
        version: 1,
        updated_at: now,
    }
}

/// What a coupon takes off.
#[derive(Debug, Clone, PartialEq)]
pub enum Benefit {
    /// 满 `threshold` 减 `discount`, on the eligible lines.
    AmountOff { threshold: Decimal, discount: Decimal },
    /// The eligible lines at `rate` (0.90 = 9折), the discount at most `max_discount`.
    PercentOff { rate: Decimal, max_discount: Option<Decimal> },
    /// 无门槛: `discount` off the eligible lines, no threshold.
    Cash { discount: Decimal },
    /// One unit of `sku` free.
    Gift { sku: String },
}

/// Where a coupon applies; an empty list means "all".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    pub stores: Vec<Uuid>,
    pub channels: Vec<String>,
    pub categories: Vec<String>,
    pub skus: Vec<String>,
}

impl Scope {
    pub fn covers_line(&self, sku: &str, category: Option<&str>) -> bool {
        (self.skus.is_empty() || self.skus.iter().any(|s| s == sku))
            && (self.categories.is_empty() || category.is_some_and(|c| self.categories.iter().any(|s| s == c)))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Terms {
    pub benefit: Benefit,
    pub scope: Scope,
    pub stackable: bool,
}

impl Template {
    /// The template's pricing terms; `None` only for a row that violates its own kind's fields
    /// (the API never writes one).
    pub fn terms(&self) -> Option<Terms> {
        let benefit = match self.kind {
            CouponTemplateKind::AmountOff => {
                Benefit::AmountOff { threshold: self.threshold?, discount: self.discount? }
            }
            CouponTemplateKind::PercentOff => {
                Benefit::PercentOff { rate: self.discount_rate?, max_discount: self.max_discount }
            }
            CouponTemplateKind::Cash => Benefit::Cash { discount: self.discount? },
            CouponTemplateKind::Gift => Benefit::Gift { sku: self.gift_sku.clone()? },
        };
        Some(Terms {
            benefit,
            scope: Scope {
                stores: self.store_ids.clone(),
                channels: self.channels.clone(),
                categories: self.categories.clone(),
                skus: self.skus.clone(),
            },
            stackable: self.stackable,
        })
    }
}
