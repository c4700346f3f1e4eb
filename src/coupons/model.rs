//! Coupon templates and coupons as stored, and the terms pricing reads from them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::schema::{coupon_templates as ct, coupons as c};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ct)]
pub struct Template {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub kind: String,
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
    pub status: String,
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
    pub source: String,
    pub source_ref: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub valid_from: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: String,
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
    pub fn status_at(&self, now: DateTime<Utc>) -> &str {
        if self.status == "available" && self.expires_at <= now {
            "expired"
        } else {
            &self.status
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
        let benefit = match self.kind.as_str() {
            "amount_off" => Benefit::AmountOff { threshold: self.threshold?, discount: self.discount? },
            "percent_off" => Benefit::PercentOff { rate: self.discount_rate?, max_discount: self.max_discount },
            "cash" => Benefit::Cash { discount: self.discount? },
            "gift" => Benefit::Gift { sku: self.gift_sku.clone()? },
            _ => return None,
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
