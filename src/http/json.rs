//! The JSON body extractor every handler uses: a JSON object, or 400.
//!
//! serde would also build a struct from a JSON array (fields by position); no endpoint means that,
//! so anything but an object is rejected before the fields are read.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

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
pub fn from_object<T: DeserializeOwned>(mut value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::bad_request("invalid_body", "the request body must be a JSON object"));
    }
    integral_floats_as_integers(&mut value);
    serde_json::from_value(value).map_err(|e| super::body_error(&e.to_string()))
}

/// JSON (and the JSON Schema the document publishes) has one number type: `210.0` and `2.1e2` are the
/// integer 210, and some generated clients write integers that way. serde reads a float into an
/// integer field as a type error, so whole floats become integers before the fields are read.
/// Fractions stay floats (and are refused by integer fields); decimal fields read either form.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(whole) = n.as_f64().and_then(exact_integer) {
                *value = Value::from(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// The i64 a float stands for exactly, if it is a whole number within range.
fn exact_integer(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; anything at or past it does not fit an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        rps: i32,
        rows: Vec<Row>,
    }
    #[derive(Deserialize, Debug)]
    struct Row {
        quantity: u16,
    }

    #[test]
    fn whole_floats_are_integers_anywhere_in_the_body() {
        let body: Body = from_object(serde_json::json!({"rps": 210.0, "rows": [{"quantity": 2e0}]})).expect("integers");
        assert_eq!((body.rps, body.rows[0].quantity), (210, 2));
    }

    #[test]
    fn fractions_and_out_of_range_numbers_stay_refused() {
        assert!(from_object::<Body>(serde_json::json!({"rps": 210.5, "rows": []})).is_err());
        assert!(from_object::<Body>(serde_json::json!({"rps": 1e300, "rows": []})).is_err());
        assert!(from_object::<Body>(serde_json::json!({"rps": 3e9, "rows": []})).is_err());
        assert_eq!(exact_integer(-9_223_372_036_854_775_808.0), Some(i64::MIN));
        assert_eq!(exact_integer(9_223_372_036_854_775_808.0), None);
        assert_eq!(exact_integer(f64::NAN), None);
    }
}
