//! Cells as an old CRM exports them: dates in several spellings, 男/女, 是/否, amounts with `¥` and
//! thousands separators. Pure functions; each error is the message a rejects file shows.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日"];
const TIME_FORMATS: &[&str] = &["%H:%M:%S", "%H:%M", "%H:%M:%S%.f"];

/// `1990-05-12`, `1990/5/12`, `1990.05.12`, `19900512`, `1990年5月12日`; a time after the date (as
/// spreadsheets add) must be midnight.
pub fn date(raw: &str) -> Result<NaiveDate, String> {
    let text = raw.trim();
    let (day, time) = match text.split_once([' ', 'T']) {
        Some((day, time)) => (day, Some(time.trim())),
        None => (text, None),
    };
    let parsed = DATE_FORMATS.iter().find_map(|f| NaiveDate::parse_from_str(day, f).ok());
    let Some(parsed) = parsed else {
        return Err(format!("'{raw}' is not a date like 1990-05-12"));
    };
    match time.map(local_time) {
        None => Ok(parsed),
        Some(Ok(t)) if t == NaiveTime::MIN => Ok(parsed),
        Some(_) => Err(format!("'{raw}' is not a date like 1990-05-12")),
    }
}

fn local_time(raw: &str) -> Result<NaiveTime, ()> {
    TIME_FORMATS.iter().find_map(|f| NaiveTime::parse_from_str(raw, f).ok()).ok_or(())
}

/// RFC 3339 (`2024-03-08T14:30:00+08:00`), or a local time in `tz` as `2024-03-08 14:30[:00]`
/// (any date spelling of `date`), or a date alone (local midnight).
pub fn instant(raw: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let text = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || format!("'{raw}' is not a time like 2024-03-08 14:30:00 (local) or 2024-03-08T06:30:00Z");
    let local = match text.split_once([' ', 'T']) {
        Some((day, time)) => {
            let day = date(day).map_err(|_| bad())?;
            NaiveDateTime::new(day, local_time(time.trim()).map_err(|_| bad())?)
        }
        None => NaiveDateTime::new(date(text).map_err(|_| bad())?, NaiveTime::MIN),
    };
    // Asia/Shanghai has no gaps; elsewhere a time skipped by a clock change is refused, a repeated
    // one is its first occurrence.
    tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).ok_or_else(bad)
}

/// `male`/`female`/`unknown`, as a legacy system may spell them: `M`, `F`, `男`, `女`, `未知`...
pub fn gender(raw: &str) -> Result<&'static str, String> {
    match raw.trim().to_lowercase().as_str() {
        "male" | "m" | "男" | "先生" => Ok("male"),
        "female" | "f" | "女" | "女士" => Ok("female"),
        "unknown" | "u" | "未知" | "保密" => Ok("unknown"),
        _ => Err(format!("'{raw}' is not a gender: male, female or unknown (男, 女, 未知)")),
    }
}

/// A yes/no cell: `1`/`0`, `true`/`false`, `yes`/`no`, `y`/`n`, `是`/`否`.
pub fn flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "t" | "是" => Ok(true),
        "0" | "false" | "no" | "n" | "f" | "否" => Ok(false),
        _ => Err(format!("'{raw}' is not yes or no (1/0, true/false, 是/否)")),
    }
}

/// Tags separated by `|`, `;`, `；` or `、` (a comma would need quoting in a CSV cell).
pub fn tags(raw: &str) -> Vec<String> {
    raw.split(['|', ';', '；', '、']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// An amount: `299`, `299.00`, `¥1,299.00`, `￥299`.
pub fn money(raw: &str) -> Result<Decimal, String> {
    let cleaned: String = raw.trim().trim_start_matches(['¥', '￥']).chars().filter(|c| *c != ',').collect();
    crate::money::parse(&cleaned).map_err(|_| format!("'{raw}' is not an amount like 299.00"))
}

/// A whole number of items.
pub fn quantity(raw: &str) -> Result<i32, String> {
    raw.trim().parse::<i32>().map_err(|_| format!("'{raw}' is not a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn dates_in_the_spellings_of_old_exports() {
        for raw in ["1990-05-12", "1990/5/12", "1990.05.12", "19900512", "1990年5月12日", " 1990-05-12 00:00:00 "] {
            assert_eq!(date(raw), Ok(day(1990, 5, 12)), "{raw}");
        }
        for bad in ["12/05/1990", "1990-02-30", "1990-05-12 08:00", "yesterday", ""] {
            assert!(date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_are_local_unless_they_carry_an_offset() {
        let tz = chrono_tz::Asia::Shanghai;
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        assert_eq!(instant("2024-03-08 14:30:00", tz), Ok(utc("2024-03-08T06:30:00Z")));
        assert_eq!(instant("2024/3/8 14:30", tz), Ok(utc("2024-03-08T06:30:00Z")));
        assert_eq!(instant("2024-03-08", tz), Ok(utc("2024-03-07T16:00:00Z")));
        assert_eq!(instant("2024-03-08T14:30:00+08:00", tz), Ok(utc("2024-03-08T06:30:00Z")));
        assert_eq!(instant("2024-03-08T06:30:00Z", tz), Ok(utc("2024-03-08T06:30:00Z")));
        assert!(instant("2024-03-08 25:00", tz).is_err());
        assert!(instant("soon", tz).is_err());
    }

    #[test]
    fn genders_flags_tags_and_amounts() {
        assert_eq!(gender("男"), Ok("male"));
        assert_eq!(gender("F"), Ok("female"));
        assert_eq!(gender("保密"), Ok("unknown"));
        assert!(gender("x").is_err());
        assert_eq!(flag("是"), Ok(true));
        assert_eq!(flag("0"), Ok(false));
        assert!(flag("maybe").is_err());
        assert_eq!(tags("vip| 老客户 ;;童装、"), vec!["vip", "老客户", "童装"]);
        assert_eq!(money("¥1,299.50"), Ok(Decimal::new(129950, 2)));
        assert_eq!(money("299"), Ok(Decimal::new(29900, 2)));
        assert!(money("12.345").is_err());
        assert!(money("abc").is_err());
        assert_eq!(quantity(" 3 "), Ok(3));
        assert!(quantity("1.5").is_err());
    }
}
