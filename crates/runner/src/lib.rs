#![doc = include_str!("../README.md")]

mod providers;

pub use providers::{
    Credentials, Provider, ProviderConfig, ProviderConfigError, ProviderKind, ProviderRegistry,
};
