//! The demo chain's fixed facts: its stores and online shops, staff, products, names and the
//! marketing set-up. A fashion chain as the seeds describe one (女装 / 男装 / 童装, stores in the
//! big cities, Tmall / JD / Douyin shops and a WeChat mini-program); nothing here is random.

use crate::stores::SalesChannel;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::staff::rules::StaffRole;
use crate::tickets::model::TicketType;

/// A store or an online shop. `online` names the channel its orders come from.
pub struct StoreSpec {
    pub code: &'static str,
    pub name: &'static str,
    pub city: Option<&'static str>,
    pub district: Option<&'static str>,
    pub online: Option<SalesChannel>,
    /// A physical store's share of the chain's store customers; for every store and shop, what
    /// scales its daily sales target.
    pub weight: u32,
}

const fn store(
    code: &'static str, name: &'static str, city: &'static str, district: &'static str, weight: u32,
) -> StoreSpec {
    StoreSpec { code, name, city: Some(city), district: Some(district), online: None, weight }
}

const fn shop(code: &'static str, name: &'static str, channel: SalesChannel, weight: u32) -> StoreSpec {
    StoreSpec { code, name, city: None, district: None, online: Some(channel), weight }
}

pub const STORES: &[StoreSpec] = &[
    store("BJ-CY-01", "北京朝阳大悦城店", "北京", "朝阳区", 14),
    store("BJ-HD-01", "北京海淀中关村店", "北京", "海淀区", 10),
    store("SH-JA-01", "上海静安嘉里中心店", "上海", "静安区", 13),
    store("SH-PD-01", "上海浦东正大广场店", "上海", "浦东新区", 11),
    store("GZ-TH-01", "广州天河正佳广场店", "广州", "天河区", 10),
    store("SZ-NS-01", "深圳南山万象天地店", "深圳", "南山区", 10),
    store("HZ-SC-01", "杭州湖滨银泰店", "杭州", "上城区", 9),
    store("CD-JJ-01", "成都锦江IFS店", "成都", "锦江区", 9),
    store("WH-JH-01", "武汉江汉武商广场店", "武汉", "江汉区", 7),
    store("NJ-XW-01", "南京新街口德基店", "南京", "玄武区", 7),
    shop("TM-FLAGSHIP", "天猫官方旗舰店", SalesChannel::Tmall, 45),
    shop("JD-FLAGSHIP", "京东自营旗舰店", SalesChannel::Jd, 25),
    shop("DY-LIVE", "抖音官方旗舰店", SalesChannel::Douyin, 13),
    shop("WX-MALL", "微信小程序商城", SalesChannel::WechatMiniProgram, 40),
];

/// Districts people live in, per city (the store's own first). Cities without a store send
/// online orders and leads nobody in a store is assigned.
pub const CITIES: &[(&str, &[&str])] = &[
    ("北京", &["朝阳区", "海淀区", "东城区", "西城区", "丰台区"]),
    ("上海", &["静安区", "浦东新区", "徐汇区", "黄浦区", "闵行区"]),
    ("广州", &["天河区", "越秀区", "海珠区"]),
    ("深圳", &["南山区", "福田区", "宝安区"]),
    ("杭州", &["上城区", "西湖区", "拱墅区"]),
    ("成都", &["锦江区", "武侯区", "高新区"]),
    ("武汉", &["江汉区", "武昌区", "洪山区"]),
    ("南京", &["玄武区", "鼓楼区", "建邺区"]),
    ("西安", &["雁塔区", "碑林区"]),
    ("重庆", &["渝中区", "江北区"]),
    ("苏州", &["姑苏区", "工业园区"]),
];

pub const STREETS: &[&str] =
    &["建国路", "人民路", "中山路", "解放路", "长江路", "南京路", "文化路", "新华路", "和平路", "青年路"];

pub const CATEGORIES: &[&str] = &["女装", "男装", "童装", "鞋靴", "箱包配饰"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Season {
    AllYear,
    Summer,
    Winter,
}

pub struct Sku {
    pub sku: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    /// CNY, whole yuan.
    pub price: i64,
    pub season: Season,
}

const fn sku(sku: &'static str, name: &'static str, category: &'static str, price: i64, season: Season) -> Sku {
    Sku { sku, name, category, price, season }
}

pub const SKUS: &[Sku] = &[
    sku("W-DRESS-001", "碎花连衣裙", "女装", 299, Season::Summer),
    sku("W-DRESS-002", "针织连衣裙", "女装", 399, Season::Summer),
    sku("W-TEE-001", "纯棉T恤", "女装", 99, Season::Summer),
    sku("W-KNIT-001", "羊毛针织衫", "女装", 459, Season::Winter),
    sku("W-COAT-001", "双面呢大衣", "女装", 1299, Season::Winter),
    sku("W-DOWN-001", "轻薄羽绒服", "女装", 799, Season::Winter),
    sku("W-JEANS-001", "高腰牛仔裤", "女装", 259, Season::AllYear),
    sku("M-SHIRT-001", "商务衬衫", "男装", 259, Season::AllYear),
    sku("M-POLO-001", "POLO衫", "男装", 199, Season::Summer),
    sku("M-JACKET-001", "休闲夹克", "男装", 599, Season::Winter),
    sku("M-DOWN-001", "连帽羽绒服", "男装", 999, Season::Winter),
    sku("M-PANTS-001", "休闲裤", "男装", 299, Season::AllYear),
    sku("K-SET-001", "儿童套装", "童装", 159, Season::AllYear),
    sku("K-DRESS-001", "女童连衣裙", "童装", 139, Season::Summer),
    sku("K-TEE-001", "儿童T恤", "童装", 69, Season::Summer),
    sku("K-DOWN-001", "儿童羽绒服", "童装", 399, Season::Winter),
    sku("S-SNEAKER-001", "休闲运动鞋", "鞋靴", 499, Season::AllYear),
    sku("S-BOOT-001", "短靴", "鞋靴", 699, Season::Winter),
    sku("S-SANDAL-001", "凉鞋", "鞋靴", 259, Season::Summer),
    sku("B-TOTE-001", "通勤托特包", "箱包配饰", 399, Season::AllYear),
    sku("A-SCARF-001", "真丝围巾", "箱包配饰", 229, Season::Winter),
    sku("A-BELT-001", "真皮腰带", "箱包配饰", 159, Season::AllYear),
];

/// A staff member: of a store (by code) or chain-wide (`None`), e.g. the service teams.
pub struct StaffSpec {
    pub store: Option<&'static str>,
    pub name: &'static str,
    pub roles: &'static [StaffRole],
    pub skills: &'static [&'static str],
    pub capacity: i32,
    pub team: Option<&'static str>,
}

const MANAGER: &[StaffRole] = &[StaffRole::Manager, StaffRole::Sales];
const SALES: &[StaffRole] = &[StaffRole::Sales];
const SERVICE: &[StaffRole] = &[StaffRole::Service];
const WOMEN: &[&str] = &["女装"];
const MEN_SHOES: &[&str] = &["男装", "鞋靴"];
const KIDS_BAGS: &[&str] = &["童装", "箱包配饰"];
const ALL: &[&str] = &["女装", "男装", "童装", "鞋靴", "箱包配饰"];

/// The store staff are made per store from these names, in order: a manager, then a clerk for
/// 女装, one for 男装 + 鞋靴, one for 童装 + 箱包配饰. 王芳 is Chaoyang's womenswear clerk of the
/// seeds' example (a WeChat inquiry from 北京朝阳区 about 女装 goes to her).
pub const STORE_STAFF_NAMES: &[(&str, [&str; 4])] = &[
    ("BJ-CY-01", ["赵建国", "王芳", "李强", "张丽"]),
    ("BJ-HD-01", ["孙伟", "周敏", "吴涛", "郑雪"]),
    ("SH-JA-01", ["陈静", "林悦", "黄磊", "徐婷"]),
    ("SH-PD-01", ["朱明", "何琳", "高鹏", "罗佳"]),
    ("GZ-TH-01", ["梁志华", "谢颖", "宋杰", "唐欣"]),
    ("SZ-NS-01", ["韩冬", "冯倩", "邓超", "曹雨"]),
    ("HZ-SC-01", ["彭晓东", "曾怡", "肖俊", "田梦"]),
    ("CD-JJ-01", ["董文", "袁思", "潘浩", "蒋诗"]),
    ("WH-JH-01", ["蔡刚", "余洁", "杜鑫", "叶涵"]),
    ("NJ-XW-01", ["程斌", "苏萱", "魏峰", "吕燕"]),
];

pub fn store_staff() -> Vec<StaffSpec> {
    let mut out = Vec::new();
    for (code, [manager, women, men, kids]) in STORE_STAFF_NAMES {
        let store = Some(*code);
        out.push(StaffSpec { store, name: manager, roles: MANAGER, skills: &[], capacity: 10, team: None });
        out.push(StaffSpec { store, name: women, roles: SALES, skills: WOMEN, capacity: 20, team: None });
        out.push(StaffSpec { store, name: men, roles: SALES, skills: MEN_SHOES, capacity: 20, team: None });
        out.push(StaffSpec { store, name: kids, roles: SALES, skills: KIDS_BAGS, capacity: 20, team: None });
    }
    // The mini-program shop's online clerks follow up abandoned carts of every category.
    for name in ["丁一帆", "任晓雪"] {
        out.push(StaffSpec { store: Some("WX-MALL"), name, roles: SALES, skills: ALL, capacity: 40, team: None });
    }
    // Chain-wide customer service: the teams tickets are routed to.
    for (name, team) in [
        ("沈佳琪", "after_sales"),
        ("姚俊杰", "after_sales"),
        ("卢晓燕", "after_sales"),
        ("姜海涛", "complaints"),
        ("崔文静", "complaints"),
        ("钟思远", "service"),
        ("谭雅琪", "service"),
        ("陆子豪", "service"),
    ] {
        out.push(StaffSpec { store: None, name, roles: SERVICE, skills: &[], capacity: 30, team: Some(team) });
    }
    out
}

pub const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "蒋",
    "蔡", "余",
];
pub const FEMALE_GIVEN: &[&str] = &[
    "婷", "静", "丽", "敏", "芳", "娜", "雪", "慧", "琳", "洁", "颖", "倩", "欣", "怡", "悦", "晨", "思", "雨", "佳",
    "梦", "诗", "涵", "萱", "月", "玲", "燕", "红", "霞", "琪", "瑶",
];
pub const MALE_GIVEN: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "辉", "鹏", "浩", "宇", "博", "俊", "峰", "斌", "鑫", "昊",
    "轩", "然", "凯", "帆", "文", "华", "建", "平", "刚", "毅", "晨",
];

/// Mobile prefixes of the three carriers.
pub const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156", "157",
    "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191",
    "198", "199",
];

pub const MAIL_DOMAINS: &[&str] = &["qq.com", "163.com", "126.com", "foxmail.com", "sina.com"];

/// The mini-program's WeChat app id: openids are `<app id>:<openid>`.
pub const WECHAT_APP_ID: &str = "wx5f2c8a9e1b3d7c40";

/// The coupon templates, by the key the demo refers to them with.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum TemplateKey {
    /// 新人礼: claimed by a new customer when they register.
    Welcome,
    /// 大促: issued to members at the start of 618 and 双11.
    Promotion,
    /// The three automations' coupons (SPEC §9).
    Birthday,
    Anniversary,
    WinBack,
}

pub const TEMPLATE_KEYS: &[TemplateKey] = &[
    TemplateKey::Welcome,
    TemplateKey::Promotion,
    TemplateKey::Birthday,
    TemplateKey::Anniversary,
    TemplateKey::WinBack,
];

/// Each template as `POST /v1/coupon-templates` takes it; the name is its natural key.
pub fn template(key: TemplateKey) -> Value {
    match key {
        TemplateKey::Welcome => json!({"name": "新人礼 满199减30", "description": "新会员注册礼", "kind": "amount_off",
            "threshold": "199.00", "discount": "30.00", "valid_days_after_issue": 30, "per_customer_limit": 1,
            "unit_cost": "3.00", "status": "active"}),
        TemplateKey::Promotion => json!({"name": "大促 满500减80", "description": "618 / 双11 会员专享",
            "kind": "amount_off", "threshold": "500.00", "discount": "80.00", "valid_days_after_issue": 10,
            "unit_cost": "8.00", "status": "active"}),
        TemplateKey::Birthday => json!({"name": "生日礼 满300减50", "description": "会员生日前3天自动发放",
            "kind": "amount_off", "threshold": "300.00", "discount": "50.00", "valid_days_after_issue": 30,
            "unit_cost": "5.00", "status": "active"}),
        TemplateKey::Anniversary => json!({"name": "入会周年 专享9折", "description": "入会周年当天自动发放",
            "kind": "percent_off", "discount_rate": "0.90", "max_discount": "100.00", "valid_days_after_issue": 30,
            "unit_cost": "10.00", "status": "active"}),
        TemplateKey::WinBack => json!({"name": "回归礼 无门槛20元", "description": "连续3个月未消费的会员",
            "kind": "cash", "discount": "20.00", "valid_days_after_issue": 14, "unit_cost": "20.00",
            "status": "active"}),
    }
}

/// The three automations of SPEC §9 (from the seeds): the template whose coupon each issues, and
/// the campaign as `POST /v1/campaigns` takes it once given that template's id. The name is the
/// natural key.
pub const AUTOMATIONS: &[TemplateKey] = &[TemplateKey::Birthday, TemplateKey::Anniversary, TemplateKey::WinBack];

pub fn automation(key: TemplateKey, template_id: Uuid) -> Value {
    let (name, trigger, text) = match key {
        TemplateKey::Birthday => (
            "生日关怀",
            json!({"type": "birthday", "offset_days": -3}),
            "{{name}}，生日快乐！送您{{coupon_name}}：{{coupon_code}}，30天内到店或小程序使用。",
        ),
        TemplateKey::Anniversary => (
            "入会周年礼",
            json!({"type": "membership_anniversary"}),
            "{{name}}，入会周年快乐！送您{{coupon_name}}：{{coupon_code}}，感谢一路相伴。",
        ),
        _ => (
            "沉睡会员唤醒",
            json!({"type": "dormant", "days": 90}),
            "{{name}}，好久不见！送您{{coupon_name}}：{{coupon_code}}，{{usual_categories}}上新了，欢迎回来看看。",
        ),
    };
    json!({"name": name, "kind": "triggered", "trigger": trigger, "cost_per_message": "0.05",
        "actions": [{"type": "issue_coupon", "template_id": template_id},
                    {"type": "send_message", "channel": "sms", "template": text}]})
}

/// Ticket routing: type → team (name, type, team).
pub const ROUTING: &[(&str, TicketType, &str)] = &[
    ("退货退款", TicketType::Return, "after_sales"),
    ("售后维修", TicketType::AfterSales, "after_sales"),
    ("投诉升级", TicketType::Complaint, "complaints"),
    ("咨询", TicketType::Inquiry, "service"),
];

/// Why leads are lost, as clerks write it.
pub const LOST_REASONS: &[&str] = &["价格原因", "已在别处购买", "联系不上", "暂无需求"];
