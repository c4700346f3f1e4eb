//! Bearer JWTs (HS256): issuing and verifying them, and the subjects whose tokens are revoked.
//! Below `AppState`, which holds them; `http::auth` reads them through it.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::ApiError;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<Uuid>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl_seconds: i64,
    /// Issue and expiry times come from the app's clock, so a test that moves it sees tokens expire.
    clock: Clock,
}

/// Seconds of clock skew tolerated on `exp`.
const EXPIRY_LEEWAY_SECONDS: i64 = 5;

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_seconds: i64, clock: Clock) -> Self {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl_seconds,
            clock,
        }
    }

    pub fn issue(&self, sub: &str, scopes: &[String], store_id: Option<Uuid>) -> Result<String, ApiError> {
        let now = self.clock.now().timestamp();
        let claims = Claims {
            sub: sub.to_string(),
            scope: scopes.join(" "),
            store_id,
            iat: now,
            exp: now + self.ttl_seconds,
            jti: Uuid::now_v7().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// Only HS256 with our key and a future `exp` (by the app's clock) passes; `alg: none` and other
    /// algorithms fail here. The 401 never says why: the library's reason helps only an attacker.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| invalid_token())?;
        if claims.exp + EXPIRY_LEEWAY_SECONDS < self.clock.now().timestamp() {
            return Err(invalid_token());
        }
        Ok(claims)
    }
}

pub(crate) fn invalid_token() -> ApiError {
    ApiError::Unauthorized("the bearer token is missing, invalid or expired".into())
}

/// How a subject's tokens are cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Every token (a revoked client, a deactivated staff member).
    All,
    /// Tokens issued before this Unix second (a staff member whose roles or store changed).
    IssuedBefore(i64),
}

impl Revocation {
    fn rejects(self, issued_at: i64) -> bool {
        match self {
            Revocation::All => true,
            Revocation::IssuedBefore(t) => issued_at < t,
        }
    }
}

/// Subjects whose tokens stop working at once: revoked clients, deactivated staff, and the tokens
/// staff held before a change to their roles or store. Refreshed from the database every second
/// (other instances' changes) and updated in-process the moment this instance changes one.
#[derive(Default)]
pub struct RevocationList {
    inner: RwLock<Revoked>,
}

/// The revoked subjects, and this instance's recent revocations with when they happened.
type Revoked = (HashMap<String, Revocation>, Vec<(String, Revocation, Instant)>);

impl RevocationList {
    pub fn rejects(&self, sub: &str, issued_at: i64) -> bool {
        self.inner.read().map(|g| g.0.get(sub).is_some_and(|r| r.rejects(issued_at))).unwrap_or(true)
    }
    pub fn revoke(&self, sub: String, how: Revocation) {
        if let Ok(mut g) = self.inner.write() {
            g.0.insert(sub.clone(), how);
            g.1.push((sub, how, Instant::now()));
        }
    }
    /// Replaces the set with the database's view, keeping very recent local revocations that a
    /// concurrent refresh may not have seen yet.
    pub fn replace(&self, from_db: HashMap<String, Revocation>) {
        if let Ok(mut g) = self.inner.write() {
            let cutoff = Duration::from_secs(10);
            g.1.retain(|(_, _, at)| at.elapsed() < cutoff);
            let mut map = from_db;
            for (sub, how, _) in &g.1 {
                map.entry(sub.clone()).or_insert(*how);
            }
            g.0 = map;
        }
    }
}
