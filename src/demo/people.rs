//! Who a unit is: a Chinese shopper with a name, a mainland mobile, a city, the channels they use
//! (and the identities those give), consents and whether they are a member. Pure.

use crate::stores::SalesChannel;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::Rng;

use super::catalogue as cat;
use super::plan::{any_store, mix, pick};

/// Where a customer shops: in a store, on the platforms, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Store,
    Online,
    Omni,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Consents {
    pub sms: bool,
    pub email: bool,
    pub wechat: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Membership {
    pub channel: SalesChannel,
    /// Index into `catalogue::STORES`.
    pub store: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    pub phone: String,
    pub name: String,
    pub gender: &'static str,
    pub birthday: NaiveDate,
    pub email: Option<String>,
    pub city: &'static str,
    pub district: &'static str,
    pub address: Option<String>,
    pub source_channel: SalesChannel,
    pub home_store: Option<usize>,
    pub consents: Consents,
    /// `(kind, value)` beyond phone and email.
    pub identities: Vec<(&'static str, String)>,
    pub tags: Vec<&'static str>,
    pub parent: bool,
    pub profile: Profile,
    /// The platform an online shopper prefers.
    pub platform: SalesChannel,
    pub membership: Option<Membership>,
    /// Set by the unit's plan once its history is known.
    pub registered_at: DateTime<Utc>,
    big_spender: bool,
}

impl Person {
    /// How much more likely dear items are for this person (big spenders buy coats and boots).
    pub fn spend_level(&self, price: i64) -> f64 {
        match (self.big_spender, price) {
            (true, p) if p >= 500 => 3.0,
            (false, p) if p >= 900 => 0.5,
            _ => 1.0,
        }
    }
}

/// The unit's mobile number: a bijection of the index onto 8 digits (distinct for every index
/// below 10^8, so no two units share a phone), behind a carrier prefix; both depend on the seed.
pub fn phone(seed: u64, index: u32) -> String {
    let key = mix(seed);
    let mut factor = (key % 5_000_000) * 2 + 1;
    if factor.is_multiple_of(5) {
        factor += 2;
    }
    let offset = (key >> 24) % 100_000_000;
    let suffix = (u64::from(index) * factor + offset) % 100_000_000;
    let mut prefix = cat::MOBILE_PREFIXES[(mix(key ^ u64::from(index)) % cat::MOBILE_PREFIXES.len() as u64) as usize];
    // 138 1234 5678 is the README tour's own customer.
    if prefix == "138" && suffix == 12_345_678 {
        prefix = "139";
    }
    format!("+86{prefix}{suffix:08}")
}

fn name(rng: &mut StdRng, gender: &str) -> String {
    let surname = cat::SURNAMES[rng.gen_range(0..cat::SURNAMES.len())];
    let given = if gender == "male" { cat::MALE_GIVEN } else { cat::FEMALE_GIVEN };
    let first = given[rng.gen_range(0..given.len())];
    if rng.gen_bool(0.7) {
        format!("{surname}{first}{}", given[rng.gen_range(0..given.len())])
    } else {
        format!("{surname}{first}")
    }
}

fn birthday(rng: &mut StdRng, until: NaiveDate) -> NaiveDate {
    let bands: [(i32, i32, f64); 4] = [(18, 24, 15.0), (25, 34, 40.0), (35, 44, 30.0), (45, 62, 15.0)];
    let weights: Vec<f64> = bands.iter().map(|b| b.2).collect();
    let (lo, hi, _) = bands[pick(rng, &weights)];
    let year = until.year() - rng.gen_range(lo..=hi);
    NaiveDate::from_yo_opt(year, rng.gen_range(1..=365)).unwrap_or(until)
}

pub fn person(rng: &mut StdRng, seed: u64, index: u32, until: NaiveDate, big_spender: bool) -> Person {
    let phone = phone(seed, index);
    let digits = phone.get(phone.len() - 8..).unwrap_or("00000000").to_string();
    let tag = mix(seed ^ u64::from(index).rotate_left(32));
    let profile = [Profile::Store, Profile::Online, Profile::Omni][pick(rng, &[50.0, 25.0, 25.0])];
    let gender = match (profile, pick(rng, &[68.0, 27.0, 5.0])) {
        (_, 0) => "female",
        (_, 1) => "male",
        (Profile::Online, _) => "unknown",
        _ => "female",
    };
    let platform = [SalesChannel::Tmall, SalesChannel::Jd, SalesChannel::Douyin, SalesChannel::WechatMiniProgram]
        [pick(rng, &[45.0, 25.0, 20.0, 10.0])];
    let home_store = (profile != Profile::Online).then(|| any_store(rng));
    let (city, district) = match home_store.and_then(|s| cat::STORES[s].city.zip(cat::STORES[s].district)) {
        Some((city, district)) => {
            let districts = cat::CITIES.iter().find(|(c, _)| *c == city).map_or(&[][..], |(_, d)| *d);
            match districts.get(rng.gen_range(0..districts.len().max(1) + 1)) {
                Some(other) if rng.gen_bool(0.4) => (city, *other),
                _ => (city, district),
            }
        }
        None => {
            let (city, districts) = cat::CITIES[rng.gen_range(0..cat::CITIES.len())];
            (city, districts[rng.gen_range(0..districts.len())])
        }
    };
    let address = (profile != Profile::Online && rng.gen_bool(0.5)).then(|| {
        let street = cat::STREETS[rng.gen_range(0..cat::STREETS.len())];
        format!("{district}{street}{}号{}栋{}室", rng.gen_range(1..300), rng.gen_range(1..20), rng.gen_range(101..2505))
    });
    let email = rng.gen_bool(0.3).then(|| {
        let domain = cat::MAIL_DOMAINS[rng.gen_range(0..cat::MAIL_DOMAINS.len())];
        if domain == "qq.com" {
            format!("3{digits}@{domain}")
        } else {
            format!("yx{digits}@{domain}")
        }
    });
    let wechat = match profile {
        Profile::Omni => true,
        Profile::Store => rng.gen_bool(0.4),
        Profile::Online => platform == SalesChannel::WechatMiniProgram || rng.gen_bool(0.3),
    };
    let mut identities = Vec::new();
    if wechat {
        identities.push(("wechat_openid", format!("{}:o{:06x}{digits}", cat::WECHAT_APP_ID, tag & 0xFF_FFFF)));
        identities.push(("wechat_unionid", format!("oU{:08x}{digits}", (tag >> 24) & 0xFFFF_FFFF)));
    }
    if (profile == Profile::Online && platform == SalesChannel::Tmall)
        || (profile == Profile::Omni && rng.gen_bool(0.3))
    {
        identities.push(("tmall_ouid", format!("tb{digits}{:04x}", tag & 0xFFFF)));
    }
    if profile == Profile::Online && platform == SalesChannel::Jd {
        identities.push(("jd_pin", format!("jd_{:06x}{digits}", (tag >> 16) & 0xFF_FFFF)));
    }
    let consents = Consents {
        sms: rng.gen_bool(0.65),
        email: email.is_some() && rng.gen_bool(0.45),
        wechat: wechat && rng.gen_bool(0.55),
    };
    let source_channel = match profile {
        Profile::Store => SalesChannel::Pos,
        Profile::Online => platform,
        Profile::Omni => [SalesChannel::Pos, SalesChannel::WechatMiniProgram][rng.gen_range(0..2)],
    };
    let member = match profile {
        Profile::Store => rng.gen_bool(0.9),
        Profile::Omni => rng.gen_bool(0.95),
        Profile::Online => rng.gen_bool(0.4),
    };
    let membership = member.then(|| Membership {
        channel: if source_channel == SalesChannel::Pos { SalesChannel::Pos } else { SalesChannel::WechatMiniProgram },
        store: if source_channel == SalesChannel::Pos { home_store } else { None },
    });
    let parent = gender != "unknown" && rng.gen_bool(if gender == "female" { 0.3 } else { 0.15 });
    let mut tags = Vec::new();
    if parent {
        tags.push("亲子");
    }
    if big_spender {
        tags.push("VIP");
    }
    Person {
        name: name(rng, gender),
        birthday: birthday(rng, until),
        phone,
        gender,
        email,
        city,
        district,
        address,
        source_channel,
        home_store,
        consents,
        identities,
        tags,
        parent,
        profile,
        platform,
        membership,
        registered_at: DateTime::UNIX_EPOCH,
        big_spender,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_mainland_mobiles_distinct_per_index_and_follow_the_seed() {
        let phones: std::collections::HashSet<String> = (0..20_000).map(|i| phone(42, i)).collect();
        assert_eq!(phones.len(), 20_000);
        for p in phones.iter().take(200) {
            assert_eq!(crate::phone::normalize_phone(p).as_deref(), Ok(p.as_str()));
        }
        assert_eq!(phone(42, 7), phone(42, 7));
        assert_ne!(phone(42, 7), phone(43, 7));
    }
}
