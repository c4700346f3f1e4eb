//! Typed ids for what a sale, a refund or a merge passes several of at once: an order's id, its
//! customer's and its store's are all UUIDs, and a swapped pair would compile as plain `Uuid`s.
//! Each is its UUID in SQL, JSON and the OpenAPI document.

macro_rules! typed_id {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            diesel_derive_newtype::DieselNewType, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            pub fn uuid(self) -> uuid::Uuid {
                self.0
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                $name(id)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl PartialEq<uuid::Uuid> for $name {
            fn eq(&self, other: &uuid::Uuid) -> bool {
                self.0 == *other
            }
        }
    )+};
}

typed_id! {
    /// A customer profile's id.
    CustomerId,
    /// An order's id.
    OrderId,
    /// A store's (or online shop's) id.
    StoreId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_id_is_its_uuid_in_json_and_text() {
        let raw = uuid::Uuid::from_u128(42);
        let id = OrderId(raw);
        assert_eq!(serde_json::to_value(id).ok(), serde_json::to_value(raw).ok());
        assert_eq!(serde_json::from_value::<OrderId>(serde_json::json!(raw.to_string())).ok(), Some(id));
        assert_eq!(id.to_string(), raw.to_string());
        assert!(id == raw && uuid::Uuid::from(id) == raw && id.uuid() == raw);
        assert!(serde_json::from_value::<CustomerId>(serde_json::json!("not-a-uuid")).is_err());
    }
}
