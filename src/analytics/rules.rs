//! Pure rules of the reports: the seasonal forecast, target attainment and shares, and the
//! reasons a customer is at risk of churning. No I/O; the numbers a manager checks by hand.

use chrono::{Datelike, NaiveDate};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;

/// Complete months of history the forecast reads: three years of the same month.
pub const FORECAST_HISTORY_MONTHS: u32 = 36;
pub const FORECAST_MAX_MONTHS: u32 = 24;
/// A customer is overdue when away more than this many times their usual interval.
pub const RHYTHM_FACTOR: i32 = 2;
/// Customers gone longer than this are lost, not at risk: the churn list leaves them out.
pub const CHURN_HORIZON_DAYS: i32 = 365;

/// The first day of the month `offset` months after the month of `day` (negative: before).
pub fn month_start(day: NaiveDate, offset: i32) -> NaiveDate {
    let index = day.year() * 12 + day.month0() as i32 + offset;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1).unwrap_or(day)
}

/// Net sales of one month (its first day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonthSales {
    pub month: NaiveDate,
    pub net: Decimal,
}

/// Sales of one 12-month window of the history, most recent first.
#[derive(Debug, Clone, PartialEq)]
pub struct YearTotal {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub net: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForecastMonth {
    pub month: NaiveDate,
    /// The same month in the latest year of the history.
    pub base_month: NaiveDate,
    pub base_net: Decimal,
    /// Years between the base month and this one: the trend applies that many times.
    pub years_ahead: i32,
    pub forecast: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub years: Vec<YearTotal>,
    /// Compound yearly growth of the 12-month totals, rounded to 4 places (0 without two years).
    pub growth_rate: Decimal,
    pub months: Vec<ForecastMonth>,
}

/// Projects `months` months from `first` (the current month's first day): each is the same month
/// of the latest year in `history` (the 36 complete months before `first`; a month missing from
/// it sold nothing), times (1 + growth) per year ahead. Growth is the compound yearly growth of
/// the 12-month totals, from the oldest year with sales to the latest: (latest / oldest)^(1/(n−1)) − 1.
pub fn forecast(history: &[MonthSales], first: NaiveDate, months: u32) -> Forecast {
    let sales_of = |month: NaiveDate| history.iter().filter(|m| m.month == month).map(|m| m.net).sum::<Decimal>();
    let years: Vec<YearTotal> = (0..FORECAST_HISTORY_MONTHS as i32 / 12)
        .map(|y| {
            let from = month_start(first, -12 * (y + 1));
            let net = (0..12).map(|m| sales_of(month_start(from, m))).sum();
            YearTotal { from, to: month_start(first, -12 * y - 1), net }
        })
        .collect();
    // The trend spans the latest run of years with sales: a category that began two years ago
    // grows from its first full year, not from nothing.
    let with_sales: Vec<&YearTotal> = years.iter().take_while(|y| y.net > Decimal::ZERO).collect();
    let growth_rate = match (with_sales.first(), with_sales.last()) {
        (Some(latest), Some(oldest)) if with_sales.len() >= 2 => {
            let ratio = (latest.net / oldest.net).to_f64().unwrap_or(1.0);
            let rate = ratio.powf(1.0 / (with_sales.len() as f64 - 1.0)) - 1.0;
            Decimal::from_f64(rate).unwrap_or_default().round_dp(4)
        }
        _ => Decimal::ZERO,
    };
    let months = (0..months as i32)
        .map(|i| {
            let month = month_start(first, i);
            let years_ahead = i / 12 + 1;
            let base_month = month_start(month, -12 * years_ahead);
            let base_net = sales_of(base_month);
            let factor = (0..years_ahead).fold(Decimal::ONE, |f, _| f * (Decimal::ONE + growth_rate));
            ForecastMonth { month, base_month, base_net, years_ahead, forecast: (base_net * factor).round_dp(2) }
        })
        .collect();
    Forecast { years, growth_rate, months }
}

/// Sales over target, rounded to 4 places; none without a target.
pub fn ratio(part: Decimal, whole: Decimal) -> Option<Decimal> {
    (whole > Decimal::ZERO).then(|| (part / whole).round_dp(4))
}

/// Why a customer is at risk of churning (SPEC §9 and §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChurnReason {
    /// Orders in the last 90 days at most half those of the 90 days before, which were ≥ 2.
    OrdersHalved,
    /// Away more than `RHYTHM_FACTOR` times the customer's own usual interval.
    OverdueForRhythm,
}

impl ChurnReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ChurnReason::OrdersHalved => "orders_halved",
            ChurnReason::OverdueForRhythm => "overdue_for_rhythm",
        }
    }
}

/// What the reasons read of one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChurnFacts {
    pub orders_last_90: i64,
    pub orders_prior_90: i64,
    pub days_since_last_order: i32,
    pub usual_interval_days: Option<Decimal>,
}

pub fn churn_reasons(f: &ChurnFacts) -> Vec<ChurnReason> {
    let mut reasons = Vec::new();
    if f.orders_prior_90 >= 2 && f.orders_last_90 * 2 <= f.orders_prior_90 {
        reasons.push(ChurnReason::OrdersHalved);
    }
    if let Some(usual) = f.usual_interval_days {
        if Decimal::from(f.days_since_last_order) > usual * Decimal::from(RHYTHM_FACTOR) {
            reasons.push(ChurnReason::OverdueForRhythm);
        }
    }
    reasons
}

/// The same test as SQL over `last_90`, `prior_90`, `away` and `usual` expressions; kept beside
/// `churn_reasons` so the list and its reasons agree (a test runs both on the same rows).
pub fn churn_sql(last_90: &str, prior_90: &str, away: &str, usual: &str) -> String {
    format!(
        "(({prior_90} >= 2 AND {last_90} * 2 <= {prior_90}) OR ({usual} IS NOT NULL AND {away} > {usual} * {RHYTHM_FACTOR}))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn months_step_over_year_ends() {
        assert_eq!(month_start(day(2026, 2, 14), 0), day(2026, 2, 1));
        assert_eq!(month_start(day(2026, 2, 14), -2), day(2025, 12, 1));
        assert_eq!(month_start(day(2026, 2, 14), -14), day(2024, 12, 1));
        assert_eq!(month_start(day(2026, 11, 30), 2), day(2027, 1, 1));
    }

    #[test]
    fn a_dress_that_grew_15_percent_a_year_is_forecast_15_percent_up() {
        // July dresses: 1,000 in 2023, 1,150 in 2024, 1,322.50 in 2025 (the seeds' 连衣裙 +15% a year).
        let history = [
            MonthSales { month: day(2023, 7, 1), net: d("1000") },
            MonthSales { month: day(2024, 7, 1), net: d("1150") },
            MonthSales { month: day(2025, 7, 1), net: d("1322.50") },
            MonthSales { month: day(2025, 8, 1), net: d("200") },
        ];
        let f = forecast(&history, day(2026, 2, 1), 18);
        assert_eq!(f.years.iter().map(|y| y.net).collect::<Vec<_>>(), vec![d("1522.50"), d("1150"), d("1000")]);
        assert_eq!(f.years[0].from, day(2025, 2, 1));
        assert_eq!(f.years[0].to, day(2026, 1, 1));
        // (1522.50 / 1000)^(1/2) - 1
        assert_eq!(f.growth_rate, d("0.2339"));
        let july = &f.months[5];
        assert_eq!(
            (july.month, july.base_month, july.base_net, july.years_ahead),
            (day(2026, 7, 1), day(2025, 7, 1), d("1322.50"), 1)
        );
        assert_eq!(july.forecast, d("1631.83"));
        assert_eq!(f.months[0].forecast, Decimal::ZERO);
        // A year further out, the base is still the latest July and the trend applies twice.
        let later = &f.months[17];
        assert_eq!((later.month, later.base_month, later.years_ahead), (day(2027, 7, 1), day(2025, 7, 1), 2));
        assert_eq!(later.forecast, (d("1322.50") * d("1.2339") * d("1.2339")).round_dp(2));
    }

    #[test]
    fn without_two_years_of_sales_there_is_no_trend() {
        let history = [MonthSales { month: day(2025, 12, 1), net: d("80") }];
        let f = forecast(&history, day(2026, 2, 1), 12);
        assert_eq!(f.growth_rate, Decimal::ZERO);
        assert_eq!(f.months[10].month, day(2026, 12, 1));
        assert_eq!(f.months[10].forecast, d("80"));
        assert!(forecast(&[], day(2026, 2, 1), 3).months.iter().all(|m| m.forecast.is_zero()));
    }

    #[test]
    fn churn_reasons_follow_the_counts_and_the_customers_own_rhythm() {
        let facts = |last, prior, away, usual: Option<Decimal>| ChurnFacts {
            orders_last_90: last,
            orders_prior_90: prior,
            days_since_last_order: away,
            usual_interval_days: usual,
        };
        use ChurnReason::*;
        // Buys every 20 days and has been away 60: at risk long before a fixed 90-day rule.
        assert_eq!(churn_reasons(&facts(3, 4, 60, Some(d("20")))), vec![OverdueForRhythm]);
        assert_eq!(churn_reasons(&facts(3, 4, 40, Some(d("20")))), vec![]);
        assert_eq!(churn_reasons(&facts(3, 4, 41, Some(d("20")))), vec![OverdueForRhythm]);
        assert_eq!(churn_reasons(&facts(1, 2, 10, None)), vec![OrdersHalved]);
        assert_eq!(churn_reasons(&facts(2, 3, 10, None)), vec![]);
        assert_eq!(churn_reasons(&facts(0, 1, 10, None)), vec![]);
        assert_eq!(churn_reasons(&facts(0, 6, 100, Some(d("15")))), vec![OrdersHalved, OverdueForRhythm]);
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(d("46000"), d("50000")), Some(d("0.92")));
        assert_eq!(ratio(d("1"), Decimal::ZERO), None);
    }
}
