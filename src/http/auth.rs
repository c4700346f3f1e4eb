//! Bearer JWTs (HS256), scopes, and the extractor that enforces an endpoint's scope.

use std::collections::HashSet;
use std::future::{ready, Ready};
use std::marker::PhantomData;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use super::middleware::RequestId;
use crate::AppState;

pub const ALL_SCOPES: &[&str] = &[
    "customers:read",
    "customers:write",
    "customers:pii",
    "loyalty:read",
    "loyalty:write",
    "coupons:read",
    "coupons:write",
    "coupons:redeem",
    "orders:write",
    "campaigns:read",
    "campaigns:write",
    "leads:read",
    "leads:write",
    "tickets:read",
    "tickets:write",
    "analytics:read",
    "admin",
];

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
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_seconds: i64) -> Self {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl_seconds,
        }
    }

    pub fn issue(&self, sub: &str, scopes: &[String], store_id: Option<Uuid>) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
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

    /// Only HS256 with our key and a future `exp` passes; `alg: none` and other algorithms fail here.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| ApiError::Unauthorized(format!("invalid token: {e}")))
    }
}

/// Who is calling, with what rights, and for which store (if bound to one).
#[derive(Clone, Debug)]
pub struct Principal {
    pub sub: String,
    pub scopes: Vec<String>,
    pub store_id: Option<Uuid>,
    pub request_id: String,
}

impl Principal {
    /// `admin` implies every scope.
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == "admin")
    }

    /// A store-bound principal may only act for its own store.
    pub fn may_act_for_store(&self, store_id: Option<Uuid>) -> bool {
        match self.store_id {
            None => true,
            Some(own) => store_id == Some(own),
        }
    }
}

/// Subjects whose tokens stop working at once: revoked clients, deactivated staff.
/// Refreshed from the database every second (other instances' revocations) and updated
/// in-process the moment this instance revokes.
#[derive(Default)]
pub struct RevocationList {
    inner: RwLock<Revoked>,
}

/// The revoked subjects, and this instance's recent revocations with when they happened.
type Revoked = (HashSet<String>, Vec<(String, Instant)>);

impl RevocationList {
    pub fn is_revoked(&self, sub: &str) -> bool {
        self.inner.read().map(|g| g.0.contains(sub)).unwrap_or(true)
    }
    pub fn revoke(&self, sub: String) {
        if let Ok(mut g) = self.inner.write() {
            g.0.insert(sub.clone());
            g.1.push((sub, Instant::now()));
        }
    }
    pub fn reinstate(&self, sub: &str) {
        if let Ok(mut g) = self.inner.write() {
            g.0.remove(sub);
            g.1.retain(|(s, _)| s != sub);
        }
    }
    /// Replaces the set with the database's view, keeping very recent local revocations that a
    /// concurrent refresh may not have seen yet.
    pub fn replace(&self, from_db: HashSet<String>) {
        if let Ok(mut g) = self.inner.write() {
            let cutoff = Duration::from_secs(10);
            g.1.retain(|(_, at)| at.elapsed() < cutoff);
            let mut set = from_db;
            set.extend(g.1.iter().map(|(s, _)| s.clone()));
            g.0 = set;
        }
    }
}

/// A scope an endpoint requires; implemented by the marker types below.
pub trait Scope {
    const NAME: Option<&'static str>;
}

macro_rules! scopes {
    ($($ty:ident => $name:literal),* $(,)?) => {
        $(
            pub struct $ty;
            impl Scope for $ty {
                const NAME: Option<&'static str> = Some($name);
            }
        )*
    };
}

scopes! {
    CustomersRead => "customers:read",
    CustomersWrite => "customers:write",
    CustomersPii => "customers:pii",
    LoyaltyRead => "loyalty:read",
    LoyaltyWrite => "loyalty:write",
    OrdersWrite => "orders:write",
    CouponsRead => "coupons:read",
    CouponsWrite => "coupons:write",
    CouponsRedeem => "coupons:redeem",
    LeadsRead => "leads:read",
    LeadsWrite => "leads:write",
    TicketsRead => "tickets:read",
    TicketsWrite => "tickets:write",
    Admin => "admin",
}

/// Any valid token, whatever its scopes.
pub struct AnyScope;
impl Scope for AnyScope {
    const NAME: Option<&'static str> = None;
}

/// Extracts and authorizes the caller: 401 without a valid token, 403 without the scope `S`.
pub struct Auth<S: Scope> {
    pub principal: Principal,
    _scope: PhantomData<S>,
}

impl<S: Scope> std::ops::Deref for Auth<S> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

pub fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::internal("application state missing"))?;
    let token = bearer_token(req).ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))?;
    let claims = state.tokens.verify(token)?;
    if state.revocations.is_revoked(&claims.sub) {
        return Err(ApiError::Unauthorized("the token's client or staff member has been revoked".into()));
    }
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    Ok(Principal {
        sub: claims.sub,
        scopes: claims.scope.split_whitespace().map(str::to_string).collect(),
        store_id: claims.store_id,
        request_id,
    })
}

impl<S: Scope> FromRequest for Auth<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|principal| {
            if let Some(scope) = S::NAME {
                if !principal.has(scope) {
                    return Err(ApiError::forbidden(format!("this operation needs the scope '{scope}'")));
                }
            }
            Ok(Auth { principal, _scope: PhantomData })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", 3600)
    }

    #[test]
    fn issued_tokens_verify_and_carry_scopes() {
        let k = keys();
        let store = Uuid::now_v7();
        let token = k.issue("client:x", &["customers:read".into(), "admin".into()], Some(store)).expect("issue");
        let claims = k.verify(&token).expect("verify");
        assert_eq!(claims.sub, "client:x");
        assert_eq!(claims.scope, "customers:read admin");
        assert_eq!(claims.store_id, Some(store));
        assert_eq!(claims.exp - claims.iat, 3600);
    }

    #[test]
    fn foreign_key_and_alg_none_and_expired_are_rejected() {
        let k = keys();
        let other = TokenKeys::new(b"another-secret-another-secret-xx", 3600);
        let token = other.issue("client:x", &[], None).expect("issue");
        assert!(k.verify(&token).is_err());

        // alg: none, unsigned
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let exp = Utc::now().timestamp() + 600;
        let payload = b64.encode(format!(r#"{{"sub":"client:x","scope":"admin","iat":0,"exp":{exp},"jti":"j"}}"#));
        assert!(k.verify(&format!("{header}.{payload}.")).is_err());

        let expired = TokenKeys::new(b"0123456789abcdef0123456789abcdef", -120);
        let token = expired.issue("client:x", &[], None).expect("issue");
        assert!(k.verify(&token).is_err());
    }

    #[test]
    fn admin_implies_every_scope_and_store_binding_limits() {
        let p = Principal { sub: "s".into(), scopes: vec!["admin".into()], store_id: None, request_id: String::new() };
        assert!(p.has("customers:pii"));
        let store = Uuid::now_v7();
        let bound = Principal { scopes: vec!["customers:read".into()], store_id: Some(store), ..p };
        assert!(!bound.has("customers:write"));
        assert!(bound.may_act_for_store(Some(store)));
        assert!(!bound.may_act_for_store(Some(Uuid::now_v7())));
        assert!(!bound.may_act_for_store(None));
    }
}
