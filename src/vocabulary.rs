//! Closed vocabularies (statuses, kinds, channels, priorities, pricing modes): one enum each, declared
//! once with [`vocabulary!`], which gives it serde, an OpenAPI schema, a PostgreSQL `text` mapping,
//! `as_str`, `parse`, `ALL` and `NAMES`. A misspelt status no longer compiles, and the document's
//! enums come from the same declaration the code and the SQL use.
//!
//! A request body keeps such a field as text and reads it with [`crate::error::Validator::word`], so
//! an unknown value stays a 422 naming the field (serde would make it a 400 for the whole body).

/// What every vocabulary enum answers, for code generic over them (validation, SQL filters).
pub trait Word: Copy + Sized + 'static {
    /// Every spelling, in declaration order.
    const NAMES: &'static [&'static str];
    fn as_str(self) -> &'static str;
    fn parse(text: &str) -> Option<Self>;
}

/// The spellings of a list of words, for `= ANY($1)` binds.
pub fn names<W: Word>(words: &[W]) -> Vec<&'static str> {
    words.iter().map(|w| w.as_str()).collect()
}

/// Declares a vocabulary: `vocabulary! { /// doc  pub enum TicketStatus { Open = "open", … } }`.
/// The enum's name is its schema's name in the document, so it names its domain (`TicketStatus`,
/// not `Status`).
#[macro_export]
macro_rules! vocabulary {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:tt),+ $(,)? }) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema, diesel::AsExpression, diesel::FromSqlRow,
        )]
        // After the derive, so a declaration may give its schema an example: `#[schema(example = "…")]`.
        $(#[$meta])*
        #[diesel(sql_type = diesel::sql_types::Text)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl $crate::vocabulary::Word for $name {
            const NAMES: &'static [&'static str] = $name::NAMES;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn parse(text: &str) -> Option<Self> {
                $name::parse(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::vocabulary::UnknownWord;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $name::parse(text).ok_or_else(|| $crate::vocabulary::UnknownWord::new(stringify!($name), text))
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(bytes)?;
                Ok(text.parse::<$name>()?)
            }
        }
    };
}

/// A stored or sent spelling that is not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {vocabulary}")]
pub struct UnknownWord {
    pub vocabulary: &'static str,
    pub value: String,
}

impl UnknownWord {
    pub fn new(vocabulary: &'static str, value: &str) -> UnknownWord {
        UnknownWord { vocabulary, value: value.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    vocabulary! {
        /// A test vocabulary.
        pub enum Light {
            /// Go.
            Green = "green",
            InBetween = "in_between",
            Red = "red",
        }
    }

    #[test]
    fn a_word_is_spelt_once_and_read_back() {
        assert_eq!(Light::NAMES, &["green", "in_between", "red"]);
        assert_eq!(Light::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>(), Light::NAMES);
        for light in Light::ALL {
            assert_eq!(Light::parse(light.as_str()), Some(*light));
            assert_eq!(light.to_string().parse::<Light>(), Ok(*light));
        }
        assert_eq!(Light::parse("Green"), None);
        assert_eq!("amber".parse::<Light>(), Err(UnknownWord::new("Light", "amber")));
        assert!(Light::Red == "red");
        assert_eq!(names(&[Light::Red, Light::Green]), vec!["red", "green"]);
    }

    #[test]
    fn serde_and_the_schema_use_the_same_spelling() {
        assert_eq!(serde_json::to_value(Light::InBetween).ok(), Some(serde_json::json!("in_between")));
        assert_eq!(serde_json::from_value::<Light>(serde_json::json!("red")).ok(), Some(Light::Red));
        assert!(serde_json::from_value::<Light>(serde_json::json!("Red")).is_err());
        let schema = serde_json::to_value(<Light as utoipa::PartialSchema>::schema()).unwrap_or_default();
        assert_eq!(schema["enum"], serde_json::json!(["green", "in_between", "red"]));
    }
}
