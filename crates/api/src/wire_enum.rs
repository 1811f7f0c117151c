//! Enums that travel as lowercase strings (in JSON, query strings and database columns).

/// Defines an enum whose variants travel as the given strings, with `as_str`, `FromStr` and
/// `Display` agreeing with serde.
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The variant's wire string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownVariant;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    other => Err($crate::UnknownVariant {
                        kind: stringify!($name),
                        value: other.to_owned(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A string that names no variant of a wire enum.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {kind}: expected one of {}", expected.join(", "))]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

#[cfg(test)]
#[allow(unreachable_pub)]
mod tests {
    crate::wire_enum! {
        /// A test enum.
        pub enum Color {
            Red = "red",
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn strings_serde_and_parse_agree() {
        for c in Color::ALL {
            let json = serde_json::to_string(c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(c.as_str().parse::<Color>(), Ok(*c));
            assert_eq!(c.to_string(), c.as_str());
        }
        let err = "green".parse::<Color>().unwrap_err();
        assert_eq!(err.to_string(), "`green` is not a Color: expected one of red, dark_blue");
    }
}
