//! Stores (门店) and online shops.

pub mod api;
pub mod store;

pub use api::configure;

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
