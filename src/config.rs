//! Every environment variable the service reads, in one place, with its default.

use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// `None` runs the embedded local PostgreSQL under `data_dir`.
    pub database_url: Option<String>,
    /// `DATABASE_READ_URL`: a read replica the reports read from (none: the primary).
    pub database_read_url: Option<String>,
    pub bind: String,
    pub data_dir: PathBuf,
    /// `None` makes `serve` generate (once) and keep a development secret in `data_dir`.
    pub jwt_secret: Option<String>,
    pub bootstrap_client: Option<(String, String)>,
    pub timezone: Tz,
    pub pool_size: u32,
    pub pool_timeout: Duration,
    pub body_limit: usize,
    pub token_ttl_seconds: i64,
    /// How long a checkout reservation holds coupons and points.
    pub reservation_ttl_seconds: i64,
    /// A lead's response SLA from its assignment (SPEC §11: 15 minutes).
    pub lead_response_minutes: i64,
    /// Requests per second per principal unless an API client has its own (0 = unlimited).
    pub rate_limit_rps: u32,
    /// Token requests per second from one source address (0 = unlimited).
    pub token_rate_per_address: u32,
    /// `CRM_TRUSTED_PROXIES`: load balancers whose `X-Forwarded-For` names the caller.
    pub trusted_proxies: crate::proxies::TrustedProxies,
    /// `CRM_WEBHOOK_ALLOW_PRIVATE`: webhook receivers may be on loopback, private or link-local
    /// addresses (tests, on-premise receivers). Off: such URLs are refused when saved and when
    /// a delivery connects.
    pub webhook_allow_private: bool,
    /// `CRM_SHUTDOWN_GRACE_SECONDS`: how long a stop (SIGTERM) waits for requests in flight, and
    /// then again for background work to reach a batch boundary (SPEC §16).
    pub shutdown_grace: Duration,
    /// `CRM_LOG_FORMAT`: how log lines are written.
    pub log_format: LogFormat,
    /// `CRM_WAL_ARCHIVE_DIR`: the embedded cluster archives every finished WAL segment there, for
    /// restores to a moment after the last base backup (`restore --wal-archive`). Made absolute
    /// here, because the server runs the archive command from its own data directory.
    pub wal_archive_dir: Option<PathBuf>,
}

/// How log lines are written (`CRM_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For a person at a terminal: time, level, the request's span, target, message.
    #[default]
    Text,
    /// For a log collector: one JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(raw: &str) -> Result<LogFormat, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("'{raw}' is not text or json")),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            database_read_url: None,
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./var"),
            jwt_secret: None,
            bootstrap_client: None,
            timezone: chrono_tz::Asia::Shanghai,
            pool_size: 16,
            pool_timeout: Duration::from_millis(2000),
            body_limit: 1024 * 1024,
            token_ttl_seconds: 3600,
            reservation_ttl_seconds: 600,
            lead_response_minutes: 15,
            rate_limit_rps: 1000,
            token_rate_per_address: 20,
            trusted_proxies: Default::default(),
            webhook_allow_private: false,
            shutdown_grace: Duration::from_secs(20),
            log_format: LogFormat::Text,
            wal_archive_dir: None,
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads from any lookup so the parsing rules are testable without touching the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let bootstrap = match (non_empty("CRM_BOOTSTRAP_CLIENT_ID"), non_empty("CRM_BOOTSTRAP_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => {
                if secret.len() < 16 {
                    return Err(ConfigError {
                        var: "CRM_BOOTSTRAP_CLIENT_SECRET",
                        message: "must be at least 16 characters".into(),
                    });
                }
                Some((id, secret))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError {
                    var: "CRM_BOOTSTRAP_CLIENT_SECRET",
                    message: "must be set together with CRM_BOOTSTRAP_CLIENT_ID".into(),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    var: "CRM_BOOTSTRAP_CLIENT_ID",
                    message: "must be set together with CRM_BOOTSTRAP_CLIENT_SECRET".into(),
                })
            }
        };
        let jwt_secret = non_empty("CRM_JWT_SECRET");
        if let Some(secret) = &jwt_secret {
            if secret.len() < 32 {
                return Err(ConfigError { var: "CRM_JWT_SECRET", message: "must be at least 32 characters".into() });
            }
        }
        let bind = non_empty("CRM_BIND").unwrap_or(defaults.bind);
        if bind.parse::<std::net::SocketAddr>().is_err() && !bind.contains(':') {
            return Err(ConfigError { var: "CRM_BIND", message: format!("'{bind}' is not host:port") });
        }
        let timezone = match non_empty("CRM_TIMEZONE") {
            Some(tz) => tz.parse::<Tz>().map_err(|_| ConfigError {
                var: "CRM_TIMEZONE",
                message: format!("'{tz}' is not an IANA time zone name"),
            })?,
            None => defaults.timezone,
        };
        Ok(Config {
            database_url: non_empty("DATABASE_URL"),
            database_read_url: non_empty("DATABASE_READ_URL"),
            bind,
            data_dir: non_empty("CRM_DATA_DIR").map(PathBuf::from).unwrap_or(defaults.data_dir),
            jwt_secret,
            bootstrap_client: bootstrap,
            timezone,
            pool_size: parse_number(&non_empty, "CRM_POOL_SIZE", 1, 1000)?.unwrap_or(defaults.pool_size),
            pool_timeout: parse_number(&non_empty, "CRM_POOL_TIMEOUT_MS", 10, 60_000)?
                .map(|ms: u64| Duration::from_millis(ms))
                .unwrap_or(defaults.pool_timeout),
            body_limit: parse_number(&non_empty, "CRM_BODY_LIMIT_BYTES", 1024, 64 * 1024 * 1024)?
                .unwrap_or(defaults.body_limit),
            reservation_ttl_seconds: parse_number(&non_empty, "CRM_RESERVATION_TTL_SECONDS", 10, 86_400)?
                .unwrap_or(defaults.reservation_ttl_seconds),
            lead_response_minutes: parse_number(&non_empty, "CRM_LEAD_RESPONSE_MINUTES", 1, 10_080)?
                .unwrap_or(defaults.lead_response_minutes),
            token_ttl_seconds: parse_number(&non_empty, "CRM_TOKEN_TTL_SECONDS", 60, 86_400 * 30)?
                .unwrap_or(defaults.token_ttl_seconds),
            rate_limit_rps: parse_number(&non_empty, "CRM_RATE_LIMIT_RPS", 0, 1_000_000)?
                .unwrap_or(defaults.rate_limit_rps),
            token_rate_per_address: parse_number(&non_empty, "CRM_TOKEN_RATE_PER_ADDRESS", 0, 1_000_000)?
                .unwrap_or(defaults.token_rate_per_address),
            trusted_proxies: match non_empty("CRM_TRUSTED_PROXIES") {
                Some(list) => crate::proxies::TrustedProxies::parse(&list)
                    .map_err(|message| ConfigError { var: "CRM_TRUSTED_PROXIES", message })?,
                None => defaults.trusted_proxies,
            },
            webhook_allow_private: parse_flag(&non_empty, "CRM_WEBHOOK_ALLOW_PRIVATE")?
                .unwrap_or(defaults.webhook_allow_private),
            shutdown_grace: parse_number(&non_empty, "CRM_SHUTDOWN_GRACE_SECONDS", 0, 3600)?
                .map(Duration::from_secs)
                .unwrap_or(defaults.shutdown_grace),
            log_format: match non_empty("CRM_LOG_FORMAT") {
                Some(raw) => raw.parse().map_err(|message| ConfigError { var: "CRM_LOG_FORMAT", message })?,
                None => defaults.log_format,
            },
            wal_archive_dir: non_empty("CRM_WAL_ARCHIVE_DIR").map(|dir| wal_archive_dir(&dir)).transpose()?,
        })
    }
}

fn wal_archive_dir(raw: &str) -> Result<PathBuf, ConfigError> {
    let fail = |message: String| ConfigError { var: "CRM_WAL_ARCHIVE_DIR", message };
    // A line break would end the setting where the server reads its configuration.
    if raw.contains(['\n', '\r']) {
        return Err(fail("may not contain a line break".into()));
    }
    std::path::absolute(raw.trim()).map_err(|e| fail(format!("'{raw}': {e}")))
}

/// A switch: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`. Anything else stops start-up, so a
/// typo never leaves a safety check silently on or off.
fn parse_flag(get: &impl Fn(&str) -> Option<String>, var: &'static str) -> Result<Option<bool>, ConfigError> {
    let Some(raw) = get(var) else { return Ok(None) };
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(ConfigError { var, message: format!("'{raw}' is not one of 1, 0, true, false, yes, no, on, off") }),
    }
}

fn parse_number<T>(
    get: &impl Fn(&str) -> Option<String>, var: &'static str, min: T, max: T,
) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = get(var) else { return Ok(None) };
    match raw.trim().parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(Some(v)),
        _ => Err(ConfigError { var, message: format!("'{raw}' is not a number between {min} and {max}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(c.body_limit, 1024 * 1024);
        assert!(c.database_url.is_none());
    }

    fn failing_var(vars: &[(&str, &str)]) -> Option<&'static str> {
        config(vars).err().map(|e| e.var)
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(failing_var(&[("CRM_POOL_SIZE", "zero")]), Some("CRM_POOL_SIZE"));
        assert_eq!(failing_var(&[("CRM_POOL_SIZE", "0")]), Some("CRM_POOL_SIZE"));
        assert_eq!(failing_var(&[("CRM_TIMEZONE", "Mars/Base")]), Some("CRM_TIMEZONE"));
        assert_eq!(failing_var(&[("CRM_JWT_SECRET", "short")]), Some("CRM_JWT_SECRET"));
        assert_eq!(failing_var(&[("CRM_BOOTSTRAP_CLIENT_ID", "pos")]), Some("CRM_BOOTSTRAP_CLIENT_SECRET"));
        assert_eq!(failing_var(&[("CRM_TRUSTED_PROXIES", "10.0.0.0/8, lb")]), Some("CRM_TRUSTED_PROXIES"));
        let behind = config(&[("CRM_TRUSTED_PROXIES", "10.0.0.0/8")]).expect("a CIDR");
        assert_ne!(behind.trusted_proxies, Config::default().trusted_proxies);
        assert_eq!(failing_var(&[("CRM_WEBHOOK_ALLOW_PRIVATE", "maybe")]), Some("CRM_WEBHOOK_ALLOW_PRIVATE"));
    }

    #[test]
    fn private_webhook_receivers_are_refused_unless_switched_on() {
        let allow = |value: &str| config(&[("CRM_WEBHOOK_ALLOW_PRIVATE", value)]).map(|c| c.webhook_allow_private).ok();
        assert!(!config(&[]).expect("defaults").webhook_allow_private);
        for on in ["1", "true", "TRUE", " yes ", "on"] {
            assert_eq!(allow(on), Some(true), "{on:?}");
        }
        for off in ["0", "false", "No", "off", ""] {
            assert_eq!(allow(off), Some(false), "{off:?}");
        }
        assert_eq!(allow("2"), None);
    }

    #[test]
    fn a_stop_waits_20_seconds_unless_told_otherwise_and_at_most_an_hour() {
        let grace = |value: &str| config(&[("CRM_SHUTDOWN_GRACE_SECONDS", value)]).map(|c| c.shutdown_grace).ok();
        assert_eq!(config(&[]).expect("defaults").shutdown_grace, Duration::from_secs(20));
        assert_eq!(grace("0"), Some(Duration::ZERO));
        assert_eq!(grace("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(grace("3601"), None);
        assert_eq!(grace("-1"), None);
    }

    #[test]
    fn logs_are_text_unless_json_is_asked_for() {
        let format = |value: &str| config(&[("CRM_LOG_FORMAT", value)]).map(|c| c.log_format);
        assert_eq!(config(&[]).expect("defaults").log_format, LogFormat::Text);
        assert_eq!(format("json").ok(), Some(LogFormat::Json));
        assert_eq!(format(" JSON ").ok(), Some(LogFormat::Json));
        assert_eq!(format("text").ok(), Some(LogFormat::Text));
        assert_eq!(format("").ok(), Some(LogFormat::Text));
        assert_eq!(failing_var(&[("CRM_LOG_FORMAT", "logfmt")]), Some("CRM_LOG_FORMAT"));
    }

    #[test]
    fn the_wal_archive_is_off_unless_named_and_then_absolute() {
        assert_eq!(config(&[]).expect("defaults").wal_archive_dir, None);
        assert_eq!(config(&[("CRM_WAL_ARCHIVE_DIR", " ")]).expect("blank").wal_archive_dir, None);
        let named = config(&[("CRM_WAL_ARCHIVE_DIR", "/backups/wal")]).expect("a directory");
        assert_eq!(named.wal_archive_dir, Some(PathBuf::from("/backups/wal")));
        let relative = config(&[("CRM_WAL_ARCHIVE_DIR", "wal")]).expect("a relative directory");
        let dir = relative.wal_archive_dir.expect("set");
        assert!(dir.is_absolute() && dir.ends_with("wal"), "{}", dir.display());
        assert_eq!(failing_var(&[("CRM_WAL_ARCHIVE_DIR", "/a\nb")]), Some("CRM_WAL_ARCHIVE_DIR"));
    }
}
