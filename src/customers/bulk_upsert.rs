//! Many upserts by identity at once (the CSV import's customers): how a batch of rows folds into
//! profiles, decided in memory on what the database holds, then written set-based (`bulk_store`).
//!
//! Rows apply in order, each as if alone:
//! - a row names its customer by its identities (phone, email, member card, channel ids); none of
//!   them known → a new profile; all known ones belong to one customer → that customer; they
//!   belong to two or more → the row is refused (`identity_conflict`): two existing profiles are
//!   never merged behind anyone's back (that is `POST /v1/customers/{id}/merge`, by a person);
//! - known values win, blanks are filled (补全), as a merge fills the target's gaps: a field set on
//!   the profile is never overwritten, a consent already recorded (granted or revoked) stays, an
//!   attribute key already present keeps its value;
//! - every identity of the row is claimed for the customer (a second phone becomes another phone
//!   identity; the profile keeps its first), tags are added, never removed.
//!
//! So a duplicate later in the file (or a re-run of the file) finds the profile and adds nothing
//! or only what was blank, and a re-run changes nothing.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::model::ValidInput;
use super::rules::{self, CustomerStatus};
use super::service::{created_event, fill_gaps, profile_fields, updated_event};
use super::store::{Customer, ProfileChanges};
use crate::stores::SalesChannel;

/// A validated row; `registered_at` becomes the profile's `created_at` when the row creates it.
#[derive(Debug, Clone)]
pub struct UpsertRow {
    pub input: ValidInput,
    pub registered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RowResult {
    Created(Uuid),
    Updated(Uuid),
    Unchanged(Uuid),
    Rejected { code: &'static str, detail: String },
}

/// What the database holds about a batch's identities.
#[derive(Debug, Default)]
pub struct Known {
    /// Owner of each identity of the batch that has one.
    pub owners: HashMap<(String, String), Uuid>,
    /// The owners' profiles (active ones only).
    pub customers: HashMap<Uuid, Customer>,
    /// The owners' tags.
    pub tags: HashMap<Uuid, BTreeSet<String>>,
    /// Tags computed by rules, which no row may set.
    pub rule_tags: HashSet<String>,
}

/// What a batch writes.
#[derive(Debug, Default)]
pub struct Plan {
    pub results: Vec<RowResult>,
    /// New profiles, as the batch leaves them.
    pub created: Vec<Customer>,
    /// Changed profiles, with the version they were read at and the fields that changed.
    pub updated: Vec<(Customer, i32, Vec<&'static str>)>,
    /// `(kind, value, customer)` claims.
    pub identities: Vec<(String, String, Uuid)>,
    /// `(customer, tag)` links to add.
    pub tags: Vec<(Uuid, String)>,
}

/// An identity names a customer the database no longer holds as active: something changed it
/// since it was read; plan the batch again.
#[derive(Debug, PartialEq)]
pub struct Stale;

/// The channel of a profile an import creates without one.
/// Where a customer an import creates came from, unless the file says.
pub const IMPORT_CHANNEL: SalesChannel = SalesChannel::Import;

/// The order fields are listed in `customer.updated`.
const FIELD_ORDER: &[&str] = &[
    "name",
    "gender",
    "birthday",
    "phone",
    "email",
    "city",
    "district",
    "address",
    "source_channel",
    "home_store_id",
    "attributes",
    "consents",
    "tags",
    "identities",
];

struct Draft {
    customer: Customer,
    /// `None`: created by this batch.
    read_version: Option<i32>,
    fields: BTreeSet<&'static str>,
    tags: BTreeSet<String>,
}

/// The row's identities: its phone and email (which are also profile fields), then the others.
pub fn identities_of(input: &ValidInput) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(Some(phone)) = &input.profile.phone {
        out.push(("phone".into(), phone.clone()));
    }
    if let Some(Some(email)) = &input.profile.email {
        out.push(("email".into(), email.clone()));
    }
    for pair in &input.identities {
        if !out.contains(pair) {
            out.push(pair.clone());
        }
    }
    out
}

fn blank(id: Uuid, created_at: DateTime<Utc>) -> Customer {
    Customer {
        id,
        name: None,
        gender: rules::Gender::Unknown,
        birthday: None,
        phone: None,
        email: None,
        city: None,
        district: None,
        address: None,
        source_channel: None,
        home_store_id: None,
        consents: json!({}),
        attributes: json!({}),
        status: CustomerStatus::Active,
        merged_into: None,
        version: 1,
        created_at,
        updated_at: created_at,
    }
}

/// The row as a profile, so that filling a customer's gaps from it is exactly a merge's rule.
fn as_profile(input: &ValidInput, now: DateTime<Utc>) -> Customer {
    let p = &input.profile;
    let mut c = blank(Uuid::nil(), now);
    c.name = p.name.clone().flatten();
    c.gender = p.gender.unwrap_or(rules::Gender::Unknown);
    c.birthday = p.birthday.flatten();
    c.phone = p.phone.clone().flatten();
    c.email = p.email.clone().flatten();
    c.city = p.city.clone().flatten();
    c.district = p.district.clone().flatten();
    c.address = p.address.clone().flatten();
    c.source_channel = p.source_channel.flatten();
    c.home_store_id = p.home_store_id.flatten();
    c.attributes = p.attributes.clone().unwrap_or_else(|| json!({}));
    // Validation has checked the consents.
    c.consents = input
        .consents
        .as_ref()
        .and_then(|changes| rules::apply_consents(&json!({}), changes, now).ok())
        .unwrap_or_else(|| json!({}));
    c
}

fn apply(c: &mut Customer, p: ProfileChanges) {
    fn set<T>(field: &mut T, change: Option<T>) {
        if let Some(v) = change {
            *field = v;
        }
    }
    set(&mut c.name, p.name);
    set(&mut c.gender, p.gender);
    set(&mut c.birthday, p.birthday);
    set(&mut c.phone, p.phone);
    set(&mut c.email, p.email);
    set(&mut c.city, p.city);
    set(&mut c.district, p.district);
    set(&mut c.address, p.address);
    set(&mut c.source_channel, p.source_channel);
    set(&mut c.home_store_id, p.home_store_id);
    set(&mut c.consents, p.consents);
    set(&mut c.attributes, p.attributes);
}

fn reject(code: &'static str, detail: impl Into<String>) -> RowResult {
    RowResult::Rejected { code, detail: detail.into() }
}

/// Folds `rows` into profiles over what the database holds; `Err(Stale)` when that moved meanwhile.
pub fn plan(rows: &[UpsertRow], known: &Known, now: DateTime<Utc>) -> Result<Plan, Stale> {
    let mut plan = Plan::default();
    let mut drafts: Vec<Draft> = Vec::new();
    let mut draft_of: HashMap<Uuid, usize> = HashMap::new();
    let mut owners = known.owners.clone();
    for row in rows {
        let identities = identities_of(&row.input);
        if identities.is_empty() {
            plan.results.push(reject(
                "no_identity",
                "a row needs a phone, email, member card or channel id: without one it cannot be matched again",
            ));
            continue;
        }
        let row_tags = row.input.tags.clone().unwrap_or_default();
        if let Some(rule) = row_tags.iter().find(|t| known.rule_tags.contains(*t)) {
            plan.results.push(reject(
                "validation_failed",
                format!("tags: '{rule}' is a rule tag: it is computed, not set by hand"),
            ));
            continue;
        }
        let mut named: Vec<(Uuid, &str)> = Vec::new();
        for (kind, value) in &identities {
            if let Some(owner) = owners.get(&(kind.clone(), value.clone())) {
                if !named.iter().any(|(id, _)| id == owner) {
                    named.push((*owner, kind));
                }
            }
        }
        if named.len() > 1 {
            let whose: Vec<String> = named.iter().map(|(id, kind)| format!("the {kind} is customer {id}'s")).collect();
            plan.results.push(reject(
                "identity_conflict",
                format!(
                    "{}: the row's identities belong to different customers; merge them first (POST /v1/customers/{{id}}/merge) or fix the row",
                    whose.join(", ")
                ),
            ));
            continue;
        }
        let (index, created) = match named.first() {
            Some((id, _)) => match draft_of.get(id) {
                Some(&i) => (i, false),
                None => {
                    let customer = known.customers.get(id).ok_or(Stale)?.clone();
                    let tags = known.tags.get(id).cloned().unwrap_or_default();
                    drafts.push(Draft {
                        read_version: Some(customer.version),
                        customer,
                        fields: BTreeSet::new(),
                        tags,
                    });
                    draft_of.insert(*id, drafts.len() - 1);
                    (drafts.len() - 1, false)
                }
            },
            None => {
                let customer = blank(Uuid::now_v7(), row.registered_at.unwrap_or(now));
                draft_of.insert(customer.id, drafts.len());
                drafts.push(Draft { customer, read_version: None, fields: BTreeSet::new(), tags: BTreeSet::new() });
                (drafts.len() - 1, true)
            }
        };
        let draft = &mut drafts[index];
        let id = draft.customer.id;
        let changes = fill_gaps(&draft.customer, &as_profile(&row.input, now));
        let mut fields: Vec<&'static str> = profile_fields(&changes);
        if changes.consents.is_some() {
            fields.push("consents");
        }
        apply(&mut draft.customer, changes);
        if created && draft.customer.source_channel.is_none() {
            draft.customer.source_channel = Some(IMPORT_CHANNEL);
        }
        for tag in row_tags {
            if draft.tags.insert(tag.clone()) {
                plan.tags.push((id, tag));
                fields.push("tags");
            }
        }
        for (kind, value) in identities {
            if let std::collections::hash_map::Entry::Vacant(slot) = owners.entry((kind.clone(), value.clone())) {
                slot.insert(id);
                plan.identities.push((kind, value, id));
                fields.push("identities");
            }
        }
        plan.results.push(match (created, fields.is_empty()) {
            (true, _) => RowResult::Created(id),
            (false, true) => RowResult::Unchanged(id),
            (false, false) => RowResult::Updated(id),
        });
        draft.fields.extend(fields);
    }
    for draft in drafts {
        match draft.read_version {
            None => plan.created.push(draft.customer),
            Some(_) if draft.fields.is_empty() => {}
            Some(version) => {
                let fields = FIELD_ORDER.iter().copied().filter(|f| draft.fields.contains(f)).collect();
                plan.updated.push((draft.customer, version, fields));
            }
        }
    }
    Ok(plan)
}

impl Plan {
    /// `customer.created` for each new profile (as it ends the batch), `customer.updated` with the
    /// changed fields for each changed one: the events the API's create and update write.
    pub fn events(&self) -> Vec<crate::events::Pending> {
        let created = self.created.iter().map(created_event);
        let updated = self.updated.iter().map(|(c, _, fields)| updated_event(c.id, fields));
        created.chain(updated).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    fn row(name: Option<&str>, phone: Option<&str>, email: Option<&str>) -> UpsertRow {
        let profile = ProfileChanges {
            name: name.map(|n| Some(n.to_string())),
            phone: phone.map(|p| Some(p.to_string())),
            email: email.map(|e| Some(e.to_string())),
            ..Default::default()
        };
        UpsertRow { input: ValidInput { profile, ..Default::default() }, registered_at: None }
    }

    fn existing(phone: &str, name: &str) -> (Known, Uuid) {
        let mut c = blank(Uuid::now_v7(), now());
        c.phone = Some(phone.into());
        c.name = Some(name.into());
        c.version = 3;
        let id = c.id;
        let mut known = Known::default();
        known.owners.insert(("phone".into(), phone.into()), id);
        known.customers.insert(id, c);
        (known, id)
    }

    #[test]
    fn duplicates_in_the_batch_become_one_profile_and_fill_its_blanks() {
        let rows = [
            row(Some("张三"), Some("+8613800000001"), None),
            row(Some("Zhang San"), Some("+8613800000001"), Some("z@example.com")),
            row(None, None, Some("z@example.com")),
        ];
        let plan = plan(&rows, &Known::default(), now()).unwrap_or_default();
        let RowResult::Created(id) = plan.results[0] else { panic!("{:?}", plan.results) };
        assert_eq!(plan.results[1..], [RowResult::Updated(id), RowResult::Unchanged(id)]);
        assert_eq!(plan.created.len(), 1);
        let c = &plan.created[0];
        assert_eq!(c.name.as_deref(), Some("张三"), "the first name stays");
        assert_eq!(c.email.as_deref(), Some("z@example.com"), "the blank is filled");
        assert_eq!(c.source_channel, Some(IMPORT_CHANNEL));
        assert_eq!(plan.identities.len(), 2);
        assert!(plan.updated.is_empty());
        assert_eq!(plan.events().len(), 1, "one customer.created, no update of a profile the batch creates");
    }

    #[test]
    fn an_existing_profile_keeps_its_values_and_gains_what_was_blank() {
        let (known, id) = existing("+8613800000001", "王芳");
        let rows = [row(Some("Wang Fang"), Some("+8613800000001"), Some("w@example.com"))];
        let plan = plan(&rows, &known, now()).unwrap_or_default();
        assert_eq!(plan.results, [RowResult::Updated(id)]);
        let (c, version, fields) = &plan.updated[0];
        assert_eq!((c.name.as_deref(), c.email.as_deref(), *version), (Some("王芳"), Some("w@example.com"), 3));
        assert_eq!(fields, &["email", "identities"]);
        let mut known = known;
        known.customers.insert(id, c.clone());
        known.owners.insert(("email".into(), "w@example.com".into()), id);
        let again = super::plan(&rows, &known, now()).unwrap_or_default();
        assert_eq!(again.results, [RowResult::Unchanged(id)], "a re-run changes nothing");
        assert!(again.updated.is_empty() && again.identities.is_empty() && again.events().is_empty());
    }

    #[test]
    fn identities_of_two_customers_are_refused_never_merged() {
        let (mut known, first) = existing("+8613800000001", "A");
        let (other, second) = existing("+8613800000002", "B");
        known.owners.extend(other.owners);
        known.customers.extend(other.customers);
        let rows = [row(None, Some("+8613800000001"), None), row(None, None, None)];
        let mut both = rows[0].clone();
        both.input.identities.push(("phone".into(), "+8613800000002".into()));
        let plan = plan(&[both, rows[1].clone()], &known, now()).unwrap_or_default();
        let RowResult::Rejected { code, detail } = &plan.results[0] else { panic!("{:?}", plan.results) };
        assert_eq!(*code, "identity_conflict");
        assert!(detail.contains(&first.to_string()) && detail.contains(&second.to_string()), "{detail}");
        assert!(matches!(plan.results[1], RowResult::Rejected { code: "no_identity", .. }));
        assert!(plan.created.is_empty() && plan.updated.is_empty() && plan.identities.is_empty());
    }

    #[test]
    fn an_identity_whose_owner_was_not_read_makes_the_plan_stale() {
        let (mut known, id) = existing("+8613800000001", "A");
        known.customers.remove(&id);
        assert_eq!(plan(&[row(None, Some("+8613800000001"), None)], &known, now()).err(), Some(Stale));
    }
}
