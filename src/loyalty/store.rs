//! The ledger's hand-written SQL: statements too wide for the query builder, each with its
//! parameters named in a `.sql` file beside this one.

use diesel::sql_types::{Array, Int8, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{PgConnection, QueryableByName};
use serde_json::Value;
use uuid::Uuid;

use super::ledger::{Account, PlannedLot, Posting};

#[derive(QueryableByName)]
pub struct EntryId {
    #[diesel(sql_type = Int8)]
    pub entry_id: i64,
}

/// `post_entry.sql`: one entry of `posting` moving `delta` points on `account` (already at its
/// balance and debt after the entry), drawing `draws` and creating `lot` (none when `points` is 0).
pub fn entry_statement<'a>(
    account: &Account, delta: i64, posting: &'a Posting, draws: &[(Uuid, i64)], lots: Value, lot: PlannedLot,
) -> impl diesel::query_dsl::LoadQuery<'a, PgConnection, EntryId> + crate::db::cached_sql::Binds + 'a {
    let (draw_ids, draw_points): (Vec<Uuid>, Vec<i64>) = draws.iter().copied().unzip();
    crate::db::CachedSql::new(include_str!("post_entry.sql"))
        .param::<Array<SqlUuid>, _>("draw_ids", draw_ids)
        .param::<Array<Int8>, _>("draw_points", draw_points)
        .param::<SqlUuid, _>("customer", account.customer_id)
        .param::<Text, _>("kind", posting.kind)
        .param::<Int8, _>("delta", delta)
        .param::<Int8, _>("balance", account.balance)
        .param::<Nullable<SqlUuid>, _>("order_id", posting.order_id)
        .param::<Nullable<SqlUuid>, _>("refund_id", posting.refund_id)
        .param::<Nullable<Text>, _>("reference", &posting.reference)
        .param::<Nullable<Text>, _>("reason", &posting.reason)
        .param::<Text, _>("actor", &posting.actor)
        .param::<Jsonb, _>("lots", lots)
        .param::<Timestamptz, _>("at", posting.at)
        .param::<SqlUuid, _>("lot_id", lot.id)
        .param::<Int8, _>("lot_points", lot.points)
        .param::<Timestamptz, _>("available_at", lot.available_at)
        .param::<Timestamptz, _>("expires_at", lot.expires_at)
        .param::<Int8, _>("debt", account.debt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::rules::EntryKind;

    #[test]
    fn an_entry_binds_each_parameter_by_name() {
        let now = chrono::DateTime::UNIX_EPOCH;
        let account = Account { customer_id: Uuid::now_v7(), balance: 100, debt: 0, updated_at: now };
        let posting = Posting::new(EntryKind::Earn, "till", now);
        let lot = PlannedLot { id: Uuid::now_v7(), points: 100, available_at: now, expires_at: now };
        let query = entry_statement(&account, 100, &posting, &[(Uuid::now_v7(), 5)], serde_json::json!([]), lot);
        assert_eq!(crate::db::cached_sql::verify(&query), Ok(()));
    }
}
