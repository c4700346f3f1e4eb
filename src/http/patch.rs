//! PATCH bodies: tell "field absent" (keep) from "field null" (clear).

use serde::{Deserialize, Deserializer};

/// Trims a PATCH text field; blank becomes `null` (clear), absent stays absent (keep).
pub fn trimmed(value: Option<Option<String>>) -> Option<Option<String>> {
    value.map(|v| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

/// Use with `#[serde(default, deserialize_with = "double_option")]` on an `Option<Option<T>>`.
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
