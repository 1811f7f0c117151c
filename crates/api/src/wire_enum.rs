//! Enums that travel as lowercase strings (in JSON, query strings and database columns).

/// Defines an enum whose variants travel as the given strings, with `as_str`, `FromStr` and
/// `Display` agreeing with serde and the OpenAPI schema.
///
/// The strings must be the variants' names in snake_case: serde and utoipa take them from
/// `rename_all = "snake_case"` (utoipa cannot read a per-variant `rename` whose string comes
/// from a macro argument, and would document the Rust names), and the test below checks that
/// every wire enum's strings agree.
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
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
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

/// Checks that every variant's wire string is what serde writes and reads, and what the
/// OpenAPI schema lists.
#[cfg(test)]
pub(crate) fn assert_agrees<T>(all: &[T], as_str: fn(&T) -> &'static str)
where
    T: serde::Serialize
        + serde::de::DeserializeOwned
        + utoipa::ToSchema
        + PartialEq
        + std::fmt::Debug,
{
    let schema = serde_json::to_value(T::schema()).unwrap_or_default();
    let listed: Vec<&str> =
        schema["enum"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    let strings: Vec<&str> = all.iter().map(as_str).collect();
    assert_eq!(listed, strings, "{} as the OpenAPI schema lists it", T::name());
    for v in all {
        let json = serde_json::to_value(v).unwrap_or_default();
        assert_eq!(json, serde_json::json!(as_str(v)), "{v:?}");
        assert_eq!(serde_json::from_value::<T>(json).ok().as_ref(), Some(v));
    }
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
    fn every_wire_enum_travels_as_its_string() {
        use crate::node::*;
        use crate::platform::*;
        macro_rules! check {
            ($($t:ty),*) => {$( super::assert_agrees::<$t>(<$t>::ALL, |v| v.as_str()); )*};
        }
        check!(
            TxStatus,
            Bucket,
            Order,
            Role,
            Effect,
            ApprovalPolicy,
            InvitationStatus,
            JoinRequestStatus,
            Decision,
            HostKind,
            HostNetwork,
            Consensus,
            CryptoSuite,
            NodeRole,
            ChainStatus,
            NextStep,
            StartStep,
            ProcessState,
            NodeHealth,
            NodeAction,
            UpgradeOutcome,
            ContractStatus,
            TxResult,
            CallKind,
            Color
        );
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
