//! The JSON body extractor every handler uses: a JSON object, or 400.
//!
//! serde would also build a struct from a JSON array (fields by position); no endpoint means that,
//! so anything but an object is rejected before the fields are read.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Size limit, content type and syntax are checked by actix's extractor and its JsonConfig.
        let value = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move { Ok(Json(from_object(value.await?.into_inner())?)) })
    }
}

/// A request body's value as `T`, or the 400 a body of that shape gets. Bulk calls read each row
/// with it, so a row is refused exactly as the same body sent alone would be.
pub fn from_object<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::bad_request("invalid_body", "the request body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| super::body_error(&e.to_string()))
}
