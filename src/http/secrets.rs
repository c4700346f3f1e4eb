//! Generated credentials and argon2 hashing.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;

use crate::error::{ApiError, ApiResult};

pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn new_client_id() -> String {
    let mut buf = [0u8; 10];
    OsRng.fill_bytes(&mut buf);
    format!("cli_{}", buf.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

pub fn new_client_secret() -> String {
    format!("sk_{}", random_token(32))
}

pub fn hash_secret(secret: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(secret.as_bytes(), &salt).map(|h| h.to_string()).map_err(ApiError::internal)
}

/// Verifies a secret on the blocking pool, never holding a database connection, and at most two
/// at a time: a burst of bad logins costs a bounded share of the CPU, not the tills' requests.
pub async fn verify_secret_off_pool(secret: String, hash: Option<String>) -> ApiResult<bool> {
    static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let _permit = HASHING.acquire().await.map_err(ApiError::internal)?;
    actix_web::web::block(move || verify_secret(&secret, hash.as_deref())).await.map_err(ApiError::internal)
}

/// Verifies against `hash`, or against a fixed dummy when there is none, so an unknown client id
/// costs the same time as a wrong secret.
pub fn verify_secret(secret: &str, hash: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_secret("no-such-client").unwrap_or_default());
    let parsed = match PasswordHash::new(hash.unwrap_or(dummy)) {
        Ok(p) => p,
        Err(_) => return false,
    };
    Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok() && hash.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hash_and_verify() {
        let secret = new_client_secret();
        assert!(secret.starts_with("sk_") && secret.len() > 40);
        let hash = hash_secret(&secret).expect("hash");
        assert!(verify_secret(&secret, Some(&hash)));
        assert!(!verify_secret("wrong", Some(&hash)));
        assert!(!verify_secret(&secret, None));
        assert_ne!(new_client_id(), new_client_id());
    }
}
