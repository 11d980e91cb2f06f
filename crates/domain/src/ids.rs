//! Prefixed string identifiers (`run-…`, `ds-…`): newtypes so that ids of different things
//! cannot be mixed up.

use std::fmt;

/// A string that is not a well-formed id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id")]
pub struct InvalidId {
    /// Which kind of id was expected (`run`, `dataset`).
    pub kind: &'static str,
    /// The rejected input, cut to a readable length.
    pub value: String,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new, time-ordered id (UUIDv7, so ids sort by creation time).
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Accepts exactly the shape [`Self::generate`] produces: the prefix then 32
            /// lowercase hex digits.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                let well_formed = value.strip_prefix($prefix).is_some_and(|hex| {
                    hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                });
                if well_formed {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(InvalidId {
                        kind: $kind,
                        value: value.chars().take(80).collect(),
                    })
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// Identifies a run: `run-` followed by 32 hex digits.
    RunId,
    "run-",
    "run"
);
prefixed_id!(
    /// Identifies one imported version of a dataset: `ds-` followed by 32 hex digits.
    DatasetId,
    "ds-",
    "dataset"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_sort_by_creation() {
        let a = RunId::generate();
        let b = RunId::generate();
        assert_eq!(RunId::parse(a.as_str()).unwrap(), a);
        assert!(a < b);
        assert!(a.as_str().starts_with("run-"));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "run-",
            "run-xyz",
            "ds-0123456789abcdef0123456789abcdef",
            "run-0123456789ABCDEF0123456789abcdef",
        ] {
            assert!(RunId::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
