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

impl SalesChannel {
    /// Sold face to face: at a store's till or by its staff.
    pub fn in_store(self) -> bool {
        matches!(self, SalesChannel::Pos | SalesChannel::StoreStaff)
    }

    /// A marketplace that numbers its own orders (the connectors' channels).
    pub fn marketplace(self) -> bool {
        matches!(self, SalesChannel::Tmall | SalesChannel::Jd | SalesChannel::Douyin)
    }
}
