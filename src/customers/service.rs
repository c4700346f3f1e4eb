//! Customer operations: each runs inside the caller's transaction and emits its events.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use super::model::{CustomerView, ValidInput};
use super::rules::{self, CustomerStatus, Gender};
use super::store::{self, Customer, ProfileChanges};
use crate::customers::rules::IdentityKind;
use crate::error::{ApiError, ApiResult};
use crate::events::emit;
use crate::events::types::{updated_fields, CustomerCreated, CustomerErased, CustomerMerged, EventData};
use crate::http::auth::StoreScope;

pub fn today(now: DateTime<Utc>, tz: chrono_tz::Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// Builds views for many customers with two queries (tags, identities), not two per customer.
/// `today` is the business day their lifecycle stage is evaluated on.
pub fn views(
    conn: &mut PgConnection, customers: Vec<Customer>, unmasked: bool, today: NaiveDate,
) -> ApiResult<Vec<CustomerView>> {
    let ids: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    let mut stages = super::activity::stages(conn, &ids, today)?;
    let mut scores = super::rfm::of_customers(conn, &ids)?;
    let mut tags: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (id, tag) in store::tags_of(conn, &ids)? {
        tags.entry(id).or_default().push(tag);
    }
    let mut identities: HashMap<Uuid, Vec<_>> = HashMap::new();
    for (id, kind, value, at) in store::identities_of(conn, &ids)? {
        identities.entry(id).or_default().push((kind, value, at));
    }
    Ok(customers
        .into_iter()
        .map(|c| {
            let id = c.id;
            CustomerView::build(
                c,
                tags.remove(&id).unwrap_or_default(),
                identities.remove(&id).unwrap_or_default(),
                stages.remove(&id).unwrap_or(super::lifecycle::LifecycleStage::Prospect),
                scores.remove(&id),
                unmasked,
            )
        })
        .collect())
}

pub fn view(conn: &mut PgConnection, customer: Customer, unmasked: bool, today: NaiveDate) -> ApiResult<CustomerView> {
    views(conn, vec![customer], unmasked, today)?.pop().ok_or_else(store::not_found)
}

/// The profile columns a change sets, by name (a `customer.updated` event lists them).
pub fn profile_fields(p: &ProfileChanges) -> Vec<&'static str> {
    let pairs: [(&'static str, bool); 11] = [
        ("name", p.name.is_some()),
        ("gender", p.gender.is_some()),
        ("birthday", p.birthday.is_some()),
        ("phone", p.phone.is_some()),
        ("email", p.email.is_some()),
        ("city", p.city.is_some()),
        ("district", p.district.is_some()),
        ("address", p.address.is_some()),
        ("source_channel", p.source_channel.is_some()),
        ("home_store_id", p.home_store_id.is_some()),
        ("attributes", p.attributes.is_some()),
    ];
    pairs.iter().filter(|(_, changed)| *changed).map(|(name, _)| *name).collect()
}

fn changed_fields(p: &ProfileChanges, input: &ValidInput) -> Vec<&'static str> {
    let mut fields = profile_fields(p);
    if input.consents.is_some() {
        fields.push("consents");
    }
    if input.tags.is_some() {
        fields.push("tags");
    }
    if !input.identities.is_empty() {
        fields.push("identities");
    }
    fields
}

/// `customer.created`: where the customer came from, no personal data.
pub fn created_event(customer: &Customer) -> crate::events::Pending {
    let created = CustomerCreated {
        source_channel: customer.source_channel.map(|c| c.to_string()),
        home_store_id: customer.home_store_id,
    };
    (Some(customer.id), EventData::CustomerCreated(created))
}

/// `customer.updated`: which fields changed, never their values.
pub fn updated_event(id: Uuid, fields: &[&str]) -> crate::events::Pending {
    (Some(id), updated_fields(fields))
}

fn check_home_store(conn: &mut PgConnection, p: &ProfileChanges) -> ApiResult<()> {
    if let Some(Some(store_id)) = p.home_store_id {
        crate::stores::store::get(conn, store_id)
            .map_err(|_| ApiError::invalid("home_store_id", "no store with this id"))?;
    }
    Ok(())
}

/// Creates a customer with its profile identities (phone, email) and any extra ones; `by` is the
/// writer's scope (a store-bound writer's customers are filed under its store).
pub fn create(
    conn: &mut PgConnection, mut input: ValidInput, now: DateTime<Utc>, by: StoreScope,
) -> ApiResult<Customer> {
    input.profile.home_store_id = by.home_store(None, input.profile.home_store_id)?;
    check_home_store(conn, &input.profile)?;
    if let Some(consents) = &input.consents {
        input.profile.consents =
            Some(rules::apply_consents(&json!({}), consents, now).map_err(|m| ApiError::invalid("consents", m))?);
    }
    let id = Uuid::now_v7();
    let customer = store::insert(conn, id, &input.profile, now)?;
    if let Some(phone) = &customer.phone {
        store::claim_identity(conn, id, "phone", phone)?;
    }
    if let Some(email) = &customer.email {
        store::claim_identity(conn, id, "email", email)?;
    }
    for (kind, value) in &input.identities {
        store::claim_identity(conn, id, kind, value)?;
    }
    if let Some(tags) = &input.tags {
        store::replace_tags(conn, id, tags)?;
    }
    let (subject, event) = created_event(&customer);
    emit(conn, subject, event)?;
    Ok(customer)
}

/// Moves a profile identity (phone or email) from the old value to the new one.
fn swap_profile_identity(
    conn: &mut PgConnection, id: Uuid, kind: &str, old: &Option<String>, new: &Option<Option<String>>,
) -> ApiResult<()> {
    let Some(new) = new else { return Ok(()) };
    if new == old {
        return Ok(());
    }
    if let Some(old) = old {
        store::release_identity(conn, id, kind, old)?;
    }
    if let Some(new) = new {
        store::claim_identity(conn, id, kind, new)?;
    }
    Ok(())
}

pub fn update(
    conn: &mut PgConnection, id: Uuid, expected_version: Option<i32>, mut input: ValidInput, now: DateTime<Utc>,
    by: StoreScope,
) -> ApiResult<Customer> {
    let current = store::lock_active(conn, id)?;
    crate::http::check_version(expected_version, current.version)?;
    input.profile.home_store_id = by.home_store(Some(current.home_store_id), input.profile.home_store_id)?;
    check_home_store(conn, &input.profile)?;
    swap_profile_identity(conn, id, "phone", &current.phone, &input.profile.phone)?;
    swap_profile_identity(conn, id, "email", &current.email, &input.profile.email)?;
    if let Some(consents) = &input.consents {
        input.profile.consents = Some(
            rules::apply_consents(&current.consents, consents, now).map_err(|m| ApiError::invalid("consents", m))?,
        );
    }
    for (kind, value) in &input.identities {
        store::claim_identity(conn, id, kind, value)?;
    }
    if let Some(tags) = &input.tags {
        store::replace_tags(conn, id, tags)?;
    }
    let fields = changed_fields(&input.profile, &input);
    let updated = store::update(conn, &current, &input.profile)?;
    let (subject, event) = updated_event(id, &fields);
    emit(conn, subject, event)?;
    Ok(updated)
}

/// Connector upsert: updates the customer who owns `(kind, value)`, or creates one with it.
/// Returns the customer and whether it was created.
pub fn upsert_by_identity(
    conn: &mut PgConnection, kind: &str, value: &str, input: ValidInput, now: DateTime<Utc>, by: StoreScope,
) -> ApiResult<(Customer, bool)> {
    if let Some(owner) = store::owner_of(conn, kind, value)? {
        return Ok((update(conn, owner, None, input, now, by)?, false));
    }
    let mut with_identity = input.clone();
    with_identity.identities.push((kind.to_string(), value.to_string()));
    // A concurrent upsert may create the owner first: then this becomes an update of that customer.
    match conn.transaction(|conn| create(conn, with_identity, now, by)) {
        Ok(customer) => Ok((customer, true)),
        Err(conflict @ ApiError::Conflict { .. }) => match store::owner_of(conn, kind, value)? {
            Some(owner) => Ok((update(conn, owner, None, input, now, by)?, false)),
            // The conflict was about another identity in the input (e.g. its phone).
            None => Err(conflict),
        },
        Err(other) => Err(other),
    }
}

/// What a merge step needs to know: who folds into whom, by whose hand, when.
pub struct MergeContext<'a> {
    pub source: Uuid,
    pub target: Uuid,
    pub actor: &'a str,
    pub now: chrono::DateTime<Utc>,
}

/// The two profiles of a merge, locked in id order (two opposite merges cannot deadlock): the
/// target must be active, the source active and another customer.
pub fn lock_merge_pair(conn: &mut PgConnection, target_id: Uuid, source_id: Uuid) -> ApiResult<(Customer, Customer)> {
    if target_id == source_id {
        return Err(ApiError::invalid("source_customer_id", "a customer cannot be merged into itself"));
    }
    let (first, second) = if target_id < source_id { (target_id, source_id) } else { (source_id, target_id) };
    store::guard(conn, &[first, second], store::Guard::Exclusive)?;
    let a = store::lock(conn, first)?;
    let b = store::lock(conn, second)?;
    let (target, source) = if a.id == target_id { (a, b) } else { (b, a) };
    store::ensure_active(&target)?;
    if source.status != CustomerStatus::Active {
        return Err(ApiError::unprocessable("customer_not_active", "the source customer is already merged or erased")
            .with("source_status", source.status.as_str()));
    }
    Ok((target, source))
}

/// After every domain moved its records: the source's profile fills the target's gaps, its ids
/// point at the target, and it becomes `merged` with its personal data blanked.
pub fn finish_merge(
    conn: &mut PgConnection, target: &Customer, source: &Customer, moved: &BTreeMap<String, i64>,
) -> ApiResult<Customer> {
    let fill = fill_gaps(target, source);
    store::repoint_merged(conn, source.id, target.id)?;
    store::blank_pii(conn, source.id)?;
    store::set_status(conn, source, CustomerStatus::Merged, Some(target.id))?;
    let updated = store::update(conn, target, &fill)?;
    let merged = CustomerMerged { source_customer_id: source.id, moved: moved.clone() };
    emit(conn, Some(target.id), EventData::CustomerMerged(merged))?;
    Ok(updated)
}

/// The customer to erase, locked; `None` when it already is. A merged profile is erased through
/// the customer it was merged into.
pub fn lock_for_erasure(conn: &mut PgConnection, id: Uuid) -> ApiResult<Option<Customer>> {
    store::guard(conn, &[id], store::Guard::Exclusive)?;
    let current = store::lock(conn, id)?;
    match current.status {
        CustomerStatus::Erased => Ok(None),
        CustomerStatus::Merged => store::ensure_active(&current).map(|()| None),
        CustomerStatus::Active => Ok(Some(current)),
    }
}

/// After every domain forgot the person: the profile is `erased`.
pub fn finish_erasure(conn: &mut PgConnection, current: &Customer) -> ApiResult<Customer> {
    let erased = store::set_status(conn, current, CustomerStatus::Erased, None)?;
    emit(conn, Some(current.id), EventData::CustomerErased(CustomerErased {}))?;
    Ok(erased)
}

/// The target keeps what it has; empty fields, missing consents and attribute keys come from the
/// source (a merge's source profile, or an imported row: 补全).
pub fn fill_gaps(target: &Customer, source: &Customer) -> ProfileChanges {
    fn gap<T: Clone>(t: &Option<T>, s: &Option<T>) -> Option<Option<T>> {
        match (t, s) {
            (None, Some(v)) => Some(Some(v.clone())),
            _ => None,
        }
    }
    let merge_objects = |t: &Value, s: &Value| -> Option<Value> {
        let (Some(t), Some(s)) = (t.as_object(), s.as_object()) else { return None };
        let mut out = t.clone();
        let mut changed = false;
        for (k, v) in s {
            if !out.contains_key(k) {
                out.insert(k.clone(), v.clone());
                changed = true;
            }
        }
        changed.then_some(Value::Object(out))
    };
    ProfileChanges {
        name: gap(&target.name, &source.name),
        gender: (target.gender == Gender::Unknown && source.gender != Gender::Unknown).then_some(source.gender),
        birthday: gap(&target.birthday, &source.birthday),
        phone: gap(&target.phone, &source.phone),
        email: gap(&target.email, &source.email),
        city: gap(&target.city, &source.city),
        district: gap(&target.district, &source.district),
        address: gap(&target.address, &source.address),
        source_channel: gap(&target.source_channel, &source.source_channel),
        home_store_id: gap(&target.home_store_id, &source.home_store_id),
        consents: merge_objects(&target.consents, &source.consents),
        attributes: merge_objects(&target.attributes, &source.attributes),
    }
}

/// Who is erased, and what identifies them, read before any step runs.
pub struct ErasureContext {
    pub customer: Uuid,
    /// The customer and the customers merged into it (their records now belong to it).
    pub ids: Vec<Uuid>,
    /// The phones on the profile and among the identities, as stored (E.164).
    pub phones: Vec<String>,
    /// Values that point at this person wherever they appear: the ids, phones (E.164 and the
    /// national form), email, every identity value (cards, WeChat and shop ids).
    pub identifiers: Vec<String>,
    /// The identifiers without the ids, plus name, address and birthday: what is cut out of free
    /// text in the person's own records.
    pub words: Vec<String>,
    pub now: DateTime<Utc>,
}

/// Shorter values would cut unrelated text apart (a one-character name).
const MIN_WORD_CHARS: usize = 2;

pub fn erasure_context(conn: &mut PgConnection, customer: &Customer, now: DateTime<Utc>) -> ApiResult<ErasureContext> {
    let mut ids = store::merged_into(conn, customer.id)?;
    ids.push(customer.id);
    let identities = store::identities_of(conn, &ids)?;
    let mut phones: Vec<String> = customer.phone.iter().cloned().collect();
    phones.extend(
        identities
            .iter()
            .filter(|(_, kind, _, _)| IdentityKind::Phone == kind.as_str())
            .map(|(_, _, value, _)| value.clone()),
    );
    let mut contacts: Vec<String> = identities.into_iter().map(|(_, _, value, _)| value).collect();
    contacts.extend(customer.email.iter().cloned());
    for phone in &phones {
        contacts.push(phone.clone());
        // Text written by hand holds a mainland mobile without its country code.
        if let Some(national) = phone.strip_prefix("+86") {
            contacts.push(national.to_string());
        }
    }
    let mut words = contacts.clone();
    words.extend(customer.name.iter().cloned());
    words.extend(customer.address.iter().cloned());
    words.extend(customer.birthday.map(|b| b.to_string()));
    words.retain(|w| w.chars().count() >= MIN_WORD_CHARS);
    let mut identifiers: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    identifiers.extend(contacts);
    identifiers.retain(|w| w.chars().count() >= MIN_WORD_CHARS);
    for list in [&mut phones, &mut identifiers, &mut words] {
        list.sort();
        list.dedup();
    }
    Ok(ErasureContext { customer: customer.id, ids, phones, identifiers, words, now })
}

/// Who a sale, a quote or a ticket names: nobody (a guest), a customer id, or an identity.
pub enum CustomerRef {
    Guest,
    Id(Uuid),
    Identity(String, String),
}

/// Finds the live customer an order belongs to; a merged customer's old id still finds the survivor.
pub fn resolve_customer(conn: &mut PgConnection, customer: &CustomerRef) -> ApiResult<Option<Uuid>> {
    let found = match customer {
        CustomerRef::Guest => return Ok(None),
        CustomerRef::Id(id) => store::standing(conn, Some(*id), None)?,
        CustomerRef::Identity(kind, value) => store::standing(conn, None, Some((kind, value)))?,
    };
    let (id, status, merged_into) = found.ok_or_else(|| unknown_customer(customer))?;
    live_customer(id, status, merged_into).map(Some)
}

/// 422 `customer_not_found`: a sale, a quote or a ticket names nobody.
pub fn unknown_customer(customer: &CustomerRef) -> ApiError {
    let what = match customer {
        CustomerRef::Id(_) => "no customer with this id",
        _ => "no customer has this identity",
    };
    ApiError::unprocessable("customer_not_found", what)
}

/// Whom a customer's standing makes the party to a sale: an active customer, a merged one's
/// survivor; an erased one is 422 `customer_not_active`.
pub fn live_customer(id: Uuid, status: CustomerStatus, merged_into: Option<Uuid>) -> ApiResult<Uuid> {
    match (status, merged_into) {
        (CustomerStatus::Active, _) => Ok(id),
        (CustomerStatus::Merged, Some(survivor)) => Ok(survivor),
        _ => Err(ApiError::unprocessable("customer_not_active", "the customer was erased")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(name: Option<&str>, phone: Option<&str>, consents: Value) -> Customer {
        Customer {
            id: Uuid::now_v7(),
            name: name.map(str::to_string),
            gender: Gender::Unknown,
            birthday: None,
            phone: phone.map(str::to_string),
            email: None,
            city: None,
            district: None,
            address: None,
            source_channel: None,
            home_store_id: None,
            consents,
            attributes: json!({}),
            status: CustomerStatus::Active,
            merged_into: None,
            version: 1,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn merge_fills_only_the_targets_gaps() {
        let target = customer(Some("张三"), None, json!({"marketing_sms": {"granted": false}}));
        let source = customer(
            Some("Zhang San"),
            Some("+8613812345678"),
            json!({"marketing_sms": {"granted": true}, "marketing_email": {"granted": true}}),
        );
        let fill = fill_gaps(&target, &source);
        assert_eq!(fill.name, None, "the target keeps its own name");
        assert_eq!(fill.phone, Some(Some("+8613812345678".into())));
        let consents = fill.consents.unwrap_or_default();
        assert_eq!(consents["marketing_sms"]["granted"], json!(false), "the target's own consent wins");
        assert_eq!(consents["marketing_email"]["granted"], json!(true));
    }
}
