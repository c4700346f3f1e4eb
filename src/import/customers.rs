//! `retail-crm import customers FILE.csv`: each row is an upsert by identity, validated exactly as
//! `POST /v1/customers` validates a body (`CustomerInput::validate`) and folded into profiles by
//! `customers::bulk_upsert` (duplicates in the file and against the database become one profile;
//! known values win, blanks are filled).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::PgConnection;
use serde_json::{Map, Value};

use super::source::Record;
use super::{cell, values, BatchResult, Header, Importer, Outcome, StoreDirectory};
use crate::customers::bulk_upsert::{self, RowResult, UpsertRow};
use crate::customers::model::{CustomerInput, IdentityInput};
use crate::customers::{bulk_store, rules};
use crate::error::{ApiError, ApiResult};

/// For `--help` and the error naming an unknown column.
pub const COLUMNS: &str = "phone, email, member_card, wechat_openid, wechat_unionid, tmall_ouid, jd_pin, \
     external:<system>, name, gender, birthday, city, district, address, source_channel, home_store, registered_at, \
     marketing_sms, marketing_email, marketing_wechat, tags, attr:<key>";

struct Columns {
    name: Option<usize>,
    gender: Option<usize>,
    birthday: Option<usize>,
    phone: Option<usize>,
    email: Option<usize>,
    city: Option<usize>,
    district: Option<usize>,
    address: Option<usize>,
    source_channel: Option<usize>,
    home_store: Option<usize>,
    registered_at: Option<usize>,
    tags: Option<usize>,
    consents: Vec<(&'static str, usize)>,
    /// Identities other than the profile's phone and email.
    identities: Vec<(String, usize)>,
    attributes: Vec<(String, usize)>,
}

impl Columns {
    fn find(names: &[String]) -> Result<Columns, String> {
        let mut h = Header::new(names);
        let identities: Vec<(String, usize)> = h.identities()?;
        let columns = Columns {
            name: h.find("name"),
            gender: h.find("gender"),
            birthday: h.find("birthday"),
            phone: h.find("phone"),
            email: h.find("email"),
            city: h.find("city"),
            district: h.find("district"),
            address: h.find("address"),
            source_channel: h.find("source_channel"),
            home_store: h.find("home_store"),
            registered_at: h.find("registered_at"),
            tags: h.find("tags"),
            consents: rules::ConsentKind::NAMES.iter().filter_map(|k| h.find(k).map(|i| (*k, i))).collect(),
            identities: identities.into_iter().filter(|(k, _)| k != "phone" && k != "email").collect(),
            attributes: h.prefixed("attr:"),
        };
        h.finish(COLUMNS)?;
        if columns.phone.is_none() && columns.email.is_none() && columns.identities.is_empty() {
            return Err(
                "the file has no identity column: a customer is matched by phone, email, member_card, wechat_openid, \
                 wechat_unionid, tmall_ouid, jd_pin or external:<system>"
                    .into(),
            );
        }
        Ok(columns)
    }
}

pub struct CustomersImport {
    columns: Columns,
    stores: StoreDirectory,
    tz: Tz,
}

impl CustomersImport {
    pub fn new(conn: &mut PgConnection, names: &[String], tz: Tz) -> Result<CustomersImport, String> {
        let columns = Columns::find(names)?;
        let stores = StoreDirectory::load(conn).map_err(|e| e.to_string())?;
        Ok(CustomersImport { columns, stores, tz })
    }

    /// The row as the API's body would say it, validated by the API's rules.
    fn parse(&self, record: &Record, now: DateTime<Utc>) -> Result<UpsertRow, Outcome> {
        if let Err(why) = &record.cells {
            return Err(Outcome::rejected("unreadable_row", why));
        }
        let c = &self.columns;
        let text = |i: Option<usize>| record.cell(i).map(|s| Some(s.to_string()));
        let mut errors = Vec::new();
        let gender = cell(record, c.gender, "gender", &mut errors, values::gender);
        let birthday = cell(record, c.birthday, "birthday", &mut errors, values::date);
        let registered_at =
            cell(record, c.registered_at, "registered_at", &mut errors, |s| values::instant(s, self.tz));
        if registered_at.is_some_and(|t| t > now) {
            errors.push("registered_at: must not be in the future".into());
        }
        let home_store = cell(record, c.home_store, "home_store", &mut errors, |s| self.stores.resolve(s));
        let mut consents = Map::new();
        for (kind, i) in &c.consents {
            if let Some(granted) = cell(record, Some(*i), kind, &mut errors, values::flag) {
                consents.insert(kind.to_string(), Value::Bool(granted));
            }
        }
        let attributes: Map<String, Value> = c
            .attributes
            .iter()
            .filter_map(|(key, i)| record.cell(Some(*i)).map(|v| (key.clone(), Value::String(v.to_string()))))
            .collect();
        let identities: Vec<IdentityInput> = c
            .identities
            .iter()
            .filter_map(|(kind, i)| {
                record.cell(Some(*i)).map(|v| IdentityInput { kind: kind.clone(), value: v.into() })
            })
            .collect();
        if !errors.is_empty() {
            return Err(Outcome::rejected("validation_failed", errors.join("; ")));
        }
        let input = CustomerInput {
            name: text(c.name),
            gender: gender.map(str::to_string),
            birthday: birthday.map(Some),
            phone: text(c.phone),
            email: text(c.email),
            city: text(c.city),
            district: text(c.district),
            address: text(c.address),
            source_channel: record.cell(c.source_channel).map(|s| Some(s.to_lowercase())),
            home_store_id: home_store.map(Some),
            consents: (!consents.is_empty()).then_some(consents),
            attributes: (!attributes.is_empty()).then_some(attributes),
            tags: record.cell(c.tags).map(values::tags),
            identities: Some(identities),
        };
        let today = now.with_timezone(&self.tz).date_naive();
        let input = input.validate(today, "").map_err(|e| Outcome::from_error(&e))?;
        Ok(UpsertRow { input, registered_at })
    }
}

impl Importer for CustomersImport {
    fn starts_unit(&self, _: &Record, _: &Record) -> bool {
        true
    }

    fn import_batch(
        &mut self, conn: &mut PgConnection, records: &[Record], now: DateTime<Utc>,
    ) -> ApiResult<BatchResult> {
        let parsed: Vec<Result<UpsertRow, Outcome>> = records.iter().map(|r| self.parse(r, now)).collect();
        let rows: Vec<UpsertRow> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
        let mut identities: Vec<(String, String)> =
            rows.iter().flat_map(|r| bulk_upsert::identities_of(&r.input)).collect();
        identities.sort();
        identities.dedup();
        let known = bulk_store::known(conn, &identities)?;
        // A stale plan: an identity's owner changed between the two reads; the batch runs again.
        let plan =
            bulk_upsert::plan(&rows, &known, now).map_err(|_| ApiError::Unavailable { retry_after_seconds: 0 })?;
        bulk_store::write(conn, &plan, now)?;
        let mut results = plan.results.into_iter();
        let outcomes = parsed
            .into_iter()
            .map(|p| match p {
                Err(outcome) => outcome,
                Ok(_) => match results.next() {
                    Some(RowResult::Created(_)) => Outcome::Created,
                    Some(RowResult::Updated(_)) => Outcome::Updated,
                    Some(RowResult::Unchanged(_)) => Outcome::Unchanged,
                    Some(RowResult::Rejected { code, detail }) => Outcome::rejected(code, detail),
                    None => Outcome::rejected("internal_error", "no result for the row"),
                },
            })
            .collect();
        Ok(BatchResult { outcomes, units: Default::default() })
    }
}

/// `retail-crm import customers --help`, after the options.
pub const HELP: &str = "\
CSV columns (UTF-8, with or without a BOM, \\n or \\r\\n line endings; a header row; blank cells change nothing):

Identities — a row is the customer who holds any of them (at least one per row):
  phone               mainland mobile (13812345678, 138-1234-5678, +86 138 1234 5678) or +<country code><number>
  email
  member_card         16 digits
  wechat_openid       <app id>:<openid>
  wechat_unionid, tmall_ouid, jd_pin
  external:<system>   another system's customer number, e.g. a column named external:old_crm
Profile:
  name                e.g. 张三 (at most 100 characters)
  gender              male, female, unknown (also M, F, 男, 女, 未知)
  birthday            1990-05-12, 1990/5/12, 19900512 or 1990年5月12日
  city, district, address
  source_channel      pos, tmall, jd, ... (a new profile without one: import)
  home_store          a store's code or id
  registered_at       when the customer joined, local time in CRM_TIMEZONE (2019-03-08 14:30) or RFC 3339;
                      the created_at of a profile the row creates
  marketing_sms, marketing_email, marketing_wechat
                      consent: 1/0, true/false, yes/no, 是/否
  tags                vip|老客户 (separated by |, ; or 、); added, never removed
  attr:<key>          kept in attributes.<key>

Duplicates in the file and against the database become one profile: a row that names an existing customer by any
identity fills that profile's blanks (known values win) and adds its identities and tags. A row whose identities
belong to two different customers is rejected (identity_conflict), never merged. Rejected rows go to
FILE.rejects.csv with their line number and reason. Running the same file again changes nothing; a run that was
interrupted continues after its last committed batch.";
