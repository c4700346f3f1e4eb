//! Stores (门店) and online shops.

pub mod api;
pub mod store;

pub use api::configure;

crate::vocabulary! {
    /// What a store is: a shop with a till, or a shop online.
    #[schema(example = "store")]
    pub enum StoreKind { Store = "store", Online = "online" }
}

pub const CHANNELS: &[&str] = &[
    "pos",
    "tmall",
    "jd",
    "pinduoduo",
    "douyin",
    "wechat_mini_program",
    "wechat_official_account",
    "app",
    "web",
    "phone",
    "store_staff",
    "import",
];
