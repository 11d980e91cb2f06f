//! What item states and run statuses share: display and parsing by name, and transitions
//! checked against each type's own `can_transition_to`.

/// A name that is not one of the states of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {entity} state `{name}`")]
pub struct UnknownState {
    /// `item` or `run`.
    pub entity: &'static str,
    /// The rejected name, cut to a readable length.
    pub name: String,
}

/// Implements `transition_to`, `Display` and `FromStr` for a state enum that has `ALL`,
/// `as_str` and `can_transition_to`.
macro_rules! named_states {
    ($state:ident, $entity:literal) => {
        impl $state {
            /// `next` when the move is legal, else a [`TransitionError`](crate::TransitionError).
            pub fn transition_to(self, next: $state) -> Result<$state, crate::TransitionError> {
                if self.can_transition_to(next) {
                    Ok(next)
                } else {
                    Err(crate::TransitionError {
                        entity: $entity,
                        from: self.as_str(),
                        to: next.as_str(),
                    })
                }
            }
        }

        impl std::fmt::Display for $state {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $state {
            type Err = crate::states::UnknownState;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|state| state.as_str() == s)
                    .ok_or_else(|| crate::states::UnknownState {
                        entity: $entity,
                        name: s.chars().take(40).collect(),
                    })
            }
        }
    };
}
pub(crate) use named_states;
