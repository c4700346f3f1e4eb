//! Cursor pagination: `?limit=50&cursor=...` → `{"items": [...], "next_cursor": ...}`.

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use base64::Engine;
use diesel::PgConnection;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::PgPool;
use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> ApiResult<i64> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 200")),
        }
    }

    /// Decodes the cursor into the sort key it carries.
    pub fn after<K: std::str::FromStr>(&self) -> ApiResult<Option<K>> {
        let Some(raw) = &self.cursor else { return Ok(None) };
        decode_cursor(raw)
            .and_then(|s| s.parse::<K>().ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned"))
    }
}

impl PageParams {
    /// Fetches `limit + 1` rows after the cursor's key (`fetch(conn, after, limit + 1)`) and pages
    /// them as views, the next cursor being `key` of the last one shown.
    pub async fn load<K, R, V, F>(&self, pool: &PgPool, fetch: F, key: impl Fn(&V) -> String) -> ApiResult<Page<V>>
    where
        K: std::str::FromStr + Send + 'static,
        R: Into<V> + Send + 'static,
        V: ToSchema,
        F: FnOnce(&mut PgConnection, Option<K>, i64) -> ApiResult<Vec<R>> + Send + 'static,
    {
        let limit = self.limit()?;
        let after = self.after::<K>()?;
        let rows = crate::db::run(pool, move |conn| fetch(conn, after, limit + 1)).await?;
        Ok(Page::from_rows(rows.into_iter().map(Into::into).collect(), limit, key))
    }
}

/// A list endpoint's query: the page (`limit`, `cursor`) and the endpoint's own filter `F`, which
/// may refuse unknown keys (`deny_unknown_fields`) without naming the page's. Document it as
/// `params(PageParams, F)`.
pub struct Listing<F> {
    pub page: PageParams,
    pub filter: F,
}

impl<F: DeserializeOwned> Listing<F> {
    fn parse(query: &str) -> Result<Listing<F>, serde_urlencoded::de::Error> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)?;
        let (page, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(k, _)| k == "limit" || k == "cursor");
        let reencode = |pairs: Vec<(String, String)>| serde_urlencoded::to_string(pairs).unwrap_or_default();
        Ok(Listing {
            page: serde_urlencoded::from_str(&reencode(page))?,
            filter: serde_urlencoded::from_str(&reencode(rest))?,
        })
    }
}

impl<F: DeserializeOwned> FromRequest for Listing<F> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Listing<F>, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            Listing::parse(req.query_string())
                .map_err(|e| super::query_problem(actix_web::error::QueryPayloadError::Deserialize(e)).into()),
        )
    }
}

/// The sort key of a list ordered by rank, then id (rules by priority): `"{rank}|{id}"` in the cursor.
pub struct RankKey(pub i32, pub uuid::Uuid);

impl RankKey {
    pub fn of(rank: i32, id: uuid::Uuid) -> String {
        format!("{rank}|{id}")
    }

    pub fn pair(self) -> (i32, uuid::Uuid) {
        (self.0, self.1)
    }
}

impl std::str::FromStr for RankKey {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (rank, id) = s.split_once('|').ok_or(())?;
        Ok(RankKey(rank.parse().map_err(|_| ())?, id.parse().map_err(|_| ())?))
    }
}

pub fn encode_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
}

fn decode_cursor(raw: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.as_bytes()).ok()?;
    String::from_utf8(bytes).ok()
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [], "next_cursor": "MDE5MmYwYzQtNWI2ZS03ZDdhLTljMWUtM2YxYTJiM2M0ZDVl"}))]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only signals that more exist.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let next_cursor = if more { rows.last().map(|r| encode_cursor(&key(r))) } else { None };
        Page { items: rows, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(ToSchema)]
    struct Row(i64);

    #[test]
    fn limit_bounds_are_1_to_200_default_50() {
        assert_eq!(PageParams::default().limit().ok(), Some(50));
        assert!(PageParams { limit: Some(0), cursor: None }.limit().is_err());
        assert!(PageParams { limit: Some(201), cursor: None }.limit().is_err());
        assert_eq!(PageParams { limit: Some(200), cursor: None }.limit().ok(), Some(200));
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let p = PageParams { limit: None, cursor: Some(encode_cursor("42")) };
        assert_eq!(p.after::<i64>().ok(), Some(Some(42)));
        let bad = PageParams { limit: None, cursor: Some("!!".into()) };
        assert!(bad.after::<i64>().is_err());
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        status: Option<String>,
    }

    #[test]
    fn a_listing_splits_the_page_from_a_strict_filter() {
        let l = Listing::<Filter>::parse("status=active&limit=5&cursor=MQ").expect("parses");
        assert_eq!((l.page.limit, l.page.cursor.as_deref()), (Some(5), Some("MQ")));
        assert_eq!(l.filter, Filter { status: Some("active".into()) });
        assert!(Listing::<Filter>::parse("stauts=active").is_err(), "a misspelt filter is refused");
        assert!(Listing::<Filter>::parse("limit=five").is_err());
    }

    #[test]
    fn next_cursor_only_when_more_rows_exist() {
        let page = Page::from_rows(vec![Row(1), Row(2), Row(3)], 2, |r| r.0.to_string());
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_cursor, Some(encode_cursor("2")));
        let last = Page::from_rows(vec![Row(1)], 2, |r| r.0.to_string());
        assert!(last.next_cursor.is_none());
    }
}
