//! Stores (门店) and online shops.

pub mod api;
pub mod store;

pub use api::configure;

crate::vocabulary! {
    /// What a store is: a shop with a till, or a shop online.
    #[schema(example = "store")]
    pub enum StoreKind { Store = "store", Online = "online" }
}

crate::vocabulary! {
    /// Where a sale, a customer or a lead came from: a till, a platform, a mini-program, a call.
    #[schema(example = "pos")]
    pub enum SalesChannel {
        Pos = "pos", Tmall = "tmall", Jd = "jd", Pinduoduo = "pinduoduo", Douyin = "douyin",
        WechatMiniProgram = "wechat_mini_program", WechatOfficialAccount = "wechat_official_account", App = "app",
        Web = "web", Phone = "phone", StoreStaff = "store_staff", Import = "import",
    }
}

/// What a request naming an unknown channel is told.
pub const UNKNOWN_CHANNEL: &str = "is not a known channel";

impl SalesChannel {
    /// The 422 for a channel that is not one of these (once `Violations::known` has said so).
    pub fn unknown(field: &str) -> crate::error::ApiError {
        crate::error::ApiError::invalid(field, UNKNOWN_CHANNEL)
    }

    /// Sold face to face: at a store's till or by its staff.
    pub fn in_store(self) -> bool {
        matches!(self, SalesChannel::Pos | SalesChannel::StoreStaff)
    }

    /// A marketplace that numbers its own orders (the connectors' channels).
    pub fn marketplace(self) -> bool {
        matches!(self, SalesChannel::Tmall | SalesChannel::Jd | SalesChannel::Douyin)
    }
}
