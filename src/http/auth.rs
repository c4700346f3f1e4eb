//! Scopes, principals and their store scope, and the extractor that enforces an endpoint's scope
//! (the tokens themselves are `crate::tokens`').

use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpMessage, HttpRequest};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::http::RequestId;
use crate::state::AppState;
use crate::tokens::invalid_token;
pub use crate::tokens::{Claims, Revocation, RevocationList, TokenKeys};

pub const ALL_SCOPES: &[&str] = &[
    "customers:read",
    "customers:write",
    "customers:pii",
    "loyalty:read",
    "loyalty:write",
    "coupons:read",
    "coupons:write",
    "coupons:redeem",
    "orders:read",
    "orders:write",
    "campaigns:read",
    "campaigns:write",
    "leads:read",
    "leads:write",
    "tickets:read",
    "tickets:write",
    "analytics:read",
    "events:read",
    "webhooks:write",
    "staff:read",
    "admin",
];

/// What a token request found for the identity it names: the hash to check the secret against
/// (none: unknown) and, when the identity may have a token at all, its subject, scopes and store.
pub struct LoginCandidate {
    pub hash: Option<String>,
    pub grant: Option<(String, Vec<String>, Option<Uuid>)>,
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

    /// 403 `forbidden` unless the principal also holds `scope` (for acts that need two scopes; the
    /// `Auth` extractor proves one).
    pub fn require_scope(&self, scope: &str) -> ApiResult<()> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("this operation needs the scope '{scope}'")))
        }
    }

    /// For whom this principal acts: every store, or one (SPEC §3.1).
    pub fn store_scope(&self) -> StoreScope {
        match self.store_id {
            None => StoreScope::Chain,
            Some(own) => StoreScope::Store(own),
        }
    }

    /// Chain-wide-only acts (merge, erase, templates, rules, the feed...): 403 `store_bound_principal`.
    pub fn require_chain_wide(&self) -> ApiResult<()> {
        match self.store_id {
            None => Ok(()),
            Some(_) => Err(ApiError::store_bound("this operation needs a chain-wide principal (not bound to a store)")),
        }
    }

    /// The store an act is for: a store-bound principal acts for its own store (the default) and
    /// never names another (403 `store_bound_principal`); a chain-wide one names any, or none.
    pub fn acting_store(&self, asked: Option<Uuid>) -> ApiResult<Option<Uuid>> {
        match (self.store_id, asked) {
            (Some(own), Some(asked)) if own != asked => {
                Err(ApiError::store_bound("a store-bound principal acts for its own store only"))
            }
            (Some(own), _) => Ok(Some(own)),
            (None, asked) => Ok(asked),
        }
    }
}

/// Which stores' objects a principal may see and act on. Queries take it and filter in SQL
/// (`only()`), so another store's object is simply not found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreScope {
    /// A chain-wide principal: every store, and the chain's own (store-less) objects.
    Chain,
    /// A store-bound principal: this store's objects only.
    Store(Uuid),
}

impl StoreScope {
    /// The records an object held by `store` may refer to: a store's ticket or lead names only that
    /// store's orders and staff; a chain object (no store) any.
    pub fn of_holder(store: Option<Uuid>) -> StoreScope {
        store.map_or(StoreScope::Chain, StoreScope::Store)
    }

    /// The store to filter by, or `None` for every store.
    pub fn only(self) -> Option<Uuid> {
        match self {
            StoreScope::Chain => None,
            StoreScope::Store(s) => Some(s),
        }
    }

    /// Whether an object held by `store` (none: a chain-level object) is within this scope.
    pub fn covers(self, store: Option<Uuid>) -> bool {
        match self {
            StoreScope::Chain => true,
            StoreScope::Store(own) => store == Some(own),
        }
    }

    /// The home store a customer write may set (SPEC §3.1): a store-bound principal files the
    /// customers it creates under its own store and never moves one (not into its own list, not
    /// to a third store); only a chain-wide principal sets any store. `current` is the customer's
    /// home store, `None` for a customer being created; `asked` the change (`None`: untouched).
    pub fn home_store(
        self, current: Option<Option<Uuid>>, asked: Option<Option<Uuid>>,
    ) -> ApiResult<Option<Option<Uuid>>> {
        let StoreScope::Store(own) = self else { return Ok(asked) };
        match (current, asked) {
            (None, None | Some(None)) => Ok(Some(Some(own))),
            (None, Some(Some(store))) if store == own => Ok(asked),
            (Some(_), None) => Ok(None),
            (Some(home), Some(store)) if home == store => Ok(None),
            _ => Err(ApiError::store_bound("only a chain-wide principal sets or moves a customer's home store")),
        }
    }

    /// `Ok(object)` when within the scope, else the `not_found` error a missing object gets.
    pub fn admit<T>(self, object: T, store: impl FnOnce(&T) -> Option<Uuid>, not_found: ApiError) -> ApiResult<T> {
        if self.covers(store(&object)) {
            Ok(object)
        } else {
            Err(not_found)
        }
    }
}

/// A scope an endpoint requires; implemented by the marker types below.
pub trait Scope {
    const NAME: Option<&'static str>;
    /// Whether only a chain-wide principal may act (SPEC §3.1).
    const CHAIN_WIDE: bool = false;
}

/// The scope `S`, held by a chain-wide principal: the extractor answers a store-bound one with 403
/// `store_bound_principal`, so a chain-only act says so in its signature and the handler never checks.
pub struct ChainWide<S>(PhantomData<S>);

impl<S: Scope> Scope for ChainWide<S> {
    const NAME: Option<&'static str> = S::NAME;
    const CHAIN_WIDE: bool = true;
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
    OrdersRead => "orders:read",
    OrdersWrite => "orders:write",
    CouponsRead => "coupons:read",
    CouponsWrite => "coupons:write",
    CouponsRedeem => "coupons:redeem",
    LeadsRead => "leads:read",
    LeadsWrite => "leads:write",
    TicketsRead => "tickets:read",
    TicketsWrite => "tickets:write",
    CampaignsRead => "campaigns:read",
    CampaignsWrite => "campaigns:write",
    EventsRead => "events:read",
    WebhooksWrite => "webhooks:write",
    StaffRead => "staff:read",
    AnalyticsRead => "analytics:read",
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

/// The caller behind the request's bearer token: 401 when missing, invalid, expired or revoked,
/// 429 when over its rate limit. Decided once per request (the idempotency layer and the handler
/// share the result).
pub fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    if let Some(known) = req.extensions().get::<Principal>() {
        return Ok(known.clone());
    }
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::internal("application state missing"))?;
    let token = bearer_token(req).ok_or_else(invalid_token)?;
    let claims = state.tokens.verify(token)?;
    if state.revocations.rejects(&claims.sub, claims.iat) {
        return Err(invalid_token());
    }
    state.limits.admit_request(&claims.sub)?;
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let principal = Principal {
        sub: claims.sub,
        scopes: claims.scope.split_whitespace().map(str::to_string).collect(),
        store_id: claims.store_id,
        request_id,
    };
    req.extensions_mut().insert(principal.clone());
    Ok(principal)
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
            if S::CHAIN_WIDE {
                principal.require_chain_wide()?;
            }
            Ok(Auth { principal, _scope: PhantomData })
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::clock::Clock;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", 3600, Clock::default())
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
        let other = TokenKeys::new(b"another-secret-another-secret-xx", 3600, Clock::default());
        let token = other.issue("client:x", &[], None).expect("issue");
        assert!(k.verify(&token).is_err());

        // alg: none, unsigned
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let exp = Clock::default().now().timestamp() + 600;
        let payload = b64.encode(format!(r#"{{"sub":"client:x","scope":"admin","iat":0,"exp":{exp},"jti":"j"}}"#));
        assert!(k.verify(&format!("{header}.{payload}.")).is_err());

        let expired = TokenKeys::new(b"0123456789abcdef0123456789abcdef", -120, Clock::default());
        let token = expired.issue("client:x", &[], None).expect("issue");
        let err = k.verify(&token).expect_err("expired");
        assert_eq!(err.to_string(), "the bearer token is missing, invalid or expired");

        // Expiry follows the app's clock.
        let clock = Clock::default();
        clock.set(chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000));
        let k = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 60, clock.clone());
        let token = k.issue("client:x", &[], None).expect("issue");
        assert!(k.verify(&token).is_ok());
        clock.advance(chrono::Duration::seconds(64));
        assert!(k.verify(&token).is_ok(), "within the leeway");
        clock.advance(chrono::Duration::seconds(2));
        assert!(k.verify(&token).is_err());
    }

    #[test]
    fn admin_implies_every_scope_and_store_binding_limits() {
        let p = Principal { sub: "s".into(), scopes: vec!["admin".into()], store_id: None, request_id: String::new() };
        assert!(p.has("customers:pii"));
        let store = Uuid::now_v7();
        let bound = Principal { scopes: vec!["customers:read".into()], store_id: Some(store), ..p };
        assert!(!bound.has("customers:write"));
        assert_eq!(bound.store_scope(), StoreScope::Store(store));
        assert!(bound.store_scope().covers(Some(store)));
        assert!(!bound.store_scope().covers(Some(Uuid::now_v7())));
        assert!(!bound.store_scope().covers(None), "a chain-level object is not a store's");
        assert_eq!(bound.require_chain_wide().expect_err("bound").code(), "store_bound_principal");
        assert_eq!(bound.acting_store(None).ok(), Some(Some(store)));
        assert_eq!(bound.acting_store(Some(store)).ok(), Some(Some(store)));
        assert_eq!(bound.acting_store(Some(Uuid::now_v7())).expect_err("other").code(), "store_bound_principal");
        let chain = Principal { store_id: None, ..bound };
        assert!(chain.require_chain_wide().is_ok());
        assert!(chain.store_scope().covers(None) && chain.store_scope().covers(Some(store)));
        assert_eq!(chain.acting_store(None).ok(), Some(None));
    }

    #[test]
    fn only_a_chain_wide_principal_sets_or_moves_a_home_store() {
        let (own, other) = (Uuid::now_v7(), Uuid::now_v7());
        let till = StoreScope::Store(own);
        // Creating: the till's own store, by default or by name; another store is refused.
        assert_eq!(till.home_store(None, None).ok(), Some(Some(Some(own))));
        assert_eq!(till.home_store(None, Some(None)).ok(), Some(Some(Some(own))));
        assert_eq!(till.home_store(None, Some(Some(own))).ok(), Some(Some(Some(own))));
        assert!(till.home_store(None, Some(Some(other))).is_err());
        // Changing: untouched or unchanged passes; pulling in, pushing out or clearing does not.
        assert_eq!(till.home_store(Some(Some(other)), None).ok(), Some(None));
        assert_eq!(till.home_store(Some(Some(other)), Some(Some(other))).ok(), Some(None));
        for (home, asked) in [(Some(other), Some(own)), (Some(own), Some(other)), (Some(own), None), (None, Some(own))]
        {
            let refused = till.home_store(Some(home), Some(asked)).expect_err("a move");
            assert_eq!(refused.code(), "store_bound_principal", "{home:?} -> {asked:?}");
        }
        for (current, asked) in [(None, Some(Some(other))), (Some(Some(own)), Some(Some(other))), (Some(None), None)] {
            assert_eq!(StoreScope::Chain.home_store(current, asked).ok(), Some(asked));
        }
    }

    #[test]
    fn revocations_cut_all_tokens_or_those_issued_before_a_change() {
        let list = RevocationList::default();
        list.revoke("client:a".into(), Revocation::All);
        list.revoke("staff:b".into(), Revocation::IssuedBefore(1_000));
        assert!(list.rejects("client:a", i64::MAX));
        assert!(list.rejects("staff:b", 999));
        assert!(!list.rejects("staff:b", 1_000), "a token issued after the change works");
        assert!(!list.rejects("staff:c", 0));
        list.replace(HashMap::new());
        assert!(list.rejects("client:a", 0), "a fresh local revocation survives a refresh that missed it");
    }
}
